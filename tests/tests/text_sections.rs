//! A real binary whose code is in several text sections: Go's linker splits the text of large
//! binaries (where a branch cannot reach across it: on arm and ppc64, when linking externally),
//! and `-ldflags=-debugtextsize=N` makes it split at N bytes. `testdata/prog` built so for
//! linux/arm (with the cross gcc as external linker, Debian's `gcc-arm-linux-gnueabihf`) must
//! be read through `moduledata.textsectmap`, as `go tool nm` and `go tool addr2line` on its
//! unstripped twin say; and `gosyms unstrip` writes the same symbols. (Go splits arm text since
//! 1.21; before, only ppc64 and darwin/arm64.)

mod common;

use common::{compare_with_nm, list, lookup, run, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `testdata/prog` with Go `release` for linux/arm, linked externally with text sections
/// of at most 64 KiB; `ldflags` added. Returns the binary.
fn build(release: &str, dir: &Path, name: &str, ldflags: &str) -> PathBuf {
    let gcc = tool("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf");
    let src = dir.join(format!("src-{release}"));
    if !src.exists() {
        let status = Command::new("cp")
            .arg("-r")
            .arg(gosyms_tests::repo().join("testdata/prog"))
            .arg(&src)
            .status()
            .unwrap();
        assert!(status.success());
        // The go line is the toolchain's own major.minor, as build-matrix.sh writes it.
        let mm: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
        let gomod = src.join("go.mod");
        let text = std::fs::read_to_string(&gomod).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("go ") {
                    format!("go {mm}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&gomod, text).unwrap();
    }
    let out = dir.join(name);
    let status = common::go(release)
        .args([
            "build",
            &format!("-ldflags=-linkmode=external -debugtextsize=65536 {ldflags}"),
            "-o",
        ])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .env("CGO_ENABLED", "1")
        .env("CC", &gcc)
        .env("GOOS", "linux")
        .env("GOARCH", "arm")
        .env("GOARM", "7")
        .env(
            "GOCACHE",
            gosyms_tests::cache().join("gocache").join(release),
        )
        .status()
        .unwrap();
    assert!(status.success(), "go {release} build of {name} failed");
    out
}

#[test]
fn several_text_sections_read_like_go_tools_say() {
    let dir = common::scratch("text-sections");
    for release in ["1.21.13", "1.27.3"] {
        let twin = build(release, &dir, &format!("{release}-exe"), "");
        let stripped = build(release, &dir, &format!("{release}-stripped"), "-s -w");

        let info = common::info(&stripped).unwrap();
        let sections = info["moduledata"]["text_sections"].as_u64().unwrap_or(0);
        assert!(sections >= 4, "go {release}: {sections} text sections");

        // Names, entries and sizes: go tool nm of the twin.
        let funcs = list(&stripped).unwrap();
        let nm = common::go(release)
            .args(["tool", "nm", "-size", "-n"])
            .arg(&twin)
            .output()
            .unwrap();
        // The external linker adds ARM mapping symbols (`$a`, `$d`: code or data follows).
        let nm_text: String = String::from_utf8_lossy(&nm.stdout)
            .lines()
            .filter(|l| {
                !l.split_whitespace()
                    .last()
                    .is_some_and(|n| n.starts_with('$'))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let problems = compare_with_nm(&funcs, &nm_text, "elf");
        assert!(problems.is_empty(), "go {release}: {problems:#?}");
        // Every text section holds functions.
        let starts: Vec<u64> = nm_text
            .lines()
            .filter(|l| l.contains(" runtime.text"))
            .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
            .collect();
        assert!(
            starts.len() as u64 >= sections,
            "go {release}: markers {starts:?}"
        );

        // Files and lines at every entry: go tool addr2line of the twin.
        let addrs: Vec<u64> = funcs.iter().map(|f| f.entry).collect();
        let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
        let truth = common::pipe(
            common::go(release).args(["tool", "addr2line"]).arg(&twin),
            input.as_bytes(),
        );
        let got = lookup(&stripped, &addrs).unwrap();
        let mut checked = 0;
        for (g, want) in got.iter().zip(truth.lines().collect::<Vec<_>>().chunks(2)) {
            let [func, at] = want else { continue };
            // No line (trampolines: `:-1`; C code: `?:0`).
            let line: i64 = at
                .rsplit_once(':')
                .and_then(|x| x.1.parse().ok())
                .unwrap_or(0);
            if *func == "?" || line <= 0 {
                continue;
            }
            let ours = format!(
                "{}:{}",
                g.file.as_deref().unwrap_or("?"),
                g.line.unwrap_or(0)
            );
            assert_eq!(
                (g.function.as_deref(), ours.as_str()),
                (Some(*func), *at),
                "go {release}: lookup {:#x}",
                g.addr
            );
            checked += 1;
        }
        assert!(checked > funcs.len() / 2, "go {release}: {checked} checked");

        // unstrip: binutils' nm of the output lists exactly what gosyms lists.
        let out = dir.join(format!("{release}-unstripped"));
        let r = run(&[
            "unstrip",
            stripped.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let nm = Command::new(tool("nm", "binutils"))
            .args(["-S", "-n"])
            .arg(&out)
            .output()
            .unwrap();
        let syms: Vec<(u64, u64, String)> = String::from_utf8_lossy(&nm.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                Some((
                    u64::from_str_radix(f.first()?, 16).ok()?,
                    u64::from_str_radix(f.get(1)?, 16).ok()?,
                    f.get(3)?.to_string(),
                ))
            })
            .collect();
        let want: Vec<(u64, u64, String)> = funcs
            .iter()
            .map(|f| (f.entry, f.size, f.name.clone()))
            .collect();
        assert_eq!(syms.len(), want.len(), "go {release}");
        for (s, w) in syms.iter().zip(&want) {
            assert_eq!(
                (s.0, s.1, s.2.trim_end_matches(".abi0")),
                (w.0, w.1, w.2.as_str()),
                "go {release}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

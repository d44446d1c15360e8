//! Inlined frames: `testdata/inline` prints its own stack as the Go runtime expands it (with
//! `runtime.CallersFrames`) from inside two inlined calls. `gosyms lookup` on the stripped binary
//! must give the same frames, innermost first, with the same files and lines.

mod common;

use common::lookup;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The toolchains to check: the oldest (stack ABI, Go 1.2 table), each table layout, the newest.
const RELEASES: &[&str] = &["1.15", "1.19", "1.21.13", "1.27.3"];

fn build(release: &str, dir: &Path) -> PathBuf {
    let src = gosyms_tests::repo().join("testdata/inline/main.go");
    let out = dir.join(format!("inline-{release}"));
    // For this machine: the test runs the program.
    gosyms_tests::go_build(release, gosyms_tests::host_goarch(), &src, &out, "-s -w");
    out
}

#[test]
fn inline_chains_match_the_runtime() {
    let dir = std::env::temp_dir().join(format!("gosyms-inline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for release in RELEASES {
        let bin = build(release, &dir);
        let out = Command::new(&bin).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // (pc, function, file, line) per frame, innermost first.
        let frames: Vec<(u64, String, String, i64)> = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let (file, line) = f[2].rsplit_once(':').unwrap();
                (
                    u64::from_str_radix(&f[0][2..], 16).unwrap(),
                    f[1].to_string(),
                    file.to_string(),
                    line.parse().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = frames.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(
            &names[..4],
            ["main.capture", "main.inner", "main.middle", "main.outer"],
            "go {release}: {text}"
        );

        // The runtime reports a call frame's PC either at the call or just after it: gosyms must
        // agree at one of the two, on the frame and on every frame it was inlined into.
        for (i, (pc, func, ..)) in frames.iter().enumerate().take(4) {
            let got = lookup(&bin, &[*pc, pc - 1]).unwrap();
            let agrees = got.iter().any(|g| {
                g.frames.len() <= frames.len() - i
                    && g.frames.iter().zip(&frames[i..]).all(|(gf, want)| {
                        gf.function == want.1
                            && gf.file.as_deref() == Some(want.2.as_str())
                            && gf.line == Some(want.3)
                    })
                    && g.frames.first().is_some_and(|f| f.function == *func)
            });
            assert!(agrees, "go {release}: frame {i} {func} at {pc:#x}: gosyms says {got:#?}\nruntime says:\n{text}");
        }
        // And the inlined chain is really there: at inner's call site, three frames.
        let at_call = lookup(&bin, &[frames[1].0 - 1]).unwrap();
        let chain: Vec<&str> = at_call[0]
            .frames
            .iter()
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(
            chain,
            ["main.inner", "main.middle", "main.outer"],
            "go {release}"
        );
        assert!(
            at_call[0].frames[0].inlined
                && at_call[0].frames[1].inlined
                && !at_call[0].frames[2].inlined
        );
    }
}

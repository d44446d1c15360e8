//! Bad input: one clear line on stderr naming the file and the problem, exit code 2, no panic.

mod common;

use common::run;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    common::scratch("bad-input").join(name)
}

/// A small real Go binary from the matrix, to damage.
fn go_binary() -> PathBuf {
    common::matrix_binary("1.21.13", "linux_amd64", "exe-stripped")
}

/// Runs every subcommand on `path` and checks each fails as it should, with `reason` in the message.
fn assert_rejected(path: &Path, reason: &str) {
    let p = path.to_str().unwrap();
    let out_file = scratch("unstrip-output");
    let o = out_file.to_str().unwrap();
    for args in [
        vec!["list", p],
        vec!["list", "--json", p],
        vec!["info", p],
        vec!["lookup", p, "0x401000"],
        vec!["unstrip", p, "-o", o],
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: exit {:?}, stderr {stderr}",
            out.status
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: want one line, got {stderr:?}"
        );
        assert!(stderr.starts_with("gosyms: "), "{stderr}");
        assert!(
            stderr.contains(p),
            "{args:?}: {stderr:?} does not name the file"
        );
        assert!(
            stderr.contains(reason),
            "{args:?}: {stderr:?} does not say {reason:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!out_file.exists(), "unstrip wrote {o}");
}

#[test]
fn missing_file() {
    assert_rejected(&scratch("does-not-exist"), "No such file");
}

#[test]
fn directory() {
    assert_rejected(&std::env::temp_dir(), "is a directory");
}

#[test]
fn empty_file() {
    let p = scratch("empty");
    std::fs::write(&p, b"").unwrap();
    assert_rejected(&p, "empty file");
}

#[test]
fn not_an_executable() {
    let p = scratch("text");
    std::fs::write(&p, b"#!/bin/sh\necho hello\n").unwrap();
    assert_rejected(&p, "not an executable");
}

#[test]
fn not_a_go_binary() {
    // Any ELF program of the system that is not written in Go.
    let ls = Path::new("/bin/ls");
    assert!(ls.exists());
    assert_rejected(ls, "no Go function table found");
}

#[test]
fn truncated_go_binary() {
    let data = std::fs::read(go_binary()).unwrap();
    for (i, cut) in [64usize, 4096, data.len() / 3, data.len() / 2]
        .into_iter()
        .enumerate()
    {
        let p = scratch(&format!("truncated-{i}"));
        std::fs::write(&p, &data[..cut]).unwrap();
        let out = run(&["list", p.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "cut at {cut}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "cut at {cut}: {stderr}");
        assert!(
            stderr.contains(p.to_str().unwrap()) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn unsupported_architecture() {
    let mut data = std::fs::read(go_binary()).unwrap();
    // e_machine = 0x5555, no such machine.
    data[18] = 0x55;
    data[19] = 0x55;
    let p = scratch("badarch");
    std::fs::write(&p, &data).unwrap();
    assert_rejected(&p, "unsupported architecture");
}

#[test]
fn zeroed_magic_is_found_through_moduledata() {
    let good = go_binary();
    let want = run(&["list", good.to_str().unwrap()]);
    assert!(want.status.success());
    let mut data = std::fs::read(&good).unwrap();
    let magic = [0xf1, 0xff, 0xff, 0xff, 0, 0];
    let at = data
        .windows(6)
        .position(|w| w == magic)
        .expect("pclntab magic");
    data[at..at + 4].fill(0);
    // Hide the section name too, so that only moduledata can lead to the table.
    let name = data
        .windows(10)
        .position(|w| w == b".gopclntab")
        .expect("section name");
    data[name..name + 10].copy_from_slice(b".xxxxxxxxx");
    let p = scratch("zeroed-magic");
    std::fs::write(&p, &data).unwrap();
    let got = run(&["list", p.to_str().unwrap()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&want.stdout)
    );
    let info = common::info(&p).unwrap();
    assert_eq!(info["pclntab"]["found_by"], "moduledata");
}

#[test]
fn bad_address_and_unknown_address() {
    let p = go_binary();
    let out = run(&["lookup", p.to_str().unwrap(), "zzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad address \"zzz\""));
    let out = run(&["lookup", p.to_str().unwrap(), "0x1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an address outside every function exits 1"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0x1 ?\n");
}

#[test]
fn closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::gosyms())
        .args(["list", "--lines", go_binary().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_match_exits_one() {
    let p = go_binary();
    let out = run(&[
        "list",
        "--filter",
        "^no\\.such\\.function$",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_table_version() {
    let bin = go_binary();
    let info = common::info(&bin).unwrap();
    let mut data = std::fs::read(&bin).unwrap();
    let magic = [0xf1, 0xff, 0xff, 0xff, 0, 0];
    let at = data
        .windows(6)
        .position(|w| w == magic)
        .expect("pclntab magic");
    data[at] = 0xf5;
    // An altered magic alone is what obfuscators do: the table is still found through moduledata.
    let p = scratch("altered-magic");
    std::fs::write(&p, &data).unwrap();
    assert_eq!(
        common::info(&p).unwrap()["pclntab"]["found_by"],
        "moduledata"
    );
    // Without the moduledata pointer to it, the table is reported as of an unknown version.
    let vaddr = info["pclntab"]["vaddr"].as_u64().unwrap().to_le_bytes();
    while let Some(i) = data.windows(8).position(|w| w == vaddr) {
        data[i..i + 8].fill(0);
    }
    let p = scratch("future-version");
    std::fs::write(&p, &data).unwrap();
    assert_rejected(&p, "unsupported pclntab version: magic 0xfffffff5");
}

//! Container variants made from matrix binaries: an ELF file with its section headers removed,
//! and a fat (universal) Mach-O file. The same functions must come out as from the originals.

mod common;

use common::{run, stdout_of};
use std::path::PathBuf;

fn matrix_binary(target: &str) -> PathBuf {
    common::matrix_binary("1.21.13", target, "exe-stripped")
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("formats").join(name)
}

#[test]
fn elf_without_section_headers() {
    let orig = matrix_binary("linux_amd64");
    let mut data = std::fs::read(&orig).unwrap();
    // ELF64 header: e_shoff at 0x28 (8 bytes), e_shnum at 0x3c, e_shstrndx at 0x3e.
    data[0x28..0x30].fill(0);
    data[0x3c..0x40].fill(0);
    let p = scratch("no-sections");
    std::fs::write(&p, &data).unwrap();
    let want = stdout_of(&["list", "--json", orig.to_str().unwrap()]);
    let got = stdout_of(&["list", "--json", p.to_str().unwrap()]);
    assert_eq!(got, want);
    let info = common::info(&p).unwrap();
    assert_eq!(info["pclntab"]["found_by"], "scan");
    assert_eq!(
        info["go_version"], "go1.21.13",
        "build info is found in the writable segment"
    );
}

/// A fat Mach-O file holding `slices` (big-endian `fat_header` and `fat_arch` records).
fn fat(slices: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xcafe_babeu32.to_be_bytes());
    out.extend((slices.len() as u32).to_be_bytes());
    let mut offset = 0x4000u32;
    let mut bodies = Vec::new();
    for (cputype, body) in slices {
        for v in [*cputype, 3, offset, body.len() as u32, 14] {
            out.extend(v.to_be_bytes());
        }
        bodies.push((offset, *body));
        offset = (offset + body.len() as u32).next_multiple_of(0x4000);
    }
    for (off, body) in bodies {
        out.resize(off as usize, 0);
        out.extend_from_slice(body);
    }
    out
}

#[test]
fn fat_macho() {
    let amd64 = matrix_binary("darwin_amd64");
    let arm64 = matrix_binary("darwin_arm64");
    let (a, b) = (
        std::fs::read(&amd64).unwrap(),
        std::fs::read(&arm64).unwrap(),
    );
    let p = scratch("universal");
    std::fs::write(&p, fat(&[(0x0100_0007, &a), (0x0100_000c, &b)])).unwrap();
    let p = p.to_str().unwrap();
    assert_eq!(
        stdout_of(&["list", p]),
        stdout_of(&["list", amd64.to_str().unwrap()]),
        "the first slice by default"
    );
    assert_eq!(
        stdout_of(&["list", "--arch", "arm64", p]),
        stdout_of(&["list", arm64.to_str().unwrap()])
    );
    let info = common::info(std::path::Path::new(p)).unwrap();
    assert_eq!(info["arch"], "amd64");
    assert_eq!(info["other_arches"], serde_json::json!(["arm64"]));
    let out = run(&["list", "--arch", "ppc64", p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no ppc64 code in this file (it has: amd64,arm64)"));
}

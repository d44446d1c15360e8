//! Inputs the fuzz targets (`fuzz/`) found crashes with, kept in `fuzz/regressions/` as
//! `TARGET-NAME`. Each is replayed through what its target does: it must give `Ok` or an error,
//! never a panic (arithmetic overflow included: tests run with overflow checks).

use resolver::abi::{self, Abi};
use std::path::PathBuf;

fn regressions(target: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let path = e?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if name.starts_with(&format!("{target}-")) {
            out.push((name, std::fs::read(&path)?));
        }
    }
    out.sort();
    Ok(out)
}

/// `fuzz/fuzz_targets/signature.rs`.
#[test]
fn signature_target_does_not_panic() {
    let found = regressions("signature").unwrap();
    assert!(!found.is_empty());
    for (name, data) in found {
        eprintln!("{name}");
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let _ = resolver::signature::is_signature(text);
        let _ = resolver::signature::parse_type(text);
        let Ok(sig) = resolver::signature::parse(text) else {
            continue;
        };
        for (arch, ptr, abi) in [
            ("amd64", 8, Abi::Register),
            ("amd64", 8, Abi::Stack),
            ("arm64", 8, Abi::Register),
            ("386", 4, Abi::Stack),
            ("arm", 4, Abi::Stack),
        ] {
            let _ = abi::layout(arch, ptr, abi, &sig.params, &sig.results);
        }
    }
}

/// `fuzz/fuzz_targets/disasm.rs`: a selector byte (arch, regabi), the entry, the code. Every
/// address reported must be inside the code.
#[test]
fn disasm_target_does_not_panic() {
    let found = regressions("disasm").unwrap();
    assert!(!found.is_empty());
    for (name, data) in found {
        eprintln!("{name}");
        let Some((&sel, rest)) = data.split_first() else {
            continue;
        };
        let Some((entry, code)) = rest.split_first_chunk::<8>() else {
            continue;
        };
        let arch = ["amd64", "386", "arm64", "arm"][usize::from(sel & 3)];
        let entry = u64::from_le_bytes(*entry);
        if let Ok(scan) = resolver::disasm::scan(arch, code, entry, sel & 4 != 0) {
            let end = entry + code.len() as u64;
            for a in scan
                .returns
                .iter()
                .chain(&scan.tail_calls)
                .chain(&scan.indirect_jumps)
            {
                assert!((entry..end).contains(a), "{name}: {a:#x}");
            }
        }
    }
}

/// `fuzz/fuzz_targets/arginfo.rs`.
#[test]
fn arginfo_target_does_not_panic() {
    for (name, data) in regressions("arginfo").unwrap() {
        eprintln!("{name}");
        if let Ok(shapes) = resolver::arginfo::decode(&data) {
            let mut leaves = Vec::new();
            shapes.iter().for_each(|s| s.leaves(&mut leaves));
        }
    }
}

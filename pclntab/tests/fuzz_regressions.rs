//! Inputs the fuzz targets (`fuzz/`) found crashes with, kept in `fuzz/regressions/` as
//! `TARGET-NAME`. Each is replayed through what its target does: it must give `Ok` or an error,
//! never a panic (arithmetic overflow included: tests run with overflow checks).

use pclntab::{Container, GoBinary, VirtAddr};
use std::path::PathBuf;

fn regressions(targets: &[&str]) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let path = e?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if targets.iter().any(|t| name.starts_with(&format!("{t}-"))) {
            out.push((name, std::fs::read(&path)?));
        }
    }
    out.sort();
    Ok(out)
}

/// `fuzz/fuzz_targets/{parse,list,lookup}.rs`, in one.
fn replay_binary(data: &[u8]) {
    let Ok(bin) = GoBinary::parse(data) else {
        return;
    };
    let _ = bin.go_version();
    let _ = bin.os();
    let _ = bin.cgo();
    let n = bin.table.len();
    let mut funcs = bin.functions();
    while let Ok(Some(f)) = funcs.next() {
        let _ = f.size();
    }
    for i in 0..n.min(4096) {
        let _ = bin.function(i, true);
        let _ = bin.function(i, false);
    }
    let mut pcs = vec![0, u64::MAX];
    for i in [0, 1, n / 2, n.saturating_sub(1), n] {
        if let Ok(e) = bin.table.entry(i) {
            pcs.extend([
                e.0,
                e.0.wrapping_sub(1),
                e.0.wrapping_add(1),
                e.0.wrapping_add(17),
            ]);
        }
    }
    let first = bin.table.entry(0).map(|e| e.0).unwrap_or(0);
    let tail = data
        .get(data.len().saturating_sub(64)..)
        .unwrap_or_default();
    for w in tail.chunks_exact(8) {
        let v = u64::from_le_bytes(w.try_into().unwrap_or_default());
        pcs.extend([v, first.wrapping_add(v & 0xffff)]);
    }
    for pc in pcs {
        let _ = bin.lookup(VirtAddr(pc));
    }
}

#[test]
fn binary_targets_do_not_panic() {
    let found = regressions(&["parse", "list", "lookup"]).unwrap();
    assert!(!found.is_empty());
    for (name, data) in found {
        eprintln!("{name}");
        replay_binary(&data);
    }
}

#[test]
fn buildinfo_target_does_not_panic() {
    for (name, data) in regressions(&["buildinfo"]).unwrap() {
        eprintln!("{name}");
        if let Ok(c) = Container::parse(&data, None) {
            let _ = pclntab::buildinfo::find(&c);
        }
    }
}

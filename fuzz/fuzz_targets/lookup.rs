//! Address lookup (function, offset, inlined frames) of PCs taken from the end of the input,
//! and of the table's entries, their neighbours and the end of the table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pclntab::VirtAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(bin) = pclntab::GoBinary::parse(data) else {
        return;
    };
    let n = bin.table.len();
    let mut pcs = Vec::new();
    // Entries and their neighbours.
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
    // The last 64 bytes of the input (after the container's own structures in the seeds), as
    // arbitrary PCs and as offsets from the first entry.
    let first = bin.table.entry(0).map(|e| e.0).unwrap_or(0);
    let tail = data
        .get(data.len().saturating_sub(64)..)
        .unwrap_or_default();
    for w in tail.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let v = u64::from_le_bytes(b);
        pcs.push(v);
        pcs.push(first.wrapping_add(v & 0xffff));
    }
    pcs.extend([0, u64::MAX]);
    for pc in pcs {
        if let Ok(Some(loc)) = bin.lookup(VirtAddr(pc)) {
            let _ = loc.frames.len();
            let _ = loc.function.size();
        }
    }
});

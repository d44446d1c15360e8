//! Return sites and the stack check, on arbitrary code.
//!
//! Input: one byte choosing the architecture (low two bits) and `regabi` (bit 2), eight bytes
//! of entry address (little-endian), then the code.
#![no_main]

use libfuzzer_sys::fuzz_target;

const ARCHES: [&str; 4] = ["amd64", "386", "arm64", "arm"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((entry, code)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let arch = ARCHES[usize::from(sel & 3)];
    let regabi = sel & 4 != 0;
    let entry = u64::from_le_bytes(*entry);
    if let Ok(scan) = resolver::disasm::scan(arch, code, entry, regabi) {
        let end = entry.saturating_add(code.len() as u64);
        for a in scan
            .returns
            .iter()
            .chain(&scan.tail_calls)
            .chain(&scan.indirect_jumps)
        {
            assert!(
                (entry..end).contains(a),
                "{arch}: site {a:#x} outside [{entry:#x}, {end:#x})"
            );
        }
        if let Some(a) = scan.after_stack_check {
            assert!(
                (entry..=end).contains(&a),
                "{arch}: stack check end {a:#x} outside"
            );
        }
    }
});

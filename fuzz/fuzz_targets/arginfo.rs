//! `FUNCDATA_ArgInfo` decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(shapes) = resolver::arginfo::decode(data) {
        let mut leaves = Vec::new();
        for s in &shapes {
            s.leaves(&mut leaves);
        }
    }
});

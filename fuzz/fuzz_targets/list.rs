//! Every function with its file and line, as `gosyms list` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bin) = pclntab::GoBinary::parse(data) else {
        return;
    };
    let mut funcs = bin.functions();
    while let Ok(Some(f)) = funcs.next() {
        let _ = f.size();
        let _ = f.kind.name();
        let _ = f.func.name_str();
    }
    // Each index on its own too: an error in one must not hide the next.
    for i in 0..bin.table.len().min(4096) {
        if let Ok(f) = bin.function(i, true) {
            let _ = f.size();
        }
        let _ = bin.function(i, false);
    }
});

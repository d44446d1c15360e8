//! `gosyms unstrip`: the whole binary and the debug file, written to nowhere.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bin) = pclntab::GoBinary::parse(data) else {
        return;
    };
    for mode in [unstrip::Mode::Binary, unstrip::Mode::DebugOnly] {
        let _ = unstrip::unstrip(&bin, mode, &mut std::io::sink());
    }
});

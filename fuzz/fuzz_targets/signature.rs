//! Signature parsing, as `gosyms` reads a pattern (and a type alone, as the table of
//! standard-library signatures gives one), then the ABI layouts of what it parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resolver::abi::{self, Abi};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = resolver::signature::is_signature(text);
    let _ = resolver::signature::parse_type(text);
    let Ok(sig) = resolver::signature::parse(text) else {
        return;
    };
    for (arch, ptr, abi) in [
        ("amd64", 8, Abi::Register),
        ("amd64", 8, Abi::Stack),
        ("arm64", 8, Abi::Register),
        ("386", 4, Abi::Stack),
        ("arm", 4, Abi::Stack),
    ] {
        for f in sig.params.iter().chain(&sig.results) {
            let _ = f.ty.size(ptr);
            let _ = f.ty.align(ptr);
        }
        let _ = abi::layout(arch, ptr, abi, &sig.params, &sig.results);
    }
});

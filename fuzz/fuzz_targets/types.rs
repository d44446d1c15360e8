//! Every type descriptor, as `gosyms types` reads them: the input is the bytes of
//! `[types, etypes)` with a header saying the release, pointer size, byte order and where the
//! typelinks, itablinks and itabs are (`pclntab::typedesc::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pclntab::typedesc::fuzzing::exercise(data);
});

//! Container + pclntab parsing, and the accessors `gosyms info` reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A universal Mach-O file: its arm64 slice too (the default is the first).
    if data.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) {
        let opts = pclntab::Options {
            arch: Some("arm64".into()),
        };
        let _ = pclntab::GoBinary::parse_with(data, &opts);
    }
    let Ok(bin) = pclntab::GoBinary::parse(data) else {
        return;
    };
    let _ = bin.go_version();
    let _ = bin.go_minor();
    let _ = bin.os();
    let _ = bin.cgo();
    let _ = bin.found_by.name();
    let _ = bin.table.len();
    let _ = bin.table.entry(0);
    let _ = bin.table.entry(bin.table.len());
    if let Some(b) = &bin.build_info {
        let _ = b.setting("GOARCH");
        if let Some(m) = &b.main {
            let _ = pclntab::names::origin(&m.path, Some(b));
        }
    }
    let _ = format!("{:?}", bin.moduledata);
    let _ = bin.container.format.name();
});

//! The build information on its own: the container, then `\xff Go buildinf:`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = pclntab::Container::parse(data, None) else {
        return;
    };
    if let Ok(Some(b)) = pclntab::buildinfo::find(&c) {
        let _ = b.setting("GOOS");
        let _ = pclntab::go_minor(&b.go_version);
        for m in &b.deps {
            let _ = pclntab::names::origin(&m.path, Some(&b));
        }
    }
});

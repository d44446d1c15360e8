//! The Go version of binaries whose build info was removed: every matrix binary and every real
//! binary, with the build info's magic overwritten, must still give its Go version, now from the
//! runtime's `runtime.buildVersion`:
//! - the version is the toolchain's (`go version -m` of the intact binary, the manifest);
//! - the string header found is `runtime.buildVersion` in the unstripped twin's symbol table;
//! - on amd64, 386 and arm64 it is the one `runtime.schedinit`'s code refers to.
//!
//! `gosyms info` says where the version came from, in text and JSON.

mod common;

use common::run;
use pclntab::{GoBinary, VersionSource};
use std::collections::BTreeMap;
use std::path::Path;

const MAGIC: &[u8] = b"\xff Go buildinf:";

/// The file's bytes with the build info's magic overwritten. It is where Go's own reader
/// (`debug/buildinfo`) looks: 16-byte aligned in the first 64 KiB of a writable part of the file.
fn without_build_info(path: &Path) -> Vec<u8> {
    let mut data = std::fs::read(path).unwrap();
    let c = pclntab::Container::parse(&data, None).unwrap();
    let mut found = Vec::new();
    for r in c.regions.iter().filter(|r| r.writable) {
        let start = r.offset.0 as usize;
        let end = start + (r.file_size as usize).min(64 << 10);
        found.extend(
            (start..end)
                .filter(|i| (i - start).is_multiple_of(16))
                .filter(|i| data[*i..].starts_with(MAGIC)),
        );
    }
    assert!(!found.is_empty(), "{}: no build info", path.display());
    for i in found {
        data[i..i + MAGIC.len()].fill(0);
    }
    data
}

/// `runtime.buildVersion`'s address in a `go tool nm` listing.
fn build_version_symbol(nm: &str) -> Option<u64> {
    nm.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.last() == Some(&"runtime.buildVersion"))
            .then(|| u64::from_str_radix(f[0], 16).ok())
            .flatten()
    })
}

#[test]
fn matrix_binaries_without_build_info_give_the_runtime_version() {
    let mut problems = Vec::new();
    // (arch, referenced by runtime.schedinit) -> count
    let mut how: BTreeMap<(String, bool), usize> = BTreeMap::new();
    let rows = gosyms_tests::matrix();
    for row in &rows {
        let data = without_build_info(&row.path);
        let bin = match GoBinary::parse(&data) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{}: {e}", row.label()));
                continue;
            }
        };
        let Some(v) = &bin.runtime_version else {
            problems.push(format!("{}: no runtime version", row.label()));
            continue;
        };
        if bin.go_version() != Some(row.go_version.as_str())
            || bin.go_version_source() != Some(VersionSource::Runtime)
        {
            problems.push(format!(
                "{}: {:?} from {:?}, built by {}",
                row.label(),
                bin.go_version(),
                bin.go_version_source(),
                row.go_version
            ));
        }
        // The twin's symbol table describes the twin: check the unstripped builds against it.
        let nm = std::fs::read_to_string(&row.nm).unwrap_or_default();
        if !row.stripped && build_version_symbol(&nm) != Some(v.header.0) {
            problems.push(format!(
                "{}: header at {:#x}, the twin's runtime.buildVersion at {:?}",
                row.label(),
                v.header.0,
                build_version_symbol(&nm)
            ));
        }
        let decoded = matches!(row.goarch.as_str(), "amd64" | "386" | "arm64");
        if decoded && !v.referenced {
            problems.push(format!(
                "{}: runtime.schedinit's reference not found",
                row.label()
            ));
        }
        *how.entry((row.goarch.clone(), v.referenced)).or_default() += 1;
        // The intact binary: from the build info, the same version.
        let original = std::fs::read(&row.path).unwrap();
        let intact = GoBinary::parse(&original).unwrap();
        if intact.go_version_source() != Some(VersionSource::BuildInfo)
            || intact.go_version() != Some(row.go_version.as_str())
        {
            problems.push(format!(
                "{}: intact binary {:?}",
                row.label(),
                intact.go_version()
            ));
        }
    }
    eprintln!(
        "{} binaries; (arch, found through runtime.schedinit's code) -> binaries: {how:?}",
        rows.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn real_binaries_without_build_info_give_the_runtime_version() {
    let list =
        std::fs::read_to_string(gosyms_tests::repo().join("testdata/real-binaries.tsv")).unwrap();
    let dir = gosyms_tests::cache().join("real");
    let mut n = 0;
    for l in list.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        let (name, version, arch) = (f[0], f[1], f[3]);
        let path = dir.join(name);
        assert!(
            path.exists(),
            "{} missing: run testdata/fetch-real-binaries.sh (./test.sh does)",
            path.display()
        );
        let data = without_build_info(&path);
        let bin = GoBinary::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = bin
            .runtime_version
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no runtime version"));
        assert_eq!(v.version, version, "{name}");
        if matches!(arch, "amd64" | "386" | "arm64") {
            assert!(
                v.referenced,
                "{name}: runtime.schedinit's reference not found"
            );
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} real binaries");
}

#[test]
fn info_says_where_the_version_came_from() {
    let bin = common::matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let copy = common::scratch("go-version").join("no-build-info");
    std::fs::write(&copy, without_build_info(&bin)).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (path, source) in [(&bin, "build info"), (&copy, "runtime")] {
        let out = run(&["info", &s(path)]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("go version:  go1.27.3 ({source})\n")),
            "{text}"
        );
        let out = run(&["info", "--json", &s(path)]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["go_version"], "go1.27.3");
        assert_eq!(v["go_version_source"], source);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&run(&["info", "--json", &s(&copy)]).stdout).unwrap();
    assert!(v["build_info"].is_null());
}

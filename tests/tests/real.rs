//! Real binaries built by Go 1.16, 1.17 and 1.18 (no toolchain for them can be installed here),
//! fetched from package registries by `testdata/fetch-real-binaries.sh`. Checked against their
//! own build info, their symbol tables where they kept one (`go tool nm` of a newer toolchain
//! reads any Go binary), and for self-consistency.

mod common;

use common::{cache, compare_with_nm, go, info, list, lookup};
use std::path::PathBuf;

struct Real {
    name: String,
    go_version: String,
    goos: String,
    goarch: String,
}

fn manifest() -> Vec<Real> {
    let tsv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/real-binaries.tsv");
    let text = std::fs::read_to_string(&tsv).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Real {
                name: f[0].into(),
                go_version: f[1].into(),
                goos: f[2].into(),
                goarch: f[3].into(),
            }
        })
        .collect()
}

#[test]
fn real_go116_to_go118_binaries() {
    let rows = manifest();
    let mut failures = Vec::new();
    let mut compared_with_nm = 0;
    for r in &rows {
        let path = cache().join("real").join(&r.name);
        assert!(
            path.exists(),
            "{} missing: run testdata/fetch-real-binaries.sh (the README test command does)",
            path.display()
        );
        let mut problems = Vec::new();
        let mut format = String::new();
        match info(&path) {
            Ok(v) => {
                format = v["format"].as_str().unwrap_or("").to_string();
                if v["go_version"] != r.go_version.as_str()
                    || v["os"] != r.goos.as_str()
                    || v["arch"] != r.goarch.as_str()
                {
                    problems.push(format!(
                        "info says {} {}/{}",
                        v["go_version"], v["os"], v["arch"]
                    ));
                }
                if v["moduledata"].is_null() {
                    problems.push("moduledata not found".into());
                }
            }
            Err(e) => problems.push(e),
        }
        let funcs = match list(&path) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{}: {e}", r.name));
                continue;
            }
        };
        if funcs.len() < 1000 || !funcs.iter().any(|f| f.name == "main.main") {
            problems.push(format!(
                "{} functions, main.main present: {}",
                funcs.len(),
                funcs.iter().any(|f| f.name == "main.main")
            ));
        }
        for w in funcs.windows(2) {
            if w[1].entry < w[0].end {
                problems.push(format!("{} overlaps {}", w[0].name, w[1].name));
            }
        }
        let entries: Vec<u64> = funcs.iter().map(|f| f.entry).collect();
        match lookup(&path, &entries) {
            Ok(got) => {
                for (f, g) in funcs.iter().zip(&got) {
                    if g.function.as_deref() != Some(f.name.as_str())
                        || g.offset != Some(0)
                        || g.file != f.file
                    {
                        problems.push(format!(
                            "lookup {:#x}: {:?}, want {}",
                            f.entry, g.function, f.name
                        ));
                    }
                }
            }
            Err(e) => problems.push(e),
        }
        // Where the binary kept its symbol table, it is the truth.
        let nm = go("1.21.13")
            .args(["tool", "nm", "-size", "-n"])
            .arg(&path)
            .output()
            .unwrap();
        if nm.status.success() && !nm.stdout.is_empty() {
            compared_with_nm += 1;
            problems.extend(compare_with_nm(
                &funcs,
                &String::from_utf8_lossy(&nm.stdout),
                &format,
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}): {}\n    {}",
                r.name,
                r.go_version,
                problems.len(),
                problems[..problems.len().min(8)].join("\n    ")
            ));
        }
    }
    eprintln!(
        "checked {} real binaries, {compared_with_nm} against their symbol tables",
        rows.len()
    );
    assert!(
        compared_with_nm >= 5,
        "only {compared_with_nm} real binaries had a symbol table to compare with"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

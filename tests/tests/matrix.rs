//! The toolchain matrix: every binary `testdata/build-matrix.sh` built, checked against the truth
//! Go's own tools recorded for its unstripped twin (`go tool nm -size`, `go tool addr2line`,
//! `go version -m`).

mod common;

use common::{compare_with_nm, info, list, lookup, ListEntry};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

type Row = gosyms_tests::MatrixBinary;

fn manifest() -> Vec<Row> {
    gosyms_tests::matrix()
}

fn check(row: &Row) -> Vec<String> {
    let mut problems = Vec::new();
    let funcs = match list(&row.path) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    check_list_shape(&funcs, &mut problems);
    check_against_nm(row, &funcs, &mut problems);
    check_info(row, &mut problems);
    check_lookup(row, &funcs, &mut problems);
    problems
}

fn check_list_shape(funcs: &[ListEntry], problems: &mut Vec<String>) {
    if funcs.len() < 500 {
        problems.push(format!("only {} functions", funcs.len()));
    }
    for w in funcs.windows(2) {
        if w[1].entry < w[0].end {
            problems.push(format!(
                "{} [{:#x},{:#x}) overlaps {} at {:#x}",
                w[0].name, w[0].entry, w[0].end, w[1].name, w[1].entry
            ));
        }
    }
    for f in funcs {
        if f.size != f.end - f.entry {
            problems.push(format!("{}: size {} != end - entry", f.name, f.size));
        }
    }
    for want in [
        "main.main",
        "runtime.main",
        "example.com/gosymsprog/shapes.(*Circle).Area",
    ] {
        if !funcs.iter().any(|f| f.name == want) {
            problems.push(format!("{want} missing"));
        }
    }
    let kind_of = |name: &str| {
        funcs
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.kind.as_str())
    };
    for (name, kind) in [
        ("main.main", "user"),
        ("runtime.main", "std"),
        ("example.com/gosymsprog/shapes.(*Circle).Area", "user"),
    ] {
        if kind_of(name).is_some_and(|k| k != kind) {
            problems.push(format!("{name}: kind {:?}, want {kind}", kind_of(name)));
        }
    }
}

fn check_against_nm(row: &Row, funcs: &[ListEntry], problems: &mut Vec<String>) {
    match std::fs::read_to_string(&row.nm) {
        Ok(text) => problems.extend(compare_with_nm(funcs, &text, format_of(&row.goos))),
        Err(e) => problems.push(format!("{}: {e}", row.nm.display())),
    }
}

fn format_of(goos: &str) -> &'static str {
    match goos {
        "windows" => "pe",
        "darwin" | "ios" => "macho",
        _ => "elf",
    }
}

fn check_info(row: &Row, problems: &mut Vec<String>) {
    let v = match info(&row.path) {
        Ok(v) => v,
        Err(e) => return problems.push(e),
    };
    // `go version -m` prints "PATH: go1.N.M" first.
    let truth = std::fs::read_to_string(&row.version).unwrap_or_default();
    let first = truth.lines().next().unwrap_or("");
    let want = first.rsplit(": ").next().unwrap_or("").trim();
    if v["go_version"] != want || want != row.go_version {
        problems.push(format!(
            "info go_version {} but go version -m says {want:?} (toolchain {})",
            v["go_version"], row.go_version
        ));
    }
    if v["os"] != row.goos.as_str() || v["arch"] != row.goarch.as_str() {
        problems.push(format!(
            "info says {}/{}, built for {}/{}",
            v["os"], v["arch"], row.goos, row.goarch
        ));
    }
    // "stripped" means no symbol table, which `go tool nm` then says; -s does not remove the
    // Mach-O symbol table in every release.
    let nm = common::go(&row.release)
        .args(["tool", "nm"])
        .arg(&row.path)
        .output()
        .unwrap();
    let has_symbols = nm.status.success()
        && !common::parse_nm_any(&String::from_utf8_lossy(&nm.stdout)).is_empty();
    if v["stripped"] == has_symbols {
        problems.push(format!(
            "info stripped={} but go tool nm finds symbols: {has_symbols}",
            v["stripped"]
        ));
    }
    if !row.stripped && !has_symbols {
        problems.push("the unstripped build has no symbols".into());
    }
    // -w drops DWARF; the unstripped builds keep it.
    if v["dwarf"] != !row.stripped {
        problems.push(format!(
            "info dwarf={} for a build stripped={}",
            v["dwarf"], row.stripped
        ));
    }
    let cgo = row.variant.starts_with("cgo");
    if v["cgo"] != cgo {
        problems.push(format!("info cgo={} for variant {}", v["cgo"], row.variant));
    }
    if v["moduledata"].is_null() {
        problems.push("moduledata not found".into());
    }
    for line in truth.lines() {
        let f: Vec<&str> = line.trim().split('\t').collect();
        match f.as_slice() {
            ["mod", path, ..] if v["build_info"]["main"]["path"] != *path => {
                problems.push(format!(
                    "build info main module {} but go version -m says {path}",
                    v["build_info"]["main"]["path"]
                ))
            }
            ["build", kv] => {
                let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
                if !val.starts_with('"') && v["build_info"]["settings"][k] != val {
                    problems.push(format!(
                        "build setting {k}: {} but go version -m says {val}",
                        v["build_info"]["settings"][k]
                    ));
                }
            }
            _ => {}
        }
    }
}

/// `ADDR\tFUNC\tFILE:LINE` lines for the addresses `go tool addr2line` could answer with a line
/// (it says `?` for C code, and a negative line for `go.buildid`).
fn addr2line_truth(text: &str, known: &HashSet<u64>) -> Vec<(u64, String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let addr = u64::from_str_radix(f.first()?.trim_start_matches("0x"), 16).ok()?;
            let line: i64 = f.get(2)?.rsplit_once(':')?.1.parse().ok()?;
            (f.len() == 3 && f[1] != "?" && line > 0 && known.contains(&addr))
                .then(|| (addr, f[1].into(), f[2].into()))
        })
        .collect()
}

fn check_lookup(row: &Row, funcs: &[ListEntry], problems: &mut Vec<String>) {
    let text = match std::fs::read_to_string(&row.addr2line) {
        Ok(t) => t,
        Err(e) => return problems.push(format!("{}: {e}", row.addr2line.display())),
    };
    let known: HashSet<u64> = funcs.iter().map(|f| f.entry).collect();
    let mut truth = addr2line_truth(&text, &known);
    if truth.len() < funcs.len() / 2 {
        // Go 1.15's addr2line does not find pclntab in `.data.rel.ro.gopclntab` (PIE): ask the
        // newest toolchain's, which reads it.
        let addrs: String = text
            .lines()
            .filter_map(|l| l.split('\t').next())
            .map(|a| format!("0x{a}\n"))
            .collect();
        let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
        let out = common::pipe(
            common::go("1.27.3")
                .args(["tool", "addr2line"])
                .arg(&row.twin),
            addrs.as_bytes(),
        );
        let answers: Vec<&str> = out.lines().collect();
        let redone: String = names
            .iter()
            .zip(answers.chunks(2))
            .map(|(a, ans)| {
                format!(
                    "{a}\t{}\t{}\n",
                    ans.first().unwrap_or(&"?"),
                    ans.get(1).unwrap_or(&"?:0")
                )
            })
            .collect();
        truth = addr2line_truth(&redone, &known);
    }
    if truth.len() < funcs.len() / 2 {
        problems.push(format!(
            "addr2line truth covers only {} of {} functions",
            truth.len(),
            funcs.len()
        ));
    }
    let addrs: Vec<u64> = truth.iter().map(|t| t.0).collect();
    let got = match lookup(&row.path, &addrs) {
        Ok(g) => g,
        Err(e) => return problems.push(e),
    };
    for ((addr, func, fileline), g) in truth.iter().zip(&got) {
        let (file, line) = fileline.rsplit_once(':').unwrap_or((fileline, "0"));
        let func = func.as_str();
        let got_line = g.line.map(|l| l.to_string()).unwrap_or_default();
        if g.function.as_deref() != Some(func)
            || g.file.as_deref() != Some(file)
            || got_line != line
        {
            problems.push(format!(
                "lookup {addr:#x}: {:?} {:?}:{got_line}, addr2line says {func} {file}:{line}",
                g.function, g.file
            ));
        }
    }
}

fn describe(row: &Row) -> String {
    let name = row
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{} {}/{} {name}", row.go_version, row.goos, row.goarch)
}

#[test]
fn matrix_matches_go_tools() {
    let rows = manifest();
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(row) = rows.get(i) else { break };
                let problems = check(row);
                if !problems.is_empty() {
                    let total = problems.len();
                    let mut msg = format!("{}: {total} problem(s)\n", describe(row));
                    for p in problems.iter().take(8) {
                        msg.push_str(&format!("    {p}\n"));
                    }
                    failures.lock().unwrap().push(msg);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "checked {} matrix binaries, {} failed",
        rows.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} binaries differ from Go's tools:\n{}",
        failures.len(),
        rows.len(),
        failures.concat()
    );
}

#[test]
fn matrix_covers_every_toolchain_and_format() {
    let rows = manifest();
    let releases: HashSet<&str> = rows.iter().map(|r| r.go_version.as_str()).collect();
    for want in [
        "go1.15.15",
        "go1.19.8",
        "go1.21.13",
        "go1.22.10",
        "go1.23.9",
        "go1.24.11",
        "go1.25.5",
        "go1.26.6",
        "go1.27.3",
    ] {
        assert!(releases.contains(want), "no binaries built by {want}");
    }
    for (os, arch) in [
        ("linux", "amd64"),
        ("linux", "s390x"),
        ("linux", "ppc64"),
        ("windows", "386"),
        ("darwin", "amd64"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.goos == os && r.goarch == arch && r.stripped),
            "no stripped {os}/{arch} binary"
        );
    }
    assert!(rows
        .iter()
        .any(|r| r.variant.starts_with("pie") && r.stripped));
    assert!(rows
        .iter()
        .any(|r| r.variant.starts_with("cgo") && r.stripped));
}

/// README's coverage table, made from the manifest: Go release by target, with the variants
/// tested in each cell (e exe, p pie, c cgo; each stripped and not).
fn coverage_table(rows: &[Row]) -> String {
    let mut releases: Vec<&str> = rows.iter().map(|r| r.go_version.as_str()).collect();
    releases.dedup();
    let mut targets: Vec<(String, &str)> = Vec::new();
    for r in rows {
        let t = (format!("{}/{}", r.goos, r.goarch), format_of(&r.goos));
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    targets.sort();
    let mut out = String::from("| Go | ");
    out.push_str(
        &targets
            .iter()
            .map(|(t, f)| format!("{t} ({f})"))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(targets.len()));
    out.push('\n');
    for rel in releases {
        out.push_str(&format!("| {rel} |"));
        for (t, _) in &targets {
            let mut cell = String::new();
            for (v, letter) in [("exe", 'e'), ("pie", 'p'), ("cgo", 'c')] {
                let has = |stripped: bool| {
                    rows.iter().any(|r| {
                        r.go_version == rel
                            && format!("{}/{}", r.goos, r.goarch) == *t
                            && r.variant.trim_end_matches("-stripped") == v
                            && r.stripped == stripped
                    })
                };
                if has(true) && has(false) {
                    cell.push(letter);
                }
            }
            out.push_str(&format!(" {} |", if cell.is_empty() { "-" } else { &cell }));
        }
        out.push('\n');
    }
    out
}

#[test]
fn readme_coverage_table_is_the_tested_matrix() {
    let table = coverage_table(&manifest());
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    assert!(
        readme.contains(&table),
        "README.md's coverage table must be exactly:\n{table}"
    );
}

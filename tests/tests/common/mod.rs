//! Shared helpers: finding the gosyms binary and the test corpora, running it, reading its JSON.
#![allow(dead_code)]

pub mod selective;
pub mod truth;

#[allow(unused_imports)] // each test file uses some of them
pub use gosyms_tests::{cache, go, matrix_binary};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `gosyms` binary of this build. The test command builds it first (`cargo build -p gosyms`);
/// it sits in the target directory, next to the `deps/` folder holding this test executable.
pub fn gosyms() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join(format!("gosyms{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p gosyms` (the README test command does)",
        bin.display()
    );
    bin
}

/// Runs gosyms with these arguments.
pub fn run(args: &[&str]) -> Output {
    Command::new(gosyms())
        .args(args)
        .output()
        .expect("run gosyms")
}

/// The stdout of gosyms with these arguments, which must succeed.
pub fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A fresh scratch directory for this test process, named after `what`.
pub fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gosyms-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

/// Lines of a stream, as they come, on a channel; and all of them so far.
pub fn lines_of(
    r: impl std::io::Read + Send + 'static,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let all = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let all2 = all.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            all2.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    (rx, all)
}

/// Starts `cmd` with stdin, stdout and stderr piped.
pub fn spawn_piped(cmd: &mut Command) -> std::process::Child {
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// The stdout of a traced program, which must have succeeded.
pub fn program_output(child: std::process::Child) -> String {
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "the traced program failed: {:?}",
        out.status
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs `cmd` with `input` on stdin; its stdout.
pub fn pipe(cmd: &mut Command, input: &[u8]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line of `gosyms list --json`. Unknown fields fail the test: a new field means updating
/// this, the README schema and the test together.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    pub name: String,
    pub entry: u64,
    pub end: u64,
    pub size: u64,
    pub package: String,
    pub kind: String,
    pub file: Option<String>,
    pub line: Option<i64>,
    pub args_bytes: Option<u32>,
    pub frame_bytes: i64,
}

/// The stdout of `gosyms SUBCOMMAND --json BINARY`, which must succeed.
fn json_stdout(subcommand: &str, path: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new(gosyms())
        .args([subcommand, "--json"])
        .arg(path)
        .output()
        .expect("run gosyms");
    if !out.status.success() {
        return Err(format!(
            "gosyms {subcommand} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// `gosyms list --json BINARY`.
pub fn list(path: &Path) -> Result<Vec<ListEntry>, String> {
    let text = String::from_utf8(json_stdout("list", path)?).map_err(|e| e.to_string())?;
    text.lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<i64>,
    pub inlined: bool,
}

/// One line of `gosyms lookup --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupEntry {
    pub addr: u64,
    pub function: Option<String>,
    pub entry: Option<u64>,
    pub offset: Option<u64>,
    pub file: Option<String>,
    pub line: Option<i64>,
    pub frames: Vec<Frame>,
}

/// `gosyms lookup --json BINARY ADDR...`.
pub fn lookup(path: &Path, addrs: &[u64]) -> Result<Vec<LookupEntry>, String> {
    let mut all = Vec::new();
    // Keep command lines short.
    for chunk in addrs.chunks(2000) {
        let mut cmd = Command::new(gosyms());
        cmd.arg("lookup").arg("--json").arg(path);
        cmd.args(chunk.iter().map(|a| format!("{a:#x}")));
        let out = cmd.output().expect("run gosyms");
        if out.status.code() == Some(2) {
            return Err(format!(
                "gosyms lookup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
        for l in text.lines() {
            all.push(serde_json::from_str(l).map_err(|e| format!("bad JSON line {l:?}: {e}"))?);
        }
    }
    Ok(all)
}

/// `gosyms info --json BINARY`, as a JSON value.
pub fn info(path: &Path) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&json_stdout("info", path)?).map_err(|e| e.to_string())
}

/// A text symbol from `go tool nm -size -n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NmSym {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// The defined text symbols (`T`, `t`) of a `go tool nm` output without sizes.
pub fn parse_nm_any(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 3 && matches!(f[1], "T" | "t")
        })
        .collect()
}

/// The text symbols (`T`, `t`) of a `go tool nm -size -n` output.
pub fn parse_nm(text: &str) -> Vec<NmSym> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let size = f.next()?.parse().ok()?;
            let kind = f.next()?;
            let name: Vec<&str> = f.collect();
            matches!(kind, "T" | "t").then(|| NmSym {
                addr,
                size,
                name: name.join(" "),
            })
        })
        .collect()
}

/// Symbols in the unstripped twin's symbol table that are not functions in pclntab, and why:
/// - `runtime.text`, `runtime.etext` (and `runtime.text.N` of further text sections): markers
///   for the bounds of the text, no code;
/// - `go:buildid` / `go.buildid`: the build ID string the linker puts first in the text;
/// - `PKG(.text)`: section symbols of the C objects of a cgo package, linked internally;
/// - in externally linked cgo builds, C code (libc start files, the cgo runtime's C half): it
///   lies outside the Go text range [runtime.text, runtime.etext) and has no pclntab entry.
fn linker_made(sym: &NmSym, go_text: (u64, u64)) -> bool {
    let n = sym.name.as_str();
    n == "runtime.text"
        || n == "runtime.etext"
        || n.starts_with("runtime.text.")
        || n == "go:buildid"
        || n == "go.buildid"
        || n.ends_with("(.text)")
        || sym.addr < go_text.0
        || sym.addr >= go_text.1
}

/// The symbol table's name for what pclntab calls plainly:
/// - ABI0 functions get an `.abi0` suffix (Go 1.17+) when there are ABI wrappers; pclntab, and so
///   the runtime's own tracebacks, use the plain name;
/// - Mach-O symbol tables put `_` before names that are not Go-qualified (no `.`), as C does.
fn plain<'a>(name: &'a str, format: &str) -> &'a str {
    let name = name.strip_suffix(".abi0").unwrap_or(name);
    match name.strip_prefix('_') {
        Some(rest) if format == "macho" && !rest.contains('.') => rest,
        _ => name,
    }
}

/// Whether pclntab's `ours` names the symbol-table name `theirs`: since Go 1.18 pclntab elides
/// bracketed type arguments (and, in 1.18, array lengths) to `[...]`, as the runtime prints them.
pub fn elided_eq(ours: &str, theirs: &str) -> bool {
    let mut parts = ours.split("[...]");
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = theirs.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        // Skip one balanced [...] group in theirs.
        if !rest.starts_with('[') {
            return false;
        }
        let mut depth = 0;
        let mut end = None;
        for (i, ch) in rest.char_indices() {
            match ch {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { return false };
        match rest[end..].strip_prefix(part) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Compares `gosyms list` with the text symbols of `go tool nm -size -n` on the same program:
/// every function must be an nm symbol with the same name, entry and size, and every nm text
/// symbol must be a function unless [`linker_made`]. PE and Mach-O symbols have no size (`go tool nm` prints
/// the distance to the next symbol), so there a function may only be no larger than that.
pub fn compare_with_nm(funcs: &[ListEntry], nm_text: &str, format: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let syms = parse_nm(nm_text);
    // Go 1.16 names closures `f·1` in pclntab; its ELF symbol table says `f.1`, its PE one `f·1`.
    let normal = |n: &str| n.replace('·', ".");
    let mut by_addr: HashMap<u64, Vec<&NmSym>> = HashMap::new();
    for s in &syms {
        by_addr.entry(s.addr).or_default().push(s);
    }
    let find = |n: &str| syms.iter().find(|s| s.name == n).map(|s| s.addr);
    let go_text = (
        find("runtime.text").unwrap_or(0),
        find("runtime.etext").unwrap_or(u64::MAX),
    );
    let mut matched = HashSet::new();
    for f in funcs {
        let ours = normal(&f.name);
        let hit = by_addr.get(&f.entry).and_then(|at| {
            at.iter()
                .find(|s| elided_eq(&ours, &normal(plain(&s.name, format))))
        });
        match hit {
            None => problems.push(format!(
                "{} at {:#x}: not in go tool nm of the twin",
                f.name, f.entry
            )),
            Some(s) => {
                matched.insert((s.addr, s.name.as_str()));
                // C functions linked into a cgo binary have pclntab entries but no pc-value
                // tables (and so no file): their size runs to the next function, padding included.
                let ok = match (format, f.file.is_none()) {
                    ("pe" | "macho", _) => f.size <= s.size,
                    (_, true) => f.size >= s.size,
                    _ => f.size == s.size,
                };
                if !ok {
                    problems.push(format!(
                        "{} at {:#x}: size {} but nm says {}",
                        f.name, f.entry, f.size, s.size
                    ));
                }
            }
        }
    }
    for s in &syms {
        if !matched.contains(&(s.addr, s.name.as_str())) && !linker_made(s, go_text) {
            problems.push(format!(
                "nm symbol {} at {:#x} is missing from gosyms list",
                s.name, s.addr
            ));
        }
    }
    problems
}

/// A tool the tests run, found on PATH; a missing one fails the test, naming the Debian package
/// that has it (`./test.sh` installs them all).
pub fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is missing: install the Debian package {package} (./test.sh does)")
        })
}

/// `go version -m`'s `path` line and Go version: the truth for the resource.
pub fn go_version_m(binary: &Path) -> (String, String) {
    let out = gosyms_tests::go("1.27.3")
        .args(["version", "-m"])
        .arg(binary)
        .output()
        .expect("go version -m");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("go version")
        .to_string();
    let path = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("path\t"))
        .expect("path line")
        .trim()
        .to_string();
    (path, version)
}

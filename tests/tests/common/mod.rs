//! Shared helpers: finding the gosyms binary and the test corpora, running it, reading its JSON.
#![allow(dead_code)]

use serde::Deserialize;
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

/// The cache the testdata scripts fill (`GOSYMS_CACHE`, default `~/.cache/gosyms`).
pub fn cache() -> PathBuf {
    match std::env::var_os("GOSYMS_CACHE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/gosyms"),
    }
}

/// A Go toolchain's `go` command (`release` as in install-toolchains.sh) with GOROOT set.
pub fn go(release: &str) -> Command {
    let root = cache().join("go").join(release);
    let mut cmd = Command::new(root.join("bin/go"));
    cmd.env("GOROOT", &root)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "");
    cmd
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
}

/// `gosyms list --json BINARY`.
pub fn list(path: &Path) -> Result<Vec<ListEntry>, String> {
    let out = Command::new(gosyms())
        .arg("list")
        .arg("--json")
        .arg(path)
        .output()
        .expect("run gosyms");
    if !out.status.success() {
        return Err(format!(
            "gosyms list exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
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
    let out = Command::new(gosyms())
        .arg("info")
        .arg("--json")
        .arg(path)
        .output()
        .expect("run gosyms");
    if !out.status.success() {
        return Err(format!(
            "gosyms info exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// A text symbol from `go tool nm -size -n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NmSym {
    pub addr: u64,
    pub size: u64,
    pub name: String,
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

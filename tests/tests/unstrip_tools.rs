//! `gosyms unstrip` for real: `testdata/unstrip` built stripped and unstripped (Go 1.15, 1.21
//! and 1.27, executable and PIE), its stripped build rewritten by unstrip, then run under the
//! tools people use on it:
//! - the rewritten binary prints exactly what the original prints;
//! - gdb breaks by name where it does on the unstripped build (past the prologue, where the line
//!   table marks its end), and its backtrace has the same frames as there, and as the runtime's
//!   own stack that the program prints (inlined calls included);
//! - a bpftrace uprobe by name counts exactly the calls the program says it makes;
//! - `perf record` names the hot function, with its source line; `objdump -d` names functions
//!   and the targets of calls;
//! - `--debug-only`: gdb with the debug file (`symbol-file`, or found by GNU build ID in a
//!   debug directory) and perf with it (under `--symfs`) see the same.
//!
//! These need root (ptrace, BPF, perf events) and gdb, bpftrace and perf: a missing one fails.

mod common;

use common::{gosyms, tool};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A build of `testdata/unstrip` with its stripped twin rewritten by unstrip.
struct Build {
    label: String,
    /// The stripped build's GNU build ID (hex).
    build_id: String,
    /// `-ldflags=-s -w`.
    stripped: PathBuf,
    /// Not stripped.
    full: PathBuf,
    /// `gosyms unstrip stripped -o unstripped`.
    unstripped: PathBuf,
    /// `gosyms unstrip --debug-only stripped -o debug`.
    debug: PathBuf,
}

fn build(release: &str, mode: &str, dir: &Path) -> Build {
    let src = gosyms_tests::repo().join("testdata/unstrip/main.go");
    let label = format!("{release}-{mode}");
    let path = |what: &str| dir.join(format!("{label}-{what}"));
    // The stripped build has a GNU build ID, so that a debug directory can serve it; one of its
    // own (perf and gdb find files by it).
    let build_id: String = format!("{label}{}", std::process::id())
        .bytes()
        .chain(std::iter::repeat(0))
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    let strip = format!("-s -w -B 0x{build_id}");
    gosyms_tests::go_build_mode(release, "amd64", &src, &path("stripped"), &strip, mode);
    gosyms_tests::go_build_mode(release, "amd64", &src, &path("full"), "", mode);
    let b = Build {
        label: label.clone(),
        build_id,
        stripped: path("stripped"),
        full: path("full"),
        unstripped: path("unstripped"),
        debug: path("debug"),
    };
    for (out, extra) in [(&b.unstripped, None), (&b.debug, Some("--debug-only"))] {
        let r = Command::new(gosyms())
            .arg("unstrip")
            .arg(&b.stripped)
            .arg("-o")
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{}: unstrip: {}",
            b.label,
            String::from_utf8_lossy(&r.stderr)
        );
    }
    b
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// gdb's backtrace at a breakpoint on `main.leaf`, as (function, file:line) per frame up to
/// `main.main`, after where the breakpoint is (`main[leaf] + 10`: past the prologue, where the
/// line table marks its end); `setup` are the gdb commands that load the program (`file EXE`
/// and others).
fn gdb_backtrace(setup: &[String]) -> Vec<(String, String)> {
    let mut cmd = Command::new(tool("gdb", "gdb"));
    cmd.args(["-q", "-batch", "-nx"]);
    for c in setup {
        cmd.args(["-ex", c]);
    }
    cmd.args(["-ex", "break main.leaf", "-ex", "run", "-ex", "bt"]);
    cmd.args(["-ex", "info symbol $pc"]);
    let out = stdout(&run(&mut cmd));
    // `main[leaf] + 10 in section .text of PATH` (gdb writes Go names its own way)
    let stop = out
        .lines()
        .find(|l| l.contains("leaf") && l.contains(" in section "))
        .and_then(|l| l.split(" in section ").next())
        .unwrap_or("")
        .to_string();
    let mut frames = vec![("breakpoint".to_string(), stop)];
    // `#1  0x0000000000464a13 in main.inner (n=20) at /path/main.go:45`
    for l in out.lines().filter(|l| l.starts_with('#')) {
        let rest = l.split_once("  ").map_or("", |x| x.1);
        let rest = match rest.split_once(" in ") {
            Some((addr, r)) if addr.starts_with("0x") => r,
            _ => rest,
        };
        let func = rest.split(" (").next().unwrap_or("").to_string();
        let at = rest.rsplit_once(" at ").map_or("", |x| x.1).to_string();
        let done = func == "main.main";
        frames.push((func, at));
        if done {
            break;
        }
    }
    assert!(
        frames.last().is_some_and(|f| f.0 == "main.main"),
        "{setup:?}: no backtrace to main.main in gdb's output:\n{out}"
    );
    frames
}

/// The frames the program printed from `main.leaf` (the runtime's expansion).
fn runtime_frames(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("frame\t"))
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, at)| (f.to_string(), at.to_string()))
        .collect()
}

/// The symbol perf's report puts first for `data`, with `extra` options.
fn perf_top_symbol(data: &Path, extra: &[&str]) -> String {
    let out = run(Command::new(tool("perf", "linux-perf"))
        .args(["report", "--stdio", "--sort", "sym,srcline", "-i"])
        .arg(data)
        .args(extra));
    stdout(&out)
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

fn perf_record(data: &Path, exe: &Path) {
    run(Command::new(tool("perf", "linux-perf"))
        // No build-ID cache: nothing written to ~/.debug.
        .args(["record", "-q", "--no-buildid-cache", "-o"])
        .arg(data)
        .arg("--")
        .arg(exe)
        .arg("5"));
}

fn check(b: &Build, dir: &Path) {
    // The same program.
    let want = stdout(&run(&mut Command::new(&b.stripped)));
    assert_eq!(
        stdout(&run(&mut Command::new(&b.unstripped))),
        want,
        "{}",
        b.label
    );
    assert_eq!(
        stdout(&run(&mut Command::new(&b.full))),
        want,
        "{}",
        b.label
    );
    let runtime = runtime_frames(&want);
    assert_eq!(runtime.len(), 5, "{}: {want}", b.label);

    // gdb: the same frames as on the unstripped build, and as the runtime's.
    let file = |p: &Path| format!("file {}", p.display());
    let ours = gdb_backtrace(&[file(&b.unstripped)]);
    let theirs = gdb_backtrace(&[file(&b.full)]);
    assert_eq!(ours, theirs, "{}: gdb backtraces", b.label);
    assert_eq!(ours.get(1).map(|f| f.0.as_str()), Some("main.leaf"));
    assert!(
        ours.first().is_some_and(|f| f.1.contains("leaf] + ")),
        "{}: gdb stopped at {:?}, not past the prologue",
        b.label,
        ours.first()
    );
    assert_eq!(
        ours.get(2..),
        runtime.get(1..),
        "{}: gdb's frames above main.leaf against the runtime's",
        b.label
    );

    // objdump names the functions it disassembles.
    let dis = stdout(&run(Command::new(tool("objdump", "binutils"))
        .arg("-d")
        .arg(&b.unstripped)));
    assert!(
        dis.contains("<main.hot>:") && dis.contains("call") && dis.contains("<main.counted>"),
        "{}: objdump -d names no functions",
        b.label
    );

    // bpftrace by name: every call.
    let calls: u64 = want
        .lines()
        .find_map(|l| l.strip_prefix("counted calls: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the program prints its calls");
    let exe = b.unstripped.display().to_string();
    let out = run(Command::new(tool("bpftrace", "bpftrace"))
        .arg("-e")
        .arg(format!("uprobe:{exe}:main.counted {{ @calls = count(); }}"))
        .args(["-c", &exe]));
    let text = stdout(&out);
    let counted: Option<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("@calls: "))
        .and_then(|n| n.trim().parse().ok());
    assert_eq!(counted, Some(calls), "{}: bpftrace said:\n{text}", b.label);

    // perf: the hot function, with its line.
    let data = dir.join(format!("{}.perf", b.label));
    perf_record(&data, &b.unstripped);
    let top = perf_top_symbol(&data, &[]);
    assert!(
        top.contains("main.hot") && top.contains("main.go:"),
        "{}: perf's top entry: {top:?}",
        b.label
    );

    // The debug file: gdb by `symbol-file` and by build ID, perf under --symfs.
    let by_file = gdb_backtrace(&[
        file(&b.stripped),
        format!("symbol-file {}", b.debug.display()),
    ]);
    assert_eq!(by_file, theirs, "{}: gdb with symbol-file", b.label);
    let debug_dir = dir.join(format!("{}-debug-dir", b.label));
    let (head, tail) = b.build_id.split_at(2);
    let id_dir = debug_dir.join(".build-id").join(head);
    std::fs::create_dir_all(&id_dir).unwrap();
    std::fs::copy(&b.debug, id_dir.join(format!("{tail}.debug"))).unwrap();
    let by_id = gdb_backtrace(&[
        format!("set debug-file-directory {}", debug_dir.display()),
        file(&b.stripped),
    ]);
    assert_eq!(
        by_id, theirs,
        "{}: gdb with the build-id directory",
        b.label
    );
    let data = dir.join(format!("{}-stripped.perf", b.label));
    perf_record(&data, &b.stripped);
    let symfs = dir.join(format!("{}-symfs", b.label));
    let at = symfs.join(format!("usr/lib/debug{}.debug", b.stripped.display()));
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::copy(&b.debug, &at).unwrap();
    let top = perf_top_symbol(&data, &["--symfs", &symfs.display().to_string()]);
    assert!(
        top.contains("main.hot"),
        "{}: perf's top entry with the debug file: {top:?}",
        b.label
    );
}

#[test]
fn gdb_bpftrace_and_perf_work_on_unstripped_binaries() {
    let dir = common::scratch("unstrip-tools");
    for release in ["1.15", "1.21.13", "1.27.3"] {
        for mode in ["exe", "pie"] {
            let b = build(release, mode, &dir);
            check(&b, &dir);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

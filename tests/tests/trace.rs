//! `gosyms trace` under real BPF: the program in testdata/trace prints every call it receives
//! and every result it returns (the truth); gosyms' JSON events must agree with it, field by
//! field, for Go 1.15 (stack ABI, goroutine from TLS), 1.19, 1.21 and 1.27 (register ABI),
//! stripped and unstripped, PIE and not. The traced program's own output must be what it
//! prints untraced. The same tests run on arm64 (Go 1.15 there has the stack ABI too, with the
//! goroutine in R28) inside the emulated machine of testdata/arm64-vm.sh (tests/arm64_vm.rs),
//! where the programs are built for arm64.
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::truth::{self, Run};
use common::{gosyms, scratch};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The functions testdata/trace prints lines for.
const TRACED: &[&str] = &[
    "main.Ints",
    "main.Bools",
    "main.Strings",
    "main.Bytes",
    "main.Ptr",
    "main.Point.Norm1",
    "main.(*Server).Rename",
    "main.Small",
    "main.Big",
    "main.Divide",
    "main.Custom",
    "main.Sum",
    "main.Fib",
    "main.Deep",
    "main.Work",
];

/// Functions with signatures for a stripped binary (variadic `...int` is a slice to the ABI).
const SIGNED: &[&str] = &[
    "main.Strings",
    "main.Divide",
    "main.Sum",
    "main.(*Server).Rename",
];
const SIGNATURES: &[&str] = &[
    "main.Strings(empty string, ascii string, uni string, long string) (n int)",
    "main.Divide(a int, b int) (q int, r int, err error)",
    "main.Sum(label string, xs []int) (total int)",
    "main.(*Server).Rename(s *struct { Name string; Hits int }, name string) (old string)",
];

const RELEASES: &[&str] = &["1.15", "1.19", "1.21.13", "1.27.3"];

fn build(release: &str, mode: &str, stripped: bool) -> PathBuf {
    // Tests run in parallel threads and share the builds.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("trace");
    let out = dir.join(format!(
        "trace-{release}-{mode}{}",
        if stripped { "-stripped" } else { "" }
    ));
    if !out.exists() {
        let src = repo().join("testdata/trace/main.go");
        let ldflags = if stripped { "-s -w" } else { "" };
        go_build_mode(release, host_goarch(), &src, &out, ldflags, mode);
    }
    out
}

fn trace(binary: &Path, args: &[&str]) -> Run {
    truth::trace(binary, &["--max-str", "64"], args)
}

/// Every line the program printed has a matching completed call in gosyms' output, on the same
/// goroutine and in the same order; every return has a duration; and the 100 goroutines of
/// main.Work were told apart.
fn check_against_truth(run: &Run, label: &str, only: Option<&[&str]>) {
    let truth = truth::check_calls(run, label, only);
    // 100 goroutines ran main.Work: their ids are distinct and matched above.
    if only.is_none() {
        let work: HashSet<u64> = truth
            .iter()
            .filter(|(_, l)| l.iter().any(|t| t["fn"] == "main.Work"))
            .map(|(g, _)| *g)
            .collect();
        assert_eq!(work.len(), 100, "{label}: main.Work goroutines");
    }
}

/// The program's output without goroutine ids, sorted (goroutines interleave).
fn normalised(lines: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if let Some(o) = l.as_object_mut() {
                o.remove("goid");
            }
            l.to_string()
        })
        .collect();
    v.sort();
    v
}

fn untraced(binary: &Path) -> Vec<Value> {
    let out = Command::new(binary).output().expect("run the program");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn unstripped_binaries_with_dwarf() {
    for release in RELEASES {
        for mode in ["exe", "pie"] {
            let bin = build(release, mode, false);
            let label = format!("go{release} {mode}");
            let run = trace(&bin, TRACED);
            check_against_truth(&run, &label, None);
            assert_eq!(
                normalised(&run.truth),
                normalised(&untraced(&bin)),
                "{label}: the traced program printed something else than untraced"
            );
            assert!(run.stderr.contains(" 0 dropped"), "{label}: {}", run.stderr);
        }
    }
}

#[test]
fn stripped_binaries_with_a_debug_file() {
    for release in RELEASES {
        for mode in ["exe", "pie"] {
            let bin = build(release, mode, true);
            let twin = build(release, mode, false);
            let label = format!("go{release} {mode} stripped --debug-file");
            let mut args = vec!["--debug-file", twin.to_str().unwrap()];
            args.extend(TRACED);
            let run = trace(&bin, &args);
            check_against_truth(&run, &label, None);
        }
    }
}

#[test]
fn stripped_binaries_with_signatures() {
    for release in RELEASES {
        let bin = build(release, "exe", true);
        let label = format!("go{release} stripped, signatures");
        let run = trace(&bin, SIGNATURES);
        check_against_truth(&run, &label, Some(SIGNED));
    }
}

#[test]
fn stripped_binaries_without_types_give_raw_words() {
    for release in RELEASES {
        let bin = build(release, "exe", true);
        let label = format!("go{release} stripped, no types");
        let run = trace(&bin, &["main.Ints", "main.Bools"]);
        let calls: Vec<&Value> = run
            .events
            .iter()
            .filter(|e| e["event"] == "call" && e["fn"] == "main.Ints")
            .collect();
        assert_eq!(calls.len(), 2, "{label}");
        let args = calls[1]["args"].as_array().expect("raw words are an array");
        if *release == "1.15" {
            // Stack ABI: the argument area's words. a=1 is the first word, e=5 the third
            // (b, c, d share the second).
            assert_eq!(args[0], 1, "{label}: {args:?}");
            assert_eq!(args[2], 5, "{label}: {args:?}");
        } else {
            // Register ABI: one word per ArgInfo leaf, in order.
            let want: Vec<Value> = (1..=10).map(Value::from).collect();
            assert_eq!(args[..10], want[..], "{label}");
        }
        assert!(run.stderr.contains("types unknown") || *release == "1.15");
    }
}

#[test]
fn trace_refuses_without_privileges_clearly() {
    // Drop every capability with setpriv (util-linux) and run as nobody.
    let bin = build("1.27.3", "exe", false);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(gosyms())
        .args(["trace", "main.Ints", "--"])
        .arg(&bin)
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("root") && err.contains("CAP_BPF") && err.contains("CAP_PERFMON"),
        "{err}"
    );
}

#[test]
fn a_binary_of_another_architecture_is_refused_clearly() {
    // A uprobe runs in the traced process, so only binaries of the kernel's own architecture
    // can be traced: amd64 on x86-64, arm64 on arm64 (testdata/arm64-vm.sh runs this there).
    let other = if host_goarch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let bin = scratch("trace").join(format!("trace-1.27.3-exe-{other}"));
    let src = repo().join("testdata/trace/main.go");
    go_build_mode("1.27.3", other, &src, &bin, "", "exe");
    let out = Command::new(gosyms())
        .args(["trace", "main.Ints", "--"])
        .arg(&bin)
        .output()
        .expect("run gosyms trace");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!(
            "linux/{other} binary cannot be traced on this linux/{} kernel",
            host_goarch()
        )) && err.contains(&bin.display().to_string()),
        "{err}"
    );
}

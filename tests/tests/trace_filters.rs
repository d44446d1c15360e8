//! Filters in the kernel, under real BPF: `--where`, `--goid`, `--tid` and `--min-duration`.
//! testdata/selective prints every call it makes (the truth); gosyms must write exactly the
//! calls the filter selects, on the same goroutines and in the same order, with their
//! arguments and results, and count every other call and its return as filtered out: the
//! counts in its summary equal what the program's own lines say. Go 1.27 (register ABI, PIE
//! too) and Go 1.15 (stack ABI, the goroutine from thread-local storage).
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::selective::{self, summary_count, Tracer, Waiting};
use common::truth::{self, Run};
use serde_json::Value;
use std::collections::BTreeMap;

const BUILDS: &[(&str, &str)] = &[("1.27.3", "exe"), ("1.27.3", "pie"), ("1.15", "exe")];

/// The truth lines of `function` by goroutine, those `select` keeps.
fn selected<'r>(
    truth: &'r [Value],
    function: &str,
    select: &dyn Fn(&Value) -> bool,
) -> (usize, BTreeMap<u64, Vec<&'r Value>>) {
    let all = selective::calls(truth, function);
    let mut by_g: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for t in all.iter().filter(|t| select(t)) {
        by_g.entry(t["goid"].as_u64().unwrap()).or_default().push(t);
    }
    (all.len(), by_g)
}

/// gosyms wrote exactly the selected calls of `function`, each with its return, and counted
/// the others as filtered out.
fn check(
    label: &str,
    truth: &[Value],
    events: &[Value],
    stderr: &str,
    function: &str,
    select: &dyn Fn(&Value) -> bool,
) {
    let (total, want) = selected(truth, function, select);
    let n: usize = want.values().map(Vec::len).sum();
    assert!(
        n > 0 && n < total,
        "{label}: the filter must split the calls ({n} of {total})"
    );
    let done = truth::completed(events);
    for (goid, lines) in &want {
        let got = done.get(goid).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            got.len(),
            lines.len(),
            "{label}: g{goid}: {} calls written, {} selected by the program's truth",
            got.len(),
            lines.len()
        );
        for ((f, args, ret, dur), t) in got.iter().zip(lines) {
            assert_eq!(f, function, "{label}");
            assert!(
                truth::contains(args, &t["args"]),
                "{label}: args: gosyms {args}, program {}",
                t["args"]
            );
            assert!(
                truth::contains(ret, &t["ret"]),
                "{label}: results: gosyms {ret}, program {}",
                t["ret"]
            );
            assert!(dur.as_u64().is_some(), "{label}: a return without duration");
        }
    }
    assert_eq!(
        events.len(),
        2 * n,
        "{label}: events for calls the program did not select"
    );
    let filtered = (total - n) as u64;
    assert_eq!(
        summary_count(stderr, "call", "calls", "filtered out"),
        filtered,
        "{label}: {stderr}"
    );
    assert_eq!(
        summary_count(
            stderr,
            "return",
            "returns",
            "filtered out (of calls filtered out or not seen)"
        ),
        filtered,
        "{label}: {stderr}"
    );
}

fn int(t: &Value, path: &[&str]) -> i64 {
    let mut v = t;
    for p in path {
        v = &v[*p];
    }
    v.as_i64()
        .unwrap_or_else(|| panic!("{path:?} of {t} is not an integer"))
}

fn string<'v>(t: &'v Value, key: &str) -> &'v str {
    t["args"][key].as_str().unwrap()
}

type Select = fn(&Value) -> bool;

/// Conditions on main.Lookup(name string, id int32, flag bool, p *Item) (n int, err error)
/// and main.Small(a int8, b uint16, c int64, d uint8) int, with the same selection made on the
/// program's lines.
const CONDITIONS: &[(&str, &str, &[&str], Select)] = &[
    ("main.Lookup", "id > 5 && flag", &[], |t| {
        int(t, &["args", "id"]) > 5 && t["args"]["flag"] == true
    }),
    (
        "main.Lookup",
        r#"hasPrefix(name, "api/") || name == "x""#,
        &[],
        |t| string(t, "name").starts_with("api/") || string(t, "name") == "x",
    ),
    // A literal longer than --max-str: the string's read is made longer for it.
    (
        "main.Lookup",
        r#"name == "api/users" || name == """#,
        &["--max-str", "8"],
        |t| matches!(string(t, "name"), "api/users" | ""),
    ),
    // Results only: each call is kept in the kernel until its return.
    ("main.Lookup", "err != nil", &[], |t| {
        !t["ret"]["err"].is_null()
    }),
    ("main.Lookup", "n > 10 && id != 3", &[], |t| {
        int(t, &["ret", "n"]) > 10 && int(t, &["args", "id"]) != 3
    }),
    // Fields through a pointer; a nil pointer on the way makes a comparison false.
    (
        "main.Lookup",
        "p != nil && p.Hits >= 3 && !p.Up",
        &[],
        |t| {
            let p = &t["args"]["p"]["value"];
            !p.is_null() && p["Hits"].as_i64().unwrap() >= 3 && p["Up"] == false
        },
    ),
    ("main.Lookup", "p.Level < 0 && p.Level != -300", &[], |t| {
        let level = &t["args"]["p"]["value"]["Level"];
        level.as_i64().is_some_and(|l| l < 0 && l != -300)
    }),
    ("main.Lookup", r#"p.Name == "alpha""#, &[], |t| {
        t["args"]["p"]["value"]["Name"] == "alpha"
    }),
    ("main.Lookup", r#"!(p.Name == "alpha")"#, &[], |t| {
        t["args"]["p"]["value"]["Name"] != "alpha"
    }),
    // Every width and sign.
    (
        "main.Small",
        "a < -5 || d == 255 || b >= 60000 || c > 1099511627775",
        &[],
        |t| {
            int(t, &["args", "a"]) < -5
                || int(t, &["args", "d"]) == 255
                || int(t, &["args", "b"]) >= 60000
                || int(t, &["args", "c"]) > 1099511627775
        },
    ),
    ("main.Small", "a == -128 && c < 0", &[], |t| {
        int(t, &["args", "a"]) == -128 && int(t, &["args", "c"]) < 0
    }),
];

/// Strings are compared with the program's whole strings: capture them whole.
const WHOLE: &[&str] = &["--max-str", "128"];

fn traced(release: &str, mode: &str, flags: &[&str], function: &str) -> Run {
    let mut flags = flags.to_vec();
    if !flags.contains(&"--max-str") {
        flags.extend(WHOLE);
    }
    truth::trace_args(
        &selective::build(release, mode),
        &["filters"],
        &flags,
        &[function],
    )
}

#[test]
fn where_writes_exactly_the_calls_the_condition_selects() {
    for (release, mode) in BUILDS {
        for (function, condition, extra, select) in CONDITIONS {
            let label = format!("go{release} {mode}: --where '{condition}'");
            let mut flags = vec!["--where", condition];
            flags.extend(*extra);
            let run = traced(release, mode, &flags, function);
            check(
                &label,
                &run.truth,
                &run.events,
                &run.stderr,
                function,
                select,
            );
        }
    }
}

#[test]
fn goid_and_tid_select_one_goroutine_and_one_thread() {
    for (release, mode) in BUILDS {
        let bin = selective::build(release, mode);
        for (flag, key, worker) in [("--goid", "goids", 1), ("--tid", "tids", 2)] {
            let label = format!("go{release} {mode}: {flag}");
            let program = Waiting::start(&bin, "filters");
            let id = program.ready[key][worker].as_u64().unwrap().to_string();
            let tracer = Tracer::start(
                &format!("{release}-{mode}{flag}"),
                &program.pid(),
                &[flag, &id, WHOLE[0], WHOLE[1], "main.Lookup"],
            );
            let truth = program.run();
            let (stderr, events) = tracer.finish();
            let field = &key[..key.len() - 1];
            let select = |t: &Value| t[field].as_u64().unwrap().to_string() == id;
            check(&label, &truth, &events, &stderr, "main.Lookup", &select);
        }
    }
}

#[test]
fn tid_keeps_the_returns_of_calls_that_moved_to_another_thread() {
    for (release, mode) in BUILDS {
        let label = format!("go{release} {mode}: --tid, goroutines free to move");
        let bin = selective::build(release, mode);
        let program = Waiting::start(&bin, "wander");
        let tid = program.ready["tids"][0].as_u64().unwrap();
        let tracer = Tracer::start(
            &format!("{release}-{mode}-wander"),
            &program.pid(),
            &["--tid", &tid.to_string(), "main.Nap"],
        );
        let truth = program.run();
        let (stderr, events) = tracer.finish();
        assert!(!stderr.contains("still running"), "{label}: {stderr}");
        // Per goroutine, calls and returns alternate (Nap calls nothing traced): every call
        // made on the thread has its return, wherever it came back.
        let mut open: std::collections::HashMap<u64, u64> = Default::default();
        let (mut calls, mut moved) = (0, 0);
        for e in &events {
            let (goid, t) = (e["goid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            if e["event"] == "call" {
                assert_eq!(t, tid, "{label}: a call on another thread: {e}");
                assert!(
                    open.insert(goid, t).is_none(),
                    "{label}: two calls open: {e}"
                );
                calls += 1;
            } else {
                assert!(
                    open.remove(&goid).is_some(),
                    "{label}: a return without its call: {e}"
                );
                assert!(e["dur_ns"].is_u64(), "{label}: {e}");
                moved += usize::from(t != tid);
            }
        }
        assert!(
            open.is_empty(),
            "{label}: calls without their return: {open:?}"
        );
        let made = truth.iter().filter(|t| t["fn"] == "main.Nap").count();
        assert!(
            calls > 0 && calls <= made,
            "{label}: {calls} calls of {made}"
        );
        // The case under test happened (the program's 200 sleeps move goroutines around).
        assert!(
            moved > 0,
            "{label}: no return came back on another thread in {calls} calls"
        );
    }
}

#[test]
fn min_duration_writes_only_the_slow_calls() {
    const MIN_NS: u64 = 20_000_000;
    for (release, mode) in BUILDS {
        let label = format!("go{release} {mode}: --min-duration 20ms");
        let run = truth::trace_args(
            &selective::build(release, mode),
            &["slow"],
            &["--min-duration", "20ms"],
            &["main.Nap"],
        );
        let naps = selective::calls(&run.truth, "main.Nap");
        let done = truth::completed(&run.events);
        let got: Vec<_> = done.values().flatten().collect();
        // Every call written took at least 20 ms, by the kernel's clock.
        for (_, args, _, dur) in &got {
            assert!(
                dur.as_u64().unwrap() >= MIN_NS,
                "{label}: {args} took {dur}"
            );
        }
        // Every 40 ms nap is there, with its argument; no call the program measured under
        // 20 ms is (the kernel's duration is inside the program's).
        let slow = naps.iter().filter(|t| t["args"]["ms"] == 40).count();
        let fast = naps
            .iter()
            .filter(|t| t["dur_ns"].as_u64().unwrap() < MIN_NS)
            .count();
        assert!(slow > 0 && fast > 0);
        assert!(
            got.iter().filter(|c| c.1["ms"] == 40).count() == slow,
            "{label}: {} of the {slow} slow calls written",
            got.len()
        );
        assert!(
            got.len() <= naps.len() - fast,
            "{label}: fast calls written"
        );
        // Each call is written just before its return, with its own timestamp.
        for pair in run.events.chunks(2) {
            assert_eq!(pair[0]["event"], "call", "{label}");
            assert_eq!(pair[1]["event"], "return", "{label}");
            let (call, ret) = (pair[0]["ts_ns"].as_u64(), pair[1]["ts_ns"].as_u64());
            assert_eq!(
                ret.unwrap() - call.unwrap(),
                pair[1]["dur_ns"].as_u64().unwrap()
            );
        }
        let filtered = (naps.len() - got.len()) as u64;
        assert_eq!(
            summary_count(&run.stderr, "call", "calls", "filtered out"),
            filtered,
            "{label}: {}",
            run.stderr
        );
    }
}

#[test]
fn names_and_types_that_do_not_fit_are_refused_in_one_line() {
    let bin = selective::build("1.27.3", "exe");
    let refused = |condition: &str, functions: &[&str], want: &str| {
        let out = std::process::Command::new(common::gosyms())
            .args(["trace", "--where", condition, "-o", "/dev/null"])
            .args(functions)
            .arg("--")
            .arg(&bin)
            .arg("filters")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{condition}: {err}");
        assert_eq!(err.lines().count(), 1, "{condition}: {err}");
        assert!(err.contains(want), "{condition}: {err}");
        assert!(out.stdout.is_empty(), "{condition}: the program ran");
    };
    refused(
        "nope == 1",
        &["main.Lookup"],
        "no argument or result is named nope; main.Lookup has name, id, flag, p, n (result), err (result)",
    );
    refused(
        "name > 3",
        &["main.Lookup"],
        "main.Lookup: name is string: compare it with a string, not an integer (> 3)",
    );
    refused(
        "id == 1 <<",
        &["main.Lookup"],
        "expected `&&`, `||` or the end at column 9",
    );
    refused("id == && flag", &["main.Lookup"], "expected a literal");
    refused("a == 200", &["main.Small"], "200 does not fit in it");
    refused(
        "p == 1",
        &["main.Lookup"],
        "compare it with == nil or != nil",
    );
    refused(
        "p.Missing == 1",
        &["main.Lookup"],
        "its fields: Name, Hits, Up",
    );
    // A name one of the functions has: the other is not traced, with a note.
    let run = truth::trace_args(
        &bin,
        &["filters"],
        &["--where", "id > 5"],
        &["main.Lookup", "main.Small"],
    );
    assert!(
        run.stderr.contains(
            "main.Small: not traced: no argument or result is named id; main.Small has a, b, c, d, sum (result)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.events.iter().all(|e| e["fn"] == "main.Lookup"));
}

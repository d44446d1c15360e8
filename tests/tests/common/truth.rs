//! The truth of the tracing tests: a traced Go program prints one JSON line per call it
//! receives (`{"fn", "goid", "args", "ret"}`), and gosyms' events must contain it.

use super::{gosyms, scratch};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One traced run.
pub struct Run {
    /// The program's stdout: one JSON object per line.
    pub truth: Vec<Value>,
    /// gosyms' events.
    pub events: Vec<Value>,
    /// gosyms' stderr.
    pub stderr: String,
}

/// Runs `gosyms trace FLAGS -o FILE PATTERNS -- BINARY`, which must succeed.
pub fn trace(binary: &Path, flags: &[&str], patterns: &[&str]) -> Run {
    trace_args(binary, &[], flags, patterns)
}

/// Runs `gosyms trace FLAGS -o FILE PATTERNS -- BINARY ARGS`, which must succeed.
pub fn trace_args(binary: &Path, args: &[&str], flags: &[&str], patterns: &[&str]) -> Run {
    // Tests run in parallel: one file per run.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch("trace");
    let events_path = dir.join(format!(
        "{}-{n}.jsonl",
        binary.file_name().unwrap().to_string_lossy(),
    ));
    let out = Command::new(gosyms())
        .arg("trace")
        .args(flags)
        .arg("-o")
        .arg(&events_path)
        .args(patterns)
        .arg("--")
        .arg(binary)
        .args(args)
        .output()
        .expect("run gosyms trace");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "gosyms trace {} failed: {stderr}",
        binary.display()
    );
    let parse = |text: &str, what: &str| -> Vec<Value> {
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: bad JSON {l:?}: {e}"))
            })
            .collect()
    };
    let events = std::fs::read_to_string(&events_path).expect("events file");
    Run {
        truth: parse(&String::from_utf8_lossy(&out.stdout), "program output"),
        events: parse(&events, "gosyms output"),
        stderr,
    }
}

/// `expected` is contained in `actual`: objects by key (extra keys in `actual` allowed),
/// arrays element by element, scalars equal.
pub fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        (a, e) => a == e,
    }
}

/// Completed calls from gosyms' events, per goroutine in return order: (fn, args, ret, dur).
pub fn completed(events: &[Value]) -> BTreeMap<u64, Vec<(String, Value, Value, Value)>> {
    let mut pending: BTreeMap<u64, Vec<(String, Value)>> = BTreeMap::new();
    let mut done: BTreeMap<u64, Vec<(String, Value, Value, Value)>> = BTreeMap::new();
    for e in events {
        let goid = e["goid"].as_u64().expect("every event has a goroutine id");
        let f = e["fn"].as_str().unwrap().to_string();
        match e["event"].as_str().unwrap() {
            "call" => pending
                .entry(goid)
                .or_default()
                .push((f, e["args"].clone())),
            "return" => {
                let (cf, args) = pending
                    .get_mut(&goid)
                    .and_then(Vec::pop)
                    .unwrap_or_else(|| panic!("return of {f} on g{goid} without a call"));
                assert_eq!(cf, f, "g{goid}: return of {f} pairs with a call of {cf}");
                done.entry(goid).or_default().push((
                    f,
                    args,
                    e["ret"].clone(),
                    e["dur_ns"].clone(),
                ));
            }
            other => panic!("unknown event {other}"),
        }
    }
    done
}

/// Every line the program printed has a matching completed call in gosyms' output, on the same
/// goroutine and in the same order; every return has a duration. Gives the truth lines by
/// goroutine.
pub fn check_calls<'r>(
    run: &'r Run,
    label: &str,
    only: Option<&[&str]>,
) -> BTreeMap<u64, Vec<&'r Value>> {
    let done = completed(&run.events);
    let mut truth: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for t in &run.truth {
        // Only call lines; a program may print other facts (`{"done":true}`, reflect facts).
        if t.get("fn").is_none() || t.get("args").is_none() {
            continue;
        }
        let f = t["fn"].as_str().unwrap();
        if only.is_some_and(|o| !o.contains(&f)) {
            continue;
        }
        truth
            .entry(t["goid"].as_u64().unwrap())
            .or_default()
            .push(t);
    }
    assert!(
        truth.values().map(Vec::len).sum::<usize>() > 0,
        "{label}: no truth lines"
    );
    let mut checked = 0;
    for (goid, lines) in &truth {
        let got: Vec<_> = done
            .get(goid)
            .map(|v| {
                v.iter()
                    .filter(|(f, ..)| only.is_none_or(|o| o.contains(&f.as_str())))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            got.len(),
            lines.len(),
            "{label}: g{goid}: {} calls traced, program printed {}",
            got.len(),
            lines.len()
        );
        for ((f, args, ret, dur), t) in got.iter().zip(lines) {
            assert_eq!(f, t["fn"].as_str().unwrap(), "{label}: g{goid}: order");
            assert!(
                contains(args, &t["args"]),
                "{label}: {f} args: gosyms {args}, program {}",
                t["args"]
            );
            assert!(
                contains(ret, &t["ret"]),
                "{label}: {f} results: gosyms {ret}, program {}",
                t["ret"]
            );
            assert!(
                dur.as_u64().is_some(),
                "{label}: {f}: return without a duration"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
    truth
}

//! `gosyms trace --otlp-endpoint` under real BPF, against a real OTLP/HTTP receiver started
//! here (tests/src/otlp.rs, decoding with the OpenTelemetry project's own protobuf types).
//!
//! The traced program, testdata/spans, prints its own call tree: every call of the traced
//! program must arrive as one span, with the program's own values as attributes, children
//! under their parents, and start and end times that agree with the JSON events of the same
//! run; `go version -m` is the truth for the resource. A receiver that is down, slow, answers
//! 500, or answers 503 before it recovers costs the traced program nothing measurable (its own
//! measure of its loop), and the summary accounts for every span exactly.
//!
//! Needs root (or CAP_BPF + CAP_PERFMON) and fails without.

mod common;

use common::{go_version_m, gosyms, scratch};
use gosyms_tests::otlp::{Behavior, ReceivedSpan, Receiver};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use opentelemetry_proto::tonic::common::v1::any_value::Value as A;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

const FUNCTIONS: &[&str] = &[
    "main.Node",
    "main.Leaf",
    "main.Guard",
    "main.Risky",
    "main.Block",
];

fn build() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("otlp").join("spans");
    if !out.exists() {
        let src = repo().join("testdata/spans/main.go");
        go_build_mode("1.27.3", host_goarch(), &src, &out, "", "exe");
    }
    out
}

/// Runs gosyms trace with `args` then `-- program mode...`, with `env` added.
fn trace(args: &[&str], program: &Path, mode: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(gosyms())
        .arg("trace")
        .args(args)
        .arg("--")
        .arg(program)
        .args(mode)
        .envs(env.iter().copied())
        .output()
        .expect("run gosyms trace");
    assert!(
        out.status.success(),
        "gosyms trace {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// The OTLP summary line's counts: (spans, exported, dropped, failed).
fn otlp_counts(stderr: &str) -> (u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gosyms: OTLP: "))
        .unwrap_or_else(|| panic!("no OTLP summary in {stderr}"));
    // "N spans: E exported to URL, D dropped (queue full), F failed (receiver errors)[; ...]"
    let parts: Vec<&str> = line.splitn(3, ", ").collect();
    let first = |s: &str, n: usize| -> u64 {
        s.split_whitespace()
            .nth(n)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bad OTLP summary: {line}"))
    };
    assert!(parts[0].contains(" exported to "), "{line}");
    assert!(parts[1].ends_with(" dropped (queue full)"), "{line}");
    assert!(parts[2].contains(" failed (receiver errors)"), "{line}");
    (
        first(parts[0], 0),
        first(parts[0], 2),
        first(parts[1], 0),
        first(parts[2], 0),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_call_arrives_as_a_span_under_its_parent() {
    let program = build();
    let receiver = Receiver::start(Behavior::Accept);
    let events_path = scratch("otlp").join("tree.jsonl");
    let mut args = vec![
        "-o",
        events_path.to_str().unwrap(),
        "--otlp-endpoint",
        &receiver.url,
    ];
    args.extend(FUNCTIONS);
    let out = trace(
        &args,
        &program,
        &["tree"],
        &[("OTEL_EXPORTER_OTLP_HEADERS", "x-gosyms-test=hello%20world")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let truth = json_lines(&String::from_utf8_lossy(&out.stdout));
    let events = json_lines(&std::fs::read_to_string(&events_path).unwrap());
    let spans = receiver.spans();
    assert!(
        receiver.bad_requests().is_empty(),
        "{:?}",
        receiver.bad_requests()
    );

    // One span per call, every one exported.
    let calls = events.iter().filter(|e| e["event"] == "call").count();
    let nodes: Vec<&Value> = truth.iter().filter(|t| t["fn"] == "main.Node").collect();
    assert_eq!(nodes.len(), 4 * 40, "the program's own count of Node calls");
    assert_eq!(calls, 160 + 108 + 3, "{stderr}");
    assert_eq!(spans.len(), calls, "{stderr}");
    assert_eq!(
        otlp_counts(&stderr),
        (calls as u64, calls as u64, 0, 0),
        "{stderr}"
    );
    let headers = receiver.headers();
    assert!(
        headers.contains(&("x-gosyms-test".into(), "hello world".into())),
        "{headers:?}"
    );

    // Every span: its name is its function, ids are valid and unique, it is INTERNAL.
    let by_id: HashMap<Vec<u8>, &ReceivedSpan> =
        spans.iter().map(|s| (s.span.span_id.clone(), s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    for s in &spans {
        assert_eq!(s.str("code.function.name"), Some(s.span.name.as_str()));
        assert!(FUNCTIONS.contains(&s.span.name.as_str()), "{}", s.span.name);
        assert_eq!(s.span.trace_id.len(), 16);
        assert_eq!(s.span.span_id.len(), 8);
        assert_eq!(s.span.kind, 1, "SPAN_KIND_INTERNAL");
        assert_eq!(s.scope_name, "gosyms");
        assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
    }
    let parent_of = |s: &ReceivedSpan| -> Option<&ReceivedSpan> {
        if s.span.parent_span_id.is_empty() {
            return None;
        }
        let p = by_id
            .get(&s.span.parent_span_id)
            .unwrap_or_else(|| panic!("{}: parent span was never received", s.span.name));
        assert_eq!(
            p.span.trace_id, s.span.trace_id,
            "a child is in its parent's trace"
        );
        Some(p)
    };

    // Nodes: the program's own values, and the parent it printed.
    let node_spans: HashMap<i64, &ReceivedSpan> = spans
        .iter()
        .filter(|s| s.span.name == "main.Node")
        .map(|s| (s.int("gosyms.arg.id").expect("id attribute"), s))
        .collect();
    assert_eq!(node_spans.len(), nodes.len());
    let mut roots = Vec::new();
    for t in &nodes {
        let id = t["id"].as_i64().unwrap();
        let s = node_spans[&id];
        assert_eq!(
            s.int("gosyms.arg.parent"),
            t["parent"].as_i64(),
            "Node {id}"
        );
        assert_eq!(s.int("gosyms.arg.depth"), t["depth"].as_i64(), "Node {id}");
        assert_eq!(s.str("gosyms.arg.label"), t["label"].as_str(), "Node {id}");
        assert_eq!(s.int("gosyms.ret.sum"), t["sum"].as_i64(), "Node {id}");
        assert_eq!(
            s.int("gosyms.goroutine.id"),
            t["goid"].as_i64(),
            "Node {id}"
        );
        assert!(s.int("thread.id").is_some_and(|t| t > 0));
        assert!(s.span.status.is_none(), "Node {id} returned normally");
        match (t["parent"].as_i64().unwrap(), parent_of(s)) {
            (0, None) => roots.push(hex(&s.span.trace_id)),
            (p, Some(parent)) => assert_eq!(
                parent.int("gosyms.arg.id"),
                Some(p),
                "Node {id}'s parent span"
            ),
            (p, None) => panic!("Node {id} has no parent span (the program says {p})"),
        }
    }
    roots.sort();
    roots.dedup();
    assert_eq!(roots.len(), 4, "one trace per root call");

    // Leaf(id) under Node(id); Risky under Guard, never returned; Block still running.
    for s in spans.iter().filter(|s| s.span.name == "main.Leaf") {
        let x = s.int("gosyms.arg.x").unwrap();
        assert_eq!(parent_of(s).and_then(|p| p.int("gosyms.arg.id")), Some(x));
        assert_eq!(s.int("gosyms.ret.y"), Some(2 * x + 1));
    }
    let one = |name: &str| -> &ReceivedSpan {
        let v: Vec<_> = spans.iter().filter(|s| s.span.name == name).collect();
        assert_eq!(v.len(), 1, "{name}");
        v[0]
    };
    let (guard, risky, block) = (one("main.Guard"), one("main.Risky"), one("main.Block"));
    assert_eq!(
        parent_of(risky).map(|p| &p.span.span_id),
        Some(&guard.span.span_id)
    );
    assert_eq!(risky.int("gosyms.arg.id"), Some(7));
    assert_eq!(risky.str("gosyms.incomplete"), Some("return_not_seen"));
    assert_eq!(
        risky.span.status.as_ref().map(|s| s.code),
        Some(2),
        "STATUS_CODE_ERROR"
    );
    assert_eq!(guard.attr("gosyms.ret.ok"), Some(&A::BoolValue(false)));
    assert_eq!(block.str("gosyms.incomplete"), Some("still_running"));
    assert_eq!(block.span.status.as_ref().map(|s| s.code), Some(2));
    assert!(parent_of(block).is_none());

    // Times agree with the JSON events of the same run: per goroutine, the n-th call is the
    // n-th span by start; the span's length is the return's dur_ns, and its start is the
    // call's ts_ns moved by one offset, the same for every span.
    let mut calls_by_g: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    let mut durs: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for e in &events {
        let g = e["goid"].as_i64().unwrap();
        match e["event"].as_str().unwrap() {
            "call" => calls_by_g.entry(g).or_default().push(e),
            _ => durs.entry(g).or_default().push(e),
        }
    }
    let mut spans_by_g: BTreeMap<i64, Vec<&ReceivedSpan>> = BTreeMap::new();
    for s in &spans {
        spans_by_g
            .entry(s.int("gosyms.goroutine.id").unwrap())
            .or_default()
            .push(s);
    }
    let mut offsets = Vec::new();
    let mut matched_durations = 0;
    for (g, cs) in &calls_by_g {
        let ss = spans_by_g.get_mut(g).expect("spans of every goroutine");
        ss.sort_by_key(|s| s.span.start_time_unix_nano);
        assert_eq!(cs.len(), ss.len(), "g{g}");
        for (c, s) in cs.iter().zip(ss.iter()) {
            assert_eq!(c["fn"].as_str(), Some(s.span.name.as_str()), "g{g}");
            offsets
                .push(s.span.start_time_unix_nano as i128 - c["ts_ns"].as_u64().unwrap() as i128);
        }
        // Returns in order of their end.
        let mut ended: Vec<&&ReceivedSpan> =
            ss.iter().filter(|s| s.span.status.is_none()).collect();
        ended.sort_by_key(|s| s.span.end_time_unix_nano);
        let rets: Vec<&&Value> = durs
            .get(g)
            .into_iter()
            .flatten()
            .filter(|r| !r["dur_ns"].is_null())
            .collect();
        assert_eq!(ended.len(), rets.len(), "g{g}");
        for (s, r) in ended.iter().zip(rets) {
            assert_eq!(r["fn"].as_str(), Some(s.span.name.as_str()));
            assert_eq!(
                s.span.end_time_unix_nano - s.span.start_time_unix_nano,
                r["dur_ns"].as_u64().unwrap(),
                "{} on g{g}",
                s.span.name
            );
            matched_durations += 1;
        }
    }
    assert_eq!(matched_durations, calls - 2);
    offsets.dedup();
    assert_eq!(offsets.len(), 1, "one clock offset for every span");
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    let first_call = events[0]["ts_ns"].as_u64().unwrap() as i128;
    assert!(
        (first_call + offsets[0] - now_unix).abs() < 120_000_000_000,
        "spans start within two minutes of now"
    );

    // The resource: `go version -m` and the process.
    let (path, go_version) = go_version_m(&program);
    let pid = events[0]["pid"].as_i64().unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let exe = std::fs::canonicalize(&program).unwrap();
    for s in &spans {
        let r = |k: &str| s.resource_attr(k).cloned();
        assert_eq!(r("service.name"), Some(A::StringValue(path.clone())));
        assert_eq!(
            r("process.runtime.version"),
            Some(A::StringValue(go_version.clone()))
        );
        assert_eq!(r("process.runtime.name"), Some(A::StringValue("go".into())));
        assert_eq!(r("process.pid"), Some(A::IntValue(pid)));
        assert_eq!(r("host.name"), Some(A::StringValue(hostname.trim().into())));
        assert_eq!(
            r("process.executable.path"),
            Some(A::StringValue(exe.display().to_string()))
        );
    }
}

/// `spans loop N` traced: the program's own CPU and wall ns per call, and gosyms' stderr.
fn loop_run(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    calls: u64,
) -> ((f64, f64), String) {
    let mut all = vec!["-o", "/dev/null", "main.Leaf"];
    all.extend(args);
    let out = trace(&all, program, &["loop", &calls.to_string()], env);
    let truth = json_lines(&String::from_utf8_lossy(&out.stdout));
    let cpu = truth[0]["cpu_ns_per_call"].as_f64().unwrap();
    let wall = truth[0]["ns_per_call"].as_f64().unwrap();
    (
        (cpu, wall),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn a_failing_receiver_costs_the_program_nothing_and_every_span_is_counted() {
    const CALLS: u64 = 10_000;
    let program = build();
    // A port nothing listens on: bind one, then close it.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let slow_env = [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ];
    let big_queue = [("OTEL_BSP_MAX_QUEUE_SIZE", "100000")];
    // Retrying a receiver that is down ends 1 s after tracing stops.
    let short = [("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")];
    let configs = ["plain", "healthy", "down", "500", "slow", "503 then ok"];
    let mut cpu: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut wall: HashMap<&str, Vec<f64>> = HashMap::new();
    for round in 0..3 {
        for &config in &configs {
            let receiver = match config {
                "healthy" => Some(Receiver::start(Behavior::Accept)),
                "500" => Some(Receiver::start(Behavior::Fail(500))),
                "slow" => Some(Receiver::start(Behavior::Slow(Duration::from_millis(300)))),
                "503 then ok" => Some(Receiver::start(Behavior::FailFirst(2, 503))),
                _ => None,
            };
            let url = receiver.as_ref().map_or(down.clone(), |r| r.url.clone());
            let (args, env): (Vec<&str>, &[(&str, &str)]) = match config {
                "plain" => (vec![], &[]),
                "slow" => (vec!["--otlp-endpoint", &url], &slow_env),
                "503 then ok" => (vec!["--otlp-endpoint", &url], &big_queue),
                "down" => (vec!["--otlp-endpoint", &url], &short),
                _ => (vec!["--otlp-endpoint", &url], &[]),
            };
            let ((c, w), stderr) = loop_run(&program, &args, env, CALLS);
            cpu.entry(config).or_default().push(c);
            wall.entry(config).or_default().push(w);
            if config == "plain" {
                continue;
            }
            let (spans, exported, dropped, failed) = otlp_counts(&stderr);
            let received = receiver.as_ref().map_or(0, |r| r.span_count() as u64);
            let what = format!("{config}, round {round}: {stderr}");
            assert_eq!(spans, CALLS, "{what}");
            assert_eq!(exported + dropped + failed, spans, "{what}");
            if received != exported {
                let spans = receiver.as_ref().map(Receiver::spans).unwrap_or_default();
                let mut ids: Vec<_> = spans.iter().map(|s| s.span.span_id.clone()).collect();
                ids.sort();
                ids.dedup();
                let foreign: Vec<_> = spans
                    .iter()
                    .filter(|s| s.span.name != "main.Leaf")
                    .map(|s| &s.span.name)
                    .collect();
                panic!(
                    "the receiver got {received} spans ({} distinct ids, from {} requests; \
                     not main.Leaf: {foreign:?}), gosyms counts {exported} exported: {what}",
                    ids.len(),
                    receiver.as_ref().map_or(0, Receiver::requests)
                );
            }
            match config {
                "healthy" => assert_eq!(exported, CALLS, "{what}"),
                "down" => {
                    assert_eq!(exported, 0, "{what}");
                    assert!(stderr.contains("Connection refused"), "{what}");
                }
                "500" => {
                    assert_eq!(exported, 0, "{what}");
                    assert!(failed > 0, "{what}");
                    assert!(stderr.contains("HTTP 500: receiver says 500"), "{what}");
                }
                "slow" => assert!(dropped > 0 && exported > 0, "{what}"),
                "503 then ok" => {
                    assert_eq!(exported, CALLS, "retried until accepted: {what}");
                    assert!(receiver.as_ref().unwrap().requests() >= 3, "{what}");
                }
                _ => unreachable!(),
            }
        }
    }
    // The program's own CPU time per call (user + system: the uprobes' traps and BPF runs are
    // charged to it) is what tracing costs it, and other load on the machine hardly moves it;
    // its wall time also waits for the CPU, which every other process shares, so it is shown
    // but not judged. Sending spans, to any receiver, must not add to the CPU time.
    let report: Vec<String> = configs
        .iter()
        .map(|c| {
            format!(
                "{c}: {:.0} ns CPU, {:.0} ns wall",
                median(cpu[c].clone()),
                median(wall[c].clone())
            )
        })
        .collect();
    eprintln!(
        "the program's own cost per traced call: {}",
        report.join("; ")
    );
    let plain = median(cpu["plain"].clone());
    for c in &configs[1..] {
        let m = median(cpu[c].clone());
        assert!(
            m < plain * 1.25,
            "{c}: a traced call costs the program {m:.0} ns of CPU, {plain:.0} ns without OTLP ({report:?})"
        );
    }
}

#[test]
fn bad_otlp_settings_are_refused_before_tracing() {
    let program = build();
    for (args, env, message) in [
        (
            vec!["--otlp-endpoint", "localhost:4318"],
            vec![],
            "--otlp-endpoint: \"localhost:4318\" is not an http:// or https:// URL",
        ),
        (
            vec!["--otlp"],
            vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: gosyms sends OTLP/HTTP protobuf only (http/protobuf)",
        ),
        (
            vec!["--otlp-endpoint", "https://127.0.0.1:1"],
            vec![],
            "--otlp-endpoint: \"https://127.0.0.1:1\" needs TLS: build gosyms with `--features tls`",
        ),
        (
            vec!["--otlp", "--otlp-header", "novalue"],
            vec![],
            "--otlp-header: \"novalue\" is not NAME=VALUE",
        ),
    ] {
        let out = Command::new(gosyms())
            .arg("trace")
            .args(&args)
            .arg("main.Leaf")
            .arg("--")
            .arg(&program)
            .args(["loop", "1"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim(), format!("gosyms: {message}"), "{args:?}");
        assert!(out.stdout.is_empty(), "the command never ran");
    }
}

//! `gosyms trace` as a live tool, under real BPF: events arrive through a pipe (and in a file)
//! while the traced program still runs, blocked on the test; the command's own stdout stays
//! out of the event stream (`-- CMD | jq`); SIGINT and SIGTERM stop tracing, reach the command,
//! and a second one ends gosyms at once; a function that is a single RET pairs its call and
//! return; `runtime.*` on a running program leaves it unharmed.
//!
//! The traced programs are testdata/live and testdata/stress. Needs root (or CAP_BPF +
//! CAP_PERFMON) and fails without.

mod common;

use common::{gosyms, lines_of, scratch};
use gosyms_tests::{go, go_build_mode, host_goarch, repo};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn build(name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("live").join(name);
    if !out.exists() {
        let src = repo().join(format!("testdata/{name}/main.go"));
        go_build_mode("1.27.3", host_goarch(), &src, &out, "", "exe");
    }
    out
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of the events' `ts_ns`.
fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: a valid timespec (two longs on x86-64 Linux); CLOCK_MONOTONIC is 1.
    assert_eq!(unsafe { clock_gettime(1, &mut ts) }, 0);
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

fn next_line(rx: &Receiver<String>, what: &str, all: &Mutex<String>) -> String {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no {what} within 30 s; so far: {}", all.lock().unwrap()))
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// gosyms tracing `live MODE`, events on its stdout.
fn trace_live(mode: &str, funcs: &[&str], stdin: Stdio) -> Child {
    Command::new(gosyms())
        .arg("trace")
        .args(funcs)
        .arg("--")
        .arg(build("live"))
        .arg(mode)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// gosyms `trace ARGS -- live MODE` with stdin closed, to the end.
fn run_live(args: &[&str], mode: &str) -> std::process::Output {
    Command::new(gosyms())
        .arg("trace")
        .args(args)
        .arg("--")
        .arg(build("live"))
        .arg(mode)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn event(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event: {line:?}: {e}"))
}

#[test]
fn events_arrive_through_a_pipe_while_the_program_runs() {
    let mut t = trace_live("stdin", &["main.Tick"], Stdio::piped());
    let (events, all_events) = lines_of(t.stdout.take().unwrap());
    let (_, stderr) = lines_of(t.stderr.take().unwrap());
    let mut stdin = t.stdin.take().unwrap();
    let mut latencies = Vec::new();
    for i in 0..=10u64 {
        if i > 0 {
            // The program is blocked reading this line: every event so far arrived while it
            // was still running.
            stdin.write_all(b"next\n").unwrap();
            stdin.flush().unwrap();
        }
        let call = event(&next_line(&events, "call event", &all_events));
        let ret = event(&next_line(&events, "return event", &all_events));
        let now = monotonic_ns();
        assert_eq!(call["event"], "call");
        assert_eq!(call["args"]["i"], i);
        assert_eq!(ret["event"], "return");
        assert_eq!(ret["ret"]["~r0"], 2 * i);
        latencies.push(now - ret["ts_ns"].as_u64().unwrap());
    }
    drop(stdin);
    let status = t.wait().unwrap();
    assert!(status.success(), "{}", stderr.lock().unwrap());
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "event latency through a pipe: median {median} ns, max {} ns",
        latencies.last().unwrap()
    );
    assert!(
        median < 100_000_000,
        "median latency {median} ns: {latencies:?}"
    );
    assert!(*latencies.last().unwrap() < 1_000_000_000, "{latencies:?}");
    // The program's own stdout went to gosyms' stderr, not into the events.
    wait_for("the summary", Duration::from_secs(5), || {
        stderr.lock().unwrap().contains(" written, ")
    });
    let err = stderr.lock().unwrap().clone();
    assert!(err.contains("tick 10\ndone\n"), "{err}");
    assert!(all_events
        .lock()
        .unwrap()
        .lines()
        .all(|l| l.starts_with("{\"event\":")));
}

#[test]
fn events_arrive_in_a_file_while_the_program_runs() {
    let file = scratch("live").join("live-file.jsonl");
    let mut t = Command::new(gosyms())
        .args(["trace", "main.Tick", "-o"])
        .arg(&file)
        .arg("--")
        .arg(build("live"))
        .arg("stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = t.stdin.take().unwrap();
    for i in 0..3 {
        if i > 0 {
            stdin.write_all(b"next\n").unwrap();
        }
        wait_for("the events in the file", Duration::from_secs(10), || {
            std::fs::read_to_string(&file).is_ok_and(|s| s.lines().count() == 2 * (i + 1))
        });
    }
    drop(stdin);
    let out = t.wait_with_output().unwrap();
    assert!(out.status.success());
    // With -o FILE, the program's stdout is its own.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tick 0\ntick 1\ntick 2\ndone\n"
    );
}

#[test]
fn the_commands_stdout_stays_out_of_the_events_piped_to_jq() {
    let script = format!(
        "{} trace main.Tick -- {} stdin </dev/null | jq -c '{{event, fn}}'",
        gosyms().display(),
        build("live").display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "jq failed: {stderr}");
    assert_eq!(
        stdout,
        "{\"event\":\"call\",\"fn\":\"main.Tick\"}\n{\"event\":\"return\",\"fn\":\"main.Tick\"}\n"
    );
    assert!(stderr.contains("tick 0\ndone\n"), "{stderr}");
}

/// The pid of the traced program, from its first event.
fn first_event_pid(events: &Receiver<String>, all: &Mutex<String>) -> i32 {
    event(&next_line(events, "first event", all))["pid"]
        .as_i64()
        .unwrap() as i32
}

#[test]
fn a_signal_stops_tracing_and_reaches_the_command() {
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM")] {
        let mut t = trace_live("signal", &["main.Tick"], Stdio::null());
        let (events, all) = lines_of(t.stdout.take().unwrap());
        let (_, stderr) = lines_of(t.stderr.take().unwrap());
        first_event_pid(&events, &all);
        let sent = Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { kill(t.id() as i32, sig) };
        let status = t.wait().unwrap();
        let took = sent.elapsed();
        wait_for("the command's line", Duration::from_secs(5), || {
            stderr.lock().unwrap().contains(&format!("got {name}"))
        });
        let err = stderr.lock().unwrap().clone();
        // The command printed that it got the signal, and gosyms exits with its status.
        assert_eq!(status.code(), Some(3), "{name}: {err}");
        assert!(err.contains(&format!("stopped ({name})")), "{err}");
        assert!(
            took < Duration::from_secs(5),
            "{name}: gosyms took {took:?}"
        );
    }
}

#[test]
fn a_second_signal_ends_gosyms_at_once() {
    let mut t = trace_live("stay", &["main.Tick"], Stdio::null());
    let (events, all) = lines_of(t.stdout.take().unwrap());
    let (_, stderr) = lines_of(t.stderr.take().unwrap());
    let child = first_event_pid(&events, &all);
    // SAFETY: kill(2) on our own child.
    unsafe { kill(t.id() as i32, 2) };
    wait_for("the command to get SIGINT", Duration::from_secs(10), || {
        stderr.lock().unwrap().contains("got SIGINT")
    });
    // The command stays; so does gosyms, waiting for it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        t.try_wait().unwrap().is_none(),
        "gosyms ended after one signal"
    );
    let sent = Instant::now();
    // SAFETY: as above.
    unsafe { kill(t.id() as i32, 15) };
    let status = t.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(128 + 15));
    wait_for(
        "the command to get SIGTERM",
        Duration::from_secs(10),
        || stderr.lock().unwrap().contains("got SIGTERM"),
    );
    // SAFETY: the traced program (gosyms' child, now orphaned) must not outlive the test.
    unsafe { kill(child, 9) };
}

/// The instructions of `function` in `binary`, as `go tool objdump` shows them.
fn objdump(binary: &std::path::Path, function: &str) -> Vec<String> {
    let out = go("1.27.3")
        .args(["tool", "objdump", "-s"])
        .arg(format!("^{}$", regex_escape(function)))
        .arg(binary)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("TEXT"))
        // "  FILE:LINE\t\tADDR\t\tBYTES\t\t\tINSTRUCTION"
        .map(|l| {
            let mut fields = l.split('\t').map(str::trim).filter(|f| !f.is_empty());
            fields.nth(3).unwrap_or("").to_string()
        })
        .collect()
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn a_function_that_is_one_ret_pairs_its_call_and_return() {
    let bin = build("live");
    let funcs = [
        "main.Nothing",
        "main.Identity",
        "main.Empty.Method",
        "time.Duration.Nanoseconds",
    ];
    for f in funcs {
        assert_eq!(objdump(&bin, f), ["RET"], "{f} is not a single RET");
    }
    let file = scratch("live").join("single.jsonl");
    let out = Command::new(gosyms())
        .args(["trace", "-o"])
        .arg(&file)
        .args(funcs)
        .arg("--")
        .arg(&bin)
        .arg("single")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let truth: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!err.contains("without a seen"), "{err}");
    // Per thread, each call is followed by its return, with a duration and the argument
    // given back as the result for Identity and Nanoseconds.
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<Value> = text.lines().map(event).collect();
    let mut pending: std::collections::HashMap<u64, Value> = Default::default();
    let mut calls: std::collections::HashMap<String, u64> = Default::default();
    for e in &events {
        let tid = e["tid"].as_u64().unwrap();
        match e["event"].as_str().unwrap() {
            "call" => {
                assert!(
                    pending.insert(tid, e.clone()).is_none(),
                    "two calls in a row: {e}"
                );
            }
            _ => {
                let call = pending
                    .remove(&tid)
                    .unwrap_or_else(|| panic!("return first: {e}"));
                assert_eq!(call["fn"], e["fn"]);
                assert!(e["dur_ns"].as_u64().is_some(), "{e}");
                assert!(e["ts_ns"].as_u64() >= call["ts_ns"].as_u64());
                if e["fn"] == "main.Identity" || e["fn"] == "time.Duration.Nanoseconds" {
                    let arg = call["args"].as_object().unwrap().values().next().unwrap();
                    assert_eq!(&e["ret"]["~r0"], arg, "{call} {e}");
                }
                *calls
                    .entry(e["fn"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    assert!(pending.is_empty());
    for f in funcs {
        assert_eq!(calls.get(f).copied(), truth[f].as_u64(), "{f}");
    }
}

#[test]
fn tracing_runtime_star_leaves_a_running_program_unharmed() {
    let stress = build("stress");
    let untraced = Command::new(&stress).arg("2000").output().unwrap();
    assert!(untraced.status.success());
    let target = Command::new(&stress)
        .arg("2000")
        .env("STRESS_WAIT_MS", "3000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new(gosyms())
        .args(["trace", "-o", "/dev/null", "--duration", "1s", "--pid"])
        .arg(target.id().to_string())
        .arg("runtime.*")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // runtime.abort is INT $3: skipped with one note naming it; the rest attach.
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("runtime.abort"))
        .collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("not traced"), "{err}");
    assert!(err.contains("stopped (--duration reached)"), "{err}");
    assert_eq!(
        common::program_output(target),
        String::from_utf8(untraced.stdout).unwrap()
    );
}

#[test]
fn the_output_is_checked_before_the_command_starts() {
    let out = run_live(
        &["-o", "/nonexistent/dir/events.json", "main.Tick"],
        "stdin",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/dir/events.json: No such file or directory"),
        "{err}"
    );
    // The command never ran: it would have printed "tick 0".
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn json_flag_dash_output_go_durations_plurals_and_single_notes() {
    // --json is --format json, -o - is stdout, --duration takes Go's syntax.
    let out = run_live(
        &[
            "--json",
            "-o",
            "-",
            "--duration",
            "1h30m",
            "main.Tick",
            "runtime.panicwrap",
        ],
        "stdin",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(event)
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        !std::path::Path::new("-").exists(),
        "-o - created a file named -"
    );
    // runtime.panicwrap has no return instruction: said once, in one note.
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("runtime.panicwrap"))
        .collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(err.contains("tracing 2 functions with 3 uprobes"), "{err}");
    assert!(err.contains("detached 3 uprobes"), "{err}");
    assert!(
        err.contains("stopped (the command exited): 2 events written, 0 dropped"),
        "{err}"
    );
    // One function: singular.
    let out = run_live(&["--no-returns", "-o", "/dev/null", "main.Tick"], "stdin");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tracing 1 function with 1 uprobe "), "{err}");
    assert!(err.contains("detached 1 uprobe "), "{err}");
    assert!(
        err.contains("stopped (the command exited): 1 event written,"),
        "{err}"
    );
}

#[test]
fn stdout_and_stderr_on_one_closed_pipe_end_quietly() {
    // `gosyms trace ... -- CMD 2>&1 | head`: events, notes and the summary share one pipe,
    // which closes early. gosyms must stop writing, not panic (exit 101), and exit as the
    // command does: 0, or 141 when the command's own output (on gosyms' stderr, the same
    // closed pipe) killed it with SIGPIPE, as in a shell pipeline.
    use std::io::Read;
    let bin = gosyms_tests::matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = Command::new(gosyms())
        .args(["trace", "--format", "json", "main.*", "--"])
        .arg(&bin)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    reader.read_exact(&mut first).unwrap();
    drop(reader);
    let status = child.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 141)), "{status:?}");
}

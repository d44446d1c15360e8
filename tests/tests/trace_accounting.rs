//! Every probe hit is accounted for, however tracing stops: events written, plus events
//! dropped because the ring buffer was full, plus events captured but not written (after
//! `--max-events`), equal the number of times the kernel ran gosyms' BPF program, read from
//! the kernel by the test itself (`run_cnt`, with BPF run statistics on), in every stop mode:
//! the command exiting, SIGINT and SIGTERM (to gosyms, with `--pid` and with `-- CMD`),
//! `--duration`, `--max-events`, the traced process killed, and a ring buffer too small.
//!
//! Needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN for the statistics); fails without.

mod common;

use common::{gosyms, scratch};
use gosyms_tests::bpf::{hold_program, run_count, RunStats};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One mode at a time: each runs 1,000 goroutines flat out on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn stress() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("accounting").join("stress");
    if !out.exists() {
        let src = repo().join("testdata/stress/main.go");
        go_build_mode("1.27.3", host_goarch(), &src, &out, "", "exe");
    }
    out
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// A running gosyms, its stderr line by line, and a reference to its BPF program.
struct Tracing {
    gosyms: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    events: PathBuf,
    prog: Option<OwnedFd>,
}

impl Tracing {
    fn start(label: &str, args: &[&str], env: &[(&str, &str)]) -> Tracing {
        let events = scratch("accounting").join(format!("{label}.jsonl"));
        let mut cmd = Command::new(gosyms());
        cmd.args(["trace", "-o"])
            .arg(&events)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut gosyms = cmd.spawn().unwrap();
        let stderr = gosyms.stderr.take().unwrap();
        let (tx, lines) = channel();
        let all = Arc::new(Mutex::new(String::new()));
        let all2 = all.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all2.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut t = Tracing {
            gosyms,
            lines,
            stderr: all,
            events,
            prog: None,
        };
        t.wait_for_line("tracing ");
        t.prog = hold_program(t.gosyms.id(), "gosyms_probe");
        assert!(t.prog.is_some(), "{label}: no gosyms_probe program found");
        t
    }

    fn wait_for_line(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with {what:?} from gosyms: {}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Waits until events are being written (the program is at work).
    fn wait_for_events(&self) {
        let start = Instant::now();
        while std::fs::metadata(&self.events).map_or(0, |m| m.len()) == 0 {
            assert!(start.elapsed() < Duration::from_secs(60), "no events");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { kill(self.gosyms.id() as i32, sig) };
    }

    /// Waits for gosyms to end and checks the accounting against the kernel's run count.
    fn finish(mut self, label: &str, reason: &str) -> Summary {
        let status = self.gosyms.wait().unwrap();
        // The reader thread ends with the pipe.
        let start = Instant::now();
        while !self.stderr.lock().unwrap().contains("gosyms: stopped (") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{label}: no summary"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        let hits = run_count(self.prog.as_ref().unwrap());
        let s = Summary::parse(&err);
        let lines = std::fs::read_to_string(&self.events)
            .unwrap()
            .lines()
            .count() as u64;
        assert!(
            err.contains(&format!("stopped ({reason})")),
            "{label}: {status:?} {err}"
        );
        // With --stats the file holds the statistics, not events.
        if s.kernel("probe hits counted in --stats") == 0 {
            assert_eq!(
                lines, s.written,
                "{label}: lines in the file vs summary: {err}"
            );
        }
        assert!(hits > 0, "{label}: the program never ran");
        assert_eq!(
            s.written + s.dropped + s.not_written + s.counted(),
            hits,
            "{label}: written {} + dropped {} + not written {} + counted in the kernel {} != {hits} probe hits: {err}",
            s.written,
            s.dropped,
            s.not_written,
            s.counted()
        );
        eprintln!(
            "{label}: {hits} hits = {} written + {} dropped + {} not written + {} counted in the kernel ({:?})",
            s.written, s.dropped, s.not_written, s.counted(), s.kernel
        );
        // Up to 140 MB of events each: checked, they are not kept.
        let _ = std::fs::remove_file(&self.events);
        s
    }
}

/// The counts in gosyms' summary line.
struct Summary {
    written: u64,
    dropped: u64,
    not_written: u64,
    /// What the kernel counted instead of sending: filtered out, not followed, never
    /// returned, still running, added up in --stats; by what.
    kernel: Vec<(String, u64)>,
}

impl Summary {
    fn counted(&self) -> u64 {
        self.kernel.iter().map(|k| k.1).sum()
    }

    fn kernel(&self, what: &str) -> u64 {
        self.kernel
            .iter()
            .filter(|k| k.0.starts_with(what))
            .map(|k| k.1)
            .sum()
    }
}

/// What the kernel counts, as the summary names them (singular and plural).
const KERNEL_COUNTS: &[&str] = &[
    "call filtered out",
    "calls filtered out",
    "return filtered out",
    "returns filtered out",
    "call not followed",
    "calls not followed",
    "kept call never returned",
    "kept calls never returned",
    "kept call still running",
    "kept calls still running",
    "probe hit counted in --stats",
    "probe hits counted in --stats",
];

impl Summary {
    fn parse(stderr: &str) -> Summary {
        let line = stderr
            .lines()
            .find(|l| l.contains("gosyms: stopped ("))
            .unwrap_or_else(|| panic!("no summary in {stderr}"));
        let (_, counts) = line.split_once("): ").unwrap();
        let mut s = Summary {
            written: 0,
            dropped: 0,
            not_written: 0,
            kernel: Vec::new(),
        };
        for part in counts.split(", ") {
            let (n, what) = part.split_once(' ').unwrap();
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("{line}"));
            if what.starts_with("event") {
                s.written = n;
            } else if what.starts_with("dropped") {
                s.dropped = n;
            } else if what.starts_with("not written") || what.starts_with("undecodable") {
                s.not_written += n;
            } else if let Some(k) = KERNEL_COUNTS.iter().find(|k| what.starts_with(**k)) {
                s.kernel.push((k.to_string(), n));
            } else {
                panic!("unknown count {part:?} in {line}");
            }
        }
        s
    }
}

/// Starts stress, waiting `wait_ms` before it works, with `calls` per goroutine.
/// Starts the stress program on its own, to be traced with `--pid`. It waits `wait_ms` before
/// working, and at least PID_WAIT_MS: it must not be done before gosyms has loaded (the
/// verifier takes up to a second or two on a busy machine) and attached.
fn start_stress(calls: u32, wait_ms: u32) -> Child {
    const PID_WAIT_MS: u32 = 2500;
    let wait_ms = wait_ms.max(PID_WAIT_MS);
    Command::new(stress())
        .arg(calls.to_string())
        .env("STRESS_WAIT_MS", wait_ms.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

const FUNCS: [&str; 2] = ["main.Step", "main.Grow"];

fn with_pid<'a>(pid: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--pid", pid];
    v.extend(extra);
    v.extend(FUNCS);
    v
}

fn command<'a>(extra: &[&'a str], stress: &'a Path, calls: &'a str) -> Vec<&'a str> {
    let mut v: Vec<&str> = extra.to_vec();
    v.extend(FUNCS);
    v.extend(["--", stress.to_str().unwrap(), calls]);
    v
}

#[test]
fn every_hit_is_written_dropped_or_counted_however_tracing_stops() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _stats = RunStats::enable();
    let bin = stress();

    // The command exits by itself.
    let t = Tracing::start(
        "exit",
        &command(&[], &bin, "300"),
        &[("STRESS_WAIT_MS", "500")],
    );
    t.finish("command exits", "the command exited");

    // SIGINT and SIGTERM to gosyms, tracing a running process.
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM")] {
        let mut target = start_stress(3000, 1000);
        let pid = target.id().to_string();
        let t = Tracing::start(name, &with_pid(&pid, &[]), &[]);
        t.wait_for_events();
        std::thread::sleep(Duration::from_millis(300));
        t.signal(sig);
        t.finish(name, name);
        assert!(target.wait().unwrap().success());
    }

    // SIGINT to gosyms running the command: passed on, the command dies of it.
    let t = Tracing::start(
        "command-sigint",
        &command(&[], &bin, "3000"),
        &[("STRESS_WAIT_MS", "500")],
    );
    t.wait_for_events();
    std::thread::sleep(Duration::from_millis(300));
    t.signal(2);
    t.finish("command, SIGINT", "SIGINT");

    // --duration: longer than the program waits before its first call (PID_WAIT_MS), so that
    // tracing stops while it runs, however fast gosyms attached.
    let mut target = start_stress(3000, 500);
    let pid = target.id().to_string();
    let t = Tracing::start("duration", &with_pid(&pid, &["--duration", "4s"]), &[]);
    t.finish("--duration", "--duration reached");
    assert!(target.wait().unwrap().success());

    // --max-events: the events captured after the limit are counted, not lost.
    let mut target = start_stress(2000, 500);
    let pid = target.id().to_string();
    let t = Tracing::start(
        "max-events",
        &with_pid(&pid, &["--max-events", "100000"]),
        &[],
    );
    let s = t.finish("--max-events", "--max-events reached");
    assert_eq!(s.written, 100_000);
    assert!(s.not_written > 0, "nothing counted past --max-events");
    assert!(target.wait().unwrap().success());

    // The traced process is killed.
    let mut target = start_stress(3000, 500);
    let pid = target.id().to_string();
    let t = Tracing::start("killed", &with_pid(&pid, &[]), &[]);
    t.wait_for_events();
    std::thread::sleep(Duration::from_millis(300));
    target.kill().unwrap();
    target.wait().unwrap();
    t.finish("target killed", "the process exited");

    // Filters in the kernel: a condition on an argument, decided at each call's entry; the
    // calls it leaves out, and their returns, are counted, and they are the program's own
    // count of such calls (1,000 goroutines, each with i = 0 to 1500 of 2000).
    let t = Tracing::start(
        "where",
        &command(&["--where", "i > 1500"], &bin, "2000"),
        &[("STRESS_WAIT_MS", "500")],
    );
    let s = t.finish("--where", "the command exited");
    if s.dropped == 0 {
        assert_eq!(s.kernel("calls filtered out"), 1000 * 1501);
        assert_eq!(s.kernel("returns filtered out"), 1000 * 1501);
        assert_eq!(s.written, 2 * 1000 * 499);
    }

    // Calls kept until their return (--min-duration, and a condition on results), stopped by
    // SIGINT while many are in flight: kept calls still running are counted too.
    for (label, extra) in [
        ("min-duration", &["--min-duration", "200us"][..]),
        ("where-results", &["--where", "err != nil"][..]),
    ] {
        let mut target = start_stress(3000, 500);
        let pid = target.id().to_string();
        let t = Tracing::start(label, &with_pid(&pid, extra), &[]);
        t.wait_for_events();
        std::thread::sleep(Duration::from_millis(300));
        t.signal(2);
        t.finish(label, "SIGINT");
        assert!(target.wait().unwrap().success());
    }

    // --stats: no events; every hit is added up or counted.
    let mut target = start_stress(2000, 500);
    let pid = target.id().to_string();
    let t = Tracing::start("stats", &with_pid(&pid, &["--stats"]), &[]);
    let s = t.finish("--stats", "the process exited");
    assert_eq!(s.written, 0);
    assert!(s.kernel("probe hits counted in --stats") > 0);
    assert!(target.wait().unwrap().success());

    // A ring buffer too small for the rate, stopped by SIGINT: written + dropped = hits.
    let mut target = start_stress(3000, 500);
    let pid = target.id().to_string();
    let t = Tracing::start("small-ring", &with_pid(&pid, &["--buffer-mib", "1"]), &[]);
    t.wait_for_events();
    std::thread::sleep(Duration::from_millis(1500));
    t.signal(2);
    let s = t.finish("small ring buffer", "SIGINT");
    eprintln!("small ring buffer: {} dropped", s.dropped);
    assert!(target.wait().unwrap().success());
}

//! The traced program must never be harmed: tracer safety under real BPF.
//!
//! testdata/stress runs 1,000 goroutines that allocate on every call and grow their stacks; its
//! output does not depend on scheduling, so a traced run must print what an untraced run
//! prints. While a uprobe is attached the kernel has replaced the probed instruction with a
//! breakpoint in the process's memory (`int3` on x86-64, `BRK #5` on arm64); these tests read
//! it through /proc/PID/mem to see probes come and, after the tracer stops or dies, go.

mod common;

use common::{gosyms, scratch};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn stress() -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("safety").join("stress");
    if !out.exists() {
        let src = repo().join("testdata/stress/main.go");
        go_build_mode("1.27.3", host_goarch(), &src, &out, "", "exe");
    }
    out
}

/// The link-time address and the file offset of `function`'s entry probe.
fn entry_probe(binary: &Path, function: &str) -> (u64, u64) {
    let out = Command::new(gosyms())
        .args(["resolve", "--json"])
        .arg(binary)
        .arg(function)
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        plan["entry_probe"]["vaddr"].as_u64().unwrap(),
        plan["entry_probe"]["file_offset"].as_u64().unwrap(),
    )
}

/// The instruction bytes a uprobe writes over the probed instruction: `int3` on x86-64;
/// `BRK #5` on arm64 (`UPROBE_SWBP_INSN`: `AARCH64_BREAK_MON` 0xd4200000 with
/// `UPROBES_BRK_IMM` 5 in bits 5-20, arch/arm64/include/asm/{uprobes,debug-monitors,brk-imm}.h).
const BREAKPOINT: &[u8] = if cfg!(target_arch = "aarch64") {
    &[0xa0, 0x00, 0x20, 0xd4]
} else {
    &[0xcc]
};

/// The instruction bytes (as many as [`BREAKPOINT`] has) at `addr` in the memory of `pid`.
fn mem_insn(pid: u32, addr: u64) -> Vec<u8> {
    let mut f = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    f.seek(SeekFrom::Start(addr)).unwrap();
    let mut b = vec![0u8; BREAKPOINT.len()];
    f.read_exact(&mut b).unwrap();
    b
}

/// The same bytes at `file_offset` in the file `binary`.
fn file_insn(binary: &Path, file_offset: u64) -> Vec<u8> {
    let at = file_offset as usize;
    std::fs::read(binary).unwrap()[at..at + BREAKPOINT.len()].to_vec()
}

/// How many times slower than a native run this machine runs the tests: 1, or what
/// `GOSYMS_TEST_SLOWDOWN` says (testdata/arm64-vm.sh sets it in its emulated machine, where
/// loading the program alone takes seconds). The delays and timeouts below stretch by it.
fn slowdown() -> u32 {
    std::env::var("GOSYMS_TEST_SLOWDOWN")
        .ok()
        .map(|v| v.parse().expect("GOSYMS_TEST_SLOWDOWN is a whole number"))
        .unwrap_or(1)
}

/// Sleeps `ms` milliseconds, stretched by [`slowdown`].
fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms) * slowdown());
}

/// Waits until `ok`, for at most `timeout` stretched by [`slowdown`].
fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let timeout = timeout * slowdown();
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts stress with `calls` per goroutine, waiting `wait_ms` (stretched by [`slowdown`])
/// before it starts working.
fn start_stress(calls: u32, wait_ms: u32) -> Child {
    Command::new(stress())
        .arg(calls.to_string())
        .env("STRESS_WAIT_MS", (wait_ms * slowdown()).to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn untraced_output(calls: u32) -> String {
    let out = Command::new(stress())
        .arg(calls.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn tracer(args: &[&str]) -> Child {
    Command::new(gosyms())
        .arg("trace")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number in "N events written" of gosyms' summary, and in "M dropped".
fn summary_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" events written, "))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    let num_before = |word: &str| -> u64 {
        let i = line.find(word).unwrap();
        line[..i]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (num_before(" events"), num_before(" dropped"))
}

#[test]
fn sigkill_of_the_tracer_leaves_the_program_unharmed() {
    let bin = stress();
    let (vaddr, file_offset) = entry_probe(&bin, "main.Grow");
    let original = file_insn(&bin, file_offset);
    assert_ne!(original, BREAKPOINT);
    let calls = 3000;
    let expected = untraced_output(calls);
    let target = start_stress(calls, 1500);
    let pid = target.id();
    let mut t = tracer(&["--pid", &pid.to_string(), "-o", "/dev/null", "main.Grow"]);
    wait_for("the probe to be attached", Duration::from_secs(20), || {
        mem_insn(pid, vaddr) == BREAKPOINT
    });
    pause(300);
    t.kill().unwrap(); // SIGKILL
    t.wait().unwrap();
    wait_for("the probe to go", Duration::from_secs(10), || {
        mem_insn(pid, vaddr) == original
    });
    assert_eq!(common::program_output(target), expected);
}

#[test]
fn sigint_detaches_cleanly() {
    let bin = stress();
    let (vaddr, file_offset) = entry_probe(&bin, "main.Grow");
    let original = file_insn(&bin, file_offset);
    let calls = 3000;
    let expected = untraced_output(calls);
    let target = start_stress(calls, 1500);
    let pid = target.id();
    let t = tracer(&["--pid", &pid.to_string(), "-o", "/dev/null", "main.Grow"]);
    wait_for("the probe to be attached", Duration::from_secs(20), || {
        mem_insn(pid, vaddr) == BREAKPOINT
    });
    pause(300);
    // SAFETY: kill(2) on our own child.
    unsafe { libc_kill(t.id() as i32, 2) };
    let (status, err) = stderr_of(t);
    assert!(status.success(), "{err}");
    assert!(err.contains("stopped (SIGINT)"), "{err}");
    assert_eq!(mem_insn(pid, vaddr), original, "probe still in place");
    assert_eq!(common::program_output(target), expected);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn two_tracers_on_one_process_and_the_target_exiting_under_them() {
    // One tracer by pid, one by binary path (every process running it): both see every call,
    // and both stop by themselves when the program exits.
    let bin = stress();
    let (vaddr, _) = entry_probe(&bin, "main.Grow");
    let calls = 1000;
    let expected = untraced_output(calls);
    let grow_calls = serde_json::from_str::<Value>(&expected).unwrap()["grow_calls"]
        .as_u64()
        .unwrap();
    let target = start_stress(calls, 3000);
    let pid = target.id();
    let dir = scratch("safety");
    let a_out = dir.join("two-a.jsonl");
    let b_out = dir.join("two-b.jsonl");
    let a = tracer(&[
        "--pid",
        &pid.to_string(),
        "-o",
        a_out.to_str().unwrap(),
        "main.Grow",
    ]);
    let b = tracer(&[
        bin.to_str().unwrap(),
        "main.Grow",
        "-o",
        b_out.to_str().unwrap(),
        "--duration",
        &format!("{}s", 60 * slowdown()),
    ]);
    wait_for("the probes to be attached", Duration::from_secs(20), || {
        mem_insn(pid, vaddr) == BREAKPOINT
    });
    let out = common::program_output(target);
    assert_eq!(out, expected);
    let (status, err) = stderr_of(a);
    assert!(status.success(), "{err}");
    assert!(err.contains("the process exited"), "{err}");
    // The binary-path tracer keeps waiting for other processes: stop it.
    unsafe { libc_kill(b.id() as i32, 2) };
    let (status, err_b) = stderr_of(b);
    assert!(status.success(), "{err_b}");
    for (file, err) in [(&a_out, &err), (&b_out, &err_b)] {
        let text = std::fs::read_to_string(file).unwrap();
        let events = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["pid"] == pid)
            .count() as u64;
        // Every call and every return of the target is written or counted as dropped. The
        // drop count is over all processes, and the binary-path tracer also sees the stress
        // processes of tests running in parallel: so "at least" the rest.
        let (_, dropped) = summary_counts(err);
        assert!(
            events <= 2 * grow_calls && events + dropped >= 2 * grow_calls,
            "{}: {events} events of {pid} and {dropped} dropped for {grow_calls} calls: {err}",
            file.display()
        );
    }
}

#[test]
fn millions_of_calls_under_gc_and_stack_growth() {
    // 2,000,000 calls of main.Step and 302,000 of main.Grow, by 1,000 goroutines.
    let calls = 2000;
    let expected = untraced_output(calls);
    let counts: Value = serde_json::from_str(&expected).unwrap();
    let want_events =
        2 * (counts["step_calls"].as_u64().unwrap() + counts["grow_calls"].as_u64().unwrap());
    let out = Command::new(gosyms())
        .args(["trace", "-o", "/dev/null", "--buffer-mib", "64"])
        .args(["main.Step", "main.Grow", "--"])
        .arg(stress())
        .arg(calls.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // Nothing is lost silently: every call and return is an event or counted as dropped.
    let (events, dropped) = summary_counts(&err);
    assert_eq!(events + dropped, want_events, "{err}");
}

#[test]
fn bad_limits_are_refused_before_loading() {
    let out = Command::new(gosyms())
        .args(["trace", "--max-str", "100000", "main.Step", "--"])
        .arg(stress())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-str"));
}

#[test]
fn events_are_valid_json_for_jq() {
    // Every event line, whatever bytes the program passed, parses with jq.
    let dir = scratch("safety");
    let events = dir.join("jq.jsonl");
    let out = Command::new(gosyms())
        .args(["trace", "-o"])
        .arg(&events)
        .args(["main.Step", "--"])
        .arg(stress())
        .arg("20")
        .output()
        .unwrap();
    assert!(out.status.success());
    let jq = Command::new("jq")
        .args(["-c", "select(.event == \"call\") | .args.s"])
        .arg(&events)
        .output()
        .expect("jq is installed by test.sh");
    assert!(
        jq.status.success(),
        "{}",
        String::from_utf8_lossy(&jq.stderr)
    );
    let strings = String::from_utf8(jq.stdout).unwrap();
    assert_eq!(strings.lines().count(), 20_000);
    assert!(strings.lines().all(|l| l.starts_with('"')));
}

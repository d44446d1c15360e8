//! testdata/selective, the program the tests of filters, stacks and statistics trace: built
//! per release and mode, run to the end under `gosyms trace -- CMD`, or started waiting so
//! that tracers attach to it with `--pid` first.

use super::{gosyms, lines_of, scratch};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// testdata/selective built by Go `release` as `mode` (`exe` or `pie`).
pub fn build(release: &str, mode: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("selective").join(format!("selective-{release}-{mode}"));
    if !out.exists() {
        let src = repo().join("testdata/selective/main.go");
        go_build_mode(release, host_goarch(), &src, &out, "", mode);
    }
    out
}

/// The program's lines about calls (`fn` and `args`).
pub fn calls<'v>(truth: &'v [Value], function: &str) -> Vec<&'v Value> {
    truth
        .iter()
        .filter(|t| t["fn"] == function && t.get("args").is_some())
        .collect()
}

/// The program's last line: `{"done", "calls", "errors"}`.
pub fn done(truth: &[Value]) -> &Value {
    truth
        .iter()
        .rfind(|t| t["done"] == true)
        .expect("the program's done line")
}

/// The program, started waiting for tracers.
pub struct Waiting {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// The workers' goroutine ids and thread ids.
    pub ready: Value,
}

impl Waiting {
    /// Starts `binary MODE wait` and reads its ready line.
    pub fn start(binary: &Path, mode: &str) -> Waiting {
        let mut child = Command::new(binary)
            .args([mode, "wait"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the program");
        let stdin = child.stdin.take().unwrap();
        let (lines, _) = lines_of(child.stdout.take().unwrap());
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the program's ready line");
        let ready: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(ready["ready"], true, "{first}");
        Waiting {
            child,
            stdin,
            lines,
            ready,
        }
    }

    /// The process id, as an argument.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Lets it run, and gives its lines once it has exited.
    pub fn run(mut self) -> Vec<Value> {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
        assert!(self.child.wait().unwrap().success());
        self.lines
            .iter()
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect()
    }
}

/// A gosyms tracing a running process, events or statistics to a file.
pub struct Tracer {
    child: Child,
    stderr: Arc<Mutex<String>>,
    /// The output file.
    pub output: PathBuf,
}

impl Tracer {
    /// Starts `gosyms trace --pid PID -o FILE ARGS` and waits until it traces.
    pub fn start(label: &str, pid: &str, args: &[&str]) -> Tracer {
        let output = scratch("selective").join(format!("{label}.out"));
        let mut child = Command::new(gosyms())
            .args(["trace", "--pid", pid, "-o"])
            .arg(&output)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (rx, stderr) = lines_of(child.stderr.take().unwrap());
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("gosyms: tracing ") => break,
                Ok(_) => {}
                Err(_) => panic!("{label}: gosyms did not start: {}", stderr.lock().unwrap()),
            }
        }
        Tracer {
            child,
            stderr,
            output,
        }
    }

    /// Waits for it to end (the process exited); its stderr and output lines.
    pub fn finish(mut self) -> (String, Vec<Value>) {
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().unwrap().clone();
        assert!(status.success(), "gosyms: {status:?}: {stderr}");
        let out = std::fs::read_to_string(&self.output).unwrap();
        let lines = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        (stderr, lines)
    }
}

/// A count in gosyms' summary line: `N ONE WHY` or `N MANY WHY` (0 when absent).
pub fn summary_count(stderr: &str, one: &str, many: &str, why: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("gosyms: stopped ("))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    let (_, counts) = line.split_once("): ").unwrap();
    counts
        .split(", ")
        .find_map(|part| {
            let (n, rest) = part.split_once(' ')?;
            (rest == format!("{one} {why}") || rest == format!("{many} {why}"))
                .then(|| n.parse().unwrap())
        })
        .unwrap_or(0)
}

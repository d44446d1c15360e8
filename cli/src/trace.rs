//! `gosyms trace`: resolve, load, attach, print events, detach, summarise.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use pclntab::GoBinary;
use probe::{
    AttachPoint, DecodedFunction, Decoder, FunctionCapture, GoroutineAccess, Limits, Scope,
    TraceEvent, Tracer,
};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// JSON Lines (the default when stdout is not a terminal).
    Json,
    /// One readable line per event (the default on a terminal).
    Text,
}

#[derive(Args)]
#[command(
    after_help = "Targets: `gosyms trace BINARY PATTERN...` traces every process running \
BINARY; `gosyms trace --pid PID PATTERN...` one running process; `gosyms trace PATTERN... -- CMD \
ARGS...` starts CMD and traces it from its first instruction."
)]
pub struct TraceArgs {
    /// The binary (unless --pid or -- CMD is given), then the functions: names, globs,
    /// re:REGEX, or Go signatures that give types to a stripped binary.
    #[arg(required = true, value_name = "[BINARY] PATTERN")]
    args: Vec<String>,
    /// Trace this running process.
    #[arg(long, short = 'p', conflicts_with = "command")]
    pid: Option<NonZeroU32>,
    /// Start this command and trace it.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<OsString>,
    /// An unstripped build of the same program, for argument types.
    #[arg(long, value_name = "PATH")]
    debug_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write events here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Bytes of each string (and []byte) to capture.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=4096))]
    max_str: u32,
    /// Elements of each slice to capture.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=512))]
    max_elems: u32,
    /// Stop after this long (e.g. 10s, 500ms, 2m).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many events.
    #[arg(long)]
    max_events: Option<u64>,
    /// Probe entries only: arguments, no results or durations (half the probes).
    #[arg(long)]
    no_returns: bool,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 16, value_parser = parse_ring)]
    buffer_mib: u32,
}

fn parse_ring(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !n.is_power_of_two() || n > 1024 {
        return Err("a power of two, at most 1024".into());
    }
    Ok(n)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Finds a command the way a shell would.
fn find_command(cmd: &OsString) -> Result<PathBuf> {
    let p = Path::new(cmd);
    if p.components().count() > 1 {
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .ok_or_else(|| anyhow!("{}: command not found", p.display()))
}

enum Target {
    All(PathBuf),
    Pid(NonZeroU32),
    Command(PathBuf),
}

pub fn trace(a: &TraceArgs) -> Result<ExitCode> {
    probe::check_privileges()?;
    let (target, patterns) = if let Some(pid) = a.pid {
        (Target::Pid(pid), &a.args[..])
    } else if let Some(cmd) = a.command.first() {
        (Target::Command(find_command(cmd)?), &a.args[..])
    } else {
        let (bin, pats) = a
            .args
            .split_first()
            .ok_or_else(|| anyhow!("no binary given"))?;
        (Target::All(PathBuf::from(bin)), pats)
    };
    if patterns.is_empty() {
        bail!("no functions to trace: give at least one pattern");
    }
    // The file the probes go into. /proc/PID/exe reaches the running file even if the path
    // was replaced or deleted since it started.
    let path = match &target {
        Target::All(p) | Target::Command(p) => {
            std::fs::canonicalize(p).with_context(|| p.display().to_string())?
        }
        Target::Pid(pid) => PathBuf::from(format!("/proc/{pid}/exe")),
    };
    crate::with_binary(&path, None, |bin| {
        trace_binary(a, &target, patterns, &path, bin)
    })
}

/// `trace` once the binary is open.
fn trace_binary(
    a: &TraceArgs,
    target: &Target,
    patterns: &[String],
    path: &Path,
    bin: &GoBinary<'_>,
) -> Result<ExitCode> {
    // An ELF binary of the kernel's own architecture (amd64 or arm64), or one clear line.
    probe::Arch::of_binary(bin).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let Some(plans) = crate::plans(bin, patterns, a.debug_file.as_deref())? else {
        return Ok(ExitCode::from(1));
    };

    let needs_tls = plans.iter().any(|p| p.goid.g_register.is_none());
    let fsbase = if needs_tls {
        match probe::fsbase_offset() {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!("gosyms: no goroutine ids for stack-ABI functions: {e}");
                None
            }
        }
    } else {
        None
    };
    let limits = Limits {
        max_str: a.max_str,
        max_elems: a.max_elems,
    };
    let mut specs = Vec::with_capacity(2 * plans.len());
    let mut points = Vec::new();
    let mut functions = Vec::with_capacity(plans.len());
    // Notes grouped by text: one line per note, naming the functions it applies to.
    let mut warnings: Vec<(String, Vec<String>)> = Vec::new();
    let mut warn =
        |note: String, function: &str| match warnings.iter_mut().find(|(n, _)| *n == note) {
            Some((_, fs)) => fs.push(function.to_string()),
            None => warnings.push((note, vec![function.to_string()])),
        };
    for (i, plan) in plans.iter().enumerate() {
        let cap = FunctionCapture::new(plan, GoroutineAccess::for_plan(plan, fsbase), limits);
        probe::validate(&plan.function, &cap.entry)?;
        probe::validate(&plan.function, &cap.ret)?;
        let entry_spec = u32::try_from(2 * i)?;
        points.push(AttachPoint {
            file_offset: plan.entry_probe.file_offset,
            spec: entry_spec,
        });
        for r in plan.returns.iter().filter(|_| !a.no_returns) {
            points.push(AttachPoint {
                file_offset: r.file_offset,
                spec: entry_spec + 1,
            });
        }
        if plan.returns.is_empty() && !a.no_returns {
            let why = plan
                .returns_unsupported
                .clone()
                .unwrap_or_else(|| "it has no return instruction".into());
            warn(format!("calls only ({why})"), &plan.function);
        }
        for n in plan.notes.iter().chain(&cap.notes) {
            warn(n.clone(), &plan.function);
        }
        specs.push(cap.entry);
        specs.push(cap.ret);
        functions.push(DecodedFunction {
            name: plan.function.clone(),
            entry: cap.entry_recipe,
            ret: cap.ret_recipe,
            entry_probe_vaddr: plan.entry_probe.vaddr,
        });
    }
    for (note, functions) in warnings.iter().take(20) {
        let names = functions
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        match functions.len() {
            n if n <= 3 => eprintln!("gosyms: {names}: {note}"),
            n => eprintln!("gosyms: {names} and {} more: {note}", n - 3),
        }
    }
    if warnings.len() > 20 {
        eprintln!("gosyms: ... and {} more notes", warnings.len() - 20);
    }

    let load_start = Instant::now();
    let mut tracer = Tracer::load(&specs, a.buffer_mib << 20)?;
    let loaded = load_start.elapsed();
    let attach_start = Instant::now();

    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }

    let mut child = None;
    match target {
        Target::All(_) => tracer.attach(path, &points, Scope::All)?,
        Target::Pid(pid) => tracer.attach(path, &points, Scope::Pid(*pid))?,
        Target::Command(program) => {
            let (ch, go) = spawn_stopped(program, &a.command)?;
            let pid = NonZeroU32::new(ch.id()).ok_or_else(|| anyhow!("child pid 0"))?;
            let attached = tracer.attach(path, &points, Scope::Pid(pid));
            if let Err(e) = attached {
                // Kill it before it can run untraced.
                // SAFETY: plain kill(2) on our own child.
                unsafe { libc::kill(ch.id() as i32, libc::SIGKILL) };
                return Err(e.into());
            }
            go.release()?;
            child = Some(ch);
        }
    }
    eprintln!(
        "gosyms: tracing {} functions with {} uprobes (program loaded in {} ms, attached in {} ms)",
        plans.len(),
        tracer.attached(),
        loaded.as_millis(),
        attach_start.elapsed().as_millis()
    );

    let format = a
        .format
        .unwrap_or(if a.output.is_none() && io::stdout().is_terminal() {
            Format::Text
        } else {
            Format::Json
        });
    let sink: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| p.display().to_string())?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = io::BufWriter::with_capacity(1 << 16, sink);
    let mut decoder = Decoder::new(bin, functions);
    let mut calls = vec![0u64; plans.len()];
    let mut returns = vec![0u64; plans.len()];
    let mut events = 0u64;
    let start = Instant::now();
    let mut exit = ExitCode::SUCCESS;
    let mut stop_reason = "interrupted";
    let mut write_error = None;
    let mut target_gone = false;
    loop {
        let limit_hit = |events: u64| a.max_events.is_some_and(|m| events >= m);
        tracer.poll(Duration::from_millis(50), |bytes| {
            if write_error.is_some() || limit_hit(events) {
                return;
            }
            let Some(ev) = decoder.decode(bytes) else {
                return;
            };
            if ev.is_return {
                returns[ev.function] += 1;
            } else {
                calls[ev.function] += 1;
            }
            events += 1;
            let r = match format {
                Format::Json => {
                    let name = decoder.name(ev.function);
                    write_json(&mut out, ev, name)
                }
                Format::Text => write_text(&mut out, &ev, decoder.name(ev.function)),
            };
            if let Err(e) = r {
                write_error = Some(e);
            }
        })?;
        if let Some(e) = write_error.take() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                stop_reason = "output closed";
                break;
            }
            return Err(e).context("writing events");
        }
        if target_gone {
            break;
        }
        if limit_hit(events) {
            stop_reason = "--max-events reached";
            break;
        }
        if a.duration.is_some_and(|d| start.elapsed() >= d) {
            stop_reason = "--duration reached";
            break;
        }
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        if let Some(ch) = child.as_mut() {
            if let Some(status) = ch.try_wait()? {
                exit = exit_code(status);
                stop_reason = "the command exited";
                // One more round to drain what it sent before exiting.
                target_gone = true;
            }
        } else if let Target::Pid(pid) = *target {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                stop_reason = "the process exited";
                target_gone = true;
            }
        }
    }
    let _ = out.flush();
    drop(out);
    let drops = tracer.drops();
    let probes = tracer.attached();
    let detach_start = Instant::now();
    drop(tracer); // detaches every probe
    eprintln!(
        "gosyms: detached {probes} uprobes in {} ms",
        detach_start.elapsed().as_millis()
    );
    if let Some(mut ch) = child {
        // The command keeps running untraced if we stopped first; wait for it, as a shell would.
        if !target_gone {
            eprintln!("gosyms: detached; waiting for the command to exit");
            exit = exit_code(ch.wait()?);
        }
    }
    summary(
        &decoder,
        &calls,
        &returns,
        events,
        drops,
        stop_reason,
        !a.no_returns,
    );
    Ok(exit)
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => ExitCode::from(c as u8),
        (None, Some(s)) => ExitCode::from(128u8.wrapping_add(s as u8)),
        _ => ExitCode::FAILURE,
    }
}

fn summary(
    decoder: &Decoder<'_, '_>,
    calls: &[u64],
    returns: &[u64],
    events: u64,
    drops: u64,
    reason: &str,
    paired: bool,
) {
    let mut e = io::stderr().lock();
    let _ = writeln!(
        e,
        "gosyms: stopped ({reason}): {events} events, {drops} dropped (ring buffer full)"
    );
    let p = &decoder.pairing;
    if paired && p.unpaired_calls + p.unpaired_returns + p.pending() > 0 {
        let _ = writeln!(
            e,
            "gosyms: {} calls without a seen return (panic, tail call), {} returns without a seen call, {} calls still running",
            p.unpaired_calls,
            p.unpaired_returns,
            p.pending()
        );
    }
    let mut rows: Vec<(usize, u64, u64)> = calls
        .iter()
        .zip(returns)
        .enumerate()
        .filter(|(_, (c, r))| **c + **r > 0)
        .map(|(i, (c, r))| (i, *c, *r))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (i, c, r) in rows.iter().take(50) {
        let _ = writeln!(e, "  {c:>10} calls {r:>10} returns  {}", decoder.name(*i));
    }
    if rows.len() > 50 {
        let _ = writeln!(e, "  ... and {} more functions", rows.len() - 50);
    }
}

/// One event as a JSON object on one line.
fn write_json(out: &mut impl Write, ev: TraceEvent, name: &str) -> io::Result<()> {
    let mut m = Map::new();
    m.insert(
        "event".into(),
        Value::from(if ev.is_return { "return" } else { "call" }),
    );
    m.insert("fn".into(), Value::from(name));
    m.insert("ts_ns".into(), Value::from(ev.ts_ns));
    m.insert("pid".into(), Value::from(ev.pid));
    m.insert("tid".into(), Value::from(ev.tid));
    m.insert("goid".into(), ev.goid.map_or(Value::Null, Value::from));
    if ev.is_return {
        m.insert("ret".into(), ev.values);
        m.insert("dur_ns".into(), ev.dur_ns.map_or(Value::Null, Value::from));
    } else {
        m.insert("args".into(), ev.values);
    }
    serde_json::to_writer(&mut *out, &m)?;
    out.write_all(b"\n")
}

fn write_text(out: &mut impl Write, ev: &TraceEvent, name: &str) -> io::Result<()> {
    let secs = ev.ts_ns / 1_000_000_000;
    let nanos = ev.ts_ns % 1_000_000_000;
    let g = ev
        .goid
        .map_or_else(|| "g?".to_string(), |g| format!("g{g}"));
    let values = match &ev.values {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(a) => a
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        v => v.to_string(),
    };
    if ev.is_return {
        let dur = ev.dur_ns.map_or_else(
            || "?".to_string(),
            |d| format!("{:.3}us", d as f64 / 1000.0),
        );
        writeln!(
            out,
            "{secs}.{nanos:09} {}/{} {g} <- {name} ({values}) {dur}",
            ev.pid, ev.tid
        )
    } else {
        writeln!(
            out,
            "{secs}.{nanos:09} {}/{} {g} -> {name}({values})",
            ev.pid, ev.tid
        )
    }
}

/// A child that waits, between fork and exec, until the probes are attached.
struct Gate {
    write_fd: libc::c_int,
}

impl Gate {
    fn release(self) -> Result<()> {
        // SAFETY: writing one byte to our own pipe, then closing it.
        let n = unsafe { libc::write(self.write_fd, b"g".as_ptr().cast(), 1) };
        unsafe { libc::close(self.write_fd) };
        if n != 1 {
            bail!(
                "could not start the command: {}",
                io::Error::last_os_error()
            );
        }
        Ok(())
    }
}

/// A started command.
struct Child {
    pid: libc::pid_t,
}

impl Child {
    fn id(&self) -> u32 {
        self.pid as u32
    }

    fn wait_flags(&mut self, flags: libc::c_int) -> io::Result<Option<std::process::ExitStatus>> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                return Ok(Some(std::process::ExitStatus::from_raw(status)));
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.wait_flags(libc::WNOHANG)
    }

    fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        self.wait_flags(0)?
            .ok_or_else(|| io::Error::other("waitpid returned nothing"))
    }
}

/// Forks a child that waits, before exec, until the probes are attached: then no call of the
/// program, not even during its start-up, is missed. (std's `Command` cannot do this: its
/// `spawn` waits for the exec.)
/// `program` is `command[0]` found on the PATH.
fn spawn_stopped(program: &Path, command: &[OsString]) -> Result<(Child, Gate)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(program.as_os_str().as_bytes())?;
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error()).context("pipe");
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: after fork the child calls only async-signal-safe functions (close, read,
    // signal, execv, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        unsafe {
            libc::close(write_fd);
            let mut b = 0u8;
            if libc::read(read_fd, (&mut b as *mut u8).cast(), 1) != 1 {
                // The tracer went away without releasing us: do not run untraced.
                libc::_exit(127);
            }
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::execv(path.as_ptr(), argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: the read end is the child's.
    unsafe { libc::close(read_fd) };
    Ok((Child { pid }, Gate { write_fd }))
}

//! `gosyms trace`: spawn, attach, poll, print.
//!
//! Everything that can be checked (privileges, the target, the patterns, the output file,
//! limits) is checked before anything is loaded, attached or started. Events are written and
//! flushed as each batch is drained from the ring buffer. However tracing stops, the probes
//! are detached first and the ring buffer drained after, so that every probe hit is written
//! or counted: dropped (ring buffer full), not written (after `--max-events`, or once the
//! output is closed), or undecodable.
//!
//! Events go to at most one file output (JSON Lines, text or Perfetto) and, with `--otlp`, to
//! an OTLP exporter; all of them are [`EventOutput`]s. With `--stats` there are no events:
//! the totals are printed, and with `--otlp` sent as OTLP metrics.

use crate::spawn::{self, Child};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use export::clock::ClockOffsets;
use export::otlp::{MetricsExporter, OtlpConfig, Program, SpanExporter};
use export::perfetto::PerfettoWriter;
use export::EventOutput;
use pclntab::GoBinary;
use probe::{Condition, Decoder, FunctionStats, Limits, Scope, Session, TraceEvent};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::num::{NonZeroU32, NonZeroU64};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON Lines (the default when the events do not go to a terminal).
    Json,
    /// One readable line per event (the default on a terminal).
    Text,
    /// Perfetto's protobuf trace, for ui.perfetto.dev (needs -o FILE, or stdout not a terminal).
    Perfetto,
}

#[derive(Args)]
#[command(
    after_help = "Targets: `gosyms trace BINARY PATTERN...` traces every process running \
BINARY; `gosyms trace --pid PID PATTERN...` one running process; `gosyms trace PATTERN... -- CMD \
ARGS...` starts CMD and traces it from its first instruction. With -- CMD and events on stdout, \
the command's stdout goes to stderr, so that `gosyms trace ... -- CMD | jq` reads only events."
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
    /// JSON Lines: the same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Write events to this file instead of stdout (`-` is stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Bytes of each string (and []byte) to capture.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=4096))]
    max_str: u32,
    /// Elements of each slice to capture.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=512))]
    max_elems: u32,
    /// Levels of pointers, slices, maps and interfaces to follow into values.
    #[arg(long, default_value_t = resolver::described::DEFAULT_DEPTH, value_parser = clap::value_parser!(u32).range(0..=8))]
    depth: u32,
    /// Stop after this long, in Go's syntax (300ms, 1.5s, 10s, 1h30m).
    #[arg(long, value_parser = parse_duration_limit)]
    duration: Option<Duration>,
    /// Stop after writing this many events (the events captured after them are counted).
    #[arg(long, value_parser = parse_max_events)]
    max_events: Option<NonZeroU64>,
    /// Probe entries only: arguments, no results or durations (half the probes).
    #[arg(long)]
    no_returns: bool,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 16, value_parser = parse_ring)]
    buffer_mib: u32,
    /// Send each call as an OpenTelemetry span to this OTLP/HTTP endpoint (a base URL: spans
    /// are posted to URL/v1/traces, as with OTEL_EXPORTER_OTLP_ENDPOINT); with --stats, the
    /// totals as metrics to URL/v1/metrics instead.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Send spans (with --stats, metrics) to the endpoint in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    /// (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) or OTEL_EXPORTER_OTLP_ENDPOINT (default
    /// http://localhost:4318).
    #[arg(long)]
    otlp: bool,
    /// An OTLP request header (repeatable), on top of OTEL_EXPORTER_OTLP_HEADERS.
    #[arg(long, value_name = "NAME=VALUE")]
    otlp_header: Vec<String>,
    /// The spans' service.name (default: OTEL_SERVICE_NAME, else the binary's main module).
    #[arg(long, value_name = "NAME")]
    service_name: Option<String>,
    /// Only calls for which this holds, decided in the kernel: comparisons of arguments and
    /// results with literals, joined by && and ||, with ! and parentheses: `n > 10 && name ==
    /// "x"`, `hasPrefix(path, "/api/")`, `err != nil`, `s.Hits >= 7` (README: Filters).
    #[arg(long = "where", value_name = "EXPR", value_parser = parse_condition)]
    condition: Option<Condition>,
    /// Only calls that took at least this long (Go syntax: 500us, 10ms); each call is written
    /// when it returns, just before its return.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_limit)]
    min_duration: Option<Duration>,
    /// Only calls on this goroutine.
    #[arg(long, value_name = "GOID")]
    goid: Option<u64>,
    /// Only calls made on this thread (with their returns).
    #[arg(long, value_name = "TID")]
    tid: Option<u32>,
    /// Give each call its Go call stack, at most N frames (default 64, the most).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "64",
          require_equals = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    stack: Option<u32>,
    /// No events: count calls and errors and measure latencies per function in the kernel,
    /// and print them (histograms, or JSON objects) every --interval and at the end; with
    /// --otlp, send them as OpenTelemetry metrics (printed too only with -o, --format or --json).
    #[arg(long, conflicts_with_all = ["stack", "max_events"])]
    stats: bool,
    /// With --stats: print the totals this often too (Go syntax: 1s, 10s).
    #[arg(long, value_name = "DURATION", requires = "stats", value_parser = parse_duration_limit)]
    interval: Option<Duration>,
}

fn parse_condition(s: &str) -> Result<Condition, String> {
    Condition::parse(s).map_err(|e| e.to_string().trim_start_matches("--where: ").to_string())
}

fn parse_ring(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !n.is_power_of_two() || n > 1024 {
        return Err("a power of two, at most 1024".into());
    }
    Ok(n)
}

fn parse_duration_limit(s: &str) -> Result<Duration, String> {
    let d = crate::duration::parse(s)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn parse_max_events(s: &str) -> Result<NonZeroU64, String> {
    let n: u64 = s.parse().map_err(|e| format!("{e}"))?;
    NonZeroU64::new(n).ok_or_else(|| "must be at least 1".to_string())
}

/// `n` and the noun, singular or plural.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
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

impl TraceArgs {
    fn otlp_enabled(&self) -> bool {
        self.otlp || self.otlp_endpoint.is_some()
    }

    /// Whether events (with `--stats`, totals) are written to a file or stdout: always, unless
    /// spans (metrics) are sent and neither an output nor a format was asked for.
    fn writes_events(&self) -> bool {
        !self.otlp_enabled() || self.output.is_some() || self.format.is_some() || self.json
    }

    /// Whether events go to stdout (no `-o`, or `-o -`).
    fn events_to_stdout(&self) -> bool {
        self.writes_events() && self.output.as_deref().is_none_or(|p| p == Path::new("-"))
    }

    fn format(&self) -> Format {
        match (self.json, self.format) {
            (true, _) => Format::Json,
            (false, Some(f)) => f,
            (false, None) if self.events_to_stdout() && io::stdout().is_terminal() => Format::Text,
            (false, None) => Format::Json,
        }
    }

    /// Opens where the events go: checked before anything is attached or started.
    fn open_output(&self) -> Result<Box<dyn Write>> {
        if self.format() == Format::Perfetto
            && self.events_to_stdout()
            && io::stdout().is_terminal()
        {
            bail!("--format perfetto writes a binary trace: give -o FILE");
        }
        match &self.output {
            Some(p) if p != Path::new("-") => Ok(Box::new(
                std::fs::File::create(p).with_context(|| p.display().to_string())?,
            )),
            _ => Ok(Box::new(io::stdout().lock())),
        }
    }
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

/// Prints notes, one line each, naming up to `names` functions.
fn print_notes(notes: &probe::Notes, names: usize) {
    for line in notes.lines(names, 20) {
        note!("gosyms: {line}");
    }
}

/// Why tracing stopped.
enum Stop {
    CommandExited(std::process::ExitStatus),
    ProcessExited,
    Signal(i32),
    Duration,
    MaxEvents,
    OutputClosed,
    OutputFailed,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::CommandExited(_) => f.write_str("the command exited"),
            Stop::ProcessExited => f.write_str("the process exited"),
            Stop::Signal(s) => f.write_str(spawn::signal_name(*s)),
            Stop::Duration => f.write_str("--duration reached"),
            Stop::MaxEvents => f.write_str("--max-events reached"),
            Stop::OutputClosed => f.write_str("output closed"),
            Stop::OutputFailed => f.write_str("writing events failed"),
        }
    }
}

/// Watches a process given by pid for its exit (a pidfd, immune to pid reuse).
struct ProcessWatch {
    pidfd: Option<OwnedFd>,
    pid: NonZeroU32,
}

impl ProcessWatch {
    fn new(pid: NonZeroU32) -> Self {
        // SAFETY: pidfd_open(pid, 0) returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.get() as libc::pid_t, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just gave us this descriptor.
            unsafe { OwnedFd::from_raw_fd(fd as i32) }
        });
        ProcessWatch { pidfd, pid }
    }

    fn exited(&self) -> bool {
        use std::os::fd::AsRawFd;
        match &self.pidfd {
            Some(fd) => {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, no waiting. A pidfd is readable once the process
                // has exited (zombie or reaped).
                unsafe { libc::poll(&mut p, 1, 0) > 0 }
            }
            None => !Path::new(&format!("/proc/{}", self.pid)).exists(),
        }
    }
}

/// JSON Lines, or text.
struct Lines {
    out: io::BufWriter<Box<dyn Write>>,
    text: bool,
}

impl EventOutput for Lines {
    fn event(&mut self, ev: &TraceEvent, _bytes: &[u8], name: &str) -> io::Result<()> {
        if self.text {
            write_text(&mut self.out, ev, name)
        } else {
            write_json(&mut self.out, ev, name)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _now_ns: u64) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decodes events and writes them, counting what is written and what is not.
struct EventSink {
    /// JSON Lines, text or Perfetto, unless only spans are sent.
    file: Option<Box<dyn EventOutput>>,
    /// OTLP spans.
    spans: Option<SpanExporter>,
    /// Where `--stats` prints its totals (it writes no events).
    stats: Option<StatsOutput>,
    /// `--stats` with `--otlp`: the totals as OTLP metrics.
    metrics: Option<MetricsExporter>,
    max_events: Option<u64>,
    /// Events written (or, without a file output, turned into spans).
    written: u64,
    /// Of those, the ones not yet flushed (lost if the output turns out to be closed).
    unflushed: u64,
    /// Events not written because --max-events was reached.
    over_limit: u64,
    /// Events not written because the output was closed or failed.
    unwritable: u64,
    /// Events that could not be decoded (never expected).
    undecodable: u64,
    /// Why writing failed, once it has.
    write_error: Option<io::Error>,
    /// Per function: calls and returns written, and the durations of the returns paired.
    calls: Vec<u64>,
    returns: Vec<u64>,
    latency: Vec<Latency>,
}

/// `--stats`' totals: JSON Lines or text, where events would have gone.
struct StatsOutput {
    out: io::BufWriter<Box<dyn Write>>,
    format: Format,
}

/// Durations of the returns written with one.
#[derive(Default, Clone, Copy)]
struct Latency {
    count: u64,
    total_ns: u64,
    max_ns: u64,
}

impl EventSink {
    fn new(
        file: Option<Box<dyn EventOutput>>,
        spans: Option<SpanExporter>,
        stats: Option<StatsOutput>,
        metrics: Option<MetricsExporter>,
        functions: usize,
        max_events: Option<u64>,
    ) -> Self {
        EventSink {
            file,
            spans,
            stats,
            metrics,
            max_events,
            written: 0,
            unflushed: 0,
            over_limit: 0,
            unwritable: 0,
            undecodable: 0,
            write_error: None,
            calls: vec![0; functions],
            returns: vec![0; functions],
            latency: vec![Latency::default(); functions],
        }
    }

    fn limit_reached(&self) -> bool {
        self.max_events.is_some_and(|m| self.written >= m)
    }

    /// One event from the ring buffer.
    fn take(&mut self, decoder: &mut Decoder<'_, '_>, bytes: &[u8]) {
        if self.write_error.is_some() {
            self.unwritable += 1;
            return;
        }
        if self.limit_reached() {
            self.over_limit += 1;
            return;
        }
        let Some(ev) = decoder.decode(bytes) else {
            self.undecodable += 1;
            return;
        };
        let counter = if ev.is_return {
            &mut self.returns
        } else {
            &mut self.calls
        };
        if let Some(c) = counter.get_mut(ev.function) {
            *c += 1;
        }
        if let (Some(d), Some(l)) = (ev.dur_ns, self.latency.get_mut(ev.function)) {
            l.count += 1;
            l.total_ns += d;
            l.max_ns = l.max_ns.max(d);
        }
        let name = decoder.name(ev.function);
        if let Some(spans) = &mut self.spans {
            // Never fails: spans that cannot be sent are counted by the exporter.
            let _ = spans.event(&ev, bytes, name);
        }
        let r = match &mut self.file {
            Some(f) => f.event(&ev, bytes, name),
            None => Ok(()),
        };
        match r {
            Ok(()) => {
                self.written += 1;
                self.unflushed += 1;
            }
            Err(e) => self.fail(e, 1),
        }
    }

    /// Tracing is over: calls still open end now (Perfetto slices, spans).
    fn finish(&mut self) {
        let now = export::clock::monotonic_now();
        if let Some(spans) = &mut self.spans {
            let _ = spans.finish(now);
        }
        if self.write_error.is_some() {
            return;
        }
        if let Some(Err(e)) = self.file.as_mut().map(|f| f.finish(now)) {
            self.fail(e, 0);
        }
        if self.write_error.is_none() {
            self.unflushed = 0;
        }
    }

    /// Writing failed: the events not yet flushed are not written either.
    fn fail(&mut self, e: io::Error, lost: u64) {
        self.written -= self.unflushed;
        self.unwritable += self.unflushed + lost;
        self.unflushed = 0;
        self.write_error.get_or_insert(e);
    }

    /// Flushes what was written (after each batch: events go out live).
    fn flush(&mut self) {
        if self.write_error.is_some() {
            return;
        }
        match self.file.as_mut().map_or(Ok(()), |f| f.flush()) {
            Ok(()) => self.unflushed = 0,
            Err(e) => self.fail(e, 0),
        }
    }

    /// Whether writing must stop, and why.
    fn stop(&self) -> Option<Stop> {
        match &self.write_error {
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => Some(Stop::OutputClosed),
            Some(_) => Some(Stop::OutputFailed),
            None if self.limit_reached() => Some(Stop::MaxEvents),
            None => None,
        }
    }
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
    let Some(plans) = crate::plans(bin, patterns, a.debug_file.as_deref(), a.depth)? else {
        return Ok(ExitCode::from(1));
    };
    // With --otlp, --stats sends metrics, not spans.
    if a.stats && a.format() == Format::Perfetto {
        bail!("--stats writes totals, not calls: it cannot write a Perfetto trace");
    }
    let options = probe::Options {
        limits: Limits {
            max_str: a.max_str,
            max_elems: a.max_elems,
            depth: a.depth,
        },
        no_returns: a.no_returns,
        condition: a.condition.clone(),
        min_duration: a.min_duration,
        tid: a.tid,
        goid: a.goid,
        stack_frames: a.stack,
        stats: a.stats,
        ring_bytes: a.buffer_mib << 20,
    };
    let mut session = Session::new(bin, &plans, &options)?;
    print_notes(session.notes(), 3);
    let otlp = a
        .otlp_enabled()
        .then(|| {
            OtlpConfig::new(a.otlp_endpoint.as_deref(), &a.otlp_header, |k| {
                std::env::var(k).ok()
            })
        })
        .transpose()?;
    let out = a.writes_events().then(|| a.open_output()).transpose()?;

    spawn::install_signal_handlers()?;
    let load_start = Instant::now();
    session.load()?;
    let loaded = load_start.elapsed();
    let attach_start = Instant::now();
    let (attached, mut child, watch) = match target {
        Target::All(_) => (session.attach(path, Scope::All)?, None, None),
        Target::Pid(pid) => (
            session.attach(path, Scope::Pid(*pid))?,
            None,
            Some(ProcessWatch::new(*pid)),
        ),
        Target::Command(program) => {
            let (ch, gate) = spawn::spawn_stopped(program, &a.command, a.events_to_stdout())?;
            let pid = NonZeroU32::new(ch.id()).ok_or_else(|| anyhow!("child pid 0"))?;
            match session.attach(path, Scope::Pid(pid)) {
                // A signal while attaching: the command never runs.
                Ok(_) if spawn::stop_signal().is_some() => {
                    ch.kill_unstarted();
                    note!("gosyms: interrupted before the command started");
                    return Ok(ExitCode::from(130));
                }
                Ok(r) => {
                    gate.release()?;
                    (r, Some(ch), None)
                }
                Err(e) => {
                    // Kill it before it can run untraced.
                    ch.kill_unstarted();
                    return Err(e.into());
                }
            }
        }
    };
    let attach_time = attach_start.elapsed();
    // Where the cumulative metrics start: the probes are in place.
    let started_ns = export::clock::monotonic_now();
    print_notes(&attached.refused, 20);
    note!(
        "gosyms: tracing {} with {} (program loaded in {} ms, attached in {} ms)",
        count(attached.functions, "function", "functions"),
        count(attached.uprobes, "uprobe", "uprobes"),
        loaded.as_millis(),
        attach_time.as_millis()
    );

    // The running file (through /proc/PID/exe with --pid).
    let executable = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
    let clocks = ClockOffsets::measure();
    let (out, stats) = match out {
        Some(out) if a.stats => (
            None,
            Some(StatsOutput {
                out: io::BufWriter::with_capacity(1 << 16, out),
                format: a.format(),
            }),
        ),
        out => (out, None),
    };
    let file: Option<Box<dyn EventOutput>> = out.map(|out| {
        let out = io::BufWriter::with_capacity(1 << 16, out);
        match a.format() {
            Format::Perfetto => {
                let name = executable.file_name().unwrap_or_default().to_string_lossy();
                Box::new(PerfettoWriter::new(out, &name, clocks)) as Box<dyn EventOutput>
            }
            format => Box::new(Lines {
                out,
                text: format == Format::Text,
            }),
        }
    });
    let (spans, metrics) = match otlp {
        Some(config) if a.stats => {
            let program = program_info(bin, a, &executable);
            let pid = match target {
                Target::All(_) => None,
                Target::Pid(pid) => Some(pid.get()),
                Target::Command(_) => child.as_ref().map(Child::id),
            };
            let metrics = MetricsExporter::start(&config, &program, pid, clocks, started_ns)
                .context("starting the OTLP metrics exporter")?;
            (None, Some(metrics))
        }
        Some(config) => {
            let decoder = session.decoder();
            let names = (0..session.functions())
                .map(|f| decoder.name(f).to_string())
                .collect();
            let program = program_info(bin, a, &executable);
            let spans = SpanExporter::start(config, program, names, clocks)
                .context("starting the OTLP exporter")?;
            (Some(spans), None)
        }
        None => (None, None),
    };
    let max_events = a.max_events.map(NonZeroU64::get);
    let mut sink = EventSink::new(file, spans, stats, metrics, session.functions(), max_events);
    let start = Instant::now();
    let mut next_report = a.interval.map(|i| start + i);
    let stop = loop {
        session.poll(Duration::from_millis(50), |d, bytes| sink.take(d, bytes))?;
        sink.flush();
        if let Some(e) = sink.spans.as_ref().and_then(SpanExporter::take_first_error) {
            note!("gosyms: OTLP export: {e} (spans that cannot be delivered are counted)");
        }
        if let Some(e) = sink
            .metrics
            .as_ref()
            .and_then(MetricsExporter::take_first_error)
        {
            note!(
                "gosyms: OTLP metrics export: {e} (reports that cannot be delivered are counted)"
            );
        }
        if let Some(stop) = sink.stop() {
            break stop;
        }
        if let (Some(at), Some(interval)) = (next_report, a.interval) {
            if Instant::now() >= at {
                next_report = Some(at + interval);
                report_stats(&mut sink, &session)?;
            }
        }
        if a.duration.is_some_and(|d| start.elapsed() >= d) {
            break Stop::Duration;
        }
        if let Some(sig) = spawn::stop_signal() {
            break Stop::Signal(sig);
        }
        if let Some(ch) = child.as_mut() {
            if let Some(status) = ch.try_wait()? {
                break Stop::CommandExited(status);
            }
        }
        if watch.as_ref().is_some_and(ProcessWatch::exited) {
            break Stop::ProcessExited;
        }
    };

    // Detach first, then drain: no probe fires after the detach, so the last drain and the
    // counts are complete.
    let probes = session.uprobes();
    let detach_start = Instant::now();
    session.detach();
    let detach_time = detach_start.elapsed();
    while session.drain(|d, bytes| sink.take(d, bytes)) > 0 {}
    sink.flush();
    sink.finish();
    if a.stats {
        report_stats(&mut sink, &session)?;
    }
    let counts = session.counts();
    session.close();
    note!(
        "gosyms: detached {} in {} ms",
        count(probes, "uprobe", "uprobes"),
        detach_time.as_millis()
    );
    summary(&sink, session.decoder(), &counts, &stop, !a.no_returns);
    if let Some(spans) = sink.spans.take() {
        otlp_summary(&spans.shutdown());
    }
    if let Some(metrics) = sink.metrics.take() {
        metrics_summary(&metrics.shutdown());
    }
    if let (Stop::OutputFailed, Some(e)) = (&stop, sink.write_error.take()) {
        return Err(e).context("writing events");
    }
    Ok(match (stop, child) {
        (Stop::CommandExited(status), _) => spawn::exit_code(status),
        (stop, Some(ch)) => wait_for_command(ch, &stop)?,
        _ => ExitCode::SUCCESS,
    })
}

/// `--stats`: every function's totals so far, as text histograms or JSON objects, and as OTLP
/// metrics.
fn report_stats(sink: &mut EventSink, session: &Session<'_, '_>) -> Result<()> {
    if sink.stats.is_none() && sink.metrics.is_none() {
        return Ok(());
    }
    let stats = session.stats()?;
    let now = export::clock::monotonic_now();
    let decoder = session.decoder();
    let active: Vec<&FunctionStats> = stats
        .iter()
        .filter(|s| s.calls > 0 || s.returns > 0)
        .collect();
    if let Some(metrics) = sink.metrics.as_mut() {
        let named: Vec<(&str, &FunctionStats)> = active
            .iter()
            .map(|s| (decoder.name(s.function), *s))
            .collect();
        metrics.report(&named, now);
    }
    let Some(output) = sink.stats.as_mut() else {
        return Ok(());
    };
    let r = (|| -> io::Result<()> {
        match output.format {
            Format::Text => write_stats_text(&mut output.out, &active, decoder, now)?,
            Format::Json | Format::Perfetto => {
                for s in &active {
                    serde_json::to_writer(&mut output.out, &StatsLine::new(s, decoder, now))?;
                    output.out.write_all(b"\n")?;
                }
            }
        }
        output.out.flush()
    })();
    if let Err(e) = r {
        sink.write_error.get_or_insert(e);
    }
    Ok(())
}

/// One `--stats --format json` line (README.md, "JSON output").
#[derive(serde::Serialize)]
struct StatsLine<'a> {
    event: &'static str,
    #[serde(rename = "fn")]
    function: &'a str,
    ts_ns: u64,
    calls: u64,
    returns: u64,
    errors: Option<u64>,
    latency_ns: LatencyLine,
}

#[derive(serde::Serialize)]
struct LatencyLine {
    count: u64,
    total: u64,
    mean: Option<u64>,
    p50: Option<u64>,
    p90: Option<u64>,
    p99: Option<u64>,
    max: Option<u64>,
    buckets: Vec<BucketLine>,
}

#[derive(serde::Serialize)]
struct BucketLine {
    ge: u64,
    lt: u64,
    count: u64,
}

impl<'a> StatsLine<'a> {
    fn new(s: &FunctionStats, decoder: &'a Decoder<'_, '_>, now: u64) -> Self {
        StatsLine {
            event: "stats",
            function: decoder.name(s.function),
            ts_ns: now,
            calls: s.calls,
            returns: s.returns,
            errors: s.errors,
            latency_ns: LatencyLine {
                count: s.returns,
                total: s.total_ns,
                mean: s.mean_ns(),
                p50: s.percentile(0.5),
                p90: s.percentile(0.9),
                p99: s.percentile(0.99),
                max: (s.returns > 0).then_some(s.max_ns),
                buckets: s
                    .buckets()
                    .map(|(ge, lt, count)| BucketLine { ge, lt, count })
                    .collect(),
            },
        }
    }
}

/// A latency in ns, as bpftrace's `hist()` labels powers of two: 512, 1K, 2M.
fn pow2_label(v: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut v = v;
    let mut u = 0;
    while v >= 1024 && v.is_multiple_of(1024) && u + 1 < UNITS.len() {
        v /= 1024;
        u += 1;
    }
    format!("{v}{}", UNITS.get(u).unwrap_or(&""))
}

/// A duration for people: 812ns, 15.2us, 3.1ms, 2.0s.
fn human_ns(ns: u64) -> String {
    match ns {
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{:.1}us", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.1}ms", n as f64 / 1e6),
        n => format!("{:.1}s", n as f64 / 1e9),
    }
}

/// Text histograms, one per function, as bpftrace prints `hist()`.
fn write_stats_text(
    out: &mut impl Write,
    stats: &[&FunctionStats],
    decoder: &Decoder<'_, '_>,
    now: u64,
) -> io::Result<()> {
    writeln!(
        out,
        "@ {}.{:09}: {}",
        now / 1_000_000_000,
        now % 1_000_000_000,
        count(stats.len(), "function", "functions")
    )?;
    for s in stats {
        let errors = s
            .errors
            .map(|e| format!(", {}", count(e as usize, "error", "errors")))
            .unwrap_or_default();
        let lat = match (s.mean_ns(), s.percentile(0.5), s.percentile(0.99)) {
            (Some(mean), Some(p50), Some(p99)) => format!(
                "; latency mean {}, p50 <= {}, p99 <= {}, max {}",
                human_ns(mean),
                human_ns(p50),
                human_ns(p99),
                human_ns(s.max_ns)
            ),
            _ => String::new(),
        };
        writeln!(
            out,
            "\n{}: {}, {}{errors}{lat}",
            decoder.name(s.function),
            count(s.calls as usize, "call", "calls"),
            count(s.returns as usize, "return", "returns"),
        )?;
        let rows = s.log2();
        let top = rows.iter().map(|r| r.2).max().unwrap_or(0).max(1);
        for (lo, hi, n) in rows {
            let bar = (u128::from(n) * 52 / u128::from(top)) as usize;
            let range = if lo == 0 {
                "[0]".to_string()
            } else {
                format!("[{}, {})", pow2_label(lo), pow2_label(hi))
            };
            writeln!(out, "{range:<16} {n:>8} |{:<52}|", "@".repeat(bar))?;
        }
    }
    writeln!(out)
}

/// Tracing stopped while the command runs: pass a stopping signal on, and wait for it as a
/// shell would (a second signal ends gosyms at once).
fn wait_for_command(mut ch: Child, stop: &Stop) -> Result<ExitCode> {
    match stop {
        Stop::Signal(sig) => {
            ch.forward_stop_signal();
            note!(
                "gosyms: passed {} to the command; waiting for it to exit",
                spawn::signal_name(*sig)
            );
        }
        _ => note!("gosyms: the command runs on untraced; waiting for it to exit"),
    }
    Ok(spawn::exit_code(ch.wait()?))
}

fn summary(
    sink: &EventSink,
    decoder: &Decoder<'_, '_>,
    counts: &probe::Counts,
    stop: &Stop,
    paired: bool,
) {
    let mut e = io::stderr().lock();
    let mut line = format!(
        "gosyms: stopped ({stop}): {} {}, {} dropped (ring buffer full)",
        count(sink.written as usize, "event", "events"),
        match (&sink.file, sink.stats.is_some() || sink.metrics.is_some()) {
            (Some(_), _) => "written",
            // --stats: the kernel sends no events, only counts.
            (None, true) => "sent",
            // Spans only: every event read became part of a span.
            (None, false) => "read",
        },
        counts.drops
    );
    for (n, why) in [
        (sink.over_limit, "not written (--max-events)"),
        (sink.unwritable, "not written (output closed or failed)"),
        (sink.undecodable, "undecodable"),
    ] {
        if n > 0 {
            line.push_str(&format!(", {n} {why}"));
        }
    }
    // What the kernel counted instead of sending.
    for (n, one, many, why) in [
        (counts.filtered_calls, "call", "calls", "filtered out"),
        (
            counts.filtered_returns,
            "return",
            "returns",
            "filtered out (of calls filtered out or not seen)",
        ),
        (
            counts.unkept,
            "call",
            "calls",
            "not followed (too many in flight)",
        ),
        (counts.replaced, "kept call", "kept calls", "never returned"),
        (
            counts.kept_pending,
            "kept call",
            "kept calls",
            "still running",
        ),
        (
            counts.aggregated,
            "probe hit",
            "probe hits",
            "counted in --stats",
        ),
    ] {
        if n > 0 {
            line.push_str(&format!(", {} {why}", count(n as usize, one, many)));
        }
    }
    let _ = writeln!(e, "{line}");
    if counts.untimed > 0 {
        let _ = writeln!(
            e,
            "gosyms: {} without a latency (too many calls in flight)",
            count(counts.untimed as usize, "call", "calls")
        );
    }
    let p = &decoder.pairing;
    let unpaired: Vec<String> = [
        (
            p.unpaired_calls,
            "call",
            "calls",
            "without a seen return (panic, tail call)",
        ),
        (
            p.unpaired_returns,
            "return",
            "returns",
            "without a seen call (the call started before tracing)",
        ),
        (p.pending(), "call", "calls", "still running"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many, why)| format!("{} {why}", count(n as usize, one, many)))
    .collect();
    if paired && !unpaired.is_empty() {
        let _ = writeln!(e, "gosyms: {}", unpaired.join(", "));
    }
    let mut rows: Vec<(usize, u64, u64)> = sink
        .calls
        .iter()
        .zip(&sink.returns)
        .enumerate()
        .filter(|(_, (c, r))| **c + **r > 0)
        .map(|(i, (c, r))| (i, *c, *r))
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let _ = writeln!(
        e,
        "  {:>10} {:>10} {:>10} {:>10} {:>10}  function",
        "calls", "returns", "total", "mean", "max"
    );
    for (i, c, r) in rows.iter().take(50) {
        let l = sink.latency.get(*i).copied().unwrap_or_default();
        let (total, mean, max) = match l.total_ns.checked_div(l.count) {
            Some(mean) => (human_ns(l.total_ns), human_ns(mean), human_ns(l.max_ns)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            e,
            "  {c:>10} {r:>10} {total:>10} {mean:>10} {max:>10}  {}",
            decoder.name(*i)
        );
    }
    if rows.len() > 50 {
        let _ = writeln!(e, "  ... and {} more functions", rows.len() - 50);
    }
}

/// What the resource says about the program: names from the build info.
fn program_info(bin: &GoBinary<'_>, a: &TraceArgs, executable: &Path) -> Program {
    let info = bin.build_info.as_ref();
    let main = info
        .and_then(|b| b.main.as_ref())
        .filter(|m| !m.path.is_empty());
    Program {
        service_name: a.service_name.clone(),
        main_module: main
            .map(|m| m.path.clone())
            .or_else(|| info.and_then(|b| b.path.clone()))
            .filter(|p| !p.is_empty()),
        service_version: main
            .map(|m| m.version.clone())
            .filter(|v| !v.is_empty() && v != "(devel)"),
        executable_path: executable.display().to_string(),
        go_version: info.map(|b| b.go_version.clone()),
    }
}

/// Where the spans went.
fn otlp_summary(r: &export::otlp::ExportReport) {
    delivery_line(
        "OTLP",
        &count(r.spans as usize, "span", "spans"),
        (r.exported, &r.traces_url, r.dropped, r.failed),
        r.last_error.as_deref(),
    );
}

/// Where the `--stats` metrics went.
fn metrics_summary(r: &export::otlp::MetricsReport) {
    delivery_line(
        "OTLP metrics",
        &count(r.reports as usize, "report", "reports"),
        (r.exported, &r.metrics_url, r.dropped, r.failed),
        r.last_error.as_deref(),
    );
}

/// One line on an exporter's `items`: (exported, to where, dropped, failed), and its last
/// error.
fn delivery_line(
    exporter: &str,
    items: &str,
    (exported, url, dropped, failed): (u64, &str, u64, u64),
    last_error: Option<&str>,
) {
    let mut line = format!(
        "gosyms: {exporter}: {items}: {exported} exported to {url}, {dropped} dropped (queue full), {failed} failed (receiver errors)"
    );
    if let Some(e) = last_error {
        line.push_str(&format!("; last error: {e}"));
    }
    note!("{line}");
}

/// One event as a JSON object on one line (the wire form: README, "JSON output").
fn write_json(out: &mut impl Write, ev: &TraceEvent, name: &str) -> io::Result<()> {
    probe::json::write_event(out, ev, name)
}

fn write_text(out: &mut impl Write, ev: &TraceEvent, name: &str) -> io::Result<()> {
    let secs = ev.ts_ns / 1_000_000_000;
    let nanos = ev.ts_ns % 1_000_000_000;
    let g = ev
        .goid
        .map_or_else(|| "g?".to_string(), |g| format!("g{g}"));
    let values = ev.values.text();
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
        )?;
        for f in ev.stack.iter().flatten() {
            let at = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!(" at {file}:{line}"),
                (Some(file), None) => format!(" at {file}"),
                _ => String::new(),
            };
            let inlined = if f.inlined { " (inlined)" } else { "" };
            writeln!(out, "        {}{at}{inlined}", f.function)?;
        }
        Ok(())
    }
}

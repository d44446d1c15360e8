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
//! an OTLP exporter; all of them are [`EventOutput`]s.

use crate::spawn::{self, Child};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use export::clock::ClockOffsets;
use export::otlp::{OtlpConfig, Program, SpanExporter};
use export::perfetto::PerfettoWriter;
use export::EventOutput;
use pclntab::GoBinary;
use probe::{
    AttachPoint, DecodedFunction, Decoder, DynTypes, FunctionCapture, GoroutineAccess, Limits,
    Refused, Scope, SiteKind, TraceEvent, Tracer,
};
use serde::Serialize;
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
    /// are posted to URL/v1/traces, as with OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Send spans to the endpoint in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318).
    #[arg(long)]
    otlp: bool,
    /// An OTLP request header (repeatable), on top of OTEL_EXPORTER_OTLP_HEADERS.
    #[arg(long, value_name = "NAME=VALUE")]
    otlp_header: Vec<String>,
    /// The spans' service.name (default: OTEL_SERVICE_NAME, else the binary's main module).
    #[arg(long, value_name = "NAME")]
    service_name: Option<String>,
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

    /// Whether events are written to a file or stdout: always, unless spans are sent and
    /// neither an output nor a format was asked for.
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

/// Notes grouped by text: one line per note, naming the functions it applies to.
#[derive(Default)]
struct Notes(Vec<(String, Vec<String>)>);

impl Notes {
    fn add(&mut self, note: String, function: &str) {
        match self.0.iter_mut().find(|(n, _)| *n == note) {
            Some((_, fs)) if fs.last().is_some_and(|f| f == function) => {}
            Some((_, fs)) => fs.push(function.to_string()),
            None => self.0.push((note, vec![function.to_string()])),
        }
    }

    /// Prints each note once, naming up to `names` of its functions.
    fn print(&self, names: usize) {
        for (note, functions) in self.0.iter().take(20) {
            let shown = functions
                .iter()
                .take(names)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            match functions.len() {
                n if n <= names => eprintln!("gosyms: {shown}: {note}"),
                n => eprintln!("gosyms: {shown} and {} more: {note}", n - names),
            }
        }
        if self.0.len() > 20 {
            eprintln!("gosyms: ... and {} more notes", self.0.len() - 20);
        }
    }
}

/// What to load and attach for the plans.
struct ProbeSet {
    specs: Vec<probe::ProbeSpec>,
    points: Vec<AttachPoint>,
    functions: Vec<DecodedFunction>,
    /// Functions left out before attaching (an entry the kernel would refuse).
    skipped: usize,
    /// The binary's dynamic types, with their recipes.
    dyn_types: DynTypes,
}

/// Specs and attach points for the plans: spec `2i` is function `i`'s entry, `2i + 1` its
/// returns. Sites the kernel would refuse are left out here, with a note.
fn probe_set(
    plans: &[resolver::Plan],
    bin: &GoBinary<'_>,
    a: &TraceArgs,
    notes: &mut Notes,
) -> Result<ProbeSet> {
    let arch = probe::Arch::of_binary(bin)?;
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
        depth: a.depth,
    };
    // The binary's own types: map layouts, and a recipe for each dynamic type.
    let described = bin.type_descs().ok().map(|d| {
        resolver::described::DescribedTypes::new(d, u64::from(bin.container.ptr_size), a.depth)
    });
    let maps = |t: &resolver::types::GoType| {
        described
            .as_ref()
            .and_then(|d| probe::dynamic::map_layout(d.descs(), t))
    };
    let dyn_types = described
        .as_ref()
        .map(|d| DynTypes::build(d, limits, &maps))
        .unwrap_or_default();
    let code_at = |offset: u64| {
        usize::try_from(offset)
            .ok()
            .and_then(|o| bin.container.file.get(o..))
            .unwrap_or_default()
    };
    let mut set = ProbeSet {
        specs: Vec::with_capacity(2 * plans.len()),
        points: Vec::new(),
        functions: Vec::with_capacity(plans.len()),
        skipped: 0,
        dyn_types: DynTypes::default(),
    };
    for (i, plan) in plans.iter().enumerate() {
        let cap =
            FunctionCapture::new(plan, GoroutineAccess::for_plan(plan, fsbase), limits, &maps);
        let site_offset = |vaddr: u64| u32::try_from(vaddr - plan.entry.vaddr);
        probe::validate(&plan.function, &cap.entry)?;
        probe::validate(&plan.function, &cap.ret)?;
        let entry_spec = u32::try_from(2 * i)?;
        let entry = plan.entry_probe;
        if let Some(why) = probe::uprobe_refusal(arch, code_at(entry.file_offset)) {
            notes.add(
                format!("not traced: the kernel cannot probe its entry ({why})"),
                &plan.function,
            );
            set.skipped += 1;
        } else {
            set.points.push(AttachPoint {
                file_offset: entry.file_offset,
                spec: entry_spec,
                site_offset: site_offset(entry.vaddr)?,
                kind: SiteKind::Entry,
            });
            for r in plan.returns.iter().filter(|_| !a.no_returns) {
                if let Some(why) = probe::uprobe_refusal(arch, code_at(r.file_offset)) {
                    notes.add(
                        format!("a return at {:#x} is not probed ({why})", r.vaddr),
                        &plan.function,
                    );
                    continue;
                }
                set.points.push(AttachPoint {
                    file_offset: r.file_offset,
                    spec: entry_spec + 1,
                    site_offset: site_offset(r.vaddr)?,
                    kind: SiteKind::Return,
                });
            }
            // The resolver notes functions without return instructions already.
            if let (Some(why), false) = (&plan.returns_unsupported, a.no_returns) {
                notes.add(format!("calls only ({why})"), &plan.function);
            }
            for n in plan.notes.iter().chain(&cap.notes) {
                notes.add(n.clone(), &plan.function);
            }
        }
        set.specs.push(cap.entry);
        set.specs.push(cap.ret);
        set.functions.push(DecodedFunction {
            name: plan.function.clone(),
            entry: cap.entry_values,
            ret: cap.ret_values,
            entry_vaddr: plan.entry.vaddr,
        });
    }
    set.dyn_types = dyn_types;
    if set.points.is_empty() {
        bail!("none of the matching functions can be probed");
    }
    Ok(set)
}

/// Says which sites the kernel refused (one line per function) and how many functions are
/// still traced.
fn report_refused(refused: &[Refused], functions: &[DecodedFunction]) -> usize {
    let mut notes = Notes::default();
    let mut lost_entries = std::collections::BTreeSet::new();
    for r in refused {
        const ENOTSUPP: i32 = 524;
        let error = match r.error.raw_os_error() {
            Some(ENOTSUPP) => "ENOTSUPP: an instruction it will not single-step".to_string(),
            _ => r.error.to_string(),
        };
        let i = (r.point.spec / 2) as usize;
        let name = functions.get(i).map_or("?", |f| f.name.as_str());
        let note = match r.point.kind {
            SiteKind::Entry => {
                lost_entries.insert(i);
                format!("not traced: the kernel refused its entry probe ({error})")
            }
            SiteKind::Return => {
                format!("some returns not probed: the kernel refused them ({error})")
            }
        };
        notes.add(note, name);
    }
    notes.print(20);
    lost_entries.len()
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
struct EventSink<'a, 'data> {
    /// JSON Lines, text or Perfetto, unless only spans are sent.
    file: Option<Box<dyn EventOutput>>,
    /// OTLP spans.
    spans: Option<SpanExporter>,
    decoder: Decoder<'a, 'data>,
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
    calls: Vec<u64>,
    returns: Vec<u64>,
}

impl<'a, 'data> EventSink<'a, 'data> {
    fn new(
        file: Option<Box<dyn EventOutput>>,
        spans: Option<SpanExporter>,
        decoder: Decoder<'a, 'data>,
        functions: usize,
        max_events: Option<u64>,
    ) -> Self {
        EventSink {
            file,
            spans,
            decoder,
            max_events,
            written: 0,
            unflushed: 0,
            over_limit: 0,
            unwritable: 0,
            undecodable: 0,
            write_error: None,
            calls: vec![0; functions],
            returns: vec![0; functions],
        }
    }

    fn limit_reached(&self) -> bool {
        self.max_events.is_some_and(|m| self.written >= m)
    }

    /// One event from the ring buffer.
    fn take(&mut self, bytes: &[u8]) {
        if self.write_error.is_some() {
            self.unwritable += 1;
            return;
        }
        if self.limit_reached() {
            self.over_limit += 1;
            return;
        }
        let Some(ev) = self.decoder.decode(bytes) else {
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
        let name = self.decoder.name(ev.function);
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
    let mut notes = Notes::default();
    let set = probe_set(&plans, bin, a, &mut notes)?;
    notes.print(3);
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
    let mut tracer = Tracer::load(&set.specs, &set.dyn_types, a.buffer_mib << 20)?;
    let loaded = load_start.elapsed();
    let attach_start = Instant::now();
    let (refused, mut child, watch) = match target {
        Target::All(_) => (tracer.attach(path, &set.points, Scope::All)?, None, None),
        Target::Pid(pid) => (
            tracer.attach(path, &set.points, Scope::Pid(*pid))?,
            None,
            Some(ProcessWatch::new(*pid)),
        ),
        Target::Command(program) => {
            let (ch, gate) = spawn::spawn_stopped(program, &a.command, a.events_to_stdout())?;
            let pid = NonZeroU32::new(ch.id()).ok_or_else(|| anyhow!("child pid 0"))?;
            match tracer.attach(path, &set.points, Scope::Pid(pid)) {
                // A signal while attaching: the command never runs.
                Ok(_) if spawn::stop_signal().is_some() => {
                    ch.kill_unstarted();
                    eprintln!("gosyms: interrupted before the command started");
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
    let lost = report_refused(&refused, &set.functions);
    let traced = plans.len() - set.skipped - lost;
    eprintln!(
        "gosyms: tracing {} with {} (program loaded in {} ms, attached in {} ms)",
        count(traced, "function", "functions"),
        count(tracer.attached(), "uprobe", "uprobes"),
        loaded.as_millis(),
        attach_time.as_millis()
    );

    // The running file (through /proc/PID/exe with --pid).
    let executable = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
    let clocks = ClockOffsets::measure();
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
    let spans = match otlp {
        Some(config) => {
            let names = set.functions.iter().map(|f| f.name.clone()).collect();
            let program = program_info(bin, a, &executable);
            Some(
                SpanExporter::start(config, program, names, clocks)
                    .context("starting the OTLP exporter")?,
            )
        }
        None => None,
    };
    let decoder = Decoder::new(bin, set.functions, set.dyn_types);
    let max_events = a.max_events.map(NonZeroU64::get);
    let mut sink = EventSink::new(file, spans, decoder, plans.len(), max_events);
    let start = Instant::now();
    let stop = loop {
        tracer.poll(Duration::from_millis(50), |bytes| sink.take(bytes))?;
        sink.flush();
        if let Some(e) = sink.spans.as_ref().and_then(SpanExporter::take_first_error) {
            eprintln!("gosyms: OTLP export: {e} (spans that cannot be delivered are counted)");
        }
        if let Some(stop) = sink.stop() {
            break stop;
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
    // drop counter are complete.
    let probes = tracer.attached();
    let detach_start = Instant::now();
    tracer.detach();
    let detach_time = detach_start.elapsed();
    while tracer.drain(&mut |bytes| sink.take(bytes)) > 0 {}
    sink.flush();
    sink.finish();
    let drops = tracer.drops();
    drop(tracer);
    eprintln!(
        "gosyms: detached {} in {} ms",
        count(probes, "uprobe", "uprobes"),
        detach_time.as_millis()
    );
    summary(&sink, drops, &stop, !a.no_returns);
    if let Some(spans) = sink.spans.take() {
        otlp_summary(&spans.shutdown());
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

/// Tracing stopped while the command runs: pass a stopping signal on, and wait for it as a
/// shell would (a second signal ends gosyms at once).
fn wait_for_command(mut ch: Child, stop: &Stop) -> Result<ExitCode> {
    match stop {
        Stop::Signal(sig) => {
            ch.forward_stop_signal();
            eprintln!(
                "gosyms: passed {} to the command; waiting for it to exit",
                spawn::signal_name(*sig)
            );
        }
        _ => eprintln!("gosyms: the command runs on untraced; waiting for it to exit"),
    }
    Ok(spawn::exit_code(ch.wait()?))
}

fn summary(sink: &EventSink<'_, '_>, drops: u64, stop: &Stop, paired: bool) {
    let mut e = io::stderr().lock();
    let mut line = format!(
        "gosyms: stopped ({stop}): {} {}, {drops} dropped (ring buffer full)",
        count(sink.written as usize, "event", "events"),
        if sink.file.is_some() {
            "written"
        } else {
            "read"
        }
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
    let _ = writeln!(e, "{line}");
    let p = &sink.decoder.pairing;
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
    let _ = writeln!(e, "  {:>10} {:>10}  function", "calls", "returns");
    for (i, c, r) in rows.iter().take(50) {
        let _ = writeln!(e, "  {c:>10} {r:>10}  {}", sink.decoder.name(*i));
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
    let mut line = format!(
        "gosyms: OTLP: {}: {} exported to {}, {} dropped (queue full), {} failed (receiver errors)",
        count(r.spans as usize, "span", "spans"),
        r.exported,
        r.traces_url,
        r.dropped,
        r.failed
    );
    if let Some(e) = &r.last_error {
        line.push_str(&format!("; last error: {e}"));
    }
    eprintln!("{line}");
}

/// One event as a JSON object on one line (the wire form: README, "JSON output").
#[derive(Serialize)]
struct JsonEvent<'a> {
    event: &'a str,
    #[serde(rename = "fn")]
    function: &'a str,
    ts_ns: u64,
    pid: u32,
    tid: u32,
    goid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<&'a probe::Values>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<&'a probe::Values>,
    /// Returns only; `null` when the call was not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    dur_ns: Option<Option<u64>>,
}

fn write_json(out: &mut impl Write, ev: &TraceEvent, name: &str) -> io::Result<()> {
    let (event, args, ret, dur_ns) = if ev.is_return {
        ("return", None, Some(&ev.values), Some(ev.dur_ns))
    } else {
        ("call", Some(&ev.values), None, None)
    };
    let line = JsonEvent {
        event,
        function: name,
        ts_ns: ev.ts_ns,
        pid: ev.pid,
        tid: ev.tid,
        goid: ev.goid,
        args,
        ret,
        dur_ns,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
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
        )
    }
}

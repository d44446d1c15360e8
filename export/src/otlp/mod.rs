//! OpenTelemetry spans over OTLP/HTTP (protobuf), as the SDKs send them; `--stats` as
//! metrics ([`metrics`]), with the same resource, scope and delivery.
//!
//! One span per call: its name is the function, its start and end the call's and the return's
//! `CLOCK_MONOTONIC` times moved to Unix time ([`crate::clock`]). A call made while another
//! traced call is open on the same goroutine is that call's child, in its trace; a call with no
//! open traced caller starts a new trace. Trace and span ids are random (SplitMix64 seeded from
//! the kernel's `getrandom`; span ids never repeat within a run).
//!
//! The tracer's thread only builds a small record per finished call and offers it to a bounded
//! queue ([`std::sync::mpsc::sync_channel`], `try_send`): when the queue is full the span is
//! dropped and counted, so a slow or dead receiver never slows the traced program. A thread of
//! its own (`send.rs`) turns records into OTLP messages, batches them, posts them and retries.
//!
//! Attributes (README, "OpenTelemetry"): `code.function.name`, `thread.id`,
//! `gosyms.goroutine.id`, `gosyms.arg.NAME` and `gosyms.ret.NAME` (nested values flattened
//! with dots: `gosyms.arg.s.value.Name`, `gosyms.arg.xs.elems.0`), and for a call that did not
//! return normally `gosyms.incomplete` with an error status. The resource: `service.name`,
//! `service.version`, `host.name`, `process.pid`, `process.executable.path`,
//! `process.runtime.name` (`go`), `process.runtime.version`, and `OTEL_RESOURCE_ATTRIBUTES`.

pub mod config;
pub mod metrics;
mod send;

pub use config::{ConfigError, Endpoint, OtlpConfig, DEFAULT_ENDPOINT};
pub use metrics::{MetricsExporter, MetricsReport};

use crate::calls::CallTree;
use crate::clock::ClockOffsets;
use crate::values::Decoded;
use crate::EventOutput;
use crate::{RETURN_NOT_SEEN, STILL_RUNNING};
use probe::TraceEvent;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What the resource says about the traced program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// `--service-name`.
    pub service_name: Option<String>,
    /// The main module's path (else the main package's) from the build info.
    pub main_module: Option<String>,
    /// `service.version`: the main module's version, unless it is `(devel)`.
    pub service_version: Option<String>,
    /// `process.executable.path`.
    pub executable_path: String,
    /// `process.runtime.version`: the Go version that built it (`go1.27.3`).
    pub go_version: Option<String>,
}

/// `service.name`: `--service-name`, else `OTEL_SERVICE_NAME`, else `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`, else the main module's path, else `unknown_service:` and the
/// executable's name (the SDKs' default).
pub fn service_name(config: &OtlpConfig, program: &Program) -> String {
    let from_attributes = config
        .resource_attributes
        .iter()
        .rev()
        .find(|(k, _)| k == "service.name")
        .map(|(_, v)| v.clone());
    program
        .service_name
        .clone()
        .or_else(|| config.service_name.clone())
        .or(from_attributes)
        .or_else(|| program.main_module.clone())
        .unwrap_or_else(|| {
            let exe = std::path::Path::new(&program.executable_path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("unknown_service:{exe}")
        })
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanEnd {
    /// At its return.
    Returned,
    /// Its return was not seen (a panic, a tail call): ended when a later event on its
    /// goroutine showed it had returned.
    ReturnNotSeen,
    /// Still running when tracing stopped: ended then.
    StillRunning,
}

/// An open call: what its span needs.
struct OpenSpan {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    function: usize,
    start_ns: u64,
    pid: u32,
    tid: u32,
    goid: Option<u64>,
    args: Decoded,
}

/// A finished call, on its way to the sending thread.
pub(crate) struct SpanRecord {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub function: usize,
    /// `CLOCK_MONOTONIC`.
    pub start_ns: u64,
    /// `CLOCK_MONOTONIC`.
    pub end_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub goid: Option<u64>,
    pub args: Decoded,
    pub ret: Option<Decoded>,
    pub end: SpanEnd,
}

impl OpenSpan {
    fn finish(self, end_ns: u64, ret: Option<Decoded>, end: SpanEnd) -> SpanRecord {
        SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent: self.parent,
            function: self.function,
            start_ns: self.start_ns,
            end_ns,
            pid: self.pid,
            tid: self.tid,
            goid: self.goid,
            args: self.args,
            ret,
            end,
        }
    }
}

/// Random ids: SplitMix64 from a seed the kernel gives. Its outputs for distinct counters are
/// distinct, so span ids never repeat within a run.
struct Ids {
    state: u64,
}

impl Ids {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let seed = if n == 8 {
            u64::from_ne_bytes(seed)
        } else {
            // No getrandom (never on the kernels gosyms traces): time and pid still differ
            // between runs.
            crate::clock::monotonic_now() ^ u64::from(std::process::id()) << 40
        };
        Ids { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A span id: never all zeros (invalid in OTLP).
    fn span_id(&mut self) -> [u8; 8] {
        loop {
            let id = self.next();
            if id != 0 {
                return id.to_be_bytes();
            }
        }
    }

    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        let (hi, lo) = id.split_at_mut(8);
        hi.copy_from_slice(&self.next().to_be_bytes());
        lo.copy_from_slice(&self.span_id());
        id
    }
}

/// Counts shared with a sending thread: of spans, or of metrics reports.
#[derive(Default)]
pub(crate) struct Shared {
    /// Spans (reports) the receiver accepted.
    pub exported: AtomicU64,
    /// Spans (reports) given up on: errors after retries, rejected by the receiver, or not delivered
    /// when the final flush ran out of time.
    pub failed: AtomicU64,
    /// Whether an error happened yet.
    pub any_error: AtomicBool,
    /// The first error, until the CLI has shown it.
    pub first_error: Mutex<Option<String>>,
    /// The last error.
    pub last_error: Mutex<Option<String>>,
    /// When tracing stopped: the final flush gives up the configured timeout after it.
    pub closing: Mutex<Option<Instant>>,
}

/// A bounded queue to a sending thread and the counts the thread shares back: what the span
/// and the metrics exporters have in common. Offering never waits.
pub(crate) struct Worker<T> {
    queue: Option<SyncSender<T>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What became of an item offered to a [`Worker`].
pub(crate) enum Offered {
    Queued,
    /// The queue was full (the receiver is slower than the program): dropped.
    Full,
    /// The sending thread is gone (it never ends early) or the queue is closed: lost.
    Gone,
}

/// What the sending thread delivered, once it is done.
pub(crate) struct Delivered {
    pub exported: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts thread `name` running `send` on the far end of a queue of `capacity` items;
    /// `shared` is what `send` counts into.
    pub fn start(
        name: &str,
        capacity: usize,
        shared: Arc<Shared>,
        send: impl FnOnce(Receiver<T>) + Send + 'static,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || send(rx))?;
        Ok(Worker {
            queue: Some(tx),
            thread: Some(thread),
            shared,
        })
    }

    /// Queues `item` without waiting.
    pub fn offer(&self, item: T) -> Offered {
        match self.queue.as_ref().map(|q| q.try_send(item)) {
            Some(Ok(())) => Offered::Queued,
            Some(Err(TrySendError::Full(_))) => Offered::Full,
            Some(Err(TrySendError::Disconnected(_))) | None => Offered::Gone,
        }
    }

    /// The first export error, once (for a live warning).
    pub fn take_first_error(&self) -> Option<String> {
        self.shared
            .first_error
            .lock()
            .map_or(None, |mut e| e.take())
    }

    /// Closes the queue and waits for the sending thread to deliver what is left (retrying
    /// for at most the configured timeout).
    pub fn finish(&mut self) -> Delivered {
        if let Ok(mut c) = self.shared.closing.lock() {
            *c = Some(Instant::now());
        }
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Delivered {
            exported: self.shared.exported.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            last_error: self.shared.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// How the export went, once it is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Where the spans went.
    pub traces_url: String,
    /// Spans made: one per call.
    pub spans: u64,
    /// Of those, ended by their return.
    pub returned: u64,
    /// Of those, with a return that was not seen (marked).
    pub return_not_seen: u64,
    /// Of those, still running when tracing stopped (marked).
    pub still_running: u64,
    /// Accepted by the receiver.
    pub exported: u64,
    /// Dropped because the queue was full (the receiver was slower than the program).
    pub dropped: u64,
    /// Given up on: receiver errors after retries, rejected spans, or undelivered at the end.
    pub failed: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Turns events into spans and hands them to the sending thread.
pub struct SpanExporter {
    calls: CallTree<OpenSpan>,
    ids: Ids,
    worker: Worker<SpanRecord>,
    report: ExportReport,
}

impl SpanExporter {
    /// Starts the sending thread. `functions` are the traced functions' names (the events'
    /// function indices); `clocks` moves event times to Unix time.
    pub fn start(
        config: OtlpConfig,
        program: Program,
        functions: Vec<String>,
        clocks: ClockOffsets,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let traces_url = config.traces.url.clone();
        let capacity = config.queue_size;
        let sender = send::Sender::new(config, program, functions, clocks, Arc::clone(&shared));
        let worker = Worker::start("gosyms-otlp", capacity, shared, move |rx| sender.run(rx))?;
        Ok(SpanExporter {
            calls: CallTree::default(),
            ids: Ids::new(),
            worker,
            report: ExportReport {
                traces_url,
                ..Default::default()
            },
        })
    }

    fn offer(worker: &Worker<SpanRecord>, report: &mut ExportReport, r: SpanRecord) {
        report.spans += 1;
        match r.end {
            SpanEnd::Returned => report.returned += 1,
            SpanEnd::ReturnNotSeen => report.return_not_seen += 1,
            SpanEnd::StillRunning => report.still_running += 1,
        }
        match worker.offer(r) {
            Offered::Queued => {}
            Offered::Full => report.dropped += 1,
            Offered::Gone => report.failed += 1,
        }
    }

    /// The first export error, once (for a live warning).
    pub fn take_first_error(&self) -> Option<String> {
        self.worker.take_first_error()
    }

    /// Closes the queue, waits for the sending thread to deliver what is left (retrying for
    /// at most the configured timeout), and reports.
    pub fn shutdown(mut self) -> ExportReport {
        let d = self.worker.finish();
        ExportReport {
            exported: d.exported,
            failed: self.report.failed + d.failed,
            last_error: d.last_error,
            ..self.report
        }
    }
}

impl EventOutput for SpanExporter {
    fn event(&mut self, ev: &TraceEvent, bytes: &[u8], _name: &str) -> io::Result<()> {
        let raw = &crate::raw(bytes)?;
        let SpanExporter {
            calls,
            ids,
            worker,
            report,
            ..
        } = self;
        let mut unseen = Vec::new();
        let returned = if ev.is_return {
            calls.ret(raw, ev.function, |o| unseen.push(o))
        } else {
            calls.call(
                raw,
                ev.function,
                |o| unseen.push(o),
                |parent| OpenSpan {
                    trace_id: parent.map_or_else(|| ids.trace_id(), |p| p.trace_id),
                    span_id: ids.span_id(),
                    parent: parent.map(|p| p.span_id),
                    function: ev.function,
                    start_ns: ev.ts_ns,
                    pid: ev.pid,
                    tid: ev.tid,
                    goid: ev.goid,
                    args: ev.values.clone(),
                },
            );
            None
        };
        for o in unseen {
            Self::offer(
                worker,
                report,
                o.finish(ev.ts_ns, None, SpanEnd::ReturnNotSeen),
            );
        }
        if let Some(open) = returned {
            let r = open.finish(ev.ts_ns, Some(ev.values.clone()), SpanEnd::Returned);
            Self::offer(worker, report, r);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, now_ns: u64) -> io::Result<()> {
        let open: Vec<OpenSpan> = self.calls.drain().collect();
        for o in open {
            let r = o.finish(now_ns, None, SpanEnd::StillRunning);
            Self::offer(&self.worker, &mut self.report, r);
        }
        Ok(())
    }
}

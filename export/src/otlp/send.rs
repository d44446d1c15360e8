//! The sending thread: records to OTLP messages, batches, HTTP posts, retries.
//!
//! A batch goes out when it holds `batch_size` spans or its first span has waited
//! `schedule_delay`. A post that fails in a way the OTLP specification calls retryable (HTTP
//! 429, 502, 503, 504, or no connection, or a timeout) is retried up to [`MAX_ATTEMPTS`] times,
//! waiting 250 ms, then twice as long each time up to 2 s, or what `Retry-After` asks (at most
//! 60 s). Any other answer fails the batch at once, as the specification says (HTTP 500 among
//! them). While a batch waits, the queue behind it fills and the tracer drops spans: memory
//! stays bounded, and every span is counted as exported, dropped or failed.
//!
//! When tracing stops the queue is closed; what is left is sent, and retries stop once the
//! configured timeout has passed since then: spans still undelivered count as failed.
//!
//! The posting and the retries ([`Delivery`]) are the metrics' too (`metrics.rs`), which post
//! one report per request from a thread of their own and count reports instead of spans.

use super::{Program, Shared, SpanEnd, SpanRecord};
use crate::clock::ClockOffsets;
use crate::otlp::{Endpoint, OtlpConfig};
use crate::values::{attribute, flatten};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts per batch, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How often the queue is emptied.
const POLL: Duration = Duration::from_millis(20);
/// W3C trace flags "sampled", and "the parent is known not to be remote" (OTLP span flags).
const SPAN_FLAGS: u32 = 0x01 | 0x100;

/// How one post went.
enum Outcome {
    /// The receiver took the batch; it may have rejected some spans.
    Accepted { rejected: u64, message: String },
    /// Worth another try (after `after`, if the receiver said).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Not worth another try.
    Fail(String),
}

/// Posts one signal's requests to its endpoint, with retries, counting what it delivers and
/// what it gives up on in `shared`. Spans count spans; metrics count reports.
pub(crate) struct Delivery {
    endpoint: Endpoint,
    agent: ureq::Agent,
    shared: Arc<Shared>,
    /// The items a receiver may reject in part (`spans`, `data points`), for messages.
    rejected_items: &'static str,
    /// How many items the receiver's answer says it rejected, and why.
    partial_success: fn(&[u8]) -> Option<(i64, String)>,
    /// The cause of the last failed attempt.
    last_cause: RefCell<String>,
    /// Tracing has stopped and a request failed since: the rest fail at once.
    given_up: Cell<bool>,
}

pub(crate) struct Sender {
    config: OtlpConfig,
    delivery: Delivery,
    /// Resource attributes but `process.pid`.
    resource: Vec<KeyValue>,
    scope: InstrumentationScope,
    functions: Vec<String>,
    clocks: ClockOffsets,
}

/// The instrumentation scope of everything gosyms sends.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "gosyms".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// The spans' answer: rejected spans.
fn spans_rejected(answer: &[u8]) -> Option<(i64, String)> {
    let p = ExportTraceServiceResponse::decode(answer)
        .ok()?
        .partial_success?;
    Some((p.rejected_spans, p.error_message))
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    std::str::from_utf8(buf.get(..end)?)
        .ok()
        .map(str::to_string)
}

/// The resource's attributes for `program` (all but `process.pid`), `OTEL_RESOURCE_ATTRIBUTES`
/// taking precedence over what gosyms finds, and `service.name` from [`super::service_name`].
pub(crate) fn resource_attributes(config: &OtlpConfig, program: &Program) -> Vec<KeyValue> {
    use any_value::Value::StringValue as S;
    let mut found: Vec<(String, String)> = Vec::new();
    if let Some(v) = &program.service_version {
        found.push(("service.version".into(), v.clone()));
    }
    if let Some(h) = hostname() {
        found.push(("host.name".into(), h));
    }
    found.push((
        "process.executable.path".into(),
        program.executable_path.clone(),
    ));
    if let Some(name) = std::path::Path::new(&program.executable_path).file_name() {
        found.push((
            "process.executable.name".into(),
            name.to_string_lossy().into_owned(),
        ));
    }
    if let Some(v) = &program.go_version {
        found.push(("process.runtime.name".into(), "go".into()));
        found.push(("process.runtime.version".into(), v.clone()));
    }
    for (k, v) in &config.resource_attributes {
        found.retain(|(name, _)| name != k);
        found.push((k.clone(), v.clone()));
    }
    found.retain(|(name, _)| name != "service.name");
    let mut attrs = vec![attribute(
        "service.name",
        S(super::service_name(config, program)),
    )];
    attrs.extend(found.into_iter().map(|(k, v)| attribute(k, S(v))));
    attrs
}

impl Sender {
    pub(crate) fn new(
        config: OtlpConfig,
        program: Program,
        functions: Vec<String>,
        clocks: ClockOffsets,
        shared: Arc<Shared>,
    ) -> Self {
        Sender {
            resource: resource_attributes(&config, &program),
            delivery: Delivery::new(config.traces.clone(), shared, "spans", spans_rejected),
            config,
            scope: scope(),
            functions,
            clocks,
        }
    }

    /// Runs until the queue is closed and what was left in it is delivered or given up on.
    ///
    /// It takes what is queued every [`POLL`] rather than waiting on the queue: a receiver
    /// blocked on the queue would be woken (a futex call and a context switch) for every
    /// span the tracer offers, which cost more than building the span.
    pub(crate) fn run(self, queue: Receiver<SpanRecord>) {
        let mut batch = Vec::with_capacity(self.config.batch_size);
        let mut due: Option<Instant> = None;
        let poll = POLL
            .min(self.config.schedule_delay)
            .max(Duration::from_millis(1));
        loop {
            let closed = loop {
                match queue.try_recv() {
                    Ok(r) => {
                        if batch.is_empty() {
                            due = Some(Instant::now() + self.config.schedule_delay);
                        }
                        batch.push(r);
                        if batch.len() >= self.config.batch_size {
                            self.export(&mut batch);
                            due = None;
                        }
                    }
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
            };
            if closed {
                break;
            }
            if due.is_some_and(|d| Instant::now() >= d) {
                self.export(&mut batch);
                due = None;
            }
            std::thread::sleep(poll);
        }
        if !batch.is_empty() {
            self.export(&mut batch);
        }
    }

    /// Sends `batch` (emptying it), with retries.
    fn export(&self, batch: &mut Vec<SpanRecord>) {
        let spans = batch.len() as u64;
        let body = self.request(batch.drain(..)).encode_to_vec();
        self.delivery.deliver(&body, spans);
    }

    fn request(&self, records: impl Iterator<Item = SpanRecord>) -> ExportTraceServiceRequest {
        // Few processes per batch (one, unless a binary is traced in every process running it).
        let mut by_pid: Vec<(u32, Vec<Span>)> = Vec::new();
        for r in records {
            let pid = r.pid;
            let span = self.span(r);
            match by_pid.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, spans)) => spans.push(span),
                None => by_pid.push((pid, vec![span])),
            }
        }
        ExportTraceServiceRequest {
            resource_spans: by_pid
                .into_iter()
                .map(|(pid, spans)| {
                    let mut attributes = self.resource.clone();
                    attributes.push(attribute(
                        "process.pid",
                        any_value::Value::IntValue(i64::from(pid)),
                    ));
                    ResourceSpans {
                        resource: Some(Resource {
                            attributes,
                            ..Default::default()
                        }),
                        scope_spans: vec![ScopeSpans {
                            scope: Some(self.scope.clone()),
                            spans,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }
                })
                .collect(),
        }
    }

    fn span(&self, r: SpanRecord) -> Span {
        use any_value::Value::{IntValue, StringValue};
        let name = self
            .functions
            .get(r.function)
            .cloned()
            .unwrap_or_else(|| "?".into());
        let mut attributes = Vec::with_capacity(8);
        attributes.push(attribute("code.function.name", StringValue(name.clone())));
        attributes.push(attribute("thread.id", IntValue(i64::from(r.tid))));
        if let Some(g) = r.goid {
            let v = i64::try_from(g).map_or_else(|_| StringValue(g.to_string()), IntValue);
            attributes.push(attribute("gosyms.goroutine.id", v));
        }
        let status = match r.end {
            SpanEnd::Returned => None,
            SpanEnd::ReturnNotSeen => Some(("return_not_seen", super::RETURN_NOT_SEEN)),
            SpanEnd::StillRunning => Some(("still_running", super::STILL_RUNNING)),
        }
        .map(|(mark, message)| {
            attributes.push(attribute("gosyms.incomplete", StringValue(mark.into())));
            Status {
                message: message.into(),
                code: status::StatusCode::Error as i32,
            }
        });
        let limits = self.config.attribute_limits;
        let mut prefix = String::from("gosyms.arg");
        let mut dropped = flatten(&mut prefix, &r.args, limits, &mut attributes);
        if let Some(ret) = &r.ret {
            let mut prefix = String::from("gosyms.ret");
            dropped += flatten(&mut prefix, ret, limits, &mut attributes);
        }
        Span {
            trace_id: r.trace_id.to_vec(),
            span_id: r.span_id.to_vec(),
            parent_span_id: r.parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags: SPAN_FLAGS,
            name,
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: self.clocks.unix_ns(r.start_ns),
            end_time_unix_nano: self.clocks.unix_ns(r.end_ns),
            attributes,
            dropped_attributes_count: dropped,
            status,
            ..Default::default()
        }
    }
}

impl Delivery {
    pub(crate) fn new(
        endpoint: Endpoint,
        shared: Arc<Shared>,
        rejected_items: &'static str,
        partial_success: fn(&[u8]) -> Option<(i64, String)>,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(endpoint.timeout))
            .user_agent(concat!("gosyms/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Delivery {
            endpoint,
            agent,
            shared,
            rejected_items,
            partial_success,
            last_cause: RefCell::new(String::new()),
            given_up: Cell::new(false),
        }
    }

    /// The time left before the final flush gives up, once tracing has stopped.
    fn left(&self) -> Option<Duration> {
        let closing = self.shared.closing.lock().ok().and_then(|c| *c)?;
        Some((closing + self.endpoint.timeout).saturating_duration_since(Instant::now()))
    }

    /// An attempt failed: the first such error is shown while tracing goes on.
    fn attempt_failed(&self, why: &str) {
        if !self.shared.any_error.swap(true, Ordering::Relaxed) {
            if let Ok(mut first) = self.shared.first_error.lock() {
                *first = Some(why.to_string());
            }
        }
    }

    /// `items` are given up on.
    fn fail(&self, items: u64, why: String) {
        self.attempt_failed(&why);
        if self.left().is_some() {
            self.given_up.set(true);
        }
        self.shared.failed.fetch_add(items, Ordering::Relaxed);
        if let Ok(mut last) = self.shared.last_error.lock() {
            *last = Some(why);
        }
    }

    /// Sends `body`, a request of `items` spans or reports, with retries.
    pub(crate) fn deliver(&self, body: &[u8], items: u64) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let timeout = match self.left() {
                Some(left) if left.is_zero() || self.given_up.get() => {
                    let why = match self.last_cause.borrow().as_str() {
                        "" => "not delivered before the final timeout".to_string(),
                        cause => format!("{cause} (given up when tracing stopped)"),
                    };
                    return self.fail(items, why);
                }
                Some(left) => left.min(self.endpoint.timeout),
                None => self.endpoint.timeout,
            };
            match self.post(body, timeout) {
                Outcome::Accepted { rejected, message } => {
                    // A report is one item: any data point rejected fails it.
                    let failed = rejected.min(items);
                    self.shared
                        .exported
                        .fetch_add(items - failed, Ordering::Relaxed);
                    if rejected > 0 {
                        let what = self.rejected_items;
                        self.fail(
                            failed,
                            format!("the receiver rejected {rejected} {what}: {message}"),
                        );
                    }
                    return;
                }
                Outcome::Retry { why, after } if attempt < MAX_ATTEMPTS => {
                    self.attempt_failed(&format!("{why}; retrying"));
                    let mut wait = after.map_or(backoff, |a| a.min(MAX_RETRY_AFTER));
                    if let Some(left) = self.left() {
                        wait = wait.min(left);
                    }
                    std::thread::sleep(wait);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    *self.last_cause.borrow_mut() = why;
                }
                Outcome::Retry { why, .. } => {
                    *self.last_cause.borrow_mut() = why.clone();
                    return self.fail(items, format!("{why} (after {MAX_ATTEMPTS} attempts)"));
                }
                Outcome::Fail(why) => {
                    *self.last_cause.borrow_mut() = why.clone();
                    return self.fail(items, why);
                }
            }
        }
    }

    fn post(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.endpoint.url)
            .content_type("application/x-protobuf");
        for (k, v) in &self.endpoint.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let sent = req
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body);
        let mut resp = match sent {
            Ok(r) => r,
            Err(
                e @ (ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)),
            ) => {
                return Outcome::Retry {
                    why: e.to_string(),
                    after: None,
                }
            }
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => {
                let (rejected, message) = (self.partial_success)(&answer).unwrap_or_default();
                Outcome::Accepted {
                    rejected: u64::try_from(rejected).unwrap_or(0),
                    message,
                }
            }
            429 | 502 | 503 | 504 => Outcome::Retry {
                why: format!("HTTP {status}{}", snippet(&answer)),
                after,
            },
            _ => Outcome::Fail(format!("HTTP {status}{}", snippet(&answer))),
        }
    }
}

/// `": first line of the answer"` when it is short readable text (receivers answer errors
/// with a protobuf `google.rpc.Status`, or plain text).
fn snippet(answer: &[u8]) -> String {
    match std::str::from_utf8(answer) {
        Ok(s) if !s.trim().is_empty() && s.chars().all(|c| !c.is_control() || c == '\n') => {
            let line = s.trim().lines().next().unwrap_or_default();
            let cut: String = line.chars().take(200).collect();
            format!(": {cut}")
        }
        _ => String::new(),
    }
}

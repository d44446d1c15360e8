//! This crate sends the events of `gosyms trace` where teams look at traces: as OpenTelemetry
//! spans to an OTLP/HTTP receiver ([`otlp`]), and as a Perfetto trace file ([`perfetto`]). Both
//! turn each call and its return into one span or slice, nested under the call that was open on
//! the same goroutine, with the arguments and results as attributes or debug annotations.
//!
//! It does not decode events (that is `probe`'s job) and it never prints: the CLI reads the
//! counts each output keeps and reports them.
//!
//! # Brief overview
//! - [`EventOutput`]: where decoded events go; the CLI's JSON and text writers implement it too.
//! - [`calls::CallTree`]: the calls open on each goroutine, paired with their returns exactly as
//!   `probe` pairs them, so durations agree with the JSON events.
//! - [`clock`]: `CLOCK_MONOTONIC` (the probes' clock) to Unix time, measured once.
//! - [`otlp::SpanExporter`]: spans through a bounded queue to a thread that batches, sends and
//!   retries; the tracer never waits for it.
//! - [`otlp::MetricsExporter`]: `--stats` totals as OTLP metrics, each report through a small
//!   bounded queue to a thread of its own, with the spans' delivery and retries.
//! - [`perfetto::PerfettoWriter`]: TracePackets written as events arrive.
//! - Values become attributes and annotations in one place (`values.rs`).

#![deny(missing_docs)]

pub mod calls;
pub mod clock;
pub mod otlp;
pub mod perfetto;
mod values;

use probe::{Event, TraceEvent};
use std::io;

/// The header of an event that `probe` decoded already (so it parses), for its depth.
pub fn raw(bytes: &[u8]) -> io::Result<Event<'_>> {
    Event::parse(bytes).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "event cut short"))
}

/// Why a call without its return ended where it did (a span's status, a slice's annotation).
const RETURN_NOT_SEEN: &str =
    "return not seen (a panic or a tail call): ended when a later event on its goroutine showed it had returned";
/// Why a call still running ended when tracing stopped.
const STILL_RUNNING: &str = "still running when tracing stopped";

/// A destination for decoded trace events.
pub trait EventOutput {
    /// One event: `ev` decoded from `bytes` (the event as the probe sent it: outputs that
    /// pair returns with calls read its depth on the goroutine's stack with [`raw`]), `name`
    /// the function's name.
    fn event(&mut self, ev: &TraceEvent, bytes: &[u8], name: &str) -> io::Result<()>;

    /// Pushes what was written so far to its destination (once per ring-buffer batch).
    fn flush(&mut self) -> io::Result<()>;

    /// Tracing stopped at `now_ns` (`CLOCK_MONOTONIC`): calls still open end here, marked.
    fn finish(&mut self, now_ns: u64) -> io::Result<()>;
}

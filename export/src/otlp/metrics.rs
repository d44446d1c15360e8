//! `--stats` as OpenTelemetry metrics over OTLP/HTTP (protobuf), as the SDKs send them.
//!
//! Each report is one `ExportMetricsServiceRequest` with the spans' resource and scope and,
//! per function with calls (attribute `code.function.name`, as on spans):
//! - `gosyms.calls`: a monotonic cumulative int Sum, the calls that passed the filters;
//! - `gosyms.errors`: the same, returns with a non-nil error (functions returning an `error`);
//! - `gosyms.call.duration`: a cumulative explicit-bucket Histogram in ns of the returns.
//!
//! The kernel's totals only grow, so every report carries them since tracing started
//! (cumulative temporality, one start time): a report that is lost costs resolution, not
//! counts. The tracer builds a report (a few hundred numbers per function) and offers it to a
//! small bounded queue; a thread of its own posts it with the spans' retries (`send.rs`).

use super::send::{resource_attributes, scope, Delivery};
use super::{Offered, OtlpConfig, Program, Shared, Worker};
use crate::clock::ClockOffsets;
use crate::values::attribute;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use probe::FunctionStats;
use probe_common::hist_range;
use prost::Message;
use std::io;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// Calls that passed the filters.
pub const CALLS: &str = "gosyms.calls";
/// Returns with a non-nil error.
pub const ERRORS: &str = "gosyms.errors";
/// Latencies of the returns, in nanoseconds.
pub const DURATION: &str = "gosyms.call.duration";

/// Reports waiting to be sent, at most: each holds every total, so a newer one replaces what
/// an older one would have said.
const QUEUE: usize = 4;

/// The largest bound written: every integer up to 2^53 is exact as an `f64`, above it a bound
/// `lt - 1` could round up into the next bucket. Latencies above it (104 days) fall in the
/// last bucket, which has no upper bound.
const MAX_EXACT_BOUND: u64 = 1 << 53;

/// How the metrics export went, once it is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsReport {
    /// Where the metrics went.
    pub metrics_url: String,
    /// Reports made: one per `--interval` and one at the end.
    pub reports: u64,
    /// Accepted by the receiver (with no data point rejected).
    pub exported: u64,
    /// Dropped because the queue was full (the receiver was slower than `--interval`).
    pub dropped: u64,
    /// Given up on: receiver errors after retries, rejected data points, or undelivered at
    /// the end.
    pub failed: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Turns `--stats` totals into metrics reports and hands them to the sending thread.
pub struct MetricsExporter {
    worker: Worker<Vec<u8>>,
    resource: Resource,
    clocks: ClockOffsets,
    /// When tracing started, Unix epoch ns: the start of every cumulative point.
    start_unix_ns: u64,
    report: MetricsReport,
}

impl MetricsExporter {
    /// Starts the sending thread. `pid` is the traced process, when there is one (the totals
    /// of all the processes running a binary have no single pid); `start_ns`
    /// (`CLOCK_MONOTONIC`) is when tracing started.
    pub fn start(
        config: &OtlpConfig,
        program: &Program,
        pid: Option<u32>,
        clocks: ClockOffsets,
        start_ns: u64,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let delivery = Delivery::new(
            config.metrics.clone(),
            Arc::clone(&shared),
            "data points",
            data_points_rejected,
        );
        let worker = Worker::start("gosyms-metrics", QUEUE, shared, move |rx| {
            send_all(&delivery, &rx)
        })?;
        let mut attributes = resource_attributes(config, program);
        if let Some(pid) = pid {
            attributes.push(attribute(
                "process.pid",
                any_value::Value::IntValue(i64::from(pid)),
            ));
        }
        Ok(MetricsExporter {
            worker,
            resource: Resource {
                attributes,
                ..Default::default()
            },
            clocks,
            start_unix_ns: clocks.unix_ns(start_ns),
            report: MetricsReport {
                metrics_url: config.metrics.url.clone(),
                ..Default::default()
            },
        })
    }

    /// One report of `stats` (each with its function's name) as they are at `now_ns`
    /// (`CLOCK_MONOTONIC`). Never waits: when the queue is full the report is dropped.
    pub fn report(&mut self, stats: &[(&str, &FunctionStats)], now_ns: u64) {
        self.report.reports += 1;
        let request = request(
            self.resource.clone(),
            stats,
            self.start_unix_ns,
            self.clocks.unix_ns(now_ns),
        );
        match self.worker.offer(request.encode_to_vec()) {
            Offered::Queued => {}
            Offered::Full => self.report.dropped += 1,
            Offered::Gone => self.report.failed += 1,
        }
    }

    /// The first export error, once (for a live warning).
    pub fn take_first_error(&self) -> Option<String> {
        self.worker.take_first_error()
    }

    /// Closes the queue, waits for the sending thread to deliver what is left (retrying for
    /// at most the configured timeout), and reports.
    pub fn shutdown(mut self) -> MetricsReport {
        let d = self.worker.finish();
        MetricsReport {
            exported: d.exported,
            failed: self.report.failed + d.failed,
            last_error: d.last_error,
            ..self.report
        }
    }
}

/// The sending thread: one report at a time, until the queue is closed and empty.
fn send_all(delivery: &Delivery, queue: &Receiver<Vec<u8>>) {
    while let Ok(body) = queue.recv() {
        delivery.deliver(&body, 1);
    }
}

/// The metrics' answer: rejected data points.
fn data_points_rejected(answer: &[u8]) -> Option<(i64, String)> {
    let p = ExportMetricsServiceResponse::decode(answer)
        .ok()?
        .partial_success?;
    Some((p.rejected_data_points, p.error_message))
}

/// The request for one report: `stats` with their functions' names, cumulative from
/// `start_unix_ns` to `time_unix_ns` (Unix epoch nanoseconds).
pub fn request(
    resource: Resource,
    stats: &[(&str, &FunctionStats)],
    start_unix_ns: u64,
    time_unix_ns: u64,
) -> ExportMetricsServiceRequest {
    let at = Times {
        start: start_unix_ns,
        now: time_unix_ns,
    };
    let calls = stats
        .iter()
        .map(|(name, s)| at.count(name, s.calls))
        .collect();
    let errors = stats
        .iter()
        .filter_map(|(name, s)| s.errors.map(|e| at.count(name, e)))
        .collect();
    let durations = stats
        .iter()
        .map(|(name, s)| at.histogram(name, s))
        .collect();
    let mut metrics = vec![
        sum(CALLS, "Calls that passed the filters", "{call}", calls),
        sum(
            ERRORS,
            "Returns with a non-nil error (functions whose last result is an error)",
            "{error}",
            errors,
        ),
        Metric {
            name: DURATION.into(),
            description: "Latency of the calls that returned, entry to return".into(),
            unit: "ns".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: durations,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
    ];
    // A metric with no points says nothing (no function returns an error, or none was called
    // yet).
    metrics.retain(|m| match &m.data {
        Some(metric::Data::Sum(s)) => !s.data_points.is_empty(),
        Some(metric::Data::Histogram(h)) => !h.data_points.is_empty(),
        _ => true,
    });
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A monotonic cumulative Sum.
fn sum(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// The interval of every point of a report.
struct Times {
    start: u64,
    now: u64,
}

impl Times {
    fn count(&self, function: &str, n: u64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: function_attribute(function),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            // OTLP's integers are signed; 2^63 calls do not happen.
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(n).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        }
    }

    fn histogram(&self, function: &str, s: &FunctionStats) -> HistogramDataPoint {
        let (explicit_bounds, bucket_counts) = explicit_buckets(&s.hist);
        // The kernel adds a return to `returns` and to its bucket one after the other: a
        // report taken in between would disagree, so the count is the buckets' (OTLP wants
        // them equal). Once the program is quiet, both are `returns`.
        let count: u64 = bucket_counts.iter().sum();
        HistogramDataPoint {
            attributes: function_attribute(function),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            count,
            sum: Some(s.total_ns as f64),
            bucket_counts,
            explicit_bounds,
            max: (count > 0).then_some(s.max_ns as f64),
            ..Default::default()
        }
    }
}

fn function_attribute(function: &str) -> Vec<KeyValue> {
    vec![attribute(
        "code.function.name",
        any_value::Value::StringValue(function.into()),
    )]
}

/// The histogram's buckets as OTLP explicit buckets: the bounds and `bounds.len() + 1` counts.
///
/// gosyms' bucket `b` holds the integer latencies in `[ge, lt)` ([`hist_range`]); OTLP's
/// bucket `i` holds `(bounds[i-1], bounds[i]]`. For integers `[ge, lt)` is `(ge - 1, lt - 1]`
/// and each bucket's `ge` is the previous one's `lt`, so the bounds are the buckets' `lt - 1`
/// and the counts are the buckets', one to one, up to 2^53 (`MAX_EXACT_BOUND`); the last OTLP
/// bucket adds up the rest.
pub fn explicit_buckets(hist: &[u64]) -> (Vec<f64>, Vec<u64>) {
    let bounds: Vec<u64> = (0..hist.len())
        .map(|b| hist_range(b).1.saturating_sub(1))
        .take_while(|&bound| bound <= MAX_EXACT_BOUND)
        .collect();
    let mut counts: Vec<u64> = hist.iter().take(bounds.len()).copied().collect();
    counts.push(hist.iter().skip(bounds.len()).sum());
    (bounds.into_iter().map(|b| b as f64).collect(), counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_common::{hist_bucket, FnStats, HIST_BUCKETS};

    fn stats(latencies: &[u64], has_error: bool) -> FunctionStats {
        let mut s = FnStats::ZERO;
        for (i, &l) in latencies.iter().enumerate() {
            s.hist[hist_bucket(l)] += 1;
            s.calls += 1;
            s.returns += 1;
            s.errors += u64::from(i % 3 == 0);
            s.total_ns += l;
        }
        let max = latencies.iter().copied().max().unwrap_or(0);
        FunctionStats::new(0, &s, &[max], has_error)
    }

    /// The OTLP bucket a value falls in: the first bound at or above it.
    fn otlp_bucket(bounds: &[f64], v: u64) -> usize {
        bounds
            .iter()
            .position(|&b| v as f64 <= b)
            .unwrap_or(bounds.len())
    }

    #[test]
    fn bounds_put_every_latency_where_gosyms_counted_it() {
        let (bounds, counts) = explicit_buckets(&[0; HIST_BUCKETS]);
        assert_eq!(counts.len(), bounds.len() + 1);
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing"
        );
        assert_eq!(&bounds[..6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(bounds.iter().all(|&b| b == (b as u64) as f64 && b >= 0.0));
        assert_eq!(*bounds.last().unwrap(), (MAX_EXACT_BOUND - 1) as f64);
        // Each bucket's edges, a value inside, and values past the last bound.
        let mut probes: Vec<u64> = (0..HIST_BUCKETS)
            .flat_map(|b| {
                let (ge, lt) = hist_range(b);
                [ge, lt.saturating_sub(1), ge + (lt - ge) / 2]
            })
            .filter(|&v| v <= MAX_EXACT_BOUND)
            .collect();
        probes.extend([MAX_EXACT_BOUND, MAX_EXACT_BOUND + 1, 1 << 60, u64::MAX / 2]);
        for v in probes {
            let b = hist_bucket(v);
            let mut hist = [0u64; HIST_BUCKETS];
            hist[b] = 1;
            let (bounds, counts) = explicit_buckets(&hist);
            let i = otlp_bucket(&bounds, v);
            assert_eq!(counts[i], 1, "{v} ns: gosyms bucket {b}, OTLP bucket {i}");
            assert_eq!(counts.iter().sum::<u64>(), 1);
        }
    }

    #[test]
    fn a_report_as_the_specification_shapes_it() {
        let work = stats(&[0, 3, 5, 999, 1_000_000, 7_777_777], true);
        let nap = stats(&[50, 60], false);
        let resource = Resource {
            attributes: function_attribute("resource stand-in"),
            ..Default::default()
        };
        let r = request(
            resource,
            &[("main.Work", &work), ("main.Nap", &nap)],
            10,
            20,
        );
        assert_eq!(r.resource_metrics.len(), 1);
        let rm = &r.resource_metrics[0];
        assert_eq!(rm.resource.as_ref().unwrap().attributes.len(), 1);
        assert_eq!(rm.scope_metrics.len(), 1);
        let sm = &rm.scope_metrics[0];
        assert_eq!(sm.scope.as_ref().unwrap().name, "gosyms");
        let metric = |name: &str| sm.metrics.iter().find(|m| m.name == name).unwrap();
        let function = |attrs: &[KeyValue]| match attrs {
            [kv] if kv.key == "code.function.name" => match kv.value.as_ref().unwrap().value {
                Some(any_value::Value::StringValue(ref s)) => s.clone(),
                _ => panic!("not a string"),
            },
            _ => panic!("{attrs:?}"),
        };

        let Some(metric::Data::Sum(calls)) = &metric(CALLS).data else {
            panic!("calls is a Sum")
        };
        assert!(calls.is_monotonic);
        assert_eq!(
            calls.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let values: Vec<(String, Option<number_data_point::Value>, u64, u64)> = calls
            .data_points
            .iter()
            .map(|p| {
                let t = (p.start_time_unix_nano, p.time_unix_nano);
                (function(&p.attributes), p.value, t.0, t.1)
            })
            .collect();
        use number_data_point::Value::AsInt;
        assert_eq!(
            values,
            [
                ("main.Work".into(), Some(AsInt(6)), 10, 20),
                ("main.Nap".into(), Some(AsInt(2)), 10, 20)
            ]
        );
        // Only functions that return an error have errors.
        let Some(metric::Data::Sum(errors)) = &metric(ERRORS).data else {
            panic!("errors is a Sum")
        };
        assert!(errors.is_monotonic);
        assert_eq!(errors.data_points.len(), 1);
        assert_eq!(function(&errors.data_points[0].attributes), "main.Work");
        assert_eq!(errors.data_points[0].value, Some(AsInt(2)));

        let duration = metric(DURATION);
        assert_eq!(duration.unit, "ns");
        let Some(metric::Data::Histogram(h)) = &duration.data else {
            panic!("duration is a Histogram")
        };
        assert_eq!(
            h.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &h.data_points[0];
        assert_eq!(function(&p.attributes), "main.Work");
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (10, 20));
        assert_eq!(p.count, 6);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
        assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
        assert_eq!(p.sum, Some(work.total_ns as f64));
        assert_eq!(p.max, Some(7_777_777.0));
        assert_eq!(p.min, None);
        // Each latency in the OTLP bucket its bounds give it.
        for v in [0, 3, 5, 999, 1_000_000, 7_777_777] {
            assert!(
                p.bucket_counts[otlp_bucket(&p.explicit_bounds, v)] > 0,
                "{v}"
            );
        }

        // The wire form decodes to the same request.
        let decoded = ExportMetricsServiceRequest::decode(r.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, r);
        // Without errors anywhere, there is no errors metric.
        let r = request(Resource::default(), &[("main.Nap", &nap)], 1, 2);
        let names: Vec<&str> = r.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, [CALLS, DURATION]);
        // Before any call, a report holds no metric.
        let r = request(Resource::default(), &[], 1, 2);
        assert!(r.resource_metrics[0].scope_metrics[0].metrics.is_empty());
    }
}

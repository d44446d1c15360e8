//! `--stats` under real BPF: calls, errors and latencies added up in the kernel must equal the
//! program's own counts (testdata/selective's main.Work, on two goroutines, some calls
//! failing), and the latency histogram must agree with the durations of the same calls as a
//! second gosyms, tracing the same process at the same time with events, writes them. Text
//! output is a bpftrace-like histogram; `--interval` reports totals as they grow. With
//! `--otlp-endpoint`, the same totals arrive as OTLP metrics at a real receiver
//! (tests/src/otlp.rs, decoding with the OpenTelemetry project's own protobuf types).
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::selective::{self, summary_count, Tracer, Waiting};
use common::{go_version_m, truth};
use gosyms_tests::otlp::{find, Behavior, Receiver};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as A;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint,
};
use serde_json::Value;

/// The histogram bucket of a latency, as README.md documents it: `ns` itself below 4, else 4
/// buckets per power of two, bucket `4(k-1) + j` for `[2^k + j 2^(k-2), 2^k + (j+1) 2^(k-2))`.
fn bucket_of(ns: u64) -> (u64, u64) {
    if ns < 4 {
        return (ns, ns + 1);
    }
    let k = 63 - ns.leading_zeros();
    let step = 1u64 << (k - 2);
    let j = (ns - (1 << k)) / step;
    let lo = (1u64 << k) + j * step;
    (lo, lo + step)
}

#[test]
fn stats_equal_the_programs_counts_and_the_events_durations() {
    for (release, mode) in [("1.27.3", "exe"), ("1.15", "exe"), ("1.27.3", "pie")] {
        let label = format!("go{release} {mode}");
        let program = Waiting::start(&selective::build(release, mode), "stats");
        let pid = program.pid();
        let stats = Tracer::start(
            &format!("stats-{release}-{mode}"),
            &pid,
            &["--stats", "--json", "main.Work"],
        );
        let events = Tracer::start(
            &format!("events-{release}-{mode}"),
            &pid,
            &["--json", "main.Work"],
        );
        let truth = program.run();
        let (stats_err, reports) = stats.finish();
        let (_, events) = events.finish();

        let done = selective::done(&truth);
        let (calls, errors) = (
            done["calls"].as_u64().unwrap(),
            done["errors"].as_u64().unwrap(),
        );
        assert_eq!(selective::calls(&truth, "main.Work").len() as u64, calls);
        assert!(errors > 0 && errors < calls);
        // The last report is the totals at exit.
        let s = reports.last().expect("a stats report");
        assert_eq!(s["event"], "stats", "{label}");
        assert_eq!(s["fn"], "main.Work", "{label}");
        assert_eq!(s["calls"], calls, "{label}: {s}");
        assert_eq!(s["returns"], calls, "{label}: {s}");
        assert_eq!(s["errors"], errors, "{label}: {s}");
        let lat = &s["latency_ns"];
        assert_eq!(lat["count"], calls, "{label}");
        // Every probe hit is in the statistics, none was sent.
        assert_eq!(
            summary_count(&stats_err, "probe hit", "probe hits", "counted in --stats"),
            2 * calls,
            "{label}: {stats_err}"
        );
        assert!(
            stats_err.contains("): 0 events sent, "),
            "{label}: {stats_err}"
        );

        // The other tracer's durations of the same calls.
        let done = truth::completed(&events);
        let mut durs: Vec<u64> = done
            .values()
            .flatten()
            .map(|c| c.3.as_u64().unwrap())
            .collect();
        durs.sort_unstable();
        assert_eq!(durs.len() as u64, calls, "{label}");
        let total: u64 = durs.iter().sum();
        let kernel_total = lat["total"].as_u64().unwrap();
        // Two tracers' timestamps of one call differ by what the other's handler took.
        let slack = |v: u64| v / 50 + 200_000;
        assert!(
            kernel_total.abs_diff(total) <= slack(total),
            "{label}: total {kernel_total} vs {total}"
        );
        let max = *durs.last().unwrap();
        let kmax = lat["max"].as_u64().unwrap();
        assert!(
            kmax.abs_diff(max) <= slack(max),
            "{label}: max {kmax} vs {max}"
        );
        // Buckets: each duration in its bucket, but one close to a bucket's edge may fall on
        // either side for the other tracer.
        let buckets = lat["buckets"].as_array().unwrap();
        let kernel: std::collections::BTreeMap<(u64, u64), u64> = buckets
            .iter()
            .map(|b| {
                (
                    (b["ge"].as_u64().unwrap(), b["lt"].as_u64().unwrap()),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut ours = std::collections::BTreeMap::new();
        let mut near_edge = 0;
        for &d in &durs {
            let b = bucket_of(d);
            *ours.entry(b).or_insert(0u64) += 1;
            if d - b.0 < slack(d) || b.1 - d <= slack(d) {
                near_edge += 1;
            }
        }
        let differ: u64 = kernel
            .keys()
            .chain(ours.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|b| {
                kernel
                    .get(b)
                    .copied()
                    .unwrap_or(0)
                    .abs_diff(ours.get(b).copied().unwrap_or(0))
            })
            .sum();
        assert!(
            differ <= 2 * near_edge,
            "{label}: buckets differ by {differ} ({near_edge} durations near an edge): {kernel:?} vs {ours:?}"
        );
        // Percentiles: upper bounds, at most a bucket (25%) above the durations'.
        for (p, key) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
            let rank = ((p * durs.len() as f64).ceil() as usize).max(1);
            let truth = durs[rank - 1];
            let got = lat[key].as_u64().unwrap();
            assert!(
                got + slack(truth) >= truth && got <= truth + truth / 4 + slack(truth),
                "{label}: {key} {got} vs {truth}"
            );
        }
    }
}

#[test]
fn text_histograms_and_interval_reports() {
    let bin = selective::build("1.27.3", "exe");
    // Text: bpftrace's hist() layout.
    let out = std::process::Command::new(common::gosyms())
        .args(["trace", "--stats", "--format", "text", "main.Work", "--"])
        .arg(&bin)
        .arg("stats")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let head = text
        .lines()
        .find(|l| l.starts_with("main.Work: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        head.starts_with("main.Work: 80 calls, 80 returns, 16 errors; latency mean "),
        "{head}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert!(rows.len() >= 3, "{text}");
    let counted: u64 = rows
        .iter()
        .map(|r| {
            let (_, rest) = r.split_once(')').unwrap();
            assert!(rest.trim_end().ends_with('|'), "{r}");
            rest.split('|')
                .next()
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 80, "{text}");
    assert!(rows.iter().any(|r| r.contains(&"@".repeat(52))), "{text}");

    // --interval: cumulative totals, growing, the last one complete.
    let run = truth::trace_args(
        &bin,
        &["slow"],
        &["--stats", "--interval", "50ms"],
        &["main.Nap"],
    );
    let reports: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["fn"] == "main.Nap")
        .collect();
    assert!(reports.len() >= 3, "{} reports", reports.len());
    let calls: Vec<u64> = reports
        .iter()
        .map(|r| r["calls"].as_u64().unwrap())
        .collect();
    assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
    assert_eq!(*calls.last().unwrap(), 30);
    assert!(
        reports.iter().all(|r| r["errors"].is_null()),
        "Nap returns no error"
    );
}

/// The metric `name` of a report (one resource, one scope: gosyms').
fn metric<'r>(report: &'r ExportMetricsServiceRequest, name: &str) -> Option<&'r Metric> {
    let [rm] = report.resource_metrics.as_slice() else {
        panic!("one resource: {report:?}")
    };
    let [sm] = rm.scope_metrics.as_slice() else {
        panic!("one scope: {rm:?}")
    };
    assert_eq!(sm.scope.as_ref().map(|s| s.name.as_str()), Some("gosyms"));
    sm.metrics.iter().find(|m| m.name == name)
}

fn of_function(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], function: &str) -> bool {
    find(attrs, "code.function.name") == Some(&A::StringValue(function.into()))
}

/// A monotonic cumulative Sum's point for `function`: its value and its times.
fn counter(report: &ExportMetricsServiceRequest, name: &str, function: &str) -> NumberDataPoint {
    let m = metric(report, name).unwrap_or_else(|| panic!("no {name}"));
    let Some(metric::Data::Sum(sum)) = &m.data else {
        panic!("{name} is not a Sum: {m:?}")
    };
    assert!(sum.is_monotonic, "{name}");
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32,
        "{name}"
    );
    let p = sum
        .data_points
        .iter()
        .find(|p| of_function(&p.attributes, function))
        .unwrap_or_else(|| panic!("no {name} for {function}"));
    p.clone()
}

fn int(p: &NumberDataPoint) -> u64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => u64::try_from(v).unwrap(),
        other => panic!("not an int: {other:?}"),
    }
}

fn duration(report: &ExportMetricsServiceRequest, function: &str) -> HistogramDataPoint {
    let m = metric(report, "gosyms.call.duration").expect("gosyms.call.duration");
    assert_eq!(m.unit, "ns");
    let Some(metric::Data::Histogram(h)) = &m.data else {
        panic!("not a Histogram: {m:?}")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    h.data_points
        .iter()
        .find(|p| of_function(&p.attributes, function))
        .expect("a histogram point")
        .clone()
}

#[test]
fn stats_arrive_as_otlp_metrics_equal_to_the_programs_counts() {
    let receiver = Receiver::start(Behavior::Accept);
    let binary = selective::build("1.27.3", "exe");
    let program = Waiting::start(&binary, "stats");
    let pid = program.pid();
    let tracer = Tracer::start(
        "stats-otlp",
        &pid,
        &[
            "--stats",
            "--interval",
            "50ms",
            "--otlp-endpoint",
            &receiver.url,
            "main.Work",
        ],
    );
    let truth = program.run();
    let (stderr, lines) = tracer.finish();
    let done = selective::done(&truth);
    let (calls, errors) = (
        done["calls"].as_u64().unwrap(),
        done["errors"].as_u64().unwrap(),
    );
    assert!(errors > 0 && errors < calls);

    assert_eq!(receiver.bad_requests(), Vec::<String>::new());
    let reports = receiver.metrics();
    // One per --interval while the program ran, and the totals at exit.
    assert!(reports.len() >= 2, "{} reports: {stderr}", reports.len());
    let summary = format!(
        "gosyms: OTLP metrics: {n} reports: {n} exported to {}/v1/metrics, 0 dropped (queue full), 0 failed (receiver errors)",
        receiver.url,
        n = reports.len()
    );
    assert!(stderr.lines().any(|l| l == summary), "{summary}: {stderr}");

    // The totals at exit are the program's own counts.
    let last = reports.last().unwrap();
    let c = counter(last, "gosyms.calls", "main.Work");
    assert_eq!(int(&c), calls);
    assert_eq!(int(&counter(last, "gosyms.errors", "main.Work")), errors);
    let h = duration(last, "main.Work");
    assert_eq!(h.count, calls);
    assert_eq!(h.bucket_counts.len(), h.explicit_bounds.len() + 1);
    assert_eq!(h.bucket_counts.iter().sum::<u64>(), h.count);
    assert!(h.explicit_bounds.windows(2).all(|w| w[0] < w[1]));

    // Cumulative: one start for all, totals that only grow, times in order.
    let start = c.start_time_unix_nano;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(start > 0 && start < c.time_unix_nano && c.time_unix_nano <= now);
    let mut before = (0, 0);
    for r in &reports {
        let Some(_) = metric(r, "gosyms.calls") else {
            continue; // reported before the first call
        };
        let p = counter(r, "gosyms.calls", "main.Work");
        assert_eq!(p.start_time_unix_nano, start);
        assert!((int(&p), p.time_unix_nano) >= before, "{before:?}");
        before = (int(&p), p.time_unix_nano);
    }

    // The JSON totals of the same run say the same.
    let s = lines.last().expect("a stats line");
    assert_eq!(
        (s["calls"].as_u64(), s["errors"].as_u64()),
        (Some(calls), Some(errors))
    );
    let lat = &s["latency_ns"];
    assert_eq!(h.sum, lat["total"].as_u64().map(|t| t as f64));
    assert_eq!(h.max, lat["max"].as_u64().map(|m| m as f64));
    // Each JSON bucket [ge, lt) is the OTLP bucket whose upper bound is lt - 1.
    for b in lat["buckets"].as_array().unwrap() {
        let lt = b["lt"].as_u64().unwrap();
        let i = h
            .explicit_bounds
            .iter()
            .position(|&x| x == (lt - 1) as f64)
            .unwrap_or_else(|| panic!("no bound {}", lt - 1));
        assert_eq!(Some(h.bucket_counts[i]), b["count"].as_u64(), "{b}");
    }

    // The resource, as for spans: `go version -m` and the process.
    let (path, go_version) = go_version_m(&binary);
    let resource = &last.resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    let r = |k: &str| find(resource, k).cloned();
    assert_eq!(r("service.name"), Some(A::StringValue(path)));
    assert_eq!(r("process.runtime.name"), Some(A::StringValue("go".into())));
    assert_eq!(
        r("process.runtime.version"),
        Some(A::StringValue(go_version))
    );
    assert_eq!(r("process.pid"), Some(A::IntValue(pid.parse().unwrap())));
    assert!(
        matches!(r("process.executable.path"), Some(A::StringValue(p)) if p.ends_with("selective-1.27.3-exe"))
    );
}

//! `--stats` under real BPF: calls, errors and latencies added up in the kernel must equal the
//! program's own counts (testdata/selective's main.Work, on two goroutines, some calls
//! failing), and the latency histogram must agree with the durations of the same calls as a
//! second gosyms, tracing the same process at the same time with events, writes them. Text
//! output is a bpftrace-like histogram; `--interval` reports totals as they grow.
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::selective::{self, summary_count, Tracer, Waiting};
use common::truth;
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

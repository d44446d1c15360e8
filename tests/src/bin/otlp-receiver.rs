//! An OTLP/HTTP receiver for benches/trace_overhead.py and for trying `--otlp-endpoint` by
//! hand: prints its base URL on stdout, accepts every export until its stdin closes, then
//! prints how many spans it received and exits. With `--print`, it first prints each span on
//! one line: name, ids, duration, attributes (and the resource of the first span), and the
//! last metrics report (`gosyms trace --stats`), a line per data point.

use gosyms_tests::otlp::{Behavior, Receiver};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use std::io::Read;

fn show(attrs: &[KeyValue]) -> String {
    attrs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => format!("{s:?}"),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => "(empty)".into(),
            };
            format!("{}={v}", kv.key)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A metrics report: its resource, then each data point with its attributes and values (a
/// histogram's non-empty buckets as `<=BOUND:COUNT`, the last one `>BOUND:COUNT`).
fn print_metrics(report: &ExportMetricsServiceRequest) {
    for rm in &report.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| show(&r.attributes));
        println!("metrics resource: {}", resource.unwrap_or_default());
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match &m.data {
                Some(metric::Data::Sum(sum)) => {
                    for p in &sum.data_points {
                        let v = match p.value {
                            Some(number_data_point::Value::AsInt(i)) => i.to_string(),
                            Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
                            None => "-".into(),
                        };
                        println!("{} {} {v}", m.name, show(&p.attributes));
                    }
                }
                Some(metric::Data::Histogram(h)) => {
                    for p in &h.data_points {
                        let buckets: Vec<String> = p
                            .bucket_counts
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| **c > 0)
                            .map(|(i, c)| match p.explicit_bounds.get(i) {
                                Some(b) => format!("<={b}:{c}"),
                                None => format!(
                                    ">{}:{c}",
                                    p.explicit_bounds.last().copied().unwrap_or_default()
                                ),
                            })
                            .collect();
                        println!(
                            "{} {} count={} sum={} max={} buckets={} {}",
                            m.name,
                            show(&p.attributes),
                            p.count,
                            p.sum.unwrap_or_default(),
                            p.max.unwrap_or_default(),
                            p.explicit_bounds.len() + 1,
                            buckets.join(" ")
                        );
                    }
                }
                other => println!("{} {other:?}", m.name),
            }
        }
    }
}

fn main() {
    let print = std::env::args().any(|a| a == "--print");
    let receiver = Receiver::start(Behavior::Accept);
    println!("{}", receiver.url);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    let spans = receiver.spans();
    if print {
        if let Some(first) = spans.first() {
            println!("resource: {}", show(&first.resource));
        }
        for s in &spans {
            let parent = match s.span.parent_span_id.as_slice() {
                [] => "-".to_string(),
                p => hex(p),
            };
            println!(
                "{} trace={} span={} parent={parent} dur_ns={} {}",
                s.span.name,
                hex(&s.span.trace_id),
                hex(&s.span.span_id),
                s.span.end_time_unix_nano - s.span.start_time_unix_nano,
                show(&s.span.attributes)
            );
        }
        let metrics = receiver.metrics();
        if let Some(last) = metrics.last() {
            println!("{} metrics reports; the last:", metrics.len());
            print_metrics(last);
        }
    }
    println!("{}", spans.len());
}

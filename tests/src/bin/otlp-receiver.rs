//! An OTLP/HTTP receiver for benches/trace_overhead.py and for trying `--otlp-endpoint` by
//! hand: prints its base URL on stdout, accepts every export until its stdin closes, then
//! prints how many spans it received and exits. With `--print`, it first prints each span on
//! one line: name, ids, duration, attributes (and the resource of the first span).

use gosyms_tests::otlp::{Behavior, Receiver};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
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
    }
    println!("{}", spans.len());
}

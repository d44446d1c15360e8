//! Argument and result values as OTLP attributes and as Perfetto debug annotations.
//!
//! The two functions here are the only code that looks inside a decoded value, and the rest of
//! the crate names the type only as [`Decoded`], so a change in how `probe` represents values is
//! a change here alone. Values are taken in the form `probe` writes them as JSON (README, "JSON
//! output": objects by name, arrays, strings, numbers, booleans, null), so an attribute or an
//! annotation says exactly what the JSON event says.

use crate::perfetto::protos::{debug_annotation, DebugAnnotation};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::Value;

/// A decoded argument or result, as `probe` gives it (`TraceEvent::values`).
pub(crate) type Decoded = probe::Values;

/// `v` in its JSON form (which cannot fail: `probe`'s values serialize to plain JSON).
fn json(v: &Decoded) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Deeper values are cut (`probe`'s values are a few levels deep: a pointer to a struct of
/// slices); a cut value becomes the string `"..."` in Perfetto and is counted as a dropped
/// attribute in OTLP.
const MAX_DEPTH: usize = 16;

/// How many attributes a span may have, and how long a string attribute may be.
#[derive(Debug, Clone, Copy)]
pub struct AttributeLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub count: usize,
    /// Bytes per string value (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, default none: strings are
    /// already cut to `--max-str`).
    pub value_length: Option<usize>,
}

impl Default for AttributeLimits {
    fn default() -> Self {
        AttributeLimits {
            count: 128,
            value_length: None,
        }
    }
}

/// A scalar attribute.
pub(crate) fn attribute(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Appends `v` as attributes named `prefix` (a scalar), `prefix.field` (object fields) and
/// `prefix.N` (array elements), recursively. Integers beyond `i64` (OTLP's only integer) are
/// decimal strings, null is an empty value. Returns how many attributes did not fit.
pub(crate) fn flatten(
    prefix: &mut String,
    v: &Decoded,
    limits: AttributeLimits,
    out: &mut Vec<KeyValue>,
) -> u32 {
    flatten_at(prefix, &json(v), limits, out, 0)
}

fn flatten_at(
    prefix: &mut String,
    v: &Value,
    limits: AttributeLimits,
    out: &mut Vec<KeyValue>,
    depth: usize,
) -> u32 {
    let value = match v {
        Value::Object(m) if depth < MAX_DEPTH => {
            return m
                .iter()
                .map(|(k, v)| nested(prefix, k, v, limits, out, depth))
                .sum();
        }
        Value::Array(a) if depth < MAX_DEPTH => {
            return a
                .iter()
                .enumerate()
                .map(|(i, v)| nested(prefix, &i.to_string(), v, limits, out, depth))
                .sum();
        }
        Value::Object(_) | Value::Array(_) => return 1,
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => any_value::Value::IntValue(i),
            (None, _) if n.is_u64() => any_value::Value::StringValue(n.to_string()),
            (None, f) => any_value::Value::DoubleValue(f.unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(cut(s, limits.value_length))),
    };
    if out.len() >= limits.count {
        return 1;
    }
    out.push(KeyValue {
        key: prefix.clone(),
        value: Some(AnyValue { value }),
        ..Default::default()
    });
    0
}

fn nested(
    prefix: &mut String,
    key: &str,
    v: &Value,
    limits: AttributeLimits,
    out: &mut Vec<KeyValue>,
    depth: usize,
) -> u32 {
    let len = prefix.len();
    prefix.push('.');
    prefix.push_str(key);
    let dropped = flatten_at(prefix, v, limits, out, depth + 1);
    prefix.truncate(len);
    dropped
}

/// `s` cut to at most `limit` bytes, at a character boundary.
fn cut(s: &str, limit: Option<usize>) -> String {
    match limit {
        Some(n) if s.len() > n => {
            let end = (0..=n).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            s.get(..end).unwrap_or_default().to_string()
        }
        _ => s.to_string(),
    }
}

/// `v` as a debug annotation named `name`: objects become dictionaries (their entries named by
/// `key_name`, which may intern them), arrays arrays, null the JSON `null`.
pub(crate) fn annotation(
    name: Option<debug_annotation::NameField>,
    v: &Decoded,
    key_name: &mut dyn FnMut(&str) -> debug_annotation::NameField,
) -> DebugAnnotation {
    annotation_at(name, &json(v), 0, key_name)
}

fn annotation_at(
    name_field: Option<debug_annotation::NameField>,
    v: &Value,
    depth: usize,
    key_name: &mut dyn FnMut(&str) -> debug_annotation::NameField,
) -> DebugAnnotation {
    use debug_annotation::Value as V;
    let mut a = DebugAnnotation {
        name_field,
        ..Default::default()
    };
    match v {
        Value::Object(m) if depth < MAX_DEPTH => {
            a.dict_entries = m
                .iter()
                .map(|(k, v)| annotation_at(Some(key_name(k)), v, depth + 1, key_name))
                .collect();
        }
        Value::Array(xs) if depth < MAX_DEPTH => {
            a.array_values = xs
                .iter()
                .map(|v| annotation_at(None, v, depth + 1, key_name))
                .collect();
        }
        Value::Object(_) | Value::Array(_) => a.value = Some(V::StringValue("...".into())),
        Value::Null => a.value = Some(V::LegacyJsonValue("null".into())),
        Value::Bool(b) => a.value = Some(V::BoolValue(*b)),
        Value::Number(n) => {
            a.value = Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => V::IntValue(i),
                (None, Some(u), _) => V::UintValue(u),
                (None, None, f) => V::DoubleValue(f.unwrap_or(f64::NAN)),
            })
        }
        Value::String(s) => a.value = Some(V::StringValue(s.clone())),
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(v: &Value, limits: AttributeLimits) -> (Vec<(String, Option<any_value::Value>)>, u32) {
        let mut out = Vec::new();
        let dropped = flatten_at(&mut "gosyms.arg".to_string(), v, limits, &mut out, 0);
        let kv = out
            .into_iter()
            .map(|kv| (kv.key, kv.value.and_then(|v| v.value)))
            .collect();
        (kv, dropped)
    }

    #[test]
    fn flattens_nested_values_exactly() {
        use any_value::Value as A;
        let v = json!({
            "s": {"addr": "0x1", "value": {"Name": "alpha", "Hits": 7}},
            "xs": {"len": 2, "cap": 4, "elems": [1, -2]},
            "big": u64::MAX,
            "f": 1.5,
            "ok": true,
            "err": null,
        });
        let (kv, dropped) = flat(&v, AttributeLimits::default());
        assert_eq!(dropped, 0);
        assert_eq!(
            kv,
            vec![
                (
                    "gosyms.arg.s.addr".into(),
                    Some(A::StringValue("0x1".into()))
                ),
                (
                    "gosyms.arg.s.value.Name".into(),
                    Some(A::StringValue("alpha".into()))
                ),
                ("gosyms.arg.s.value.Hits".into(), Some(A::IntValue(7))),
                ("gosyms.arg.xs.len".into(), Some(A::IntValue(2))),
                ("gosyms.arg.xs.cap".into(), Some(A::IntValue(4))),
                ("gosyms.arg.xs.elems.0".into(), Some(A::IntValue(1))),
                ("gosyms.arg.xs.elems.1".into(), Some(A::IntValue(-2))),
                (
                    "gosyms.arg.big".into(),
                    Some(A::StringValue(u64::MAX.to_string()))
                ),
                ("gosyms.arg.f".into(), Some(A::DoubleValue(1.5))),
                ("gosyms.arg.ok".into(), Some(A::BoolValue(true))),
                ("gosyms.arg.err".into(), None),
            ]
        );
    }

    #[test]
    fn limits_count_and_length() {
        let v = json!(["héllo", "b", "c"]);
        let limits = AttributeLimits {
            count: 2,
            value_length: Some(2),
        };
        let (kv, dropped) = flat(&v, limits);
        assert_eq!(dropped, 1);
        // "hé" would cut é in half: one byte only.
        assert_eq!(
            kv.first().cloned(),
            Some((
                "gosyms.arg.0".into(),
                Some(any_value::Value::StringValue("h".into()))
            ))
        );
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let (kv, dropped) = flat(&deep, AttributeLimits::default());
        assert!(kv.is_empty());
        assert_eq!(dropped, 1);
    }

    #[test]
    fn annotations_keep_the_structure() {
        use debug_annotation::{NameField as N, Value as V};
        let a = annotation(
            Some(N::Name("args".into())),
            &probe::Values::Named(vec![
                ("a".into(), probe::Value::Int(17)),
                ("u".into(), probe::Value::Uint(u64::MAX)),
                ("p".into(), probe::Value::Nil),
                (
                    "xs".into(),
                    probe::Value::Array(vec![probe::Value::Bool(true)]),
                ),
            ]),
            &mut |k| N::Name(k.to_string()),
        );
        let entries: Vec<_> = a
            .dict_entries
            .iter()
            .map(|e| (e.name_field.clone(), e.value.clone(), e.array_values.len()))
            .collect();
        assert_eq!(
            entries,
            vec![
                (Some(N::Name("a".into())), Some(V::IntValue(17)), 0),
                (Some(N::Name("u".into())), Some(V::UintValue(u64::MAX)), 0),
                (
                    Some(N::Name("p".into())),
                    Some(V::LegacyJsonValue("null".into())),
                    0
                ),
                (Some(N::Name("xs".into())), None, 1),
            ]
        );
    }
}

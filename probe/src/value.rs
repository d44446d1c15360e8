//! Go values as gosyms decodes them from captured bytes, and how they are written as JSON.
//!
//! A [`Value`] says what was read and what could not be: a value never shows more than the
//! bytes captured at the probe prove, and what is missing is [`Value::Unreadable`] (JSON
//! `null`), never a guess. The JSON forms are documented in README.md ("JSON output").

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

/// One decoded Go value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not captured: a float in a register, memory that could not be read, a read the per-event
    /// limits left out. JSON `null`.
    Unreadable,
    /// A nil pointer, interface, map, slice data pointer... JSON `null`.
    Nil,
    /// `bool`.
    Bool(bool),
    /// Signed integers of every width.
    Int(i64),
    /// Unsigned integers of every width, `uintptr`, and raw words.
    Uint(u64),
    /// `float32`, `float64`.
    Float(f64),
    /// `complex64`, `complex128`.
    Complex {
        /// The real part.
        real: Box<Value>,
        /// The imaginary part.
        imag: Box<Value>,
    },
    /// A string: the bytes read (at most `--max-str`), and its length.
    Str {
        /// The bytes read; `None` when the data could not be read.
        bytes: Option<Vec<u8>>,
        /// The string's length.
        len: u64,
        /// Its data pointer.
        ptr: u64,
    },
    /// `[]byte`.
    Bytes {
        /// Length.
        len: u64,
        /// Capacity.
        cap: u64,
        /// The bytes read (at most `--max-str`); `None` when unreadable.
        data: Option<Vec<u8>>,
        /// The data pointer.
        ptr: u64,
    },
    /// Other slices.
    Slice {
        /// Length.
        len: u64,
        /// Capacity.
        cap: u64,
        /// The first elements (at most `--max-elems`); `None` when unreadable.
        elems: Option<Vec<Value>>,
        /// The data pointer.
        ptr: u64,
    },
    /// Arrays.
    Array(Vec<Value>),
    /// Structs, field by field.
    Struct(Vec<(String, Value)>),
    /// A non-nil pointer and, when it was read, what it points to.
    Pointer {
        /// The address.
        addr: u64,
        /// The target; `None` when not read (too large, too deep, a type gosyms knows only by
        /// name) or unreadable.
        target: Option<Box<Value>>,
    },
    /// Channels, funcs, `unsafe.Pointer`: the address.
    Address(u64),
    /// A non-nil interface value.
    Interface {
        /// Its dynamic type's name (`*fs.PathError`), or its address when the binary does not
        /// describe it.
        type_name: String,
        /// The data word.
        data: u64,
        /// The value, when its type's recipe ran.
        value: Option<Box<Value>>,
    },
    /// A non-nil map.
    Map {
        /// `len(m)`, when the header was read.
        len: Option<u64>,
        /// Its entries, for a small map whose entries were read.
        entries: Option<Vec<(Value, Value)>>,
        /// The map's address.
        addr: u64,
    },
}

/// The values of one event: arguments or results by name, or raw words.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// By name, in order (receiver first).
    Named(Vec<(String, Value)>),
    /// Positional raw words (types unknown).
    Words(Vec<Value>),
}

impl Default for Values {
    fn default() -> Self {
        Values::Named(Vec::new())
    }
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn hex_bytes(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Lossless text for bytes that are not UTF-8: valid runs as they are, `\` as `\\`, every
/// other byte as `\xNN`.
pub fn escape(mut b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    loop {
        match std::str::from_utf8(b) {
            Ok(s) => {
                out.push_str(&s.replace('\\', "\\\\"));
                return out;
            }
            Err(e) => {
                let (good, rest) = b.split_at(e.valid_up_to());
                out.push_str(&String::from_utf8_lossy(good).replace('\\', "\\\\"));
                let bad = e.error_len().unwrap_or(rest.len());
                for x in rest.get(..bad).unwrap_or_default() {
                    out.push_str(&format!("\\x{x:02x}"));
                }
                b = rest.get(bad..).unwrap_or_default();
            }
        }
    }
}

/// A float as JSON: a number, or a string for NaN and the infinities.
fn float<S: Serializer>(f: f64, s: S) -> Result<S::Ok, S::Error> {
    if f.is_finite() {
        s.serialize_f64(f)
    } else {
        s.serialize_str(&f.to_string())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Unreadable | Value::Nil => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Uint(v) => s.serialize_u64(*v),
            Value::Float(f) => float(*f, s),
            Value::Complex { real, imag } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("real", real)?;
                m.serialize_entry("imag", imag)?;
                m.end()
            }
            Value::Str { bytes, len, ptr } => match bytes {
                Some(b) if b.len() as u64 == *len => match std::str::from_utf8(b) {
                    Ok(text) => s.serialize_str(text),
                    Err(_) => text_object(s, b, *len),
                },
                Some(b) => text_object(s, b, *len),
                None => {
                    let mut m = s.serialize_map(Some(3))?;
                    m.serialize_entry("ptr", &hex(*ptr))?;
                    m.serialize_entry("len", len)?;
                    m.serialize_entry("str", &())?;
                    m.end()
                }
            },
            Value::Bytes {
                len,
                cap,
                data,
                ptr,
            } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("len", len)?;
                m.serialize_entry("cap", cap)?;
                match data {
                    Some(d) => {
                        m.serialize_entry("hex", &hex_bytes(d))?;
                        // Valid UTF-8 is also given as text (a prefix stays valid when the
                        // cut falls between characters).
                        if let Ok(text) = std::str::from_utf8(d) {
                            m.serialize_entry("text", text)?;
                        }
                        if (d.len() as u64) < *len {
                            m.serialize_entry("truncated", &true)?;
                        }
                    }
                    None => m.serialize_entry("ptr", &hex(*ptr))?,
                }
                m.end()
            }
            Value::Slice {
                len,
                cap,
                elems,
                ptr,
            } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("len", len)?;
                m.serialize_entry("cap", cap)?;
                match elems {
                    Some(e) => m.serialize_entry("elems", e)?,
                    None => m.serialize_entry("ptr", &hex(*ptr))?,
                }
                m.end()
            }
            Value::Array(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    q.serialize_element(i)?;
                }
                q.end()
            }
            Value::Struct(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Value::Pointer { addr, target } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("addr", &hex(*addr))?;
                m.serialize_entry("value", target)?;
                m.end()
            }
            Value::Address(a) => s.serialize_str(&hex(*a)),
            Value::Interface {
                type_name,
                data,
                value,
            } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("type", type_name)?;
                match value.as_deref() {
                    // A pointer in an interface: its address, and what it points to.
                    Some(Value::Pointer { addr, target }) => {
                        m.serialize_entry("addr", &hex(*addr))?;
                        m.serialize_entry("value", target)?;
                    }
                    Some(v) => m.serialize_entry("value", v)?,
                    None => m.serialize_entry("data", &hex(*data))?,
                }
                m.end()
            }
            Value::Map { len, entries, addr } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("len", len)?;
                match entries {
                    Some(e) => m.serialize_entry("entries", &Entries(e))?,
                    None => m.serialize_entry("addr", &hex(*addr))?,
                }
                m.end()
            }
        }
    }
}

struct Entries<'a>(&'a [(Value, Value)]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for (k, v) in self.0 {
            q.serialize_element(&Entry { key: k, value: v })?;
        }
        q.end()
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    key: &'a Value,
    value: &'a Value,
}

/// A string that is truncated or not valid UTF-8: its text with invalid bytes as `\xNN` and
/// backslashes doubled when `escaped`, its full length, and whether it was cut.
fn text_object<S: Serializer>(s: S, b: &[u8], len: u64) -> Result<S::Ok, S::Error> {
    let (text, escaped) = match std::str::from_utf8(b) {
        Ok(t) => (t.to_string(), false),
        Err(_) => (escape(b), true),
    };
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("str", &text)?;
    m.serialize_entry("len", &len)?;
    m.serialize_entry("truncated", &((b.len() as u64) < len))?;
    if escaped {
        m.serialize_entry("escaped", &true)?;
    }
    m.end()
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Values::Named(v) => {
                let mut m = s.serialize_map(Some(v.len()))?;
                for (k, val) in v {
                    m.serialize_entry(k, val)?;
                }
                m.end()
            }
            Values::Words(w) => {
                let mut q = s.serialize_seq(Some(w.len()))?;
                for v in w {
                    q.serialize_element(v)?;
                }
                q.end()
            }
        }
    }
}

impl Values {
    /// `name=value, ...` or `word, ...`, values as JSON: the text output's form.
    pub fn text(&self) -> String {
        let json = |v: &Value| serde_json::to_string(v).unwrap_or_else(|_| "?".into());
        match self {
            Values::Named(v) => v
                .iter()
                .map(|(k, val)| format!("{k}={}", json(val)))
                .collect::<Vec<_>>()
                .join(", "),
            Values::Words(w) => w.iter().map(json).collect::<Vec<_>>().join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    /// The inverse of [`escape`].
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                continue;
            }
            match chars.next() {
                Some((_, '\\')) => out.push(b'\\'),
                Some((_, 'x')) => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                    chars.next();
                    chars.next();
                }
                other => panic!("bad escape {other:?}"),
            }
        }
        out
    }

    #[test]
    fn arbitrary_bytes_give_valid_json_and_come_back_exactly() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000 {
            let len = round % 70;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly ASCII and backslashes, with UTF-8 lead and continuation bytes.
                    [b'a', b'\\', b'x', 0xc3, 0xa9, 0xff, 0x00, b'"'][(x % 8) as usize]
                })
                .collect();
            let v = Value::Str {
                bytes: Some(bytes.clone()),
                len: len as u64 + 1,
                ptr: 1,
            };
            let back: serde_json::Value = serde_json::from_str(&json(&v)).unwrap();
            let text = back["str"].as_str().unwrap();
            let got = if back.get("escaped").is_some() {
                unescape(text)
            } else {
                text.as_bytes().to_vec()
            };
            assert_eq!(got, bytes, "{back}");
            assert_eq!(back["truncated"], true);
        }
    }

    #[test]
    fn escapes_losslessly() {
        assert_eq!(escape(b"ok"), "ok");
        assert_eq!(escape(b"a\\b\xffc"), "a\\\\b\\xffc");
        assert_eq!(escape("é\u{0}".as_bytes()), "é\u{0}");
        assert_eq!(escape(b"\xe2\x82"), "\\xe2\\x82");
    }

    #[test]
    fn json_forms() {
        let s = |t: &str| Value::Str {
            bytes: Some(t.as_bytes().to_vec()),
            len: t.len() as u64,
            ptr: 1,
        };
        let err = Value::Interface {
            type_name: "*fs.PathError".into(),
            data: 0x10,
            value: Some(Box::new(Value::Pointer {
                addr: 0x10,
                target: Some(Box::new(Value::Struct(vec![
                    ("Op".into(), s("open")),
                    (
                        "Err".into(),
                        Value::Interface {
                            type_name: "syscall.Errno".into(),
                            data: 2,
                            value: Some(Box::new(Value::Uint(2))),
                        },
                    ),
                ]))),
            })),
        };
        assert_eq!(
            json(&err),
            r#"{"type":"*fs.PathError","addr":"0x10","value":{"Op":"open","Err":{"type":"syscall.Errno","value":2}}}"#
        );
        let bytes = Value::Bytes {
            len: 5,
            cap: 8,
            data: Some(b"hello".to_vec()),
            ptr: 1,
        };
        assert_eq!(
            json(&bytes),
            r#"{"len":5,"cap":8,"hex":"68656c6c6f","text":"hello"}"#
        );
        let m = Value::Map {
            len: Some(1),
            entries: Some(vec![(s("a"), Value::Int(1))]),
            addr: 0x20,
        };
        assert_eq!(json(&m), r#"{"len":1,"entries":[{"key":"a","value":1}]}"#);
        let opaque = Value::Interface {
            type_name: "main.T".into(),
            data: 0x30,
            value: None,
        };
        assert_eq!(json(&opaque), r#"{"type":"main.T","data":"0x30"}"#);
        assert_eq!(json(&Value::Float(f64::NAN)), r#""NaN""#);
    }
}

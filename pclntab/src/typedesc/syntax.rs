//! Types written out in Go syntax, the way `reflect.Type.String` writes unnamed types, with the
//! types they refer to by their names: `struct { ID int64; Items []*main.Item }`,
//! `func(string, ...int) (bool, error)`, `interface { Area() float64 }`.

use super::{ChanDir, TypeDesc, TypeDescs, TypeDetail};
use crate::container::VirtAddr;
use crate::Result;
use std::fmt::Write as _;

impl TypeDescs<'_, '_> {
    /// `d` spelled out one level in Go syntax: for a named type its underlying type
    /// (`fs.FileMode` gives `uint32`, `main.Order` gives `struct { ... }`), for an unnamed one
    /// the same as its name. Referred types appear by name.
    pub fn go_syntax(&self, d: &TypeDesc<'_>) -> Result<String> {
        let name = |a: VirtAddr| self.name(a);
        Ok(match &d.detail {
            TypeDetail::Scalar => d.kind.name().to_string(),
            TypeDetail::Pointer { elem } => format!("*{}", name(*elem)?),
            TypeDetail::Slice { elem } => format!("[]{}", name(*elem)?),
            TypeDetail::Array { elem, len, .. } => format!("[{len}]{}", name(*elem)?),
            TypeDetail::Chan { elem, dir } => {
                let e = name(*elem)?;
                match dir {
                    ChanDir::Recv => format!("<-chan {e}"),
                    ChanDir::Send => format!("chan<- {e}"),
                    // `chan (<-chan int)`: without the parentheses it would read `chan<- chan int`.
                    ChanDir::Both if e.starts_with("<-") => format!("chan ({e})"),
                    ChanDir::Both => format!("chan {e}"),
                }
            }
            TypeDetail::Map { key, elem, .. } => format!("map[{}]{}", name(*key)?, name(*elem)?),
            TypeDetail::Func { .. } => format!("func{}", self.signature_of(d)?),
            TypeDetail::Interface { methods } => {
                if methods.is_empty() {
                    return Ok("interface {}".into());
                }
                let mut s = String::from("interface {");
                for (i, m) in methods.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    let sig = match m.typ {
                        Some(t) => self.signature(t)?,
                        None => "(?)".into(),
                    };
                    let _ = write!(s, "{sep}{}{sig}", m.name);
                }
                s.push_str(" }");
                s
            }
            TypeDetail::Struct { fields } => {
                if fields.is_empty() {
                    return Ok("struct {}".into());
                }
                let mut s = String::from("struct {");
                for (i, f) in fields.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    let t = name(f.typ)?;
                    if f.embedded {
                        let _ = write!(s, "{sep}{t}");
                    } else {
                        let _ = write!(s, "{sep}{} {t}", f.name);
                    }
                    if let Some(tag) = &f.tag {
                        let _ = write!(s, " {}", quote(tag));
                    }
                }
                s.push_str(" }");
                s
            }
        })
    }

    /// The parameters and results of the func type at `func`, as after `func` or a method name:
    /// `(string, ...int) (bool, error)`, `() int`, `()`.
    pub fn signature(&self, func: VirtAddr) -> Result<String> {
        self.signature_of(&self.get(func)?)
    }

    fn signature_of(&self, d: &TypeDesc<'_>) -> Result<String> {
        let TypeDetail::Func {
            params,
            results,
            variadic,
        } = &d.detail
        else {
            return Ok(format!(" {}", d.name));
        };
        let mut s = String::from("(");
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let last = i + 1 == params.len();
            match (self.get(*p)?.detail, *variadic && last) {
                (TypeDetail::Slice { elem }, true) => {
                    let _ = write!(s, "...{}", self.name(elem)?);
                }
                _ => s.push_str(&self.name(*p)?),
            }
        }
        s.push(')');
        match results.as_slice() {
            [] => {}
            [one] => {
                let _ = write!(s, " {}", self.name(*one)?);
            }
            many => {
                s.push_str(" (");
                for (i, r) in many.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(&self.name(*r)?);
                }
                s.push(')');
            }
        }
        Ok(s)
    }
}

/// `s` as Go's `strconv.Quote` writes it (for struct tags).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_quoted_as_go_does() {
        assert_eq!(super::quote(r#"json:"id""#), r#""json:\"id\"""#);
        assert_eq!(super::quote("a\\b\x01"), r#""a\\b\x01""#);
    }
}

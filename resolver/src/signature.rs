//! Signatures the user writes for a stripped binary: `main.Greet(name string, n int) (string, error)`.
//!
//! The grammar is Go's own for a function declaration without a body, with the function's
//! full name as gosyms lists it (`main.(*Server).Handle`, `main.Map[...]`). Types are Go's
//! predeclared types, `string`, `error`, `any`, `unsafe.Pointer`, and the composites built from
//! them (`[]T`, `[N]T`, `*T`, `map[K]V`, `chan T`, `func(...)`, `struct { ... }`,
//! `interface { ... }`). A pointer may point to any named type (`*main.Server`): only its
//! address is read. Other named types must be written as what they are made of.

use crate::types::{Field, GoType};

/// A parsed signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The function's full name.
    pub name: String,
    /// Parameters, receiver first for methods written with one (`(s *T) Name(...)` is not Go
    /// syntax for this: write the receiver as the first parameter).
    pub params: Vec<Field>,
    /// Results (`~r0`, `~r1`, ... when unnamed, as Go's DWARF names them).
    pub results: Vec<Field>,
}

/// Why a signature could not be read: the message and the byte position in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed signature at byte {pos}: {msg}")]
pub struct SignatureError {
    /// What was wrong.
    pub msg: String,
    /// Byte offset into the signature text.
    pub pos: usize,
}

/// Whether `text` looks like a signature rather than a name or pattern: it has a parameter
/// list after the name.
pub fn is_signature(text: &str) -> bool {
    split_name(text).is_some_and(|(_, rest)| rest.trim_start().starts_with('('))
}

/// Splits `main.(*T).M(a int) int` into the name and the rest. A `(` right after a `.` opens a
/// receiver, part of the name; brackets are type arguments, part of the name.
fn split_name(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut prev = '\0';
    for (i, ch) in text.char_indices() {
        match ch {
            '(' if depth == 0 && prev != '.' && i > 0 => {
                return Some((text.get(..i)?, text.get(i..)?))
            }
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
        prev = ch;
    }
    None
}

/// Parses a signature.
pub fn parse(text: &str) -> Result<Signature, SignatureError> {
    let (name, rest) = split_name(text).ok_or(SignatureError {
        msg: "expected NAME(PARAMS)".into(),
        pos: 0,
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(SignatureError {
            msg: "missing function name".into(),
            pos: 0,
        });
    }
    let base = text.len() - rest.len();
    let mut p = Parser {
        s: rest,
        pos: 0,
        base,
    };
    let params = p.params()?;
    p.ws();
    let results = if p.peek() == Some('(') {
        p.params()?
    } else if p.at_end() {
        Vec::new()
    } else {
        vec![Field {
            name: String::new(),
            ty: p.ty()?,
        }]
    };
    p.ws();
    if !p.at_end() {
        return Err(p.err("unexpected text after the signature"));
    }
    let results = results
        .into_iter()
        .enumerate()
        .map(|(i, f)| Field {
            name: if f.name.is_empty() {
                format!("~r{i}")
            } else {
                f.name
            },
            ty: f.ty,
        })
        .collect();
    let params = params
        .into_iter()
        .enumerate()
        .map(|(i, f)| Field {
            name: if f.name.is_empty() {
                format!("~p{i}")
            } else {
                f.name
            },
            ty: f.ty,
        })
        .collect();
    Ok(Signature {
        name: name.to_string(),
        params,
        results,
    })
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    base: usize,
}

/// Types nest at most this deep.
const MAX_DEPTH: usize = 32;

impl Parser<'_> {
    fn err(&self, msg: impl Into<String>) -> SignatureError {
        SignatureError {
            msg: msg.into(),
            pos: self.base + self.pos,
        }
    }

    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.rest().trim().is_empty()
    }

    fn ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), SignatureError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.err(format!("expected {tok:?}")))
        }
    }

    /// An identifier, possibly qualified (`pkg.Name`, `example.com/x.Name`).
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let r = self.rest();
        let len: usize = r
            .char_indices()
            .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
            .map(|(i, c)| i + c.len_utf8())
            .last()
            .unwrap_or(0);
        if len == 0 || r.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let id = r.get(..len)?.to_string();
        self.pos += len;
        Some(id)
    }

    /// `( [name] Type, ... )` with Go's grouping `a, b int`.
    fn params(&mut self) -> Result<Vec<Field>, SignatureError> {
        self.expect("(")?;
        let mut entries: Vec<(Option<String>, Option<GoType>)> = Vec::new();
        if !self.eat(")") {
            loop {
                let save = self.pos;
                // `name Type`, `name`, or `Type`.
                let entry = match self.ident() {
                    Some(id) if !is_type_word(&id) => {
                        self.ws();
                        match self.peek() {
                            Some(',') | Some(')') => (Some(id), None),
                            _ => (Some(id), Some(self.ty_depth(0)?)),
                        }
                    }
                    _ => {
                        self.pos = save;
                        (None, Some(self.ty_depth(0)?))
                    }
                };
                entries.push(entry);
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        // If any entry is `name Type`, lone names share the next type; else lone names are types.
        let named = entries.iter().any(|(n, t)| n.is_some() && t.is_some());
        let mut out: Vec<Field> = Vec::new();
        let mut pending: Vec<String> = Vec::new();
        for (n, t) in entries {
            match (n, t, named) {
                (Some(n), None, true) => pending.push(n),
                (Some(n), Some(t), true) => {
                    for p in pending.drain(..) {
                        out.push(Field {
                            name: p,
                            ty: t.clone(),
                        });
                    }
                    out.push(Field { name: n, ty: t });
                }
                (None, Some(_), true) => return Err(self.err("mixed named and unnamed parameters")),
                (Some(n), None, false) => out.push(Field {
                    name: String::new(),
                    ty: named_type(&n).map_err(|m| self.err(m))?,
                }),
                (_, Some(t), false) => out.push(Field {
                    name: String::new(),
                    ty: t,
                }),
                (None, None, _) => return Err(self.err("empty parameter")),
            }
        }
        if !pending.is_empty() {
            return Err(self.err(format!("parameter {} has no type", pending.join(", "))));
        }
        Ok(out)
    }

    fn ty(&mut self) -> Result<GoType, SignatureError> {
        self.ty_depth(0)
    }

    fn ty_depth(&mut self, depth: usize) -> Result<GoType, SignatureError> {
        if depth > MAX_DEPTH {
            return Err(self.err("type nested too deeply"));
        }
        let d = depth + 1;
        self.ws();
        if self.eat("...") {
            return Ok(GoType::Slice(Box::new(self.ty_depth(d)?)));
        }
        if self.eat("*") {
            // Any named pointee is fine: only the pointer is read.
            let save = self.pos;
            if let Some(id) = self.ident() {
                let keyword = matches!(
                    id.as_str(),
                    "map" | "chan" | "func" | "struct" | "interface"
                );
                if named_type(&id).is_err() && !keyword {
                    return Ok(GoType::Pointer(Box::new(GoType::Named {
                        name: id,
                        underlying: Box::new(GoType::Struct(Vec::new())),
                    })));
                }
            }
            self.pos = save;
            return Ok(GoType::Pointer(Box::new(self.ty_depth(d)?)));
        }
        if self.eat("[") {
            if self.eat("]") {
                return Ok(GoType::Slice(Box::new(self.ty_depth(d)?)));
            }
            self.ws();
            let digits: String = self
                .rest()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let len: u64 = digits
                .parse()
                .map_err(|_| self.err("expected an array length"))?;
            self.pos += digits.len();
            self.expect("]")?;
            return Ok(GoType::Array {
                len,
                elem: Box::new(self.ty_depth(d)?),
            });
        }
        if self.eat("<-") {
            self.expect("chan")?;
            self.ty_depth(d)?;
            return Ok(GoType::Chan);
        }
        if self.eat("(") {
            let t = self.ty_depth(d)?;
            self.expect(")")?;
            return Ok(t);
        }
        let id = self.ident().ok_or_else(|| self.err("expected a type"))?;
        match id.as_str() {
            "map" => {
                self.expect("[")?;
                self.ty_depth(d)?;
                self.expect("]")?;
                self.ty_depth(d)?;
                Ok(GoType::Map)
            }
            "chan" => {
                self.eat("<-");
                self.ty_depth(d)?;
                Ok(GoType::Chan)
            }
            "func" => {
                self.params()?;
                // Optional results.
                self.ws();
                if self.peek() == Some('(') {
                    self.params()?;
                } else if matches!(self.peek(), Some(c) if c.is_alphanumeric() || matches!(c, '*' | '['))
                {
                    self.ty_depth(d)?;
                }
                Ok(GoType::Func)
            }
            "struct" => self.struct_body(d),
            "interface" => {
                self.expect("{")?;
                let body_start = self.pos;
                let mut level = 1;
                while level > 0 {
                    match self.peek() {
                        Some('{') => level += 1,
                        Some('}') => level -= 1,
                        Some(_) => {}
                        None => return Err(self.err("unterminated interface")),
                    }
                    self.pos += self.peek().map_or(1, char::len_utf8);
                }
                let body = self.s.get(body_start..self.pos - 1).unwrap_or("");
                Ok(GoType::Interface {
                    empty: body.trim().is_empty(),
                })
            }
            other => named_type(other).map_err(|m| self.err(m)),
        }
    }

    fn struct_body(&mut self, depth: usize) -> Result<GoType, SignatureError> {
        self.expect("{")?;
        let mut fields = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            let mut names = vec![self
                .ident()
                .ok_or_else(|| self.err("expected a field name"))?];
            while self.eat(",") {
                names.push(
                    self.ident()
                        .ok_or_else(|| self.err("expected a field name"))?,
                );
            }
            let ty = self.ty_depth(depth)?;
            for n in names {
                fields.push(Field {
                    name: n,
                    ty: ty.clone(),
                });
            }
            if !self.eat(";") {
                self.expect("}")?;
                break;
            }
        }
        Ok(GoType::Struct(fields))
    }
}

/// Words that start a type, not a parameter name.
fn is_type_word(id: &str) -> bool {
    named_type(id).is_ok() || matches!(id, "map" | "chan" | "func" | "struct" | "interface")
}

/// The predeclared and well-known types by name.
fn named_type(id: &str) -> Result<GoType, String> {
    if let Some(t) = crate::types::predeclared(id) {
        return Ok(t);
    }
    Ok(match id {
        "byte" => GoType::Uint { bits: 8 },
        "rune" => GoType::Int { bits: 32 },
        "string" => GoType::String,
        "error" => GoType::Interface { empty: false },
        "any" => GoType::Interface { empty: true },
        "unsafe.Pointer" => GoType::UnsafePointer,
        other => {
            return Err(format!(
                "unknown type {other:?}: use a predeclared type, a pointer (*{other}), or write what it is made of (struct {{ ... }})"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, ty: GoType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let s = parse("main.Greet(name string, n int) (string, error)").unwrap();
        assert_eq!(s.name, "main.Greet");
        assert_eq!(
            s.params,
            [f("name", GoType::String), f("n", GoType::Int { bits: 0 })]
        );
        assert_eq!(
            s.results,
            [
                f("~r0", GoType::String),
                f("~r1", GoType::Interface { empty: false })
            ]
        );
    }

    #[test]
    fn receivers_groups_variadics_and_composites() {
        let s = parse("main.(*Server).Handle(s *main.Server, a, b int32, rest ...[]byte) bool")
            .unwrap();
        assert_eq!(s.name, "main.(*Server).Handle");
        assert_eq!(s.params.len(), 4);
        assert_eq!(s.params[1], f("a", GoType::Int { bits: 32 }));
        assert_eq!(s.params[2], f("b", GoType::Int { bits: 32 }));
        assert_eq!(
            s.params[3].ty,
            GoType::Slice(Box::new(GoType::Slice(Box::new(GoType::Uint { bits: 8 }))))
        );
        assert_eq!(s.results, [f("~r0", GoType::Bool)]);
        let s = parse("main.F(p struct { X, Y int; Name string }, m map[string][]int, c <-chan int, fn func(int) error, a [4]uint16, i interface{ M() }, e any)").unwrap();
        assert_eq!(
            s.params[0].ty,
            GoType::Struct(vec![
                f("X", GoType::Int { bits: 0 }),
                f("Y", GoType::Int { bits: 0 }),
                f("Name", GoType::String)
            ])
        );
        assert_eq!(s.params[1].ty, GoType::Map);
        assert_eq!(s.params[2].ty, GoType::Chan);
        // A pointer to a struct written out is read through, not taken for a named type.
        let ptr = parse("main.F(p *struct { N int })").unwrap();
        assert_eq!(
            ptr.params[0].ty,
            GoType::Pointer(Box::new(GoType::Struct(vec![f(
                "N",
                GoType::Int { bits: 0 }
            )])))
        );
        assert_eq!(s.params[3].ty, GoType::Func);
        assert_eq!(
            s.params[4].ty,
            GoType::Array {
                len: 4,
                elem: Box::new(GoType::Uint { bits: 16 })
            }
        );
        assert_eq!(s.params[5].ty, GoType::Interface { empty: false });
        assert_eq!(s.params[6].ty, GoType::Interface { empty: true });
        let s = parse("main.Map[...](int, string) (x float64, y complex128)").unwrap();
        assert_eq!(s.name, "main.Map[...]");
        assert_eq!(
            s.params,
            [f("~p0", GoType::Int { bits: 0 }), f("~p1", GoType::String)]
        );
        assert_eq!(
            s.results,
            [
                f("x", GoType::Float { bits: 64 }),
                f("y", GoType::Complex { bits: 128 })
            ]
        );
    }

    #[test]
    fn rejects_malformed_signatures() {
        for bad in [
            "main.F(a int",
            "main.F(a Foo)",
            "main.F(a int) int int",
            "(a int)",
            "main.F(a int, b)",
            "main.F(a [x]int)",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_signature("main.F(a int)"));
        assert!(!is_signature("main.(*T).M"));
        assert!(!is_signature("main.*"));
    }
}

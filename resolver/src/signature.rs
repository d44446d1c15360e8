//! Signatures the user writes for a stripped binary.
//!
//! Three forms, all meaning the same:
//! - the function's full name as gosyms lists it, then its parameters and results:
//!   `main.Greet(name string, n int) (string, error)`, `main.(*Server).Rename(name string) (old
//!   string)` (a method written without its receiver: the resolver adds it), or with the
//!   receiver as the first parameter, as in a method expression
//!   (`main.(*Server).Rename(s *main.Server, name string) (old string)`);
//! - the Go declaration, `func (s *Server) Rename(name string) (old string)` or `func
//!   Greet(name string) error`: the package is the one whose function has that name (the
//!   resolver refuses an ambiguous one; write `*main.Server` to choose).
//!
//! Types are written as in Go: the predeclared types, `string`, `error`, `any`,
//! `unsafe.Pointer`, the composites built from them (`[]T`, `[N]T`, `*T`, `map[K]V`, `chan T`,
//! `func(...)`, `struct { ... }`, `interface { ... }`), and named types (`*main.Order`,
//! `os.FileMode`, `context.Context`, `http.ResponseWriter`, `main.Pair[int,string]`, or
//! `Order` for a type of the function's own package). Named types are parsed as names only
//! ([`GoType::Opaque`]); the resolver looks them up in the binary's type descriptors.

use crate::types::{Field, GoType};

/// A parsed signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The function's name: its full name (`main.(*Server).Rename`), or without the package
    /// when the declaration form did not say it (`(*Server).Rename`, `Greet`); see
    /// [`Signature::qualified`].
    pub name: String,
    /// Whether `name` includes the package.
    pub qualified: bool,
    /// The receiver, when the declaration form gives one.
    pub receiver: Option<Field>,
    /// Parameters, as written (for a method in the first form, with or without the receiver).
    pub params: Vec<Field>,
    /// Results (`~r0`, `~r1`, ... when unnamed, as Go's DWARF names them).
    pub results: Vec<Field>,
}

impl Signature {
    /// Whether `function` (a full name from the binary) is the function this signature names.
    pub fn matches(&self, function: &str) -> bool {
        if self.qualified {
            return function == self.name;
        }
        // `pkg.` + name, where pkg is an import path: no parentheses, and no dot in its last
        // element (pclntab escapes those as %2e).
        let Some(prefix) = function
            .strip_suffix(self.name.as_str())
            .and_then(|p| p.strip_suffix('.'))
        else {
            return false;
        };
        let last = prefix.rsplit('/').next().unwrap_or(prefix);
        !prefix.is_empty() && !prefix.contains(['(', ')', '[', ']']) && !last.contains('.')
    }

    /// The package of a function this signature matched, when the signature did not say it.
    pub fn package_of<'f>(&self, function: &'f str) -> Option<&'f str> {
        if self.qualified {
            return Some(pclntab::names::package_of(function));
        }
        function
            .strip_suffix(self.name.as_str())
            .and_then(|p| p.strip_suffix('.'))
    }
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

/// Whether `text` looks like a signature rather than a name or pattern: a declaration, or a
/// parameter list after the name.
pub fn is_signature(text: &str) -> bool {
    let t = text.trim_start();
    t.strip_prefix("func")
        .is_some_and(|rest| rest.starts_with([' ', '(', '\t']))
        || split_name(text).is_some_and(|(_, rest)| rest.trim_start().starts_with('('))
}

/// Splits `main.(*T).M(a int) int` into the name and the rest. A `(` right after a `.` opens a
/// receiver, part of the name; brackets are type arguments, part of the name.
pub(crate) fn split_name(text: &str) -> Option<(&str, &str)> {
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
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix("func") {
        let base = text.len() - rest.len();
        return parse_declaration(rest, base);
    }
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
    let (params, results) = p.params_and_results()?;
    Ok(Signature {
        name: name.to_string(),
        qualified: name.contains('.') && !name.starts_with('('),
        receiver: None,
        params,
        results,
    })
}

/// Parses a type written as in a signature: `io/fs.FileMode`, `[]*main.T`, `struct { X int }`.
pub fn parse_type(text: &str) -> Result<GoType, SignatureError> {
    let mut p = Parser {
        s: text,
        pos: 0,
        base: 0,
    };
    let t = p.ty()?;
    if !p.at_end() {
        return Err(p.err("unexpected text after the type"));
    }
    Ok(t)
}

/// `func (r *T) M(...) ...` or `func F(...) ...`, after `func`.
fn parse_declaration(rest: &str, base: usize) -> Result<Signature, SignatureError> {
    let mut p = Parser {
        s: rest,
        pos: 0,
        base,
    };
    p.ws();
    let receiver = if p.peek() == Some('(') {
        let mut recv = p.params()?;
        if recv.len() != 1 {
            return Err(p.err("a method has exactly one receiver"));
        }
        Some(recv.remove(0))
    } else {
        None
    };
    let method = p
        .ident()
        .ok_or_else(|| p.err("expected the function's name"))?;
    let (params, results) = p.params_and_results()?;
    let (name, qualified) = match &receiver {
        None => {
            let qualified = method.contains('.');
            (method, qualified)
        }
        Some(r) => {
            let (star, ty) = match &r.ty {
                GoType::Pointer(t) => ("*", t.as_ref()),
                t => ("", t),
            };
            let GoType::Opaque { name: tname } = ty else {
                return Err(p.err("the receiver must be a named type or a pointer to one"));
            };
            if method.contains('.') {
                return Err(p.err("a method's name has no package"));
            }
            // `main.Server` as a receiver names the package; `Server` leaves it open.
            match tname.rfind('.') {
                Some(dot) if !tname.ends_with(']') || dot < tname.find('[').unwrap_or(0) => {
                    let (pkg, t) = (&tname[..dot], &tname[dot + 1..]);
                    let recv = if star.is_empty() {
                        t.to_string()
                    } else {
                        format!("(*{t})")
                    };
                    (format!("{pkg}.{recv}.{method}"), true)
                }
                _ => {
                    let recv = if star.is_empty() {
                        tname.clone()
                    } else {
                        format!("(*{tname})")
                    };
                    (format!("{recv}.{method}"), false)
                }
            }
        }
    };
    Ok(Signature {
        name,
        qualified,
        receiver,
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
    /// `(PARAMS) RESULTS` to the end of the text, with unnamed parameters and results named
    /// `~p0`, `~r0`... as Go's DWARF names them.
    fn params_and_results(&mut self) -> Result<(Vec<Field>, Vec<Field>), SignatureError> {
        let params = self.params()?;
        self.ws();
        let results = if self.peek() == Some('(') {
            self.params()?
        } else if self.at_end() {
            Vec::new()
        } else {
            vec![Field {
                name: String::new(),
                ty: self.ty()?,
            }]
        };
        self.ws();
        if !self.at_end() {
            return Err(self.err("unexpected text after the signature"));
        }
        let name = |prefix: &str| {
            let prefix = prefix.to_string();
            move |(i, f): (usize, Field)| Field {
                name: if f.name.is_empty() {
                    format!("{prefix}{i}")
                } else {
                    f.name
                },
                ty: f.ty,
            }
        };
        Ok((
            params.into_iter().enumerate().map(name("~p")).collect(),
            results.into_iter().enumerate().map(name("~r")).collect(),
        ))
    }

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
                    // A predeclared type's name is a parameter's name when a type follows it
                    // (`func Error(w ResponseWriter, error string, code int)`).
                    Some(id)
                        if !is_type_word(&id)
                            || (!is_type_keyword(&id)
                                && !id.contains('.')
                                && !matches!(
                                    self.rest().trim_start().chars().next(),
                                    None | Some(',' | ')')
                                )) =>
                    {
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
                let key = self.ty_depth(d)?;
                self.expect("]")?;
                let elem = self.ty_depth(d)?;
                Ok(GoType::Map {
                    key: Box::new(key),
                    elem: Box::new(elem),
                })
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
                } else if matches!(self.peek(), Some(c) if c.is_alphanumeric() || matches!(c, '*' | '[' | '<'))
                {
                    self.ty_depth(d)?;
                }
                Ok(GoType::Func)
            }
            "struct" => self.struct_body(d),
            other if crate::types::predeclared(other).is_none() && self.rest().starts_with('[') => {
                // A generic type's instantiation: `main.Pair[int,string]`, named as reflect
                // names it (no spaces).
                self.expect("[")?;
                let mut args = Vec::new();
                loop {
                    args.push(self.ty_depth(d)?.to_string());
                    if self.eat("]") {
                        break;
                    }
                    self.expect(",")?;
                }
                Ok(GoType::Opaque {
                    name: format!("{other}[{}]", args.join(",")),
                })
            }
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

/// Go's keywords that start a type: never a parameter's name.
fn is_type_keyword(id: &str) -> bool {
    matches!(id, "map" | "chan" | "func" | "struct" | "interface")
}

/// Words that start a type, not a parameter name (unless a type follows them).
fn is_type_word(id: &str) -> bool {
    crate::types::predeclared(id).is_some()
        || matches!(
            id,
            "byte"
                | "rune"
                | "string"
                | "error"
                | "any"
                | "map"
                | "chan"
                | "func"
                | "struct"
                | "interface"
        )
        || id.contains('.')
}

/// The predeclared and well-known types by name; any other name is a named type to look up.
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
        other if other.starts_with(|c: char| c.is_alphabetic() || c == '_') => GoType::Opaque {
            name: other.to_string(),
        },
        other => return Err(format!("{other:?} is not a type")),
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
        assert_eq!(
            s.params[1].ty,
            GoType::Map {
                key: Box::new(GoType::String),
                elem: Box::new(GoType::Slice(Box::new(GoType::Int { bits: 0 })))
            }
        );
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

    fn opaque(name: &str) -> GoType {
        GoType::Opaque { name: name.into() }
    }

    #[test]
    fn named_types_are_names_until_resolved() {
        let s = parse(
            "main.F(o *main.Order, m os.FileMode, ctx context.Context, w net/http.ResponseWriter, p main.Pair[int, *main.Order], x Local)",
        )
        .unwrap();
        let tys: Vec<GoType> = s.params.iter().map(|p| p.ty.clone()).collect();
        assert_eq!(
            tys,
            [
                GoType::Pointer(Box::new(opaque("main.Order"))),
                opaque("os.FileMode"),
                opaque("context.Context"),
                opaque("net/http.ResponseWriter"),
                opaque("main.Pair[int,*main.Order]"),
                opaque("Local"),
            ]
        );
        // Unnamed parameters of named types.
        let s = parse("main.F(main.Order, *main.Order) main.Order").unwrap();
        assert_eq!(s.params[0], f("~p0", opaque("main.Order")));
        assert_eq!(s.results[0], f("~r0", opaque("main.Order")));
    }

    #[test]
    fn three_forms_of_a_method() {
        let decl = parse("func (s *Server) Rename(name string) (old string)").unwrap();
        assert_eq!(decl.name, "(*Server).Rename");
        assert!(!decl.qualified);
        assert_eq!(
            decl.receiver,
            Some(f("s", GoType::Pointer(Box::new(opaque("Server")))))
        );
        assert_eq!(decl.params, [f("name", GoType::String)]);
        assert_eq!(decl.results, [f("old", GoType::String)]);
        assert!(decl.matches("main.(*Server).Rename"));
        assert!(decl.matches("example.com/x/y.(*Server).Rename"));
        assert!(!decl.matches("main.(*Server).RenameAll"));
        assert!(!decl.matches("main.(*T).(*Server).Rename"));
        assert_eq!(
            decl.package_of("example.com/x.(*Server).Rename"),
            Some("example.com/x")
        );
        let q = parse("func (s main.Server) Name() string").unwrap();
        assert_eq!((q.name.as_str(), q.qualified), ("main.Server.Name", true));
        let f2 = parse("func Greet(name string) error").unwrap();
        assert_eq!((f2.name.as_str(), f2.qualified), ("Greet", false));
        assert!(f2.matches("main.Greet") && !f2.matches("main.(*T).Greet"));
        let full = parse("main.(*Server).Rename(name string) (old string)").unwrap();
        assert!(full.qualified && full.receiver.is_none());
    }

    #[test]
    fn predeclared_names_as_parameter_names() {
        let s = parse("net/http.Error(w net/http.ResponseWriter, error string, code int)").unwrap();
        assert_eq!(s.params[1], f("error", GoType::String));
        let s = parse("math.Modf(f float64) (int float64, frac float64)").unwrap();
        assert_eq!(s.results[0], f("int", GoType::Float { bits: 64 }));
        // Alone, they are still types.
        let s = parse("main.F(int, error) (string, any)").unwrap();
        assert_eq!(s.params[1], f("~p1", GoType::Interface { empty: false }));
        assert_eq!(s.results[1], f("~r1", GoType::Interface { empty: true }));
        // A func type's result may be a receive-only channel.
        let s = parse("main.F(f func() <-chan int, n int)").unwrap();
        assert_eq!(s.params[0].ty, GoType::Func);
        assert_eq!(s.params[1], f("n", GoType::Int { bits: 0 }));
    }

    #[test]
    fn types_alone() {
        assert_eq!(
            parse_type("struct { wall uint64; loc *time.Location }").unwrap(),
            GoType::Struct(vec![
                f("wall", GoType::Uint { bits: 64 }),
                f("loc", GoType::Pointer(Box::new(opaque("time.Location"))))
            ])
        );
        assert_eq!(
            parse_type("io/fs.FileMode").unwrap(),
            opaque("io/fs.FileMode")
        );
        assert!(parse_type("int int").is_err());
        assert!(parse_type("").is_err());
    }

    #[test]
    fn rejects_malformed_signatures() {
        for bad in [
            "main.F(a int",
            "main.F(a 9x)",
            "main.F(a int) int int",
            "(a int)",
            "main.F(a int, b)",
            "main.F(a [x]int)",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_signature("main.F(a int)"));
        assert!(is_signature("func (s *Server) M()"));
        assert!(parse("func (a, b *T) M()").is_err());
        assert!(parse("func (s []int) M()").is_err());
        assert!(!is_signature("main.(*T).M"));
        assert!(!is_signature("main.*"));
    }
}

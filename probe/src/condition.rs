//! `--where`: conditions on arguments and results, decided in the kernel.
//!
//! A condition compares values with literals, joined by `&&`, `||` and `!`, with parentheses:
//!
//! ```text
//! n > 100 && name == "alpha"          integers (every width and sign), strings
//! hasPrefix(path, "/api/") || !ok     a string's prefix; bools as they are
//! err != nil                          nil for pointers, maps, slices, channels, funcs, interfaces
//! req.URL.Path == "/"                 fields of structs, through pointers
//! ```
//!
//! Names are the function's arguments and results (`err` is also the last result when it is an
//! `error` and none is named so). Each comparison becomes a [`Leaf`] that the program makes on
//! what it captured, at the entry for arguments and at the returns for results; a comparison
//! whose value could not be read there (a nil pointer on the way, memory paged out) is false.
//! The program does not interpret the expression: user space gives it truth tables over the
//! comparisons' outcomes ([`SpecFilter`]), so that a call is left out at its entry when its
//! arguments already decide, and is kept until its return otherwise.

use crate::reads::{Owner, ReadPlan};
use crate::spec::top_word;
use probe_common::{
    Leaf, SpecFilter, Word, FILTER_ERROR, FILTER_WHERE, MAX_DEREF_BYTES, MAX_LEAVES, MAX_LITERAL,
    OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT, OP_NE, OP_SGE, OP_SGT, OP_SLE, OP_SLT, OP_STR_EQ, OP_STR_NE,
    OP_STR_PREFIX, TABLE_WORDS, WORD_DEREF,
};
use resolver::abi::ValueLayout;
use resolver::types::{field_offsets, GoType};
use std::collections::BTreeSet;

/// Why a condition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionError {
    /// It does not parse.
    #[error("--where: {what} at column {column}")]
    Syntax {
        /// What was wrong.
        what: String,
        /// 1-based.
        column: usize,
    },
    /// A name that is neither an argument nor a result.
    #[error("--where: no argument or result is named {name}; {function} has {known}")]
    UnknownName {
        /// The name.
        name: String,
        /// The function.
        function: String,
        /// Its names, listed.
        known: String,
    },
    /// A comparison that does not fit the value's type.
    #[error("--where: {function}: {path} is {ty}: {why}")]
    Type {
        /// The function.
        function: String,
        /// The value, as written.
        path: String,
        /// Its type.
        ty: String,
        /// What is wrong.
        why: String,
    },
    /// The function's types are not known.
    #[error("--where: the types of {0} are unknown (give its signature, or --debug-file)")]
    Untyped(String),
    /// Too many comparisons for the program.
    #[error("--where: {0} comparisons, at most {MAX_LEAVES}")]
    TooMany(usize),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Prefix,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Prefix => "hasPrefix",
        }
    }
}

/// A literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lit {
    Int(i128),
    Str(Vec<u8>),
    Bool(bool),
    Nil,
}

/// One comparison as written: `path op literal`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cmp {
    path: Vec<String>,
    op: Op,
    lit: Lit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Cmp(usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The value of the expression when comparison `i` has outcome `outcome(i)`.
    fn eval(&self, outcome: &impl Fn(usize) -> bool) -> bool {
        match self {
            Expr::Cmp(i) => outcome(*i),
            Expr::Not(e) => !e.eval(outcome),
            Expr::And(a, b) => a.eval(outcome) && b.eval(outcome),
            Expr::Or(a, b) => a.eval(outcome) || b.eval(outcome),
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub struct Condition {
    expr: Expr,
    cmps: Vec<Cmp>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i128),
    Str(Vec<u8>),
    Sym(&'static str),
}

fn syntax(what: impl Into<String>, column: usize) -> ConditionError {
    ConditionError::Syntax {
        what: what.into(),
        column,
    }
}

/// Splits the text into tokens, each with its 1-based column.
fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let col = |i: usize| text.get(..i).map_or(0, |t| t.chars().count()) + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).map(|x| x.1);
        let two = |a: char, b: char| c == a && next == Some(b);
        let sym = if two('&', '&') {
            Some("&&")
        } else if two('|', '|') {
            Some("||")
        } else if two('=', '=') {
            Some("==")
        } else if two('!', '=') {
            Some("!=")
        } else if two('<', '=') {
            Some("<=")
        } else if two('>', '=') {
            Some(">=")
        } else {
            None
        };
        if let Some(s) = sym {
            out.push((Tok::Sym(s), col(at)));
            i += 2;
            continue;
        }
        let one = match c {
            '!' => Some("!"),
            '<' => Some("<"),
            '>' => Some(">"),
            '(' => Some("("),
            ')' => Some(")"),
            ',' => Some(","),
            '.' => Some("."),
            _ => None,
        };
        if let Some(s) = one {
            out.push((Tok::Sym(s), col(at)));
            i += 1;
            continue;
        }
        if c == '=' {
            return Err(syntax("`=` (compare with `==`)", col(at)));
        }
        if c == '"' || c == '`' {
            let (bytes, end) = string(text, &chars, i)?;
            out.push((Tok::Str(bytes), col(at)));
            i = end;
            continue;
        }
        if c.is_ascii_digit() || c == '-' && next.is_some_and(|n| n.is_ascii_digit()) {
            let start = i;
            i += 1;
            while chars
                .get(i)
                .is_some_and(|x| x.1.is_ascii_alphanumeric() || x.1 == '_')
            {
                i += 1;
            }
            let end = chars.get(i).map_or(text.len(), |x| x.0);
            let word = text.get(at..end).unwrap_or_default();
            let n = integer(word).ok_or_else(|| {
                syntax(
                    format!("{word:?} is not an integer"),
                    col(chars.get(start).map_or(at, |x| x.0)),
                )
            })?;
            out.push((Tok::Int(n), col(at)));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '~' {
            let start = at;
            while chars
                .get(i)
                .is_some_and(|x| x.1.is_alphanumeric() || x.1 == '_' || x.1 == '~')
            {
                i += 1;
            }
            let end = chars.get(i).map_or(text.len(), |x| x.0);
            out.push((
                Tok::Ident(text.get(start..end).unwrap_or_default().to_string()),
                col(at),
            ));
            continue;
        }
        return Err(syntax(format!("unexpected {c:?}"), col(at)));
    }
    Ok(out)
}

/// An integer literal as Go writes them: decimal, `0x`, `0o`, `0b`, with `_` separators.
fn integer(word: &str) -> Option<i128> {
    let (neg, w) = match word.strip_prefix('-') {
        Some(w) => (true, w),
        None => (false, word),
    };
    let w = w.replace('_', "");
    let lower = w.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o.to_string(), 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b.to_string(), 2)
    } else {
        (lower, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let n = u128::from_str_radix(&digits, radix).ok()?;
    let n = i128::try_from(n).ok()?;
    Some(if neg { -n } else { n })
}

/// A string literal starting at `chars[i]`: its bytes, and the index after it. Interpreted
/// strings take Go's escapes; raw strings (backquotes) are taken as they are.
fn string(
    text: &str,
    chars: &[(usize, char)],
    i: usize,
) -> Result<(Vec<u8>, usize), ConditionError> {
    let col = |i: usize| text.get(..i).map_or(0, |t| t.chars().count()) + 1;
    let Some(&(start, quote)) = chars.get(i) else {
        return Err(syntax("a string", col(text.len())));
    };
    let mut out = Vec::new();
    let mut j = i + 1;
    loop {
        let Some(&(at, c)) = chars.get(j) else {
            return Err(syntax("a string that does not end", col(start)));
        };
        j += 1;
        if c == quote {
            return Ok((out, j));
        }
        if c != '\\' || quote == '`' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        let Some(&(_, e)) = chars.get(j) else {
            return Err(syntax("a string that does not end", col(start)));
        };
        j += 1;
        let hex = |n: usize, j: &mut usize| -> Option<u32> {
            let s: String = chars.get(*j..*j + n)?.iter().map(|x| x.1).collect();
            *j += n;
            u32::from_str_radix(&s, 16).ok()
        };
        match e {
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'r' => out.push(b'\r'),
            '0' => out.push(0),
            '\\' => out.push(b'\\'),
            '"' => out.push(b'"'),
            '\'' => out.push(b'\''),
            'x' => {
                let v = hex(2, &mut j).ok_or_else(|| syntax("a bad \\x escape", col(at)))?;
                out.push(v as u8);
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let ch = hex(n, &mut j)
                    .and_then(char::from_u32)
                    .ok_or_else(|| syntax("a bad \\u escape", col(at)))?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            other => return Err(syntax(format!("an unknown escape \\{other}"), col(at))),
        }
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    end_col: usize,
    cmps: Vec<Cmp>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn col(&self) -> usize {
        self.toks.get(self.at).map_or(self.end_col, |t| t.1)
    }

    fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, sym: &str) -> Result<(), ConditionError> {
        if self.eat(sym) {
            Ok(())
        } else {
            Err(syntax(format!("expected `{sym}`"), self.col()))
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let e = self.or()?;
            self.expect(")")?;
            return Ok(e);
        }
        self.comparison()
    }

    fn path(&mut self) -> Result<Vec<String>, ConditionError> {
        let mut path = Vec::new();
        loop {
            match self.peek().cloned() {
                Some(Tok::Ident(name)) => {
                    self.at += 1;
                    path.push(name);
                }
                _ => return Err(syntax("expected a name", self.col())),
            }
            if !self.eat(".") {
                return Ok(path);
            }
        }
    }

    fn literal(&mut self) -> Result<Lit, ConditionError> {
        let lit = match self.peek().cloned() {
            Some(Tok::Int(n)) => Lit::Int(n),
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Ident(w)) if w == "true" => Lit::Bool(true),
            Some(Tok::Ident(w)) if w == "false" => Lit::Bool(false),
            Some(Tok::Ident(w)) if w == "nil" => Lit::Nil,
            _ => {
                return Err(syntax(
                    "expected a literal (an integer, a string, true, false or nil)",
                    self.col(),
                ))
            }
        };
        self.at += 1;
        Ok(lit)
    }

    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == "hasPrefix") {
            self.at += 1;
            self.expect("(")?;
            let path = self.path()?;
            self.expect(",")?;
            let col = self.col();
            let lit = self.literal()?;
            if !matches!(lit, Lit::Str(_)) {
                return Err(syntax("hasPrefix takes a string literal", col));
            }
            self.expect(")")?;
            return Ok(self.push(path, Op::Prefix, lit));
        }
        let path = self.path()?;
        let op = match self.peek() {
            Some(Tok::Sym("==")) => Op::Eq,
            Some(Tok::Sym("!=")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            // A bool on its own.
            _ => return Ok(self.push(path, Op::Eq, Lit::Bool(true))),
        };
        self.at += 1;
        let lit = self.literal()?;
        Ok(self.push(path, op, lit))
    }

    fn push(&mut self, path: Vec<String>, op: Op, lit: Lit) -> Expr {
        self.cmps.push(Cmp { path, op, lit });
        Expr::Cmp(self.cmps.len() - 1)
    }
}

impl Condition {
    /// Parses a condition.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let toks = tokens(text)?;
        if toks.is_empty() {
            return Err(syntax("an empty condition", 1));
        }
        let mut p = Parser {
            toks,
            at: 0,
            end_col: text.chars().count() + 1,
            cmps: Vec::new(),
        };
        let expr = p.or()?;
        if p.at < p.toks.len() {
            return Err(syntax("expected `&&`, `||` or the end", p.col()));
        }
        if p.cmps.len() > MAX_LEAVES {
            return Err(ConditionError::TooMany(p.cmps.len()));
        }
        Ok(Condition { expr, cmps: p.cmps })
    }

    /// The names it uses (the first part of each path).
    pub fn names(&self) -> BTreeSet<&str> {
        self.cmps
            .iter()
            .filter_map(|c| c.path.first().map(String::as_str))
            .collect()
    }
}

/// What a condition is compiled against: one function's values and the reads planned for them.
pub struct FunctionValues<'p> {
    /// The function's name.
    pub function: &'p str,
    /// GOARCH: names the registers of the values.
    pub goarch: &'p str,
    /// Arguments, receiver first.
    pub args: &'p [ValueLayout],
    /// Results.
    pub results: &'p [ValueLayout],
    /// The entry probe's reads.
    pub entry_reads: &'p ReadPlan,
    /// The return probes' reads.
    pub ret_reads: &'p ReadPlan,
    /// Whether the layout is raw words (no names or types).
    pub raw: bool,
}

impl FunctionValues<'_> {
    /// Whether the last result is an `error`, which `err` names when no result is named so.
    pub fn error_result(&self) -> Option<usize> {
        let last = self.results.len().checked_sub(1)?;
        is_error(&self.results.get(last)?.ty).then_some(last)
    }

    fn known(&self) -> String {
        let mut names: Vec<String> = self.args.iter().map(|v| v.name.clone()).collect();
        names.extend(self.results.iter().map(|v| format!("{} (result)", v.name)));
        if self.error_result().is_some() && !self.results.iter().any(|v| v.name == "err") {
            names.push("err (the error result)".into());
        }
        if names.is_empty() {
            "no arguments or results".into()
        } else {
            names.join(", ")
        }
    }
}

/// Whether `t` is Go's `error`: the bare non-empty interface that DWARF and signatures give
/// it, or the named type that the binary's type descriptors give.
pub fn is_error(t: &GoType) -> bool {
    match t {
        GoType::Interface { empty: false } => true,
        GoType::Named { name, underlying } => {
            name == "error" && matches!(**underlying, GoType::Interface { empty: false })
        }
        _ => false,
    }
}

/// A read made bigger so that a comparison finds its bytes in it: at the return probe or the
/// entry, the read's number, and the bytes it must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widen {
    /// At the return probes (else the entry).
    pub at_return: bool,
    /// The read.
    pub read: usize,
    /// At least this many bytes.
    pub bytes: u32,
    /// A pointee read (one element): its element size grows too.
    pub pointee: bool,
}

/// A condition compiled for one function.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The entry spec's filter.
    pub entry: SpecFilter,
    /// The return specs' filter.
    pub ret: SpecFilter,
    /// Reads the comparisons need larger.
    pub widen: Vec<Widen>,
    /// Whether some comparison is on results (the call waits for its return).
    pub on_results: bool,
}

/// Where a value is: entry or return, whose bytes, the offset, and its type.
struct Target<'p> {
    at_return: bool,
    owner: Owner,
    offset: u64,
    ty: &'p GoType,
}

impl Condition {
    /// Compiles the condition for `f`.
    pub fn compile(&self, f: &FunctionValues<'_>) -> Result<Compiled, ConditionError> {
        if f.raw {
            return Err(ConditionError::Untyped(f.function.to_string()));
        }
        let mut leaves: Vec<(bool, Leaf)> = Vec::new();
        let mut widen = Vec::new();
        for cmp in &self.cmps {
            let target = self.resolve(f, cmp)?;
            leaves.push((target.at_return, leaf(f, cmp, &target, &mut widen)?));
        }
        // Entry comparisons take the low bits, return comparisons the ones above.
        let ne = leaves.iter().filter(|l| !l.0).count();
        let mut bit = vec![0usize; leaves.len()];
        let (mut e, mut r) = (0, ne);
        for (i, (at_return, _)) in leaves.iter().enumerate() {
            if let Some(b) = bit.get_mut(i) {
                if *at_return {
                    *b = r;
                    r += 1;
                } else {
                    *b = e;
                    e += 1;
                }
            }
        }
        let n = leaves.len();
        let eval = |mask: u64| {
            self.expr
                .eval(&|i| bit.get(i).is_some_and(|b| mask >> b & 1 != 0))
        };
        let mut entry = SpecFilter::pass();
        let mut ret = SpecFilter::pass();
        entry.flags = FILTER_WHERE;
        ret.flags = FILTER_WHERE;
        entry.accept = [0; TABLE_WORDS];
        ret.accept = [0; TABLE_WORDS];
        for m in 0..1u64 << ne {
            let outcomes: Vec<bool> = (0..1u64 << (n - ne)).map(|r| eval(m | r << ne)).collect();
            if outcomes.iter().all(|x| !x) {
                set(&mut entry.reject, m);
            }
            if outcomes.iter().all(|x| *x) {
                set(&mut entry.accept, m);
            }
        }
        for m in 0..1u64 << n {
            if eval(m) {
                set(&mut ret.accept, m);
            }
        }
        let (mut ei, mut ri) = (0, 0);
        for (at_return, l) in leaves {
            let (spec, i) = if at_return {
                (&mut ret, &mut ri)
            } else {
                (&mut entry, &mut ei)
            };
            if let Some(slot) = spec.leaves.get_mut(*i) {
                *slot = l;
            }
            *i += 1;
        }
        entry.nleaves = ne as u8;
        ret.nleaves = (n - ne) as u8;
        ret.first_bit = ne as u8;
        Ok(Compiled {
            entry,
            ret,
            widen,
            on_results: n > ne,
        })
    }

    /// Where the value a comparison names is.
    fn resolve<'p>(
        &self,
        f: &'p FunctionValues<'p>,
        cmp: &Cmp,
    ) -> Result<Target<'p>, ConditionError> {
        let Some(root) = cmp.path.first() else {
            return Err(syntax("expected a name", 1));
        };
        let found = f
            .args
            .iter()
            .position(|v| &v.name == root)
            .map(|i| (false, i))
            .or_else(|| {
                f.results
                    .iter()
                    .position(|v| &v.name == root)
                    .map(|i| (true, i))
            })
            .or_else(|| {
                (root == "err")
                    .then(|| f.error_result())
                    .flatten()
                    .map(|i| (true, i))
            });
        let Some((at_return, i)) = found else {
            return Err(ConditionError::UnknownName {
                name: root.clone(),
                function: f.function.to_string(),
                known: f.known(),
            });
        };
        let values = if at_return { f.results } else { f.args };
        let reads = if at_return {
            f.ret_reads
        } else {
            f.entry_reads
        };
        let Some(v) = values.get(i) else {
            return Err(syntax("expected a name", 1));
        };
        let mut t = Target {
            at_return,
            owner: Owner::Value(i),
            offset: 0,
            ty: &v.ty,
        };
        let mut written = root.clone();
        for field in cmp.path.iter().skip(1) {
            // Through pointers, as Go's selectors go.
            let mut ty = t.ty.underlying();
            if let GoType::Pointer(elem) = ty {
                let Some(&k) = reads.at.get(&(t.owner, t.offset)) else {
                    return Err(type_error(
                        f,
                        &written,
                        t.ty,
                        "a pointer gosyms does not follow here (raise --depth)",
                    ));
                };
                t.owner = Owner::Read(k);
                t.offset = 0;
                t.ty = elem;
                ty = elem.underlying();
            }
            let GoType::Struct(fields) = ty else {
                return Err(type_error(
                    f,
                    &written,
                    t.ty,
                    &format!("it has no field {field}"),
                ));
            };
            let Some((off, fl)) = field_offsets(fields, 8)
                .zip(fields)
                .find(|(_, fl)| &fl.name == field)
            else {
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                return Err(type_error(
                    f,
                    &written,
                    t.ty,
                    &format!("it has no field {field} (its fields: {})", names.join(", ")),
                ));
            };
            t.offset += off;
            t.ty = &fl.ty;
            written = format!("{written}.{field}");
        }
        Ok(t)
    }
}

fn set(table: &mut [u64; TABLE_WORDS], m: u64) {
    if let Some(w) = table.get_mut((m / 64) as usize) {
        *w |= 1 << (m % 64);
    }
}

fn type_error(f: &FunctionValues<'_>, path: &str, ty: &GoType, why: &str) -> ConditionError {
    ConditionError::Type {
        function: f.function.to_string(),
        path: path.to_string(),
        ty: if is_error(ty) {
            "error".to_string()
        } else {
            ty.to_string()
        },
        why: why.to_string(),
    }
}

/// The word at `offset` of `owner`, and the shift that brings the value's first byte to the
/// low end; a word inside a read may make the read larger.
fn word_at(
    f: &FunctionValues<'_>,
    t: &Target<'_>,
    offset: u64,
    widen: &mut Vec<Widen>,
) -> Option<(Word, u8)> {
    match t.owner {
        Owner::Value(i) => {
            let values = if t.at_return { f.results } else { f.args };
            Some((top_word(f.goarch, values, i, offset)?, 0))
        }
        Owner::Read(k) => {
            let aligned = offset & !7;
            let bytes = u32::try_from(aligned + 8).ok()?;
            if bytes > MAX_DEREF_BYTES {
                return None;
            }
            widen.push(Widen {
                at_return: t.at_return,
                read: k,
                bytes,
                pointee: true,
            });
            Some((
                Word {
                    kind: WORD_DEREF,
                    index: u8::try_from(k).ok()?,
                    pad: [0; 2],
                    value: u32::try_from(aligned).ok()?,
                },
                ((offset & 7) * 8) as u8,
            ))
        }
        Owner::DynData => None,
    }
}

/// Whether values of `t` are compared with nil: one word (the pointer, the slice's data
/// pointer, the interface's type word) is zero for nil.
fn nilable(t: &GoType) -> bool {
    matches!(
        t,
        GoType::Pointer(_)
            | GoType::UnsafePointer
            | GoType::Map { .. }
            | GoType::Chan
            | GoType::Func
            | GoType::Slice(_)
            | GoType::Interface { .. }
    )
}

/// The comparison `cmp` on the value at `t`.
fn leaf(
    f: &FunctionValues<'_>,
    cmp: &Cmp,
    t: &Target<'_>,
    widen: &mut Vec<Widen>,
) -> Result<Leaf, ConditionError> {
    let path = cmp.path.join(".");
    let bad = |why: &str| type_error(f, &path, t.ty, why);
    let unreadable = || bad("it cannot be read at the probe (a float register, or not captured)");
    let mut l = Leaf::NONE;
    let ty = t.ty.underlying();
    match (ty, &cmp.lit) {
        (GoType::Int { .. } | GoType::Uint { .. } | GoType::Uintptr, Lit::Int(n)) => {
            let size = ty.size(8);
            let signed = matches!(ty, GoType::Int { .. });
            let bits = 8 * size as u32;
            let (lo, hi) = if signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            if *n < lo || *n > hi {
                return Err(bad(&format!("{n} does not fit in it")));
            }
            l.op = match (cmp.op, signed) {
                (Op::Eq, _) => OP_EQ,
                (Op::Ne, _) => OP_NE,
                (Op::Lt, false) => OP_LT,
                (Op::Le, false) => OP_LE,
                (Op::Gt, false) => OP_GT,
                (Op::Ge, false) => OP_GE,
                (Op::Lt, true) => OP_SLT,
                (Op::Le, true) => OP_SLE,
                (Op::Gt, true) => OP_SGT,
                (Op::Ge, true) => OP_SGE,
                (Op::Prefix, _) => return Err(bad("hasPrefix takes a string")),
            };
            l.size = size as u8;
            l.literal = *n as i64 as u64;
            let (w, shift) = word_at(f, t, t.offset, widen).ok_or_else(unreadable)?;
            l.value = w;
            l.shift = shift;
        }
        (GoType::Bool, Lit::Bool(b)) => {
            l.op = match cmp.op {
                Op::Eq => OP_EQ,
                Op::Ne => OP_NE,
                _ => return Err(bad("compare bools with == or != (or use them alone)")),
            };
            l.size = 1;
            l.literal = u64::from(*b);
            let (w, shift) = word_at(f, t, t.offset, widen).ok_or_else(unreadable)?;
            l.value = w;
            l.shift = shift;
        }
        (GoType::String, Lit::Str(s)) => {
            if s.len() > MAX_LITERAL {
                return Err(bad(&format!(
                    "string literals are at most {MAX_LITERAL} bytes, this one has {}",
                    s.len()
                )));
            }
            l.op = match cmp.op {
                Op::Eq => OP_STR_EQ,
                Op::Ne => OP_STR_NE,
                Op::Prefix => OP_STR_PREFIX,
                _ => return Err(bad("compare strings with ==, != or hasPrefix")),
            };
            let (w, shift) = word_at(f, t, t.offset + 8, widen).ok_or_else(unreadable)?;
            if shift != 0 {
                return Err(unreadable());
            }
            l.value = w;
            l.size = 8;
            l.literal = s.len() as u64;
            for (j, chunk) in s.chunks(8).enumerate() {
                let mut b = [0u8; 8];
                b.get_mut(..chunk.len())
                    .unwrap_or_default()
                    .copy_from_slice(chunk);
                if let Some(slot) = l.text.get_mut(j) {
                    *slot = u64::from_le_bytes(b);
                }
            }
            if !s.is_empty() {
                let reads = if t.at_return {
                    f.ret_reads
                } else {
                    f.entry_reads
                };
                let k = *reads.at.get(&(t.owner, t.offset)).ok_or_else(unreadable)?;
                l.read = u8::try_from(k).map_err(|_| unreadable())?;
                widen.push(Widen {
                    at_return: t.at_return,
                    read: k,
                    bytes: s.len() as u32,
                    pointee: false,
                });
            }
        }
        (u, lit) if nilable(u) => {
            l.op = match (cmp.op, lit) {
                (Op::Eq, Lit::Nil) => OP_EQ,
                (Op::Ne, Lit::Nil) => OP_NE,
                _ => return Err(bad("compare it with == nil or != nil")),
            };
            l.size = 8;
            l.literal = 0;
            // The data pointer of a slice, the type word of an interface, the pointer itself.
            let (w, shift) = word_at(f, t, t.offset, widen).ok_or_else(unreadable)?;
            l.value = w;
            l.shift = shift;
        }
        (GoType::Float { .. } | GoType::Complex { .. }, _) => {
            return Err(bad(
                "floats cannot be compared (a uprobe cannot read floating-point registers)",
            ))
        }
        (GoType::Struct(_) | GoType::Array { .. }, _) => {
            return Err(bad("compare one of its fields (name.Field)"))
        }
        (GoType::Opaque { .. } | GoType::Named { .. }, _) => {
            return Err(bad("its layout is unknown"))
        }
        (_, lit) => {
            let want = match ty {
                GoType::Int { .. } | GoType::Uint { .. } | GoType::Uintptr => "an integer",
                GoType::Bool => "true or false",
                _ => "a string",
            };
            let got = match lit {
                Lit::Int(_) => "an integer",
                Lit::Str(_) => "a string",
                Lit::Bool(_) => "a bool",
                Lit::Nil => "nil",
            };
            return Err(bad(&format!(
                "compare it with {want}, not {got} ({} {})",
                cmp.op.text(),
                match lit {
                    Lit::Int(n) => n.to_string(),
                    Lit::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
                    Lit::Bool(b) => b.to_string(),
                    Lit::Nil => "nil".into(),
                }
            )));
        }
    }
    Ok(l)
}

/// The return spec's filter for `--stats` without a condition: where the error result's type
/// word is, when the last result is an `error`.
pub fn error_filter(f: &FunctionValues<'_>, filter: &mut SpecFilter) {
    let Some(i) = f.error_result() else {
        return;
    };
    if let Some(w) = top_word(f.goarch, f.results, i, 0) {
        filter.flags |= FILTER_ERROR;
        filter.error_type = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_common::{WORD_REG, WORD_STACK};
    use resolver::abi::{Location, Piece, PieceKind};
    use resolver::types::Field;

    fn value(name: &str, ty: GoType, words: &[(u64, u64, Location)]) -> ValueLayout {
        ValueLayout {
            name: name.into(),
            size: ty.size(8),
            ty,
            pieces: words
                .iter()
                .map(|(offset, size, location)| Piece {
                    path: String::new(),
                    offset: *offset,
                    size: *size,
                    kind: PieceKind::Int,
                    location: location.clone(),
                })
                .collect(),
            frame_offset: None,
        }
    }

    fn table_bit(t: &[u64; TABLE_WORDS], m: u64) -> bool {
        t[(m / 64) as usize] >> (m % 64) & 1 != 0
    }

    #[test]
    fn parses_and_reports_columns() {
        let c = Condition::parse(r#"(n > -5 && !ok) || hasPrefix(s.Name, "a\x41")"#).unwrap();
        assert_eq!(c.cmps.len(), 3);
        assert_eq!(c.cmps[0].lit, Lit::Int(-5));
        assert_eq!(c.cmps[1].lit, Lit::Bool(true));
        assert_eq!(c.cmps[2].path, ["s", "Name"]);
        assert_eq!(c.cmps[2].lit, Lit::Str(b"aA".to_vec()));
        assert_eq!(c.names().into_iter().collect::<Vec<_>>(), ["n", "ok", "s"]);
        for (text, col) in [
            ("n = 1", 3),
            ("n == ", 6),
            ("n == 1 &&", 10),
            ("n == 1 x", 8),
            ("(n == 1", 8),
            ("s == \"abc", 6),
            ("n == 0x", 6),
        ] {
            match Condition::parse(text) {
                Err(ConditionError::Syntax { column, .. }) => assert_eq!(column, col, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(Condition::parse("").is_err());
        let many = (0..9).map(|i| format!("a == {i}")).collect::<Vec<_>>();
        assert_eq!(
            Condition::parse(&many.join(" || ")).unwrap_err(),
            ConditionError::TooMany(9)
        );
        assert_eq!(integer("0x_ff"), Some(255));
        assert_eq!(integer("-0b101"), Some(-5));
        assert_eq!(integer("1_000"), Some(1000));
    }

    #[test]
    fn tables_decide_at_the_entry_when_the_arguments_do() {
        let args = vec![
            value(
                "n",
                GoType::Int { bits: 0 },
                &[(0, 8, Location::IntReg("rax"))],
            ),
            value("b", GoType::Int { bits: 8 }, &[(0, 1, Location::Stack(8))]),
        ];
        let results = vec![value(
            "~r0",
            GoType::Interface { empty: false },
            &[
                (0, 8, Location::IntReg("rax")),
                (8, 8, Location::IntReg("rbx")),
            ],
        )];
        let plan = ReadPlan::default();
        let f = FunctionValues {
            function: "main.F",
            goarch: "amd64",
            args: &args,
            results: &results,
            entry_reads: &plan,
            ret_reads: &plan,
            raw: false,
        };
        let c = Condition::parse("n > 5 && err != nil || b == -1").unwrap();
        let k = c.compile(&f).unwrap();
        assert!(k.on_results);
        assert_eq!((k.entry.nleaves, k.ret.nleaves, k.ret.first_bit), (2, 1, 2));
        assert_eq!(k.entry.leaves[0].op, OP_SGT);
        assert_eq!(k.entry.leaves[0].value.kind, WORD_REG);
        assert_eq!(k.entry.leaves[1].value.kind, WORD_STACK);
        assert_eq!(k.entry.leaves[1].size, 1);
        assert_eq!(k.entry.leaves[1].literal, u64::MAX);
        assert_eq!(k.ret.leaves[0].op, OP_NE);
        // Bits: n > 5 is 1, b == -1 is 2, err != nil is 4.
        // b == -1: accepted at the entry whatever the results.
        assert!(table_bit(&k.entry.accept, 0b10) && table_bit(&k.entry.accept, 0b11));
        // Neither: rejected at the entry.
        assert!(table_bit(&k.entry.reject, 0b00));
        // n > 5 only: the return decides.
        assert!(!table_bit(&k.entry.accept, 0b01) && !table_bit(&k.entry.reject, 0b01));
        assert!(table_bit(&k.ret.accept, 0b101) && !table_bit(&k.ret.accept, 0b001));
        // A name that is nowhere, and a type that does not fit.
        let e = Condition::parse("m == 1").unwrap().compile(&f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--where: no argument or result is named m; main.F has n, b, ~r0 (result), err (the error result)"
        );
        let e = Condition::parse("b == 200")
            .unwrap()
            .compile(&f)
            .unwrap_err();
        assert!(e.to_string().contains("200 does not fit"), "{e}");
        let e = Condition::parse("n == nil")
            .unwrap()
            .compile(&f)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("compare it with an integer, not nil"),
            "{e}"
        );
        let e = Condition::parse("err > 1")
            .unwrap()
            .compile(&f)
            .unwrap_err();
        assert!(e.to_string().contains("== nil or != nil"), "{e}");
    }

    #[test]
    fn fields_through_pointers_use_the_pointee_read() {
        let server = GoType::Struct(vec![
            Field {
                name: "Name".into(),
                ty: GoType::String,
            },
            Field {
                name: "Hits".into(),
                ty: GoType::Int { bits: 32 },
            },
            Field {
                name: "Up".into(),
                ty: GoType::Bool,
            },
        ]);
        let args = vec![value(
            "s",
            GoType::Pointer(Box::new(server)),
            &[(0, 8, Location::IntReg("rax"))],
        )];
        let mut plan = ReadPlan::default();
        plan.at.insert((Owner::Value(0), 0), 0);
        plan.at.insert((Owner::Read(0), 0), 1);
        let f = FunctionValues {
            function: "main.(*Server).Rename",
            goarch: "amd64",
            args: &args,
            results: &[],
            entry_reads: &plan,
            ret_reads: &plan,
            raw: false,
        };
        let c = Condition::parse(r#"s.Name == "alpha" && s.Hits >= 7 && s.Up"#).unwrap();
        let k = c.compile(&f).unwrap();
        assert!(!k.on_results);
        let [name, hits, up] = [k.entry.leaves[0], k.entry.leaves[1], k.entry.leaves[2]];
        assert_eq!((name.op, name.read, name.literal), (OP_STR_EQ, 1, 5));
        assert_eq!(
            (name.value.kind, name.value.index, name.value.value),
            (WORD_DEREF, 0, 8)
        );
        assert_eq!(name.text[0], u64::from_le_bytes(*b"alpha\0\0\0"));
        assert_eq!((hits.value.value, hits.shift, hits.size), (16, 0, 4));
        assert_eq!((up.value.value, up.shift, up.size), (16, 32, 1));
        assert!(k.widen.contains(&Widen {
            at_return: false,
            read: 1,
            bytes: 5,
            pointee: false
        }));
        assert!(k.widen.contains(&Widen {
            at_return: false,
            read: 0,
            bytes: 24,
            pointee: true
        }));
        let e = Condition::parse("s.Nope == 1")
            .unwrap()
            .compile(&f)
            .unwrap_err();
        assert!(e.to_string().contains("its fields: Name, Hits, Up"), "{e}");
    }
}

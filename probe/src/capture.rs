//! From a resolver [`Plan`] to what the eBPF program captures ([`ProbeSpec`]), and from the
//! captured bytes back to Go values ([`Recipe::decode`]), as JSON.
//!
//! Top-level values are rebuilt in their in-memory representation from their pieces (registers
//! or the stack copy), so one decoder serves registers, the stack and memory read through
//! pointers. Memory reads follow strings, slices, pointers and itabs one level down from an
//! argument, and strings and slices once more inside a pointee (a receiver's string fields).

use crate::Arch;
use probe_common::{
    Deref, ProbeSpec, Word, FLAG_G_IN_REG, FLAG_G_IN_TLS, FLAG_RETURN, MAX_DEREFS, MAX_DEREF_BYTES,
    MAX_REGS, MAX_STACK_BYTES, WORD_CONST, WORD_DEREF, WORD_REG, WORD_STACK,
};
use resolver::abi::{Location, ValueLayout};
use resolver::types::GoType;
use resolver::{LayoutSource, Plan};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Limits on what one event captures.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of a string (and of a `[]byte`) to read.
    pub max_str: u32,
    /// Elements of a slice to read.
    pub max_elems: u32,
}

/// Largest pointee read whole through a pointer.
const MAX_POINTEE: u64 = 512;

/// Whose bytes an offset is in: a top-level value, or an earlier memory read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Value(usize),
    Deref(usize),
}

/// Where a piece of a top-level value was captured.
#[derive(Debug, Clone, Copy)]
enum PieceSrc {
    /// `EventHeader::regs[slot]`.
    Reg(usize),
    /// Offset in the stack copy.
    Stack(u64),
    /// Not captured (a floating-point register, or outside the stack copy).
    Missing,
}

#[derive(Debug, Clone)]
struct PieceRecipe {
    offset: u64,
    size: u64,
    src: PieceSrc,
}

#[derive(Debug, Clone)]
struct ValueRecipe {
    name: String,
    ty: GoType,
    size: u64,
    pieces: Vec<PieceRecipe>,
}

/// How to turn one probe's events back into values.
#[derive(Debug, Clone)]
pub struct Recipe {
    values: Vec<ValueRecipe>,
    /// Raw words (ArgInfo / args size): each value is its pieces as unsigned integers.
    raw: bool,
    /// Only the argument area's words (args size): shown as one flat array.
    flat: bool,
    derefs: HashMap<(Owner, u64), usize>,
}

/// The specs and recipes of one function.
#[derive(Debug, Clone)]
pub struct FunctionCapture {
    /// At the entry probe.
    pub entry: ProbeSpec,
    /// How to decode entry events (arguments).
    pub entry_recipe: Recipe,
    /// At return sites.
    pub ret: ProbeSpec,
    /// How to decode return events (results).
    pub ret_recipe: Recipe,
    /// What could not be captured.
    pub notes: Vec<String>,
}

/// How to find `g` and the goroutine id; the same for every probe of a binary.
#[derive(Debug, Clone, Copy)]
pub struct GoroutineAccess {
    /// `FLAG_G_IN_REG`, `FLAG_G_IN_TLS` or 0 (no goroutine ids).
    pub flags: u32,
    /// `pt_regs` index of the `g` register.
    pub g_reg: u8,
    /// Offset of `goid` in `g`.
    pub goid_offset: u32,
    /// Offset of `task_struct.thread.fsbase`.
    pub fsbase_offset: u32,
}

impl GoroutineAccess {
    /// From a plan's goid description; `fsbase_offset` is needed when `g` is in TLS.
    pub fn for_plan(plan: &Plan, fsbase_offset: Option<u64>) -> Self {
        let none = GoroutineAccess {
            flags: 0,
            g_reg: 0,
            goid_offset: 0,
            fsbase_offset: 0,
        };
        let Some(goid_offset) = plan.goid.offset.and_then(|o| u32::try_from(o).ok()) else {
            return none;
        };
        match plan.goid.g_register {
            Some(r) => match pt_regs_index(plan.arch, r) {
                Some(i) => GoroutineAccess {
                    flags: FLAG_G_IN_REG,
                    g_reg: i,
                    goid_offset,
                    fsbase_offset: 0,
                },
                None => none,
            },
            None => match fsbase_offset.and_then(|o| u32::try_from(o).ok()) {
                Some(fs) => GoroutineAccess {
                    flags: FLAG_G_IN_TLS,
                    g_reg: 0,
                    goid_offset,
                    fsbase_offset: fs,
                },
                None => none,
            },
        }
    }
}

/// Index of register `name` in the register file the program copies on `goarch`; `None` for
/// registers it cannot read (floating point) and architectures it has no program for.
fn pt_regs_index(goarch: &str, name: &str) -> Option<u8> {
    Arch::from_goarch(goarch)?.pt_regs_index(name)
}

/// Builds one probe's spec and recipe.
struct Builder<'v> {
    /// GOARCH: names the registers of `values`.
    arch: &'static str,
    values: &'v [ValueLayout],
    regs: Vec<u8>,
    derefs: Vec<Deref>,
    keys: HashMap<(Owner, u64), usize>,
    limits: Limits,
    notes: Vec<String>,
}

impl<'v> Builder<'v> {
    fn word(&self, owner: Owner, offset: u64) -> Option<Word> {
        match owner {
            Owner::Value(v) => {
                let piece = self
                    .values
                    .get(v)?
                    .pieces
                    .iter()
                    .find(|p| p.offset == offset)?;
                match &piece.location {
                    Location::IntReg(r) => Some(Word {
                        kind: WORD_REG,
                        index: pt_regs_index(self.arch, r)?,
                        pad: [0; 2],
                        value: 0,
                    }),
                    Location::Stack(o) => Some(Word {
                        kind: WORD_STACK,
                        index: 0,
                        pad: [0; 2],
                        value: u32::try_from(*o).ok()?,
                    }),
                    Location::FloatReg(_) => None,
                }
            }
            Owner::Deref(k) => Some(Word {
                kind: WORD_DEREF,
                index: u8::try_from(k).ok()?,
                pad: [0; 2],
                value: u32::try_from(offset).ok()?,
            }),
        }
    }

    /// Adds a memory read for the pointer at (`owner`, `offset`); returns its number.
    fn add(
        &mut self,
        owner: Owner,
        offset: u64,
        len: Option<Word>,
        addr_add: u32,
        elem_size: u64,
        max: u64,
    ) -> Option<usize> {
        if self.derefs.len() >= MAX_DEREFS {
            self.notes.push(format!(
                "more than {MAX_DEREFS} values to read through pointers: the rest are shown as addresses"
            ));
            return None;
        }
        let addr = self.word(owner, offset)?;
        let k = self.derefs.len();
        self.derefs.push(Deref {
            addr,
            len: len.unwrap_or(Word {
                kind: WORD_CONST,
                index: 0,
                pad: [0; 2],
                value: 1,
            }),
            addr_add,
            elem_size: u32::try_from(elem_size).ok()?,
            max_bytes: u32::try_from(max.min(u64::from(MAX_DEREF_BYTES))).ok()?,
            pad: 0,
        });
        self.keys.insert((owner, offset), k);
        Some(k)
    }

    /// Plans memory reads for `ty` at (`owner`, `offset`). `level` 0 is a top-level value.
    fn walk(&mut self, ty: &GoType, owner: Owner, offset: u64, level: u32) {
        match ty.underlying() {
            GoType::String => {
                let len = self.word(owner, offset + 8);
                self.add(owner, offset, len, 0, 1, u64::from(self.limits.max_str));
            }
            GoType::Slice(elem) => {
                let esize = elem.size(8);
                if esize == 0 || !scalar(elem) {
                    return;
                }
                let max = if is_byte(elem) {
                    u64::from(self.limits.max_str)
                } else {
                    u64::from(self.limits.max_elems) * esize
                };
                let len = self.word(owner, offset + 8);
                self.add(owner, offset, len, 0, esize, max);
            }
            GoType::Pointer(elem) if level == 0 => {
                let size = elem.size(8);
                if size == 0 || size > MAX_POINTEE {
                    return;
                }
                if let Some(k) = self.add(owner, offset, None, 0, size, size) {
                    self.walk(elem, Owner::Deref(k), 0, level + 1);
                }
            }
            GoType::Interface { empty: false } => {
                self.add(owner, offset, None, 8, 8, 8);
            }
            GoType::Struct(fields) => {
                let mut off = 0;
                for f in fields {
                    off = resolver::types::align_up(off, f.ty.align(8));
                    self.walk(&f.ty, owner, offset + off, level);
                    off += f.ty.size(8);
                }
            }
            GoType::Array { len, elem } => {
                let esize = elem.size(8);
                for i in 0..(*len).min(16) {
                    self.walk(elem, owner, offset + i * esize, level);
                }
            }
            _ => {}
        }
    }
}

/// Types whose elements decode without reading memory.
fn scalar(ty: &GoType) -> bool {
    matches!(
        ty.underlying(),
        GoType::Bool
            | GoType::Int { .. }
            | GoType::Uint { .. }
            | GoType::Uintptr
            | GoType::Float { .. }
            | GoType::Pointer(_)
            | GoType::UnsafePointer
            | GoType::Map
            | GoType::Chan
            | GoType::Func
    )
}

fn is_byte(ty: &GoType) -> bool {
    matches!(ty.underlying(), GoType::Uint { bits: 8 })
}

fn build(
    arch: &'static str,
    values: &[ValueLayout],
    source: Option<LayoutSource>,
    is_return: bool,
    g: GoroutineAccess,
    limits: Limits,
    notes: &mut Vec<String>,
) -> (ProbeSpec, Recipe) {
    let mut b = Builder {
        arch,
        values,
        regs: Vec::new(),
        derefs: Vec::new(),
        keys: HashMap::new(),
        limits,
        notes: Vec::new(),
    };
    // The stack window: from the lowest stack piece to the end of the highest, at most
    // MAX_STACK_BYTES.
    let stack_pieces = values
        .iter()
        .flat_map(|v| &v.pieces)
        .filter_map(|p| match p.location {
            Location::Stack(o) => Some((o, o + p.size)),
            _ => None,
        });
    let (stack_start, stack_end) = stack_pieces
        .reduce(|(s, e), (ps, pe)| (s.min(ps), e.max(pe)))
        .unwrap_or((0, 0));
    let stack_end = stack_end.min(stack_start + u64::from(MAX_STACK_BYTES));
    let mut recipes = Vec::new();
    for v in values {
        let mut pieces = Vec::new();
        for p in &v.pieces {
            let src = match &p.location {
                Location::IntReg(r) => match pt_regs_index(arch, r) {
                    Some(idx) => {
                        let slot = match b.regs.iter().position(|x| *x == idx) {
                            Some(s) => Some(s),
                            None if b.regs.len() < MAX_REGS => {
                                b.regs.push(idx);
                                Some(b.regs.len() - 1)
                            }
                            None => None,
                        };
                        slot.map_or(PieceSrc::Missing, PieceSrc::Reg)
                    }
                    None => PieceSrc::Missing,
                },
                Location::Stack(o) if o + p.size <= stack_end => PieceSrc::Stack(o - stack_start),
                Location::Stack(_) => {
                    b.notes.push(format!(
                        "{}: beyond the {MAX_STACK_BYTES} bytes of stack captured",
                        v.name
                    ));
                    PieceSrc::Missing
                }
                Location::FloatReg(_) => PieceSrc::Missing,
            };
            pieces.push(PieceRecipe {
                offset: p.offset,
                size: p.size,
                src,
            });
        }
        recipes.push(ValueRecipe {
            name: v.name.clone(),
            ty: v.ty.clone(),
            size: v.size,
            pieces,
        });
    }
    let raw = matches!(
        source,
        None | Some(LayoutSource::ArgInfo | LayoutSource::ArgsSize)
    );
    if !raw {
        for (i, v) in values.iter().enumerate() {
            b.walk(&v.ty, Owner::Value(i), 0, 0);
        }
    }
    let mut spec = ProbeSpec::empty();
    spec.flags = g.flags | if is_return { FLAG_RETURN } else { 0 };
    spec.g_reg = g.g_reg;
    spec.goid_offset = g.goid_offset;
    spec.tls_g_offset = -8;
    spec.fsbase_offset = g.fsbase_offset;
    spec.nregs = b.regs.len() as u8;
    for (slot, idx) in spec.regs.iter_mut().zip(&b.regs) {
        *slot = *idx;
    }
    spec.nderefs = b.derefs.len() as u8;
    for (slot, d) in spec.derefs.iter_mut().zip(&b.derefs) {
        *slot = *d;
    }
    spec.stack_off = u32::try_from(stack_start).unwrap_or(0);
    spec.stack_len = u32::try_from(stack_end.saturating_sub(stack_start)).unwrap_or(0);
    for n in b.notes {
        if !notes.contains(&n) {
            notes.push(n);
        }
    }
    (
        spec,
        Recipe {
            values: recipes,
            raw,
            flat: source == Some(LayoutSource::ArgsSize),
            derefs: b.keys,
        },
    )
}

impl FunctionCapture {
    /// The capture of `plan`'s arguments at entry and results at returns.
    pub fn new(plan: &Plan, g: GoroutineAccess, limits: Limits) -> Self {
        let mut notes = Vec::new();
        let empty = Vec::new();
        let (args, results) = match &plan.layout {
            Some(l) => (&l.args, &l.results),
            None => (&empty, &empty),
        };
        let (entry, entry_recipe) = build(
            plan.arch,
            args,
            plan.layout_source,
            false,
            g,
            limits,
            &mut notes,
        );
        let (ret, ret_recipe) = build(
            plan.arch,
            results,
            plan.layout_source,
            true,
            g,
            limits,
            &mut notes,
        );
        FunctionCapture {
            entry,
            entry_recipe,
            ret,
            ret_recipe,
            notes,
        }
    }
}

/// The captured bytes of one event, split up.
pub struct Captured<'e> {
    /// `EventHeader::regs`.
    pub regs: &'e [u64],
    /// The stack copy.
    pub stack: &'e [u8],
    /// Each memory read: its bytes, or `None` when it faulted. Absent when not attempted or nil.
    pub derefs: Vec<Option<&'e [u8]>>,
}

/// Resolves a runtime type address to its name.
pub trait TypeNamer {
    /// The name of the type at runtime address `addr` in process `pid`.
    fn type_name(&self, pid: u32, addr: u64) -> Option<String>;
}

struct Ctx<'c, 'e> {
    recipe: &'c Recipe,
    images: Vec<(Vec<u8>, Vec<bool>)>,
    cap: &'c Captured<'e>,
    namer: &'c dyn TypeNamer,
    pid: u32,
}

impl Ctx<'_, '_> {
    /// `size` bytes at (`owner`, `offset`), if all were captured.
    fn bytes(&self, owner: Owner, offset: u64, size: u64) -> Option<&[u8]> {
        let (start, end) = (
            usize::try_from(offset).ok()?,
            usize::try_from(offset + size).ok()?,
        );
        match owner {
            Owner::Value(v) => {
                let (img, known) = self.images.get(v)?;
                if known.get(start..end)?.iter().all(|k| *k) {
                    img.get(start..end)
                } else {
                    None
                }
            }
            Owner::Deref(k) => self.cap.derefs.get(k)?.as_ref()?.get(start..end),
        }
    }

    fn uint(&self, owner: Owner, offset: u64, size: u64) -> Option<u64> {
        let b = self.bytes(owner, offset, size)?;
        let mut w = [0u8; 8];
        w.get_mut(..b.len())?.copy_from_slice(b);
        Some(u64::from_le_bytes(w))
    }

    /// The memory read for the pointer at (`owner`, `offset`): its number and its bytes, when
    /// it was planned and succeeded.
    fn read(&self, owner: Owner, offset: u64) -> Option<(usize, &[u8])> {
        let k = *self.recipe.derefs.get(&(owner, offset))?;
        Some((k, self.cap.derefs.get(k)?.as_ref().copied()?))
    }

    fn decode(&self, ty: &GoType, owner: Owner, offset: u64) -> Value {
        let size = ty.size(8);
        match ty.underlying() {
            GoType::Bool => self
                .uint(owner, offset, 1)
                .map_or(Value::Null, |v| Value::Bool(v != 0)),
            GoType::Int { .. } => self.uint(owner, offset, size).map_or(Value::Null, |v| {
                let shift = 64 - 8 * size as u32;
                Value::from(((v << shift) as i64) >> shift)
            }),
            GoType::Uint { .. } | GoType::Uintptr => self
                .uint(owner, offset, size)
                .map_or(Value::Null, Value::from),
            GoType::Float { bits } => self.uint(owner, offset, size).map_or(Value::Null, |v| {
                let f = if *bits == 32 {
                    f64::from(f32::from_bits(v as u32))
                } else {
                    f64::from_bits(v)
                };
                serde_json::Number::from_f64(f)
                    .map_or_else(|| Value::String(f.to_string()), Value::Number)
            }),
            GoType::Complex { bits } => {
                let half = u64::from(*bits) / 16;
                let part = GoType::Float { bits: (*bits / 2) };
                let mut m = Map::new();
                m.insert("real".into(), self.decode(&part, owner, offset));
                m.insert("imag".into(), self.decode(&part, owner, offset + half));
                Value::Object(m)
            }
            GoType::String => self.string(owner, offset),
            GoType::Slice(elem) => self.slice(elem, owner, offset),
            GoType::Pointer(elem) => match self.uint(owner, offset, 8) {
                None | Some(0) => Value::Null,
                Some(addr) => match self.recipe.derefs.get(&(owner, offset)) {
                    Some(&k) => {
                        let mut m = Map::new();
                        m.insert("addr".into(), hex(addr));
                        let value = match self.cap.derefs.get(k) {
                            Some(Some(_)) => self.decode(elem, Owner::Deref(k), 0),
                            _ => Value::Null,
                        };
                        m.insert("value".into(), value);
                        Value::Object(m)
                    }
                    None => hex(addr),
                },
            },
            GoType::UnsafePointer | GoType::Map | GoType::Chan | GoType::Func => {
                match self.uint(owner, offset, 8) {
                    None | Some(0) => Value::Null,
                    Some(a) => hex(a),
                }
            }
            GoType::Interface { empty } => {
                let (Some(tab), Some(data)) =
                    (self.uint(owner, offset, 8), self.uint(owner, offset + 8, 8))
                else {
                    return Value::Null;
                };
                if tab == 0 {
                    return Value::Null;
                }
                let ty_addr = if *empty {
                    Some(tab)
                } else {
                    self.read(owner, offset).and_then(|(_, b)| {
                        let w: [u8; 8] = b.try_into().ok()?;
                        Some(u64::from_le_bytes(w))
                    })
                };
                let mut m = Map::new();
                let name = ty_addr.and_then(|a| self.namer.type_name(self.pid, a));
                m.insert(
                    "type".into(),
                    match (name, ty_addr) {
                        (Some(n), _) => Value::String(n),
                        (None, Some(a)) => hex(a),
                        (None, None) => Value::Null,
                    },
                );
                m.insert("data".into(), hex(data));
                Value::Object(m)
            }
            GoType::Struct(fields) => {
                let mut m = Map::new();
                let mut off = 0;
                for f in fields {
                    off = resolver::types::align_up(off, f.ty.align(8));
                    if f.name != "_" {
                        m.insert(f.name.clone(), self.decode(&f.ty, owner, offset + off));
                    }
                    off += f.ty.size(8);
                }
                Value::Object(m)
            }
            GoType::Array { len, elem } => {
                let esize = elem.size(8);
                Value::Array(
                    (0..(*len).min(64))
                        .map(|i| self.decode(elem, owner, offset + i * esize))
                        .collect(),
                )
            }
            GoType::Named { .. } => Value::Null,
        }
    }

    fn string(&self, owner: Owner, offset: u64) -> Value {
        let (Some(ptr), Some(len)) = (self.uint(owner, offset, 8), self.uint(owner, offset + 8, 8))
        else {
            return Value::Null;
        };
        if len == 0 {
            return Value::String(String::new());
        }
        let bytes = self.read(owner, offset).map(|(_, b)| b);
        match bytes {
            Some(b) if b.len() as u64 == len => match std::str::from_utf8(b) {
                Ok(s) => Value::String(s.into()),
                Err(_) => text_object(b, len),
            },
            Some(b) => text_object(b, len),
            None => {
                let mut m = Map::new();
                m.insert("ptr".into(), hex(ptr));
                m.insert("len".into(), Value::from(len));
                m.insert("str".into(), Value::Null);
                Value::Object(m)
            }
        }
    }

    fn slice(&self, elem: &GoType, owner: Owner, offset: u64) -> Value {
        let (Some(ptr), Some(len), Some(cap)) = (
            self.uint(owner, offset, 8),
            self.uint(owner, offset + 8, 8),
            self.uint(owner, offset + 16, 8),
        ) else {
            return Value::Null;
        };
        let mut m = Map::new();
        m.insert("len".into(), Value::from(len));
        m.insert("cap".into(), Value::from(cap));
        let data = if len == 0 {
            Some((0, &[][..]))
        } else {
            self.read(owner, offset)
        };
        match data {
            Some((_, b)) if is_byte(elem) => {
                m.insert("hex".into(), Value::String(hex_bytes(b)));
            }
            Some((k, b)) => {
                let esize = elem.size(8).max(1);
                let elems = (0..b.len() as u64 / esize)
                    .map(|i| self.decode(elem, Owner::Deref(k), i * esize))
                    .collect();
                m.insert("elems".into(), Value::Array(elems));
            }
            None => {
                m.insert("ptr".into(), hex(ptr));
            }
        }
        Value::Object(m)
    }
}

fn hex(v: u64) -> Value {
    Value::String(format!("{v:#x}"))
}

fn hex_bytes(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// A string that is truncated or not valid UTF-8: its text with invalid bytes as `\xNN` and
/// backslashes doubled when `escaped`, its full length, and whether it was cut.
fn text_object(b: &[u8], len: u64) -> Value {
    let mut m = Map::new();
    let (text, escaped) = match std::str::from_utf8(b) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (escape(b), true),
    };
    m.insert("str".into(), Value::String(text));
    m.insert("len".into(), Value::from(len));
    m.insert("truncated".into(), Value::Bool((b.len() as u64) < len));
    if escaped {
        m.insert("escaped".into(), Value::Bool(true));
    }
    Value::Object(m)
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

impl Recipe {
    /// Decodes the values of one event: an object by name, or an array.
    pub fn decode(&self, cap: &Captured<'_>, namer: &dyn TypeNamer, pid: u32) -> Value {
        let images = self
            .values
            .iter()
            .map(|v| {
                let end = v
                    .pieces
                    .iter()
                    .map(|p| p.offset + p.size)
                    .max()
                    .unwrap_or(0);
                let size = usize::try_from(v.size.max(end).min(64 * 1024)).unwrap_or(0);
                let mut img = vec![0u8; size];
                let mut known = vec![false; size];
                for p in &v.pieces {
                    let word = match p.src {
                        PieceSrc::Reg(slot) => cap.regs.get(slot).map(|r| r.to_le_bytes()),
                        PieceSrc::Stack(o) => usize::try_from(o).ok().and_then(|o| {
                            let b = cap.stack.get(o..o + p.size as usize)?;
                            let mut w = [0u8; 8];
                            w.get_mut(..b.len())?.copy_from_slice(b);
                            Some(w)
                        }),
                        PieceSrc::Missing => None,
                    };
                    let (Some(word), Ok(at)) = (word, usize::try_from(p.offset)) else {
                        continue;
                    };
                    let n = (p.size as usize).min(8);
                    if let (Some(dst), Some(k)) =
                        (img.get_mut(at..at + n), known.get_mut(at..at + n))
                    {
                        dst.copy_from_slice(word.get(..n).unwrap_or_default());
                        k.iter_mut().for_each(|k| *k = true);
                    }
                }
                (img, known)
            })
            .collect();
        let ctx = Ctx {
            recipe: self,
            images,
            cap,
            namer,
            pid,
        };
        if self.raw {
            let values = self
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let words: Vec<Value> = v
                        .pieces
                        .iter()
                        .map(|p| {
                            ctx.uint(Owner::Value(i), p.offset, p.size)
                                .map_or(Value::Null, Value::from)
                        })
                        .collect();
                    match <[Value; 1]>::try_from(words) {
                        Ok([one]) => one,
                        Err(words) => Value::Array(words),
                    }
                })
                .collect::<Vec<_>>();
            if self.flat {
                if let [Value::Array(words)] = &values[..] {
                    return Value::Array(words.clone());
                }
            }
            return Value::Array(values);
        }
        let mut m = Map::new();
        for (i, v) in self.values.iter().enumerate() {
            m.insert(v.name.clone(), ctx.decode(&v.ty, Owner::Value(i), 0));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let v = text_object(&bytes, len as u64 + 1);
            let json = serde_json::to_string(&v).unwrap();
            let back: Value = serde_json::from_str(&json).unwrap();
            let text = back["str"].as_str().unwrap();
            let got = if back.get("escaped").is_some() {
                unescape(text)
            } else {
                text.as_bytes().to_vec()
            };
            assert_eq!(got, bytes, "{json}");
            assert_eq!(back["truncated"], true);
        }
    }

    /// A plan for `func(s string, n int) (r int)` in the register ABI of `arch`, with `g` in
    /// register `g`.
    fn plan(arch: &'static str, g: &'static str) -> Plan {
        use resolver::abi::{layout, Abi};
        use resolver::types::Field;
        let field = |name: &str, ty| Field {
            name: name.into(),
            ty,
        };
        let args = [
            field("s", GoType::String),
            field("n", GoType::Int { bits: 0 }),
        ];
        let results = [field("r", GoType::Int { bits: 0 })];
        let site = resolver::Site {
            vaddr: 0x1000,
            file_offset: 0x1000,
        };
        Plan {
            function: "main.F".into(),
            arch,
            entry: site,
            end: 0x1100,
            entry_probe: site,
            returns: vec![site],
            returns_unsupported: None,
            tail_calls: Vec::new(),
            indirect_jumps: Vec::new(),
            abi: Abi::Register,
            layout: layout(arch, 8, Abi::Register, &args, &results),
            layout_source: Some(LayoutSource::Signature),
            goid: resolver::Goid {
                g_register: Some(g),
                offset: Some(152),
                offset_source: Some("table"),
            },
            notes: Vec::new(),
        }
    }

    #[test]
    fn registers_are_named_per_architecture() {
        // The same names mean different registers: "r8" is an amd64 integer register and
        // arm64's X8. Each plan's registers are looked up in its own architecture's table.
        let limits = Limits {
            max_str: 64,
            max_elems: 16,
        };
        for (arch, g, want_args, want_g) in [
            ("amd64", "r14", [10, 5, 11], 1), // rax, rbx, rcx in x86-64 pt_regs; g in r14
            ("arm64", "r28", [0, 1, 2], 28),  // X0, X1, X2 in user_pt_regs; g in X28
        ] {
            let p = plan(arch, g);
            let cap = FunctionCapture::new(&p, GoroutineAccess::for_plan(&p, None), limits);
            let e = &cap.entry;
            assert_eq!(&e.regs[..usize::from(e.nregs)], want_args, "{arch}");
            assert_eq!(e.g_reg, want_g, "{arch}");
            assert_eq!(e.flags, FLAG_G_IN_REG, "{arch}");
            // The string's data is read through the register holding its pointer.
            assert_eq!(e.nderefs, 1, "{arch}");
            assert_eq!(e.derefs[0].addr.index, want_args[0], "{arch}");
            assert_eq!(e.derefs[0].len.index, want_args[1], "{arch}");
            // The result is back in the first register, at a return.
            assert_eq!(&cap.ret.regs[..1], &want_args[..1], "{arch}");
            assert_eq!(cap.ret.flags, FLAG_G_IN_REG | FLAG_RETURN, "{arch}");
        }
    }

    #[test]
    fn escapes_losslessly() {
        assert_eq!(escape(b"ok"), "ok");
        assert_eq!(escape(b"a\\b\xffc"), "a\\\\b\\xffc");
        assert_eq!(escape("é\u{0}".as_bytes()), "é\u{0}");
        assert_eq!(escape(b"\xe2\x82"), "\\xe2\\x82");
    }
}

//! Checks a layout against what the binary itself records about a function's arguments, so
//! that a layout from a signature, a type descriptor or a table is used only when the binary
//! does not contradict it:
//!
//! - `FUNCDATA_ArgInfo` (Go 1.17+): the compiler's own description of every input word, its
//!   offset and size in the argument area, for tracebacks. [`expected_arginfo`] writes the
//!   stream the compiler would have written for a layout (`ssagen.EmitArgInfo`), so the two can
//!   be compared exactly.
//! - The spill block of the stack check (register ABI): which register holds each input word,
//!   integer or floating point, and its spill slot ([`crate::disasm::Spill`]).
//! - `_func.args`: the size of the argument area, which also counts the results passed on the
//!   stack.
//!
//! Results passed in registers leave no trace in the binary; only the size of the argument
//! area bounds them.

use crate::abi::{Layout, Location, ValueLayout};
use crate::arginfo::{self, Shape};
use crate::disasm::Spill;
use crate::types::{field_offsets, GoType};

/// What the binary records about one function's arguments.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The decoded `FUNCDATA_ArgInfo`, when the function has one.
    pub arginfo: Option<Vec<Shape>>,
    /// The spill block, when the function has a stack check (register ABI only).
    pub spills: Option<Vec<Spill>>,
    /// `_func.args`, when known.
    pub args_size: Option<u32>,
    /// Whether the function is a generic shape instantiation: its first input is the
    /// dictionary, which ArgInfo leaves out.
    pub generic: bool,
}

/// How a layout disagrees with the binary: a sentence saying what the binary has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Contradiction(pub String);

/// `abi.TraceArgsLimit`, `abi.TraceArgsMaxDepth` (internal/abi/symtab.go, Go 1.17+).
const TRACE_ARGS_LIMIT: usize = 10;
const TRACE_ARGS_MAX_DEPTH: usize = 5;

/// The `FUNCDATA_ArgInfo` stream the compiler writes for inputs laid out as `args`
/// (`ssagen.EmitArgInfo`): every leaf's offset in the argument area and size, aggregates in
/// braces, at most ten leaves and five levels. The dictionary of a generic shape function
/// (`skip_first`) is left out, as the compiler leaves it out.
pub fn expected_arginfo(args: &[ValueLayout], ptr: u64, skip_first: bool) -> Vec<u8> {
    let mut w = ArgInfoWriter {
        out: Vec::new(),
        n: 0,
        ptr,
    };
    for a in args.iter().skip(usize::from(skip_first)) {
        let Some(off) = a.frame_offset else { break };
        if !w.visit(off, &a.ty, 0) {
            break;
        }
    }
    w.out.push(arginfo::END);
    w.out
}

struct ArgInfoWriter {
    out: Vec<u8>,
    n: usize,
    ptr: u64,
}

impl ArgInfoWriter {
    fn leaf(&mut self, size: u64, offset: u64) {
        match u8::try_from(offset) {
            Ok(o) if o < arginfo::SPECIAL => {
                self.out.push(o);
                self.out.push(u8::try_from(size).unwrap_or(u8::MAX));
            }
            _ => self.out.push(arginfo::OFFSET_TOO_LARGE),
        }
        self.n += 1;
    }

    /// One value; false when the limit cut the stream.
    fn visit(&mut self, base: u64, ty: &GoType, depth: usize) -> bool {
        if self.n >= TRACE_ARGS_LIMIT {
            self.out.push(arginfo::DOTDOTDOT);
            return false;
        }
        let ptr = self.ptr;
        let word = GoType::Uintptr;
        let t = ty.underlying();
        let aggregate = matches!(
            t,
            GoType::Struct(_)
                | GoType::Array { .. }
                | GoType::Complex { .. }
                | GoType::Interface { .. }
                | GoType::String
                | GoType::Slice(_)
        );
        if !aggregate {
            self.leaf(t.size(ptr), base);
            return true;
        }
        self.out.push(arginfo::START_AGG);
        let depth = depth + 1;
        if depth >= TRACE_ARGS_MAX_DEPTH {
            self.out.push(arginfo::DOTDOTDOT);
            self.out.push(arginfo::END_AGG);
            self.n += 1;
            return true;
        }
        match t {
            GoType::Interface { .. } | GoType::String => {
                let _ = self.visit(base, &word, depth) && self.visit(base + ptr, &word, depth);
            }
            GoType::Slice(_) => {
                let _ = self.visit(base, &word, depth)
                    && self.visit(base + ptr, &word, depth)
                    && self.visit(base + 2 * ptr, &word, depth);
            }
            GoType::Complex { bits } => {
                let half = GoType::Float { bits: bits / 2 };
                let _ = self.visit(base, &half, depth)
                    && self.visit(base + u64::from(*bits) / 16, &half, depth);
            }
            GoType::Array { len, elem } => {
                if *len == 0 {
                    self.n += 1; // {} counts as a component
                } else {
                    let esize = elem.size(ptr);
                    let mut at = base;
                    for _ in 0..*len {
                        if !self.visit(at, elem, depth) {
                            break;
                        }
                        at = at.saturating_add(esize);
                    }
                }
            }
            GoType::Struct(fields) => {
                if fields.is_empty() {
                    self.n += 1;
                }
                for (off, f) in field_offsets(fields, ptr).zip(fields) {
                    if !self.visit(base.saturating_add(off), &f.ty, depth) {
                        break;
                    }
                }
            }
            _ => {}
        }
        self.out.push(arginfo::END_AGG);
        true
    }
}

/// The spill block the compiler emits for inputs laid out as `args` (register pieces only, in
/// order): register, floating point, slot offset from SP at the entry, size.
pub fn expected_spills(args: &[ValueLayout], ptr: u64) -> Vec<Spill> {
    let mut out = Vec::new();
    for a in args {
        let Some(frame) = a.frame_offset else {
            continue;
        };
        for p in &a.pieces {
            let (reg, float) = match p.location {
                Location::IntReg(r) => (r, false),
                Location::FloatReg(r) => (r, true),
                Location::Stack(_) | Location::Unknown => continue,
            };
            out.push(Spill {
                reg,
                float,
                sp_offset: ptr + frame + p.offset,
                size: u8::try_from(p.size).unwrap_or(u8::MAX),
            });
        }
    }
    out
}

/// Checks `layout` against the evidence; `Ok` when nothing contradicts it.
pub fn check(layout: &Layout, ev: &Evidence, ptr: u64) -> Result<(), Contradiction> {
    let skip = usize::from(ev.generic);
    if let Some(actual) = &ev.arginfo {
        let want = expected_arginfo(&layout.args, ptr, ev.generic);
        // The expected stream is well formed by construction.
        let want = arginfo::decode(&want).unwrap_or_default();
        if &want != actual {
            return Err(Contradiction(describe_arginfo(&want, actual, layout, skip)));
        }
    }
    if let Some(spills) = &ev.spills {
        let mut want = expected_spills(&layout.args, ptr);
        let mut have = spills.clone();
        want.sort_by_key(|s| s.sp_offset);
        have.sort_by_key(|s| s.sp_offset);
        if want != have {
            return Err(Contradiction(describe_spills(&want, &have)));
        }
    }
    if let (Some(size), true) = (ev.args_size, layout.abi == crate::abi::Abi::Register) {
        if u64::from(size) != layout.arg_area {
            return Err(Contradiction(format!(
                "the layout needs an argument area of {} bytes, the binary's is {size}",
                layout.arg_area
            )));
        }
    }
    if let (Some(size), crate::abi::Abi::Stack) = (ev.args_size, layout.abi) {
        if u64::from(size) != layout.arg_area {
            return Err(Contradiction(format!(
                "arguments and results take {} bytes, the binary's argument area is {size}",
                layout.arg_area
            )));
        }
    }
    Ok(())
}

fn leaf_count(shapes: &[Shape]) -> usize {
    let mut v = Vec::new();
    shapes.iter().for_each(|s| s.leaves(&mut v));
    v.len()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn describe_arginfo(want: &[Shape], have: &[Shape], layout: &Layout, skip: usize) -> String {
    let (w, h) = (leaf_count(want), leaf_count(have));
    let (wa, ha) = (want.len(), have.len());
    if w != h || wa != ha {
        return format!(
            "the signature has {} in {}, the binary has {} in {}",
            plural(w, "argument word"),
            plural(wa, "argument"),
            plural(h, "word"),
            plural(ha, "argument"),
        );
    }
    // Same counts: name the first argument whose words differ.
    let first = want.iter().zip(have).position(|(a, b)| a != b).unwrap_or(0);
    let name = layout
        .args
        .get(first + skip)
        .map_or("?".to_string(), |a| format!("{} {}", a.name, a.ty));
    format!(
        "argument {} ({name}) does not match the binary's argument words (offsets and sizes: the binary has {})",
        first + 1,
        shape_text(have.get(first))
    )
}

fn shape_text(s: Option<&Shape>) -> String {
    match s {
        None => "nothing".into(),
        Some(Shape::Leaf { offset, size }) => format!("{size} bytes at {offset}"),
        Some(Shape::Aggregate(parts)) => {
            let inner: Vec<String> = parts.iter().map(|p| shape_text(Some(p))).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Some(Shape::FarLeaf) => "a word past offset 0xf0".into(),
        Some(Shape::Elided) => "more".into(),
    }
}

fn describe_spills(want: &[Spill], have: &[Spill]) -> String {
    let floats = |v: &[Spill]| v.iter().filter(|s| s.float).count();
    if want.len() != have.len() {
        return format!(
            "the signature passes {} in registers, the binary's stack check spills {}",
            plural(want.len(), "word"),
            have.len()
        );
    }
    if floats(want) != floats(have) {
        return format!(
            "the signature passes {} in floating-point registers, the binary {}",
            floats(want),
            floats(have)
        );
    }
    let diff = want.iter().zip(have).find(|(a, b)| a != b);
    match diff {
        Some((a, b)) => format!(
            "the signature puts {} bytes of {} at stack slot {}, the binary spills {} bytes of {} there",
            a.size, a.reg, a.sp_offset, b.size, b.reg
        ),
        None => "the spill block differs".into(),
    }
}

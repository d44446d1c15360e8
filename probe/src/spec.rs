//! From a resolver [`Plan`] to what the eBPF program captures at a function's entry and return
//! sites ([`ProbeSpec`]), and the decoding plan that goes with each ([`ProbeValues`]).
//!
//! Top-level values are rebuilt in their in-memory representation from their pieces (registers
//! or the stack copy); then [`crate::reads`] plans the memory reads that follow strings,
//! slices, pointers and maps, and the interface values whose dynamic type the program looks up.

use crate::reads::{Limits, MapLayouts, Owner, Planner, ReadPlan};
use probe_common::{
    ProbeSpec, Word, FLAG_G_IN_REG, FLAG_G_IN_TLS, FLAG_RETURN, MAX_DYN, MAX_REGS, MAX_SPEC_DEREFS,
    MAX_STACK_BYTES, WORD_REG, WORD_STACK,
};
use resolver::abi::{Location, ValueLayout};
use resolver::types::GoType;
use resolver::{LayoutSource, Plan};

/// Where a piece of a top-level value was captured.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PieceSrc {
    /// `EventHeader::regs[slot]`.
    Reg(usize),
    /// Offset in the stack copy.
    Stack(u64),
    /// Not captured (a floating-point register, an unknown register, or outside the stack
    /// copy).
    Missing,
}

/// One piece of a top-level value: where in the value, and where it was captured.
#[derive(Debug, Clone)]
pub(crate) struct PieceRecipe {
    pub offset: u64,
    pub size: u64,
    pub src: PieceSrc,
}

/// One top-level value (an argument or result).
#[derive(Debug, Clone)]
pub(crate) struct TopValue {
    pub name: String,
    pub ty: GoType,
    pub size: u64,
    pub pieces: Vec<PieceRecipe>,
}

/// How to turn one probe's events back into values.
#[derive(Debug, Clone)]
pub struct ProbeValues {
    pub(crate) values: Vec<TopValue>,
    /// Raw words (ArgInfo / args size): each value is its pieces as unsigned integers.
    pub(crate) raw: bool,
    /// Only the argument area's words (args size): shown as one flat array.
    pub(crate) flat: bool,
    /// The reads and interface values of the spec.
    pub(crate) reads: ReadPlan,
}

/// The specs and decoding plans of one function.
#[derive(Debug, Clone)]
pub struct FunctionCapture {
    /// At the entry probe.
    pub entry: ProbeSpec,
    /// How to decode entry events (arguments).
    pub entry_values: ProbeValues,
    /// At return sites.
    pub ret: ProbeSpec,
    /// How to decode return events (results).
    pub ret_values: ProbeValues,
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
    crate::Arch::from_goarch(goarch)?.pt_regs_index(name)
}

/// The word at `offset` of value `v`, from its pieces: a register (of `goarch`) or a stack slot.
pub(crate) fn top_word(
    goarch: &str,
    values: &[ValueLayout],
    v: usize,
    offset: u64,
) -> Option<Word> {
    let piece = values.get(v)?.pieces.iter().find(|p| p.offset == offset)?;
    match &piece.location {
        Location::IntReg(r) => Some(Word {
            kind: WORD_REG,
            index: pt_regs_index(goarch, r)?,
            pad: [0; 2],
            value: 0,
        }),
        Location::Stack(o) => Some(Word {
            kind: WORD_STACK,
            index: 0,
            pad: [0; 2],
            value: u32::try_from(*o).ok()?,
        }),
        Location::FloatReg(_) | Location::Unknown => None,
    }
}

/// What the entry and the return probes of one function share.
struct FunctionContext<'m> {
    /// GOARCH: names the registers of the values.
    goarch: &'m str,
    source: Option<LayoutSource>,
    g: GoroutineAccess,
    limits: Limits,
    maps: &'m MapLayouts<'m>,
}

/// One probe's spec and decoding plan.
fn build(
    cx: &FunctionContext<'_>,
    values: &[ValueLayout],
    is_return: bool,
    notes: &mut Vec<String>,
) -> (ProbeSpec, ProbeValues) {
    let FunctionContext {
        goarch,
        source,
        g,
        limits,
        maps,
    } = *cx;
    // The stack window: from the lowest stack piece to the end of the highest, at most
    // MAX_STACK_BYTES.
    let (stack_start, stack_end) = values
        .iter()
        .flat_map(|v| &v.pieces)
        .filter_map(|p| match p.location {
            Location::Stack(o) => Some((o, o + p.size)),
            _ => None,
        })
        .reduce(|(s, e), (ps, pe)| (s.min(ps), e.max(pe)))
        .unwrap_or((0, 0));
    let stack_end = stack_end.min(stack_start + u64::from(MAX_STACK_BYTES));
    let mut regs: Vec<u8> = Vec::new();
    let mut tops = Vec::new();
    for v in values {
        let mut pieces = Vec::new();
        for p in &v.pieces {
            let src = match &p.location {
                Location::IntReg(r) => match pt_regs_index(goarch, r) {
                    Some(idx) => match regs.iter().position(|x| *x == idx) {
                        Some(s) => PieceSrc::Reg(s),
                        None if regs.len() < MAX_REGS => {
                            regs.push(idx);
                            PieceSrc::Reg(regs.len() - 1)
                        }
                        None => PieceSrc::Missing,
                    },
                    None => PieceSrc::Missing,
                },
                Location::Stack(o) if o + p.size <= stack_end => PieceSrc::Stack(o - stack_start),
                Location::Stack(_) => {
                    note(
                        notes,
                        format!(
                            "{}: beyond the {MAX_STACK_BYTES} bytes of stack captured",
                            v.name
                        ),
                    );
                    PieceSrc::Missing
                }
                Location::FloatReg(_) | Location::Unknown => PieceSrc::Missing,
            };
            pieces.push(PieceRecipe {
                offset: p.offset,
                size: p.size,
                src,
            });
        }
        tops.push(TopValue {
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
    let top = |v: usize, off: u64| top_word(goarch, values, v, off);
    let mut planner = Planner::new(MAX_SPEC_DEREFS, MAX_DYN, limits, &top, maps);
    if !raw {
        // Every argument's own reads first, then what they point to.
        for (i, v) in values.iter().enumerate() {
            planner.visit_later(&v.ty, Owner::Value(i), 0, 0);
        }
        planner.finish();
    }
    let reads = planner.plan;
    if reads.cut {
        note(
            notes,
            format!(
                "more than {MAX_SPEC_DEREFS} memory reads or {MAX_DYN} interface values: the rest are shown as addresses"
            ),
        );
    }
    let mut spec = ProbeSpec::empty();
    spec.flags = g.flags | if is_return { FLAG_RETURN } else { 0 };
    spec.g_reg = g.g_reg;
    spec.goid_offset = g.goid_offset;
    spec.tls_g_offset = -8;
    spec.fsbase_offset = g.fsbase_offset;
    spec.nregs = regs.len() as u8;
    for (slot, idx) in spec.regs.iter_mut().zip(&regs) {
        *slot = *idx;
    }
    spec.nderefs = reads.reads.len() as u8;
    for (slot, d) in spec.derefs.iter_mut().zip(&reads.reads) {
        *slot = *d;
    }
    spec.ndyn = reads.dyns.len() as u8;
    for (slot, d) in spec.dyn_slots.iter_mut().zip(&reads.dyns) {
        *slot = *d;
    }
    spec.stack_off = u32::try_from(stack_start).unwrap_or(0);
    spec.stack_len = u32::try_from(stack_end.saturating_sub(stack_start)).unwrap_or(0);
    (
        spec,
        ProbeValues {
            values: tops,
            raw,
            flat: source == Some(LayoutSource::ArgsSize),
            reads,
        },
    )
}

fn note(notes: &mut Vec<String>, n: String) {
    if !notes.contains(&n) {
        notes.push(n);
    }
}

impl FunctionCapture {
    /// The capture of `plan`'s arguments at entry and results at returns; `maps` says how the
    /// binary's maps store their entries.
    pub fn new(plan: &Plan, g: GoroutineAccess, limits: Limits, maps: &MapLayouts<'_>) -> Self {
        let mut notes = Vec::new();
        let empty = Vec::new();
        let (args, results) = match &plan.layout {
            Some(l) => (&l.args, &l.results),
            None => (&empty, &empty),
        };
        let cx = FunctionContext {
            goarch: plan.arch,
            source: plan.layout_source,
            g,
            limits,
            maps,
        };
        let (mut entry, entry_values) = build(&cx, args, false, &mut notes);
        let (mut ret, ret_values) = build(&cx, results, true, &mut notes);
        entry.entry_vaddr = plan.entry.vaddr;
        ret.entry_vaddr = plan.entry.vaddr;
        FunctionCapture {
            entry,
            entry_values,
            ret,
            ret_values,
            notes,
        }
    }
}

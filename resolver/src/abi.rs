//! Where arguments and results live: Go's register ABI (`ABIInternal`, as specified in
//! `cmd/compile/abi-internal.md`) and the stack ABI (`ABI0`).
//!
//! Locations are relative to the stack pointer at the function's entry. That is also the stack
//! pointer just past the stack-bound check (the check does not move it) and at every return
//! instruction (the frame is gone by then), so one layout serves entry and return probes.

use crate::types::{align_up, field_offsets, Field, GoType};

/// The calling convention of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// `ABIInternal` with registers (amd64 from Go 1.17, arm64 from Go 1.18).
    Register,
    /// `ABI0`: everything on the stack (older Go, assembly, 32-bit targets).
    Stack,
}

impl Abi {
    /// "register" or "stack".
    pub fn name(self) -> &'static str {
        match self {
            Abi::Register => "register",
            Abi::Stack => "stack",
        }
    }
}

/// The registers of one architecture's register ABI, in assignment order.
#[derive(Debug, Clone, Copy)]
pub struct Registers {
    /// Integer registers.
    pub ints: &'static [&'static str],
    /// Floating-point registers.
    pub floats: &'static [&'static str],
}

/// The register ABI's registers of `arch`, where gosyms implements it.
pub fn registers(arch: &str) -> Option<Registers> {
    match arch {
        "amd64" => Some(Registers {
            ints: &["rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"],
            floats: &[
                "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                "x13", "x14",
            ],
        }),
        "arm64" => Some(Registers {
            ints: &[
                "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                "r13", "r14", "r15",
            ],
            floats: &[
                "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12",
                "f13", "f14", "f15",
            ],
        }),
        _ => None,
    }
}

/// Where the first stack-passed byte is, relative to SP at entry: one word up, above the
/// return address on x86 and above the link-register slot the caller reserves on ARM.
fn stack_args_base(ptr: u64) -> u64 {
    ptr
}

/// Where a piece of a value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An integer register, by name (`rax`, `r0`).
    IntReg(&'static str),
    /// A floating-point register: a uprobe cannot read these (the kernel hands BPF only the
    /// general-purpose registers).
    FloatReg(&'static str),
    /// Memory at SP + offset (SP at the function's entry).
    Stack(u64),
    /// A register the binary does not say: a word of `FUNCDATA_ArgInfo` under the register
    /// ABI in a function without a stack check, whose spill block would name it.
    Unknown,
}

impl Location {
    /// Whether a uprobe program can read it.
    pub fn readable(&self) -> bool {
        !matches!(self, Location::FloatReg(_) | Location::Unknown)
    }
}

/// What a piece holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// Signed integer.
    Int,
    /// Unsigned integer.
    Uint,
    /// `bool`.
    Bool,
    /// Floating point.
    Float,
    /// An address (pointer, map, chan, func, string/slice data, interface words).
    Pointer,
}

impl PieceKind {
    /// "int", "uint", "bool", "float" or "pointer".
    pub fn name(self) -> &'static str {
        match self {
            PieceKind::Int => "int",
            PieceKind::Uint => "uint",
            PieceKind::Bool => "bool",
            PieceKind::Float => "float",
            PieceKind::Pointer => "pointer",
        }
    }
}

/// One scalar piece of a value: a string's data pointer, a struct's field, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Path from the value: `""` for a scalar, `.ptr`/`.len`/`.cap` for headers, `.X` for fields,
    /// `.type`/`.data` for interfaces, `.real`/`.imag` for complex numbers, `[0]` for arrays.
    pub path: String,
    /// Offset of the piece inside the value's in-memory representation.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// What it holds.
    pub kind: PieceKind,
    /// Where it is.
    pub location: Location,
}

/// One argument or result, with its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLayout {
    /// Parameter name.
    pub name: String,
    /// Its type.
    pub ty: GoType,
    /// Size in bytes.
    pub size: u64,
    /// Its pieces, in memory order.
    pub pieces: Vec<Piece>,
    /// Where it is in the argument area (which starts one word above the stack pointer at the
    /// entry): its stack slot, or for an input passed in registers, its spill slot; `None` for
    /// a result passed in registers. This is `ABIParamAssignment.FrameOffset` in
    /// `cmd/compile/internal/abi`, the offset `FUNCDATA_ArgInfo` and the spill block use.
    pub frame_offset: Option<u64>,
}

/// The layout of a function's arguments and results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Calling convention.
    pub abi: Abi,
    /// Inputs, receiver first.
    pub args: Vec<ValueLayout>,
    /// Results, valid at return instructions.
    pub results: Vec<ValueLayout>,
    /// Bytes of the argument area: stack-assigned inputs and results, then the spill slots of
    /// register-assigned inputs (`ABIParamResultInfo.ArgWidth`); what `_func.args` records.
    pub arg_area: u64,
}

/// At most this many pieces are listed for one value: nested arrays would otherwise multiply
/// to billions (`[64][64][64][64][64]int`). Every call of [`leaves`] on a type of non-zero size
/// adds a piece, so this bounds the work too.
const MAX_PIECES: usize = 1024;

/// The scalar leaves of a type, with their byte offsets inside it, up to [`MAX_PIECES`] or a few
/// more. Offsets saturate, as [`GoType::size`] does, for types too large to exist.
fn leaves(
    ty: &GoType,
    ptr: u64,
    base: u64,
    path: &str,
    out: &mut Vec<(String, u64, u64, PieceKind)>,
) {
    if out.len() >= MAX_PIECES {
        return;
    }
    let mut push = |p: String, off: u64, size: u64, k: PieceKind| out.push((p, off, size, k));
    // The offset of word `k` of a multi-word value.
    let word = |k: u64| base.saturating_add(ptr.saturating_mul(k));
    match ty.underlying() {
        GoType::Bool => push(path.into(), base, 1, PieceKind::Bool),
        t @ GoType::Int { .. } => push(path.into(), base, t.size(ptr), PieceKind::Int),
        t @ (GoType::Uint { .. } | GoType::Uintptr) => {
            push(path.into(), base, t.size(ptr), PieceKind::Uint)
        }
        t @ GoType::Float { .. } => push(path.into(), base, t.size(ptr), PieceKind::Float),
        GoType::Complex { bits } => {
            let half = u64::from(*bits) / 16;
            push(format!("{path}.real"), base, half, PieceKind::Float);
            let imag = base.saturating_add(half);
            push(format!("{path}.imag"), imag, half, PieceKind::Float);
        }
        GoType::Pointer(_)
        | GoType::UnsafePointer
        | GoType::Map { .. }
        | GoType::Chan
        | GoType::Func => push(path.into(), base, ptr, PieceKind::Pointer),
        GoType::String => {
            push(format!("{path}.ptr"), base, ptr, PieceKind::Pointer);
            push(format!("{path}.len"), word(1), ptr, PieceKind::Int);
        }
        GoType::Slice(_) => {
            push(format!("{path}.ptr"), base, ptr, PieceKind::Pointer);
            push(format!("{path}.len"), word(1), ptr, PieceKind::Int);
            push(format!("{path}.cap"), word(2), ptr, PieceKind::Int);
        }
        GoType::Interface { .. } => {
            push(format!("{path}.type"), base, ptr, PieceKind::Pointer);
            push(format!("{path}.data"), word(1), ptr, PieceKind::Pointer);
        }
        GoType::Array { len, elem } => {
            let esize = elem.size(ptr);
            if esize == 0 {
                // No pieces, however deep the element's nesting (`[64][64]...[0]int`).
                return;
            }
            // Arrays are laid out whole; list at most a few elements' pieces.
            for i in 0..(*len).min(64) {
                let at = base.saturating_add(i.saturating_mul(esize));
                leaves(elem, ptr, at, &format!("{path}[{i}]"), out);
            }
        }
        GoType::Struct(fields) => {
            for (off, f) in field_offsets(fields, ptr).zip(fields) {
                let at = base.saturating_add(off);
                leaves(&f.ty, ptr, at, &format!("{path}.{}", f.name), out);
            }
        }
        GoType::Named { .. } | GoType::Opaque { .. } => {}
    }
}

/// Register assignment state (abi-internal.md: "Function call argument and result passing").
struct Assigner<'r> {
    regs: &'r Registers,
    int: usize,
    float: usize,
}

impl Assigner<'_> {
    /// Tries to assign every leaf of `ty` to registers; `None` (counters untouched) if any
    /// part does not fit, or the type is an array of more than one element.
    fn assign(&mut self, ty: &GoType, ptr: u64) -> Option<Vec<Location>> {
        let (int, float) = (self.int, self.float);
        let r = self.assign_inner(ty, ptr);
        if r.is_none() {
            self.int = int;
            self.float = float;
        }
        r
    }

    fn assign_inner(&mut self, ty: &GoType, ptr: u64) -> Option<Vec<Location>> {
        let mut out = Vec::new();
        match ty.underlying() {
            GoType::Array { len: 0, .. } => {}
            GoType::Array { len: 1, elem } => out.extend(self.assign_inner(elem, ptr)?),
            GoType::Array { .. } => return None,
            GoType::Struct(fields) => {
                for f in fields {
                    out.extend(self.assign_inner(&f.ty, ptr)?);
                }
            }
            GoType::Float { .. } => out.push(Location::FloatReg(self.next_float()?)),
            GoType::Complex { .. } => {
                out.push(Location::FloatReg(self.next_float()?));
                out.push(Location::FloatReg(self.next_float()?));
            }
            other => {
                let mut words = Vec::new();
                leaves(other, ptr, 0, "", &mut words);
                for _ in words {
                    out.push(Location::IntReg(self.next_int()?));
                }
            }
        }
        Some(out)
    }

    fn next_int(&mut self) -> Option<&'static str> {
        let r = self.regs.ints.get(self.int).copied();
        self.int += 1;
        r
    }

    fn next_float(&mut self) -> Option<&'static str> {
        let r = self.regs.floats.get(self.float).copied();
        self.float += 1;
        r
    }
}

/// Lays out `args` and `results` under `abi` for `arch` with pointer size `ptr`, as
/// `cmd/compile/internal/abi.ABIAnalyzeFuncType` does. `None` when the register ABI is asked for
/// on an architecture whose registers gosyms does not implement.
pub fn layout(arch: &str, ptr: u64, abi: Abi, args: &[Field], results: &[Field]) -> Option<Layout> {
    let base = stack_args_base(ptr);
    let regs = match abi {
        Abi::Register => Some(registers(arch)?),
        Abi::Stack => None,
    };
    // Offsets in the argument area: stack slots, and spill slots counted from the spill area.
    let (mut stack, mut spill) = (0u64, 0u64);
    let place = |fields: &[Field],
                 is_result: bool,
                 stack: &mut u64,
                 spill: &mut u64|
     -> Vec<(ValueLayout, bool)> {
        let mut a = regs.as_ref().map(|r| Assigner {
            regs: r,
            int: 0,
            float: 0,
        });
        fields
            .iter()
            .map(|f| {
                let mut words = Vec::new();
                leaves(&f.ty, ptr, 0, "", &mut words);
                let (size, align) = (f.ty.size(ptr), f.ty.align(ptr));
                // A zero-size value goes on the stack, where it still aligns the offset
                // (cmd/compile/internal/abi, assignParamOrReturn; checked against DWARF).
                let in_regs = a
                    .as_mut()
                    .filter(|_| size > 0)
                    .and_then(|a| a.assign(&f.ty, ptr));
                let (pieces, frame_offset, spilled) = match in_regs {
                    Some(locs) => {
                        let pieces = words
                            .into_iter()
                            .zip(locs)
                            .map(|((path, offset, size, kind), location)| Piece {
                                path,
                                offset,
                                size,
                                kind,
                                location,
                            })
                            .collect();
                        if is_result {
                            (pieces, None, false)
                        } else {
                            *spill = align_up(*spill, align);
                            let at = *spill;
                            *spill = spill.saturating_add(size);
                            (pieces, Some(at), true)
                        }
                    }
                    None => {
                        *stack = align_up(*stack, align);
                        let at = *stack;
                        *stack = stack.saturating_add(size);
                        let pieces = words
                            .into_iter()
                            .map(|(path, off, size, kind)| Piece {
                                path,
                                offset: off,
                                size,
                                kind,
                                location: Location::Stack(
                                    base.saturating_add(at).saturating_add(off),
                                ),
                            })
                            .collect();
                        (pieces, Some(at), false)
                    }
                };
                let value = ValueLayout {
                    name: f.name.clone(),
                    ty: f.ty.clone(),
                    size,
                    pieces,
                    frame_offset,
                };
                (value, spilled)
            })
            .collect()
    };
    let args_out = place(args, false, &mut stack, &mut spill);
    // Results start pointer-aligned after the stack-assigned arguments; register counters restart.
    stack = align_up(stack, ptr);
    let results_out = place(results, true, &mut stack, &mut spill);
    // The spill area follows, register-aligned, and its size is rounded up to a register.
    let spill_area = align_up(stack, ptr);
    let arg_area = spill_area.saturating_add(align_up(spill, ptr));
    let finish = |values: Vec<(ValueLayout, bool)>| {
        values
            .into_iter()
            .map(|(mut v, spilled)| {
                if spilled {
                    v.frame_offset = v.frame_offset.map(|o| o.saturating_add(spill_area));
                }
                v
            })
            .collect()
    };
    Some(Layout {
        abi,
        args: finish(args_out),
        results: finish(results_out),
        arg_area,
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

    fn locs(v: &ValueLayout) -> Vec<Location> {
        v.pieces.iter().map(|p| p.location.clone()).collect()
    }

    #[test]
    fn register_abi_amd64() {
        // func(name string, n int, x float64, s []byte) (string, error)
        let args = [
            f("name", GoType::String),
            f("n", GoType::Int { bits: 0 }),
            f("x", GoType::Float { bits: 64 }),
            f("s", GoType::Slice(Box::new(GoType::Uint { bits: 8 }))),
        ];
        let results = [
            f("~r0", GoType::String),
            f("~r1", GoType::Interface { empty: false }),
        ];
        let l = layout("amd64", 8, Abi::Register, &args, &results).unwrap();
        assert_eq!(
            locs(&l.args[0]),
            [Location::IntReg("rax"), Location::IntReg("rbx")]
        );
        assert_eq!(locs(&l.args[1]), [Location::IntReg("rcx")]);
        assert_eq!(locs(&l.args[2]), [Location::FloatReg("x0")]);
        assert_eq!(
            locs(&l.args[3]),
            [
                Location::IntReg("rdi"),
                Location::IntReg("rsi"),
                Location::IntReg("r8")
            ]
        );
        assert_eq!(l.args[3].pieces[1].path, ".len");
        // Results restart at rax.
        assert_eq!(
            locs(&l.results[0]),
            [Location::IntReg("rax"), Location::IntReg("rbx")]
        );
        assert_eq!(
            locs(&l.results[1]),
            [Location::IntReg("rcx"), Location::IntReg("rdi")]
        );
    }

    #[test]
    fn values_that_do_not_fit_go_whole_on_the_stack() {
        // Ten ints: the tenth does not fit in nine registers.
        let args: Vec<Field> = (0..10)
            .map(|i| f(&format!("a{i}"), GoType::Int { bits: 0 }))
            .collect();
        let l = layout("amd64", 8, Abi::Register, &args, &[]).unwrap();
        assert_eq!(locs(&l.args[8]), [Location::IntReg("r11")]);
        assert_eq!(locs(&l.args[9]), [Location::Stack(8)]);
        // A struct that would need the 9th and 10th registers goes on the stack whole, and the
        // counters roll back so a later int still gets a register.
        let pair = GoType::Struct(vec![
            f("a", GoType::Int { bits: 0 }),
            f("b", GoType::Int { bits: 0 }),
        ]);
        let mut args: Vec<Field> = (0..8)
            .map(|i| f(&format!("a{i}"), GoType::Int { bits: 0 }))
            .collect();
        args.push(f("p", pair));
        args.push(f("last", GoType::Int { bits: 0 }));
        let l = layout("amd64", 8, Abi::Register, &args, &[]).unwrap();
        assert_eq!(locs(&l.args[8]), [Location::Stack(8), Location::Stack(16)]);
        assert_eq!(locs(&l.args[9]), [Location::IntReg("r11")]);
        // Arrays of more than one element never go in registers.
        let arr = GoType::Array {
            len: 2,
            elem: Box::new(GoType::Uint { bits: 8 }),
        };
        let l = layout(
            "arm64",
            8,
            Abi::Register,
            &[f("a", arr), f("b", GoType::Bool)],
            &[],
        )
        .unwrap();
        assert_eq!(locs(&l.args[0]), [Location::Stack(8), Location::Stack(9)]);
        assert_eq!(locs(&l.args[1]), [Location::IntReg("r0")]);
    }

    #[test]
    fn zero_size_values_align_the_stack() {
        // Nine ints fill amd64's integer registers; b goes to the stack; the compiler assigns
        // the zero-size z to the stack too, aligning the offset to 8 for c (checked against
        // DWARF in tests/abi_dwarf.rs, main.ZeroAlign).
        let mut args: Vec<Field> = (0..9)
            .map(|i| f(&format!("a{i}"), GoType::Int { bits: 0 }))
            .collect();
        args.push(f("b", GoType::Int { bits: 8 }));
        let zero = GoType::Array {
            len: 0,
            elem: Box::new(GoType::Int { bits: 64 }),
        };
        args.push(f("z", zero));
        args.push(f("c", GoType::Int { bits: 8 }));
        let l = layout("amd64", 8, Abi::Register, &args, &[]).unwrap();
        assert_eq!(locs(&l.args[9]), [Location::Stack(8)]);
        assert!(l.args[10].pieces.is_empty());
        assert_eq!(locs(&l.args[11]), [Location::Stack(16)]);
    }

    #[test]
    fn stack_abi_offsets() {
        // func(a int8, b int64, c string) (r int32) on 386: b is 4-aligned there.
        let args = [
            f("a", GoType::Int { bits: 8 }),
            f("b", GoType::Int { bits: 64 }),
            f("c", GoType::String),
        ];
        let results = [f("r", GoType::Int { bits: 32 })];
        let l = layout("386", 4, Abi::Stack, &args, &results).unwrap();
        assert_eq!(locs(&l.args[0]), [Location::Stack(4)]);
        assert_eq!(locs(&l.args[1]), [Location::Stack(8)]);
        assert_eq!(locs(&l.args[2]), [Location::Stack(16), Location::Stack(20)]);
        assert_eq!(locs(&l.results[0]), [Location::Stack(24)]);
        let l = layout("amd64", 8, Abi::Stack, &args, &results).unwrap();
        assert_eq!(locs(&l.args[1]), [Location::Stack(16)]);
        assert_eq!(locs(&l.results[0]), [Location::Stack(40)]);
        assert!(layout("ppc64le", 8, Abi::Register, &args, &results).is_none());
    }
}

//! Return sites and prologue ends, by decoding the machine code of a function.
//!
//! [`scan`] decodes one function linearly from its entry to its end, as `go tool objdump`
//! does, and reports what a uprobe tracer needs to know about it:
//!
//! - every return instruction (a uretprobe would corrupt a Go stack, so return probes are
//!   ordinary uprobes placed on these);
//! - the first address after the stack-bound check of the prologue. The check's slow path calls
//!   `runtime.morestack` and then jumps back to the entry, so a probe on the entry fires twice
//!   when the stack grows; a probe after the check fires once per call;
//! - the exits that are not returns: direct jumps out of the function (tail calls) and jumps
//!   through a register or memory, whose target the code does not show.
//!
//! It supports amd64 and 386 (decoded with `iced-x86`), arm64 and arm (the 32-bit ARM encoding;
//! Go never emits Thumb). The results are checked against `go tool objdump` on every function of
//! every toolchain of the test matrix, Go 1.15 to 1.27 (`resolver/tests/disasm_matrix.rs`).
//!
//! # Literal pools
//!
//! On arm and arm64 Go places constants inside a function's extent, after an unconditional
//! branch or at the end, and loads them PC-relative. The words such loads read are data, and so
//! are the words between a pool and the last instruction before it that does not fall through
//! (Go 1.15-1.21 arm64 pools hold words that no load reads): none of them is decoded as an
//! instruction.
//!
//! # The stack check
//!
//! The Go assemblers (`stacksplit` in `cmd/internal/obj/*/obj*.go`) begin every function that is
//! not `NOSPLIT` by comparing the stack pointer (or SP minus the frame size) with
//! `g.stackguard0` (offset 16 in `runtime.g` on 64-bit targets, 8 on 32-bit ones; `stackguard1`,
//! the next word, in `//go:systemstack` functions, which call `runtime.morestackc` to throw).
//! One conditional branch, or two for frames so large that SP minus the frame could wrap around,
//! goes to a block at the end of the function that spills the argument registers, calls
//! `runtime.morestack*`, reloads them and jumps back to the entry. g is in R14 under amd64's
//! register ABI, loaded from thread-local storage under the stack ABI (amd64 before Go 1.17 and
//! assembly functions, 386), and in R28 on arm64 and R10 on arm.
//!
//! [`scan`] recognises the check by that structure rather than by instruction sequences, which
//! differ with the release, the OS, PIE and the frame size: within the first 16 instructions and
//! before any other control flow, conditional branches go to a block that makes a direct call
//! and then jumps back to the entry, and something before them reads the stack guard through
//! the g register. The probe point is just past the last of those branches.
//!
//! # The spill block
//!
//! Under the register ABI the stack-growth block stores every register-assigned input to its
//! spill slot before calling `runtime.morestack` (`ssagen` records all of them in
//! `Func.RegArgs`, used or not; `SpillRegisterArgs` in `cmd/internal/obj` emits the stores),
//! provided the function reads at least one register argument (the spills ride on its
//! `OpArgIntReg`/`OpArgFloatReg` values, so a function that uses none has an empty block), and
//! each store says which register, how wide, and whether it is an integer or a floating-point
//! register. [`CodeScan::spills`] lists them: with `FUNCDATA_ArgInfo`, whose offsets are those
//! same spill slots, it places every argument word of a function without DWARF.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

/// What decoding a function's code found. Every address is a virtual address, as in the
/// binary's own tables (not a file offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeScan {
    /// Addresses of every return instruction, in address order: amd64/386 `RET`, `RET imm16`
    /// and `RETF`; arm64 `RET` (through X30, the link register); arm `LDR PC, [SP], #imm`
    /// (`RET`/`POP [R15]` in Go's disassembly), `LDR PC, [SP], Rm`, `LDM SP!, {..., PC}`, `BX LR`,
    /// `MOV PC, LR` and `ADD PC, LR, #0` (Go's `B (R14)`), when unconditional.
    pub returns: Vec<u64>,
    /// The first address after the stack-bound check of the prologue, where an entry probe
    /// fires once per call even when the stack grows; `None` when the function has no stack
    /// check (`NOSPLIT` and small leaf functions), and then the entry itself fires once.
    pub after_stack_check: Option<u64>,
    /// Addresses of direct jumps, conditional or not, whose target lies outside the function
    /// (tail calls): such an exit has no return instruction.
    pub tail_calls: Vec<u64>,
    /// Addresses of jumps through a register or memory (amd64/386 `JMP reg`/`JMP [mem]`, arm64
    /// `BR Xn` and `RET Xn` with n other than 30, arm writes to PC that are not returns). Their
    /// target is unknown: a jump table inside the function, or an exit (Go's interface-method
    /// wrappers tail-call this way), so an exit through one of them cannot be probed as a return.
    pub indirect_jumps: Vec<u64>,
    /// The stores of the stack-growth block before its call, in code order: each register
    /// argument and its spill slot. `None` when there is no stack check (no block).
    pub spills: Option<Vec<Spill>>,
}

/// One store of an argument register to its spill slot in the stack-growth block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spill {
    /// The register, named as [`crate::abi::registers`] names it (`rax`, `x0`, `r0`, `f0`).
    pub reg: &'static str,
    /// Whether it is a floating-point register.
    pub float: bool,
    /// Offset of the slot from the stack pointer at the entry (the argument area starts one
    /// word up).
    pub sp_offset: u64,
    /// Bytes stored.
    pub size: u8,
}

/// Why a function's code could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The architecture (a GOARCH name) is not one this module decodes.
    #[error("return sites unsupported on {0}")]
    UnsupportedArch(String),
    /// The bytes at `addr` are not an instruction, the last instruction runs past the end, or
    /// the code runs past the top of the address space (`addr` is then the entry).
    #[error("cannot decode the instruction at {addr:#x}")]
    Undecodable {
        /// Virtual address of the first byte that could not be decoded.
        addr: u64,
    },
    /// The prologue branches (at `addr`) to a block that calls a function and jumps back to
    /// the entry, as a stack check does, but nothing before the branch reads the stack guard
    /// through the g register. Placing the entry probe would be a guess; a wrong `regabi` on
    /// amd64 gives this.
    #[error(
        "the branch at {addr:#x} looks like a stack check, but the prologue does not read the \
         stack guard through the g register (wrong calling convention?)"
    )]
    UnrecognizedStackCheck {
        /// Virtual address of the branch.
        addr: u64,
    },
}

/// How many instructions from the entry [`scan`] looks through for the stack check. The longest
/// check Go emits (amd64 before 1.17, frames larger than the stack guard) has 9 instructions.
const PROLOGUE_MAX: usize = 16;

/// How many instructions the stack-growth block may have before its call and again between the
/// call and the jump back (it spills and reloads the argument registers).
const MORESTACK_BLOCK_MAX: usize = 64;

/// Decodes the function whose code is `code` (exactly `[entry, end)` as pclntab reports it)
/// and finds its return instructions, tail calls, indirect jumps and the end of its stack check.
///
/// `arch` is a GOARCH name: `amd64`, `386`, `arm64` or `arm`; any other gives
/// [`Error::UnsupportedArch`]. `regabi` says whether the function uses Go's register ABI
/// (ABIInternal: Go 1.17+ on amd64, 1.18+ on arm64, except assembly functions); it matters only
/// on amd64, where it means that g is in R14 at the entry instead of being loaded from
/// thread-local storage. The code is trusted to be instructions from start to end apart from
/// literal pools on arm and arm64; every read stays inside `code`.
pub fn scan(arch: &str, code: &[u8], entry: u64, regabi: bool) -> Result<CodeScan, Error> {
    // Code that runs past the top of the address space (4 GiB on 32-bit targets) is not a
    // function: its addresses would wrap around, outside [entry, end).
    let top = match arch {
        "386" | "arm" => 1u64 << 32,
        _ => u64::MAX,
    };
    if entry
        .checked_add(code.len() as u64)
        .is_none_or(|end| end > top)
    {
        return Err(Error::Undecodable { addr: entry });
    }
    let insns = match arch {
        "amd64" => decode_x86(64, code, entry, regabi)?,
        "386" => decode_x86(32, code, entry, false)?,
        "arm64" => decode_words(code, entry, Arm64)?,
        "arm" => decode_words(code, entry, Arm)?,
        other => return Err(Error::UnsupportedArch(other.to_string())),
    };
    let end = entry.saturating_add(code.len() as u64);
    let check = stack_check(&insns, entry, end)?;
    let mut out = CodeScan {
        after_stack_check: check.map(|c| c.after),
        spills: check.map(|c| spill_block(&insns, c.block)),
        ..CodeScan::default()
    };
    for i in &insns {
        match i.flow {
            Flow::Return => out.returns.push(i.addr),
            Flow::Jump { target, .. } if !(entry..end).contains(&target) => {
                out.tail_calls.push(i.addr)
            }
            Flow::IndirectJump => out.indirect_jumps.push(i.addr),
            _ => {}
        }
    }
    Ok(out)
}

/// What an instruction does to control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Returns to the caller.
    Return,
    /// Calls a function (`target` when the code gives it) and comes back.
    Call { target: Option<u64> },
    /// A direct jump.
    Jump { target: u64, conditional: bool },
    /// A jump to an address held in a register or memory.
    IndirectJump,
    /// A literal-pool word (arm, arm64): not an instruction.
    Data,
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy)]
struct Insn {
    addr: u64,
    flow: Flow,
    /// Whether it reads the stack guard through the g register (computed for the first
    /// [`PROLOGUE_MAX`] instructions only).
    reads_guard: bool,
    /// The registers it stores to memory at the stack pointer plus a displacement (two for a
    /// store pair).
    sp_stores: [Option<Spill>; 2],
}

/// Where the stack check ends, and where its stack-growth block starts.
#[derive(Debug, Clone, Copy)]
struct StackCheck {
    after: u64,
    block: u64,
}

/// The spills of the stack-growth block at `block`: its stores to the stack before the call.
fn spill_block(insns: &[Insn], block: u64) -> Vec<Spill> {
    let start = insns.partition_point(|i| i.addr < block);
    insns
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|i| matches!(i.flow, Flow::Next))
        .flat_map(|i| i.sp_stores.iter().flatten().copied())
        .collect()
}

/// The end of the stack check, as described in the module documentation.
fn stack_check(insns: &[Insn], entry: u64, end: u64) -> Result<Option<StackCheck>, Error> {
    let mut guard_read = false;
    let mut after = None;
    let mut branch = None;
    let mut block = None;
    for (k, i) in insns.iter().enumerate().take(PROLOGUE_MAX) {
        guard_read |= i.reads_guard;
        match i.flow {
            Flow::Next | Flow::Data => {}
            Flow::Jump {
                target,
                conditional: true,
            } if (entry..end).contains(&target) && is_morestack_block(insns, target, entry) => {
                // Just past the branch: the next instruction, or the end for a last one.
                after = Some(insns.get(k + 1).map_or(end, |n| n.addr));
                branch.get_or_insert(i.addr);
                block.get_or_insert(target);
            }
            _ => break,
        }
    }
    match (after, branch) {
        (Some(after), _) if guard_read => Ok(block.map(|block| StackCheck { after, block })),
        (Some(_), Some(addr)) => Err(Error::UnrecognizedStackCheck { addr }),
        // A read of the guard without the branch is not a stack check: a NOSPLIT function may
        // look at g.stackguard0 (none does in the first instructions in Go 1.15-1.27).
        _ => Ok(None),
    }
}

/// Whether the code at `target` is a stack-growth block: instructions that do not branch, a
/// direct call, instructions that do not branch, and a jump back to the entry.
fn is_morestack_block(insns: &[Insn], target: u64, entry: u64) -> bool {
    let Ok(start) = insns.binary_search_by_key(&target, |i| i.addr) else {
        return false;
    };
    let mut called = false;
    let mut straight = 0;
    for i in insns.get(start..).unwrap_or_default() {
        match i.flow {
            Flow::Next if straight < MORESTACK_BLOCK_MAX => straight += 1,
            Flow::Call { target: Some(_) } if !called => {
                called = true;
                straight = 0;
            }
            Flow::Jump {
                target,
                conditional: false,
            } => return called && target == entry,
            _ => return false,
        }
    }
    false
}

/// Decodes x86 code (`bits` 64 or 32) with iced-x86, tracking which registers hold g in the
/// prologue to find the read of the stack guard.
fn decode_x86(bits: u32, code: &[u8], entry: u64, regabi: bool) -> Result<Vec<Insn>, Error> {
    let ptr: u64 = if bits == 64 { 8 } else { 4 };
    let mut g = GRegs::default();
    if bits == 64 && regabi {
        g.insert(Register::R14);
    }
    let mut decoder = Decoder::with_ip(bits, code, entry, DecoderOptions::NONE);
    let mut ins = Instruction::default();
    let mut out = Vec::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut ins);
        if ins.is_invalid() {
            return Err(Error::Undecodable { addr: ins.ip() });
        }
        let reads_guard = out.len() < PROLOGUE_MAX && x86_prologue_step(&ins, &mut g, ptr);
        out.push(Insn {
            addr: ins.ip(),
            flow: x86_flow(&ins),
            reads_guard,
            sp_stores: [x86_sp_store(&ins), None],
        });
    }
    Ok(out)
}

/// The control flow of an x86 instruction.
fn x86_flow(ins: &Instruction) -> Flow {
    let direct = matches!(
        ins.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    );
    match ins.mnemonic() {
        Mnemonic::Ret | Mnemonic::Retf => Flow::Return,
        Mnemonic::Call => Flow::Call {
            target: direct.then(|| ins.near_branch_target()),
        },
        Mnemonic::Jmp if direct => Flow::Jump {
            target: ins.near_branch_target(),
            conditional: false,
        },
        // JMP reg, JMP [mem], JMP FAR.
        Mnemonic::Jmp => Flow::IndirectJump,
        // Its operand is the abort handler, not a jump.
        Mnemonic::Xbegin => Flow::Next,
        // Jcc, JCXZ/JECXZ/JRCXZ, LOOP/LOOPcc.
        _ if direct => Flow::Jump {
            target: ins.near_branch_target(),
            conditional: true,
        },
        _ => Flow::Next,
    }
}

/// A store of a register to `[SP + disp]`: `MOVQ AX, 8(SP)` (and the narrower `MOVL`, `MOVW`,
/// `MOVB`), `MOVSD X0, 16(SP)`, `MOVSS X1, 24(SP)`.
fn x86_sp_store(ins: &Instruction) -> Option<Spill> {
    if ins.op_count() != 2
        || ins.op0_kind() != OpKind::Memory
        || ins.op1_kind() != OpKind::Register
        || !matches!(ins.memory_base(), Register::RSP | Register::ESP)
        || ins.memory_index() != Register::None
    {
        return None;
    }
    let sp_offset = ins.memory_displacement64();
    if sp_offset >= 1 << 20 {
        return None; // below SP, or absurd
    }
    let r = ins.op1_register();
    let (reg, float, size) = match ins.mnemonic() {
        Mnemonic::Mov => {
            let (n, size) = x86_gpr_sized(r)?;
            (*X86_GPR_NAMES.get(n)?, false, size)
        }
        Mnemonic::Movsd | Mnemonic::Movss => {
            let n = (r as u32).wrapping_sub(Register::XMM0 as u32);
            let size = if ins.mnemonic() == Mnemonic::Movsd {
                8
            } else {
                4
            };
            (*X86_XMM_NAMES.get(usize::try_from(n).ok()?)?, true, size)
        }
        _ => return None,
    };
    Some(Spill {
        reg,
        float,
        sp_offset,
        size,
    })
}

/// XMM registers by number, named as the register ABI names them.
const X86_XMM_NAMES: [&str; 16] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
    "x15",
];

/// General registers by encoding number, named as the register ABI names them.
const X86_GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// The encoding number and width in bytes of a general register of any width (AH to BH,
/// which no register argument uses, are not).
fn x86_gpr_sized(r: Register) -> Option<(usize, u8)> {
    let n = r as u32;
    let from = |base: Register, count: u32| {
        let k = n.wrapping_sub(base as u32);
        (k < count).then_some(k as usize)
    };
    if let Some(k) = from(Register::RAX, 16) {
        return Some((k, 8));
    }
    if let Some(k) = from(Register::EAX, 16) {
        return Some((k, 4));
    }
    if let Some(k) = from(Register::AX, 16) {
        return Some((k, 2));
    }
    if let Some(k) = from(Register::AL, 4) {
        return Some((k, 1));
    }
    if let Some(k) = from(Register::SPL, 12) {
        return Some((k + 4, 1));
    }
    None
}

/// The general registers that may hold g (or the TLS block that holds it) in an x86 prologue,
/// as a bit set over RAX..R15 (EAX..R15D count as the same register).
#[derive(Debug, Default)]
struct GRegs(u16);

/// The number of a 32- or 64-bit general register (RAX = 0 .. R15 = 15).
fn gpr(r: Register) -> Option<u32> {
    let n = r as u32;
    [Register::EAX, Register::RAX]
        .into_iter()
        .map(|base| n.wrapping_sub(base as u32))
        .find(|k| *k < 16)
}

impl GRegs {
    fn insert(&mut self, r: Register) {
        if let Some(k) = gpr(r) {
            self.0 |= 1 << k;
        }
    }
    fn remove(&mut self, r: Register) {
        if let Some(k) = gpr(r) {
            self.0 &= !(1 << k);
        }
    }
    fn holds(&self, r: Register) -> bool {
        gpr(r).is_some_and(|k| self.0 & (1 << k) != 0)
    }
}

/// One step of the g-register tracking: updates `g` and says whether `ins` reads the stack
/// guard. g comes from R14 (register ABI) or from a load with an FS/GS segment override
/// (`MOVQ FS:-8, CX`, `MOVL GS:0, CX`), possibly followed by loads through it (`MOVL -4(CX),
/// CX` on linux/386, `MOVQ 0(CX), CX` on windows); a load or comparison at the stack-guard
/// offset from it reads the guard.
fn x86_prologue_step(ins: &Instruction, g: &mut GRegs, ptr: u64) -> bool {
    let mem_from_g =
        |ins: &Instruction| g.holds(ins.memory_base()) && ins.memory_index() == Register::None;
    let is_guard = |d: u64| d == 2 * ptr || d == 3 * ptr;
    match ins.mnemonic() {
        Mnemonic::Cmp => (0..2).any(|n| {
            ins.op_kind(n) == OpKind::Memory
                && mem_from_g(ins)
                && is_guard(ins.memory_displacement64())
        }),
        Mnemonic::Mov if ins.op0_kind() == OpKind::Register && ins.op1_kind() == OpKind::Memory => {
            let dst = ins.op0_register();
            if matches!(ins.segment_prefix(), Register::FS | Register::GS) {
                g.insert(dst);
                false
            } else if mem_from_g(ins) {
                if is_guard(ins.memory_displacement64()) {
                    g.remove(dst);
                    true
                } else {
                    g.insert(dst);
                    false
                }
            } else {
                g.remove(dst);
                false
            }
        }
        _ => {
            if ins.op_count() > 0 && ins.op0_kind() == OpKind::Register {
                let r = ins.op0_register();
                if !matches!(ins.mnemonic(), Mnemonic::Test | Mnemonic::Nop) {
                    g.remove(r);
                }
            }
            false
        }
    }
}

/// A fixed-width 4-byte instruction set.
trait WordIsa: Copy {
    /// The control flow of the little-endian word `w` at `pc`.
    fn flow(self, w: u32, pc: u64) -> Flow;
    /// Whether `w` reads the stack guard through the g register.
    fn reads_guard(self, w: u32) -> bool;
    /// The bytes a PC-relative load `w` at `pc` reads, as (address, length), if it is one.
    fn literal(self, w: u32, pc: u64) -> Option<(u64, u64)>;
    /// The registers `w` stores at the stack pointer plus a displacement.
    fn sp_stores(self, _w: u32) -> [Option<Spill>; 2] {
        [None, None]
    }
}

/// Decodes 4-byte little-endian words, skipping the literal pools that PC-relative loads of the
/// function read. Go's pools follow the code that uses them, so one pass in address order marks
/// a pool before reaching it; a word already marked is not itself taken as a load. Pools also
/// hold words that no load reads (Go 1.15-1.21 arm64 pools have some): code cannot fall through
/// into a pool, so the words before one, back to the last instruction that does not fall
/// through, are taken as data too.
fn decode_words<I: WordIsa>(code: &[u8], entry: u64, isa: I) -> Result<Vec<Insn>, Error> {
    let words = code.chunks_exact(4);
    if !words.remainder().is_empty() {
        let addr = entry.saturating_add((code.len() - words.remainder().len()) as u64);
        return Err(Error::Undecodable { addr });
    }
    let words: Vec<(u64, u32)> = words
        .enumerate()
        .map(|(k, chunk)| {
            let w = u32::from_le_bytes(chunk.try_into().unwrap_or_default());
            (entry.wrapping_add(4 * k as u64), w)
        })
        .collect();
    let mut data = vec![false; words.len()];
    for (k, &(addr, w)) in words.iter().enumerate() {
        if !data.get(k).copied().unwrap_or(false) {
            if let Some((at, len)) = isa.literal(w, addr) {
                mark(&mut data, entry, at, len);
            }
        }
    }
    let mut out: Vec<Insn> = words
        .iter()
        .zip(&data)
        .enumerate()
        .map(|(k, (&(addr, w), &is_data))| Insn {
            addr,
            flow: if is_data {
                Flow::Data
            } else {
                isa.flow(w, addr)
            },
            reads_guard: !is_data && k < PROLOGUE_MAX && isa.reads_guard(w),
            sp_stores: if is_data {
                [None, None]
            } else {
                isa.sp_stores(w)
            },
        })
        .collect();
    // Backwards, so that a run of words before a pool becomes data word by word.
    for k in (1..out.len()).rev() {
        let pool_next = out.get(k).is_some_and(|i| i.flow == Flow::Data);
        if let Some(prev) = out.get_mut(k - 1) {
            let falls_through = matches!(
                prev.flow,
                Flow::Next
                    | Flow::Call { .. }
                    | Flow::Jump {
                        conditional: true,
                        ..
                    }
            );
            if pool_next && falls_through {
                prev.flow = Flow::Data;
                prev.reads_guard = false;
                prev.sp_stores = [None, None];
            }
        }
    }
    Ok(out)
}

/// Marks the words of `[at, at + len)` that lie in the function as data.
fn mark(data: &mut [bool], entry: u64, at: u64, len: u64) {
    let Some(off) = at.checked_sub(entry) else {
        return;
    };
    if off % 4 != 0 {
        return;
    }
    for w in (off / 4)..(off + len).div_ceil(4) {
        if let Some(d) = usize::try_from(w).ok().and_then(|w| data.get_mut(w)) {
            *d = true;
        }
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sext(v: u32, bits: u32) -> i64 {
    let shift = 64 - bits;
    (i64::from(v) << shift) >> shift
}

/// `pc + delta`, wrapping (a branch displacement cannot leave the address space in real code).
fn rel(pc: u64, delta: i64) -> u64 {
    pc.wrapping_add_signed(delta)
}

/// ARMv8-A, A64 instruction set.
#[derive(Debug, Clone, Copy)]
struct Arm64;

impl WordIsa for Arm64 {
    fn flow(self, w: u32, pc: u64) -> Flow {
        let imm19 = || rel(pc, sext((w >> 5) & 0x7ffff, 19) * 4);
        if w & 0xffff_fc1f == 0xd65f_0000 {
            // RET Xn: a return through the link register, otherwise an indirect jump.
            if (w >> 5) & 31 == 30 {
                Flow::Return
            } else {
                Flow::IndirectJump
            }
        } else if w & 0xffff_fc1f == 0xd61f_0000 {
            Flow::IndirectJump // BR Xn
        } else if w & 0xffff_fc1f == 0xd63f_0000 {
            Flow::Call { target: None } // BLR Xn
        } else if w & 0x7c00_0000 == 0x1400_0000 {
            // B / BL imm26
            let target = rel(pc, sext(w & 0x03ff_ffff, 26) * 4);
            if w & 0x8000_0000 != 0 {
                Flow::Call {
                    target: Some(target),
                }
            } else {
                Flow::Jump {
                    target,
                    conditional: false,
                }
            }
        } else if w & 0xff00_0010 == 0x5400_0000 {
            // B.cond; AL (0b1110) and NV (0b1111) always branch.
            Flow::Jump {
                target: imm19(),
                conditional: w & 0xe != 0xe,
            }
        } else if w & 0x7e00_0000 == 0x3400_0000 {
            // CBZ / CBNZ
            Flow::Jump {
                target: imm19(),
                conditional: true,
            }
        } else if w & 0x7e00_0000 == 0x3600_0000 {
            // TBZ / TBNZ
            Flow::Jump {
                target: rel(pc, sext((w >> 5) & 0x3fff, 14) * 4),
                conditional: true,
            }
        } else {
            Flow::Next
        }
    }

    /// `LDR Xt, [X28, #16]` (`MOVD 16(g), Rt`), or `#24` for `stackguard1`.
    fn reads_guard(self, w: u32) -> bool {
        let base = 0xf940_0000 | (28 << 5);
        matches!(w & 0xffff_ffe0, x if x == base | (2 << 10) || x == base | (3 << 10))
    }

    /// LDR (literal) of a general or SIMD&FP register, LDRSW (literal); not PRFM.
    fn literal(self, w: u32, pc: u64) -> Option<(u64, u64)> {
        if w & 0x3b00_0000 != 0x1800_0000 {
            return None;
        }
        let opc = w >> 30;
        let simd = w & 0x0400_0000 != 0;
        let len = match (simd, opc) {
            (false, 0 | 2) | (true, 0) => 4,
            (false, 1) | (true, 1) => 8,
            (true, 2) => 16,
            _ => return None,
        };
        Some((rel(pc, sext((w >> 5) & 0x7ffff, 19) * 4), len))
    }

    /// `STR`/`STUR` of an X, W, H, B, D or S register and `STP` of X, W, D or S registers, with
    /// SP as the base (`MOVD R0, 8(RSP)`, `STP (R0, R1), 8(RSP)`, `FMOVD F0, 16(RSP)`).
    fn sp_stores(self, w: u32) -> [Option<Spill>; 2] {
        const SP: u32 = 31;
        let (rt, rn, rt2) = (w & 31, (w >> 5) & 31, (w >> 10) & 31);
        if rn != SP {
            return [None, None];
        }
        let one = |float: bool, size: u8, off: i64| arm64_spill(rt, float, size, off);
        // STR (immediate, unsigned offset): size:2 111 V 01 00 imm12 Rn Rt.
        let unsigned = |scale: i64| i64::from((w >> 10) & 0xfff) * scale;
        // STUR: size:2 111 V 00 000 imm9 00 Rn Rt.
        let unscaled = || sext((w >> 12) & 0x1ff, 9);
        // STP (signed offset): opc:2 101 V 010 0 imm7 Rt2 Rn Rt.
        let pair = |scale: i64| sext((w >> 15) & 0x7f, 7) * scale;
        match w & 0xffc0_0000 {
            0xf900_0000 => return [one(false, 8, unsigned(8)), None],
            0xb900_0000 => return [one(false, 4, unsigned(4)), None],
            0x7900_0000 => return [one(false, 2, unsigned(2)), None],
            0x3900_0000 => return [one(false, 1, unsigned(1)), None],
            0xfd00_0000 => return [one(true, 8, unsigned(8)), None],
            0xbd00_0000 => return [one(true, 4, unsigned(4)), None],
            0xa900_0000 | 0x2900_0000 | 0x6d00_0000 | 0x2d00_0000 => {
                let (float, size) = match w & 0xffc0_0000 {
                    0xa900_0000 => (false, 8),
                    0x2900_0000 => (false, 4),
                    0x6d00_0000 => (true, 8),
                    _ => (true, 4),
                };
                let off = pair(i64::from(size));
                return [
                    arm64_spill(rt, float, size, off),
                    arm64_spill(rt2, float, size, off + i64::from(size)),
                ];
            }
            _ => {}
        }
        let stur = match w & 0xffe0_0c00 {
            0xf800_0000 => (false, 8),
            0xb800_0000 => (false, 4),
            0x7800_0000 => (false, 2),
            0x3800_0000 => (false, 1),
            0xfc00_0000 => (true, 8),
            0xbc00_0000 => (true, 4),
            _ => return [None, None],
        };
        [one(stur.0, stur.1, unscaled()), None]
    }
}

/// Argument registers of arm64's register ABI by number, as [`crate::abi::registers`] names them.
const ARM64_INT_NAMES: [&str; 16] = [
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15",
];
const ARM64_FLOAT_NAMES: [&str; 16] = [
    "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14",
    "f15",
];

/// A spill of arm64 register `rt` (an argument register only: R0-R15 or F0-F15) at SP + `off`.
fn arm64_spill(rt: u32, float: bool, size: u8, off: i64) -> Option<Spill> {
    let names = if float {
        &ARM64_FLOAT_NAMES
    } else {
        &ARM64_INT_NAMES
    };
    Some(Spill {
        reg: names.get(usize::try_from(rt).ok()?)?,
        float,
        sp_offset: u64::try_from(off).ok()?,
        size,
    })
}

/// ARMv7 and earlier, A32 (ARM) instruction set; Go never emits Thumb.
#[derive(Debug, Clone, Copy)]
struct Arm;

const ARM_SP: u32 = 13;
const ARM_LR: u32 = 14;
const ARM_PC: u32 = 15;

impl WordIsa for Arm {
    fn flow(self, w: u32, pc: u64) -> Flow {
        let always = w >> 28 == 0xe;
        let rn = (w >> 16) & 15;
        let rd = (w >> 12) & 15;
        // An exit: a return when unconditional, else an unknown transfer.
        let exit = |is_return: bool| {
            if is_return && always {
                Flow::Return
            } else {
                Flow::IndirectJump
            }
        };
        if w >> 28 == 0xf {
            // The unconditional space: only BLX imm transfers control.
            return if w & 0xfe00_0000 == 0xfa00_0000 {
                Flow::Call {
                    target: Some(rel(
                        pc,
                        8 + sext(w & 0x00ff_ffff, 24) * 4 + ((w >> 23) & 2) as i64,
                    )),
                }
            } else {
                Flow::Next
            };
        }
        if w & 0x0e00_0000 == 0x0a00_0000 {
            // B / BL
            let target = rel(pc, 8 + sext(w & 0x00ff_ffff, 24) * 4);
            return if w & 0x0100_0000 != 0 {
                Flow::Call {
                    target: Some(target),
                }
            } else {
                Flow::Jump {
                    target,
                    conditional: !always,
                }
            };
        }
        if w & 0x0fff_fff0 == 0x012f_ff10 {
            return exit(w & 15 == ARM_LR); // BX Rm
        }
        if w & 0x0fff_fff0 == 0x012f_ff30 {
            return Flow::Call { target: None }; // BLX Rm
        }
        if w & 0x0c10_0000 == 0x0410_0000 && w & 0x0200_0010 != 0x0200_0010 && rd == ARM_PC {
            // LDR PC, ...: a pop when post-indexed upwards from SP.
            let post_up = w & 0x0180_0000 == 0x0080_0000;
            return exit(rn == ARM_SP && post_up);
        }
        if w & 0x0e10_8000 == 0x0810_8000 {
            // LDM with PC in the list: a pop when increment-after from SP with writeback.
            return exit(rn == ARM_SP && w & 0x01a0_0000 == 0x00a0_0000);
        }
        if w & 0x0c00_0000 == 0 && rd == ARM_PC {
            let imm = w & 0x0200_0000 != 0;
            let opcode = (w >> 21) & 15;
            if !imm && w & 0x90 == 0x90 {
                return Flow::Next; // multiplies, extra loads and stores
            }
            if (8..=11).contains(&opcode) {
                // TST/TEQ/CMP/CMN do not write Rd; without S they are other instructions.
                return Flow::Next;
            }
            let mov_pc_lr = opcode == 13 && !imm && w & 0xfff == ARM_LR;
            let add_pc_lr_0 = opcode == 4 && imm && rn == ARM_LR && w & 0xfff == 0;
            return exit(mov_pc_lr || add_pc_lr_0);
        }
        Flow::Next
    }

    /// `LDR Rt, [R10, #8]` (`MOVW 8(g), Rt`), or `#12` for `stackguard1`; unconditional.
    fn reads_guard(self, w: u32) -> bool {
        matches!(w & 0xffff_0fff, 0xe59a_0008 | 0xe59a_000c)
    }

    /// `LDR Rt, [PC, #±imm12]`, any condition.
    fn literal(self, w: u32, pc: u64) -> Option<(u64, u64)> {
        if w & 0x0f7f_0000 != 0x051f_0000 {
            return None;
        }
        let imm = i64::from(w & 0xfff);
        let delta = if w & 0x0080_0000 != 0 { imm } else { -imm };
        Some((rel(pc, 8 + delta), 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A function with a stack check: `CMPQ SP, 16(R14); JBE` to a block that spills AX,
    /// calls morestack and jumps back.
    const AMD64_REGABI: &[u8] = &[
        0x49, 0x3b, 0x66, 0x10, // 0x1000 cmp rsp, [r14+0x10]
        0x76, 0x0a, // 0x1004 jbe 0x1010
        0x55, // 0x1006 push rbp
        0x48, 0x89, 0xe5, // 0x1007 mov rbp, rsp
        0x5d, // 0x100a pop rbp
        0xc3, // 0x100b ret
        0x0f, 0x1f, 0x40, 0x00, // 0x100c nop dword [rax]
        0x48, 0x89, 0x44, 0x24, 0x08, // 0x1010 mov [rsp+8], rax
        0xe8, 0xe6, 0x0f, 0x00, 0x00, // 0x1015 call 0x2000
        0x48, 0x8b, 0x44, 0x24, 0x08, // 0x101a mov rax, [rsp+8]
        0xeb, 0xdf, // 0x101f jmp 0x1000
    ];

    #[test]
    fn amd64_register_abi_prologue() {
        let s = scan("amd64", AMD64_REGABI, 0x1000, true).unwrap();
        assert_eq!(
            s,
            CodeScan {
                returns: vec![0x100b],
                after_stack_check: Some(0x1006),
                tail_calls: vec![],
                indirect_jumps: vec![],
                spills: Some(vec![Spill {
                    reg: "rax",
                    float: false,
                    sp_offset: 8,
                    size: 8
                }]),
            }
        );
    }

    fn spill(reg: &'static str, float: bool, sp_offset: u64, size: u8) -> Spill {
        Spill {
            reg,
            float,
            sp_offset,
            size,
        }
    }

    #[test]
    fn amd64_spill_block_tells_integer_from_float_registers() {
        // main.Mix(f float64, n int, s string, g float32, b byte), Go 1.27.3 linux/amd64.
        let mut code = vec![
            0x49, 0x3b, 0x66, 0x10, // 0x1000 cmp rsp, [r14+0x10]
            0x76, 0x01, // 0x1004 jbe 0x1007
            0xc3, // 0x1006 ret
        ];
        code.extend([
            0xf2, 0x0f, 0x11, 0x44, 0x24, 0x08, // movsd [rsp+8], xmm0
            0x48, 0x89, 0x44, 0x24, 0x10, // mov [rsp+0x10], rax
            0x48, 0x89, 0x5c, 0x24, 0x18, // mov [rsp+0x18], rbx
            0x48, 0x89, 0x4c, 0x24, 0x20, // mov [rsp+0x20], rcx
            0xf3, 0x0f, 0x11, 0x4c, 0x24, 0x28, // movss [rsp+0x28], xmm1
            0x40, 0x88, 0x7c, 0x24, 0x2c, // mov [rsp+0x2c], dil
            0xe8, 0x00, 0x10, 0x00, 0x00, // call
            0xf2, 0x0f, 0x10, 0x44, 0x24, 0x08, // movsd xmm0, [rsp+8] (a reload, not a spill)
        ]);
        let back = 0x1000i64 - (0x1000 + code.len() as i64 + 2);
        code.extend([0xeb, back as u8]); // jmp 0x1000
        let s = scan("amd64", &code, 0x1000, true).unwrap();
        assert_eq!(
            s.spills.unwrap(),
            [
                spill("x0", true, 8, 8),
                spill("rax", false, 0x10, 8),
                spill("rbx", false, 0x18, 8),
                spill("rcx", false, 0x20, 8),
                spill("x1", true, 0x28, 4),
                spill("rdi", false, 0x2c, 1),
            ]
        );
    }

    #[test]
    fn arm64_spill_block_with_store_pairs() {
        // main.SumOf[go.shape.int](dict, xs []int), Go 1.27.3 linux/arm64.
        let code = words(&[
            0xf9400b90, // 0x1000 MOVD 16(R28), R16
            0xeb3063ff, // CMP R16, RSP
            0x54000049, // 0x1008 BLS 0x1010
            0xd65f03c0, // 0x100c RET
            0xa90087e0, // 0x1010 STP (R0, R1), 8(RSP)
            0xa9018fe2, // STP (R2, R3), 24(RSP)
            0xfd000fe0, // FMOVD F0, 24(RSP) (not in SumOf; decoding only)
            0xaa1e03e3, // MOVD R30, R3
            0x94000400, // CALL
            0xa94087e0, // LDP 8(RSP), (R0, R1)
            0x17fffff6, // JMP 0x1000
        ]);
        let s = scan("arm64", &code, 0x1000, true).unwrap();
        assert_eq!(s.after_stack_check, Some(0x100c));
        assert_eq!(
            s.spills.unwrap(),
            [
                spill("r0", false, 8, 8),
                spill("r1", false, 16, 8),
                spill("r2", false, 24, 8),
                spill("r3", false, 32, 8),
                spill("f0", true, 24, 8),
            ]
        );
    }

    #[test]
    fn amd64_wrong_abi_is_an_error() {
        // Without the register ABI, R14 is not g: the branch to the morestack block has no
        // read of the guard before it.
        assert_eq!(
            scan("amd64", AMD64_REGABI, 0x1000, false),
            Err(Error::UnrecognizedStackCheck { addr: 0x1004 })
        );
    }

    #[test]
    fn amd64_stack_abi_tls_prologue() {
        // Go 1.15 linux/amd64: g from FS:-8.
        let code = [
            0x64, 0x48, 0x8b, 0x0c, 0x25, 0xf8, 0xff, 0xff, 0xff, // 0x1000 mov rcx, fs:[-8]
            0x48, 0x3b, 0x61, 0x10, // 0x1009 cmp rsp, [rcx+0x10]
            0x76, 0x06, // 0x100d jbe 0x1015
            0x48, 0x83, 0xec, 0x08, // 0x100f sub rsp, 8
            0x90, // 0x1013 nop
            0xc3, // 0x1014 ret
            0xe8, 0xe6, 0x0f, 0x00, 0x00, // 0x1015 call 0x2000
            0xeb, 0xe4, // 0x101a jmp 0x1000
        ];
        for regabi in [false, true] {
            let s = scan("amd64", &code, 0x1000, regabi).unwrap();
            assert_eq!(s.after_stack_check, Some(0x100f));
            assert_eq!(s.returns, [0x1014]);
        }
    }

    #[test]
    fn amd64_huge_frame_has_two_branches() {
        // Go 1.27: frames larger than the guard check for wrap-around first.
        let code = [
            0x49, 0x89, 0xe4, // 0x1000 mov r12, rsp
            0x49, 0x81, 0xec, 0xa8, 0x1f, 0x00, 0x00, // 0x1003 sub r12, 0x1fa8
            0x72, 0x0a, // 0x100a jb 0x1016
            0x4d, 0x3b, 0x66, 0x10, // 0x100c cmp r12, [r14+0x10]
            0x76, 0x04, // 0x1010 jbe 0x1016
            0x55, // 0x1012 push rbp
            0x5d, // 0x1013 pop rbp
            0xc3, // 0x1014 ret
            0x90, // 0x1015 nop
            0xe8, 0xe5, 0x0f, 0x00, 0x00, // 0x1016 call 0x2000
            0xeb, 0xe3, // 0x101b jmp 0x1000
        ];
        let s = scan("amd64", &code, 0x1000, true).unwrap();
        assert_eq!(s.after_stack_check, Some(0x1012));
        assert_eq!(s.returns, [0x1014]);
    }

    #[test]
    fn amd64_systemstack_function_compares_stackguard1() {
        // Go 1.15 runtime.(*mheap).allocManual: CMPQ 0x18(CX), SP, slow path morestackc.
        let code = [
            0x64, 0x48, 0x8b, 0x0c, 0x25, 0xf8, 0xff, 0xff, 0xff, // 0x1000 mov rcx, fs:[-8]
            0x48, 0x3b, 0x61, 0x18, // 0x1009 cmp rsp, [rcx+0x18]
            0x76, 0x01, // 0x100d jbe 0x1010
            0xc3, // 0x100f ret
            0xe8, 0xeb, 0x0f, 0x00, 0x00, // 0x1010 call 0x2000
            0xeb, 0xe9, // 0x1015 jmp 0x1000
        ];
        let s = scan("amd64", &code, 0x1000, false).unwrap();
        assert_eq!(s.after_stack_check, Some(0x100f));
    }

    #[test]
    fn reading_the_guard_without_the_branch_is_no_stack_check() {
        let code = [
            0x49, 0x8b, 0x46, 0x10, // mov rax, [r14+0x10]
            0xc3, // ret
        ];
        let s = scan("amd64", &code, 0x1000, true).unwrap();
        assert_eq!(s.after_stack_check, None);
        assert_eq!(s.returns, [0x1004]);
    }

    #[test]
    fn i386_tls_prologue_and_ret_imm() {
        // Go linux/386: g from GS:0 then -4(CX).
        let code = [
            0x65, 0x8b, 0x0d, 0x00, 0x00, 0x00, 0x00, // 0x1000 mov ecx, gs:[0]
            0x8b, 0x89, 0xfc, 0xff, 0xff, 0xff, // 0x1007 mov ecx, [ecx-4]
            0x3b, 0x61, 0x08, // 0x100d cmp esp, [ecx+8]
            0x76, 0x03, // 0x1010 jbe 0x1015
            0xc2, 0x04, 0x00, // 0x1012 ret 4
            0xe8, 0xe6, 0x0f, 0x00, 0x00, // 0x1015 call 0x2000
            0xeb, 0xe4, // 0x101a jmp 0x1000
        ];
        let s = scan("386", &code, 0x1000, false).unwrap();
        assert_eq!(s.after_stack_check, Some(0x1012));
        assert_eq!(s.returns, [0x1012]);
    }

    #[test]
    fn amd64_two_returns_and_tail_calls() {
        let code = [
            0x48, 0x85, 0xc0, // 0x2000 test rax, rax
            0x74, 0x01, // 0x2003 je 0x2006
            0xc3, // 0x2005 ret
            0x48, 0xff, 0xc8, // 0x2006 dec rax
            0x75, 0x03, // 0x2009 jne 0x200e
            0xc2, 0x08, 0x00, // 0x200b ret 8
            0x0f, 0x84, 0xe8, 0x0f, 0x00, 0x00, // 0x200e je 0x2ffc (conditional tail call)
            0xe9, 0xe9, 0x0f, 0x00, 0x00, // 0x2014 jmp 0x3002
            0xff, 0xe1, // 0x2019 jmp rcx
        ];
        let s = scan("amd64", &code, 0x2000, true).unwrap();
        assert_eq!(
            s,
            CodeScan {
                returns: vec![0x2005, 0x200b],
                after_stack_check: None,
                tail_calls: vec![0x200e, 0x2014],
                indirect_jumps: vec![0x2019],
                spills: None,
            }
        );
    }

    #[test]
    fn arm64_prologue() {
        // main.fib, Go 1.27.3 linux/arm64.
        let code = words(&[
            0xf9400b90, // 0x949d0 MOVD 16(R28), R16
            0xeb3063ff, // CMP R16, RSP
            0x540002a9, // 0x949d8 BLS 21(PC)
            0xf81e0ffe, // 0x949dc MOVD.W R30, -32(RSP)
            0xf81f83fd, 0xd10023fd, 0xf100081f, 0x5400008a, 0xf85f83fd, 0xf84207fe,
            0xd65f03c0, // 0x949f8 RET
            0xf90017e0, 0xd1000400, 0x97fffff3, 0xf9000be0, 0xf94017e1, 0xd1000820, 0x97ffffef,
            0xf9400be1, 0x8b000020, 0xf85f83fd, 0xf84207fe, 0xd65f03c0, // 0x94a28 RET
            0xf90007e0, // 0x94a2c MOVD R0, 8(RSP)
            0xaa1e03e3, // MOVD R30, R3
            0x97ffc8c3, // CALL runtime.morestack_noctxt.abi0(SB)
            0xf94007e0, // MOVD 8(RSP), R0
            0x17ffffe5, // 0x94a3c JMP main.fib(SB)
        ]);
        let s = scan("arm64", &code, 0x949d0, true).unwrap();
        assert_eq!(
            s,
            CodeScan {
                returns: vec![0x949f8, 0x94a28],
                after_stack_check: Some(0x949dc),
                tail_calls: vec![],
                indirect_jumps: vec![],
                spills: Some(vec![Spill {
                    reg: "r0",
                    float: false,
                    sp_offset: 8,
                    size: 8
                }]),
            }
        );
    }

    #[test]
    fn arm64_huge_frame_has_two_branches() {
        let code = words(&[
            0xf9400b90, // 0x1000 MOVD 16(R28), R16
            0xd283f61b, // 0x1004 MOVD $8112, R27
            0xeb3b63f1, // 0x1008 SUBS R27, RSP, R17
            0x540000a3, // 0x100c BCC 0x1020
            0xeb10023f, // 0x1010 CMP R16, R17
            0x54000069, // 0x1014 BLS 0x1020
            0xd65f03c0, // 0x1018 RET
            0xd503201f, // 0x101c NOOP
            0xaa1e03e3, // 0x1020 MOVD R30, R3
            0x94000100, // 0x1024 CALL 0x1424
            0x17fffff6, // 0x1028 JMP 0x1000
        ]);
        let s = scan("arm64", &code, 0x1000, true).unwrap();
        assert_eq!(s.after_stack_check, Some(0x1018));
        assert_eq!(s.returns, [0x1018]);
    }

    #[test]
    fn arm64_ret_through_another_register_is_an_indirect_jump() {
        // (*T).M wrapper of an embedded interface, Go 1.27.3: LDP (R0), (R1, R0); MOVD
        // 24(R1), R1; RET R1; padding.
        let code = words(&[0xa9400001, 0xf9400c21, 0xd65f0020, 0x00000000]);
        let s = scan("arm64", &code, 0x94580, true).unwrap();
        assert_eq!(s.returns, Vec::<u64>::new());
        assert_eq!(s.indirect_jumps, [0x94588]);
    }

    #[test]
    fn arm64_literal_pool_is_not_code() {
        let code = words(&[
            0x58000040, // 0x1000 ldr x0, 0x1008
            0xd65f03c0, // 0x1004 ret
            0xd65f03c0, // 0x1008 data (8 bytes) that would decode as ret
            0x17fffffd, // 0x100c            and as b 0x1000
        ]);
        let s = scan("arm64", &code, 0x1000, true).unwrap();
        assert_eq!(s.returns, [0x1004]);
        assert!(s.tail_calls.is_empty());
    }

    #[test]
    fn arm64_words_before_a_pool_are_data() {
        let code = words(&[
            0x18000060, // 0x1000 ldr w0, 0x100c
            0xd65f03c0, // 0x1004 ret
            0x54400000, // 0x1008 unreferenced pool word, would decode as b.eq 0x81008
            0x12345678, // 0x100c pool word
        ]);
        let s = scan("arm64", &code, 0x1000, true).unwrap();
        assert_eq!(s.returns, [0x1004]);
        assert!(s.tail_calls.is_empty());
    }

    #[test]
    fn arm_prologue_and_returns() {
        // main.fib, Go 1.27.3 linux/arm.
        let code = words(&[
            0xe59a1008, // 0xabc58 MOVW 0x8(R10), R1
            0xe15d0001, // CMP R1, R13
            0x9a000013, // 0xabc60 B.LS 0xabcb4
            0xe52de010, // 0xabc64 MOVW.W R14, -0x10(R13)
            0xe59d0014, 0xe3500002, 0xaa000001, 0xe58d0018, 0xe49df010, // 0xabc78 RET #16
            0xe2400001, 0xe58d0004, 0xebfffff3, 0xe59d0008, 0xe58d000c, 0xe59d0014, 0xe2400002,
            0xe58d0004, 0xebffffed, 0xe59d0008, 0xe59d100c, 0xe0810000, 0xe58d0018,
            0xe49df010, // 0xabcb0 RET #16
            0xe1a0300e, // 0xabcb4 MOVW R14, R3
            0xebffc41f, // BL runtime.morestack_noctxt(SB)
            0xeaffffe5, // 0xabcbc B main.fib(SB)
        ]);
        let s = scan("arm", &code, 0xabc58, false).unwrap();
        assert_eq!(
            s,
            CodeScan {
                returns: vec![0xabc78, 0xabcb0],
                after_stack_check: Some(0xabc64),
                tail_calls: vec![],
                indirect_jumps: vec![],
                // No register arguments on arm.
                spills: Some(vec![]),
            }
        );
    }

    #[test]
    fn arm_huge_frame_uses_a_conditional_compare() {
        // Go 1.27.3: SUB.S sets the carry, CMP.CS compares only when it did not wrap.
        let code = words(&[
            0xe59a1008, // 0x1000 MOVW 0x8(R10), R1
            0xe301bf94, // 0x1004 MOVW $8084, R11
            0xe05d200b, // 0x1008 SUB.S R11, R13, R2
            0x21520001, // 0x100c CMP.CS R1, R2
            0x9a000001, // 0x1010 B.LS 0x101c
            0xe28ef000, // 0x1014 B (R14)
            0xe1a00000, // 0x1018 NOP
            0xe1a0300e, // 0x101c MOVW R14, R3
            0xeb000100, // 0x1020 BL 0x1428
            0xeafffff5, // 0x1024 B 0x1000
        ]);
        let s = scan("arm", &code, 0x1000, false).unwrap();
        assert_eq!(s.after_stack_check, Some(0x1014));
        assert_eq!(s.returns, [0x1014]);
    }

    #[test]
    fn arm_return_forms_and_literal_pool() {
        let code = words(&[
            0xe59fb00c, // 0x1000 ldr r11, [pc, #12] (0x1014)
            0xe28ef000, // 0x1004 add pc, lr, #0   (Go's B (R14)): return
            0xe12fff1e, // 0x1008 bx lr: return
            0xe8bd8010, // 0x100c pop {r4, pc}: return
            0xe282f000, // 0x1010 add pc, r2, #0   (B (R2)): indirect jump
            0xe49df010, // 0x1014 data that would decode as RET #16
            0x0a000000, // 0x1018 beq 0x1020: a conditional tail call
        ]);
        let s = scan("arm", &code, 0x1000, false).unwrap();
        assert_eq!(s.returns, [0x1004, 0x1008, 0x100c]);
        assert_eq!(s.indirect_jumps, [0x1010]);
        assert_eq!(s.tail_calls, [0x1018]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            scan("riscv64", &[], 0, false),
            Err(Error::UnsupportedArch("riscv64".into()))
        );
        assert_eq!(
            Error::UnsupportedArch("riscv64".into()).to_string(),
            "return sites unsupported on riscv64"
        );
        // A call cut short by the end of the function.
        assert_eq!(
            scan("amd64", &[0x90, 0xe8, 0x00, 0x00], 0x1000, true),
            Err(Error::Undecodable { addr: 0x1001 })
        );
        assert_eq!(
            scan("arm64", &[0xc0, 0x03, 0x5f, 0xd6, 0x00], 0x1000, true),
            Err(Error::Undecodable { addr: 0x1004 })
        );
    }
}

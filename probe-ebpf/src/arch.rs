//! The part of the program that differs between architectures: the registers the kernel hands
//! a uprobe program, copied word by word in the order of probe-common's name table for that
//! architecture, so that a spec's register indices mean the same thing on both sides. The
//! object is built once per architecture (`--cfg bpf_target_arch=...`, build.sh).

use aya_ebpf::programs::ProbeContext;

#[cfg(bpf_target_arch = "x86_64")]
mod regs {
    use aya_ebpf::programs::ProbeContext;
    use probe_common::{PT_REGS_RIP, PT_REGS_RSP, PT_REGS_WORDS};

    /// Words copied: x86-64 `struct pt_regs`.
    pub const WORDS: usize = PT_REGS_WORDS;
    /// Padding after them in the scratch area (a multiple of 8 words in all).
    pub const PAD: usize = 3;
    /// Index of the stack pointer.
    pub const SP: usize = PT_REGS_RSP;
    /// Index of the instruction pointer.
    pub const IP: usize = PT_REGS_RIP;

    /// SAFETY: `ctx.regs` is the context the kernel passed, a `struct pt_regs`.
    #[inline(always)]
    pub unsafe fn copy(ctx: &ProbeContext) -> [u64; WORDS] {
        let r = &*ctx.regs;
        [
            r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx,
            r.rdx, r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss,
        ]
    }
}

#[cfg(bpf_target_arch = "aarch64")]
mod regs {
    use aya_ebpf::{bindings::user_pt_regs, programs::ProbeContext};
    use probe_common::{PT_REGS_ARM64_PC, PT_REGS_ARM64_SP, PT_REGS_WORDS_ARM64};

    /// Words copied: arm64 `struct user_pt_regs` (X0-X30, sp, pc, pstate).
    pub const WORDS: usize = PT_REGS_WORDS_ARM64;
    /// Padding after them in the scratch area (a multiple of 8 words in all).
    pub const PAD: usize = 6;
    /// Index of the stack pointer.
    pub const SP: usize = PT_REGS_ARM64_SP;
    /// Index of the program counter.
    pub const IP: usize = PT_REGS_ARM64_PC;

    /// SAFETY: `ctx.regs` is the context the kernel passed, which on arm64 is a
    /// `bpf_user_pt_regs_t`, i.e. a `struct user_pt_regs` (aya declares `pt_regs` opaque there).
    #[inline(always)]
    pub unsafe fn copy(ctx: &ProbeContext) -> [u64; WORDS] {
        let r = &*ctx.regs.cast::<user_pt_regs>();
        let mut out = [0u64; WORDS];
        let mut i = 0;
        while i < 31 {
            out[i] = r.regs[i];
            i += 1;
        }
        out[31] = r.sp;
        out[32] = r.pc;
        out[33] = r.pstate;
        out
    }
}

pub use regs::{IP, PAD, SP, WORDS};

/// The registers at the probe, in the order of probe-common's table for this architecture.
///
/// SAFETY: `ctx` is the context of a uprobe program.
#[inline(always)]
pub unsafe fn registers(ctx: &ProbeContext) -> [u64; WORDS] {
    regs::copy(ctx)
}

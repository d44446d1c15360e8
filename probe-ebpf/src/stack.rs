//! `--stack`: the Go call stack at a call, through frame pointers, which Go keeps on amd64 and
//! arm64. Each frame record is two words: the caller's frame pointer, then the return address
//! into the caller. At the entry probe the function has not made its own record yet, so its
//! caller comes first from where the call left the return address ([`arch`]), and the chain
//! starts at the caller's frame pointer, still in its register.
//!
//! The addresses are written after the captured data, innermost first: the probed
//! instruction, then one return address per frame; user space symbolizes them. The walk
//! stops at [`MAX_FRAMES`], at a zero frame pointer (the goroutine's first frame), at a frame
//! pointer outside the goroutine's stack or not above the last one, or at a read that faults.

use crate::{config, reg, Scratch};
use aya_ebpf::helpers::generated::bpf_probe_read_user as read_raw;
use probe_common::*;

/// Where the caller's return address and frame pointer are at a function's entry probe.
#[cfg(not(bpf_target_arch = "aarch64"))]
mod arch {
    use crate::Scratch;

    /// `rbp` in x86-64 `struct pt_regs`.
    pub const FP: u8 = 4;

    /// `CALL` pushed it at SP.
    #[inline(always)]
    pub unsafe fn return_address(_s: &Scratch, sp: u64) -> Option<u64> {
        aya_ebpf::helpers::bpf_probe_read_user(sp as *const u64).ok()
    }
}

/// Where the caller's return address and frame pointer are at a function's entry probe.
#[cfg(bpf_target_arch = "aarch64")]
mod arch {
    use crate::{reg, Scratch};

    /// X29 in arm64 `struct user_pt_regs`.
    pub const FP: u8 = 29;

    /// `BL` left it in the link register, X30.
    #[inline(always)]
    pub unsafe fn return_address(s: &Scratch, _sp: u64) -> Option<u64> {
        Some(reg(s, 30))
    }
}

/// Writes the address of frame `i` of the stack that starts at byte `at` of the data.
#[inline(always)]
unsafe fn put(s: &mut Scratch, at: usize, i: usize, pc: u64) {
    let off = (at + 8 * i) & (2 * DATA_BYTES - 8);
    core::ptr::write_volatile(s.buf.data.as_mut_ptr().add(off).cast::<u64>(), pc);
}

/// Appends the frames of the call stack `--stack` asks for to the data, where there is room.
#[inline(never)]
pub fn walk(s: &mut Scratch) {
    let Some(cfg) = config() else {
        return;
    };
    // SAFETY: every read is of the scratch area or of user memory through probe_read.
    unsafe { walk_frames(s, s.buf.header.sp, cfg.stack_frames) }
}

#[inline(always)]
unsafe fn walk_frames(s: &mut Scratch, sp: u64, max: u32) {
    let at = (core::ptr::read_volatile(&s.used) as usize + 7) & !7;
    if at >= DATA_BYTES {
        return;
    }
    let n = (max as usize).min(MAX_FRAMES).min((DATA_BYTES - at) / 8);
    if n == 0 {
        return;
    }
    let stack_hi = s.buf.header.stack_hi;
    put(s, at, 0, s.buf.header.ip);
    let mut frames = 1;
    if n >= 2 {
        if let Some(pc) = arch::return_address(s, sp) {
            put(s, at, 1, pc);
            frames = 2;
        }
    }
    core::ptr::write_volatile(&mut s.fp, reg(s, arch::FP));
    for i in 2..MAX_FRAMES {
        if i >= n || frames < i {
            break;
        }
        let fp = core::ptr::read_volatile(&s.fp);
        // A frame of this goroutine's stack, above the probe's.
        if fp <= sp || (stack_hi != 0 && fp >= stack_hi) {
            break;
        }
        if read_raw(s.frame.as_mut_ptr().cast(), 16, fp as *const _) != 0 {
            break;
        }
        let (next, pc) = (
            core::ptr::read_volatile(&s.frame[0]),
            core::ptr::read_volatile(&s.frame[1]),
        );
        if pc == 0 {
            break;
        }
        put(s, at, i, pc);
        frames = i + 1;
        if next <= fp {
            break;
        }
        core::ptr::write_volatile(&mut s.fp, next);
    }
    s.buf.header.nframes = frames as u8;
    core::ptr::write_volatile(&mut s.used, (at + 8 * frames) as u32);
}

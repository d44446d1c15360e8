//! gosyms' eBPF program: one uprobe handler, attached at every entry and return site with a
//! cookie that names its [`ProbeSpec`]. It copies the registers, the stack bytes and the
//! memory the spec asks for into a per-CPU buffer, then looks up the dynamic type of each
//! interface value the spec names and runs that type's recipe, and sends the used part
//! through a ring buffer. It never writes to the traced process. When the ring buffer is full
//! the event is counted in `DROPS` instead.
//!
//! What happens to a captured event is decided after the capture, in modules of their own:
//! [`filter`] (`--tid`, `--goid`, `--where`), [`track`] (a call's entry decides for its return;
//! `--min-duration` keeps the call's event until then), [`stats`] (`--stats`: nothing is sent,
//! calls and latencies are added up per function) and [`stack`] (`--stack`: the Go call stack
//! through frame pointers). Without them, every event is sent as it is captured.
#![no_std]
#![no_main]
// One atomic add for --stats' shared counters (the build uses nightly already).
#![allow(internal_features)]
#![feature(core_intrinsics)]

mod filter;
mod stack;
mod stats;
mod track;

mod arch;

use aya_ebpf::{
    bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::{bpf_get_attach_cookie, bpf_get_current_task, bpf_probe_read_user as read_raw},
    },
    macros::{map, uprobe},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::ProbeContext,
    EbpfContext,
};
use probe_common::*;

/// Probe specs by cookie. User space sets the size.
#[map]
static SPECS: Array<ProbeSpec> = Array::with_max_entries(1, 0);

/// What applies to every probe: one entry.
#[map]
static CONFIG: Array<TraceConfig> = Array::with_max_entries(1, 0);

/// Each spec's filter, at the spec's index. User space sets the size.
#[map]
static FILTERS: Array<SpecFilter> = Array::with_max_entries(1, 0);

/// Counts of probe hits not sent (`COUNT_*`), per CPU.
#[map]
static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTS_LEN, 0);

/// Type recipes by the link-time address of the type descriptor. User space sets the size.
#[map]
static TYPES: HashMap<u64, TypeRecipe> = HashMap::with_max_entries(1, 0);

/// Events to user space. User space sets the size.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 24, 0);

/// Where an event is assembled, with the state of the capture loops. The loops' state lives
/// here, in map memory read back with volatile loads, rather than in registers: the verifier
/// then sees the same state after every iteration whatever path led there, and can prune.
#[repr(C)]
pub(crate) struct Scratch {
    regs: [u64; arch::WORDS],
    pad0: [u64; arch::PAD],
    /// Where each read's bytes start in `buf.data`.
    starts: [u32; MAX_DEREFS],
    /// Bytes of `buf.data` used.
    used: u32,
    /// Reads made.
    nreads: u32,
    /// Interface values queued, and the number of the first read of the recipe running.
    nqueue: u32,
    base: u32,
    /// The data word of the interface value whose recipe runs.
    dyn_data: u64,
    /// The load bias of the process (PIE).
    bias: u64,
    /// Interface values to look at, in order.
    queue: [DynSlot; MAX_DYN],
    /// The read being made, with its words' sources resolved for a recipe.
    cur: Deref,
    /// Words just computed, parked here so that every path leaves the same (unknown) value
    /// behind for the verifier, which can then prune the paths that follow.
    addr: u64,
    count: u64,
    /// The outcomes of the filter's comparisons so far.
    mask: u64,
    /// Frame pointer walk: the frame pointer, and the two words it points to.
    fp: u64,
    frame: [u64; 2],
    buf: EventBuf,
}

#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Events lost because the ring buffer was full, per CPU.
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Wake the reader once this much is waiting; below it the reader's own polling picks events
/// up, so that a busy probe does not pay for a wakeup per event.
const WAKEUP_BYTES: u64 = 1 << 20;

#[uprobe]
pub fn gosyms_probe(ctx: ProbeContext) -> u32 {
    // SAFETY: every pointer the program follows is either a map value the kernel handed out or
    // user memory read through the fault-tolerant probe_read helpers.
    unsafe { capture(&ctx) };
    0
}

/// Adds one to `COUNTS[what]`.
#[inline(always)]
pub(crate) fn count(what: u32) {
    if let Some(n) = COUNTS.get_ptr_mut(what) {
        // SAFETY: a per-CPU map value the kernel handed out.
        unsafe { *n += 1 };
    }
}

#[inline(always)]
unsafe fn capture(ctx: &ProbeContext) -> Option<()> {
    let cookie = bpf_get_attach_cookie(ctx.as_ptr());
    let index = cookie as u32;
    let spec = SPECS.get(index)?;
    let cfg = CONFIG.get(0)?;
    let spec_filter = FILTERS.get(index)?;
    let s = &mut *SCRATCH.get_ptr_mut(0)?;
    s.regs = arch::registers(ctx);
    let sp = s.regs[arch::SP];
    let ip = s.regs[arch::IP];
    // The probed instruction is (cookie >> 32) bytes into the function, whose link-time entry
    // the spec holds: the difference is the load bias (0 unless PIE).
    s.bias = ip
        .wrapping_sub(spec.entry_vaddr)
        .wrapping_sub(cookie >> 32);
    let h = &mut s.buf.header;
    h.ts_ns = bpf_ktime_get_ns();
    h.pid_tgid = bpf_get_current_pid_tgid();
    h.sp = sp;
    h.ip = ip;
    h.cookie = cookie;

    let g = if spec.flags & FLAG_G_IN_REG != 0 {
        reg(s, spec.g_reg)
    } else if spec.flags & FLAG_G_IN_TLS != 0 {
        let task = bpf_get_current_task();
        let fsbase: u64 =
            bpf_probe_read_kernel((task + u64::from(spec.fsbase_offset)) as *const u64)
                .unwrap_or(0);
        if fsbase == 0 {
            0
        } else {
            user_u64(fsbase.wrapping_add(spec.tls_g_offset as i64 as u64))
        }
    } else {
        0
    };
    let h = &mut s.buf.header;
    if g != 0 {
        h.goid = user_u64(g + u64::from(spec.goid_offset));
        h.stack_hi = user_u64(g + 8);
    } else {
        h.goid = 0;
        h.stack_hi = 0;
    }

    let is_return = spec.flags & FLAG_RETURN != 0;
    // A return followed from its call (CALLS) is decided there: the goroutine may return on
    // another thread than the one `--tid` chose at the call.
    let followed = is_return && cfg.flags & (CFG_TRACK | CFG_STATS) != 0;
    if !followed && !filter::thread_passes(cfg, &s.buf.header) {
        count(if is_return {
            COUNT_FILTERED_RETURNS
        } else {
            COUNT_FILTERED_CALLS
        });
        return Some(());
    }
    // --stats without comparisons at this probe: nothing to capture.
    if cfg.flags & CFG_STATS != 0 && spec_filter.nleaves == 0 {
        core::ptr::write_volatile(&mut s.mask, 0);
        decide(s);
        return Some(());
    }

    for i in 0..MAX_REGS {
        let v = if i < spec.nregs as usize {
            reg(s, spec.regs[i])
        } else {
            0
        };
        s.buf.header.regs[i] = v;
    }

    s.used = 0;
    let stack_len = spec.stack_len.min(MAX_STACK_BYTES);
    s.buf.header.stack_len = 0;
    if stack_len > 0 {
        let at = sp.wrapping_add(u64::from(spec.stack_off));
        if read_raw(s.buf.data.as_mut_ptr().cast(), stack_len, at as *const _) == 0 {
            s.used = stack_len;
            s.buf.header.stack_len = stack_len;
        }
    }

    // The spec's reads.
    for i in 0..MAX_DEREFS {
        s.buf.header.deref_len[i] = 0;
    }
    s.nreads = 0;
    s.base = 0;
    for i in 0..MAX_SPEC_DEREFS {
        if i >= spec.nderefs as usize {
            break;
        }
        s.cur = spec.derefs[i];
        deref(s, sp);
    }

    // Interface values, and the values inside them.
    for i in 0..MAX_DYN {
        s.queue[i] = if i < spec.ndyn as usize {
            spec.dyn_slots[i]
        } else {
            DynSlot::NONE
        };
        s.buf.header.dyn_type[i] = 0;
        s.buf.header.dyn_first[i] = DYN_NO_RECIPE;
    }
    s.nqueue = u32::from(spec.ndyn).min(MAX_DYN as u32);
    for q in 0..MAX_DYN {
        if q >= core::ptr::read_volatile(&s.nqueue) as usize {
            break;
        }
        dynamic(s, sp, q);
    }
    s.buf.header.nderefs = core::ptr::read_volatile(&s.nreads) as u8;
    s.buf.header.ndyn = core::ptr::read_volatile(&s.nqueue) as u8;

    // What follows runs in functions of their own that take only the scratch area: the
    // verifier then checks each of them once, whichever way the capture went.
    filter::evaluate(s);
    s.buf.header.nframes = 0;
    if !is_return && cfg.stack_frames != 0 {
        stack::walk(s);
    }
    let used = (core::ptr::read_volatile(&s.used) as usize).min(DATA_BYTES);
    s.buf.header.data_len = used as u32;
    decide(s);
    Some(())
}

/// The global settings.
#[inline(always)]
pub(crate) fn config() -> Option<&'static TraceConfig> {
    CONFIG.get(0)
}

/// The filter of the spec that fired.
#[inline(always)]
pub(crate) fn filter_of(s: &Scratch) -> Option<&'static SpecFilter> {
    FILTERS.get(s.buf.header.cookie as u32)
}

/// The event is captured, and its comparisons made (`s.mask`): add it up (`--stats`), or send,
/// keep or count it.
#[inline(never)]
fn decide(s: &mut Scratch) {
    let (Some(cfg), Some(f)) = (config(), filter_of(s)) else {
        return;
    };
    let index = s.buf.header.cookie as u32;
    // SAFETY: as in capture.
    unsafe {
        let mask = core::ptr::read_volatile(&s.mask);
        if cfg.flags & CFG_STATS != 0 {
            stats::hit(s, cfg, f, index, mask);
        } else {
            track::finish(s, cfg, f, index, mask);
        }
    }
}

/// Sends the event assembled in the scratch area.
#[inline(always)]
pub(crate) unsafe fn send_scratch(s: &Scratch) {
    let used = (s.buf.header.data_len as usize).min(DATA_BYTES);
    let bytes: &[u8; HEADER_BYTES + DATA_BYTES] = &*(&s.buf as *const EventBuf).cast();
    send(bytes, HEADER_BYTES + used);
}

/// Sends the first `total` bytes of `bytes` through the ring buffer, or counts a drop.
#[inline(always)]
pub(crate) fn send(bytes: &[u8; HEADER_BYTES + DATA_BYTES], total: usize) {
    let Some(event) = bytes.get(..total) else {
        return;
    };
    let flags = if EVENTS.query(0) >= WAKEUP_BYTES {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    if EVENTS.output::<[u8]>(event, u64::from(flags)).is_err() {
        if let Some(drops) = DROPS.get_ptr_mut(0) {
            // SAFETY: a per-CPU map value the kernel handed out.
            unsafe { *drops += 1 };
        }
    }
}

/// Interface value number `q` of the queue: its dynamic type, and that type's recipe.
#[inline(always)]
unsafe fn dynamic(s: &mut Scratch, sp: u64, q: usize) {
    let Some(slot) = s.queue.get(q).copied() else {
        return;
    };
    core::ptr::write_volatile(&mut s.addr, word(s, sp, &slot.type_word));
    let mut ty = core::ptr::read_volatile(&s.addr);
    if slot.flags & DYN_ITAB != 0 && ty != 0 {
        ty = user_u64(ty.wrapping_add(u64::from(slot.itab_type)));
    }
    core::ptr::write_volatile(&mut s.addr, ty);
    let ty = core::ptr::read_volatile(&s.addr);
    if let Some(t) = s.buf.header.dyn_type.get_mut(q) {
        *t = ty;
    }
    if ty == 0 {
        return;
    }
    let Some(recipe) = TYPES.get(&ty.wrapping_sub(s.bias)) else {
        return;
    };
    core::ptr::write_volatile(&mut s.count, word(s, sp, &slot.data_word));
    let data = core::ptr::read_volatile(&s.count);
    let first = core::ptr::read_volatile(&s.nreads);
    if first as usize >= MAX_DEREFS {
        return;
    }
    if let Some(f) = s.buf.header.dyn_first.get_mut(q) {
        *f = first as u8;
    }
    s.dyn_data = data;
    s.base = first;
    for j in 0..MAX_TYPE_DEREFS {
        if j >= recipe.nderefs as usize {
            break;
        }
        s.cur = recipe.derefs[j];
        deref(s, sp);
    }
    for j in 0..MAX_TYPE_DYN {
        if j >= recipe.ndyn as usize {
            break;
        }
        let n = core::ptr::read_volatile(&s.nqueue) as usize;
        if n >= MAX_DYN {
            break;
        }
        let mut inner = recipe.dyn_slots[j];
        relocate(&mut inner.type_word, first);
        relocate(&mut inner.data_word, first);
        if let Some(slot) = s.queue.get_mut(n) {
            *slot = inner;
        }
        core::ptr::write_volatile(&mut s.nqueue, (n + 1) as u32);
    }
    s.base = 0;
}

/// A recipe's word, made absolute: its reads count from `first`.
#[inline(always)]
fn relocate(w: &mut Word, first: u32) {
    if w.kind == WORD_DEREF {
        w.index = w.index.wrapping_add(first as u8);
    }
}

/// The read in `s.cur`: appends its bytes after what is already captured, as read number
/// `s.nreads`.
#[inline(always)]
unsafe fn deref(s: &mut Scratch, sp: u64) {
    let i = core::ptr::read_volatile(&s.nreads) as usize;
    if i >= MAX_DEREFS {
        return;
    }
    core::ptr::write_volatile(&mut s.nreads, (i + 1) as u32);
    // Each read starts 8-aligned, so that a word in it is one aligned load (see `word`).
    let used = ((core::ptr::read_volatile(&s.used) as usize + 7) & !7) & (2 * DATA_BYTES - 1);
    core::ptr::write_volatile(&mut s.used, used as u32);
    if let Some(start) = s.starts.get_mut(i) {
        *start = used as u32;
    }
    let d = s.cur;
    core::ptr::write_volatile(&mut s.addr, word(s, sp, &d.addr));
    let addr = core::ptr::read_volatile(&s.addr);
    if addr == 0 {
        return;
    }
    let count = if d.len.kind == WORD_NONE {
        1
    } else {
        word(s, sp, &d.len)
    };
    core::ptr::write_volatile(&mut s.count, count);
    let count = core::ptr::read_volatile(&s.count);
    // Both factors are capped first: no overflow, and no 128-bit multiply (BPF has none).
    let mut n = count.min(u64::from(MAX_DEREF_BYTES)) * u64::from(d.elem_size.min(MAX_DEREF_BYTES));
    n = n.min(u64::from(d.max_bytes)).min(u64::from(MAX_DEREF_BYTES));
    if used >= DATA_BYTES {
        return;
    }
    n = n.min((DATA_BYTES - used) as u64);
    let len = (n as u32) & (2 * MAX_DEREF_BYTES - 1);
    if len == 0 || len > MAX_DEREF_BYTES {
        return;
    }
    let at = used & (DATA_BYTES - 1);
    let dst = s.buf.data.as_mut_ptr().add(at);
    let src = addr.wrapping_add(u64::from(d.addr_add));
    let ok = read_raw(dst.cast(), len, src as *const _) == 0;
    if let Some(out) = s.buf.header.deref_len.get_mut(i) {
        *out = if ok { len as u16 } else { DEREF_FAILED };
    }
    if ok {
        core::ptr::write_volatile(&mut s.used, (used as u32) + len);
    }
}

#[inline(always)]
pub(crate) fn reg(s: &Scratch, index: u8) -> u64 {
    s.regs.get(index as usize).copied().unwrap_or(0)
}

#[inline(always)]
pub(crate) unsafe fn user_u64(addr: u64) -> u64 {
    bpf_probe_read_user(addr as *const u64).unwrap_or(0)
}

/// The value of a [`Word`]. A read's number counts from `s.base` (0 for a spec's reads, the
/// recipe's first read for a recipe's).
#[inline(always)]
pub(crate) unsafe fn word(s: &Scratch, sp: u64, w: &Word) -> u64 {
    match w.kind {
        WORD_REG => reg(s, w.index),
        WORD_STACK => user_u64(sp.wrapping_add(u64::from(w.value))),
        WORD_CONST => u64::from(w.value),
        WORD_DYN_DATA => s.dyn_data,
        WORD_DEREF => read_word(s, w.index as usize, w.value).unwrap_or(0),
        _ => 0,
    }
}

/// The 8 bytes at `offset` of read number `s.base + index`, when that read captured them.
#[inline(always)]
pub(crate) unsafe fn read_word(s: &Scratch, index: usize, offset: u32) -> Option<u64> {
    let k = (index + core::ptr::read_volatile(&s.base) as usize) & 63;
    let (Some(start), Some(len)) = (s.starts.get(k), s.buf.header.deref_len.get(k)) else {
        return None;
    };
    let start = core::ptr::read_volatile(start) as usize;
    let len = core::ptr::read_volatile(len);
    // Go aligns every pointer and length word to 8 bytes, and reads start 8-aligned.
    if len == DEREF_FAILED || u64::from(offset) + 8 > u64::from(len) || offset % 8 != 0 {
        return None;
    }
    let at = (start + offset as usize) & (DATA_BYTES - 8);
    Some(core::ptr::read_volatile(
        s.buf.data.as_ptr().add(at).cast::<u64>(),
    ))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

//! Calls followed from their entry to their return, when a filter is on ([`CFG_TRACK`]).
//!
//! A call's entry decides for its return: a call that passes its filters is remembered in
//! `CALLS` under its goroutine and depth (as user space pairs returns with calls), and a return
//! whose call is not there is left out with it. A call whose outcome depends on its return
//! (`--min-duration`, a condition on results) has its whole event kept in `KEPT` until then:
//! at its return both are sent, the call first and with its own timestamp, or both are
//! counted as filtered out. Nothing is lost without a count: maps that are full, and kept
//! calls found replaced by a later call at the same depth (a panic), are counted.

use crate::filter::table_bit;
use crate::{count, send, send_scratch, Scratch};
use aya_ebpf::{macros::map, maps::HashMap};
use probe_common::*;

/// Calls that passed their entry, waiting for their return. User space sets the size.
#[map]
pub(crate) static CALLS: HashMap<CallKey, CallMark> = HashMap::with_max_entries(1, 0);

/// `BPF_F_NO_PREALLOC`: memory for kept events only while they are kept.
const NO_PREALLOC: u32 = 1;

/// Events of calls kept until their return. User space sets the size.
#[map]
static KEPT: HashMap<CallKey, KeptEvent> = HashMap::with_max_entries(1, NO_PREALLOC);

/// The call an event belongs to: its goroutine (or, without one, its thread) and its depth on
/// the stack, as user space pairs them (`probe::Pairing`).
#[inline(always)]
pub fn key(h: &EventHeader) -> CallKey {
    CallKey {
        id: CallKey::owner(h.goid, h.pid_tgid as u32),
        depth: CallKey::depth(h.stack_hi, h.sp),
        tgid: (h.pid_tgid >> 32) as u32,
        pad: 0,
    }
}

/// Whether a call followed from its entry passes at its return (`dur` after it): the
/// condition over its entry's comparisons and its return's (`mask`), and `--min-duration`.
#[inline(always)]
pub fn passes_at_return(
    cfg: &TraceConfig,
    f: &SpecFilter,
    mark: &CallMark,
    mask: u64,
    dur: u64,
) -> bool {
    if f.flags & FILTER_WHERE != 0 && !table_bit(&f.accept, mark.mask | mask) {
        return false;
    }
    !(cfg.flags & CFG_MIN_DURATION != 0 && dur < cfg.min_duration_ns)
}

/// The event in the scratch area is complete: send it, keep it, or count it out.
#[inline(always)]
pub unsafe fn finish(s: &mut Scratch, cfg: &TraceConfig, f: &SpecFilter, index: u32, mask: u64) {
    if cfg.flags & CFG_TRACK == 0 {
        send_scratch(s);
        return;
    }
    if index & 1 == 0 {
        entry(s, cfg, f, index, mask);
    } else {
        ret(s, cfg, f, index, mask);
    }
}

#[inline(always)]
unsafe fn entry(s: &mut Scratch, cfg: &TraceConfig, f: &SpecFilter, index: u32, mask: u64) {
    let mut keep = cfg.flags & CFG_MIN_DURATION != 0;
    if f.flags & FILTER_WHERE != 0 {
        if table_bit(&f.reject, mask) {
            count(COUNT_FILTERED_CALLS);
            return;
        }
        keep |= !table_bit(&f.accept, mask);
    }
    let key = key(&s.buf.header);
    let mark = CallMark {
        ts_ns: s.buf.header.ts_ns,
        function: index / 2,
        flags: if keep { MARK_KEPT } else { 0 },
        mask,
    };
    forget(&key);
    if keep {
        let event: &KeptEvent = &*(&s.buf as *const EventBuf).cast();
        if KEPT.insert(&key, event, 0).is_err() {
            count(COUNT_UNKEPT);
            return;
        }
    }
    if CALLS.insert(&key, &mark, 0).is_err() {
        count(COUNT_UNKEPT);
        if keep {
            let _ = KEPT.remove(&key);
        }
        return;
    }
    if !keep {
        send_scratch(s);
    }
}

/// A call remembered at `key` never returned (a panic unwound past it, or a tail call left
/// it): a kept event of it is counted as replaced, and both are removed.
#[inline(always)]
pub unsafe fn forget(key: &CallKey) {
    let Some(old) = CALLS.get_ptr(key) else {
        return;
    };
    if (*old).flags & MARK_KEPT != 0 {
        count(COUNT_REPLACED);
        let _ = KEPT.remove(key);
    }
    let _ = CALLS.remove(key);
}

#[inline(always)]
unsafe fn ret(s: &mut Scratch, cfg: &TraceConfig, f: &SpecFilter, index: u32, mask: u64) {
    let key = key(&s.buf.header);
    let Some(mark) = CALLS.get_ptr(&key).map(|m| *m) else {
        count(COUNT_FILTERED_RETURNS);
        return;
    };
    if mark.function != index / 2 {
        // Another function's call at this depth: it returned unseen. This return's own call
        // was left out.
        forget(&key);
        count(COUNT_FILTERED_RETURNS);
        return;
    }
    let _ = CALLS.remove(&key);
    let kept = mark.flags & MARK_KEPT != 0;
    let dur = s.buf.header.ts_ns.wrapping_sub(mark.ts_ns);
    if !passes_at_return(cfg, f, &mark, mask, dur) {
        count(COUNT_FILTERED_RETURNS);
        if kept {
            count(COUNT_FILTERED_CALLS);
            let _ = KEPT.remove(&key);
        }
        return;
    }
    if kept {
        match KEPT.get_ptr(&key) {
            Some(event) => {
                let bytes: &[u8; HEADER_BYTES + DATA_BYTES] = &*event.cast();
                let used = ((*event).header.data_len as usize).min(DATA_BYTES);
                send(bytes, HEADER_BYTES + used);
                let _ = KEPT.remove(&key);
            }
            None => count(COUNT_UNKEPT),
        }
    }
    send_scratch(s);
}

//! `--stats`: no events; per function, calls, returns, returns with a non-nil error and a
//! latency histogram, added to atomically in `STATS` (one entry per function), with each
//! CPU's longest latency in `STATS_MAX`. A call's entry time waits in `CALLS` (per goroutine
//! and depth) for its return, as in [`crate::track`].

use crate::filter::table_bit;
use crate::track::{key, passes_at_return, CALLS};
use crate::{count, word, Scratch};
use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray},
};
use core::intrinsics::{atomic_xadd, AtomicOrdering};
use probe_common::*;

/// Totals per function. User space sets the size.
#[map]
static STATS: Array<FnStats> = Array::with_max_entries(1, 0);

/// The longest latency per function, per CPU. User space sets the size.
#[map]
static STATS_MAX: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Adds `v` to the shared counter at `p`: one `lock xadd` (BPF_ATOMIC_ADD; the BPF target has
/// no `AtomicU64::fetch_add`, whose compare-and-swap fallback it lacks).
#[inline(always)]
unsafe fn add(p: *mut u64, v: u64) {
    atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(p, v);
}

/// One probe hit: an entry (`index` even) or a return; `mask` holds its comparisons' outcomes.
#[inline(always)]
pub unsafe fn hit(
    s: &mut Scratch,
    cfg: &TraceConfig,
    f: &SpecFilter,
    index: u32,
    mask: u64,
) {
    let function = index / 2;
    let Some(st) = STATS.get_ptr_mut(function) else {
        return;
    };
    let key = key(&s.buf.header);
    if index & 1 == 0 {
        // Counted now when nothing at the return can change the outcome.
        let mut counted = cfg.flags & CFG_MIN_DURATION == 0;
        if f.flags & FILTER_WHERE != 0 {
            if table_bit(&f.reject, mask) {
                count(COUNT_FILTERED_CALLS);
                return;
            }
            counted &= table_bit(&f.accept, mask);
        }
        count(COUNT_AGGREGATED);
        if counted {
            add(&mut (*st).calls, 1);
        }
        let mark = CallMark {
            ts_ns: s.buf.header.ts_ns,
            function,
            flags: if counted { MARK_COUNTED } else { 0 },
            mask,
        };
        if CALLS.insert(&key, &mark, 0).is_err() {
            count(COUNT_UNTIMED);
        }
        return;
    }
    let Some(mark) = CALLS.get_ptr(&key).map(|m| *m) else {
        count(COUNT_FILTERED_RETURNS);
        return;
    };
    if mark.function != function {
        count(COUNT_FILTERED_RETURNS);
        return;
    }
    let _ = CALLS.remove(&key);
    let dur = s.buf.header.ts_ns.wrapping_sub(mark.ts_ns);
    if !passes_at_return(cfg, f, &mark, mask, dur) {
        count(COUNT_FILTERED_RETURNS);
        return;
    }
    count(COUNT_AGGREGATED);
    if mark.flags & MARK_COUNTED == 0 {
        add(&mut (*st).calls, 1);
    }
    add(&mut (*st).returns, 1);
    add(&mut (*st).total_ns, dur);
    if let Some(b) = (*st).hist.get_mut(hist_bucket(dur)) {
        add(b, 1);
    }
    if f.flags & FILTER_ERROR != 0 && word(s, s.buf.header.sp, &f.error_type) != 0 {
        add(&mut (*st).errors, 1);
    }
    if let Some(max) = STATS_MAX.get_ptr_mut(function) {
        if dur > *max {
            *max = dur;
        }
    }
}

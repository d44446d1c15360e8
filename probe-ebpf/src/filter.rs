//! Filters: `--tid` and `--goid` on the event's header, and `--where` as comparisons of
//! captured values with literals ([`Leaf`]), each setting one bit of the call's mask. Which
//! masks pass is decided by truth tables ([`SpecFilter::reject`], [`SpecFilter::accept`]) that
//! user space computed: no expression is interpreted here, so the cost is bounded by
//! [`MAX_LEAVES`] comparisons.

use crate::{filter_of, read_word, reg, Scratch};
use probe_common::*;

/// Whether the event's thread and goroutine are the ones asked for.
#[inline(always)]
pub fn thread_passes(cfg: &TraceConfig, h: &EventHeader) -> bool {
    if cfg.flags & CFG_TID != 0 && h.pid_tgid as u32 != cfg.tid {
        return false;
    }
    !(cfg.flags & CFG_GOID != 0 && h.goid != cfg.goid)
}

/// Bit `mask` of a truth table.
#[inline(always)]
pub fn table_bit(table: &[u64; TABLE_WORDS], mask: u64) -> bool {
    let m = mask & ((1 << MAX_LEAVES) - 1);
    table
        .get((m >> 6) as usize)
        .is_some_and(|w| w >> (m & 63) & 1 != 0)
}

/// Makes this probe's comparisons: their outcomes, at their bits of the call's mask, go to
/// `s.mask`.
#[inline(never)]
pub fn evaluate(s: &mut Scratch) {
    // SAFETY: every read is of the scratch area or of user memory through probe_read.
    unsafe {
        core::ptr::write_volatile(&mut s.mask, 0);
        if let Some(f) = filter_of(s) {
            evaluate_leaves(s, f);
        }
    }
}

#[inline(always)]
unsafe fn evaluate_leaves(s: &mut Scratch, f: &SpecFilter) {
    let sp = s.buf.header.sp;
    for i in 0..MAX_LEAVES {
        if i >= f.nleaves as usize {
            break;
        }
        let Some(leaf) = f.leaves.get(i) else {
            break;
        };
        if compare(s, sp, leaf) {
            let bit = (u64::from(f.first_bit) + i as u64) & 63;
            let m = core::ptr::read_volatile(&s.mask);
            core::ptr::write_volatile(&mut s.mask, m | (1 << bit));
        }
    }
}

/// A [`Word`], when it could be read (a register always; a stack slot or a word of a read
/// only when that memory was captured).
#[inline(always)]
unsafe fn value(s: &Scratch, sp: u64, w: &Word) -> Option<u64> {
    match w.kind {
        WORD_REG => Some(reg(s, w.index)),
        WORD_STACK => {
            aya_ebpf::helpers::bpf_probe_read_user(sp.wrapping_add(u64::from(w.value)) as *const u64)
                .ok()
        }
        WORD_DEREF => read_word(s, w.index as usize, w.value),
        _ => None,
    }
}

/// One comparison; false when its value could not be read.
#[inline(always)]
unsafe fn compare(s: &mut Scratch, sp: u64, l: &Leaf) -> bool {
    let Some(v) = value(s, sp, &l.value) else {
        return false;
    };
    let v = v >> (l.shift & 63);
    let op = l.op;
    if op >= OP_STR_EQ {
        let len = v;
        let n = l.literal;
        return match op {
            OP_STR_EQ => len == n && bytes_equal(s, l),
            OP_STR_NE => len != n || !bytes_equal(s, l) && readable(s, l),
            OP_STR_PREFIX => len >= n && bytes_equal(s, l),
            _ => false,
        };
    }
    let bits = 8 * u32::from(l.size.clamp(1, 8));
    let shift = 64 - bits;
    let u = (v << shift) >> shift;
    let i = ((v << shift) as i64) >> shift;
    let lit = l.literal;
    match op {
        OP_EQ => u == lit & (u64::MAX >> shift),
        OP_NE => u != lit & (u64::MAX >> shift),
        OP_LT => u < lit,
        OP_LE => u <= lit,
        OP_GT => u > lit,
        OP_GE => u >= lit,
        OP_SLT => i < lit as i64,
        OP_SLE => i <= lit as i64,
        OP_SGT => i > lit as i64,
        OP_SGE => i >= lit as i64,
        _ => false,
    }
}

/// Whether the string's read captured the literal's length.
#[inline(always)]
unsafe fn readable(s: &Scratch, l: &Leaf) -> bool {
    let k = (l.read as usize) & (MAX_DEREFS - 1);
    let Some(len) = s.buf.header.deref_len.get(k) else {
        return false;
    };
    let len = core::ptr::read_volatile(len);
    l.literal == 0 || len != DEREF_FAILED && u64::from(len) >= l.literal
}

/// Whether the first `l.literal` bytes of the string's read are the literal's; false when the
/// read did not capture them.
#[inline(always)]
unsafe fn bytes_equal(s: &Scratch, l: &Leaf) -> bool {
    let n = l.literal;
    if n == 0 {
        return true;
    }
    if !readable(s, l) {
        return false;
    }
    let k = (l.read as usize) & (MAX_DEREFS - 1);
    let Some(start) = s.starts.get(k) else {
        return false;
    };
    let start = core::ptr::read_volatile(start) as usize;
    for j in 0..MAX_LITERAL / 8 {
        let at = 8 * j as u64;
        if at >= n {
            break;
        }
        // Reads start 8-aligned: one aligned load per word.
        let off = (start + 8 * j) & (DATA_BYTES - 8);
        let w = core::ptr::read_volatile(s.buf.data.as_ptr().add(off).cast::<u64>());
        let left = n - at;
        let keep = if left >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * left)) - 1
        };
        let Some(t) = l.text.get(j) else {
            return false;
        };
        if (w ^ t) & keep != 0 {
            return false;
        }
    }
    true
}

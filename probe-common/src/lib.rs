//! The fixed layouts that gosyms' eBPF program (`probe-ebpf`) and its loader (`probe`) share:
//! what one probe captures ([`ProbeSpec`], written by user space into a map keyed by the attach
//! cookie) and what it sends back ([`EventHeader`] followed by captured bytes, through a ring
//! buffer).
//!
//! The program is data-driven: it knows nothing about Go types. A spec says which registers to
//! copy, which bytes of the stack to copy, and which memory to read through pointers (string and
//! slice data, pointees, map headers and groups); user space turns those bytes back into values.
//!
//! An interface value's type is known only when the probe fires: a spec lists the interface
//! values to look at ([`DynSlot`]), and the program reads each one's type word (through the
//! itab for a non-empty interface), looks the type up in a map that user space filled with one
//! [`TypeRecipe`] per type descriptor (keyed by its link-time address), and runs that recipe's
//! reads on the value's data word. A recipe can name interface values inside what it read,
//! which are looked at in turn, up to [`MAX_DYN`] per event. The event records each type found
//! and where its reads start, so that user space can decode the same reads again.
//!
//! Every size here is bounded so that the verifier can prove every read and write.
#![no_std]

/// Registers one event can carry (the register ABI uses 9 integer registers on amd64, 16 on
/// arm64).
pub const MAX_REGS: usize = 16;
/// Memory reads (through pointers) one event can carry: a spec's own and its type recipes'.
pub const MAX_DEREFS: usize = 64;
/// Memory reads one spec lists.
pub const MAX_SPEC_DEREFS: usize = 40;
/// Interface values one event looks up the dynamic type of: a spec's own and those its type
/// recipes find inside them.
pub const MAX_DYN: usize = 8;
/// Memory reads one type recipe lists.
pub const MAX_TYPE_DEREFS: usize = 8;
/// Interface values one type recipe names inside its reads.
pub const MAX_TYPE_DYN: usize = 2;
/// Bytes of the stack one event can copy (stack-passed arguments and results).
pub const MAX_STACK_BYTES: u32 = 1024;
/// Bytes one memory read can copy.
pub const MAX_DEREF_BYTES: u32 = 4096;
/// Bytes of captured data (stack copy and memory reads) one event can carry. A power of two:
/// the program masks offsets with `DATA_BYTES - 1`.
pub const DATA_BYTES: usize = 8192;
/// Words in the kernel's `struct pt_regs` on x86-64.
pub const PT_REGS_WORDS: usize = 21;
/// Index of `rsp` in x86-64 `struct pt_regs`.
pub const PT_REGS_RSP: usize = 19;
/// Index of `rip` in x86-64 `struct pt_regs`.
pub const PT_REGS_RIP: usize = 16;

/// The names of x86-64 `struct pt_regs` words, in order (arch/x86/include/asm/ptrace.h).
pub const PT_REGS_X86_64: [&str; PT_REGS_WORDS] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
];

/// Words of the registers a uprobe program sees on arm64: `struct user_pt_regs`, the BPF
/// context type `bpf_user_pt_regs_t` there (arch/arm64/include/uapi/asm/ptrace.h).
pub const PT_REGS_WORDS_ARM64: usize = 34;
/// Index of `sp` in arm64 `struct user_pt_regs`.
pub const PT_REGS_ARM64_SP: usize = 31;
/// Index of `pc` in arm64 `struct user_pt_regs`.
pub const PT_REGS_ARM64_PC: usize = 32;

/// The names of arm64 `struct user_pt_regs` words, in order: `regs[0..31]` are X0-X30, named
/// as Go's assembler and the resolver name them (`r0`; X28 is `r28`, Go's g; X30 is the link
/// register), then `sp`, `pc` and `pstate`.
pub const PT_REGS_ARM64: [&str; PT_REGS_WORDS_ARM64] = [
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27",
    "r28", "r29", "r30", "sp", "pc", "pstate",
];

/// [`ProbeSpec::flags`]: this is a return site (results are live), not an entry.
pub const FLAG_RETURN: u32 = 1;
/// [`ProbeSpec::flags`]: the goroutine's `g` is in register [`ProbeSpec::g_reg`].
pub const FLAG_G_IN_REG: u32 = 2;
/// [`ProbeSpec::flags`]: the goroutine's `g` is in thread-local storage, at
/// [`ProbeSpec::tls_g_offset`] from the thread's FS base.
pub const FLAG_G_IN_TLS: u32 = 4;

/// [`Word::kind`]: nothing (reads as 0).
pub const WORD_NONE: u8 = 0;
/// [`Word::kind`]: a register, [`Word::index`] into `pt_regs`.
pub const WORD_REG: u8 = 1;
/// [`Word::kind`]: 8 bytes of the stack at SP + [`Word::value`].
pub const WORD_STACK: u8 = 2;
/// [`Word::kind`]: the constant [`Word::value`].
pub const WORD_CONST: u8 = 3;
/// [`Word::kind`]: 8 bytes at offset [`Word::value`] of an earlier read, number [`Word::index`]
/// (a string inside a pointed-to struct); 0 when that read failed or was too short. In a
/// [`TypeRecipe`], the number counts from the recipe's first read.
pub const WORD_DEREF: u8 = 4;
/// [`Word::kind`], in a [`TypeRecipe`] only: the data word of the interface value the recipe
/// runs on.
pub const WORD_DYN_DATA: u8 = 5;

/// [`EventHeader::deref_len`]: the read faulted (bad address, or a page not in memory).
pub const DEREF_FAILED: u16 = u16::MAX;
/// [`EventHeader::dyn_first`]: no recipe ran for this interface value (nil, no type, or a type
/// without a recipe).
pub const DYN_NO_RECIPE: u8 = u8::MAX;
/// [`DynSlot::flags`]: the type word is an itab pointer (a non-empty interface): the type is at
/// [`DynSlot::itab_type`] bytes into the itab.
pub const DYN_ITAB: u32 = 1;

/// Where a 64-bit word comes from.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Word {
    /// One of the `WORD_*` constants.
    pub kind: u8,
    /// A `pt_regs` index (`WORD_REG`) or an earlier read's number (`WORD_DEREF`).
    pub index: u8,
    /// Padding.
    pub pad: [u8; 2],
    /// A stack offset, an offset in an earlier read, or a constant.
    pub value: u32,
}

/// One read of user memory through a pointer: `min(len * elem_size, max_bytes)` bytes at
/// `addr + addr_add`. A zero address reads nothing (a nil pointer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deref {
    /// The pointer.
    pub addr: Word,
    /// The element count (a string's or slice's length; `WORD_CONST` 1 for a pointee).
    pub len: Word,
    /// Added to the pointer (8 reads an itab's type word).
    pub addr_add: u32,
    /// Bytes per element.
    pub elem_size: u32,
    /// At most this many bytes (at most [`MAX_DEREF_BYTES`]).
    pub max_bytes: u32,
    /// Padding.
    pub pad: u32,
}

/// An interface value whose dynamic type the program looks up: where its two words are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynSlot {
    /// The type word (`eface._type`) or itab word (`iface.tab`).
    pub type_word: Word,
    /// The data word.
    pub data_word: Word,
    /// `DYN_*` bits.
    pub flags: u32,
    /// Offset of the type pointer in an itab (one pointer).
    pub itab_type: u32,
}

/// How to read a value of one dynamic type from an interface's data word: up to
/// [`MAX_TYPE_DEREFS`] reads (addressed by [`WORD_DYN_DATA`] and by earlier reads of the recipe)
/// and up to [`MAX_TYPE_DYN`] interface values inside them. Stored in a hash map keyed by the
/// type descriptor's link-time address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeRecipe {
    /// How many of `derefs` are used.
    pub nderefs: u8,
    /// How many of `dyn_slots` are used.
    pub ndyn: u8,
    /// Padding.
    pub pad: [u8; 6],
    /// The reads.
    pub derefs: [Deref; MAX_TYPE_DEREFS],
    /// Interface values inside the reads ([`WORD_DEREF`] relative to the recipe).
    pub dyn_slots: [DynSlot; MAX_TYPE_DYN],
}

impl TypeRecipe {
    /// A recipe that reads nothing.
    pub const fn empty() -> Self {
        TypeRecipe {
            nderefs: 0,
            ndyn: 0,
            pad: [0; 6],
            derefs: [Deref::NONE; MAX_TYPE_DEREFS],
            dyn_slots: [DynSlot::NONE; MAX_TYPE_DYN],
        }
    }
}

impl Word {
    /// Nothing.
    pub const NONE: Word = Word {
        kind: WORD_NONE,
        index: 0,
        pad: [0; 2],
        value: 0,
    };
}

impl Deref {
    /// No read.
    pub const NONE: Deref = Deref {
        addr: Word::NONE,
        len: Word::NONE,
        addr_add: 0,
        elem_size: 0,
        max_bytes: 0,
        pad: 0,
    };
}

impl DynSlot {
    /// No interface value.
    pub const NONE: DynSlot = DynSlot {
        type_word: Word::NONE,
        data_word: Word::NONE,
        flags: 0,
        itab_type: 0,
    };
}

/// What one probe captures. Stored in an array map at the index its attach cookie names.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The link-time address of the function's entry: with the offset of the probed
    /// instruction from it (the attach cookie's high half), it gives a PIE's load bias.
    pub entry_vaddr: u64,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Offset of `goid` in `runtime.g`.
    pub goid_offset: u32,
    /// Offset of `g` from the FS base (`FLAG_G_IN_TLS`; -8 on linux/amd64).
    pub tls_g_offset: i32,
    /// Offset of `thread.fsbase` in the kernel's `task_struct` (`FLAG_G_IN_TLS`).
    pub fsbase_offset: u32,
    /// The `pt_regs` index of the register holding `g` (`FLAG_G_IN_REG`).
    pub g_reg: u8,
    /// How many of `regs` are used.
    pub nregs: u8,
    /// How many of `derefs` are used.
    pub nderefs: u8,
    /// How many of `dyn_slots` are used.
    pub ndyn: u8,
    /// Copy `stack_len` bytes of the stack from SP + `stack_off`.
    pub stack_off: u32,
    /// At most [`MAX_STACK_BYTES`].
    pub stack_len: u32,
    /// Padding.
    pub pad: u32,
    /// `pt_regs` indices of the registers to copy, in order.
    pub regs: [u8; MAX_REGS],
    /// Memory reads, in order; a read's `WORD_DEREF` sources name earlier reads only.
    pub derefs: [Deref; MAX_SPEC_DEREFS],
    /// Interface values to look up the dynamic type of, after the reads.
    pub dyn_slots: [DynSlot; MAX_DYN],
}

impl ProbeSpec {
    /// A spec that captures nothing but the header.
    pub const fn empty() -> Self {
        ProbeSpec {
            entry_vaddr: 0,
            flags: 0,
            goid_offset: 0,
            tls_g_offset: 0,
            fsbase_offset: 0,
            g_reg: 0,
            nregs: 0,
            nderefs: 0,
            ndyn: 0,
            stack_off: 0,
            stack_len: 0,
            pad: 0,
            regs: [0; MAX_REGS],
            derefs: [Deref::NONE; MAX_SPEC_DEREFS],
            dyn_slots: [DynSlot::NONE; MAX_DYN],
        }
    }
}

/// The fixed start of every event. `data_len` bytes follow it: first the stack copy
/// (`stack_len` bytes), then each memory read's bytes (`deref_len[i]`, failed reads take none).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns`: nanoseconds since boot (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Process id in the high half, thread id in the low half.
    pub pid_tgid: u64,
    /// The goroutine id, or 0 when `g` could not be read.
    pub goid: u64,
    /// The stack pointer at the probe.
    pub sp: u64,
    /// The probed instruction's address in the process (gives a PIE's load address).
    pub ip: u64,
    /// The goroutine's `stack.hi`: `stack_hi - sp` is the depth, which survives stack moves.
    pub stack_hi: u64,
    /// The attach cookie: which spec fired (low half), and the probed instruction's offset from
    /// the function's entry (high half).
    pub cookie: u64,
    /// The registers the spec asked for, in its order.
    pub regs: [u64; MAX_REGS],
    /// The runtime address of each interface value's dynamic type, in the order looked at
    /// (0: nil).
    pub dyn_type: [u64; MAX_DYN],
    /// Bytes of stack copied (0 if the read faulted).
    pub stack_len: u32,
    /// Bytes of data after the header.
    pub data_len: u32,
    /// Bytes each memory read copied, or [`DEREF_FAILED`]; 0 when not made (a nil pointer).
    pub deref_len: [u16; MAX_DEREFS],
    /// How many memory reads were made (spec's and recipes').
    pub nderefs: u8,
    /// How many interface values were looked at.
    pub ndyn: u8,
    /// For each interface value, the number of its recipe's first read, or [`DYN_NO_RECIPE`].
    pub dyn_first: [u8; MAX_DYN],
    /// Return addresses of the Go call stack (`--stack`), innermost first, in the last
    /// `8 * nframes` bytes of the data: the probed instruction, the caller's return address,
    /// then one per frame pointer.
    pub nframes: u8,
    /// Padding.
    pub pad: [u8; 5],
}

// No implicit padding: both sides see the same bytes, and `Pod` is sound.
const _: () = assert!(core::mem::size_of::<EventHeader>() == 400);
const _: () = assert!(core::mem::size_of::<ProbeSpec>() == 1528);
const _: () = assert!(core::mem::size_of::<TypeRecipe>() == 312);

/// Size of [`EventHeader`] in bytes.
pub const HEADER_BYTES: usize = core::mem::size_of::<EventHeader>();

/// An event as the program assembles it before sending its first `HEADER_BYTES + data_len`
/// bytes. The data area is twice [`DATA_BYTES`] so that a read starting anywhere below
/// `DATA_BYTES` and at most [`MAX_DEREF_BYTES`] long stays inside it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EventBuf {
    /// The header.
    pub header: EventHeader,
    /// Captured bytes.
    pub data: [u8; 2 * DATA_BYTES],
}

// ---------------------------------------------------------------------------------------------
// Filters, kept calls, statistics and stacks. The program reads these from maps of their own
// (CONFIG, FILTERS, CALLS, KEPT, STATS, STATS_MAX, COUNTS), so that a trace without them works
// exactly as before.

/// Most frames of a Go call stack one event carries (`--stack`).
pub const MAX_FRAMES: usize = 64;

/// [`TraceConfig::flags`]: only the thread [`TraceConfig::tid`].
pub const CFG_TID: u32 = 1;
/// [`TraceConfig::flags`]: only the goroutine [`TraceConfig::goid`].
pub const CFG_GOID: u32 = 2;
/// [`TraceConfig::flags`]: a call's entry decides for its return: each call that passed is
/// remembered in `CALLS` (per goroutine and depth) until its return, and a return whose call
/// is not there is filtered out too.
pub const CFG_TRACK: u32 = 4;
/// [`TraceConfig::flags`]: only calls that took at least [`TraceConfig::min_duration_ns`]; a
/// call's event is kept in `KEPT` until its return.
pub const CFG_MIN_DURATION: u32 = 8;
/// [`TraceConfig::flags`]: no events: calls, errors and latencies are added up per function in
/// `STATS`.
pub const CFG_STATS: u32 = 16;

/// What applies to every probe: `CONFIG[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceConfig {
    /// `CFG_*` bits.
    pub flags: u32,
    /// The thread id of `CFG_TID`.
    pub tid: u32,
    /// The goroutine id of `CFG_GOID`.
    pub goid: u64,
    /// The shortest call written under `CFG_MIN_DURATION`, in nanoseconds.
    pub min_duration_ns: u64,
    /// Frames of the Go call stack each call event carries (at most [`MAX_FRAMES`]; 0: none).
    pub stack_frames: u32,
    /// Padding.
    pub pad: u32,
}

/// Comparisons one function's condition holds (at its entry and its returns together): a
/// call's outcomes are a mask of this many bits.
pub const MAX_LEAVES: usize = 8;
/// Bytes of a string literal in a condition.
pub const MAX_LITERAL: usize = 64;
/// Words of a truth table over [`MAX_LEAVES`] bits.
pub const TABLE_WORDS: usize = (1 << MAX_LEAVES) / 64;

/// [`Leaf::op`]: `==` on the integer (or pointer) [`Leaf::value`].
pub const OP_EQ: u8 = 1;
/// `!=`.
pub const OP_NE: u8 = 2;
/// `<`, unsigned.
pub const OP_LT: u8 = 3;
/// `<=`, unsigned.
pub const OP_LE: u8 = 4;
/// `>`, unsigned.
pub const OP_GT: u8 = 5;
/// `>=`, unsigned.
pub const OP_GE: u8 = 6;
/// `<`, signed.
pub const OP_SLT: u8 = 7;
/// `<=`, signed.
pub const OP_SLE: u8 = 8;
/// `>`, signed.
pub const OP_SGT: u8 = 9;
/// `>=`, signed.
pub const OP_SGE: u8 = 10;
/// A string equals the literal: [`Leaf::value`] is its length, its bytes are read
/// [`Leaf::read`].
pub const OP_STR_EQ: u8 = 11;
/// A string differs from the literal.
pub const OP_STR_NE: u8 = 12;
/// A string starts with the literal.
pub const OP_STR_PREFIX: u8 = 13;

/// One comparison of a captured value with a literal. A value that could not be read makes
/// every comparison false.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The integer, bool or pointer word; for strings, the length word.
    pub value: Word,
    /// One of the `OP_*` constants.
    pub op: u8,
    /// Bytes of the integer (1, 2, 4 or 8): the word is cut to them, and sign-extended for
    /// the signed operators.
    pub size: u8,
    /// Strings: the number of the read that holds the string's bytes.
    pub read: u8,
    /// Bits the word is shifted right by first (a field inside an 8-aligned word of a read).
    pub shift: u8,
    /// Padding.
    pub pad: [u8; 4],
    /// The integer literal (sign-extended to 64 bits), or the string literal's length.
    pub literal: u64,
    /// The string literal, zero-padded.
    pub text: [u64; MAX_LITERAL / 8],
}

impl Leaf {
    /// No comparison.
    pub const NONE: Leaf = Leaf {
        value: Word::NONE,
        op: 0,
        size: 0,
        read: 0,
        shift: 0,
        pad: [0; 4],
        literal: 0,
        text: [0; MAX_LITERAL / 8],
    };
}

/// [`SpecFilter::flags`]: the function has a `--where` condition.
pub const FILTER_WHERE: u32 = 1;
/// [`SpecFilter::flags`], on a return spec: [`SpecFilter::error_type`] is the type word of the
/// function's last result, an `error`.
pub const FILTER_ERROR: u32 = 2;

/// The filter of one probe spec, at the same index in `FILTERS` as the spec in `SPECS`.
///
/// A condition is compiled to at most [`MAX_LEAVES`] comparisons; those on arguments are made
/// at the entry, those on results at the returns, and each sets one bit of the call's mask
/// (the entry's at `first_bit` 0, the return's above them). Truth tables over the mask decide:
/// no interpreter runs in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecFilter {
    /// `FILTER_*` bits.
    pub flags: u32,
    /// How many of `leaves` this probe evaluates.
    pub nleaves: u8,
    /// The mask bit of `leaves[0]`.
    pub first_bit: u8,
    /// Padding.
    pub pad: [u8; 2],
    /// Return specs with `FILTER_ERROR`: where the error's type (or itab) word is.
    pub error_type: Word,
    /// Entry specs: bit `m` set when, with entry mask `m`, the condition is false whatever the
    /// results are (the call is filtered out at once).
    pub reject: [u64; TABLE_WORDS],
    /// Entry specs: bit `m` set when the condition is true whatever the results are. Return
    /// specs: bit `m` set when the condition is true for the whole mask `m`.
    pub accept: [u64; TABLE_WORDS],
    /// The comparisons.
    pub leaves: [Leaf; MAX_LEAVES],
}

impl SpecFilter {
    /// No condition: every call passes.
    pub const fn pass() -> Self {
        SpecFilter {
            flags: 0,
            nleaves: 0,
            first_bit: 0,
            pad: [0; 2],
            error_type: Word::NONE,
            reject: [0; TABLE_WORDS],
            accept: [u64::MAX; TABLE_WORDS],
            leaves: [Leaf::NONE; MAX_LEAVES],
        }
    }
}

/// Which call a return belongs to: the goroutine (or, without one, the thread) and the depth on
/// its stack (`stack.hi - SP`, the same at a function's entry probe and its returns).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CallKey {
    /// The goroutine id, or `1 << 63 | tid` without one.
    pub id: u64,
    /// `stack.hi - SP`, or `-SP` without `g`.
    pub depth: u64,
    /// The process.
    pub tgid: u32,
    /// Padding.
    pub pad: u32,
}

impl CallKey {
    /// Whose stack a probe hit is on: goroutine `goid`, or thread `tid` with the top bit set
    /// when the goroutine is unknown (0; goroutines migrate, the thread is the best there is).
    pub const fn owner(goid: u64, tid: u32) -> u64 {
        if goid != 0 {
            goid
        } else {
            1 << 63 | tid as u64
        }
    }

    /// Depth on that stack, the same when the stack moves: `stack.hi - SP`; without `g`
    /// (`stack_hi` 0), the stack pointer itself, negated so that deeper is larger.
    pub const fn depth(stack_hi: u64, sp: u64) -> u64 {
        if stack_hi != 0 {
            stack_hi.wrapping_sub(sp)
        } else {
            sp.wrapping_neg()
        }
    }
}

/// [`CallMark::flags`]: the call's event is in `KEPT`, to be written when it returns.
pub const MARK_KEPT: u32 = 1;
/// [`CallMark::flags`]: the call is already counted in its function's statistics.
pub const MARK_COUNTED: u32 = 2;

/// A call that passed its entry, waiting for its return in `CALLS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallMark {
    /// When the entry probe fired (`bpf_ktime_get_ns`).
    pub ts_ns: u64,
    /// The function (its entry spec's index / 2).
    pub function: u32,
    /// `MARK_*` bits.
    pub flags: u32,
    /// The outcomes of the entry's comparisons.
    pub mask: u64,
}

/// A call's event kept until its return (`--min-duration`, conditions on results): the first
/// `HEADER_BYTES + header.data_len` bytes are the event.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KeptEvent {
    /// The header.
    pub header: EventHeader,
    /// Captured bytes.
    pub data: [u8; DATA_BYTES],
}

/// Latency histogram buckets: 4 per power of two. Bucket `b < 4` holds `b` ns; from `b = 4`
/// on, bucket `4(k-1) + j` holds `[2^k + j 2^(k-2), 2^k + (j+1) 2^(k-2))` ns, so up to 7 ns
/// each bucket is one nanosecond. The last four are never used.
pub const HIST_BUCKETS: usize = 256;
/// Sub-buckets per power of two, as a shift.
pub const HIST_SUB_BITS: u32 = 2;

/// One function's totals (`--stats`), in `STATS[function]`, added to atomically.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FnStats {
    /// Calls that passed the filters.
    pub calls: u64,
    /// Returns of those calls.
    pub returns: u64,
    /// Returns with a non-nil error (the last result, when it is an `error`).
    pub errors: u64,
    /// Sum of the latencies in `hist`, in nanoseconds.
    pub total_ns: u64,
    /// Latencies (entry to return), in nanoseconds.
    pub hist: [u64; HIST_BUCKETS],
}

impl FnStats {
    /// Nothing counted.
    pub const ZERO: FnStats = FnStats {
        calls: 0,
        returns: 0,
        errors: 0,
        total_ns: 0,
        hist: [0; HIST_BUCKETS],
    };
}

/// The histogram bucket of a latency of `ns` nanoseconds.
#[inline(always)]
pub fn hist_bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    // floor(log2(ns)) without a loop: the verifier's and BPF's friend.
    let mut k = 0u32;
    let mut v = ns;
    if v >= 1 << 32 {
        v >>= 32;
        k += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        k += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        k += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        k += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        k += 2;
    }
    if v >= 1 << 1 {
        k += 1;
    }
    let sub = (ns >> (k - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1);
    (((k - 1) << HIST_SUB_BITS) as usize + sub as usize) & (HIST_BUCKETS - 1)
}

/// The latencies bucket `b` holds: `[low, high)` nanoseconds (`high` saturates at `u64::MAX`).
pub fn hist_range(b: usize) -> (u64, u64) {
    if b < 4 {
        return (b as u64, b as u64 + 1);
    }
    let k = (b >> HIST_SUB_BITS) as u32 + 1;
    if k > 63 {
        return (u64::MAX, u64::MAX);
    }
    let sub = (b & ((1 << HIST_SUB_BITS) - 1)) as u64;
    let step = 1u64 << (k - HIST_SUB_BITS);
    let low = (1u64 << k) + sub * step;
    (low, low.saturating_add(step))
}

/// `COUNTS[COUNT_FILTERED_CALLS]`: calls a filter left out (at the entry, or at the return for
/// conditions on results and `--min-duration`).
pub const COUNT_FILTERED_CALLS: u32 = 0;
/// Returns left out: of calls left out, of calls not seen, or by a filter.
pub const COUNT_FILTERED_RETURNS: u32 = 1;
/// Calls that passed but could not be remembered until their return (`CALLS` or `KEPT` full):
/// not written.
pub const COUNT_UNKEPT: u32 = 2;
/// Calls remembered but never returned, found replaced by a later call at the same goroutine
/// and depth (a panic, a tail call): not written.
pub const COUNT_REPLACED: u32 = 3;
/// Probe hits added up in `STATS` instead of written (`--stats`).
pub const COUNT_AGGREGATED: u32 = 4;
/// `--stats`: calls counted whose latency could not be measured (`CALLS` full); not a probe
/// hit of its own (those are in `COUNT_AGGREGATED`).
pub const COUNT_UNTIMED: u32 = 5;
/// Entries in `COUNTS`.
pub const COUNTS_LEN: u32 = 6;

const _: () = assert!(core::mem::size_of::<TraceConfig>() == 32);
const _: () = assert!(core::mem::size_of::<Leaf>() == 88);
const _: () = assert!(core::mem::size_of::<SpecFilter>() == 8 + 8 + 64 + 8 * 88);
const _: () = assert!(core::mem::size_of::<CallKey>() == 24);
const _: () = assert!(core::mem::size_of::<CallMark>() == 24);
const _: () = assert!(core::mem::size_of::<KeptEvent>() == HEADER_BYTES + DATA_BYTES);
const _: () = assert!(core::mem::size_of::<FnStats>() == 32 + 8 * HIST_BUCKETS);

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `repr(C)` data with explicit padding fields, valid for any bit pattern.
    unsafe impl aya::Pod for super::ProbeSpec {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TypeRecipe {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TraceConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SpecFilter {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CallKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CallMark {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FnStats {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latency_falls_in_its_bucket() {
        let edges = [
            0,
            1,
            3,
            4,
            7,
            8,
            9,
            15,
            16,
            1000,
            1023,
            1024,
            1 << 40,
            u64::MAX - 1,
        ];
        let more = (0..20_000u64).map(|i| i * 37 + i * i * 1009);
        for ns in edges.into_iter().chain(more) {
            let b = hist_bucket(ns);
            let (lo, hi) = hist_range(b);
            assert!(lo <= ns && ns < hi, "{ns} in {b}: [{lo}, {hi})");
        }
        assert_eq!(hist_bucket(u64::MAX), 251);
        // The buckets tile the line: each ends where the next starts.
        for b in 0..251 {
            assert_eq!(hist_range(b).1, hist_range(b + 1).0, "bucket {b}");
        }
        assert_eq!(hist_range(251).1, u64::MAX);
    }
}

//! The fixed layouts that gosyms' eBPF program (`probe-ebpf`) and its loader (`probe`) share:
//! what one probe captures ([`ProbeSpec`], written by user space into a map keyed by the attach
//! cookie) and what it sends back ([`EventHeader`] followed by captured bytes, through a ring
//! buffer).
//!
//! The program is data-driven: it knows nothing about Go types. A spec says which registers to
//! copy, which bytes of the stack to copy, and which memory to read through pointers (string and
//! slice data, pointees, an itab's type word); user space turns those bytes back into values.
//! Every size here is bounded so that the verifier can prove every read and write.
#![no_std]

/// Registers one event can carry (the register ABI uses 9 integer registers on amd64, 16 on
/// arm64).
pub const MAX_REGS: usize = 16;
/// Memory reads (through pointers) one event can carry.
pub const MAX_DEREFS: usize = 16;
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
/// (a string inside a pointed-to struct); 0 when that read failed or was too short.
pub const WORD_DEREF: u8 = 4;

/// [`EventHeader::deref_len`]: the read faulted (bad address, or a page not in memory).
pub const DEREF_FAILED: u32 = u32::MAX;

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

/// What one probe captures. Stored in an array map at the index its attach cookie names.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
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
    /// Padding.
    pub pad: u8,
    /// Copy `stack_len` bytes of the stack from SP + `stack_off`.
    pub stack_off: u32,
    /// At most [`MAX_STACK_BYTES`].
    pub stack_len: u32,
    /// `pt_regs` indices of the registers to copy, in order.
    pub regs: [u8; MAX_REGS],
    /// Memory reads, in order; a read's `WORD_DEREF` sources name earlier reads only.
    pub derefs: [Deref; MAX_DEREFS],
}

impl ProbeSpec {
    /// A spec that captures nothing but the header.
    pub const fn empty() -> Self {
        ProbeSpec {
            flags: 0,
            goid_offset: 0,
            tls_g_offset: 0,
            fsbase_offset: 0,
            g_reg: 0,
            nregs: 0,
            nderefs: 0,
            pad: 0,
            stack_off: 0,
            stack_len: 0,
            regs: [0; MAX_REGS],
            derefs: [Deref {
                addr: Word {
                    kind: WORD_NONE,
                    index: 0,
                    pad: [0; 2],
                    value: 0,
                },
                len: Word {
                    kind: WORD_NONE,
                    index: 0,
                    pad: [0; 2],
                    value: 0,
                },
                addr_add: 0,
                elem_size: 0,
                max_bytes: 0,
                pad: 0,
            }; MAX_DEREFS],
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
    /// The attach cookie: which spec fired.
    pub cookie: u64,
    /// The registers the spec asked for, in its order.
    pub regs: [u64; MAX_REGS],
    /// Bytes of stack copied (0 if the read faulted).
    pub stack_len: u32,
    /// Bytes of data after the header.
    pub data_len: u32,
    /// Bytes each memory read copied, or [`DEREF_FAILED`].
    pub deref_len: [u32; MAX_DEREFS],
}

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

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `repr(C)` data with explicit padding fields, valid for any bit pattern.
    unsafe impl aya::Pod for super::ProbeSpec {}
}

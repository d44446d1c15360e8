//! Bounded mutation test: thousands of damaged copies of real matrix binaries, read in-process
//! through the `pclntab` library. Every mutant must give `Ok` or a typed `Err` from parsing, from
//! iterating every function with its file and line, from lookups, from walking every type
//! descriptor (`all`, `get` on each with its Go syntax, `itabs`, `by_name`), and every 16th from
//! `unstrip` (both modes); never a panic, within a time and a memory bound.
//!
//! The mutants, for each of seven matrix binaries and a fat Mach-O file made of two (Go 1.15,
//! 1.19, 1.21, 1.27; ELF, PE, Mach-O thin and fat; 32 and 64 bit; little and big endian; exe and
//! PIE), about 11,000 in all:
//! - truncations at every section and loaded-region boundary (and one byte either side), at the
//!   start and end of every table inside pclntab, around moduledata, and at random points;
//! - single bit flips in the pclntab header, the function table, the `_func` records, the name,
//!   file and pc-value tables, moduledata, the container headers and anywhere, and a few
//!   multi-flip mutants;
//! - overwrites of named fields with values chosen to hurt (0, 1, all ones, the sign bit, the
//!   original plus or minus one, the file's length, the other tables' offsets...): the pclntab
//!   magic (every known magic, an unknown one, the other byte order), padding, `minLC`, `ptrSize`,
//!   `nfunc` (0, huge), `nfiles`, `textStart`, every table offset in the header; function table
//!   entries (entry offsets out of order or out of range, `funcoff` out of range, pointing at the
//!   entry itself or at the header: cyclic); the words of `_func` records; the moduledata words
//!   that hold the pointer to pclntab, the function table's address and length, `minpc`/`maxpc`,
//!   `text`/`etext`, `types`/`etypes` and `gofunc` (including pointers to moduledata itself); and
//!   the container's own fields (ELF header, program and section headers, PE headers and section
//!   table, Mach-O load commands, segments, sections and symbol table, the fat header);
//! - the same moduledata and header overwrites in a copy whose pclntab magic is zeroed and whose
//!   section name is hidden, so that the table is only found through moduledata;
//! - for the type descriptors: bit flips in `[types, etypes)`, in `typelinks` and `itablinks`, and
//!   overwrites of the fields of descriptors of every kind (kind, tflag, name and `ptrToThis`
//!   offsets, element pointers, the lengths of field and method slices, parameter counts, the
//!   uncommon type's method count and offset, the map's group size) and of the moduledata words
//!   that locate them (`typelinks`, `itablinks`; `typedesclen`, `itaboffset`, `itabsize` in Go
//!   1.27).
//!
//! The bounds, per mutant (with `unstrip`: 8 × input size + 1 MiB of memory, see
//! [`unstrip_memory_bound`]):
//! - no panic: each case runs under `catch_unwind`;
//! - time: under [`TIME_LIMIT`] (2 s) in a debug build (the dev profile builds pclntab with
//!   opt-level 3); a watchdog fails the test if a case is still running after [`HANG_LIMIT`];
//! - memory: the bytes allocated during the case and still live at any moment (counted per thread
//!   by the global allocator below) stay under `4 × input size + 1 MiB` ([`memory_bound`]).
//!   pclntab borrows the file's bytes and copies nothing it does not have to. What it and goblin
//!   allocate is one entry per header record (section, segment, load command, symbol), each
//!   record taking 40 to 80 bytes of the file and an entry about as much or twice that in memory
//!   (goblin's copy and pclntab's), in vectors that grow by doubling: under 4 bytes of memory per
//!   byte of file; plus the build info's strings (copied out of the file), names that are not
//!   valid UTF-8, at most 64 inlined frames, and a constant for the rest. The worst mutant
//!   measured takes 2 × its input (a Mach-O segment claiming 2^32 - 1 sections). A single
//!   allocation that would pass [`HARD_CAP`] is refused: the mutant is saved and the process
//!   aborts, naming it, rather than running the machine out of memory.
//!
//! A failing mutant is written to `$TMPDIR/gosyms-mutants/` (the bytes, and a `.txt` saying which
//! binary and which change) for reproduction with `gosyms list --lines FILE`.

use pclntab::{Error, GoBinary, PclnVersion, VirtAddr};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most time one mutant may take: parse, every function with lines, the lookups.
const TIME_LIMIT: Duration = Duration::from_secs(2);
/// A case still running after this long is a hang.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// Live bytes beyond which an allocation is refused (the process then aborts, naming the mutant).
const HARD_CAP: usize = 1 << 30;

/// The most bytes a case may have allocated and live at once, for an input of `len` bytes.
fn memory_bound(len: usize) -> usize {
    4 * len + (1 << 20)
}

/// The same with `unstrip`: it also holds the DWARF it has written (a third to a half of the
/// input's size for Go binaries), the symbol names, and one compilation unit's DWARF and line
/// tables while it builds them (the runtime's is the largest): under 8 bytes per input byte.
fn unstrip_memory_bound(len: usize) -> usize {
    8 * len + (1 << 20)
}

// ---------------------------------------------------------------------------------------------
// A global allocator that counts live bytes per thread, so that cases on parallel test threads do
// not see each other's allocations. Each case runs on one worker thread (pclntab starts none).

struct Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed (frees of other threads' blocks count too).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The largest `LIVE` since the last reset.
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Allocations that would take `LIVE` past this are refused.
    static CAP: Cell<isize> = const { Cell::new(isize::MAX) };
    /// The case being run: its bytes and its description, for the report when the cap is hit.
    static CURRENT: Cell<Option<(*const u8, usize, *const u8, usize)>> = const { Cell::new(None) };
}

/// Counts `n` more bytes; false if that passes the cap.
fn grow(n: usize) -> bool {
    let Ok(ok) = LIVE.try_with(|live| {
        let v = live.get().saturating_add(n as isize);
        if v > CAP.with(Cell::get) {
            return false;
        }
        live.set(v);
        PEAK.with(|p| p.set(p.get().max(v)));
        true
    }) else {
        return true;
    };
    if !ok {
        over_cap(n);
    }
    ok
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - n as isize));
}

/// The current case tried to allocate `n` bytes past the cap: save it and say so, before the
/// refused allocation aborts the process.
#[cold]
fn over_cap(n: usize) {
    CAP.with(|c| c.set(isize::MAX)); // allocating is fine again: this is the last word
    if let Some((data, len, desc, desc_len)) = CURRENT.with(Cell::get) {
        // SAFETY: the worker set these to the mutant and its description, which it owns and keeps
        // alive while the case runs; the case is blocked in this allocation.
        let (data, desc) = unsafe {
            (
                std::slice::from_raw_parts(data, len),
                std::slice::from_raw_parts(desc, desc_len),
            )
        };
        let desc = String::from_utf8_lossy(desc);
        let saved = save(&desc, data);
        eprintln!(
            "mutation test: {desc}: tried to allocate {n} bytes with {HARD_CAP} live: aborting; mutant saved to {}",
            saved.display()
        );
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !grow(l.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc(l);
        if p.is_null() {
            shrink(l.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if !grow(l.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(l);
        if p.is_null() {
            shrink(l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrink(l.size());
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if new_size > l.size() && !grow(new_size - l.size()) {
            return std::ptr::null_mut();
        }
        let q = System.realloc(p, l, new_size);
        match (q.is_null(), new_size > l.size()) {
            (true, true) => shrink(new_size - l.size()),
            (false, false) => shrink(l.size() - new_size),
            _ => {}
        }
        q
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[lo, hi)` (`lo` when empty).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % (hi - lo) as u64) as usize
    }
}

/// FNV-1a, to seed each binary's generator from its name.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Mutants.

#[derive(Debug, Clone)]
enum Change {
    /// Keep the first N bytes.
    Truncate(usize),
    /// Write these bytes at these offsets (past the end: ignored).
    Patch(Vec<(usize, Vec<u8>)>),
}

#[derive(Debug, Clone)]
struct Mutant {
    what: String,
    change: Change,
}

impl Mutant {
    fn apply(&self, orig: &[u8], buf: &mut Vec<u8>) {
        buf.clear();
        match &self.change {
            Change::Truncate(n) => buf.extend_from_slice(&orig[..(*n).min(orig.len())]),
            Change::Patch(patches) => {
                buf.extend_from_slice(orig);
                for (at, bytes) in patches {
                    for (i, b) in bytes.iter().enumerate() {
                        if let Some(x) = buf.get_mut(at + i) {
                            *x = *b;
                        }
                    }
                }
            }
        }
    }
}

/// A field of the file to overwrite: where, how wide, and with which values besides the usual.
struct Field {
    name: String,
    off: usize,
    width: usize,
    extra: Vec<u64>,
}

/// What the test knows about one binary, from parsing the original.
struct Shape {
    big: bool,
    ptr: usize,
    len: usize,
}

impl Shape {
    fn read(&self, data: &[u8], off: usize, width: usize) -> u64 {
        let Some(b) = data.get(off..off + width) else {
            return 0;
        };
        let mut v = 0u64;
        for i in 0..width {
            let byte = if self.big { b[i] } else { b[width - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        v
    }

    fn bytes(&self, v: u64, width: usize) -> Vec<u8> {
        let le = v.to_le_bytes();
        let mut out: Vec<u8> = le[..width].to_vec();
        if self.big {
            out.reverse();
        }
        out
    }
}

/// The values to write into `f`, whose current value is `orig`: its own extra values first.
fn values(f: &Field, orig: u64) -> Vec<u64> {
    let max = if f.width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * f.width)) - 1
    };
    let mut out = Vec::new();
    for v in f.extra.iter().copied().chain([
        0,
        max,
        1,
        orig.wrapping_add(1),
        orig.wrapping_sub(1),
        orig.wrapping_mul(2),
        max >> 1,
        (max >> 1) + 1,
    ]) {
        let v = v & max;
        if v != orig && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

struct Plan<'a> {
    data: &'a [u8],
    l: Shape,
    rng: Rng,
    out: Vec<Mutant>,
}

impl Plan<'_> {
    fn truncate(&mut self, at: usize, why: &str) {
        if at < self.l.len
            && !self
                .out
                .iter()
                .any(|m| matches!(m.change, Change::Truncate(n) if n == at))
        {
            self.out.push(Mutant {
                what: format!("truncated to {at:#x} bytes ({why})"),
                change: Change::Truncate(at),
            });
        }
    }

    fn flips(&mut self, region: &str, lo: usize, hi: usize, n: usize) {
        let hi = hi.min(self.l.len);
        if lo >= hi {
            return;
        }
        for _ in 0..n {
            let at = self.rng.range(lo, hi);
            let bit = self.rng.range(0, 8);
            let b = self.data[at] ^ (1 << bit);
            self.out.push(Mutant {
                what: format!("bit {bit} of byte {at:#x} flipped ({region})"),
                change: Change::Patch(vec![(at, vec![b])]),
            });
        }
    }

    fn multi_flips(&mut self, region: &str, lo: usize, hi: usize, n: usize, k: usize) {
        let hi = hi.min(self.l.len);
        if lo >= hi {
            return;
        }
        for _ in 0..n {
            let mut patches = Vec::new();
            let mut desc = Vec::new();
            for _ in 0..k {
                let at = self.rng.range(lo, hi);
                let bit = self.rng.range(0, 8);
                patches.push((at, vec![self.data[at] ^ (1 << bit)]));
                desc.push(format!("{at:#x}.{bit}"));
            }
            self.out.push(Mutant {
                what: format!("bits {} flipped ({region})", desc.join(" ")),
                change: Change::Patch(patches),
            });
        }
    }

    /// Up to `limit` values of [`values`] written into `f`, on top of `base` patches: the field's
    /// extra values, then a random choice of the others.
    fn overwrite(&mut self, f: &Field, base: &[(usize, Vec<u8>)], base_what: &str, limit: usize) {
        if f.off + f.width > self.l.len {
            return;
        }
        let orig = self.l.read(self.data, f.off, f.width);
        let mut vals = values(f, orig);
        while vals.len() > limit.max(f.extra.len()) {
            let i = self.rng.range(f.extra.len(), vals.len());
            vals.remove(i);
        }
        for v in vals {
            let mut patches = base.to_vec();
            patches.push((f.off, self.l.bytes(v, f.width)));
            self.out.push(Mutant {
                what: format!(
                    "{base_what}{} at {:#x} ({} bytes) = {v:#x} (was {orig:#x})",
                    f.name, f.off, f.width
                ),
                change: Change::Patch(patches),
            });
        }
    }
}

fn field(name: impl Into<String>, off: usize, width: usize, extra: &[u64]) -> Field {
    Field {
        name: name.into(),
        off,
        width,
        extra: extra.to_vec(),
    }
}

/// The container's own fields that say where things are.
fn container_fields(data: &[u8], bin: &GoBinary<'_>, l: &Shape) -> Vec<Field> {
    let mut out = Vec::new();
    let len = l.len as u64;
    let rd = |off: usize, w: usize| l.read(data, off, w);
    match bin.container.format {
        pclntab::Format::Elf => {
            let is64 = l.ptr == 8;
            let w = l.ptr;
            // e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
            let (phoff, shoff, half) = if is64 {
                (0x20, 0x28, 0x36)
            } else {
                (0x1c, 0x20, 0x2a)
            };
            out.push(field("e_phoff", phoff, w, &[len, shoff as u64]));
            out.push(field("e_shoff", shoff, w, &[len, phoff as u64]));
            for (i, name) in [
                "e_phentsize",
                "e_phnum",
                "e_shentsize",
                "e_shnum",
                "e_shstrndx",
            ]
            .iter()
            .enumerate()
            {
                out.push(field(*name, half + 2 * i, 2, &[0xffff, 1000]));
            }
            let ph = rd(phoff, w) as usize;
            let phentsize = rd(half, 2) as usize;
            let phnum = rd(half + 2, 2) as usize;
            for i in 0..phnum {
                let at = ph + i * phentsize;
                if rd(at, 4) != 1 {
                    continue; // PT_LOAD only
                }
                let f = |name: &str, o64: usize, o32: usize| {
                    field(
                        format!("phdr[{i}].{name}"),
                        at + if is64 { o64 } else { o32 },
                        w,
                        &[len, len + 1],
                    )
                };
                out.push(f("p_offset", 8, 4));
                out.push(f("p_vaddr", 0x10, 8));
                out.push(f("p_filesz", 0x20, 0x10));
                out.push(f("p_memsz", 0x28, 0x14));
            }
            let sh = rd(shoff, w) as usize;
            let shentsize = rd(half + 4, 2) as usize;
            for (i, s) in bin.container.sections.iter().enumerate() {
                if !s.name.contains("pclntab") && !s.name.contains("buildinfo") && i != 1 {
                    continue;
                }
                let at = sh + i * shentsize;
                let f = |name: &str, o64: usize, o32: usize| {
                    field(
                        format!("shdr[{i}] ({}).{name}", s.name),
                        at + if is64 { o64 } else { o32 },
                        w,
                        &[len, len - 1, 0x1000],
                    )
                };
                out.push(f("sh_addr", 0x10, 0xc));
                out.push(f("sh_offset", 0x18, 0x10));
                out.push(f("sh_size", 0x20, 0x14));
                out.push(field(format!("shdr[{i}] ({}).sh_name", s.name), at, 4, &[]));
            }
        }
        pclntab::Format::Pe => {
            let pe = rd(0x3c, 4) as usize;
            out.push(field("e_lfanew", 0x3c, 4, &[len, 0x40]));
            out.push(field("NumberOfSections", pe + 6, 2, &[0xffff, 96]));
            out.push(field("PointerToSymbolTable", pe + 12, 4, &[len]));
            out.push(field("NumberOfSymbols", pe + 16, 4, &[]));
            out.push(field("SizeOfOptionalHeader", pe + 20, 2, &[0xffff]));
            let opt = pe + 24;
            let magic = rd(opt, 2);
            out.push(field("OptionalHeader.Magic", opt, 2, &[0x10b, 0x20b]));
            let image_base = if magic == 0x20b { opt + 24 } else { opt + 28 };
            out.push(field(
                "ImageBase",
                image_base,
                if magic == 0x20b { 8 } else { 4 },
                &[],
            ));
            let nsect = rd(pe + 6, 2) as usize;
            let table = opt + rd(pe + 20, 2) as usize;
            for i in 0..nsect.min(16) {
                let at = table + 40 * i;
                for (name, o) in [
                    ("VirtualSize", 8),
                    ("VirtualAddress", 12),
                    ("SizeOfRawData", 16),
                    ("PointerToRawData", 20),
                ] {
                    out.push(field(format!("section[{i}].{name}"), at + o, 4, &[len]));
                }
            }
        }
        pclntab::Format::MachO => {
            let is64 = l.ptr == 8;
            // In a fat file, the first slice's (the one read by default).
            let base = fat_slice(data).map_or(0, |(off, _)| off);
            let rd = |off: usize, w: usize| l.read(data, base + off, w);
            let field = |name: String, off: usize, width: usize, extra: &[u64]| {
                field(name, base + off, width, extra)
            };
            out.push(field("ncmds".into(), 16, 4, &[0xffff]));
            out.push(field("sizeofcmds".into(), 20, 4, &[len]));
            let mut at = if is64 { 32 } else { 28 };
            let ncmds = rd(16, 4) as usize;
            for i in 0..ncmds.min(64) {
                let cmd = rd(at, 4);
                let size = rd(at + 4, 4) as usize;
                out.push(field(format!("load command {i}.cmdsize"), at + 4, 4, &[]));
                if cmd == 0x19 {
                    // LC_SEGMENT_64
                    for (name, o) in [
                        ("vmaddr", 24),
                        ("vmsize", 32),
                        ("fileoff", 40),
                        ("filesize", 48),
                    ] {
                        out.push(field(format!("segment {i}.{name}"), at + o, 8, &[len]));
                    }
                    out.push(field(format!("segment {i}.nsects"), at + 64, 4, &[]));
                    let nsects = rd(at + 64, 4) as usize;
                    for j in 0..nsects.min(16) {
                        let s = at + 72 + 80 * j;
                        for (name, o, w) in [("addr", 32, 8), ("size", 40, 8), ("offset", 48, 4)] {
                            out.push(field(
                                format!("segment {i} section {j}.{name}"),
                                s + o,
                                w,
                                &[len],
                            ));
                        }
                    }
                } else if cmd == 2 {
                    // LC_SYMTAB
                    for (name, o) in [
                        ("symoff", 8),
                        ("nsyms", 12),
                        ("stroff", 16),
                        ("strsize", 20),
                    ] {
                        out.push(field(format!("symtab.{name}"), at + o, 4, &[len]));
                    }
                }
                if size == 0 {
                    break;
                }
                at += size;
            }
        }
    }
    out
}

/// The offset and size of the first slice of a fat Mach-O file.
fn fat_slice(data: &[u8]) -> Option<(usize, usize)> {
    let be = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    (data.get(..4)? == [0xca, 0xfe, 0xba, 0xbe]).then(|| (be(16), be(20)))
}

/// Overwrites of the fat header's (big-endian) fields: the count of slices and each slice's
/// CPU type, offset and size.
fn fat_header(plan: &mut Plan<'_>) {
    let data = plan.data;
    let be = |at: usize| u64::from(u32::from_be_bytes(data[at..at + 4].try_into().unwrap()));
    let len = data.len() as u64;
    let mut fields = vec![(4, "nfat_arch".to_string(), vec![0, 3, 1000, 0xffff_ffff])];
    for i in 0..be(4) as usize {
        let at = 8 + 20 * i;
        let (off, size) = (be(at + 8), be(at + 12));
        fields.push((
            at,
            format!("fat_arch[{i}].cputype"),
            vec![0, 0x0100_0012, 7],
        ));
        fields.push((
            at + 8,
            format!("fat_arch[{i}].offset"),
            vec![0, 1, off + 1, len, 0xffff_ffff, len - size + 0x1000],
        ));
        fields.push((
            at + 12,
            format!("fat_arch[{i}].size"),
            vec![0, 1, size - 1, len, 0xffff_ffff],
        ));
    }
    for (at, name, values) in fields {
        let orig = be(at);
        for v in values {
            if v == orig {
                continue;
            }
            plan.out.push(Mutant {
                what: format!("{name} at {at:#x} = {v:#x} (was {orig:#x})"),
                change: Change::Patch(vec![(at, (v as u32).to_be_bytes().to_vec())]),
            });
        }
    }
}

/// A fat Mach-O file of two matrix binaries (the layout `lipo` writes: 4 KiB aligned slices).
fn fat_of(a: (u32, &[u8]), b: (u32, &[u8])) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xcafe_babeu32.to_be_bytes());
    out.extend(2u32.to_be_bytes());
    let first = 0x1000u32;
    let second = first + (a.1.len() as u32).div_ceil(0x1000) * 0x1000;
    for ((cpu, data), off) in [(a, first), (b, second)] {
        for v in [cpu, 0, off, data.len() as u32, 12] {
            out.extend(v.to_be_bytes());
        }
    }
    for (_, data) in [a, b] {
        out.resize(out.len().div_ceil(0x1000) * 0x1000, 0);
        out.extend(data);
    }
    out
}

/// All mutants of one binary.
/// The mutants of `data`, and how many of them damage the type descriptors.
fn plan(label: &str, data: &[u8]) -> (Vec<Mutant>, usize) {
    let bin = GoBinary::parse(data).unwrap_or_else(|e| panic!("{label}: the original: {e}"));
    let c = &bin.container;
    let t = &bin.table;
    let h = t.header;
    let l = Shape {
        big: h.endian == pclntab::Endian::Big,
        ptr: usize::from(h.ptr_size),
        len: data.len(),
    };
    let p = l.ptr;
    let mut plan = Plan {
        data,
        l,
        rng: Rng::new(fnv(label)),
        out: Vec::new(),
    };
    let len = data.len();
    // pclntab's file offset and length (to the end of its section, or of its region).
    let pcln = t.reader().base() as usize;
    let pcln_len = t.reader().len() as usize;
    let pcln_end = pcln + pcln_len;
    let es = h.functab_entry_size() as usize;
    let nfunc = h.nfunc as usize;
    let ftab = pcln + h.pcln_offset as usize;
    let ftab_end = ftab + (nfunc + 1) * es;
    let md = bin
        .moduledata
        .as_ref()
        .unwrap_or_else(|| panic!("{label}: no moduledata"));
    let md_off = c
        .offset_of(md.vaddr)
        .unwrap_or_else(|| panic!("{label}: moduledata not in the file"))
        .0 as usize;

    // Truncations.
    for s in &c.sections {
        if s.file_size == 0 {
            continue;
        }
        let (a, b) = (s.offset.0 as usize, (s.offset.0 + s.file_size) as usize);
        for (at, why) in [
            (a, "section start"),
            (a + 1, "section start + 1"),
            (b.saturating_sub(1), "section end - 1"),
            (b, "section end"),
        ] {
            plan.truncate(at, &format!("{} {why}", s.name));
        }
    }
    for r in &c.regions {
        let (a, b) = (r.offset.0 as usize, (r.offset.0 + r.file_size) as usize);
        plan.truncate(a, "region start");
        plan.truncate(a + 1, "region start + 1");
        plan.truncate(b.saturating_sub(1), "region end - 1");
        plan.truncate(b, "region end");
    }
    let tables = [
        (0, "pcHeader"),
        (4, "pcHeader.pad"),
        (8, "pcHeader words"),
        (8 + p, "pcHeader second word"),
        (h.funcname_offset as usize, "funcnametab"),
        (h.cu_offset as usize, "cutab"),
        (h.filetab_offset as usize, "filetab"),
        (h.pctab_offset as usize, "pctab"),
        (h.pcln_offset as usize, "functab"),
        (h.pcln_offset as usize + es, "functab[1]"),
        (h.pcln_offset as usize + nfunc * es, "functab end entry"),
        (h.pcln_offset as usize + (nfunc + 1) * es, "functab end"),
        (pcln_len, "pclntab end"),
    ];
    for (o, why) in tables {
        plan.truncate(pcln + o, why);
        plan.truncate(pcln + o + 3, why);
    }
    for (o, why) in [
        (0, "moduledata"),
        (p, "moduledata word 1"),
        (20 * p, "moduledata word 20"),
        (40 * p, "moduledata word 40"),
    ] {
        plan.truncate(md_off + o, why);
    }
    for at in [0, 1, 3, 4, 16, 52, 63, 64, 0x100, 0x1000] {
        plan.truncate(at, "header");
    }
    for _ in 0..30 {
        let at = plan.rng.range(1, len);
        plan.truncate(at, "random");
    }

    // Bit flips.
    plan.flips("pcHeader", pcln, pcln + 8 + 8 * p, 60);
    plan.flips("functab", ftab, ftab_end, 60);
    let records_end = match h.version {
        PclnVersion::Go12 => pcln + h.filetab_offset as usize,
        _ => pcln_end,
    };
    plan.flips("_func records and funcdata", ftab_end, records_end, 60);
    if h.version != PclnVersion::Go12 {
        plan.flips(
            "funcnametab",
            pcln + h.funcname_offset as usize,
            pcln + h.cu_offset as usize,
            15,
        );
        plan.flips(
            "cutab and filetab",
            pcln + h.cu_offset as usize,
            pcln + h.pctab_offset as usize,
            15,
        );
        plan.flips(
            "pctab",
            pcln + h.pctab_offset as usize,
            pcln + h.pcln_offset as usize,
            30,
        );
    } else {
        plan.flips("filetab", pcln + h.filetab_offset as usize, pcln_end, 20);
    }
    plan.flips("moduledata", md_off, md_off + 48 * p, 60);
    let headers = fat_slice(data).map_or(0, |(off, _)| off);
    plan.flips("container headers", headers, headers + 0x1000.min(len), 40);
    if headers != 0 {
        plan.flips("fat header", 0, 48, 20);
    }
    plan.flips("anywhere", 0, len, 30);
    plan.multi_flips("pclntab", pcln, pcln_end, 10, 8);
    plan.multi_flips("anywhere", 0, len, 6, 32);

    // The pclntab header's fields.
    let magics: Vec<u64> = [
        PclnVersion::Go12,
        PclnVersion::Go116,
        PclnVersion::Go118,
        PclnVersion::Go120,
    ]
    .iter()
    .map(|v| u64::from(v.magic()))
    .chain([
        0xffff_fff5,
        u64::from(h.version.magic().swap_bytes()),
        0xffff_ff00,
    ])
    .collect();
    let mut header = vec![
        field("pcHeader.magic", pcln, 4, &magics),
        field("pcHeader.pad", pcln + 4, 2, &[]),
        field("pcHeader.minLC", pcln + 6, 1, &[2, 3, 4]),
        field("pcHeader.ptrSize", pcln + 7, 1, &[4, 8]),
    ];
    let offsets = [
        h.funcname_offset,
        h.cu_offset,
        h.filetab_offset,
        h.pctab_offset,
        h.pcln_offset,
    ];
    let mut offset_extra = offsets.to_vec();
    offset_extra.extend([
        pcln_len as u64,
        pcln_len as u64 - 1,
        (8 + p) as u64,
        len as u64,
    ]);
    let nfunc_extra = [
        0,
        u64::from(u32::MAX),
        u64::MAX,
        1 << 40,
        h.nfunc * 2,
        h.nfunc + 2,
        h.nfunc - 2,
        (pcln_len / 8) as u64,
    ];
    let word_names: &[&str] = match h.version {
        PclnVersion::Go12 => &["nfunctab"],
        PclnVersion::Go116 => &[
            "nfunc",
            "nfiles",
            "funcnameOffset",
            "cuOffset",
            "filetabOffset",
            "pctabOffset",
            "pclnOffset",
        ],
        _ => &[
            "nfunc",
            "nfiles",
            "textStart",
            "funcnameOffset",
            "cuOffset",
            "filetabOffset",
            "pctabOffset",
            "pclnOffset",
        ],
    };
    for (i, name) in word_names.iter().enumerate() {
        let extra: &[u64] = match *name {
            "nfunc" | "nfunctab" => &nfunc_extra,
            "nfiles" => &[u64::from(u32::MAX), 1 << 40],
            "textStart" => &[md.text, md.text + 0x1000, u64::MAX - 0xfff],
            _ => &offset_extra,
        };
        header.push(field(
            format!("pcHeader.{name}"),
            pcln + 8 + i * p,
            p,
            extra,
        ));
    }
    if h.version == PclnVersion::Go12 {
        let at = ftab_end - es + p; // the end PC, then the file table's offset (u32)
        header.push(field("pclntab filetab offset", at, 4, &offset_extra));
        header.push(field(
            "pclntab file count",
            pcln + h.filetab_offset as usize,
            4,
            &[u64::from(u32::MAX)],
        ));
    }
    for f in &header {
        plan.overwrite(f, &[], "", usize::MAX);
    }

    // Function table entries.
    let fw = match h.version {
        PclnVersion::Go12 | PclnVersion::Go116 => p,
        _ => 4,
    };
    let mut picks = vec![0, 1, 2, nfunc / 2, nfunc - 2, nfunc - 1, nfunc];
    for _ in 0..6 {
        let i = plan.rng.range(0, nfunc);
        picks.push(i);
    }
    picks.sort_unstable();
    picks.dedup();
    let funcoff_base = match h.version {
        PclnVersion::Go12 => 0,
        _ => h.pcln_offset as usize,
    };
    let rd = |off: usize, w: usize| plan.l.read(data, off, w);
    let entry_fields: Vec<Field> = picks
        .iter()
        .flat_map(|&i| {
            let at = ftab + i * es;
            let prev = if i > 0 { rd(at - es, fw) } else { 0 };
            let next = if i < nfunc { rd(at + es, fw) } else { 0 };
            let mut fs = vec![field(
                format!("functab[{i}].entry"),
                at,
                fw,
                &[prev, next, next + 1, rd(ftab, fw)],
            )];
            if i < nfunc {
                // Offsets that point back at the table entry itself (a cycle), at the header, at
                // the previous and next records, past the end.
                let itself = (at - pcln - funcoff_base) as u64;
                let other = rd(ftab + es * ((i + 7) % nfunc) + fw, fw);
                fs.push(field(
                    format!("functab[{i}].funcoff"),
                    at + fw,
                    fw,
                    &[
                        itself,
                        itself + fw as u64,
                        (pcln_len - funcoff_base) as u64,
                        (pcln_len - funcoff_base - 1) as u64,
                        other,
                        rd(at + fw, fw) + 4,
                    ],
                ));
            }
            fs
        })
        .collect();
    for f in &entry_fields {
        plan.overwrite(f, &[], "", 7);
    }

    // `_func` records: every 32-bit word of a few, with values that hurt.
    let mut recs = vec![0, nfunc - 1];
    for _ in 0..2 {
        let i = plan.rng.range(0, nfunc);
        recs.push(i);
    }
    for i in recs {
        let func = t.func(i).expect("original function");
        let rec = pcln + func.record as usize;
        for k in 0..((p + 44) / 4 + 4) {
            let at = rec + 4 * k;
            if at + 4 > len {
                break;
            }
            let orig = plan.l.read(data, at, 4);
            let f = field(format!("_func of {} word {k}", func.name_str()), at, 4, &[]);
            let choices = [0, u64::from(u32::MAX), orig + 1, func.record];
            for _ in 0..2 {
                let v = choices[plan.rng.range(0, choices.len())] & 0xffff_ffff;
                if v == orig {
                    continue;
                }
                plan.out.push(Mutant {
                    what: format!(
                        "{} at {:#x} (4 bytes) = {v:#x} (was {orig:#x})",
                        f.name, f.off
                    ),
                    change: Change::Patch(vec![(at, plan.l.bytes(v, 4))]),
                });
            }
        }
    }

    // moduledata: the words that hold the addresses gosyms checks and follows.
    let known = [
        (md.pclntab, "pclntab pointer"),
        (md.ftab.0, "ftab pointer"),
        (md.ftab.1, "ftab length"),
        (md.minpc, "minpc"),
        (md.maxpc, "maxpc"),
        (md.text, "text"),
        (md.etext, "etext"),
        (md.types.0, "types"),
        (md.types.1, "etypes"),
        (md.gofunc.unwrap_or(u64::MAX), "gofunc"),
    ];
    let mut md_fields = Vec::new();
    for j in 0..56 {
        let at = md_off + j * p;
        let v = plan.l.read(data, at, p);
        if let Some((_, name)) = known.iter().find(|(k, _)| *k == v) {
            md_fields.push(field(
                format!("moduledata word {j} ({name})"),
                at,
                p,
                &[md.vaddr.0, md.pclntab, md.ftab.0, md.text, v + p as u64],
            ));
        }
    }
    assert!(
        md_fields.len() >= 7,
        "{label}: only {} known moduledata words found",
        md_fields.len()
    );
    for f in &md_fields {
        plan.overwrite(f, &[], "", 8);
    }

    let before = plan.out.len();
    type_mutants(&mut plan, &bin, md, label);
    let type_mutants = plan.out.len() - before;

    // The container's fields.
    if fat_slice(data).is_some() {
        fat_header(&mut plan);
    }
    for f in container_fields(data, &bin, &plan.l) {
        plan.overwrite(&f, &[], "", 4);
    }

    // With the magic zeroed and the section name hidden, the table is found through moduledata
    // alone: damage what that path trusts.
    let mut hidden = vec![(pcln, vec![0u8; 4])];
    for at in memchr_all(data, b"gopclntab") {
        hidden.push((at, b"xxxxxxxxx".to_vec()));
    }
    let mut copy = Vec::new();
    Mutant {
        what: String::new(),
        change: Change::Patch(hidden.clone()),
    }
    .apply(data, &mut copy);
    let found_by = GoBinary::parse(&copy).map(|b| b.found_by);
    assert_eq!(
        found_by,
        Ok(pclntab::FoundBy::ModuleData),
        "{label}: with its magic zeroed and its section name hidden, the table is found through moduledata"
    );
    let pre = "magic zeroed, section name hidden; ";
    plan.out.push(Mutant {
        what: pre.trim_end_matches("; ").to_string(),
        change: Change::Patch(hidden.clone()),
    });
    for f in md_fields.iter().chain(header.iter().skip(1)) {
        plan.overwrite(f, &hidden, pre, 4);
    }
    for f in entry_fields.iter().take(6) {
        plan.overwrite(f, &hidden, pre, 4);
    }
    (plan.out, type_mutants)
}

/// Mutants of the type descriptors and of what locates them.
fn type_mutants(plan: &mut Plan<'_>, bin: &GoBinary<'_>, md: &pclntab::ModuleData, label: &str) {
    let c = &bin.container;
    let p = plan.l.ptr;
    let off = |a: u64| c.offset_of(VirtAddr(a)).map(|o| o.0 as usize);
    let types = off(md.types.0).unwrap_or_else(|| panic!("{label}: types not in the file"));
    let etypes = types + (md.types.1 - md.types.0) as usize;
    plan.flips("type descriptors", types, etypes, 100);
    plan.multi_flips("type descriptors", types, etypes, 10, 16);
    for (slice, what) in [(md.typelinks, "typelinks"), (md.itablinks, "itablinks")] {
        if let Some((at, n)) = slice {
            let a = off(at).unwrap_or_else(|| panic!("{label}: {what} not in the file"));
            let size = if what == "typelinks" { 4 } else { p };
            plan.flips(what, a, a + n as usize * size, 25);
        }
    }
    // The moduledata words that locate them.
    let md_off = off(md.vaddr.0).unwrap();
    let mut words = vec![(md.types.0, "types"), (md.types.1, "etypes")];
    for (slice, what) in [(md.typelinks, "typelinks"), (md.itablinks, "itablinks")] {
        if let Some((at, n)) = slice {
            words.extend([(at, what), (n, what)]);
        }
    }
    if let Some(l) = md.typedesclen {
        words.push((l, "typedesclen"));
    }
    if let Some((o, n)) = md.itabs {
        words.extend([(o, "itaboffset"), (n, "itabsize")]);
    }
    for j in 0..56 {
        let at = md_off + j * p;
        let v = plan.l.read(plan.data, at, p);
        if let Some((_, name)) = words.iter().find(|(w, _)| *w == v) {
            let f = field(
                format!("moduledata word {j} ({name})"),
                at,
                p,
                &[
                    md.types.1 - md.types.0,
                    md.types.0,
                    md.types.1,
                    v + 4,
                    v / 2,
                ],
            );
            plan.overwrite(&f, &[], "", 6);
        }
    }
    // Fields of descriptors of every kind: the first of each.
    let descs = bin.type_descs().unwrap();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let t = 4 * p + 16;
    for a in descs.all().unwrap() {
        let d = descs.get(a).unwrap();
        let n = per_kind.entry(d.kind.name()).or_default();
        if *n >= 1 {
            continue;
        }
        *n += 1;
        let at = off(a.0).unwrap();
        let name = |f: &str| format!("{} ({}) {f}", d.name, d.kind.name());
        let self_off = a.0 - md.types.0;
        let mut fields = vec![
            field(name("Size_"), at, p, &[u64::MAX, 1 << 40]),
            field(
                name("TFlag"),
                at + 2 * p + 4,
                1,
                &[0xff, u64::from(d.tflag ^ 1)],
            ),
            field(
                name("Kind_"),
                at + 2 * p + 7,
                1,
                &[0, 17, 19, 20, 21, 25, 26, 27, 0x3f],
            ),
            field(
                name("Str"),
                at + 4 * p + 8,
                4,
                &[self_off, u64::from(u32::MAX)],
            ),
            field(
                name("PtrToThis"),
                at + 4 * p + 12,
                4,
                &[self_off, self_off + 1],
            ),
            // Elem, Key, PkgPath, InCount/OutCount: the first words after the header.
            field(
                name("word after the header"),
                at + t,
                p,
                &[a.0, md.types.1, a.0 + 1],
            ),
            field(
                name("second word after the header"),
                at + t + p,
                p,
                &[a.0, u64::MAX],
            ),
            // A slice's length (struct fields, interface methods) or a map's group.
            field(
                name("third word after the header"),
                at + t + 2 * p,
                p,
                &[1 << 16, u64::MAX >> 1],
            ),
            field(name("fourth word after the header"), at + t + 3 * p, p, &[]),
        ];
        if d.kind == pclntab::TypeKind::Func {
            fields.push(field(name("InCount"), at + t, 2, &[0xffff]));
            fields.push(field(name("OutCount"), at + t + 2, 2, &[0x7fff, 0x8000]));
        }
        if !d.methods.is_empty() {
            // The uncommon type follows the kind's structure: find it by its method count.
            let mcount = d.methods.len() as u64;
            for k in (t..t + 16 * p).step_by(4) {
                if plan.l.read(plan.data, at + k + 4, 2) == mcount {
                    fields.push(field(name("Mcount"), at + k + 4, 2, &[0xffff]));
                    fields.push(field(
                        name("Moff"),
                        at + k + 8,
                        4,
                        &[u64::from(u32::MAX), 0],
                    ));
                    break;
                }
            }
        }
        for f in &fields {
            plan.overwrite(f, &[], "", 2);
        }
    }
}

fn memchr_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running the mutants.

/// What one case did.
enum Outcome {
    /// Parsing failed with this error.
    Rejected(Error),
    /// Parsed; whether reading the functions, and walking the types, stopped at an error.
    Read { error: bool, types_error: bool },
}

/// Every how many mutants `gosyms unstrip` runs too (it takes some 20 times as long as the rest).
const UNSTRIP_EVERY: usize = 16;

/// Everything gosyms does with a binary: parse it, describe it (`info`), read every function with
/// its file and line (`list --lines`), look up addresses (`lookup`) and, with `unstrip`, write the
/// binary and the debug file with symbols and DWARF (`unstrip`, to nowhere).
fn exercise(data: &[u8], unstrip: bool) -> Outcome {
    let bin = match GoBinary::parse(data) {
        Ok(b) => b,
        Err(e) => return Outcome::Rejected(e),
    };
    let t = &bin.table;
    let _ = (bin.go_version(), bin.os(), bin.cgo(), t.entry(0), t.len());
    let _ = bin.build_info_error.as_ref().map(ToString::to_string);
    let mut funcs = bin.functions();
    let mut n = 0usize;
    let mut error = false;
    let mut addrs = vec![0, 1, u64::MAX, u64::MAX / 2];
    let mut next_sample = 0;
    loop {
        match funcs.next() {
            Ok(Some(f)) => {
                // Every 97th function gives addresses to look up.
                if n == next_sample {
                    next_sample += 97;
                    addrs.extend([f.entry.0, f.entry.0 + f.size() / 2, f.end.0.wrapping_sub(1)]);
                }
                let _ = (f.size(), f.kind.name(), f.name.len(), f.package.len());
                n += 1;
            }
            Ok(None) => break,
            Err(_) => {
                error = true;
                break;
            }
        }
    }
    if let Ok(end) = t.entry(t.len()) {
        addrs.extend([end.0, end.0.wrapping_sub(1)]);
    }
    for a in addrs {
        if let Ok(Some(loc)) = bin.lookup(VirtAddr(a)) {
            let _ = (loc.offset, loc.frames.len());
        }
    }
    if unstrip {
        for mode in [unstrip::Mode::Binary, unstrip::Mode::DebugOnly] {
            let _ = unstrip::unstrip(&bin, mode, &mut std::io::sink());
        }
    }
    Outcome::Read {
        error,
        types_error: !walk_types(&bin),
    }
}

/// Everything `gosyms types` does: every type found, each decoded and written in Go syntax with
/// its methods' signatures, the itabs, a lookup by name. False when it stopped at an error.
fn walk_types(bin: &GoBinary<'_>) -> bool {
    if let Some(md) = &bin.moduledata {
        let _ = bin.type_name(VirtAddr(md.types.0.wrapping_add(0x40)));
    }
    let Ok(descs) = bin.type_descs() else {
        return false;
    };
    let mut ok = descs.itabs().is_ok();
    match descs.all() {
        Ok(all) => {
            for a in all {
                let Ok(d) = descs.get(a) else {
                    ok = false;
                    continue;
                };
                ok &= descs.go_syntax(&d).is_ok();
                for m in &d.methods {
                    if let Some(t) = m.mtyp {
                        ok &= descs.signature(t).is_ok();
                    }
                }
            }
        }
        Err(_) => ok = false,
    }
    let _ = descs.by_name("*os.File");
    ok
}

/// The error's variant name, for the summary.
fn kind(e: &Error) -> String {
    let s = format!("{e:?}");
    let end = s.find([' ', '(', '{']).unwrap_or(s.len());
    s[..end].to_string()
}

fn save(what: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("gosyms-mutants");
    let _ = std::fs::create_dir_all(&dir);
    let name: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(100)
        .collect();
    let path = dir.join(format!("{name}-{:016x}", fnv(what)));
    let _ = std::fs::write(&path, data);
    let _ = std::fs::write(path.with_extension("txt"), format!("{what}\n"));
    path
}

struct Report {
    cases: usize,
    parsed: usize,
    read_errors: usize,
    type_errors: usize,
    rejected: BTreeMap<String, usize>,
    slowest: (Duration, String),
    hungriest: (usize, String),
    failures: Vec<String>,
}

/// Runs every mutant of `label` on a worker thread, with a watchdog.
fn run(label: &str, orig: Vec<u8>, mutants: Vec<Mutant>) -> Report {
    let orig = Arc::new(orig);
    let mutants = Arc::new(mutants);
    // The case in progress and when it started, for the watchdog.
    let current: Arc<Mutex<Option<(usize, Instant)>>> = Arc::new(Mutex::new(None));
    let worker = {
        let (orig, mutants, current, label) = (
            orig.clone(),
            mutants.clone(),
            current.clone(),
            label.to_string(),
        );
        std::thread::spawn(move || {
            let mut report = Report {
                cases: 0,
                parsed: 0,
                read_errors: 0,
                type_errors: 0,
                rejected: BTreeMap::new(),
                slowest: (Duration::ZERO, String::new()),
                hungriest: (0, String::new()),
                failures: Vec::new(),
            };
            let mut buf = Vec::with_capacity(orig.len());
            let mut desc = String::with_capacity(1024);
            // unstrip's parallel work, on this thread: its allocations count, its panics are
            // caught here.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .use_current_thread()
                .build()
                .expect("a one-thread pool");
            for (i, m) in mutants.iter().enumerate() {
                m.apply(&orig, &mut buf);
                desc.clear();
                let _ = write!(desc, "{label} mutant {i}: {}", m.what);
                *current.lock().unwrap() = Some((i, Instant::now()));
                let with_unstrip = i % UNSTRIP_EVERY == 0;
                let bound = if with_unstrip {
                    unstrip_memory_bound(buf.len())
                } else {
                    memory_bound(buf.len())
                } as isize;
                CURRENT.with(|c| c.set(Some((buf.as_ptr(), buf.len(), desc.as_ptr(), desc.len()))));
                let base = LIVE.with(Cell::get);
                PEAK.with(|p| p.set(base));
                CAP.with(|c| c.set(base + HARD_CAP as isize));
                let start = Instant::now();
                let r = catch_unwind(AssertUnwindSafe(|| {
                    pool.install(|| exercise(&buf, with_unstrip))
                }));
                let took = start.elapsed();
                CAP.with(|c| c.set(isize::MAX));
                CURRENT.with(|c| c.set(None));
                let peak = (PEAK.with(Cell::get) - base).max(0);
                report.cases += 1;
                match &r {
                    Ok(Outcome::Rejected(e)) => *report.rejected.entry(kind(e)).or_default() += 1,
                    Ok(Outcome::Read { error, types_error }) => {
                        report.parsed += 1;
                        report.read_errors += usize::from(*error);
                        report.type_errors += usize::from(*types_error);
                    }
                    Err(_) => {}
                }
                if took > report.slowest.0 {
                    report.slowest = (took, desc.clone());
                }
                if peak as usize > report.hungriest.0 {
                    report.hungriest = (peak as usize, desc.clone());
                }
                let problem = match r {
                    Err(e) => Some(format!(
                        "panicked: {}",
                        e.downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| e.downcast_ref::<&str>().copied())
                            .unwrap_or("?")
                    )),
                    Ok(_) if took > TIME_LIMIT => Some(format!("took {took:?}")),
                    Ok(_) if peak > bound => Some(format!(
                        "{peak} bytes live at once, over the bound of {bound} for {} input bytes",
                        buf.len()
                    )),
                    Ok(_) => None,
                };
                if let Some(problem) = problem {
                    let saved = save(&desc, &buf);
                    report
                        .failures
                        .push(format!("{desc}: {problem} (saved to {})", saved.display()));
                }
            }
            *current.lock().unwrap() = None;
            report
        })
    };
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let now = *current.lock().unwrap();
        if let Some((i, since)) = now {
            if since.elapsed() > HANG_LIMIT {
                let m = &mutants[i];
                let mut buf = Vec::new();
                m.apply(&orig, &mut buf);
                let what = format!("{label} mutant {i}: {}", m.what);
                let saved = save(&what, &buf);
                panic!(
                    "{what}: still running after {HANG_LIMIT:?}: a hang (saved to {})",
                    saved.display()
                );
            }
        }
    }
    worker.join().expect("the worker catches every panic")
}

fn mutate(release: &str, target: &str, variant: &str) {
    let path = gosyms_tests::matrix_binary(release, target, variant);
    let label = format!("{release}/{target}/{variant}");
    mutate_bytes(label, std::fs::read(&path).unwrap());
}

fn mutate_bytes(label: String, data: Vec<u8>) {
    let label = label.as_str();
    let started = Instant::now();
    let (mutants, n_types) = plan(label, &data);
    let n = mutants.len();
    let report = run(label, data, mutants);
    println!(
        "{label}: {n} mutants in {:.1?}: {} parsed ({} stopped at an error while reading functions, {} while walking types), rejected {:?}",
        started.elapsed(),
        report.parsed,
        report.read_errors,
        report.type_errors,
        report.rejected
    );
    println!("  {n_types} of them damage the type descriptors");
    println!(
        "  slowest {:?}: {}\n  most memory {} bytes: {}",
        report.slowest.0, report.slowest.1, report.hungriest.0, report.hungriest.1
    );
    assert_eq!(report.cases, n);
    assert!(
        report.failures.is_empty(),
        "{} of {n} mutants failed:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
    // The mutants must reach past the header checks: many parse, many are rejected; and many
    // type walks stop at an error (damage to the type descriptors does not stop the parse).
    assert!(
        report.parsed > n / 10,
        "{label}: only {} mutants parsed",
        report.parsed
    );
    assert!(
        report.rejected.values().sum::<usize>() > (n - n_types) / 10,
        "{label}: only {:?} rejected",
        report.rejected
    );
    assert!(
        report.type_errors > n_types / 10,
        "{label}: only {} of {n_types} type mutants stopped the type walk at an error",
        report.type_errors
    );
}

#[test]
fn go115_elf_386() {
    mutate("1.15", "linux_386", "exe-stripped");
}

#[test]
fn go115_pe_amd64() {
    mutate("1.15", "windows_amd64", "exe-stripped");
}

#[test]
fn go119_macho_arm64() {
    mutate("1.19", "darwin_arm64", "exe-stripped");
}

#[test]
fn go121_pe_386() {
    mutate("1.21.13", "windows_386", "exe-stripped");
}

#[test]
fn go121_elf_s390x_big_endian() {
    mutate("1.21.13", "linux_s390x", "exe-stripped");
}

#[test]
fn go127_elf_amd64_pie() {
    mutate("1.27.3", "linux_amd64", "pie-stripped");
}

#[test]
fn go127_macho_amd64() {
    mutate("1.27.3", "darwin_amd64", "exe-stripped");
}

#[test]
fn go121_macho_fat() {
    let slice = |target| {
        std::fs::read(gosyms_tests::matrix_binary(
            "1.21.13",
            target,
            "exe-stripped",
        ))
        .unwrap()
    };
    let (amd64, arm64) = (slice("darwin_amd64"), slice("darwin_arm64"));
    let data = fat_of((0x0100_0007, &amd64), (0x0100_000c, &arm64));
    mutate_bytes("1.21.13/darwin fat (amd64, arm64)".into(), data);
}

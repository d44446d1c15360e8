//! The harness of the `types` fuzz target (`fuzz/fuzz_targets/types.rs`), here so that the
//! unit tests replay its regressions the same way. Not part of the API.
//!
//! An input is a header, tables and the bytes of `[types, etypes)`; [`exercise`] wraps them in an
//! ELF file with one loaded segment, describes them with a moduledata, and walks every type as
//! `gosyms types` does. Fuzzing the descriptors this way spends no effort on container headers
//! and pclntab, which the other targets cover.
//!
//! Header (46 bytes, little-endian):
//! - byte 0: bits 0–3, the release: 1.15 + n for n ≤ 12, unknown (no build info) above; bit 4,
//!   32-bit; bit 5, big-endian; bit 6, `GOEXPERIMENT=noswissmap`;
//! - byte 1: the moduledata layout, 0–5 for Go 1.8, 1.16, 1.18, 1.20, 1.26, 1.27 (modulo 6);
//! - bytes 2–3, 4–5: the number of `typelinks` and `itablinks` entries;
//! - bytes 6–9, 10–13, 14–17: `typedesclen`, `itaboffset`, `itabsize`;
//! - bytes 18–21: the length of `[types, etypes)`;
//! - bytes 22–29: `types`, the address it is loaded at (descriptors hold absolute pointers);
//! - bytes 30–37, 38–45: `text`, `etext`: where `textOff`s count from and itabs point into.
//!
//! Then `[types, etypes)`; right after it the `typelinks` (4
//! bytes each) and the `itablinks` (a pointer each), in the target's byte order; then anything
//! (itabs, say).

use super::layout::Release;
use super::TypeDescs;
use crate::container::{Container, VirtAddr};
use crate::moduledata::{ModuleData, ModuleLayout};
use crate::reader::{Endian, Reader};

/// Where the input's bytes start in the file (the ELF header and program header come first).
pub const BODY_AT: u64 = 0x1000;
/// Size of the input header.
pub const HEADER: usize = 46;

/// An ELF executable for `ptr_size` (4 or 8) and byte order whose one `PT_LOAD` segment maps
/// the whole file at `base`, with `body` at file offset (and `base` +) [`BODY_AT`].
pub fn elf(ptr_size: u8, big: bool, base: u64, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; BODY_AT as usize];
    f.extend_from_slice(body);
    let len = f.len() as u64;
    let is64 = ptr_size == 8;
    let mut put = |at: usize, v: u64, width: usize| {
        let b = if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        let b = if big {
            b.get(8 - width..)
        } else {
            b.get(..width)
        };
        if let (Some(dst), Some(b)) = (f.get_mut(at..at + width), b) {
            dst.copy_from_slice(b);
        }
    };
    // e_machine: amd64, s390x, 386, mips.
    let machine = match (is64, big) {
        (true, false) => 62,
        (true, true) => 22,
        (false, false) => 3,
        (false, true) => 8,
    };
    let w = if is64 { 8 } else { 4 };
    let (phoff, ehsize, phentsize) = if is64 { (64, 64, 56) } else { (52, 52, 32) };
    put(16, 2, 2); // ET_EXEC
    put(18, machine, 2);
    put(20, 1, 4);
    put(24 + w, phoff, w);
    let flags_end = 24 + 3 * w + 4;
    put(flags_end, ehsize, 2);
    put(flags_end + 2, phentsize, 2);
    put(flags_end + 4, 1, 2);
    let ph = phoff as usize;
    put(ph, 1, 4); // PT_LOAD
    if is64 {
        put(ph + 4, 4, 4); // r--
        for (o, v) in [(8, 0), (16, base), (24, base), (32, len), (40, len)] {
            put(ph + o, v, 8);
        }
    } else {
        for (o, v) in [(4, 0), (8, base), (12, base), (16, len), (20, len), (24, 4)] {
            put(ph + o, v, 4);
        }
    }
    if let Some(ident) = f.get_mut(..7) {
        ident.copy_from_slice(&[
            0x7f,
            b'E',
            b'L',
            b'F',
            if is64 { 2 } else { 1 },
            1 + u8::from(big),
            1,
        ]);
    }
    f
}

/// Walks every type of `input` (see the module documentation); never panics.
pub fn exercise(input: &[u8]) {
    with_descs(input, walk);
}

/// Everything `gosyms types` does with the descriptors, and `get` at the first addresses.
fn walk(descs: &TypeDescs<'_, '_>) {
    if let Ok(all) = descs.all() {
        for a in all {
            if let Ok(d) = descs.get(a) {
                let _ = descs.go_syntax(&d);
                for m in &d.methods {
                    if let Some(t) = m.mtyp {
                        let _ = descs.signature(t);
                    }
                }
            }
        }
    }
    let _ = descs.itabs();
    let _ = descs.by_name("*main.T");
    let p = u64::from(descs.ptr);
    for i in 0..64 {
        let _ = descs.get(VirtAddr(descs.types.wrapping_add(i * p)));
    }
}

/// `f` of the descriptors `input` describes, if they can be read at all.
pub fn with_descs<R>(input: &[u8], f: impl FnOnce(&TypeDescs<'_, '_>) -> R) -> Option<R> {
    let (header, rest) = input.split_first_chunk::<HEADER>()?;
    let h = Reader::new(header, 0, Endian::Little);
    let byte = |i| h.u8("header", i).unwrap_or(0);
    let u16_at = |i| h.u16("header", i).map_or(0, u64::from);
    let u32_at = |i| h.u32("header", i).map_or(0, u64::from);
    let flags = byte(0);
    let minor = u32::from(flags & 0x0f);
    let ptr_size: u8 = if flags & 0x10 != 0 { 4 } else { 8 };
    let big = flags & 0x20 != 0;
    let module = match byte(1) % 6 {
        0 => ModuleLayout::Go18,
        1 => ModuleLayout::Go116,
        2 => ModuleLayout::Go118,
        3 => ModuleLayout::Go120,
        4 => ModuleLayout::Go126,
        _ => ModuleLayout::Go127,
    };
    let (ntypelinks, nitablinks) = (u16_at(2), u16_at(4));
    let types_len = u32_at(18).min(rest.len() as u64);
    let types = h.u64("header", 22).ok()?;
    let text = h.u64("header", 30).ok()?;
    let etext = h.u64("header", 38).ok()?;
    let base = types.checked_sub(BODY_AT)?;
    let file = elf(ptr_size, big, base, rest);
    let c = Container::parse(&file, None).ok()?;
    let at = types.checked_add(types_len)?;
    let md = ModuleData {
        vaddr: VirtAddr(base),
        layout: module,
        pclntab: 0,
        ftab: (0, 0),
        minpc: text,
        maxpc: etext,
        text,
        etext,
        types: (types, at),
        gofunc: None,
        textsectmap: Vec::new(),
        typelinks: Some((at, ntypelinks)),
        itablinks: Some((at.wrapping_add(4 * ntypelinks), nitablinks)),
        typedesclen: Some(u32_at(6)),
        itabs: Some((u32_at(10), u32_at(14))),
    };
    let release = Release {
        minor: (minor <= 12).then_some(15 + minor),
        module,
        ptr_size,
        experiment: (flags & 0x40 != 0).then_some("noswissmap"),
    };
    let descs = TypeDescs::new(&c, &md, &release).ok()?;
    Some(f(&descs))
}

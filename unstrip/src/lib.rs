//! This crate writes the Go runtime's own symbol tables (pclntab) back into an ELF binary in the
//! forms other tools read: an ELF symbol table (`.symtab`, `.strtab`: every function as
//! `STT_FUNC` with its exact size) and DWARF (`.debug_line` from the pc-value line tables,
//! `.debug_info` with a subprogram per function and its inlined calls, `.debug_frame` from the
//! stack pointer deltas). With them, gdb, perf, bpftrace, addr2line and nm work on a stripped Go
//! binary as on an unstripped one.
//!
//! It writes either a copy of the binary that is byte for byte the original except for the
//! ELF header's section-table fields and what is appended ([`Mode::Binary`]), or a separate debug
//! file ([`Mode::DebugOnly`], like `objcopy --only-keep-debug`). It does not write PE or Mach-O
//! files, and does not rewrite a binary that already has a symbol table or DWARF. The ELF and
//! DWARF are written by `object`'s ELF writer and `gimli::write`; it does no I/O of its own
//! besides writing to the `Write` it is handed. Compilation units are read and built on every
//! core (rayon) and written in order, so the output is the same on any number of threads.
//!
//! ```no_run
//! let map = pclntab::map_file(std::path::Path::new("server"))?;
//! let bin = pclntab::GoBinary::parse(&map)?;
//! let mut out = std::io::BufWriter::new(std::fs::File::create("server.unstripped")?);
//! let summary = unstrip::unstrip(&bin, unstrip::Mode::Binary, &mut out)?;
//! println!("{} functions", summary.functions);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod collect;
pub mod dwarf;
pub mod elf;
mod error;
mod hash;

pub use error::{Error, Result};

use collect::FuncInfo;
use hash::FxMap;
use pclntab::{Format, GoBinary, PclnVersion};
use rayon::prelude::*;
use std::io::Write;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The binary, with the symbol table and DWARF added.
    Binary,
    /// A separate debug file: the symbol table and DWARF, with the section headers of the binary
    /// but none of its code or data.
    DebugOnly,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Function symbols.
    pub functions: usize,
    /// Compilation units.
    pub units: usize,
    /// Inlined calls (`DW_TAG_inlined_subroutine`).
    pub inlined: usize,
    /// Bytes of DWARF.
    pub dwarf_bytes: u64,
    /// Whether call frame information (`.debug_frame`) was written: for every architecture Go
    /// targets with ELF.
    pub frames: bool,
}

/// Compilation units read and built at once: enough to keep every core busy (units differ in
/// size by thousands), few enough that their DWARF waiting to be written stays small.
const UNIT_BATCH: usize = 16;

/// What the symbol table needs of a function: name, entry, size, written in assembly,
/// compiler-generated.
type Fact<'data> = (&'data [u8], u64, u64, bool, bool);

/// The compilation unit a function belongs to: its `cutab` entry (Go 1.16+), or its package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum UnitKey<'data> {
    CuOffset(u32),
    Package(&'data [u8]),
}

fn unit_key<'data>(bin: &GoBinary<'data>, i: usize) -> Result<UnitKey<'data>> {
    let f = bin.table.func(i)?;
    Ok(match bin.table.header.version {
        PclnVersion::Go12 => {
            let name = std::str::from_utf8(f.name).unwrap_or("");
            let package = pclntab::names::package_of(name);
            UnitKey::Package(f.name.get(..package.len()).unwrap_or_default())
        }
        _ => UnitKey::CuOffset(f.cu_offset),
    })
}

/// The functions (table indices) of unit `key`.
fn members_of<'m, 'd>(
    members: &'m FxMap<UnitKey<'d>, Vec<usize>>,
    key: &UnitKey<'d>,
) -> &'m [usize] {
    members.get(key).map_or(&[][..], Vec::as_slice)
}

/// A unit's name: the package most of its functions are in.
fn unit_name(funcs: &[FuncInfo<'_>]) -> Vec<u8> {
    let mut count: FxMap<&str, usize> = FxMap::default();
    for f in funcs {
        let name = std::str::from_utf8(f.name).unwrap_or("");
        let package = pclntab::names::package_of(name);
        if !package.is_empty() {
            *count.entry(package).or_default() += 1;
        }
    }
    count
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map_or_else(|| b"<generated>".to_vec(), |(p, _)| p.as_bytes().to_vec())
}

/// Writes `bin` (an ELF file) with a symbol table and DWARF made from its Go tables to `out`:
/// the whole binary or only the debug file, per `mode`.
pub fn unstrip(bin: &GoBinary<'_>, mode: Mode, out: &mut dyn Write) -> Result<Summary> {
    match bin.container.format {
        Format::Elf => {}
        Format::Pe => return Err(Error::NotElf { format: "PE" }),
        Format::MachO => return Err(Error::NotElf { format: "Mach-O" }),
    }
    let input = elf::Input::parse(bin.container.file)?;

    // Units in the order of their first function; functions in address order within each.
    let mut order: Vec<UnitKey<'_>> = Vec::new();
    let mut members: FxMap<UnitKey<'_>, Vec<usize>> = FxMap::default();
    for i in 0..bin.table.len() {
        let key = unit_key(bin, i)?;
        let list = members.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        list.push(i);
    }

    let endian = match input.endian {
        object::Endianness::Little => gimli::RunTimeEndian::Little,
        object::Endianness::Big => gimli::RunTimeEndian::Big,
    };
    let frame = dwarf::FrameArch::of(bin.container.arch);
    let format = dwarf::UnitFormat::new(bin.container.ptr_size, frame);
    let mut builder = dwarf::Builder::new(endian);
    // (name, entry, size, asm, generated) of every function, by table index.
    let mut facts: Vec<Fact<'_>> = vec![(&[], 0, 0, false, false); bin.table.len()];
    let members = &members;
    // A batch of units read and built on every core; in order, with their functions' facts.
    let build = |batch: &[UnitKey<'_>]| {
        batch
            .par_iter()
            .map(|key| {
                let funcs = members_of(members, key)
                    .iter()
                    .map(|&i| collect::function(bin, i))
                    .collect::<pclntab::Result<Vec<_>>>()?;
                let unit = format.build(&unit_name(&funcs), &funcs)?;
                let facts: Vec<Fact<'_>> = funcs
                    .iter()
                    .map(|f| (f.name, f.entry, f.size, f.asm, f.generated))
                    .collect();
                Ok((unit, facts))
            })
            .collect::<Result<Vec<_>>>()
    };
    // Each batch is written while the next one is built.
    let mut batches = order.chunks(UNIT_BATCH);
    let mut ready = match batches.next() {
        Some(batch) => Some((batch, build(batch)?)),
        None => None,
    };
    while let Some((keys, built)) = ready.take() {
        let next = batches.next();
        let (next_built, written) = rayon::join(
            || next.map(build).transpose(),
            || -> Result<()> {
                for (key, (unit, unit_facts)) in keys.iter().zip(built) {
                    builder.write(unit)?;
                    for (&i, f) in members_of(members, key).iter().zip(unit_facts) {
                        if let Some(slot) = facts.get_mut(i) {
                            *slot = f;
                        }
                    }
                }
                Ok(())
            },
        );
        written?;
        ready = next.zip(next_built?);
    }
    let names = collect::symbol_names(
        &facts
            .iter()
            .map(|(name, _, _, asm, generated)| (*name, *asm, *generated))
            .collect::<Vec<_>>(),
    );
    let symbols: Vec<elf::Symbol> = facts
        .iter()
        .zip(names)
        .map(|((_, entry, size, _, _), name)| elf::Symbol {
            name,
            value: *entry,
            size: *size,
        })
        .collect();
    let summary = Summary {
        functions: symbols.len(),
        units: order.len(),
        inlined: builder.inlined,
        dwarf_bytes: 0,
        frames: frame.is_some(),
    };
    let sections = builder.finish();
    input.write(mode, &symbols, &sections, out)?;
    Ok(Summary {
        dwarf_bytes: sections.iter().map(|(_, d)| d.len() as u64).sum(),
        ..summary
    })
}

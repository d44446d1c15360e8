//! Mach-O, 32 and 64 bit, and fat (universal) files.

use super::{Container, FileOffset, Format, Region, Section, VirtAddr, WANTED_SYMBOLS};
use crate::reader::Endian;
use crate::{Error, Result};
use goblin::mach::{constants::cputype::*, Mach, MachO, SingleArch};

fn arch_name(cputype: u32) -> Option<&'static str> {
    Some(match cputype {
        CPU_TYPE_X86_64 => "amd64",
        CPU_TYPE_X86 => "386",
        CPU_TYPE_ARM64 => "arm64",
        CPU_TYPE_ARM => "arm",
        CPU_TYPE_POWERPC64 => "ppc64",
        _ => return None,
    })
}

fn err(e: goblin::error::Error) -> Error {
    Error::Container {
        format: "Mach-O",
        message: e.to_string(),
    }
}

pub(super) fn parse<'data>(file: &'data [u8], want: Option<&str>) -> Result<Container<'data>> {
    match Mach::parse(file).map_err(err)? {
        Mach::Binary(m) => {
            let c = from_macho(file, &m)?;
            match want {
                Some(w) if w != c.arch => Err(Error::NoSuchArch {
                    wanted: w.to_string(),
                    available: c.arch.to_string(),
                }),
                _ => Ok(c),
            }
        }
        Mach::Fat(fat) => {
            let arches = fat.arches().map_err(err)?;
            let names: Vec<&'static str> = arches
                .iter()
                .map(|a| arch_name(a.cputype).unwrap_or("unknown"))
                .collect();
            let index = match want {
                None => 0,
                Some(w) => names
                    .iter()
                    .position(|n| *n == w)
                    .ok_or_else(|| Error::NoSuchArch {
                        wanted: w.to_string(),
                        available: names.join(","),
                    })?,
            };
            let m = match fat.get(index).map_err(err)? {
                SingleArch::MachO(m) => m,
                SingleArch::Archive(_) => {
                    return Err(Error::Container {
                        format: "Mach-O",
                        message: "fat slice is an archive".into(),
                    })
                }
            };
            let slice_offset = arches.get(index).map(|a| u64::from(a.offset)).unwrap_or(0);
            let mut c = from_macho(file, &m)?;
            // goblin parsed the slice on its own: its file offsets count from the slice start.
            for s in &mut c.sections {
                s.offset.0 += slice_offset;
            }
            for r in &mut c.regions {
                r.offset.0 += slice_offset;
                r.file_size = r
                    .file_size
                    .min((file.len() as u64).saturating_sub(r.offset.0));
            }
            c.other_arches = names
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, n)| *n)
                .collect();
            Ok(c)
        }
    }
}

fn from_macho<'data>(file: &'data [u8], m: &MachO<'_>) -> Result<Container<'data>> {
    let arch = arch_name(m.header.cputype).ok_or_else(|| {
        Error::UnsupportedArch(format!("Mach-O CPU type {:#x}", m.header.cputype))
    })?;
    let mut sections = Vec::new();
    let mut regions = Vec::new();
    for seg in m.segments.iter() {
        let segname = seg.name().unwrap_or("");
        let writable = seg.initprot & 2 != 0;
        let executable = seg.initprot & 4 != 0;
        if segname != "__PAGEZERO" && seg.filesize > 0 {
            regions.push(Region {
                vaddr: VirtAddr(seg.vmaddr),
                mem_size: seg.vmsize,
                offset: FileOffset(seg.fileoff),
                file_size: seg.filesize,
                writable,
                executable,
            });
        }
        if let Ok(secs) = seg.sections() {
            for (s, _) in secs {
                let zerofill = s.flags & 0xff == 1 || s.flags & 0xff == 0x12;
                sections.push(Section {
                    name: s.name().unwrap_or("").to_string(),
                    vaddr: VirtAddr(s.addr),
                    size: s.size,
                    offset: FileOffset(u64::from(s.offset)),
                    file_size: if zerofill || s.offset == 0 { 0 } else { s.size },
                    writable,
                    executable,
                });
            }
        }
    }
    let mut symbols = Vec::new();
    let mut defined = 0usize;
    for (name, nlist) in m.symbols().flatten() {
        // N_SECT: defined in a section (stripped files keep only undefined dynamic imports).
        if nlist.n_type & 0x0e == 0x0e {
            defined += 1;
        }
        // Mach-O C symbols carry a leading underscore; Go's do not.
        let name = name
            .strip_prefix('_')
            .filter(|n| n.starts_with("runtime"))
            .unwrap_or(name);
        if WANTED_SYMBOLS.contains(&name) {
            symbols.push((name.to_string(), nlist.n_value));
        }
    }
    Ok(Container {
        file,
        format: Format::MachO,
        arch,
        os: Some("darwin"),
        endian: if m.little_endian {
            Endian::Little
        } else {
            Endian::Big
        },
        ptr_size: if m.is_64 { 8 } else { 4 },
        pie: m.header.flags & goblin::mach::header::MH_PIE != 0,
        stripped: defined == 0,
        has_dwarf: sections
            .iter()
            .any(|s| s.name.starts_with("__debug_") || s.name.starts_with("__zdebug_")),
        sections,
        regions,
        other_arches: Vec::new(),
        symbols,
    })
}

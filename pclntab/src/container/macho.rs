//! Mach-O, 32 and 64 bit, and fat (universal) files.

use super::{Container, FileOffset, Format, Region, Section, VirtAddr, WANTED_SYMBOLS};
use crate::reader::{Endian, Reader};
use crate::{Error, Result};
use goblin::mach::{constants::cputype::*, Mach, MachO};

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
    check_entry(file)?;
    // Lossy: a file cut short keeps its load commands, and gosyms can say where it is cut.
    match Mach::parse_lossy(file).map_err(err)? {
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
            let slice = arches.get(index).map(|a| a.slice(file)).unwrap_or_default();
            if slice.starts_with(b"!<arch>\n") {
                return Err(Error::Container {
                    format: "Mach-O",
                    message: "fat slice is an archive".into(),
                });
            }
            check_entry(slice)?;
            let m = MachO::parse_lossy(slice, 0).map_err(err)?;
            let slice_offset = arches.get(index).map(|a| u64::from(a.offset)).unwrap_or(0);
            let mut c = from_macho(file, &m)?;
            // goblin parsed the slice on its own: its file offsets count from the slice start.
            for s in &mut c.sections {
                s.offset.0 += slice_offset;
            }
            for r in &mut c.regions {
                r.offset.0 = r.offset.0.saturating_add(slice_offset);
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

/// goblin computes the entry point as `__TEXT.vmaddr - __TEXT.fileoff + LC_MAIN.entryoff`
/// unchecked, which panics in builds with overflow checks: refuse such a thin file first.
fn check_entry(file: &[u8]) -> Result<()> {
    let (endian, is_64) = match file.get(..4) {
        Some([0xfe, 0xed, 0xfa, m @ (0xce | 0xcf)]) => (Endian::Big, *m == 0xcf),
        Some([m @ (0xce | 0xcf), 0xfa, 0xed, 0xfe]) => (Endian::Little, *m == 0xcf),
        _ => return Ok(()),
    };
    let r = Reader::new(file, 0, endian);
    let ncmds = r.u32("ncmds", 16).unwrap_or(0);
    let mut at = if is_64 { 32 } else { 28 };
    let (mut text, mut entry) = (None, None);
    // Each command is at least one byte long, so the reads run out with the file.
    for _ in 0..ncmds {
        let (Ok(cmd), Ok(size)) = (r.u32("cmd", at), r.u32("cmdsize", at + 4)) else {
            break;
        };
        let is_text = r.bytes("segname", at + 8, 7).ok() == Some(b"__TEXT\0".as_slice());
        match cmd {
            0x19 if is_text && text.is_none() => {
                text = r
                    .u64("vmaddr", at + 24)
                    .ok()
                    .zip(r.u64("fileoff", at + 40).ok());
            }
            0x1 if is_text && text.is_none() => {
                let w = |o| r.u32("segment", at + o).map(u64::from).ok();
                text = w(24).zip(w(32));
            }
            0x8000_0028 if entry.is_none() => entry = r.u64("entryoff", at + 8).ok(),
            _ => {}
        }
        if size == 0 {
            break;
        }
        at += u64::from(size);
    }
    match (text, entry) {
        (Some((vmaddr, fileoff)), Some(e))
            if vmaddr.checked_sub(fileoff).and_then(|b| b.checked_add(e)).is_none() =>
        {
            Err(Error::Container {
                format: "Mach-O",
                message: format!("entry point out of range: __TEXT at {vmaddr:#x}, file offset {fileoff:#x}, LC_MAIN offset {e:#x}"),
            })
        }
        _ => Ok(()),
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
    // `nsyms` is not checked against the file: stop where the entries could no longer fit.
    let nlist_size = if m.is_64 { 16 } else { 12 };
    for (name, nlist) in m.symbols().take(file.len() / nlist_size).flatten() {
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

//! ELF, 32 and 64 bit, either byte order, with or without section headers.

use super::{elf_arch, Container, FileOffset, Format, Region, Section, VirtAddr, WANTED_SYMBOLS};
use crate::reader::Endian;
use crate::{Error, Result};
use goblin::elf::{program_header::*, section_header::*, Elf};

pub(super) fn parse(file: &[u8]) -> Result<Container<'_>> {
    let elf = Elf::parse(file).map_err(|e| Error::Container {
        format: "ELF",
        message: e.to_string(),
    })?;
    let endian = if elf.little_endian {
        Endian::Little
    } else {
        Endian::Big
    };
    let arch = elf_arch(elf.header.e_machine, elf.is_64, endian)
        .ok_or_else(|| Error::UnsupportedArch(format!("ELF machine {}", elf.header.e_machine)))?;

    let sections: Vec<Section> = elf
        .section_headers
        .iter()
        .map(|sh| {
            let nobits = sh.sh_type == SHT_NOBITS;
            Section {
                name: elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("").to_string(),
                vaddr: VirtAddr(sh.sh_addr),
                size: sh.sh_size,
                offset: FileOffset(sh.sh_offset),
                file_size: if nobits { 0 } else { sh.sh_size },
                writable: sh.sh_flags & u64::from(SHF_WRITE) != 0,
                executable: sh.sh_flags & u64::from(SHF_EXECINSTR) != 0,
            }
        })
        .collect();

    let regions = elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD)
        .map(|ph| Region {
            vaddr: VirtAddr(ph.p_vaddr),
            mem_size: ph.p_memsz,
            offset: FileOffset(ph.p_offset),
            file_size: ph
                .p_filesz
                .min((file.len() as u64).saturating_sub(ph.p_offset)),
            writable: ph.p_flags & PF_W != 0,
            executable: ph.p_flags & PF_X != 0,
        })
        .collect();

    let mut symbols = Vec::new();
    for sym in elf.syms.iter() {
        if let Some(name) = elf.strtab.get_at(sym.st_name) {
            if WANTED_SYMBOLS.contains(&name) {
                symbols.push((name.to_string(), sym.st_value));
            }
        }
    }

    let note = |n: &str| sections.iter().any(|s| s.name == n);
    let os = match elf.header.e_ident.get(goblin::elf::header::EI_OSABI) {
        Some(9) => "freebsd",
        _ if note(".note.netbsd.ident") => "netbsd",
        _ if note(".note.openbsd.ident") => "openbsd",
        _ if note(".note.android.ident") => "android",
        _ => "linux",
    };

    Ok(Container {
        file,
        format: Format::Elf,
        arch,
        os: Some(os),
        endian,
        ptr_size: if elf.is_64 { 8 } else { 4 },
        pie: elf.header.e_type == goblin::elf::header::ET_DYN,
        stripped: !sections.iter().any(|s| s.name == ".symtab"),
        has_dwarf: sections
            .iter()
            .any(|s| s.name.starts_with(".debug_") || s.name.starts_with(".zdebug_")),
        sections,
        regions,
        other_arches: Vec::new(),
        symbols,
    })
}

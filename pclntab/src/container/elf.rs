//! ELF, 32 and 64 bit, either byte order, with or without section headers.

use super::{elf_arch, Container, FileOffset, Format, Region, Section, VirtAddr, WANTED_SYMBOLS};
use crate::reader::Endian;
use crate::{Error, Result};
use goblin::container::{Container as Class, Ctx, Endian as ByteOrder};
use goblin::elf::sym::Symtab;
use goblin::elf::{program_header::*, section_header::*, Elf};
use goblin::strtab::Strtab;

fn err(e: goblin::error::Error) -> Error {
    Error::Container {
        format: "ELF",
        message: e.to_string(),
    }
}

/// Reads the file header, program headers, section headers and the symbol table, and nothing
/// else: goblin's full parse also reads the dynamic section and its hash tables, which fails on
/// files the kernel loads fine (s390x uses 64-bit hash entries) and which gosyms never needs.
pub(super) fn parse(file: &[u8]) -> Result<Container<'_>> {
    use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB};
    let header = Elf::parse_header(file).map_err(err)?;
    let is_64 = header.e_ident.get(EI_CLASS) == Some(&ELFCLASS64);
    let little = header.e_ident.get(EI_DATA) == Some(&ELFDATA2LSB);
    let endian = if little { Endian::Little } else { Endian::Big };
    let ctx = Ctx::new(
        if is_64 { Class::Big } else { Class::Little },
        if little {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        },
    );
    let arch = elf_arch(header.e_machine, is_64, endian)
        .ok_or_else(|| Error::UnsupportedArch(format!("ELF machine {}", header.e_machine)))?;
    let program_headers = ProgramHeader::parse(
        file,
        header.e_phoff as usize,
        usize::from(header.e_phnum),
        ctx,
    )
    .map_err(err)?;
    let section_headers = SectionHeader::parse(
        file,
        header.e_shoff as usize,
        usize::from(header.e_shnum),
        ctx,
    )
    .map_err(err)?;
    let strtab_of =
        |sh: &SectionHeader| Strtab::parse(file, sh.sh_offset as usize, sh.sh_size as usize, 0);
    let shdr_strtab = match section_headers.get(usize::from(header.e_shstrndx)) {
        // Go writes the section names near the end of the file: cut there, say so.
        Some(sh) if sh.sh_offset.saturating_add(sh.sh_size) > file.len() as u64 => {
            return Err(Error::CutShort {
                section: ".shstrtab".into(),
                end: sh.sh_offset.saturating_add(sh.sh_size),
                len: file.len() as u64,
            })
        }
        sh => sh
            .map(strtab_of)
            .transpose()
            .map_err(err)?
            .unwrap_or_default(),
    };
    let elf = Parsed {
        header,
        program_headers,
        section_headers,
        shdr_strtab,
    };

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

    // The symbol table, if any; a damaged one is ignored (it is only a shortcut).
    let mut symbols = Vec::new();
    if let Some(symtab) = elf
        .section_headers
        .iter()
        .find(|sh| sh.sh_type == SHT_SYMTAB)
    {
        let entsize = if is_64 { 24 } else { 16 };
        let syms = Symtab::parse(
            file,
            symtab.sh_offset as usize,
            (symtab.sh_size / entsize) as usize,
            ctx,
        );
        let names = elf
            .section_headers
            .get(symtab.sh_link as usize)
            .map(strtab_of);
        if let (Ok(syms), Some(Ok(names))) = (syms, names) {
            for sym in syms.iter() {
                if let Some(name) = names.get_at(sym.st_name) {
                    if WANTED_SYMBOLS.contains(&name) {
                        symbols.push((name.to_string(), sym.st_value));
                    }
                }
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
        ptr_size: if is_64 { 8 } else { 4 },
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

/// The parts of the ELF file gosyms reads.
struct Parsed<'data> {
    header: goblin::elf::Header,
    program_headers: Vec<ProgramHeader>,
    section_headers: Vec<SectionHeader>,
    shdr_strtab: Strtab<'data>,
}

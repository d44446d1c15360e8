//! Reading the input's ELF headers and writing the output with `object`'s ELF writer.
//!
//! The whole binary: every byte of the input, unchanged, then the new sections (`.symtab`,
//! `.strtab`, `.debug_*`), a new section name table and a new section header table; the ELF
//! header changes only where it says where the section headers are. Every original section keeps
//! its index, and the old name table's slot holds the new one. A check on the bytes as they are
//! written refuses any other difference.
//!
//! The debug file (`--debug-only`, like `objcopy --only-keep-debug`): the same ELF header and
//! section headers, loaded sections emptied (`SHT_NOBITS`, same addresses and sizes), notes kept
//! (so a GNU build ID still matches), plus the new sections; no program headers.

use crate::{Error, Mode, Result};
use object::elf;
use object::read::elf::{ProgramHeader as _, SectionHeader as _};
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, SectionIndex, Sym, Writer};
use object::write::WritableBuffer;
use object::Endianness;
use std::io::Write;

/// A section of the input.
#[derive(Debug, Clone)]
pub struct InSection<'data> {
    /// Its name.
    pub name: &'data [u8],
    /// Its header, name aside.
    pub header: SectionHeader,
}

/// What the output needs from the input's ELF headers.
#[derive(Debug)]
pub struct Input<'data> {
    data: &'data [u8],
    is_64: bool,
    /// Byte order.
    pub endian: Endianness,
    header: FileHeader,
    segments: Vec<ProgramHeader>,
    /// Section headers, index 0 (the null section) included.
    pub sections: Vec<InSection<'data>>,
    shstrndx: usize,
}

/// A function symbol to write.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Its name.
    pub name: Vec<u8>,
    /// Entry address.
    pub value: u64,
    /// Bytes of code.
    pub size: u64,
}

impl<'data> Input<'data> {
    /// Reads the headers, and refuses a file that already has a symbol table or DWARF.
    pub fn parse(data: &'data [u8]) -> Result<Self> {
        let input = match object::FileKind::parse(data)? {
            object::FileKind::Elf32 => parse_as::<elf::FileHeader32<Endianness>>(data)?,
            object::FileKind::Elf64 => parse_as::<elf::FileHeader64<Endianness>>(data)?,
            _ => return Err(Error::Layout { what: "not ELF" }),
        };
        let symtab = input
            .sections
            .iter()
            .find(|s| s.header.sh_type == elf::SHT_SYMTAB);
        let dwarf = input
            .sections
            .iter()
            .find(|s| s.name.starts_with(b".debug_") || s.name.starts_with(b".zdebug_"));
        if let Some(s) = symtab.or(dwarf) {
            return Err(Error::AlreadyHas {
                section: String::from_utf8_lossy(s.name).into_owned(),
            });
        }
        let mut input = input;
        if input.sections.is_empty() {
            input.sections = input.text_from_segments()?;
        }
        Ok(input)
    }

    /// For a file without section headers: a null section and a `.text` section over the
    /// executable loaded segment, for the symbols to be in (the name table comes after them).
    fn text_from_segments(&self) -> Result<Vec<InSection<'data>>> {
        let text = self
            .segments
            .iter()
            .find(|p| p.p_type == elf::PT_LOAD && p.p_flags & elf::PF_X != 0)
            .ok_or(Error::Layout {
                what: "no section headers and no executable segment",
            })?;
        let null = SectionHeader {
            name: None,
            sh_type: elf::SHT_NULL,
            sh_flags: 0,
            sh_addr: 0,
            sh_offset: 0,
            sh_size: 0,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 0,
            sh_entsize: 0,
        };
        Ok(vec![
            InSection {
                name: b"",
                header: null.clone(),
            },
            InSection {
                name: b".text",
                header: SectionHeader {
                    sh_type: elf::SHT_PROGBITS,
                    sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
                    sh_addr: text.p_vaddr,
                    sh_offset: text.p_offset,
                    sh_size: text.p_filesz,
                    sh_addralign: 1,
                    ..null
                },
            },
        ])
    }

    /// The index of the executable section holding `addr`, if any.
    pub fn text_section_of(&self, addr: u64) -> Option<u32> {
        let exec = u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR);
        self.sections.iter().enumerate().find_map(|(i, s)| {
            let h = &s.header;
            let inside = addr >= h.sh_addr && addr - h.sh_addr < h.sh_size;
            (h.sh_flags & exec == exec && inside).then_some(i as u32)
        })
    }

    /// Writes the output to `out`: the whole binary or the debug file, with `symbols` (in
    /// address order) and the `debug` sections.
    pub fn write(
        &self,
        mode: Mode,
        symbols: &[Symbol],
        debug: &[(&'static str, Vec<u8>)],
        out: &mut dyn Write,
    ) -> Result<()> {
        let mut buffer = Checked::new(out, self.kept(mode), self.header_fields());
        let mut w = Writer::new(self.endian, self.is_64, &mut buffer);
        let ehsize = if self.is_64 { 64 } else { 52 };

        // Reserve the file ranges, in the order they are written.
        w.reserve_file_header();
        // The debug file has no program headers: it is never loaded, and headers describing
        // contents it does not have would only mislead readers.
        let segments: &[ProgramHeader] = match mode {
            Mode::Binary => &self.segments,
            Mode::DebugOnly => &[],
        };
        if !segments.is_empty() {
            w.reserve_program_headers(segments.len() as u32);
        }
        // (section index, offset in the output, bytes) of each note the debug file keeps: those
        // whose bytes are all in the file.
        let notes: Vec<(usize, usize, &[u8])> = match mode {
            Mode::Binary => {
                w.reserve_until(self.data.len());
                Vec::new()
            }
            Mode::DebugOnly => self
                .sections
                .iter()
                .enumerate()
                .filter(|(_, s)| s.header.sh_type == elf::SHT_NOTE)
                .filter_map(|(i, s)| {
                    let data = self.bytes(&s.header);
                    (data.len() as u64 == s.header.sh_size).then_some((i, data))
                })
                .map(|(i, data)| {
                    let align = self.alignment(i);
                    (i, w.reserve(data.len(), align), data)
                })
                .collect(),
        };
        let mut names = Vec::with_capacity(self.sections.len());
        w.reserve_null_section_index();
        for (i, s) in self.sections.iter().enumerate().skip(1) {
            if i == self.shstrndx {
                w.reserve_shstrtab_section_index();
            } else {
                w.reserve_section_index();
            }
            names.push(w.add_section_name(s.name));
        }
        // A file without a section name table gets one after its sections.
        let new_names = self.shstrndx == 0;
        if new_names {
            w.reserve_shstrtab_section_index();
        }
        w.reserve_symtab_section_index();
        w.reserve_strtab_section_index();
        let debug_ids: Vec<_> = debug
            .iter()
            .map(|(name, _)| {
                (
                    w.reserve_section_index(),
                    w.add_section_name(name.as_bytes()),
                )
            })
            .collect();
        let mut syms = Vec::with_capacity(symbols.len());
        for s in symbols {
            let section = self.text_section_of(s.value).map(SectionIndex);
            if section.is_some_and(|i| i.0 >= u32::from(elf::SHN_LORESERVE)) {
                return Err(Error::Layout {
                    what: "more sections than a symbol can index",
                });
            }
            syms.push((w.add_string(&s.name), section));
            w.reserve_symbol_index(section);
        }
        w.reserve_symtab();
        w.reserve_strtab();
        let debug_offsets: Vec<usize> = debug.iter().map(|(_, d)| w.reserve(d.len(), 1)).collect();
        w.reserve_shstrtab();
        w.reserve_section_headers();

        // Write.
        w.write_file_header(&self.header)?;
        w.write_align_program_headers();
        for p in segments {
            w.write_program_header(p);
        }
        match mode {
            Mode::Binary => {
                let ph_end = ehsize + self.segments.len() * if self.is_64 { 56 } else { 32 };
                w.write(self.data.get(ph_end..).unwrap_or_default());
            }
            Mode::DebugOnly => {
                for (i, _, data) in &notes {
                    w.write_align(self.alignment(*i));
                    w.write(data);
                }
            }
        }
        w.write_null_symbol();
        for (s, (name, section)) in symbols.iter().zip(&syms) {
            w.write_symbol(&Sym {
                name: Some(*name),
                section: *section,
                st_info: (elf::STB_GLOBAL << 4) | elf::STT_FUNC,
                st_other: elf::STV_DEFAULT,
                st_shndx: if section.is_some() { 0 } else { elf::SHN_ABS },
                st_value: s.value,
                st_size: s.size,
            });
        }
        w.write_strtab();
        for (_, data) in debug {
            w.write(data);
        }
        w.write_shstrtab();

        w.write_null_section_header();
        for (i, (s, name)) in self.sections.iter().skip(1).zip(&names).enumerate() {
            if i + 1 == self.shstrndx {
                w.write_shstrtab_section_header();
                continue;
            }
            let mut h = SectionHeader {
                name: Some(*name),
                ..s.header.clone()
            };
            if mode == Mode::DebugOnly {
                match notes.iter().find(|(n, ..)| *n == i + 1) {
                    Some((_, offset, _)) => h.sh_offset = *offset as u64,
                    // The offset stays: perf maps symbols to file offsets through it.
                    None => {
                        if h.sh_type != elf::SHT_NULL {
                            h.sh_type = elf::SHT_NOBITS;
                        }
                    }
                }
            }
            w.write_section_header(&h);
        }
        if new_names {
            w.write_shstrtab_section_header();
        }
        // One local symbol: the null one.
        w.write_symtab_section_header(1);
        w.write_strtab_section_header();
        for (((_, data), (_, name)), offset) in debug.iter().zip(&debug_ids).zip(&debug_offsets) {
            w.write_section_header(&SectionHeader {
                name: Some(*name),
                sh_type: elf::SHT_PROGBITS,
                sh_flags: 0,
                sh_addr: 0,
                sh_offset: *offset as u64,
                sh_size: data.len() as u64,
                sh_link: 0,
                sh_info: 0,
                sh_addralign: 1,
                sh_entsize: 0,
            });
        }
        drop(w);
        buffer.finish()
    }

    /// The alignment of section `i`'s bytes in the debug file: its own, when that is a power of
    /// two of at most a page (a damaged header may say anything), else none.
    fn alignment(&self, i: usize) -> usize {
        self.sections
            .get(i)
            .map(|s| s.header.sh_addralign)
            .filter(|a| a.is_power_of_two() && *a <= 4096)
            .unwrap_or(1) as usize
    }

    /// The bytes of a section in the input (none for `SHT_NOBITS` or a header that lies).
    fn bytes(&self, h: &SectionHeader) -> &'data [u8] {
        if h.sh_type == elf::SHT_NOBITS {
            return &[];
        }
        let start = usize::try_from(h.sh_offset).unwrap_or(usize::MAX);
        let len = usize::try_from(h.sh_size).unwrap_or(usize::MAX);
        self.data
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// The input bytes the output must repeat: all of them for the whole binary.
    fn kept(&self, mode: Mode) -> &'data [u8] {
        match mode {
            Mode::Binary => self.data,
            Mode::DebugOnly => &[],
        }
    }

    /// The byte ranges of `e_shoff`, `e_shentsize`, `e_shnum` and `e_shstrndx` in the ELF header:
    /// the only bytes of the input the whole binary may change.
    fn header_fields(&self) -> [(usize, usize); 2] {
        if self.is_64 {
            [(0x28, 0x30), (0x3a, 0x40)]
        } else {
            [(0x20, 0x24), (0x2e, 0x34)]
        }
    }
}

fn parse_as<'data, Elf: object::read::elf::FileHeader<Endian = Endianness>>(
    data: &'data [u8],
) -> Result<Input<'data>> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let ehsize: u64 = if header.is_type_64() { 64 } else { 52 };
    let phdrs = header.program_headers(endian, data)?;
    if !phdrs.is_empty() && header.e_phoff(endian).into() != ehsize {
        return Err(Error::Layout {
            what: "program headers not right after the ELF header",
        });
    }
    let segments = phdrs
        .iter()
        .map(|p| ProgramHeader {
            p_type: p.p_type(endian),
            p_flags: p.p_flags(endian),
            p_offset: p.p_offset(endian).into(),
            p_vaddr: p.p_vaddr(endian).into(),
            p_paddr: p.p_paddr(endian).into(),
            p_filesz: p.p_filesz(endian).into(),
            p_memsz: p.p_memsz(endian).into(),
            p_align: p.p_align(endian).into(),
        })
        .collect();
    // A file without section headers (e_shoff and e_shnum 0) has no name table either.
    if header.shnum(endian, data)? == 0 {
        return Ok(Input {
            data,
            is_64: header.is_type_64(),
            endian,
            header: file_header(header, endian),
            segments,
            sections: Vec::new(),
            shstrndx: 0,
        });
    }
    let table = header.sections(endian, data)?;
    let sections = table
        .iter()
        .map(|s| {
            Ok(InSection {
                name: table.section_name(endian, s)?,
                header: SectionHeader {
                    name: None,
                    sh_type: s.sh_type(endian),
                    sh_flags: s.sh_flags(endian).into(),
                    sh_addr: s.sh_addr(endian).into(),
                    sh_offset: s.sh_offset(endian).into(),
                    sh_size: s.sh_size(endian).into(),
                    sh_link: s.sh_link(endian),
                    sh_info: s.sh_info(endian),
                    sh_addralign: s.sh_addralign(endian).into(),
                    sh_entsize: s.sh_entsize(endian).into(),
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Input {
        data,
        is_64: header.is_type_64(),
        endian,
        header: file_header(header, endian),
        segments,
        sections,
        shstrndx: header.shstrndx(endian, data)? as usize,
    })
}

/// The ELF header fields the writer takes from the input.
fn file_header<Elf: object::read::elf::FileHeader<Endian = Endianness>>(
    header: &Elf,
    endian: Endianness,
) -> FileHeader {
    let ident = header.e_ident();
    FileHeader {
        os_abi: ident.os_abi,
        abi_version: ident.abi_version,
        e_type: header.e_type(endian),
        e_machine: header.e_machine(endian),
        e_entry: header.e_entry(endian).into(),
        e_flags: header.e_flags(endian),
    }
}

/// A [`WritableBuffer`] that streams to `out` and checks that the first `kept.len()` bytes
/// written are `kept`, except in the `changeable` ranges.
struct Checked<'a, 'data> {
    out: &'a mut dyn Write,
    kept: &'data [u8],
    changeable: [(usize, usize); 2],
    len: usize,
    io: Option<std::io::Error>,
    differs_at: Option<usize>,
}

impl<'a, 'data> Checked<'a, 'data> {
    fn new(out: &'a mut dyn Write, kept: &'data [u8], changeable: [(usize, usize); 2]) -> Self {
        Checked {
            out,
            kept,
            changeable,
            len: 0,
            io: None,
            differs_at: None,
        }
    }

    fn finish(self) -> Result<()> {
        if let Some(e) = self.io {
            return Err(e.into());
        }
        match self.differs_at {
            Some(at) => Err(Error::NotPreserved { offset: at as u64 }),
            None => Ok(()),
        }
    }
}

impl WritableBuffer for Checked<'_, '_> {
    fn len(&self) -> usize {
        self.len
    }

    fn reserve(&mut self, _size: usize) -> std::result::Result<(), ()> {
        Ok(())
    }

    fn resize(&mut self, new_len: usize) {
        const ZEROS: [u8; 4096] = [0; 4096];
        while self.len < new_len {
            let n = (new_len - self.len).min(ZEROS.len());
            self.write_bytes(ZEROS.get(..n).unwrap_or_default());
        }
    }

    fn write_bytes(&mut self, val: &[u8]) {
        if self.differs_at.is_none() && self.len < self.kept.len() {
            let end = (self.len + val.len()).min(self.kept.len());
            let want = self.kept.get(self.len..end).unwrap_or_default();
            let got = val.get(..end - self.len).unwrap_or_default();
            // The input's own bytes, copied through: the same memory, nothing to compare.
            let same_memory = std::ptr::eq(want, got);
            if !same_memory && want != got {
                let changeable = &self.changeable;
                self.differs_at = want
                    .iter()
                    .zip(got)
                    .enumerate()
                    .map(|(i, _)| self.len + i)
                    .find(|&at| {
                        let (w, g) = (want.get(at - self.len), got.get(at - self.len));
                        w != g && !changeable.iter().any(|(s, e)| at >= *s && at < *e)
                    });
            }
        }
        if self.io.is_none() {
            if let Err(e) = self.out.write_all(val) {
                self.io = Some(e);
            }
        }
        self.len += val.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kept: &[u8], written: &[&[u8]]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut b = Checked::new(&mut out, kept, [(2, 4), (6, 7)]);
        for w in written {
            b.write_bytes(w);
        }
        b.finish().map(|()| out)
    }

    #[test]
    fn checked_buffer_allows_only_the_header_fields() {
        let kept = b"abcdefgh";
        // The changeable bytes may change, in any chunking; more may follow.
        assert_eq!(
            check(kept, &[b"abXY", b"efZh", b"tail"]).unwrap(),
            b"abXYefZhtail"
        );
        // Any other byte may not.
        assert!(matches!(
            check(kept, &[b"abcdeF", b"gh"]),
            Err(Error::NotPreserved { offset: 5 })
        ));
        assert!(matches!(
            check(kept, &[b"abcdefg", b"H"]),
            Err(Error::NotPreserved { offset: 7 })
        ));
    }
}

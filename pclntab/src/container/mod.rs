//! The executable container: ELF, PE or Mach-O, reduced to what the Go tables need.
//!
//! These are the only modules that use goblin. Everything they hand out is plain data: the
//! architecture, byte order and pointer size, the sections, the loaded regions that map virtual
//! addresses to file offsets, and a few symbols by name when the file still has a symbol table.

mod elf;
mod macho;
mod pe;

use crate::reader::{Endian, Reader};
use crate::{Error, Result};

/// A virtual address, as the program sees it when loaded at its link-time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtAddr(pub u64);

/// An absolute offset into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileOffset(pub u64);

/// The container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ELF (Linux, the BSDs, ...).
    Elf,
    /// PE/COFF (Windows).
    Pe,
    /// Mach-O (macOS, iOS).
    MachO,
}

impl Format {
    /// "elf", "pe" or "macho".
    pub fn name(self) -> &'static str {
        match self {
            Format::Elf => "elf",
            Format::Pe => "pe",
            Format::MachO => "macho",
        }
    }
}

/// A section of the file.
#[derive(Debug, Clone)]
pub struct Section {
    /// The section's name (`.gopclntab`, `__gopclntab`, `.rdata`, ...).
    pub name: String,
    /// Where it is loaded (0 for sections that are not loaded).
    pub vaddr: VirtAddr,
    /// Size in memory.
    pub size: u64,
    /// Where its bytes are in the file, and how many there are (0 for bss-like sections).
    pub offset: FileOffset,
    /// Bytes present in the file.
    pub file_size: u64,
    /// Writable when loaded.
    pub writable: bool,
    /// Executable when loaded.
    pub executable: bool,
}

/// A part of the file that is mapped into memory at load time.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// Load address of the first byte.
    pub vaddr: VirtAddr,
    /// Size in memory (can exceed `file_size`: the rest is zero-filled).
    pub mem_size: u64,
    /// File offset of the first byte.
    pub offset: FileOffset,
    /// Bytes present in the file.
    pub file_size: u64,
    /// Writable when loaded.
    pub writable: bool,
    /// Executable when loaded.
    pub executable: bool,
}

/// One executable image: a whole ELF or PE file, or one slice of a (fat) Mach-O file.
#[derive(Debug)]
pub struct Container<'data> {
    /// The whole file's bytes (not only the slice, for fat Mach-O).
    pub file: &'data [u8],
    /// The container format.
    pub format: Format,
    /// Architecture, in GOARCH spelling (`amd64`, `arm64`, `ppc64le`, ...).
    pub arch: &'static str,
    /// The OS the container says it is for, in GOOS spelling, when it says so.
    pub os: Option<&'static str>,
    /// Byte order.
    pub endian: Endian,
    /// Pointer size in bytes: 4 or 8.
    pub ptr_size: u8,
    /// Position-independent: loaded at an address chosen at run time.
    pub pie: bool,
    /// Has no symbol table.
    pub stripped: bool,
    /// Has DWARF debug sections.
    pub has_dwarf: bool,
    /// The sections (empty for an ELF file with no section headers).
    pub sections: Vec<Section>,
    /// The loaded, file-backed parts, sorted by address.
    pub regions: Vec<Region>,
    /// Other slices of a fat Mach-O file (GOARCH names), empty otherwise.
    pub other_arches: Vec<&'static str>,
    symbols: Vec<(String, u64)>,
}

/// Symbol names the Go tables can be found through, when a symbol table is present.
pub(crate) const WANTED_SYMBOLS: &[&str] = &[
    "runtime.pclntab",
    "runtime.epclntab",
    "runtime.firstmoduledata",
    "runtime.text",
    "runtime.etext",
    "pclntab",
    "epclntab",
];

impl<'data> Container<'data> {
    /// Parses the container. For a fat Mach-O file, `arch` (a GOARCH name) picks the slice;
    /// without it the first slice is used.
    pub fn parse(file: &'data [u8], arch: Option<&str>) -> Result<Self> {
        let magic = file.get(..4).ok_or(if file.is_empty() {
            Error::Empty
        } else {
            Error::UnknownFormat
        })?;
        let mut c = match magic {
            [0x7f, b'E', b'L', b'F'] => elf::parse(file)?,
            [b'M', b'Z', _, _] => pe::parse(file)?,
            [0xfe, 0xed, 0xfa, 0xce | 0xcf]
            | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
            | [0xca, 0xfe, 0xba, 0xbe]
            | [0xbe, 0xba, 0xfe, 0xca] => macho::parse(file, arch)?,
            _ => return Err(Error::UnknownFormat),
        };
        if let (Some(want), false) = (arch, c.format == Format::MachO) {
            if want != c.arch {
                return Err(Error::NoSuchArch {
                    wanted: want.to_string(),
                    available: c.arch.to_string(),
                });
            }
        }
        // Every region's file bytes lie inside the file (a region that starts past its end has
        // none, at its end) and its addresses do not wrap, so that address and offset arithmetic
        // on a region cannot overflow and reading its bytes cannot fail.
        let len = file.len() as u64;
        for r in &mut c.regions {
            r.file_size = r.file_size.min(len.saturating_sub(r.offset.0));
            r.offset.0 = r.offset.0.min(len);
        }
        c.regions
            .retain(|r| r.vaddr.0.checked_add(r.mem_size.max(r.file_size)).is_some());
        // The loaded parts of a file do not overlap, but a damaged header table can describe
        // thousands of regions over the same bytes, which every scan would read again: keep
        // regions, in header order, while their bytes add up to at most twice the file.
        let mut budget = len.saturating_mul(2);
        c.regions.retain(|r| {
            let keep = r.file_size <= budget;
            if keep {
                budget -= r.file_size;
            }
            keep
        });
        c.regions.sort_by_key(|r| r.vaddr);
        Ok(c)
    }

    /// A reader over the whole file.
    pub fn reader(&self) -> Reader<'data> {
        Reader::new(self.file, 0, self.endian)
    }

    /// The first section with one of these names.
    pub fn section(&self, names: &[&str]) -> Option<&Section> {
        names
            .iter()
            .find_map(|n| self.sections.iter().find(|s| s.name == *n))
    }

    /// The file bytes of a section, as a reader (empty for bss-like sections).
    pub fn section_reader(&self, s: &Section) -> Result<Reader<'data>> {
        self.reader().sub("section", s.offset.0, s.file_size)
    }

    /// The address of a symbol, if the file has a symbol table naming it (only the names in
    /// [`WANTED_SYMBOLS`] are kept).
    pub fn symbol(&self, name: &str) -> Option<VirtAddr> {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| VirtAddr(*a))
    }

    /// The loaded region holding `vaddr`, if it is file-backed there.
    pub fn region_of(&self, vaddr: VirtAddr) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.vaddr <= vaddr);
        let r = self.regions.get(i.checked_sub(1)?)?;
        (vaddr.0 - r.vaddr.0 < r.file_size).then_some(r)
    }

    /// Whether `vaddr` is loaded but zero-filled (bss): memory with no bytes in the file.
    pub fn is_zero_fill(&self, vaddr: VirtAddr) -> bool {
        self.regions
            .iter()
            .any(|r| vaddr.0 >= r.vaddr.0 + r.file_size && vaddr.0 - r.vaddr.0 < r.mem_size)
    }

    /// The file offset of `vaddr`, if a loaded region backs it with file bytes.
    pub fn offset_of(&self, vaddr: VirtAddr) -> Option<FileOffset> {
        let r = self.region_of(vaddr)?;
        Some(FileOffset(r.offset.0 + (vaddr.0 - r.vaddr.0)))
    }

    /// The virtual address of a file offset, if a loaded region covers it.
    pub fn vaddr_of(&self, off: FileOffset) -> Option<VirtAddr> {
        self.regions
            .iter()
            .find(|r| off.0 >= r.offset.0 && off.0 - r.offset.0 < r.file_size)
            .map(|r| VirtAddr(r.vaddr.0 + (off.0 - r.offset.0)))
    }

    /// A reader from `vaddr` to the end of the file-backed part of its region.
    pub fn reader_at(&self, what: &'static str, vaddr: VirtAddr) -> Result<Reader<'data>> {
        let r = self.region_of(vaddr).ok_or(Error::Unmapped {
            what,
            vaddr: vaddr.0,
        })?;
        let start = r.offset.0 + (vaddr.0 - r.vaddr.0);
        let end = r.offset.0 + r.file_size;
        self.reader().sub(what, start, end - start)
    }

    /// A pointer-sized word at `vaddr`.
    pub fn word_at(&self, what: &'static str, vaddr: VirtAddr) -> Result<u64> {
        self.reader_at(what, vaddr)?.word(what, 0, self.ptr_size)
    }

    /// `len` bytes at `vaddr`.
    pub fn bytes_at(&self, what: &'static str, vaddr: VirtAddr, len: u64) -> Result<&'data [u8]> {
        self.reader_at(what, vaddr)?.bytes(what, 0, len)
    }
}

/// The GOARCH name of an ELF machine, given class and byte order.
fn elf_arch(machine: u16, is_64: bool, endian: Endian) -> Option<&'static str> {
    use goblin::elf::header::*;
    Some(match (machine, is_64, endian) {
        (EM_X86_64, _, _) => "amd64",
        (EM_386, _, _) => "386",
        (EM_AARCH64, _, _) => "arm64",
        (EM_ARM, _, _) => "arm",
        (EM_PPC64, _, Endian::Big) => "ppc64",
        (EM_PPC64, _, Endian::Little) => "ppc64le",
        (EM_S390, _, _) => "s390x",
        (EM_RISCV, true, _) => "riscv64",
        (EM_MIPS, true, Endian::Big) => "mips64",
        (EM_MIPS, true, Endian::Little) => "mips64le",
        (EM_MIPS, false, Endian::Big) => "mips",
        (EM_MIPS, false, Endian::Little) => "mipsle",
        (258, true, _) => "loong64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(d: &mut Vec<u8>, at: usize, bytes: &[u8]) {
        if d.len() < at + bytes.len() {
            d.resize(at + bytes.len(), 0);
        }
        d[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// A little-endian ELF64 amd64 executable with these PT_LOADs (offset, vaddr, filesz).
    fn elf(loads: &[(u64, u64, u64)]) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        put(&mut d, 0, b"\x7fELF\x02\x01\x01");
        put(&mut d, 16, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut d, 18, &0x3eu16.to_le_bytes()); // EM_X86_64
        put(&mut d, 20, &1u32.to_le_bytes());
        put(&mut d, 32, &64u64.to_le_bytes()); // e_phoff
        put(&mut d, 52, &64u16.to_le_bytes()); // e_ehsize
        put(&mut d, 54, &56u16.to_le_bytes()); // e_phentsize
        put(&mut d, 56, &(loads.len() as u16).to_le_bytes());
        put(&mut d, 58, &64u16.to_le_bytes()); // e_shentsize
        for (i, (offset, vaddr, filesz)) in loads.iter().enumerate() {
            let at = 64 + 56 * i;
            put(&mut d, at, &1u32.to_le_bytes()); // PT_LOAD
            put(&mut d, at + 4, &6u32.to_le_bytes()); // rw-
            for (o, v) in [
                (8, offset),
                (16, vaddr),
                (24, vaddr),
                (32, filesz),
                (40, filesz),
            ] {
                put(&mut d, at + o, &v.to_le_bytes());
            }
        }
        d.resize(0x1000, 0);
        d
    }

    #[test]
    fn regions_stay_inside_the_file_and_the_address_space() {
        let d = elf(&[
            (0, 0x40_0000, 0x1000),
            // Runs past the end of the file: cut to what is there.
            (0x800, 0x50_0000, 0x10_0000),
            // Starts past the end of the file: no bytes.
            (0x10_0000, 0x60_0000, 0x1000),
            // Wraps around the top of the address space: dropped.
            (0, u64::MAX - 0xff, 0x1000),
        ]);
        let c = Container::parse(&d, None).unwrap();
        let sizes: Vec<(u64, u64)> = c.regions.iter().map(|r| (r.vaddr.0, r.file_size)).collect();
        assert_eq!(
            sizes,
            [(0x40_0000, 0x1000), (0x50_0000, 0x800), (0x60_0000, 0)]
        );
        assert_eq!(c.offset_of(VirtAddr(0x50_07ff)), Some(FileOffset(0xfff)));
        assert_eq!(c.offset_of(VirtAddr(0x50_0800)), None);
        assert_eq!(c.offset_of(VirtAddr(u64::MAX)), None);
        // And nothing on the way to "not Go" overflows: the scans walk every writable region.
        assert_eq!(crate::GoBinary::parse(&d).err(), Some(Error::NotGo));
    }

    #[test]
    fn overlapping_regions_add_up_to_twice_the_file_at_most() {
        // Forty PT_LOADs over the whole file, at different addresses: scans would read it forty
        // times (a damaged PE section table makes thousands).
        let loads: Vec<(u64, u64, u64)> = (0..40)
            .map(|i| (0, 0x40_0000 + i * 0x1_0000, 0x1000))
            .collect();
        let d = elf(&loads);
        let c = Container::parse(&d, None).unwrap();
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.regions[1].vaddr, VirtAddr(0x41_0000));
    }

    /// A PE32+ amd64 executable with one section at RVA 0x1000, loaded at `image_base`.
    fn pe(image_base: u64) -> Vec<u8> {
        let mut d = vec![0u8; 0x400];
        put(&mut d, 0, b"MZ");
        put(&mut d, 0x3c, &0x40u32.to_le_bytes());
        put(&mut d, 0x40, b"PE\0\0");
        let coff = 0x44;
        put(&mut d, coff, &0x8664u16.to_le_bytes());
        put(&mut d, coff + 2, &1u16.to_le_bytes()); // one section
        put(&mut d, coff + 16, &240u16.to_le_bytes()); // SizeOfOptionalHeader
        put(&mut d, coff + 18, &0x22u16.to_le_bytes());
        let opt = coff + 20;
        put(&mut d, opt, &0x20bu16.to_le_bytes());
        put(&mut d, opt + 16, &0x1000u32.to_le_bytes()); // AddressOfEntryPoint
        put(&mut d, opt + 20, &0x1000u32.to_le_bytes()); // BaseOfCode
        put(&mut d, opt + 24, &image_base.to_le_bytes());
        put(&mut d, opt + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
        put(&mut d, opt + 36, &0x200u32.to_le_bytes()); // FileAlignment
        put(&mut d, opt + 40, &6u16.to_le_bytes()); // OS version
        put(&mut d, opt + 48, &6u16.to_le_bytes()); // subsystem version
        put(&mut d, opt + 56, &0x2000u32.to_le_bytes()); // SizeOfImage
        put(&mut d, opt + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
        put(&mut d, opt + 68, &3u16.to_le_bytes()); // console
        put(&mut d, opt + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
        let sect = opt + 240;
        put(&mut d, sect, b".text");
        put(&mut d, sect + 8, &0x10u32.to_le_bytes());
        put(&mut d, sect + 12, &0x1000u32.to_le_bytes());
        put(&mut d, sect + 16, &0x200u32.to_le_bytes());
        put(&mut d, sect + 20, &0x200u32.to_le_bytes());
        put(&mut d, sect + 36, &0x6000_0020u32.to_le_bytes());
        d[0x200] = 0xc3;
        d
    }

    #[test]
    fn pe_image_base_that_overflows_is_an_error() {
        let good = pe(0x40_0000);
        let c = Container::parse(&good, None).unwrap();
        assert_eq!(c.sections[0].vaddr, VirtAddr(0x40_1000));
        assert!(matches!(
            Container::parse(&pe(u64::MAX - 0xfff), None),
            Err(Error::Container { format: "PE", .. })
        ));
    }

    /// A little-endian Mach-O x86_64 executable: a `__TEXT` segment at `vmaddr` (file offset
    /// `fileoff`), LC_MAIN with `entryoff`, and LC_SYMTAB claiming `nsyms` symbols.
    fn macho(vmaddr: u64, fileoff: u64, entryoff: u64, nsyms: u32) -> Vec<u8> {
        let mut d = vec![0u8; 0x1000];
        put(&mut d, 0, &0xfeed_facfu32.to_le_bytes());
        put(&mut d, 4, &0x0100_0007u32.to_le_bytes()); // CPU_TYPE_X86_64
        put(&mut d, 8, &3u32.to_le_bytes());
        put(&mut d, 12, &2u32.to_le_bytes()); // MH_EXECUTE
        put(&mut d, 16, &3u32.to_le_bytes()); // ncmds
        put(&mut d, 20, &(72u32 + 24 + 24).to_le_bytes());
        let seg = 32;
        put(&mut d, seg, &0x19u32.to_le_bytes());
        put(&mut d, seg + 4, &72u32.to_le_bytes());
        put(&mut d, seg + 8, b"__TEXT");
        put(&mut d, seg + 24, &vmaddr.to_le_bytes());
        put(&mut d, seg + 32, &0x1000u64.to_le_bytes());
        put(&mut d, seg + 40, &fileoff.to_le_bytes());
        put(&mut d, seg + 48, &0x1000u64.to_le_bytes());
        put(&mut d, seg + 56, &5u32.to_le_bytes());
        put(&mut d, seg + 60, &5u32.to_le_bytes());
        let main = seg + 72;
        put(&mut d, main, &0x8000_0028u32.to_le_bytes());
        put(&mut d, main + 4, &24u32.to_le_bytes());
        put(&mut d, main + 8, &entryoff.to_le_bytes());
        let symtab = main + 24;
        put(&mut d, symtab, &2u32.to_le_bytes());
        put(&mut d, symtab + 4, &24u32.to_le_bytes());
        put(&mut d, symtab + 8, &0x800u32.to_le_bytes()); // symoff
        put(&mut d, symtab + 12, &nsyms.to_le_bytes());
        put(&mut d, symtab + 16, &0xc00u32.to_le_bytes()); // stroff
        put(&mut d, symtab + 20, &0x100u32.to_le_bytes()); // strsize
        d
    }

    #[test]
    fn macho_entry_point_that_overflows_is_an_error() {
        assert!(Container::parse(&macho(0x1_0000_0000, 0, 0x800, 1), None).is_ok());
        for (vmaddr, fileoff) in [(u64::MAX, 0), (0, 0x1000)] {
            assert!(matches!(
                Container::parse(&macho(vmaddr, fileoff, 0x800, 1), None),
                Err(Error::Container {
                    format: "Mach-O",
                    ..
                })
            ));
        }
    }

    #[test]
    fn macho_symbol_count_is_bounded_by_the_file() {
        // 2^32 - 1 symbols claimed in a 4 KiB file: reading stops with the file, at once.
        let start = std::time::Instant::now();
        assert!(Container::parse(&macho(0x1_0000_0000, 0, 0x800, u32::MAX), None).is_ok());
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}

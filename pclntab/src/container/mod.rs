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

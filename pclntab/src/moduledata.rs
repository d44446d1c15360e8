//! `runtime.moduledata` (`runtime/symtab.go`): where the runtime keeps the addresses of a
//! module's tables. Its layout changes with the Go release; each [`ModuleLayout`] gives the word
//! index of the fields we read, checked against the Go sources of every release it names.

use crate::container::{Container, VirtAddr};
use crate::pcheader::{PcHeader, PclnVersion};
use crate::reader::Reader;
use crate::table::TextSect;
use crate::Result;

/// A moduledata layout, named after the first Go release that used it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModuleLayout {
    /// Go 1.8 – 1.15: starts with `pclntable []byte`.
    Go18,
    /// Go 1.16 – 1.17: starts with `pcHeader *pcHeader`.
    Go116,
    /// Go 1.18 – 1.19: adds `rodata`, `gofunc`.
    Go118,
    /// Go 1.20 – 1.25: adds `covctrs`, `ecovctrs`.
    Go120,
    /// Go 1.26: adds `epclntab`; moduledata moves to its own section.
    Go126,
    /// Go 1.27: adds `typedesclen`, `itaboffset`, `itabsize`; drops `typelinks`, `itablinks`.
    Go127,
}

/// Word indices of the fields we read. `typelinks` and `itablinks` are slices (three words) and
/// follow `textsectmap` (also a slice) up to Go 1.26; Go 1.27 drops both and puts `typedesclen`
/// between `types` and `etypes`, and `itaboffset`, `itabsize` after `etypes`.
struct Words {
    ftab: u64,
    minpc: u64,
    text: u64,
    types: u64,
    etypes: u64,
    gofunc: Option<u64>,
    textsectmap: u64,
    typelinks: Option<u64>,
    itablinks: Option<u64>,
    typedesclen: Option<u64>,
    itaboffset: Option<u64>,
}

impl ModuleLayout {
    /// The layouts that go with a pclntab layout, newest first.
    pub fn candidates(v: PclnVersion) -> &'static [ModuleLayout] {
        match v {
            PclnVersion::Go12 => &[ModuleLayout::Go18],
            PclnVersion::Go116 => &[ModuleLayout::Go116],
            PclnVersion::Go118 => &[ModuleLayout::Go118],
            PclnVersion::Go120 => &[
                ModuleLayout::Go127,
                ModuleLayout::Go126,
                ModuleLayout::Go120,
            ],
        }
    }

    /// The pclntab layout this moduledata layout goes with.
    pub fn pcln_version(self) -> PclnVersion {
        match self {
            ModuleLayout::Go18 => PclnVersion::Go12,
            ModuleLayout::Go116 => PclnVersion::Go116,
            ModuleLayout::Go118 => PclnVersion::Go118,
            _ => PclnVersion::Go120,
        }
    }

    fn words(self) -> Words {
        match self {
            ModuleLayout::Go18 => Words {
                ftab: 3,
                minpc: 10,
                text: 12,
                types: 25,
                etypes: 26,
                gofunc: None,
                textsectmap: 27,
                typelinks: Some(30),
                itablinks: Some(33),
                typedesclen: None,
                itaboffset: None,
            },
            ModuleLayout::Go116 => Words {
                ftab: 16,
                minpc: 20,
                text: 22,
                types: 35,
                etypes: 36,
                gofunc: None,
                textsectmap: 37,
                typelinks: Some(40),
                itablinks: Some(43),
                typedesclen: None,
                itaboffset: None,
            },
            ModuleLayout::Go118 => Words {
                gofunc: Some(38),
                textsectmap: 39,
                typelinks: Some(42),
                itablinks: Some(45),
                ..ModuleLayout::Go116.words()
            },
            ModuleLayout::Go120 => Words {
                types: 37,
                etypes: 38,
                gofunc: Some(40),
                textsectmap: 41,
                typelinks: Some(44),
                itablinks: Some(47),
                ..ModuleLayout::Go116.words()
            },
            ModuleLayout::Go126 => Words {
                textsectmap: 42,
                typelinks: Some(45),
                itablinks: Some(48),
                ..ModuleLayout::Go120.words()
            },
            ModuleLayout::Go127 => Words {
                typedesclen: Some(38),
                etypes: 39,
                itaboffset: Some(40),
                gofunc: Some(43),
                textsectmap: 45,
                typelinks: None,
                itablinks: None,
                ..ModuleLayout::Go120.words()
            },
        }
    }

    /// A name for messages: "1.8", "1.16", ...
    pub fn name(self) -> &'static str {
        match self {
            ModuleLayout::Go18 => "1.8",
            ModuleLayout::Go116 => "1.16",
            ModuleLayout::Go118 => "1.18",
            ModuleLayout::Go120 => "1.20",
            ModuleLayout::Go126 => "1.26",
            ModuleLayout::Go127 => "1.27",
        }
    }
}

/// The fields of `runtime.moduledata` that gosyms uses. Addresses are virtual addresses.
#[derive(Debug, Clone)]
pub struct ModuleData {
    /// Where it is.
    pub vaddr: VirtAddr,
    /// Its layout.
    pub layout: ModuleLayout,
    /// `pcHeader` (1.16+) or `pclntable.ptr`: the pclntab it describes.
    pub pclntab: u64,
    /// `ftab` data pointer and length.
    pub ftab: (u64, u64),
    /// `minpc`, `maxpc`.
    pub minpc: u64,
    /// `maxpc`.
    pub maxpc: u64,
    /// `text`: function entry offsets count from here (1.18+).
    pub text: u64,
    /// `etext`.
    pub etext: u64,
    /// `types`, `etypes`.
    pub types: (u64, u64),
    /// `gofunc` (1.18+): FUNCDATA offsets count from here.
    pub gofunc: Option<u64>,
    /// `textsectmap`.
    pub textsectmap: Vec<TextSect>,
    /// `typelinks` data pointer and length (up to 1.26): offsets (`int32`) from `types` of the
    /// type descriptors reflect needs to find.
    pub typelinks: Option<(u64, u64)>,
    /// `itablinks` data pointer and length (up to 1.26): pointers to the itabs the linker wrote.
    pub itablinks: Option<(u64, u64)>,
    /// `typedesclen` (1.27+): the typelink descriptors run from `types + ptrsize` to
    /// `types + typedesclen`, one after the other.
    pub typedesclen: Option<u64>,
    /// `itaboffset`, `itabsize` (1.27+): the itabs run from `types + itaboffset`, for `itabsize`
    /// bytes.
    pub itabs: Option<(u64, u64)>,
}

/// At most this many text sections are believed (Go splits text every 0x1000000 bytes or so on a few
/// architectures; 256 sections is far more than any real binary).
const MAX_TEXTSECTS: u64 = 256;

impl ModuleData {
    /// Reads moduledata at `vaddr` in `layout`, and checks that it describes the pclntab at
    /// `pclntab` with header `h`: the pointer to pclntab, the function table's address and length,
    /// `text <= minpc < maxpc <= etext`, and a text section map that starts at offset 0 of `text`.
    pub fn parse(
        c: &Container<'_>,
        vaddr: VirtAddr,
        layout: ModuleLayout,
        pclntab: VirtAddr,
        h: &PcHeader,
    ) -> Option<ModuleData> {
        let r = c.reader_at("moduledata", vaddr).ok()?;
        let p = u64::from(c.ptr_size);
        let w = |i: u64| r.word("moduledata", i * p, c.ptr_size).ok();
        let words = layout.words();
        let md = ModuleData {
            vaddr,
            layout,
            pclntab: w(0)?,
            ftab: (w(words.ftab)?, w(words.ftab + 1)?),
            minpc: w(words.minpc)?,
            maxpc: w(words.minpc + 1)?,
            text: w(words.text)?,
            etext: w(words.text + 1)?,
            types: (w(words.types)?, w(words.etypes)?),
            gofunc: match words.gofunc {
                Some(i) => Some(w(i)?),
                None => None,
            },
            textsectmap: Vec::new(),
            typelinks: match words.typelinks {
                Some(i) => Some((w(i)?, w(i + 1)?)),
                None => None,
            },
            itablinks: match words.itablinks {
                Some(i) => Some((w(i)?, w(i + 1)?)),
                None => None,
            },
            typedesclen: match words.typedesclen {
                Some(i) => Some(w(i)?),
                None => None,
            },
            itabs: match words.itaboffset {
                Some(i) => Some((w(i)?, w(i + 1)?)),
                None => None,
            },
        };
        if md.pclntab != pclntab.0
            || md.ftab.0 != pclntab.0.checked_add(h.pcln_offset)?
            || md.ftab.1 != h.nfunc.checked_add(1)?
            || !(md.text <= md.minpc && md.minpc < md.maxpc && md.maxpc <= md.etext)
            || md.types.0 > md.types.1
        {
            return None;
        }
        let (tsm, tsm_len, tsm_cap) = (
            w(words.textsectmap)?,
            w(words.textsectmap + 1)?,
            w(words.textsectmap + 2)?,
        );
        if tsm_len > MAX_TEXTSECTS || tsm_len > tsm_cap {
            return None;
        }
        let sects = if tsm_len == 0 {
            Reader::new(&[], 0, c.endian)
        } else {
            c.reader_at("moduledata.textsectmap", VirtAddr(tsm)).ok()?
        };
        let mut textsectmap = Vec::new();
        for i in 0..tsm_len {
            let at = i * 3 * p;
            textsectmap.push(TextSect {
                vaddr: sects.word("textsect.vaddr", at, c.ptr_size).ok()?,
                end: sects.word("textsect.end", at + p, c.ptr_size).ok()?,
                baseaddr: sects
                    .word("textsect.baseaddr", at + 2 * p, c.ptr_size)
                    .ok()?,
            });
        }
        if let Some(first) = textsectmap.first() {
            if first.vaddr != 0 || first.baseaddr != md.text {
                return None;
            }
        }
        Some(ModuleData { textsectmap, ..md })
    }

    /// Finds the moduledata that describes the pclntab at `pclntab`: in its own section (Go
    /// 1.26+), at the `runtime.firstmoduledata` symbol, or by scanning writable data for a word
    /// that points to pclntab. `layouts` are tried in order.
    pub fn find(
        c: &Container<'_>,
        pclntab: VirtAddr,
        h: &PcHeader,
        layouts: &[ModuleLayout],
    ) -> Option<ModuleData> {
        let try_at = |at: VirtAddr| {
            layouts
                .iter()
                .find_map(|l| ModuleData::parse(c, at, *l, pclntab, h))
        };
        if let Some(s) = c.section(&[".go.module", "__go_module"]) {
            if let Some(md) = try_at(s.vaddr) {
                return Some(md);
            }
        }
        if let Some(md) = c.symbol("runtime.firstmoduledata").and_then(try_at) {
            return Some(md);
        }
        let pattern = match (c.ptr_size, c.endian) {
            (8, crate::Endian::Little) => pclntab.0.to_le_bytes().to_vec(),
            (8, crate::Endian::Big) => pclntab.0.to_be_bytes().to_vec(),
            (_, crate::Endian::Little) => (pclntab.0 as u32).to_le_bytes().to_vec(),
            (_, crate::Endian::Big) => (pclntab.0 as u32).to_be_bytes().to_vec(),
        };
        let finder = memchr::memmem::Finder::new(&pattern);
        for reg in c.regions.iter().filter(|r| r.writable) {
            let Ok(data) = c.reader().bytes("data", reg.offset.0, reg.file_size) else {
                continue;
            };
            for i in finder.find_iter(data) {
                if i as u64 & (u64::from(c.ptr_size) - 1) != 0 {
                    continue;
                }
                if let Some(md) = try_at(VirtAddr(reg.vaddr.0 + i as u64)) {
                    return Some(md);
                }
            }
        }
        None
    }
}

/// Candidate pclntab addresses for a table whose magic was overwritten: each aligned word in
/// writable data that points into read-only file-backed data (any file-backed data in Mach-O)
/// where a plausible header (zero padding, a valid quantum, this file's pointer size) sits.
pub(crate) fn headerless_candidates(c: &Container<'_>) -> Result<Vec<VirtAddr>> {
    let mut out = Vec::new();
    let p = u64::from(c.ptr_size);
    for reg in c.regions.iter().filter(|r| r.writable) {
        let data = c.reader().sub("data", reg.offset.0, reg.file_size)?;
        let mut off = 0;
        while off + p <= data.len() {
            let v = data.word("data", off, c.ptr_size)?;
            off += p;
            let Some(target) = c.region_of(VirtAddr(v)) else {
                continue;
            };
            // Mach-O puts pclntab in `__TEXT` (r-x) or `__DATA_CONST` (rw- until relocated):
            // there the header check alone must do.
            if c.format != crate::Format::MachO && (target.writable || target.executable) {
                continue;
            }
            let Ok(b) = c.bytes_at("pcHeader", VirtAddr(v), 8) else {
                continue;
            };
            if let [_, _, _, _, 0, 0, q, ps] = *b {
                if matches!(q, 1 | 2 | 4) && u64::from(ps) == p && !out.contains(&VirtAddr(v)) {
                    out.push(VirtAddr(v));
                }
            }
            if out.len() >= 64 {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

//! Finding pclntab and the moduledata that confirms it.

use crate::container::{Container, VirtAddr};
use crate::moduledata::{self, ModuleData, ModuleLayout};
use crate::pcheader::{PcHeader, PclnVersion};
use crate::reader::{Endian, Reader};
use crate::table::{FuncLayout, LineTable, TextMap};
use crate::{Error, Result};

/// How the function table was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// Its own section (`.gopclntab`, `__gopclntab`).
    Section,
    /// The `runtime.pclntab` symbol.
    Symbol,
    /// Scanning the file for its magic number.
    Scan,
    /// Through moduledata, found by its shape (the magic was missing or altered).
    ModuleData,
}

impl FoundBy {
    /// "section", "symbol", "scan" or "moduledata".
    pub fn name(self) -> &'static str {
        match self {
            FoundBy::Section => "section",
            FoundBy::Symbol => "symbol",
            FoundBy::Scan => "scan",
            FoundBy::ModuleData => "moduledata",
        }
    }
}

pub(crate) struct Found<'data> {
    pub table: LineTable<'data>,
    pub found_by: FoundBy,
    pub moduledata: Option<ModuleData>,
}

struct Candidate<'data> {
    r: Reader<'data>,
    vaddr: VirtAddr,
    found_by: FoundBy,
}

pub(crate) fn locate<'data>(c: &Container<'data>, go_minor: Option<u32>) -> Result<Found<'data>> {
    let mut fallback: Option<Found<'data>> = None;
    let mut first_error = None;
    let mut scan_error = None;
    for cand in candidates(c)? {
        // A damaged table is worth reporting where the file names it (section, symbol); a
        // scan hit that fails the checks is just bytes that look like a magic number, unless
        // the build info says that this is a Go binary.
        let named = cand.found_by != FoundBy::Scan;
        let header = match PcHeader::parse(&cand.r, None) {
            Ok(h) if h.ptr_size == c.ptr_size => h,
            Ok(_) => continue,
            Err(e) => {
                if named {
                    first_error.get_or_insert(e);
                } else {
                    scan_error.get_or_insert(e);
                }
                continue;
            }
        };
        let layouts = ModuleLayout::candidates(header.version);
        let md = ModuleData::find(
            c,
            cand.vaddr,
            &header,
            preferred(layouts, go_minor).as_slice(),
        );
        let confirmed = md.is_some();
        match build(c, cand, header, md, go_minor) {
            Ok(found) if confirmed => return Ok(found),
            Ok(found) => {
                fallback.get_or_insert(found);
            }
            Err(e) => {
                if named {
                    first_error.get_or_insert(e);
                } else {
                    scan_error.get_or_insert(e);
                }
            }
        }
    }
    if let Some(found) = fallback {
        return Ok(found);
    }
    if let Some(found) = through_moduledata(c, go_minor)? {
        return Ok(found);
    }
    if let Some(packer) = packed(c) {
        return Err(Error::Packed(packer));
    }
    let scan_error = scan_error.filter(|_| go_minor.is_some());
    Err(first_error.or(scan_error).unwrap_or(Error::NotGo))
}

/// The moduledata layouts to try, the one the Go version names first.
fn preferred(layouts: &[ModuleLayout], go_minor: Option<u32>) -> Vec<ModuleLayout> {
    let named = go_minor.map(|m| match m {
        0..=15 => ModuleLayout::Go18,
        16 | 17 => ModuleLayout::Go116,
        18 | 19 => ModuleLayout::Go118,
        20..=25 => ModuleLayout::Go120,
        26 => ModuleLayout::Go126,
        _ => ModuleLayout::Go127,
    });
    let mut out: Vec<ModuleLayout> = named.into_iter().filter(|l| layouts.contains(l)).collect();
    out.extend(layouts.iter().filter(|l| Some(**l) != named));
    out
}

/// Where pclntab may be, most trustworthy first.
fn candidates<'data>(c: &Container<'data>) -> Result<Vec<Candidate<'data>>> {
    let mut out = Vec::new();
    let file = c.reader();
    if let Some(s) = c.section(&[".gopclntab", "__gopclntab", ".data.rel.ro.gopclntab"]) {
        if let Ok(r) = c.section_reader(s) {
            let vaddr = if s.vaddr.0 != 0 {
                s.vaddr
            } else {
                c.vaddr_of(s.offset).unwrap_or(s.vaddr)
            };
            out.push(Candidate {
                r,
                vaddr,
                found_by: FoundBy::Section,
            });
        }
    }
    for name in ["runtime.pclntab", "pclntab"] {
        if let Some(v) = c.symbol(name) {
            if let Ok(r) = c.reader_at("runtime.pclntab", v) {
                out.push(Candidate {
                    r,
                    vaddr: v,
                    found_by: FoundBy::Symbol,
                });
            }
        }
    }
    if out.is_empty() {
        // Scan every loaded, file-backed region that is not code (code last, for old PE files
        // that keep pclntab in .text).
        let mut regions: Vec<_> = c.regions.iter().collect();
        regions.sort_by_key(|r| r.executable);
        for reg in regions {
            let region = file.sub("region", reg.offset.0, reg.file_size)?;
            for off in scan_magic(region.data(), c.endian) {
                // A region that ends past the top of the address space holds no table there.
                let Some(vaddr) = reg.vaddr.0.checked_add(off) else {
                    continue;
                };
                out.push(Candidate {
                    r: region.tail("pclntab", off)?,
                    vaddr: VirtAddr(vaddr),
                    found_by: FoundBy::Scan,
                });
            }
        }
    }
    Ok(out)
}

/// Offsets of every pclntab magic (of any version) in `data`, in the file's byte order,
/// followed by the two zero bytes of padding.
fn scan_magic(data: &[u8], endian: Endian) -> Vec<u64> {
    let mut out = Vec::new();
    match endian {
        Endian::Little => {
            // LE magics are `fX ff ff ff 00 00`: search the common tail once.
            for i in memchr::memmem::find_iter(data, b"\xff\xff\xff\x00\x00") {
                if i >= 1
                    && data
                        .get(i - 1)
                        .is_some_and(|b| matches!(b, 0xfb | 0xfa | 0xf0 | 0xf1))
                    && (i - 1) % 4 == 0
                {
                    out.push(i as u64 - 1);
                }
            }
        }
        Endian::Big => {
            for v in [
                PclnVersion::Go120,
                PclnVersion::Go118,
                PclnVersion::Go116,
                PclnVersion::Go12,
            ] {
                let mut pat = v.magic().to_be_bytes().to_vec();
                pat.extend([0, 0]);
                out.extend(
                    memchr::memmem::find_iter(data, &pat)
                        .filter(|i| i % 4 == 0)
                        .map(|i| i as u64),
                );
            }
        }
    }
    out
}

/// When no magic was found: look for moduledata by its shape and take the pclntab it points to.
fn through_moduledata<'data>(
    c: &Container<'data>,
    go_minor: Option<u32>,
) -> Result<Option<Found<'data>>> {
    let all = [
        ModuleLayout::Go127,
        ModuleLayout::Go126,
        ModuleLayout::Go120,
        ModuleLayout::Go118,
        ModuleLayout::Go116,
        ModuleLayout::Go18,
    ];
    let layouts = preferred(&all, go_minor);
    for vaddr in moduledata::headerless_candidates(c)? {
        let Ok(r) = c.reader_at("pclntab", vaddr) else {
            continue;
        };
        for layout in &layouts {
            let r = Reader::new(r.data(), r.base(), c.endian);
            let Ok(header) = PcHeader::parse(&r, Some(layout.pcln_version())) else {
                continue;
            };
            let Some(md) = ModuleData::find(c, vaddr, &header, &[*layout]) else {
                continue;
            };
            let cand = Candidate {
                r,
                vaddr,
                found_by: FoundBy::ModuleData,
            };
            if let Ok(found) = build(c, cand, header, Some(md), go_minor) {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

fn build<'data>(
    c: &Container<'data>,
    cand: Candidate<'data>,
    header: PcHeader,
    md: Option<ModuleData>,
    go_minor: Option<u32>,
) -> Result<Found<'data>> {
    let text = match header.version {
        PclnVersion::Go12 | PclnVersion::Go116 => TextMap::default(),
        PclnVersion::Go118 | PclnVersion::Go120 => match &md {
            Some(md) => TextMap {
                start: md.text,
                sections: md.textsectmap.clone(),
            },
            None => TextMap {
                start: text_start_without_moduledata(c, &header),
                sections: Vec::new(),
            },
        },
    };
    let layout = match header.version {
        PclnVersion::Go12 => match go_minor {
            Some(m) if m < 12 => FuncLayout::Go12,
            Some(_) => FuncLayout::Go112,
            None => guess_go12_layout(&cand.r, &header),
        },
        PclnVersion::Go116 => FuncLayout::Go116,
        PclnVersion::Go118 => FuncLayout::Go118,
        PclnVersion::Go120 => FuncLayout::Go120,
    };
    let table = LineTable::new(cand.r, header, cand.vaddr, layout, text)?;
    // Sanity: the first function must be readable and its entry must be code.
    let first = table.func(0)?;
    if md.is_none()
        && !c.regions.iter().any(|r| {
            r.executable && first.entry.0 >= r.vaddr.0 && first.entry.0 - r.vaddr.0 < r.mem_size
        })
    {
        return Err(Error::BadValue {
            what: "functab[0].entry (not in code)",
            offset: cand.r.base(),
            value: first.entry.0,
        });
    }
    Ok(Found {
        table,
        found_by: cand.found_by,
        moduledata: md,
    })
}

/// The text start of a Go 1.18+ table when moduledata was not found: the header's `textStart`
/// (written up to Go 1.26), else the `runtime.text` symbol, else the `.text` section.
fn text_start_without_moduledata(c: &Container<'_>, h: &PcHeader) -> u64 {
    if h.text_start != 0 {
        return h.text_start;
    }
    if let Some(v) = c.symbol("runtime.text") {
        return v.0;
    }
    c.section(&[".text", "__text"])
        .map(|s| s.vaddr.0)
        .unwrap_or(0)
}

/// Go 1.2 – 1.11 and 1.12 – 1.15 share a magic but not the `_func` layout. In little-endian
/// files the old `int32 nfuncdata` leaves the byte the new layout reads as `nfuncdata` zero in
/// every record, while real Go 1.12+ functions almost all have FUNCDATA.
fn guess_go12_layout(r: &Reader<'_>, h: &PcHeader) -> FuncLayout {
    if h.endian == Endian::Big {
        // Both layouts put nfuncdata in the last byte of the same big-endian word.
        return FuncLayout::Go112;
    }
    let p = u64::from(h.ptr_size);
    let n = h.nfunc.min(64);
    for i in 0..n {
        let Ok(funcoff) = r.word("functab.funcoff", 8 + p + i * 2 * p + p, h.ptr_size) else {
            break;
        };
        let Some(at) = funcoff.checked_add(p + 31) else {
            continue;
        };
        if r.u8("_func.nfuncdata", at).is_ok_and(|b| b != 0) {
            return FuncLayout::Go112;
        }
    }
    FuncLayout::Go12
}

/// The packer, if the file is packed (UPX leaves its marks in section names and near the start).
fn packed(c: &Container<'_>) -> Option<&'static str> {
    let upx_sections = c
        .sections
        .iter()
        .any(|s| s.name.starts_with("UPX") || s.name.starts_with(".upx"));
    let head = c.file.get(..c.file.len().min(4096)).unwrap_or_default();
    (upx_sections || memchr::memmem::find(head, b"UPX!").is_some()).then_some("UPX")
}

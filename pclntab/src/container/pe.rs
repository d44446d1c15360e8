//! PE/COFF, 32 and 64 bit.

use super::{Container, FileOffset, Format, Region, Section, VirtAddr, WANTED_SYMBOLS};
use crate::reader::Endian;
use crate::{Error, Result};
use goblin::pe::{section_table::*, PE};

pub(super) fn parse(file: &[u8]) -> Result<Container<'_>> {
    // Only the headers, sections and COFF symbols are needed: imports, resources, TLS data and
    // certificates are not read, and damage to the other data directories (relocations,
    // exceptions, debug) is ignored, so that a file cut short after its pclntab still parses.
    let mut opts = goblin::pe::options::ParseOptions::default()
        .with_parse_mode(goblin::options::ParseMode::Permissive);
    opts.parse_imports = false;
    opts.parse_resources = false;
    opts.parse_tls_data = false;
    opts.parse_attribute_certificates = false;
    let pe = PE::parse_with_opts(file, &opts).map_err(|e| Error::Container {
        format: "PE",
        message: e.to_string(),
    })?;
    let machine = pe.header.coff_header.machine;
    let arch = match machine {
        0x8664 => "amd64",
        0x14c => "386",
        0xaa64 => "arm64",
        0x1c0 | 0x1c4 => "arm",
        m => return Err(Error::UnsupportedArch(format!("PE machine {m:#x}"))),
    };
    let base = pe.image_base;
    let sections = pe
        .sections
        .iter()
        .map(|s| {
            // Long names (.debug_info, .zdebug_*) live in the COFF string table.
            let name = s
                .real_name
                .clone()
                .unwrap_or_else(|| s.name().unwrap_or("").to_string());
            let file_size = u64::from(
                s.size_of_raw_data
                    .min(s.virtual_size.max(s.size_of_raw_data)),
            );
            let vaddr = base
                .checked_add(u64::from(s.virtual_address))
                .ok_or_else(|| Error::Container {
                    format: "PE",
                    message: format!("section {name}: image base + address overflows"),
                })?;
            Ok(Section {
                name,
                vaddr: VirtAddr(vaddr),
                size: u64::from(s.virtual_size),
                offset: FileOffset(u64::from(s.pointer_to_raw_data)),
                file_size: if s.pointer_to_raw_data == 0 {
                    0
                } else {
                    file_size
                },
                writable: s.characteristics & IMAGE_SCN_MEM_WRITE != 0,
                executable: s.characteristics & IMAGE_SCN_MEM_EXECUTE != 0,
            })
        })
        .collect::<Result<Vec<Section>>>()?;
    let regions = sections
        .iter()
        .map(|s| Region {
            vaddr: s.vaddr,
            mem_size: s.size,
            offset: s.offset,
            // Raw data is padded to the file alignment: only the part inside the virtual
            // size belongs to the section in memory.
            file_size: s
                .file_size
                .min(if s.size == 0 { s.file_size } else { s.size })
                .min((file.len() as u64).saturating_sub(s.offset.0)),
            writable: s.writable,
            executable: s.executable,
        })
        .collect();

    // COFF symbols: Go writes them unless linked with -s.
    let coff = &pe.header.coff_header;
    let mut symbols = Vec::new();
    if let Ok(Some(table)) = coff.symbols(file) {
        let strings = coff.strings(file).ok().flatten();
        for (_, name, sym) in table.iter() {
            let name = match (name, &strings) {
                (Some(n), _) => Some(n),
                (None, Some(st)) => name_offset(&sym).and_then(|o| st.get_at(o as usize)),
                _ => None,
            };
            let Some(name) = name else { continue };
            if !WANTED_SYMBOLS.contains(&name) || sym.section_number < 1 {
                continue;
            }
            let Some(sect) = pe.sections.get(sym.section_number as usize - 1) else {
                continue;
            };
            let Some(addr) = base
                .checked_add(u64::from(sect.virtual_address))
                .and_then(|a| a.checked_add(u64::from(sym.value)))
            else {
                continue;
            };
            symbols.push((name.to_string(), addr));
        }
    }
    let stripped = coff.number_of_symbol_table == 0;
    let dll_chars = pe
        .header
        .optional_header
        .map(|o| o.windows_fields.dll_characteristics)
        .unwrap_or(0);

    Ok(Container {
        file,
        format: Format::Pe,
        arch,
        os: Some("windows"),
        endian: Endian::Little,
        ptr_size: if pe.is_64 { 8 } else { 4 },
        pie: dll_chars & 0x40 != 0,
        stripped,
        has_dwarf: sections
            .iter()
            .any(|s| s.name.starts_with(".debug_") || s.name.starts_with(".zdebug_")),
        sections,
        regions,
        other_arches: Vec::new(),
        symbols,
    })
}

/// The string-table offset of a COFF symbol's name, `None` for a name stored inline: goblin's
/// `Symbol::name_offset`, which subtracts the table's 4-byte length field without checking (and
/// so panics, with overflow checks on, on an offset below 4).
fn name_offset(sym: &goblin::pe::symbol::Symbol) -> Option<u32> {
    if sym.name.first() != Some(&0) {
        return None;
    }
    let off = u32::from_le_bytes(sym.name.get(4..8)?.try_into().ok()?);
    off.checked_sub(4)
}

//! DWARF from pclntab, written with `gimli::write`: a compilation unit per Go compilation unit
//! (package), a subprogram per function with its inlined calls, a line table per function, and
//! call frame information from the stack pointer deltas.
//!
//! Units are written one at a time into the same sections, each with its own abbreviations and
//! range lists, so only one unit is in memory at once.

use crate::collect::FuncInfo;
use crate::hash::FxMap;
use crate::Result;
use gimli::write::{
    Address, AttributeValue, CallFrameInstruction, CommonInformationEntry, DwarfUnit, EndianVec,
    Expression, FileId, FrameDescriptionEntry, FrameTable, LineProgram, LineString, Range,
    RangeList, Sections, UnitEntryId,
};
use gimli::{constants, Encoding, Format, LineEncoding, Register, RunTimeEndian};

/// How an architecture's call frames work, as Go's linker describes them in `.debug_frame`
/// (`cmd/link/internal/ld/dwarf.go`, `writeframes`; registers from each `cmd/link/internal/*/l.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameArch {
    /// DWARF number of the stack pointer.
    pub sp: u16,
    /// DWARF number of the return address (the link register, or a pseudo-register on x86).
    pub ra: u16,
    /// Calls leave the return address in a link register (not on the stack).
    pub has_lr: bool,
}

impl FrameArch {
    /// The frame layout of GOARCH `arch`, if Go targets it with ELF.
    pub fn of(arch: &str) -> Option<FrameArch> {
        let (sp, ra, has_lr) = match arch {
            "amd64" => (7, 16, false),
            "386" => (4, 8, false),
            "arm" => (13, 14, true),
            "arm64" => (31, 30, true),
            "loong64" => (3, 1, true),
            "mips" | "mipsle" | "mips64" | "mips64le" => (29, 31, true),
            "ppc64" | "ppc64le" => (1, 65, true),
            "riscv64" => (2, 1, true),
            "s390x" => (15, 14, true),
            _ => return None,
        };
        Some(FrameArch { sp, ra, has_lr })
    }
}

/// Go's `DW_LANG_Go`.
const PRODUCER: &[u8] = b"gosyms unstrip (from pclntab)";
/// Go's linker factors data offsets by -4 on every architecture.
const DATA_ALIGNMENT: i8 = -4;

/// How units are encoded: byte order aside, what every thread that builds units shares.
#[derive(Debug, Clone, Copy)]
pub struct UnitFormat {
    encoding: Encoding,
    ptr_size: u8,
    frame: Option<FrameArch>,
}

impl UnitFormat {
    /// Units for a binary of this pointer size; `frame` is `None` for an architecture whose
    /// frames are unknown (no `.debug_frame` then).
    pub fn new(ptr_size: u8, frame: Option<FrameArch>) -> Self {
        UnitFormat {
            encoding: Encoding {
                format: Format::Dwarf32,
                version: 4,
                address_size: ptr_size,
            },
            ptr_size,
            frame,
        }
    }

    /// Builds the DWARF of one compilation unit, named `name`, holding `funcs` (in address
    /// order); units are built on any thread, then written in order with [`Builder::write`].
    pub fn build(&self, name: &[u8], funcs: &[FuncInfo<'_>]) -> Result<BuiltUnit> {
        let mut unit = UnitWriter::new(self.encoding, name);
        for f in funcs.iter().filter(|f| f.size > 0) {
            unit.function(f);
        }
        let (subprograms, inlined) = (unit.subprograms, unit.inlined);
        Ok(BuiltUnit {
            dwarf: unit.finish(funcs)?,
            frames: self
                .frame
                .map(|arch| frames(self.encoding, self.ptr_size, arch, funcs)),
            subprograms,
            inlined,
        })
    }
}

/// The DWARF sections being written, one unit after the other.
pub struct Builder {
    sections: Sections<EndianVec<RunTimeEndian>>,
    /// Subprograms written.
    pub subprograms: usize,
    /// Inlined calls written.
    pub inlined: usize,
}

impl Builder {
    /// Sections in this byte order.
    pub fn new(endian: RunTimeEndian) -> Self {
        Builder {
            sections: Sections::new(EndianVec::new(endian)),
            subprograms: 0,
            inlined: 0,
        }
    }

    /// Writes a unit after the ones written before.
    pub fn write(&mut self, mut unit: BuiltUnit) -> Result<()> {
        self.subprograms += unit.subprograms;
        self.inlined += unit.inlined;
        unit.dwarf.write(&mut self.sections)?;
        if let Some(frames) = unit.frames {
            frames.write_debug_frame(&mut self.sections.debug_frame)?;
        }
        Ok(())
    }

    /// The sections, by name, leaving out empty ones.
    pub fn finish(mut self) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        let _ = self
            .sections
            .for_each_mut(|id, data| -> std::result::Result<(), ()> {
                if !data.slice().is_empty() {
                    out.push((id.name(), data.take()));
                }
                Ok(())
            });
        out
    }
}

/// One compilation unit's DWARF, built and not yet written.
pub struct BuiltUnit {
    dwarf: DwarfUnit,
    frames: Option<FrameTable>,
    subprograms: usize,
    inlined: usize,
}

/// One compilation unit being built.
struct UnitWriter<'a> {
    dwarf: DwarfUnit,
    /// By where the name is in the file and its length.
    files: FxMap<(usize, usize), FileId>,
    /// The abstract subprogram of each inlined function, by name.
    abstracts: FxMap<&'a [u8], UnitEntryId>,
    cfa: Expression,
    subprograms: usize,
    inlined: usize,
}

/// `name`, or `?` for an empty one (DWARF 4 file names and unit names cannot be empty).
fn non_empty(name: &[u8]) -> Vec<u8> {
    if name.is_empty() {
        b"?".to_vec()
    } else {
        name.to_vec()
    }
}

impl<'a> UnitWriter<'a> {
    fn new(encoding: Encoding, name: &[u8]) -> Self {
        let program = LineProgram::new(
            encoding,
            LineEncoding::default(),
            LineString::String(b".".to_vec()),
            None,
            LineString::String(non_empty(name)),
            None,
        );
        let mut dwarf = DwarfUnit::new(encoding);
        dwarf.unit.line_program = program;
        let root = dwarf.unit.root();
        let die = dwarf.unit.get_mut(root);
        die.set(
            constants::DW_AT_name,
            AttributeValue::String(non_empty(name)),
        );
        die.set(
            constants::DW_AT_language,
            AttributeValue::Language(constants::DW_LANG_Go),
        );
        die.set(
            constants::DW_AT_producer,
            AttributeValue::String(PRODUCER.to_vec()),
        );
        die.set(
            constants::DW_AT_comp_dir,
            AttributeValue::String(b".".to_vec()),
        );
        let mut cfa = Expression::new();
        cfa.op(constants::DW_OP_call_frame_cfa);
        UnitWriter {
            dwarf,
            files: FxMap::default(),
            abstracts: FxMap::default(),
            cfa,
            subprograms: 0,
            inlined: 0,
        }
    }

    fn file(&mut self, name: Option<&'a [u8]>) -> FileId {
        let name = name.unwrap_or(b"?");
        // File names are borrowed from pclntab's file table, where each is stored once: the
        // same name is the same bytes, and where and how long they are is the key. (Equal names
        // stored twice get one file all the same: the line program keeps each name once.)
        let key = (name.as_ptr() as usize, name.len());
        if let Some(id) = self.files.get(&key) {
            return *id;
        }
        let program = &mut self.dwarf.unit.line_program;
        let dir = program.default_directory();
        let id = program.add_file(LineString::String(non_empty(name)), dir, None);
        self.files.insert(key, id);
        id
    }

    /// The abstract subprogram that inlined calls of `name` point to.
    fn abstract_subprogram(&mut self, name: &'a [u8], decl_line: Option<u32>) -> UnitEntryId {
        if let Some(id) = self.abstracts.get(name) {
            return *id;
        }
        let unit = &mut self.dwarf.unit;
        let id = unit.add(unit.root(), constants::DW_TAG_subprogram);
        let die = unit.get_mut(id);
        die.set(constants::DW_AT_name, AttributeValue::String(name.to_vec()));
        die.set(
            constants::DW_AT_inline,
            AttributeValue::Inline(constants::DW_INL_inlined),
        );
        if let Some(line) = decl_line {
            die.set(
                constants::DW_AT_decl_line,
                AttributeValue::Udata(line.into()),
            );
        }
        die.set(constants::DW_AT_external, AttributeValue::Flag(true));
        self.abstracts.insert(name, id);
        id
    }

    /// A range attribute for `[entry + start, entry + end)` pieces: low/high PC for one piece,
    /// a range list for more.
    fn set_ranges(&mut self, id: UnitEntryId, entry: u64, ranges: &[(u32, u32)]) {
        let unit = &mut self.dwarf.unit;
        match ranges {
            [(start, end)] => {
                let die = unit.get_mut(id);
                die.set(
                    constants::DW_AT_low_pc,
                    AttributeValue::Address(Address::Constant(entry + u64::from(*start))),
                );
                die.set(
                    constants::DW_AT_high_pc,
                    AttributeValue::Udata(u64::from(end - start)),
                );
            }
            _ => {
                let list = RangeList(
                    ranges
                        .iter()
                        .map(|(s, e)| Range::StartLength {
                            begin: Address::Constant(entry + u64::from(*s)),
                            length: u64::from(e - s),
                        })
                        .collect(),
                );
                let list = unit.ranges.add(list);
                unit.get_mut(id)
                    .set(constants::DW_AT_ranges, AttributeValue::RangeListRef(list));
            }
        }
    }

    /// The subprogram, its inlined calls and its line table.
    fn function(&mut self, f: &FuncInfo<'a>) {
        self.subprograms += 1;
        let entry_file = f.rows.first().filter(|r| r.offset == 0).map(|r| r.file);
        let decl_file = entry_file.map(|name| self.file(name));
        let unit = &mut self.dwarf.unit;
        let sub = unit.add(unit.root(), constants::DW_TAG_subprogram);
        let die = unit.get_mut(sub);
        die.set(
            constants::DW_AT_name,
            AttributeValue::String(f.name.to_vec()),
        );
        die.set(
            constants::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(f.entry)),
        );
        die.set(constants::DW_AT_high_pc, AttributeValue::Udata(f.size));
        die.set(
            constants::DW_AT_frame_base,
            AttributeValue::Exprloc(self.cfa.clone()),
        );
        if let (Some(line), Some(file)) = (f.decl_line, decl_file) {
            die.set(
                constants::DW_AT_decl_file,
                AttributeValue::FileIndex(Some(file)),
            );
            die.set(
                constants::DW_AT_decl_line,
                AttributeValue::Udata(line.into()),
            );
        }
        die.set(constants::DW_AT_external, AttributeValue::Flag(true));

        // Parents come before children, so each call's parent DIE exists when it is added.
        let mut ids: Vec<UnitEntryId> = Vec::with_capacity(f.inlined.len());
        for call in &f.inlined {
            self.inlined += 1;
            let origin = self.abstract_subprogram(call.name, call.decl_line);
            let call_file = self.file(call.call_file);
            let parent = call.parent.and_then(|p| ids.get(p).copied()).unwrap_or(sub);
            let unit = &mut self.dwarf.unit;
            let id = unit.add(parent, constants::DW_TAG_inlined_subroutine);
            let die = unit.get_mut(id);
            die.set(
                constants::DW_AT_abstract_origin,
                AttributeValue::UnitRef(origin),
            );
            die.set(
                constants::DW_AT_call_file,
                AttributeValue::FileIndex(Some(call_file)),
            );
            die.set(
                constants::DW_AT_call_line,
                AttributeValue::Udata(call.call_line.into()),
            );
            self.set_ranges(id, f.entry, &call.ranges);
            ids.push(id);
        }

        if f.rows.is_empty() {
            return;
        }
        // (offset, file, line, prologue end)
        let mut rows: Vec<(u32, FileId, u32, bool)> = f
            .rows
            .iter()
            .map(|r| (r.offset, self.file(r.file), r.line, false))
            .collect();
        // The prologue's end is a row of its own, marked, as Go's compiler writes it.
        if let Some(pe) = f.prologue_end.filter(|pe| u64::from(*pe) < f.size) {
            match rows.binary_search_by_key(&pe, |r| r.0) {
                Ok(i) => {
                    if let Some(row) = rows.get_mut(i) {
                        row.3 = true;
                    }
                }
                Err(i) => {
                    let like = rows.get(i.saturating_sub(1)).copied();
                    if let Some((_, file, line, _)) = like {
                        rows.insert(i, (pe, file, line, true));
                    }
                }
            }
        }
        let program = &mut self.dwarf.unit.line_program;
        program.begin_sequence(Some(Address::Constant(f.entry)));
        for (offset, file, line, prologue_end) in rows {
            let row = program.row();
            row.address_offset = offset.into();
            row.file = file;
            row.line = line.into();
            row.prologue_end = prologue_end;
            program.generate_row();
        }
        program.end_sequence(f.size);
    }

    /// The unit's own range: its functions' code.
    fn finish(mut self, funcs: &[FuncInfo<'_>]) -> Result<DwarfUnit> {
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        for f in funcs.iter().filter(|f| f.size > 0) {
            match pieces.last_mut() {
                Some(last) if last.1 == f.entry => last.1 = f.entry + f.size,
                _ => pieces.push((f.entry, f.entry + f.size)),
            }
        }
        let unit = &mut self.dwarf.unit;
        let root = unit.root();
        let list = RangeList(
            pieces
                .iter()
                .map(|(s, e)| Range::StartLength {
                    begin: Address::Constant(*s),
                    length: e - s,
                })
                .collect(),
        );
        let list = unit.ranges.add(list);
        let die = unit.get_mut(root);
        die.set(
            constants::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0)),
        );
        die.set(constants::DW_AT_ranges, AttributeValue::RangeListRef(list));
        Ok(self.dwarf)
    }
}

/// Call frame information for `funcs`, as Go's linker writes it: the CFA is the stack pointer
/// plus the pcsp delta (plus the pushed return address on x86); on link-register machines the
/// return address is in the link register until a frame is allocated, then at the frame's
/// bottom (Go stores it at 0(SP)), and a top frame has none.
fn frames(encoding: Encoding, ptr_size: u8, arch: FrameArch, funcs: &[FuncInfo<'_>]) -> FrameTable {
    let sp = Register(arch.sp);
    let ra = Register(arch.ra);
    let ptr = i32::from(ptr_size);
    let mut cie = CommonInformationEntry::new(encoding, 1, DATA_ALIGNMENT, ra);
    if arch.has_lr {
        cie.add_instruction(CallFrameInstruction::Cfa(sp, 0));
        cie.add_instruction(CallFrameInstruction::SameValue(ra));
        cie.add_instruction(CallFrameInstruction::ValOffset(sp, 0));
    } else {
        cie.add_instruction(CallFrameInstruction::Cfa(sp, ptr));
        cie.add_instruction(CallFrameInstruction::Offset(ra, -ptr));
    }
    let mut table = FrameTable::default();
    let cie = table.add_cie(cie);
    for f in funcs {
        let Ok(len) = u32::try_from(f.size) else {
            continue;
        };
        // Offsets the writer cannot factor (never seen from Go) leave the function out.
        let usable = |d: i32| d >= 0 && (d + if arch.has_lr { 0 } else { ptr }) % 4 == 0;
        if f.sp_deltas.is_empty() || len == 0 || !f.sp_deltas.iter().all(|(_, d)| usable(*d)) {
            continue;
        }
        let mut fde = FrameDescriptionEntry::new(Address::Constant(f.entry), len);
        if arch.has_lr && f.top_frame {
            fde.add_instruction(0, CallFrameInstruction::Undefined(ra));
        }
        for &(offset, delta) in &f.sp_deltas {
            if arch.has_lr && !f.top_frame {
                if delta > 0 {
                    fde.add_instruction(offset, CallFrameInstruction::Offset(ra, -delta));
                } else {
                    fde.add_instruction(offset, CallFrameInstruction::SameValue(ra));
                }
            }
            let cfa = if arch.has_lr { delta } else { delta + ptr };
            fde.add_instruction(offset, CallFrameInstruction::CfaOffset(cfa));
        }
        table.add_fde(cie, fde);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Inlined, LineRow};
    use gimli::{EndianSlice, LittleEndian, UnwindSection};

    /// `main.f` at 0x1000, 0x40 bytes: lines 10, 11 (file a.go), then 0x20-0x30 inlined
    /// `main.g` (b.go:20) called at a.go:11, inside it 0x28-0x30 `main.h` (c.go:30) called at
    /// b.go:21; the frame grows to 0x18 at 0x8.
    fn func() -> FuncInfo<'static> {
        let row = |offset, file: &'static [u8], line| LineRow {
            offset,
            file: Some(file),
            line,
        };
        FuncInfo {
            name: b"main.f",
            entry: 0x1000,
            size: 0x40,
            asm: false,
            generated: false,
            top_frame: false,
            decl_line: Some(9),
            rows: vec![
                row(0, b"a.go", 10),
                row(0x10, b"a.go", 11),
                row(0x20, b"b.go", 20),
                row(0x28, b"c.go", 30),
                row(0x30, b"a.go", 12),
            ],
            inlined: vec![
                Inlined {
                    name: b"main.g",
                    parent: None,
                    call_file: Some(b"a.go"),
                    call_line: 11,
                    decl_line: Some(19),
                    ranges: vec![(0x20, 0x30)],
                },
                Inlined {
                    name: b"main.h",
                    parent: Some(0),
                    call_file: Some(b"b.go"),
                    call_line: 21,
                    decl_line: None,
                    ranges: vec![(0x28, 0x30)],
                },
            ],
            sp_deltas: vec![(0, 0), (0x8, 0x18), (0x38, 0)],
            prologue_end: Some(0x8),
        }
    }

    fn sections() -> Vec<(&'static str, Vec<u8>)> {
        let format = UnitFormat::new(8, FrameArch::of("amd64"));
        let mut b = Builder::new(RunTimeEndian::Little);
        b.write(format.build(b"main", &[func()]).unwrap()).unwrap();
        b.finish()
    }

    #[test]
    fn lines_subprograms_and_inlined_calls_read_back() {
        let sections = sections();
        let get = |id: gimli::SectionId| -> std::result::Result<EndianSlice<'_, LittleEndian>, ()> {
            let data = sections
                .iter()
                .find(|(n, _)| *n == id.name())
                .map_or(&[][..], |(_, d)| d.as_slice());
            Ok(EndianSlice::new(data, LittleEndian))
        };
        let dwarf = gimli::Dwarf::load(get).unwrap();
        let header = dwarf.units().next().unwrap().unwrap();
        let unit = dwarf.unit(header).unwrap();

        // The line table: every row, with the prologue end marked at 0x8.
        let program = unit.line_program.clone().unwrap();
        let mut rows = program.rows();
        let mut got = Vec::new();
        while let Some((header, row)) = rows.next_row().unwrap() {
            if row.end_sequence() {
                got.push((row.address(), String::new(), 0, false));
                continue;
            }
            let file = row.file(header).unwrap();
            let name = dwarf.attr_string(&unit, file.path_name()).unwrap();
            let line = row.line().map_or(0, |l| l.get());
            got.push((
                row.address(),
                name.to_string_lossy().into_owned(),
                line,
                row.prologue_end(),
            ));
        }
        let want = [
            (0x1000, "a.go", 10, false),
            (0x1008, "a.go", 10, true),
            (0x1010, "a.go", 11, false),
            (0x1020, "b.go", 20, false),
            (0x1028, "c.go", 30, false),
            (0x1030, "a.go", 12, false),
        ];
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1.as_str(), g.2, g.3), w);
        }
        assert_eq!(got.last().map(|g| g.0), Some(0x1040), "sequence end");

        // The DIEs: the subprogram, g inlined into it, h inlined into g.
        let mut entries = unit.entries();
        let mut seen = Vec::new();
        let mut depth = 0;
        while let Some((delta, e)) = entries.next_dfs().unwrap() {
            depth += delta;
            let name = |e: &gimli::DebuggingInformationEntry<_>| {
                let at = e.attr_value(gimli::DW_AT_name).unwrap().or_else(|| {
                    match e.attr_value(gimli::DW_AT_abstract_origin).unwrap() {
                        Some(gimli::AttributeValue::UnitRef(o)) => unit
                            .entry(o)
                            .unwrap()
                            .attr_value(gimli::DW_AT_name)
                            .unwrap(),
                        _ => None,
                    }
                });
                at.map(|a| {
                    dwarf
                        .attr_string(&unit, a)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
            };
            let call_line = match e.attr_value(gimli::DW_AT_call_line).unwrap() {
                Some(gimli::AttributeValue::Udata(l)) => l,
                _ => 0,
            };
            seen.push((depth, e.tag(), name(e), call_line));
        }
        let find = |tag, n: &str| {
            seen.iter()
                .find(|s| s.1 == tag && s.2.as_deref() == Some(n))
                .cloned()
        };
        let f = find(gimli::DW_TAG_subprogram, "main.f").unwrap();
        let g = find(gimli::DW_TAG_inlined_subroutine, "main.g").unwrap();
        let h = find(gimli::DW_TAG_inlined_subroutine, "main.h").unwrap();
        assert_eq!((g.0, g.3), (f.0 + 1, 11));
        assert_eq!((h.0, h.3), (g.0 + 1, 21));
    }

    #[test]
    fn call_frames_follow_the_stack_pointer() {
        let sections = sections();
        let data = &sections
            .iter()
            .find(|(n, _)| *n == ".debug_frame")
            .unwrap()
            .1;
        let frame = gimli::DebugFrame::new(data, LittleEndian);
        let bases = gimli::BaseAddresses::default();
        let mut ctx = gimli::UnwindContext::new();
        // amd64: CFA = rsp + delta + 8; the return address at CFA - 8.
        for (pc, cfa) in [
            (0x1000, 8),
            (0x1007, 8),
            (0x1008, 0x20),
            (0x1037, 0x20),
            (0x1038, 8),
        ] {
            let row = frame
                .unwind_info_for_address(&bases, &mut ctx, pc, gimli::DebugFrame::cie_from_offset)
                .unwrap();
            assert_eq!(
                *row.cfa(),
                gimli::CfaRule::RegisterAndOffset {
                    register: gimli::Register(7),
                    offset: cfa
                },
                "at {pc:#x}"
            );
            assert_eq!(
                row.register(gimli::Register(16)),
                gimli::RegisterRule::Offset(-8)
            );
        }
    }
}

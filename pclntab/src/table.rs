//! The function table: `functab`, the `_func` records, names, files and pc-value tables.
//!
//! Mirrors `runtime/symtab.go` and `runtime/runtime2.go` (`_func`) of Go 1.2 to today.

use crate::container::VirtAddr;
use crate::pcheader::{PcHeader, PclnVersion};
use crate::reader::Reader;
use crate::{Error, Result};

/// The layout of a `_func` record. Named after the first Go release that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncLayout {
    /// Go 1.2 – 1.11: `nfuncdata` is an `int32`.
    Go12,
    /// Go 1.12 – 1.15: `deferreturn`, `funcID` and a byte-sized `nfuncdata`.
    Go112,
    /// Go 1.16 – 1.17: adds `cuOffset` (and `flag` in 1.17).
    Go116,
    /// Go 1.18 – 1.19: `entryOff` replaces the absolute entry.
    Go118,
    /// Go 1.20 and later: adds `startLine`.
    Go120,
}

/// Field offsets of one `_func` layout at one pointer size.
#[derive(Debug, Clone, Copy)]
struct FuncOffsets {
    nameoff: u64,
    args: u64,
    deferreturn: Option<u64>,
    pcsp: u64,
    pcfile: u64,
    pcln: u64,
    npcdata: u64,
    cu_offset: Option<u64>,
    start_line: Option<u64>,
    func_id: Option<u64>,
    flag: Option<u64>,
    /// Offset, and whether it is a byte (else an int32).
    nfuncdata: (u64, bool),
    size: u64,
}

impl FuncLayout {
    fn offsets(self, ptr_size: u8) -> FuncOffsets {
        let p = u64::from(ptr_size);
        let old = |deferreturn, func_id, nfuncdata, size| FuncOffsets {
            nameoff: p,
            args: p + 4,
            deferreturn,
            pcsp: p + 12,
            pcfile: p + 16,
            pcln: p + 20,
            npcdata: p + 24,
            cu_offset: None,
            start_line: None,
            func_id,
            flag: None,
            nfuncdata,
            size,
        };
        match self {
            FuncLayout::Go12 => old(None, None, (p + 28, false), p + 32),
            FuncLayout::Go112 => old(Some(p + 8), Some(p + 28), (p + 31, true), p + 32),
            FuncLayout::Go116 => FuncOffsets {
                cu_offset: Some(p + 28),
                func_id: Some(p + 32),
                flag: Some(p + 33),
                nfuncdata: (p + 35, true),
                size: p + 36,
                ..old(Some(p + 8), None, (0, true), 0)
            },
            FuncLayout::Go118 | FuncLayout::Go120 => {
                let sl = u64::from(self == FuncLayout::Go120) * 4;
                FuncOffsets {
                    nameoff: 4,
                    args: 8,
                    deferreturn: Some(12),
                    pcsp: 16,
                    pcfile: 20,
                    pcln: 24,
                    npcdata: 28,
                    cu_offset: Some(32),
                    start_line: (sl != 0).then_some(36),
                    func_id: Some(36 + sl),
                    flag: Some(37 + sl),
                    nfuncdata: (39 + sl, true),
                    size: 40 + sl,
                }
            }
        }
    }
}

/// A text section of a binary whose code is split in several (`runtime.textsect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSect {
    /// Start, as an offset from the text start.
    pub vaddr: u64,
    /// End, as an offset from the text start.
    pub end: u64,
    /// Where the section is (virtual address).
    pub baseaddr: u64,
}

/// How function entry offsets become addresses (Go 1.18+): `runtime.moduledata.textAddr`.
#[derive(Debug, Clone, Default)]
pub struct TextMap {
    /// `moduledata.text`: the address entry offsets count from.
    pub start: u64,
    /// `moduledata.textsectmap`, when the text is in more than one section.
    pub sections: Vec<TextSect>,
}

impl TextMap {
    /// The address of text offset `off`.
    pub fn addr(&self, off: u64) -> u64 {
        if self.sections.len() > 1 {
            let last = self.sections.len() - 1;
            for (i, s) in self.sections.iter().enumerate() {
                if (off >= s.vaddr && off < s.end) || (i == last && off == s.end) {
                    return s.baseaddr.wrapping_add(off - s.vaddr);
                }
            }
        }
        self.start.wrapping_add(off)
    }
}

/// One function, read from its `_func` record.
#[derive(Debug, Clone, Copy)]
pub struct Func<'data> {
    /// Index in the function table.
    pub index: usize,
    /// Entry address.
    pub entry: VirtAddr,
    /// The next function's entry (so it includes alignment padding).
    pub next_entry: VirtAddr,
    /// The name as stored (UTF-8 in practice; not checked).
    pub name: &'data [u8],
    /// Size of the arguments and results in bytes (`args`; negative for "unknown").
    pub args: i32,
    /// `deferreturn` (Go 1.12+; 0 otherwise).
    pub deferreturn: u32,
    /// pcsp table offset (0 = none).
    pub pcsp: u32,
    /// pcfile table offset.
    pub pcfile: u32,
    /// pcln table offset.
    pub pcln: u32,
    /// Number of PCDATA tables.
    pub npcdata: u32,
    /// Number of FUNCDATA entries.
    pub nfuncdata: u32,
    /// Index of the function's compilation unit in `cutab` (Go 1.16+).
    pub cu_offset: u32,
    /// Line of the `func` keyword (Go 1.20+).
    pub start_line: Option<i32>,
    /// `funcID` (its numbering changes between releases).
    pub func_id: u8,
    /// `flag` bits (Go 1.17+): 1 top frame, 2 writes SP, 4 assembly (1.21+).
    pub flag: u8,
    /// Offset of the `_func` record in pclntab.
    pub record: u64,
}

impl Func<'_> {
    /// The name, with invalid UTF-8 replaced.
    pub fn name_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name)
    }
}

/// A parsed pclntab: header, function table and the tables around it.
#[derive(Debug, Clone)]
pub struct LineTable<'data> {
    r: Reader<'data>,
    /// The header.
    pub header: PcHeader,
    /// Virtual address of the header.
    pub vaddr: VirtAddr,
    /// The `_func` layout in use.
    pub layout: FuncLayout,
    /// Entry-offset to address mapping (Go 1.18+).
    pub text: TextMap,
    names: Reader<'data>,
    cutab: Reader<'data>,
    filetab: Reader<'data>,
    pctab: Reader<'data>,
    functab: Reader<'data>,
}

/// How far a function's code and stack frame reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of code, padding excluded.
    pub code_size: u64,
    /// The largest SP delta in its body (bytes below the return address).
    pub frame_size: i32,
}

/// One step of a pc-value table: `value` holds for PCs in `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcValue {
    /// First PC.
    pub start: u64,
    /// One past the last PC.
    pub end: u64,
    /// The value.
    pub value: i32,
}

/// Walks a pc-value table (`runtime.step`); stops for good after the end or an error.
#[derive(Debug, Clone)]
pub struct PcValueIter<'data> {
    r: Reader<'data>,
    off: u64,
    pc: u64,
    limit: u64,
    value: i32,
    quantum: u64,
    first: bool,
    done: bool,
}

impl PcValueIter<'_> {
    /// The next step, `None` at the table's end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<PcValue>> {
        if self.done {
            return Ok(None);
        }
        let r = self.step();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn step(&mut self) -> Result<Option<PcValue>> {
        let (uv, n) = self.r.uvarint("pc-value delta", self.off)?;
        if uv == 0 && !self.first {
            return Ok(None);
        }
        self.first = false;
        self.off += n;
        let delta = if uv & 1 != 0 { !(uv >> 1) } else { uv >> 1 } as i64;
        self.value = (i64::from(self.value).wrapping_add(delta)) as i32;
        let (pcd, n) = self.r.uvarint("pc-value pc delta", self.off)?;
        self.off += n;
        let start = self.pc;
        self.pc = pcd
            .checked_mul(self.quantum)
            .and_then(|d| self.pc.checked_add(d))
            .filter(|pc| *pc <= self.limit)
            .ok_or(Error::BadValue {
                what: "pc-value pc delta",
                offset: self.r.base() + self.off - n,
                value: pcd,
            })?;
        Ok(Some(PcValue {
            start,
            end: self.pc,
            value: self.value,
        }))
    }
}

impl<'data> LineTable<'data> {
    /// Reads the table in `r` (which starts at the header and runs to the end of the file-backed
    /// bytes around it). `layout` is the `_func` layout; `text` maps entry offsets (1.18+).
    pub fn new(
        r: Reader<'data>,
        header: PcHeader,
        vaddr: VirtAddr,
        layout: FuncLayout,
        text: TextMap,
    ) -> Result<Self> {
        let r = Reader::new(r.data(), r.base(), header.endian);
        let mut starts = [
            header.funcname_offset,
            header.cu_offset,
            header.filetab_offset,
            header.pctab_offset,
            header.pcln_offset,
            r.len(),
        ];
        starts.sort_unstable();
        // A table runs to the next table's start (Go writes them in this order, but a hostile
        // file need not: any order is bounded the same way).
        let table = |what: &'static str, off: u64| -> Result<Reader<'data>> {
            if header.version == PclnVersion::Go12 {
                return Ok(r);
            }
            let end = starts.iter().copied().find(|s| *s > off).unwrap_or(r.len());
            r.sub(what, off, end - off)
        };
        let functab_len = (header.nfunc + 1) * header.functab_entry_size();
        Ok(LineTable {
            names: table("funcnametab", header.funcname_offset)?,
            cutab: table("cutab", header.cu_offset)?,
            filetab: table("filetab", header.filetab_offset)?,
            pctab: table("pctab", header.pctab_offset)?,
            functab: r.sub("functab", header.pcln_offset, functab_len)?,
            r,
            header,
            vaddr,
            layout,
            text,
        })
    }

    /// The bytes of the table.
    pub fn reader(&self) -> &Reader<'data> {
        &self.r
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.header.nfunc as usize
    }

    /// Whether there are no functions.
    pub fn is_empty(&self) -> bool {
        self.header.nfunc == 0
    }

    /// Entry address of function `i`, and the offset of its `_func` record (relative to the
    /// function table for 1.16+, to pclntab for 1.2). `i == nfunc` gives the end of the text.
    fn functab_entry(&self, i: u64) -> Result<(u64, u64)> {
        let h = &self.header;
        let size = h.functab_entry_size();
        let off = i * size;
        match h.version {
            PclnVersion::Go12 | PclnVersion::Go116 => {
                let entry = self.functab.word("functab.entry", off, h.ptr_size)?;
                let funcoff = if i < h.nfunc {
                    self.functab
                        .word("functab.funcoff", off + u64::from(h.ptr_size), h.ptr_size)?
                } else {
                    0
                };
                Ok((entry, funcoff))
            }
            PclnVersion::Go118 | PclnVersion::Go120 => {
                let entryoff = self.functab.u32("functab.entryoff", off)?;
                let funcoff = if i < h.nfunc {
                    self.functab.u32("functab.funcoff", off + 4)?
                } else {
                    0
                };
                Ok((self.text.addr(u64::from(entryoff)), u64::from(funcoff)))
            }
        }
    }

    /// Entry address of function `i` (`i == len()` gives the end of the last function).
    pub fn entry(&self, i: usize) -> Result<VirtAddr> {
        Ok(VirtAddr(self.functab_entry(i as u64)?.0))
    }

    /// Function `i`.
    pub fn func(&self, i: usize) -> Result<Func<'data>> {
        let h = &self.header;
        let (entry, funcoff) = self.functab_entry(i as u64)?;
        let (next_entry, _) = self.functab_entry(i as u64 + 1)?;
        let bad_funcoff = Error::BadValue {
            what: "functab.funcoff",
            offset: self.functab.base() + i as u64 * h.functab_entry_size(),
            value: funcoff,
        };
        let record = match h.version {
            PclnVersion::Go12 => funcoff,
            _ => h
                .pcln_offset
                .checked_add(funcoff)
                .ok_or_else(|| bad_funcoff.clone())?,
        };
        // The records follow the function table (nfunc entries and the end PC): one inside it is
        // no record (a cycle, at worst).
        let es = h.functab_entry_size();
        let functab_end = h
            .nfunc
            .saturating_mul(es)
            .saturating_add(es / 2)
            .saturating_add(h.pcln_offset);
        if record < functab_end {
            return Err(bad_funcoff);
        }
        let o = self.layout.offsets(h.ptr_size);
        let rec = self.r.sub("_func", record, o.size)?;
        let opt_u8 = |off: Option<u64>, what| {
            off.map(|x| rec.u8(what, x))
                .transpose()
                .map(|v| v.unwrap_or(0))
        };
        let nameoff = rec.i32("_func.nameOff", o.nameoff)?;
        let name = self
            .names
            .cstr("function name", u64::from(nameoff as u32))
            .map_err(|_| Error::BadValue {
                what: "_func.nameOff",
                offset: rec.base() + o.nameoff,
                value: u64::from(nameoff as u32),
            })?;
        Ok(Func {
            index: i,
            entry: VirtAddr(entry),
            next_entry: VirtAddr(next_entry),
            name,
            args: rec.i32("_func.args", o.args)?,
            deferreturn: o
                .deferreturn
                .map(|x| rec.u32("_func.deferreturn", x))
                .transpose()?
                .unwrap_or(0),
            pcsp: rec.u32("_func.pcsp", o.pcsp)?,
            pcfile: rec.u32("_func.pcfile", o.pcfile)?,
            pcln: rec.u32("_func.pcln", o.pcln)?,
            npcdata: rec.u32("_func.npcdata", o.npcdata)?,
            nfuncdata: match o.nfuncdata {
                (x, true) => u32::from(rec.u8("_func.nfuncdata", x)?),
                (x, false) => rec.u32("_func.nfuncdata", x)?,
            },
            cu_offset: o
                .cu_offset
                .map(|x| rec.u32("_func.cuOffset", x))
                .transpose()?
                .unwrap_or(0),
            start_line: o
                .start_line
                .map(|x| rec.i32("_func.startLine", x))
                .transpose()?,
            func_id: opt_u8(o.func_id, "_func.funcID")?,
            flag: opt_u8(o.flag, "_func.flag")?,
            record,
        })
    }

    /// The index of the function containing `pc`, if any.
    pub fn find(&self, pc: VirtAddr) -> Result<Option<usize>> {
        let n = self.len();
        if n == 0 || pc < self.entry(0)? || pc >= self.entry(n)? {
            return Ok(None);
        }
        // Binary search for the last entry <= pc.
        let (mut lo, mut hi) = (0usize, n);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)? <= pc {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }

    /// The pc-value table at `off` (a `pcsp`, `pcfile`, `pcln` or PCDATA offset) of `f`.
    pub fn pcvalues(&self, f: &Func<'_>, off: u32) -> Result<PcValueIter<'data>> {
        let r = self.pctab.tail("pc-value table", u64::from(off))?;
        Ok(PcValueIter {
            r,
            off: 0,
            pc: f.entry.0,
            // A table may not describe more than the space up to the next function.
            limit: f.next_entry.0.max(f.entry.0),
            value: -1,
            quantum: u64::from(self.header.quantum),
            first: true,
            done: off == 0,
        })
    }

    /// The value of table `off` at `pc`, or `None` if the table does not cover it.
    pub fn pcvalue(&self, f: &Func<'_>, off: u32, pc: VirtAddr) -> Result<Option<i32>> {
        let mut it = self.pcvalues(f, off)?;
        while let Some(v) = it.next()? {
            if pc.0 >= v.start && pc.0 < v.end {
                return Ok(Some(v.value));
            }
        }
        Ok(None)
    }

    /// The code size of `f` and its frame size, from one walk of its pcsp table.
    ///
    /// The code ends where the pc-value tables end (the linker writes them up to the last
    /// instruction, so alignment padding is not counted); without tables, at the next function.
    /// The frame size is the largest SP delta (`funcMaxSPDelta`), 0 without a pcsp table.
    pub fn extent(&self, f: &Func<'_>) -> Result<Extent> {
        let table = if f.pcsp != 0 { f.pcsp } else { f.pcln };
        let mut it = self.pcvalues(f, table)?;
        let mut end = f.entry.0;
        let mut frame = 0;
        while let Some(v) = it.next()? {
            end = v.end;
            if f.pcsp != 0 {
                frame = frame.max(v.value);
            }
        }
        if end == f.entry.0 {
            end = f.next_entry.0.max(f.entry.0);
        }
        Ok(Extent {
            code_size: end - f.entry.0,
            frame_size: frame,
        })
    }

    /// The name of the file with index `fileno` (a pcfile value) in `f`'s compilation unit.
    pub fn file_name(&self, f: &Func<'_>, fileno: i32) -> Result<Option<&'data [u8]>> {
        if fileno < 0 {
            return Ok(None);
        }
        match self.header.version {
            PclnVersion::Go12 => {
                if fileno == 0 {
                    return Ok(None);
                }
                let off = self.r.u32(
                    "filetab entry",
                    self.header.filetab_offset + 4 * fileno as u64,
                )?;
                Ok(Some(self.r.cstr("file name", u64::from(off))?))
            }
            _ => {
                let idx = u64::from(f.cu_offset) + fileno as u64;
                let off = self.cutab.u32("cutab entry", idx * 4)?;
                if off == u32::MAX {
                    return Ok(None);
                }
                Ok(Some(self.filetab.cstr("file name", u64::from(off))?))
            }
        }
    }

    /// The file and line of `pc` in `f` (the innermost, if code was inlined there).
    pub fn file_line(
        &self,
        f: &Func<'_>,
        pc: VirtAddr,
    ) -> Result<(Option<&'data [u8]>, Option<i32>)> {
        let file = match self.pcvalue(f, f.pcfile, pc)? {
            Some(n) => self.file_name(f, n)?,
            None => None,
        };
        Ok((file, self.pcvalue(f, f.pcln, pc)?))
    }

    /// The `i`th PCDATA table offset of `f`.
    pub fn pcdata(&self, f: &Func<'_>, i: u32) -> Result<Option<u32>> {
        if i >= f.npcdata {
            return Ok(None);
        }
        let size = self.layout.offsets(self.header.ptr_size).size;
        let off = self
            .r
            .u32("_func.pcdata", f.record + size + 4 * u64::from(i))?;
        Ok((off != 0).then_some(off))
    }

    /// The `i`th FUNCDATA of `f`: an absolute address before Go 1.18, an offset from
    /// `moduledata.gofunc` after. `None` when absent.
    pub fn funcdata(&self, f: &Func<'_>, i: u32) -> Result<Option<u64>> {
        if i >= f.nfuncdata {
            return Ok(None);
        }
        let size = self.layout.offsets(self.header.ptr_size).size;
        let mut off = f.record + size + 4 * u64::from(f.npcdata);
        match self.header.version {
            PclnVersion::Go118 | PclnVersion::Go120 => {
                let v = self.r.u32("_func.funcdata", off + 4 * u64::from(i))?;
                Ok((v != u32::MAX).then_some(u64::from(v)))
            }
            _ => {
                let p = u64::from(self.header.ptr_size);
                // The pointer array is pointer-aligned in memory.
                if p == 8 && self.vaddr.0.wrapping_add(off) & 7 != 0 {
                    off += 4;
                }
                let v = self.r.word(
                    "_func.funcdata",
                    off + p * u64::from(i),
                    self.header.ptr_size,
                )?;
                Ok((v != 0).then_some(v))
            }
        }
    }

    /// The name at offset `nameoff` of the name table (for inlined functions).
    pub fn name_at(&self, nameoff: u32) -> Result<&'data [u8]> {
        self.names.cstr("function name", u64::from(nameoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Endian;

    fn uvarint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Encodes (value delta, pc delta in instructions) pairs as the Go linker does.
    fn encode(pairs: &[(i64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(dv, dpc) in pairs {
            let zz = if dv < 0 {
                ((!dv as u64) << 1) | 1
            } else {
                (dv as u64) << 1
            };
            uvarint(zz, &mut out);
            uvarint(dpc, &mut out);
        }
        out.push(0);
        out
    }

    fn iter(data: &[u8], quantum: u64, limit: u64) -> PcValueIter<'_> {
        PcValueIter {
            r: Reader::new(data, 0x500, Endian::Little),
            off: 0,
            pc: 0x1000,
            limit,
            value: -1,
            quantum,
            first: true,
            done: false,
        }
    }

    fn collect(mut it: PcValueIter<'_>) -> Result<Vec<PcValue>> {
        let mut out = Vec::new();
        while let Some(v) = it.next()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn decodes_pc_value_steps() {
        let data = encode(&[(5, 4), (-2, 3), (200, 1)]);
        let steps = collect(iter(&data, 4, 0x2000)).unwrap();
        assert_eq!(
            steps,
            [
                PcValue {
                    start: 0x1000,
                    end: 0x1010,
                    value: 4
                },
                PcValue {
                    start: 0x1010,
                    end: 0x101c,
                    value: 2
                },
                PcValue {
                    start: 0x101c,
                    end: 0x1020,
                    value: 202
                },
            ]
        );
        // A first value delta of 0 is a real step (value -1), not the end.
        let data = encode(&[(0, 2)]);
        assert_eq!(
            collect(iter(&data, 1, 0x2000)).unwrap(),
            [PcValue {
                start: 0x1000,
                end: 0x1002,
                value: -1
            }]
        );
    }

    #[test]
    fn stops_at_the_limit_and_at_truncation() {
        let data = encode(&[(1, 0x100)]);
        assert!(matches!(
            collect(iter(&data, 1, 0x1080)),
            Err(Error::BadValue {
                what: "pc-value pc delta",
                ..
            })
        ));
        let data = [0x02u8];
        assert!(matches!(
            collect(iter(&data, 1, 0x2000)),
            Err(Error::Truncated { offset: 0x501, .. })
        ));
        // After an error the iterator is done for good.
        let mut it = iter(&data, 1, 0x2000);
        assert!(it.next().is_err());
        assert_eq!(it.next(), Ok(None));
    }

    #[test]
    fn funcoff_inside_the_function_table_is_an_error() {
        let d = crate::pcheader::tests::header120(Endian::Little, 3);
        let r = Reader::new(&d, 0x2000, Endian::Little);
        let h = PcHeader::parse(&r, None).unwrap();
        let t = LineTable::new(
            r,
            h,
            VirtAddr(0x1000),
            FuncLayout::Go120,
            TextMap::default(),
        )
        .unwrap();
        // Every funcoff is 0: the first record would be the function table itself.
        assert_eq!(
            t.func(1).unwrap_err(),
            Error::BadValue {
                what: "functab.funcoff",
                offset: 0x2000 + 72 + 8,
                value: 0
            }
        );
    }

    #[test]
    fn text_map_follows_text_sections() {
        let one = TextMap {
            start: 0x401000,
            sections: Vec::new(),
        };
        assert_eq!(one.addr(0x20), 0x401020);
        let split = TextMap {
            start: 0x10000,
            sections: vec![
                TextSect {
                    vaddr: 0,
                    end: 0x1000,
                    baseaddr: 0x10000,
                },
                TextSect {
                    vaddr: 0x1000,
                    end: 0x2000,
                    baseaddr: 0x20000,
                },
            ],
        };
        assert_eq!(split.addr(0x10), 0x10010);
        assert_eq!(split.addr(0x1010), 0x20010);
        assert_eq!(
            split.addr(0x2000),
            0x21000,
            "the end of the last section maps too"
        );
    }
}

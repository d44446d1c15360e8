//! `pcHeader`: the header at the start of pclntab (`runtime/symtab.go`), Go 1.2 to today.

use crate::reader::{Endian, Reader};
use crate::{Error, Result};

/// The pclntab layout generation, named after the first Go release that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PclnVersion {
    /// Go 1.2 – 1.15: magic `0xfffffffb`; offsets relative to pclntab, absolute entry PCs.
    Go12,
    /// Go 1.16 – 1.17: magic `0xfffffffa`; separate name, CU, file and pc-value tables.
    Go116,
    /// Go 1.18 – 1.19: magic `0xfffffff0`; entry PCs become offsets from the text start.
    Go118,
    /// Go 1.20 and later: magic `0xfffffff1`; `_func` gains `startLine`.
    Go120,
}

impl PclnVersion {
    /// The magic number of this layout.
    pub fn magic(self) -> u32 {
        match self {
            PclnVersion::Go12 => 0xffff_fffb,
            PclnVersion::Go116 => 0xffff_fffa,
            PclnVersion::Go118 => 0xffff_fff0,
            PclnVersion::Go120 => 0xffff_fff1,
        }
    }

    /// The layout a magic number names.
    pub fn from_magic(magic: u32) -> Option<Self> {
        [
            PclnVersion::Go12,
            PclnVersion::Go116,
            PclnVersion::Go118,
            PclnVersion::Go120,
        ]
        .into_iter()
        .find(|v| v.magic() == magic)
    }

    /// "1.2", "1.16", "1.18" or "1.20".
    pub fn name(self) -> &'static str {
        match self {
            PclnVersion::Go12 => "1.2",
            PclnVersion::Go116 => "1.16",
            PclnVersion::Go118 => "1.18",
            PclnVersion::Go120 => "1.20",
        }
    }
}

/// The parsed `pcHeader`. Every `*_offset` counts in bytes from the start of pclntab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcHeader {
    /// Layout generation.
    pub version: PclnVersion,
    /// Byte order the magic matched in.
    pub endian: Endian,
    /// Instruction size quantum (`minLC`): 1 on x86, 2 on s390x, 4 on RISC machines.
    pub quantum: u8,
    /// Pointer size: 4 or 8.
    pub ptr_size: u8,
    /// Number of functions (`nfunc`, `nfunctab` in 1.2).
    pub nfunc: u64,
    /// Number of files (`nfiles`; read from the file table in 1.2).
    pub nfiles: u64,
    /// `textStart` (1.18 – 1.26); 0 when absent (earlier layouts, and 1.27+ stopped writing it).
    pub text_start: u64,
    /// Start of `funcnametab` (0 in 1.2: names are relative to pclntab).
    pub funcname_offset: u64,
    /// Start of `cutab` (1.16+).
    pub cu_offset: u64,
    /// Start of `filetab` (1.16+), or of the 1.2 file table.
    pub filetab_offset: u64,
    /// Start of `pctab` (0 in 1.2: pc-value tables are relative to pclntab).
    pub pctab_offset: u64,
    /// Start of the function table (`pclntable`/`functab`).
    pub pcln_offset: u64,
}

impl PcHeader {
    /// Reads the header at the start of `r`, given the magic is trusted for its byte order or
    /// `version` says which layout to assume (for a table whose magic was overwritten).
    ///
    /// Checks: the padding is zero, `minLC` is 1, 2 or 4, `ptrSize` is 4 or 8, the count of
    /// functions fits in the bytes that follow, and every table offset is inside `r`. It does
    /// not check that the tables hold sensible data.
    pub fn parse(r: &Reader<'_>, forced: Option<PclnVersion>) -> Result<PcHeader> {
        let le = Reader::new(r.data(), r.base(), Endian::Little).u32("pcHeader.magic", 0)?;
        let be = le.swap_bytes();
        let (version, endian) = match (
            forced,
            PclnVersion::from_magic(le),
            PclnVersion::from_magic(be),
        ) {
            (Some(v), _, _) => (v, r.endian()),
            (None, Some(v), _) => (v, Endian::Little),
            (None, None, Some(v)) => (v, Endian::Big),
            // Every magic so far is 0xfffffffX or 0xfffffff0..: a new one would likely be too.
            (None, None, None) if le >> 8 == 0x00ff_ffff || be >> 8 == 0x00ff_ffff => {
                let magic = if le >> 8 == 0x00ff_ffff { le } else { be };
                return Err(Error::UnsupportedVersion {
                    magic,
                    offset: r.base(),
                });
            }
            (None, None, None) => {
                return Err(Error::BadValue {
                    what: "pcHeader.magic",
                    offset: r.base(),
                    value: u64::from(le),
                })
            }
        };
        let r = Reader::new(r.data(), r.base(), endian);
        let (pad, quantum, ptr_size) = (
            r.u16("pcHeader.pad", 4)?,
            r.u8("pcHeader.minLC", 6)?,
            r.u8("pcHeader.ptrSize", 7)?,
        );
        if pad != 0 {
            return Err(Error::BadValue {
                what: "pcHeader.pad",
                offset: r.base() + 4,
                value: u64::from(pad),
            });
        }
        if !matches!(quantum, 1 | 2 | 4) {
            return Err(Error::BadValue {
                what: "pcHeader.minLC",
                offset: r.base() + 6,
                value: u64::from(quantum),
            });
        }
        if !matches!(ptr_size, 4 | 8) {
            return Err(Error::BadValue {
                what: "pcHeader.ptrSize",
                offset: r.base() + 7,
                value: u64::from(ptr_size),
            });
        }
        let p = u64::from(ptr_size);
        let word = |name: &'static str, i: u64| r.word(name, 8 + i * p, ptr_size);
        let nfunc = word("pcHeader.nfunc", 0)?;
        let mut h = PcHeader {
            version,
            endian,
            quantum,
            ptr_size,
            nfunc,
            nfiles: 0,
            text_start: 0,
            funcname_offset: 0,
            cu_offset: 0,
            filetab_offset: 0,
            pctab_offset: 0,
            pcln_offset: 8 + p,
        };
        match version {
            PclnVersion::Go12 => {
                // functab: nfunc pairs of words and the end PC, then the file table's offset; a
                // count that leaves no room for them is wrong.
                let bad = Error::BadValue {
                    what: "pcHeader.nfunctab",
                    offset: r.base() + 8,
                    value: nfunc,
                };
                let at = nfunc
                    .checked_mul(2 * p)
                    .and_then(|n| n.checked_add(8 + 2 * p))
                    .ok_or_else(|| bad.clone())?;
                h.filetab_offset = u64::from(r.u32("pclntab filetab offset", at).map_err(|_| bad)?);
                // The count includes the count itself, in slot 0.
                h.nfiles =
                    u64::from(r.u32("pclntab file count", h.filetab_offset)?).saturating_sub(1);
            }
            PclnVersion::Go116 => {
                h.nfiles = word("pcHeader.nfiles", 1)?;
                h.funcname_offset = word("pcHeader.funcnameOffset", 2)?;
                h.cu_offset = word("pcHeader.cuOffset", 3)?;
                h.filetab_offset = word("pcHeader.filetabOffset", 4)?;
                h.pctab_offset = word("pcHeader.pctabOffset", 5)?;
                h.pcln_offset = word("pcHeader.pclnOffset", 6)?;
            }
            PclnVersion::Go118 | PclnVersion::Go120 => {
                h.nfiles = word("pcHeader.nfiles", 1)?;
                h.text_start = word("pcHeader.textStart", 2)?;
                h.funcname_offset = word("pcHeader.funcnameOffset", 3)?;
                h.cu_offset = word("pcHeader.cuOffset", 4)?;
                h.filetab_offset = word("pcHeader.filetabOffset", 5)?;
                h.pctab_offset = word("pcHeader.pctabOffset", 6)?;
                h.pcln_offset = word("pcHeader.pclnOffset", 7)?;
            }
        }
        let len = r.len();
        for (what, off) in [
            ("pcHeader.funcnameOffset", h.funcname_offset),
            ("pcHeader.cuOffset", h.cu_offset),
            ("pcHeader.filetabOffset", h.filetab_offset),
            ("pcHeader.pctabOffset", h.pctab_offset),
            ("pcHeader.pclnOffset", h.pcln_offset),
        ] {
            if off >= len {
                return Err(Error::BadValue {
                    what,
                    offset: r.base(),
                    value: off,
                });
            }
        }
        // The function table holds nfunc entries plus the end entry; each is at least 8 bytes.
        let need = h.nfunc.checked_add(1).and_then(|n| n.checked_mul(8));
        if h.nfunc == 0 || need.is_none_or(|n| n > len - h.pcln_offset) {
            return Err(Error::BadValue {
                what: "pcHeader.nfunc",
                offset: r.base() + 8,
                value: h.nfunc,
            });
        }
        Ok(h)
    }

    /// Size in bytes of one function table entry: two words before 1.18, two `u32`s after.
    pub fn functab_entry_size(&self) -> u64 {
        match self.version {
            PclnVersion::Go12 | PclnVersion::Go116 => 2 * u64::from(self.ptr_size),
            PclnVersion::Go118 | PclnVersion::Go120 => 8,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal Go 1.20 header with 8-byte pointers, followed by room for `nfunc` entries.
    pub(crate) fn header120(endian: Endian, nfunc: u64) -> Vec<u8> {
        let mut d = Vec::new();
        let w32 = |d: &mut Vec<u8>, v: u32| match endian {
            Endian::Little => d.extend(v.to_le_bytes()),
            Endian::Big => d.extend(v.to_be_bytes()),
        };
        w32(&mut d, 0xffff_fff1);
        d.extend([0, 0, 1, 8]);
        let words = [nfunc, 1, 0x401000, 72, 72, 72, 72, 72];
        for w in words {
            match endian {
                Endian::Little => d.extend(w.to_le_bytes()),
                Endian::Big => d.extend(w.to_be_bytes()),
            }
        }
        d.resize(72 + (nfunc as usize + 1) * 8 + 16, 0);
        d
    }

    #[test]
    fn parses_go120_in_both_byte_orders() {
        for e in [Endian::Little, Endian::Big] {
            let d = header120(e, 3);
            let h = PcHeader::parse(&Reader::new(&d, 0x2000, Endian::Little), None).unwrap();
            assert_eq!(h.version, PclnVersion::Go120);
            assert_eq!(h.endian, e);
            assert_eq!(
                (h.nfunc, h.nfiles, h.text_start, h.pcln_offset),
                (3, 1, 0x401000, 72)
            );
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let mut d = header120(Endian::Little, 3);
        d[6] = 3;
        assert!(matches!(
            PcHeader::parse(&Reader::new(&d, 0x2000, Endian::Little), None),
            Err(Error::BadValue {
                what: "pcHeader.minLC",
                offset: 0x2006,
                value: 3
            })
        ));
        let d = header120(Endian::Little, 3);
        let short = &d[..100];
        assert!(PcHeader::parse(&Reader::new(short, 0, Endian::Little), None).is_err());
        let mut absurd = header120(Endian::Little, 3);
        absurd[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(PcHeader::parse(&Reader::new(&absurd, 0, Endian::Little), None).is_err());
        let mut future = header120(Endian::Little, 3);
        future[0] = 0xf5;
        assert_eq!(
            PcHeader::parse(&Reader::new(&future, 0x40, Endian::Little), None),
            Err(Error::UnsupportedVersion {
                magic: 0xffff_fff5,
                offset: 0x40
            })
        );
        // Go 1.2: a function count with no room for the function table is the count's fault.
        let mut go12 = vec![0xfb, 0xff, 0xff, 0xff, 0, 0, 1, 8];
        go12.extend((1u64 << 40).to_le_bytes());
        go12.resize(256, 0);
        assert_eq!(
            PcHeader::parse(&Reader::new(&go12, 0x40, Endian::Little), None),
            Err(Error::BadValue {
                what: "pcHeader.nfunctab",
                offset: 0x48,
                value: 1 << 40
            })
        );
        let mut zeroed = header120(Endian::Little, 3);
        zeroed[..4].fill(0);
        assert!(PcHeader::parse(&Reader::new(&zeroed, 0, Endian::Little), None).is_err());
        let h = PcHeader::parse(
            &Reader::new(&zeroed, 0, Endian::Little),
            Some(PclnVersion::Go120),
        )
        .unwrap();
        assert_eq!(h.nfunc, 3);
    }
}

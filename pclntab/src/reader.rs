//! Bounded, endian-aware reads over borrowed bytes.
//!
//! Every read of file data goes through [`Reader`]: it checks bounds, reports the absolute file
//! offset of a failed read, and never panics.

use crate::{Error, Result};

/// Byte order of the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl Endian {
    /// "little" or "big".
    pub fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

/// A window on the file: `data` starts at absolute file offset `base`.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'data> {
    data: &'data [u8],
    base: u64,
    endian: Endian,
}

impl<'data> Reader<'data> {
    /// A reader over `data`, which sits at file offset `base`.
    pub fn new(data: &'data [u8], base: u64, endian: Endian) -> Self {
        Reader { data, base, endian }
    }

    /// The bytes.
    pub fn data(&self) -> &'data [u8] {
        self.data
    }

    /// Absolute file offset of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Byte order.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// `len` bytes at `off`.
    pub fn bytes(&self, what: &'static str, off: u64, len: u64) -> Result<&'data [u8]> {
        let have = self.len().saturating_sub(off);
        let truncated = || Error::Truncated {
            what,
            offset: self.base.saturating_add(off),
            need: len,
            have,
        };
        let start = usize::try_from(off).map_err(|_| truncated())?;
        let end = off.checked_add(len).ok_or_else(truncated)?;
        let end = usize::try_from(end).map_err(|_| truncated())?;
        self.data.get(start..end).ok_or_else(truncated)
    }

    /// The sub-reader of `len` bytes at `off`.
    pub fn sub(&self, what: &'static str, off: u64, len: u64) -> Result<Reader<'data>> {
        let data = self.bytes(what, off, len)?;
        Ok(Reader::new(data, self.base + off, self.endian))
    }

    /// Everything from `off` to the end.
    pub fn tail(&self, what: &'static str, off: u64) -> Result<Reader<'data>> {
        let len = self.len().checked_sub(off).ok_or(Error::Truncated {
            what,
            offset: self.base.saturating_add(off),
            need: 1,
            have: 0,
        })?;
        self.sub(what, off, len)
    }

    fn array<const N: usize>(&self, what: &'static str, off: u64) -> Result<[u8; N]> {
        let b = self.bytes(what, off, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&self, what: &'static str, off: u64) -> Result<u8> {
        Ok(self.array::<1>(what, off)?[0])
    }

    /// A 16-bit unsigned integer.
    pub fn u16(&self, what: &'static str, off: u64) -> Result<u16> {
        let b = self.array(what, off)?;
        Ok(match self.endian {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    /// A 32-bit unsigned integer.
    pub fn u32(&self, what: &'static str, off: u64) -> Result<u32> {
        let b = self.array(what, off)?;
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    /// A 32-bit signed integer.
    pub fn i32(&self, what: &'static str, off: u64) -> Result<i32> {
        Ok(self.u32(what, off)? as i32)
    }

    /// A 64-bit unsigned integer.
    pub fn u64(&self, what: &'static str, off: u64) -> Result<u64> {
        let b = self.array(what, off)?;
        Ok(match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        })
    }

    /// A pointer-sized unsigned integer (`ptr_size` is 4 or 8).
    pub fn word(&self, what: &'static str, off: u64, ptr_size: u8) -> Result<u64> {
        if ptr_size == 8 {
            self.u64(what, off)
        } else {
            self.u32(what, off).map(u64::from)
        }
    }

    /// The NUL-terminated string at `off`, without its NUL; the NUL must be inside this reader.
    pub fn cstr(&self, what: &'static str, off: u64) -> Result<&'data [u8]> {
        let rest = self.tail(what, off)?.data;
        match memchr::memchr(0, rest) {
            Some(n) => Ok(rest.get(..n).unwrap_or_default()),
            None => Err(Error::Truncated {
                what,
                offset: self.base + off,
                need: rest.len() as u64 + 1,
                have: rest.len() as u64,
            }),
        }
    }

    /// An unsigned LEB128 varint at `off`: its value and its length in bytes (at most 10).
    ///
    /// The pc-value tables are read through this, a varint or two per step of every table:
    /// the bytes are taken as one slice, not checked one at a time.
    pub fn uvarint(&self, what: &'static str, off: u64) -> Result<(u64, u64)> {
        let rest = usize::try_from(off)
            .ok()
            .and_then(|s| self.data.get(s..))
            .unwrap_or_default();
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            // Bits past the 64th (a 10th byte over 1) are dropped, as Go's binary.Uvarint
            // reports overflow; the length still counts them.
            value |= u64::from(b & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok((value, i as u64 + 1));
            }
        }
        if rest.len() < 10 {
            return Err(Error::Truncated {
                what,
                offset: self
                    .base
                    .saturating_add(off)
                    .saturating_add(rest.len() as u64),
                need: 1,
                have: 0,
            });
        }
        Err(Error::BadValue {
            what,
            offset: self.base + off,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_byte_orders() {
        let d = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let le = Reader::new(&d, 0x100, Endian::Little);
        let be = Reader::new(&d, 0x100, Endian::Big);
        assert_eq!(le.u32("x", 0).unwrap(), 0x04030201);
        assert_eq!(be.u32("x", 0).unwrap(), 0x01020304);
        assert_eq!(le.word("x", 0, 8).unwrap(), 0x0807060504030201);
        assert_eq!(be.u16("x", 6).unwrap(), 0x0708);
    }

    #[test]
    fn truncation_reports_absolute_offset() {
        let d = [0u8; 4];
        let r = Reader::new(&d, 0x1000, Endian::Little);
        assert_eq!(
            r.u64("pcHeader.nfunc", 2),
            Err(Error::Truncated {
                what: "pcHeader.nfunc",
                offset: 0x1002,
                need: 8,
                have: 2
            })
        );
        assert!(r.bytes("x", u64::MAX, 2).is_err());
        assert!(r.tail("x", 5).is_err());
    }

    #[test]
    fn varints_and_strings() {
        let d = [0xe5, 0x8e, 0x26, b'a', b'b', 0, b'c'];
        let r = Reader::new(&d, 0, Endian::Little);
        assert_eq!(r.uvarint("v", 0).unwrap(), (624485, 3));
        assert_eq!(r.cstr("s", 3).unwrap(), b"ab");
        assert!(r.cstr("s", 6).is_err());
        let long = [0xffu8; 12];
        assert!(Reader::new(&long, 0, Endian::Little)
            .uvarint("v", 0)
            .is_err());
    }
}

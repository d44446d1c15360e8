//! `abi.Name` (`runtime.name`, `reflect.name`): the encoded names of types, struct fields and
//! methods.
//!
//! A name is a flag byte, the name's length and bytes, then, if flag bit 1 is set, the tag's
//! length and bytes, then, if flag bit 2 is set, a 4-byte `nameOff` (in the target's byte order)
//! of the package path. Lengths are two bytes big-endian up to Go 1.16 and a uvarint from Go
//! 1.17 (`runtime/type.go`, `internal/abi/type.go`). Flag bit 0 means exported; bit 3, from Go
//! 1.19, means an embedded struct field.

use super::layout::NameLengths;
use crate::reader::Reader;
use crate::Result;

/// Flag bit: the name is exported.
const EXPORTED: u8 = 1 << 0;
/// Flag bit: a tag follows the name.
const HAS_TAG: u8 = 1 << 1;
/// Flag bit: a package path `nameOff` follows the name (and the tag).
const HAS_PKG_PATH: u8 = 1 << 2;
/// Flag bit (Go 1.19+): the struct field this names is embedded.
const EMBEDDED: u8 = 1 << 3;

/// One decoded name; its bytes borrow the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name<'data> {
    /// The flag byte.
    pub(crate) flags: u8,
    /// The name.
    pub(crate) name: &'data [u8],
    /// The tag, when there is one.
    pub(crate) tag: Option<&'data [u8]>,
    /// The package path's `nameOff`, when there is one.
    pub(crate) pkg_path: Option<i32>,
}

impl<'data> Name<'data> {
    /// Decodes the name at `off` of `r`; every byte it needs must be inside `r`.
    pub(crate) fn read(r: &Reader<'data>, off: u64, lengths: NameLengths) -> Result<Name<'data>> {
        let flags = r.u8("abi.Name flags", off)?;
        let (len, at) = length(r, "abi.Name length", off + 1, lengths)?;
        let name = r.bytes("abi.Name bytes", at, len)?;
        // Inside the reader, so no overflow.
        let mut next = at + len;
        let tag = if flags & HAS_TAG != 0 {
            let (tlen, tat) = length(r, "abi.Name tag length", next, lengths)?;
            let tag = r.bytes("abi.Name tag", tat, tlen)?;
            // Inside the reader, so no overflow.
            next = tat + tlen;
            Some(tag)
        } else {
            None
        };
        let pkg_path = if flags & HAS_PKG_PATH != 0 {
            Some(r.i32("abi.Name pkgPath nameOff", next)?)
        } else {
            None
        };
        Ok(Name {
            flags,
            name,
            tag,
            pkg_path,
        })
    }

    /// Exported (flag bit 0).
    pub(crate) fn exported(&self) -> bool {
        self.flags & EXPORTED != 0
    }

    /// Embedded struct field (flag bit 3, Go 1.19+).
    pub(crate) fn embedded(&self) -> bool {
        self.flags & EMBEDDED != 0
    }
}

/// A length at `off`: its value and the offset of the bytes after it.
fn length(r: &Reader<'_>, what: &'static str, off: u64, l: NameLengths) -> Result<(u64, u64)> {
    match l {
        NameLengths::BigEndian16 => {
            let b = r.bytes(what, off, 2)?;
            let v = b.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
            Ok((v, off + 2))
        }
        NameLengths::Uvarint => {
            let (v, n) = r.uvarint(what, off)?;
            Ok((v, off + n))
        }
    }
}

/// Whether the name at `off` looks like it has a two-byte big-endian length: the byte after the
/// flags is the length's high byte, zero for names shorter than 256 bytes, where a uvarint length
/// of a non-empty name is never zero. Type strings are never empty.
pub(crate) fn looks_big_endian16(r: &Reader<'_>, off: u64) -> Result<bool> {
    Ok(r.u8("abi.Name length", off + 1)? == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Endian;
    use crate::Error;

    #[test]
    fn uvarint_names_with_tag_and_package_path() {
        // Flags: exported, tag, pkgPath, embedded; "Name"; tag `json:"n"`; nameOff 0x1234.
        let mut d = vec![0x0f, 4];
        d.extend_from_slice(b"Name");
        d.push(8);
        d.extend_from_slice(b"json:\"n\"");
        d.extend_from_slice(&0x1234i32.to_le_bytes());
        let r = Reader::new(&d, 0x100, Endian::Little);
        let n = Name::read(&r, 0, NameLengths::Uvarint).unwrap();
        assert_eq!(n.name, b"Name");
        assert_eq!(n.tag, Some(&b"json:\"n\""[..]));
        assert_eq!(n.pkg_path, Some(0x1234));
        assert!(n.exported() && n.embedded());
        // A long name: a two-byte uvarint (200 = 0xc8 0x01).
        let mut d = vec![0, 0xc8, 0x01];
        d.extend(std::iter::repeat_n(b'x', 200));
        let n = Name::read(&Reader::new(&d, 0, Endian::Big), 0, NameLengths::Uvarint).unwrap();
        assert_eq!(n.name.len(), 200);
        assert!(!n.exported());
    }

    #[test]
    fn big_endian16_names() {
        // Go 1.16: "*main.T", then a tag of length 0x0102 would be too long: none here.
        let mut d = vec![0x04, 0, 7];
        d.extend_from_slice(b"*main.T");
        d.extend_from_slice(&0x10i32.to_be_bytes());
        let r = Reader::new(&d, 0, Endian::Big);
        let n = Name::read(&r, 0, NameLengths::BigEndian16).unwrap();
        assert_eq!(
            (n.name, n.tag, n.pkg_path),
            (&b"*main.T"[..], None, Some(0x10))
        );
        assert!(looks_big_endian16(&r, 0).unwrap());
        // The same bytes read as uvarint give an empty name and a wrong package path: the probe
        // is what tells them apart.
        let v = [0x00u8, 7, b'm'];
        assert!(!looks_big_endian16(&Reader::new(&v, 0, Endian::Big), 0).unwrap());
    }

    #[test]
    fn names_past_their_bytes_are_errors_with_offsets() {
        let d = [0x01u8, 10, b'a', b'b'];
        let r = Reader::new(&d, 0x2000, Endian::Little);
        assert_eq!(
            Name::read(&r, 0, NameLengths::Uvarint).unwrap_err(),
            Error::Truncated {
                what: "abi.Name bytes",
                offset: 0x2002,
                need: 10,
                have: 2
            }
        );
        // A tag flag with no tag.
        let d = [0x02u8, 1, b'a'];
        let r = Reader::new(&d, 0x10, Endian::Little);
        assert!(matches!(
            Name::read(&r, 0, NameLengths::Uvarint),
            Err(Error::Truncated {
                what: "abi.Name tag length",
                offset: 0x13,
                ..
            })
        ));
        // A tag length of 2^64 - 1 (the fuzzer's find: the sum overflowed before the check).
        let mut d = vec![0x02u8, 1, b'a'];
        d.extend([0xff; 9]);
        d.push(0x01);
        let r = Reader::new(&d, 0, Endian::Little);
        assert!(matches!(
            Name::read(&r, 0, NameLengths::Uvarint),
            Err(Error::Truncated {
                what: "abi.Name tag",
                ..
            })
        ));
        // A uvarint that never ends.
        let d = [
            0u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let r = Reader::new(&d, 0, Endian::Little);
        assert!(matches!(
            Name::read(&r, 0, NameLengths::Uvarint),
            Err(Error::BadValue {
                what: "abi.Name length",
                offset: 1,
                ..
            })
        ));
        // A pkgPath flag with only two bytes of nameOff.
        let d = [0x04u8, 0, 1, b'a', 0, 0];
        let r = Reader::new(&d, 0, Endian::Big);
        assert!(matches!(
            Name::read(&r, 0, NameLengths::BigEndian16),
            Err(Error::Truncated {
                what: "abi.Name pkgPath nameOff",
                offset: 4,
                ..
            })
        ));
    }
}

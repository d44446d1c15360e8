//! Names of Go runtime types, read from the binary's own type descriptors: what an interface
//! value's type word (or its itab's type word) points to.
//!
//! A `runtime._type` (`internal/abi.Type` from Go 1.21) starts with `size`, `ptrdata` (words),
//! `hash` (4 bytes), `tflag`, `align`, `fieldAlign`, `kind` (1 byte each), `equal` (or `alg`
//! before 1.14) and `gcdata` (words), then `str`, a 32-bit offset of the name from
//! `moduledata.types`. The layout has been the same since Go 1.7. The name is a flag byte and a
//! length (2 bytes big-endian before Go 1.17, a uvarint since), then the bytes; `tflag` bit 1
//! (`tflagExtraStar`) means the stored name has a `*` that is not part of it.

use pclntab::{GoBinary, VirtAddr};
use std::collections::HashMap;
use std::sync::Mutex;

const TFLAG_EXTRA_STAR: u8 = 1 << 1;

/// Resolves type addresses (link-time addresses) to names, with a cache.
pub struct TypeNames<'a, 'data> {
    bin: &'a GoBinary<'data>,
    cache: Mutex<HashMap<u64, Option<String>>>,
}

impl<'a, 'data> TypeNames<'a, 'data> {
    /// For `bin`.
    pub fn new(bin: &'a GoBinary<'data>) -> Self {
        TypeNames {
            bin,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The name of the type at link-time address `addr`, if it is a type descriptor of the
    /// binary.
    pub fn name(&self, addr: u64) -> Option<String> {
        let mut cache = self.cache.lock().ok()?;
        if let Some(n) = cache.get(&addr) {
            return n.clone();
        }
        let n = self.read(addr);
        if cache.len() < 1 << 16 {
            cache.insert(addr, n.clone());
        }
        n
    }

    fn read(&self, addr: u64) -> Option<String> {
        let md = self.bin.moduledata.as_ref()?;
        let (types, etypes) = md.types;
        if addr < types || addr >= etypes {
            return None;
        }
        let c = &self.bin.container;
        let ptr = u64::from(c.ptr_size);
        let tflag = c.bytes_at("type", VirtAddr(addr + 2 * ptr + 4), 1).ok()?;
        let tflag = *tflag.first()?;
        let r = c.reader_at("type", VirtAddr(addr + 4 * ptr + 8)).ok()?;
        let name_off = r.i32("type name offset", 0).ok()?;
        let name_at = types.checked_add_signed(i64::from(name_off))?;
        let r = c.reader_at("type name", VirtAddr(name_at)).ok()?;
        let varint_lengths = self.bin.go_minor().is_none_or(|m| m >= 17);
        let (len, start) = if varint_lengths {
            let (len, n) = r.uvarint("type name length", 1).ok()?;
            (len, 1 + n)
        } else {
            let b = r.bytes("type name length", 1, 2).ok()?;
            (u64::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])), 3)
        };
        let bytes = r.bytes("type name", start, len.min(4096)).ok()?;
        let mut name = String::from_utf8_lossy(bytes).into_owned();
        if tflag & TFLAG_EXTRA_STAR != 0 && name.starts_with('*') {
            name.remove(0);
        }
        Some(name)
    }
}

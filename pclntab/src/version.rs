//! The Go version of a binary without build info: the runtime's own `runtime.buildVersion`.
//!
//! The linker sets `runtime.buildVersion` (a string header in the data, pointing to the version
//! in read-only data) and `runtime.schedinit` reads it (`if buildVersion == ""`, which keeps it in
//! every binary: `runtime/proc.go`). So the version is found as a string header in writable data
//! that points to a well-formed version string; it is taken as exact when `runtime.schedinit`'s
//! code refers to that header (amd64 and 386: its address in an instruction; arm64: an `ADRP`
//! and a load or store of it), and otherwise only when every header found says the same version.

use crate::container::{Container, VirtAddr};
use crate::reader::Reader;
use crate::table::LineTable;
use std::collections::HashSet;

/// Strings that start like a version: where `runtime.buildVersion` may point.
const PREFIXES: [&[u8]; 2] = [b"go1.", b"devel "];
/// No version string is longer (`devel go1.22-abcdef0123 Tue Jan 2 15:04:05 2024 +0000 X:...`).
const MAX_LEN: u64 = 200;
/// More candidate strings than this means the data is not a Go binary's: give up.
const MAX_CANDIDATES: usize = 4096;

/// The version, as `runtime.Version()` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// `go1.21.13`, `go1.22rc1`, `go1.20 X:boringcrypto`, `devel go1.23-abc...`.
    pub version: String,
    /// Where the string header `runtime.buildVersion` is.
    pub header: VirtAddr,
    /// `runtime.schedinit`'s code refers to the header; else it is the only version found.
    pub referenced: bool,
}

/// Whether `s` is a version string the linker writes: `go1.N[.M][rcK|betaK][ X:exp,...]`, or
/// `devel ` and printable text.
pub fn well_formed(s: &[u8]) -> bool {
    if let Some(rest) = s.strip_prefix(b"devel ") {
        return !rest.is_empty() && rest.iter().all(|b| (b' '..=b'~').contains(b));
    }
    let Some(rest) = s.strip_prefix(b"go1.") else {
        return false;
    };
    let (release, experiments) = match rest.iter().position(|b| *b == b' ') {
        Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i..)),
        None => (rest, None),
    };
    if let Some(x) = experiments {
        let Some(list) = x.strip_prefix(b" X:") else {
            return false;
        };
        let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b',' || *b == b'_';
        if list.is_empty() || !list.iter().all(ok) {
            return false;
        }
    }
    // N, then .M, then rcK or betaK.
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = digits(release);
    if n == 0 {
        return false;
    }
    let mut rest = release.get(n..).unwrap_or_default();
    if let Some(r) = rest.strip_prefix(b".") {
        let m = digits(r);
        if m == 0 {
            return false;
        }
        rest = r.get(m..).unwrap_or_default();
    }
    for pre in [b"rc".as_slice(), b"beta"] {
        if let Some(r) = rest.strip_prefix(pre) {
            let k = digits(r);
            return k > 0 && k == r.len();
        }
    }
    rest.is_empty()
}

/// Finds `runtime.buildVersion` (see the module documentation). `None` when no header points to
/// a version string, or when the headers found disagree and the code decides nothing.
pub fn find(c: &Container<'_>, table: &LineTable<'_>) -> Option<RuntimeVersion> {
    let file = c.reader();
    // Version-like strings in the read-only loaded data.
    let mut strings: HashSet<u64> = HashSet::new();
    for reg in c.regions.iter().filter(|r| !r.writable) {
        let data = file.bytes("rodata", reg.offset.0, reg.file_size).ok()?;
        for prefix in PREFIXES {
            for i in memchr::memmem::find_iter(data, prefix) {
                strings.insert(reg.vaddr.0 + i as u64);
                if strings.len() > MAX_CANDIDATES {
                    return None;
                }
            }
        }
    }
    if strings.is_empty() {
        return None;
    }
    // String headers in writable data that point to one.
    let p = u64::from(c.ptr_size);
    let mut found: Vec<(VirtAddr, String)> = Vec::new();
    for reg in c.regions.iter().filter(|r| r.writable) {
        let Ok(r) = file.sub("data", reg.offset.0, reg.file_size) else {
            continue;
        };
        let first = reg.vaddr.0.wrapping_neg() % p;
        let mut off = first;
        while off + 2 * p <= r.len() {
            let at = off;
            off += p;
            let Ok(ptr) = r.word("string data", at, c.ptr_size) else {
                break;
            };
            if !strings.contains(&ptr) {
                continue;
            }
            let Ok(len) = r.word("string length", at + p, c.ptr_size) else {
                break;
            };
            if !(4..=MAX_LEN).contains(&len) {
                continue;
            }
            let Ok(bytes) = c.bytes_at("version string", VirtAddr(ptr), len) else {
                continue;
            };
            if well_formed(bytes) {
                let v = String::from_utf8_lossy(bytes).into_owned();
                found.push((VirtAddr(reg.vaddr.0 + at), v));
            }
        }
    }
    let referenced: Vec<&(VirtAddr, String)> = match schedinit_code(c, table) {
        Some((entry, code)) => found
            .iter()
            .filter(|(h, _)| {
                refers_to(c.arch, code, entry, h.0) || refers_to(c.arch, code, entry, h.0 + p)
            })
            .collect(),
        None => Vec::new(),
    };
    let one = |list: &[&(VirtAddr, String)]| {
        let first = list.first()?;
        list.iter()
            .all(|(_, v)| *v == first.1)
            .then(|| (*first).clone())
    };
    if let Some((header, version)) = one(&referenced) {
        return Some(RuntimeVersion {
            version,
            header,
            referenced: true,
        });
    }
    if !referenced.is_empty() {
        return None;
    }
    let all: Vec<&(VirtAddr, String)> = found.iter().collect();
    one(&all).map(|(header, version)| RuntimeVersion {
        version,
        header,
        referenced: false,
    })
}

/// The entry and code of `runtime.schedinit`, if the table has it.
fn schedinit_code<'data>(
    c: &Container<'data>,
    table: &LineTable<'data>,
) -> Option<(u64, &'data [u8])> {
    for i in 0..table.len() {
        let f = table.func(i).ok()?;
        if f.name == b"runtime.schedinit" {
            let size = table.extent(&f).ok()?.code_size;
            return Some((
                f.entry.0,
                c.bytes_at("runtime.schedinit", f.entry, size).ok()?,
            ));
        }
    }
    None
}

/// Whether the machine code `code` (at `entry`) of architecture `arch` addresses `target`:
/// - amd64: a RIP-relative displacement (followed by an immediate of 0, 1 or 4 bytes);
/// - 386: an absolute 32-bit address;
/// - arm64: `ADRP` of its page, then a 64-bit `LDR`/`STR` or an `ADD` of its offset in the page,
///   on the same register.
///
/// Other architectures: `false` (not decoded).
pub fn refers_to(arch: &str, code: &[u8], entry: u64, target: u64) -> bool {
    let r = Reader::new(code, 0, crate::Endian::Little);
    let n = code.len() as u64;
    match arch {
        "amd64" => (0..n.saturating_sub(3)).any(|i| {
            let Ok(disp) = r.i32("disp32", i) else {
                return false;
            };
            [0u64, 1, 4].iter().any(|k| {
                let next = entry.wrapping_add(i + 4 + k);
                next.wrapping_add(disp as i64 as u64) == target
            })
        }),
        "386" => (0..n.saturating_sub(3))
            .any(|i| r.u32("addr32", i).is_ok_and(|v| u64::from(v) == target)),
        "arm64" => (0..n / 4).any(|k| {
            let (Ok(w), Ok(w2)) = (r.u32("insn", k * 4), r.u32("insn", k * 4 + 4)) else {
                return false;
            };
            if w & 0x9f00_0000 != 0x9000_0000 {
                return false;
            }
            let pc = entry.wrapping_add(k * 4);
            let imm = ((u64::from(w >> 5) & 0x7_ffff) << 2) | (u64::from(w >> 29) & 3);
            // Sign-extend the 21-bit page count.
            let pages = ((imm << 43) as i64) >> 43;
            let page = (pc & !0xfff).wrapping_add((pages << 12) as u64);
            if page != target & !0xfff {
                return false;
            }
            let rd = w & 31;
            let rn = (w2 >> 5) & 31;
            let imm12 = u64::from((w2 >> 10) & 0xfff);
            let ldr_str = matches!(w2 & 0xffc0_0000, 0xf940_0000 | 0xf900_0000);
            let add = w2 & 0xffc0_0000 == 0x9100_0000;
            rn == rd && ((ldr_str && page + imm12 * 8 == target) || (add && page + imm12 == target))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings() {
        for ok in [
            "go1.21.13",
            "go1.22rc1",
            "go1.18beta2",
            "go1.20",
            "go1.20 X:boringcrypto",
            "go1.24.1 X:nosynchashtriemap,aliastypeparams",
            "devel go1.23-abcdef Tue Jan 2 15:04:05 2024 +0000",
        ] {
            assert!(well_formed(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "go1.",
            "go1.x",
            "go1.21.",
            "go1.21rc",
            "go1.21 X:",
            "go1.21 foo",
            "go2.0",
            "devel ",
            "go1.21\n",
        ] {
            assert!(!well_formed(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn code_references() {
        // amd64: CMPQ runtime.buildVersion+8(SB), $0 at 0x434577: 48 83 3d <disp32> 00.
        let code = [0x48, 0x83, 0x3d, 0x29, 0xf1, 0x0c, 0x00, 0x00];
        assert!(refers_to("amd64", &code, 0x434577, 0x5036a8));
        assert!(!refers_to("amd64", &code, 0x434577, 0x5036a0));
        // 386: MOVL runtime.buildVersion+4(SB), AX: 8b 05 a4 29 13 08.
        let code = [0x8b, 0x05, 0xa4, 0x29, 0x13, 0x08];
        assert!(refers_to("386", &code, 0x807e270, 0x81329a4));
        // arm64: ADRP 847872(PC), R27; MOVD 3272(R27), R1 at 0x42cd8 (header 0x111cc0).
        let code = [0x7b, 0x06, 0x00, 0xf0, 0x61, 0x67, 0x46, 0xf9];
        assert!(refers_to("arm64", &code, 0x42cd8, 0x111cc8));
        assert!(!refers_to("arm64", &code, 0x42cd8, 0x111cc0));
        assert!(!refers_to("ppc64", &code, 0x42cd8, 0x111cc8));
    }
}

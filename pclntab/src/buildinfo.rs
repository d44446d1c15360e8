//! Build information: the `\xff Go buildinf:` blob (`debug/buildinfo`), Go 1.13 and later.
//!
//! Two forms: before Go 1.18 the blob holds pointers to the `runtime.buildVersion` and
//! `runtime.modinfo` strings; from 1.18 it holds both strings inline, each prefixed by its
//! length as a uvarint.

use crate::container::{Container, VirtAddr};
use crate::reader::{Endian, Reader};
use crate::Result;

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Go's own reader looks only this far into the data.
const SEARCH_LIMIT: u64 = 64 * 1024;

/// A module: the main one, a dependency, or a replacement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    /// Module path.
    pub path: String,
    /// Version (`(devel)` for the main module of a local build).
    pub version: String,
    /// Checksum (`h1:...`), when known.
    pub sum: String,
    /// What `replace` in go.mod put in its place.
    pub replace: Option<Box<Module>>,
}

/// The build information of a Go binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// Toolchain version as `go version` prints it (`go1.21.13`).
    pub go_version: String,
    /// Whether the blob was stored inline (Go 1.18+) or through pointers.
    pub inline: bool,
    /// The main package's import path.
    pub path: Option<String>,
    /// The main module.
    pub main: Option<Module>,
    /// Dependencies, sorted by path.
    pub deps: Vec<Module>,
    /// Build settings (`GOOS`, `GOARCH`, `CGO_ENABLED`, `-ldflags`, `vcs.revision`, ...).
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// The value of build setting `key`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Finds and reads the build information. `Ok(None)` when there is none (Go before 1.13, or
/// removed); an error when the blob is there but damaged.
pub fn find(c: &Container<'_>) -> Result<Option<BuildInfo>> {
    let Some(r) = locate(c) else { return Ok(None) };
    parse(c, &r).map(Some)
}

/// The blob: in its own section when the file has one, else 16-byte aligned near the start of
/// a writable region.
fn locate<'data>(c: &Container<'data>) -> Option<Reader<'data>> {
    if let Some(s) = c.section(&[".go.buildinfo", "__go_buildinfo"]) {
        if let Ok(r) = c.section_reader(s) {
            if r.data().starts_with(MAGIC) {
                return Some(r);
            }
        }
    }
    let file = c.reader();
    for reg in c.regions.iter().filter(|r| r.writable) {
        let Ok(r) = file.sub("data", reg.offset.0, reg.file_size.min(SEARCH_LIMIT)) else {
            continue;
        };
        let mut at = 0u64;
        while let Some(i) =
            memchr::memmem::find(r.data().get(at as usize..).unwrap_or_default(), MAGIC)
        {
            let off = at + i as u64;
            if off & 15 == 0 {
                return file.tail("buildinfo", reg.offset.0 + off).ok();
            }
            at = off + 1;
        }
    }
    None
}

fn parse(c: &Container<'_>, r: &Reader<'_>) -> Result<BuildInfo> {
    let ptr_size = r.u8("buildinfo pointer size", 14)?;
    let flags = r.u8("buildinfo flags", 15)?;
    let endian = if flags & 1 != 0 {
        Endian::Big
    } else {
        Endian::Little
    };
    let (version, modinfo) = if flags & 2 != 0 {
        let (vlen, n) = r.uvarint("buildinfo version length", 32)?;
        let version = r.bytes("buildinfo version", 32 + n, vlen)?;
        let off = 32 + n + vlen;
        let (mlen, n) = r.uvarint("buildinfo modinfo length", off)?;
        (
            version.to_vec(),
            r.bytes("buildinfo modinfo", off + n, mlen)?.to_vec(),
        )
    } else {
        let r = Reader::new(r.data(), r.base(), endian);
        let p = u64::from(ptr_size);
        let string_at = |what: &'static str, at: u64| -> Result<Vec<u8>> {
            let hdr = VirtAddr(r.word(what, at, ptr_size)?);
            if c.is_zero_fill(hdr) {
                // A string header in bss: the empty string (a binary built without modules).
                return Ok(Vec::new());
            }
            let hr = c.reader_at(what, hdr)?;
            let hr = Reader::new(hr.data(), hr.base(), endian);
            let data = hr.word(what, 0, ptr_size)?;
            let len = hr.word(what, p, ptr_size)?;
            if len == 0 {
                return Ok(Vec::new());
            }
            Ok(c.bytes_at(what, VirtAddr(data), len)?.to_vec())
        };
        (
            string_at("runtime.buildVersion", 16)?,
            string_at("runtime.modinfo", 16 + p)?,
        )
    };
    let mut info = BuildInfo {
        go_version: String::from_utf8_lossy(&version).into_owned(),
        inline: flags & 2 != 0,
        ..BuildInfo::default()
    };
    parse_modinfo(&mut info, &modinfo);
    // Go writes them sorted already; sorting keeps lookups by path correct for any input.
    info.deps.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(info)
}

/// Parses `runtime.modinfo` (the text `go version -m` prints), framed by 16-byte sentinels.
fn parse_modinfo(info: &mut BuildInfo, raw: &[u8]) {
    let mut text = raw;
    if raw.len() >= 33 && raw.get(raw.len() - 17) == Some(&b'\n') {
        text = raw.get(16..raw.len() - 16).unwrap_or_default();
    }
    let text = String::from_utf8_lossy(text);
    let module = |f: &[&str]| Module {
        path: f.first().copied().unwrap_or("").to_string(),
        version: f.get(1).copied().unwrap_or("").to_string(),
        sum: f.get(2).copied().unwrap_or("").to_string(),
        replace: None,
    };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let rest = fields.get(1..).unwrap_or_default();
        match fields.first().copied() {
            Some("path") => info.path = rest.first().map(|s| s.to_string()),
            Some("mod") => info.main = Some(module(rest)),
            Some("dep") => info.deps.push(module(rest)),
            Some("=>") => {
                let target = match info.deps.last_mut() {
                    Some(d) => Some(d),
                    None => info.main.as_mut(),
                };
                if let Some(t) = target {
                    t.replace = Some(Box::new(module(rest)));
                }
            }
            Some("build") => {
                info.settings.push(split_setting(&rest.join("\t")));
            }
            _ => {}
        }
    }
}

/// Splits `key=value`, where the key may be quoted and contain `=`.
fn split_setting(kv: &str) -> (String, String) {
    if kv.starts_with('"') {
        let mut escaped = false;
        for (i, ch) in kv.char_indices().skip(1) {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    let (k, rest) = kv.split_at(i + 1);
                    return (unquote(k), unquote(rest.strip_prefix('=').unwrap_or(rest)));
                }
                _ => {}
            }
        }
    }
    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
    (unquote(k), unquote(v))
}

/// Undoes the `strconv.Quote` Go applies to setting keys and values with special characters.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modinfo_lines() {
        let mut text = Vec::new();
        text.extend_from_slice(&[0x30; 16]);
        text.extend_from_slice(
            b"path\texample.com/cmd\nmod\texample.com\t(devel)\t\ndep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n=>\t../sys\t(devel)\t\nbuild\t-ldflags=\"-s -w\"\nbuild\tGOOS=linux\nbuild\t\"a=b\"=\"x\\ty\"\n",
        );
        text.extend_from_slice(&[0x31; 16]);
        let mut info = BuildInfo::default();
        parse_modinfo(&mut info, &text);
        assert_eq!(info.path.as_deref(), Some("example.com/cmd"));
        assert_eq!(info.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(info.deps.len(), 1);
        assert_eq!(info.deps[0].sum, "h1:abc=");
        assert_eq!(info.deps[0].replace.as_ref().unwrap().path, "../sys");
        assert_eq!(info.setting("-ldflags"), Some("-s -w"));
        assert_eq!(info.setting("GOOS"), Some("linux"));
        assert_eq!(info.setting("a=b"), Some("x\ty"));
    }
}

//! This crate finds and reads the Go runtime's own symbol tables in ELF, PE and Mach-O files:
//! pclntab (function names, entry addresses, files, lines, inline trees), moduledata, build
//! info and the type descriptors. They survive `-ldflags='-s -w'`, because the runtime needs
//! them for stack traces, interfaces and garbage collection, so this works on stripped binaries
//! of every Go release from 1.2 on (type descriptors: from 1.15).
//!
//! It borrows the file's bytes and copies nothing it does not have to; it does no I/O except in
//! [`map_file`], never panics on malformed input, and never allocates an amount read from the
//! file without checking it against the bytes that are really there.
//!
//! # Overview
//! - [`GoBinary::parse`] takes the bytes of a file and finds everything: the [`Container`], the
//!   [`LineTable`] (pclntab), the [`ModuleData`] that points to it, and the [`BuildInfo`].
//! - [`GoBinary::functions`] iterates over every function as a [`Function`] (name, entry, end,
//!   package, [`Kind`], file and line), and [`GoBinary::lookup`] maps an address to its function
//!   and the chain of inlined calls at it.
//! - [`GoBinary::type_descs`] reads the runtime's type descriptors ([`TypeDescs`]): every type
//!   reachable through interfaces or reflection, with its size, fields, elements and methods.
//!
//! ```no_run
//! let map = pclntab::map_file(std::path::Path::new("/usr/bin/some-go-program"))?;
//! let bin = pclntab::GoBinary::parse(&map)?;
//! let mut funcs = bin.functions();
//! while let Some(f) = funcs.next()? {
//!     println!("{:#x} {}", f.entry.0, f.name);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod buildinfo;
pub mod container;
mod error;
mod locate;
pub mod moduledata;
pub mod names;
pub mod pcheader;
pub mod reader;
pub mod table;
pub mod typedesc;
pub mod version;

pub use buildinfo::{BuildInfo, Module};
pub use container::{Container, FileOffset, Format, Section, VirtAddr};
pub use error::{Error, Result};
pub use locate::FoundBy;
pub use moduledata::{ModuleData, ModuleLayout};
pub use names::Kind;
pub use pcheader::{PcHeader, PclnVersion};
pub use reader::Endian;
pub use table::{Func, FuncLayout, LineTable};
pub use typedesc::{
    ChanDir, IMethod, Itab, MapLayout, Method, StructField, TypeDesc, TypeDescs, TypeDetail,
    TypeKind,
};

use reader::Reader;
use std::borrow::Cow;

/// Maps a file into memory, read-only.
pub fn map_file(path: &std::path::Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the map is read-only and private to this process. If another process truncates
    // or rewrites the file while it is mapped, reads may see the new bytes or fault with SIGBUS;
    // gosyms accepts that, as every tool that maps its input does, in exchange for not reading
    // files of hundreds of megabytes into memory.
    unsafe { memmap2::Mmap::map(&file) }
}

/// Where the Go version of a binary was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    /// The build info blob (`go version -m` reads the same).
    BuildInfo,
    /// The runtime's `runtime.buildVersion` string ([`version`]).
    Runtime,
}

impl VersionSource {
    /// "build info" or "runtime".
    pub fn name(self) -> &'static str {
        match self {
            VersionSource::BuildInfo => "build info",
            VersionSource::Runtime => "runtime",
        }
    }
}

/// Options for [`GoBinary::parse_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// For a fat Mach-O file: the slice to read, by GOARCH name (default: the first).
    pub arch: Option<String>,
}

/// A Go binary with its tables found.
#[derive(Debug)]
pub struct GoBinary<'data> {
    /// The container.
    pub container: Container<'data>,
    /// The function table.
    pub table: LineTable<'data>,
    /// How the table was found.
    pub found_by: FoundBy,
    /// The moduledata that points to the table, when found.
    pub moduledata: Option<ModuleData>,
    /// Build information, when present.
    pub build_info: Option<BuildInfo>,
    /// A problem with the build information, if it was there but unreadable.
    pub build_info_error: Option<Error>,
    /// The runtime's own version string, looked for when the build info has no version.
    pub runtime_version: Option<version::RuntimeVersion>,
    go_minor: Option<u32>,
    last_origin: std::sync::Mutex<Option<(String, Kind)>>,
}

/// A function, with what gosyms reports about it.
#[derive(Debug, Clone)]
pub struct Function<'data> {
    /// The `_func` record.
    pub func: Func<'data>,
    /// Full name (`main.(*T).Method`, `net/http.(*conn).serve`; generic functions as pclntab has
    /// them: `main.Map[go.shape.int,go.shape.string]`, and `main.Map[...]` from Go 1.18 and 1.19).
    pub name: Cow<'data, str>,
    /// Entry address.
    pub entry: VirtAddr,
    /// One past the last byte of its code.
    pub end: VirtAddr,
    /// Package path, `""` for compiler-generated symbols outside any package.
    pub package: Cow<'data, str>,
    /// What kind of function it is.
    pub kind: Kind,
    /// Source file of the entry.
    pub file: Option<Cow<'data, str>>,
    /// Source line of the entry.
    pub line: Option<i32>,
    /// Bytes of arguments and results on the stack frame (`args`); `None` when the table says
    /// unknown (assembly without a declared size).
    pub args_size: Option<u32>,
    /// Largest SP delta in the body: the frame size (`funcMaxSPDelta`).
    pub frame_size: i32,
}

impl Function<'_> {
    /// Size of the code in bytes.
    pub fn size(&self) -> u64 {
        self.end.0 - self.entry.0
    }
}

/// One frame at a PC: the function that owns the PC, or a function inlined into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'data> {
    /// Function name.
    pub function: Cow<'data, str>,
    /// Source file.
    pub file: Option<Cow<'data, str>>,
    /// Source line.
    pub line: Option<i32>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
}

/// What [`GoBinary::lookup`] finds at an address.
#[derive(Debug, Clone)]
pub struct Location<'data> {
    /// The function whose code holds the address.
    pub function: Function<'data>,
    /// Offset of the address into it.
    pub offset: u64,
    /// The frames at the address, innermost first; the last is `function` itself.
    pub frames: Vec<Frame<'data>>,
}

/// A function's inline tree: the calls inlined into it (`FUNCDATA_InlTree`), and the PCDATA
/// table (`PCDATA_InlTreeIndex`) that gives, for each PC, the innermost inlined call it belongs
/// to (-1 for the function's own code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineTree {
    /// Virtual address of entry 0.
    pub base: u64,
    /// Offset of the PCDATA table in the pc-value tables (for [`LineTable::pcvalues`]).
    pub pcdata: u32,
}

/// One entry of an inline tree (`runtime.inlinedCall`): a call that the compiler inlined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlinedCall<'data> {
    /// The inlined function's name.
    pub name: &'data [u8],
    /// Offset from the outer function's entry of a PC whose position (and inline tree index)
    /// is the call site's, in the caller.
    pub parent_pc: i32,
    /// Line of the inlined function's `func` keyword (Go 1.20+).
    pub start_line: Option<i32>,
}

/// Iterates over functions, in table (address) order; stops for good after the first error.
///
/// Each iterator remembers the origin of the last package it classified (the function table
/// groups functions by package), so iterators over parts of the table can run on several
/// threads without sharing anything ([`GoBinary::functions_in`]).
#[derive(Debug)]
pub struct Functions<'a, 'data> {
    bin: &'a GoBinary<'data>,
    next: usize,
    end: usize,
    failed: bool,
    with_lines: bool,
    last_origin: Option<(String, Kind)>,
}

impl<'data> Functions<'_, 'data> {
    /// The next function, `None` after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Function<'data>>> {
        if self.failed || self.next >= self.end {
            return Ok(None);
        }
        let i = self.next;
        self.next += 1;
        let bin = self.bin;
        let with_lines = self.with_lines;
        let r = bin.function_with(i, with_lines, |p| self.origin(p));
        self.failed = r.is_err();
        r.map(Some)
    }

    /// Do not decode file and line (faster; `file`, `line` are `None`, and `kind` does not
    /// use the file name to spot assembly and generated code).
    pub fn without_lines(mut self) -> Self {
        self.with_lines = false;
        self
    }

    /// Where package `package` comes from, as [`GoBinary::origin`] says, remembering the last
    /// answer in this iterator.
    pub fn origin(&mut self, package: &str) -> Kind {
        match &self.last_origin {
            Some((p, k)) if p == package => *k,
            _ => {
                let k = names::origin(package, self.bin.build_info.as_ref());
                self.last_origin = Some((package.to_string(), k));
                k
            }
        }
    }
}

/// `b` as text, invalid UTF-8 replaced. Names and file names are ASCII in practice, which
/// `str::from_utf8` checks several times faster than the lossy conversion walks it.
fn utf8(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

impl<'data> GoBinary<'data> {
    /// Finds the Go tables in `data`, the bytes of an executable file.
    ///
    /// The function table is searched by section name, then by symbol, then by scanning the
    /// file for every pclntab magic; each candidate's header is checked and the candidate is
    /// confirmed by finding the moduledata that points to it. When no magic is found (it may have
    /// been overwritten by an obfuscator), moduledata is searched for by its shape instead.
    pub fn parse(data: &'data [u8]) -> Result<Self> {
        Self::parse_with(data, &Options::default())
    }

    /// [`GoBinary::parse`] with options.
    pub fn parse_with(data: &'data [u8], opts: &Options) -> Result<Self> {
        let container = Container::parse(data, opts.arch.as_deref())?;
        let (build_info, build_info_error) = match buildinfo::find(&container) {
            Ok(b) => (b, None),
            Err(e) => (None, Some(e)),
        };
        let go_minor = build_info.as_ref().and_then(|b| go_minor(&b.go_version));
        let found = locate::locate(&container, go_minor).map_err(|e| match e {
            // A Go binary cut short loses its tables with its bytes: say so, not "not Go".
            Error::NotGo => cut_short(&container).unwrap_or(Error::NotGo),
            e => e,
        })?;
        let has_version = build_info
            .as_ref()
            .is_some_and(|b| !b.go_version.is_empty());
        let runtime_version = if has_version {
            None
        } else {
            version::find(&container, &found.table)
        };
        let go_minor = go_minor.or_else(|| {
            runtime_version
                .as_ref()
                .and_then(|v| self::go_minor(v.version.trim_start_matches("devel ")))
        });
        Ok(GoBinary {
            container,
            table: found.table,
            found_by: found.found_by,
            moduledata: found.moduledata,
            build_info,
            build_info_error,
            runtime_version,
            go_minor,
            last_origin: std::sync::Mutex::new(None),
        })
    }

    /// The Go version that built it, as `go version` prints it: from the build info, else from
    /// the runtime's `runtime.buildVersion` (see [`GoBinary::go_version_source`]).
    pub fn go_version(&self) -> Option<&str> {
        self.build_info
            .as_ref()
            .map(|b| b.go_version.as_str())
            .filter(|v| !v.is_empty())
            .or(self.runtime_version.as_ref().map(|v| v.version.as_str()))
    }

    /// Where [`GoBinary::go_version`] comes from.
    pub fn go_version_source(&self) -> Option<VersionSource> {
        let from_build_info = self
            .build_info
            .as_ref()
            .is_some_and(|b| !b.go_version.is_empty());
        match (from_build_info, &self.runtime_version) {
            (true, _) => Some(VersionSource::BuildInfo),
            (false, Some(_)) => Some(VersionSource::Runtime),
            (false, None) => None,
        }
    }

    /// The minor number of the Go 1.x release, when known.
    pub fn go_minor(&self) -> Option<u32> {
        self.go_minor
    }

    /// GOOS: from the build settings when recorded, else from the container.
    pub fn os(&self) -> Option<&str> {
        self.build_info
            .as_ref()
            .and_then(|b| b.setting("GOOS"))
            .or(self.container.os)
    }

    /// Iterates over all functions, in table (address) order.
    pub fn functions(&self) -> Functions<'_, 'data> {
        self.functions_in(0..self.table.len())
    }

    /// Iterates over functions `range` of the table (clipped to it), in table order.
    pub fn functions_in(&self, range: std::ops::Range<usize>) -> Functions<'_, 'data> {
        Functions {
            bin: self,
            next: range.start,
            end: range.end.min(self.table.len()),
            failed: false,
            with_lines: true,
            last_origin: None,
        }
    }

    /// Function `i` of the table.
    pub fn function(&self, i: usize, with_lines: bool) -> Result<Function<'data>> {
        self.function_with(i, with_lines, |p| self.origin(p))
    }

    /// Function `i`, with `origin_of` telling where a package comes from.
    fn function_with(
        &self,
        i: usize,
        with_lines: bool,
        origin_of: impl FnOnce(&str) -> Kind,
    ) -> Result<Function<'data>> {
        let func = self.table.func(i)?;
        let extent = self.table.extent(&func)?;
        let (file, line) = if with_lines {
            self.table.file_line(&func, func.entry)?
        } else {
            (None, None)
        };
        let name = utf8(func.name);
        // Borrow the package from the name when the name is borrowed from the file.
        let package: Cow<'data, str> = match &name {
            Cow::Borrowed(n) => Cow::Borrowed(names::package_of(n)),
            Cow::Owned(n) => Cow::Owned(names::package_of(n).to_string()),
        };
        let kind = names::kind(&name, &package, file, func.flag, self.go_minor(), origin_of);
        Ok(Function {
            func,
            entry: func.entry,
            end: VirtAddr(func.entry.0 + extent.code_size),
            frame_size: extent.frame_size,
            args_size: u32::try_from(func.args).ok(),
            package,
            name,
            kind,
            file: file.map(utf8),
            line,
        })
    }

    /// Where package `package` comes from (main module, standard library, dependency). The
    /// last answer is kept: the function table groups functions by package.
    pub fn origin(&self, package: &str) -> Kind {
        let mut last = self.last_origin.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((p, k)) if p == package => *k,
            _ => {
                let k = names::origin(package, self.build_info.as_ref());
                *last = Some((package.to_string(), k));
                k
            }
        }
    }

    /// The function containing `pc`, the offset into it, and the inlined frames at `pc`.
    pub fn lookup(&self, pc: VirtAddr) -> Result<Option<Location<'data>>> {
        let Some(i) = self.table.find(pc)? else {
            return Ok(None);
        };
        let function = self.function(i, true)?;
        if pc >= function.end {
            // In the padding after the function's code.
            return Ok(None);
        }
        let frames = self.frames(&function.func, pc)?;
        Ok(Some(Location {
            offset: pc.0 - function.entry.0,
            function,
            frames,
        }))
    }

    /// The frames at `pc` in `f`: each inlined call, innermost first, then `f`.
    fn frames(&self, f: &Func<'data>, pc: VirtAddr) -> Result<Vec<Frame<'data>>> {
        let mut frames = Vec::new();
        let tree = self.inline_tree(f)?;
        let mut pc = pc;
        // Each step moves to the parent's call site; a well-formed tree is a few levels deep.
        for _ in 0..64 {
            let (file, line) = self.table.file_line(f, pc)?;
            let ix = match &tree {
                Some(t) => self.table.pcvalue(f, t.pcdata, pc)?.unwrap_or(-1),
                None => -1,
            };
            let (Some(tree), true) = (&tree, ix >= 0) else {
                frames.push(Frame {
                    function: utf8(f.name),
                    file: file.map(utf8),
                    line,
                    inlined: false,
                });
                return Ok(frames);
            };
            let call = self.inlined_call(tree, ix as u64)?;
            frames.push(Frame {
                function: utf8(call.name),
                file: file.map(utf8),
                line,
                inlined: true,
            });
            pc = VirtAddr(f.entry.0.wrapping_add(call.parent_pc as i64 as u64));
        }
        Err(Error::BadValue {
            what: "inline tree (too deep or cyclic)",
            offset: f.record,
            value: pc.0,
        })
    }

    /// `f`'s inline tree, if it has one (and the PCDATA table that indexes it).
    pub fn inline_tree(&self, f: &Func<'data>) -> Result<Option<InlineTree>> {
        let minor = self.go_minor();
        let (funcdata_index, pcdata_index) = match (self.table.header.version, minor) {
            (PclnVersion::Go12, Some(m)) if m < 12 => return Ok(None),
            (PclnVersion::Go12, Some(12)) => (2, 1),
            (PclnVersion::Go12, _) if self.table.layout == FuncLayout::Go12 => return Ok(None),
            (PclnVersion::Go12, _) => (4, 2),
            _ => (3, 2),
        };
        let Some(pcdata) = self.table.pcdata(f, pcdata_index)? else {
            return Ok(None);
        };
        let Some(fd) = self.table.funcdata(f, funcdata_index)? else {
            return Ok(None);
        };
        let base = match self.table.header.version {
            PclnVersion::Go118 | PclnVersion::Go120 => {
                match self.moduledata.as_ref().and_then(|m| m.gofunc) {
                    Some(g) => g.wrapping_add(fd),
                    None => return Ok(None),
                }
            }
            _ => fd,
        };
        Ok(Some(InlineTree { base, pcdata }))
    }

    /// Entry `ix` of an inline tree.
    pub fn inlined_call(&self, tree: &InlineTree, ix: u64) -> Result<InlinedCall<'data>> {
        // (size, nameOff, parentPc, startLine): Go 1.20's `inlinedCall`, and Go 1.12-1.19's
        // (with parent, file and line fields, and no start line).
        let (size, name_at, parent_pc_at, start_line_at) = match self.table.header.version {
            PclnVersion::Go120 => (16, 4, 8, Some(12)),
            _ => (20, 12, 16, None),
        };
        let at = ix
            .checked_mul(size)
            .and_then(|o| o.checked_add(tree.base))
            .ok_or(Error::BadValue {
                what: "inline tree index",
                offset: 0,
                value: ix,
            })?;
        let r = self.container.reader_at("inlinedCall", VirtAddr(at))?;
        let r = Reader::new(r.data(), r.base(), self.table.header.endian);
        Ok(InlinedCall {
            name: self.table.name_at(r.u32("inlinedCall.nameOff", name_at)?)?,
            parent_pc: r.i32("inlinedCall.parentPc", parent_pc_at)?,
            start_line: start_line_at
                .map(|o| r.i32("inlinedCall.startLine", o))
                .transpose()?,
        })
    }

    /// Whether the binary uses cgo: recorded in the build settings (Go 1.18+), or the Go half
    /// of runtime/cgo is linked in (`runtime/cgo.*`, and `_cgo_panic` & co. before Go 1.18).
    pub fn cgo(&self) -> Result<bool> {
        if let Some(v) = self
            .build_info
            .as_ref()
            .and_then(|b| b.setting("CGO_ENABLED"))
        {
            return Ok(v == "1");
        }
        for i in 0..self.table.len() {
            let name = self.table.func(i)?.name;
            if name.starts_with(b"runtime/cgo.") || name.starts_with(b"_cgo_") {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// [`Error::CutShort`] for the first section, in file order, whose bytes run past the end of the
/// file.
fn cut_short(c: &Container<'_>) -> Option<Error> {
    let len = c.file.len() as u64;
    c.sections
        .iter()
        .filter(|s| s.file_size > 0 && s.offset.0.saturating_add(s.file_size) > len)
        .min_by_key(|s| s.offset.0)
        .map(|s| Error::CutShort {
            section: s.name.clone(),
            end: s.offset.0.saturating_add(s.file_size),
            len,
        })
}

/// The N of a `go1.N...` version string.
pub fn go_minor(version: &str) -> Option<u32> {
    let rest = version.strip_prefix("go1.")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_minor_versions() {
        assert_eq!(super::go_minor("go1.18"), Some(18));
        assert_eq!(super::go_minor("go1.21.13"), Some(21));
        assert_eq!(super::go_minor("go1.22rc1"), Some(22));
        assert_eq!(super::go_minor("devel +abc"), None);
        assert_eq!(super::go_minor("go1."), None);
    }
}

//! From patterns to plans.

use crate::abi::{self, Abi, Layout, Location, Piece, PieceKind, ValueLayout};
use crate::arginfo::{self, Shape};
use crate::dwarf::Dwarf;
use crate::pattern::{near_matches, Pattern};
use crate::plan::{Goid, LayoutSource, Plan, Site};
use crate::types::{Field, GoType};
use crate::{disasm, goid};
use pclntab::{GoBinary, Kind, PclnVersion, VirtAddr};
use std::borrow::Cow;

/// Why patterns could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A pattern matched no function.
    #[error("no function matches {pattern:?}{}", suggest(.suggestions))]
    NoMatch {
        /// The pattern.
        pattern: String,
        /// Names that look like it.
        suggestions: Vec<String>,
    },
    /// A signature disagrees with the binary's DWARF.
    #[error("signature of {function} contradicts DWARF: {detail}")]
    SignatureContradicts {
        /// The function.
        function: String,
        /// The first difference.
        detail: String,
    },
    /// The debug file is not a build of the same program.
    #[error("debug file does not match the binary: {0}")]
    DebugFileMismatch(String),
    /// Reading the binary failed.
    #[error(transparent)]
    Pclntab(#[from] pclntab::Error),
    /// Reading DWARF failed.
    #[error("DWARF: {0}")]
    Dwarf(String),
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", s.join(", "))
    }
}

/// Resolves patterns against one binary.
pub struct Resolver<'a, 'data> {
    bin: &'a GoBinary<'data>,
    dwarf: Option<(Dwarf, LayoutSource)>,
    /// Why the binary's own DWARF could not be used, if it could not.
    dwarf_error: Option<String>,
}

/// Whether functions of this binary (not written in assembly) use the register ABI, when that
/// can be told from the Go version.
fn register_abi(arch: &str, minor: Option<u32>, table: PclnVersion) -> Option<bool> {
    // The first release whose compiler passes arguments in registers on each architecture.
    let first = match arch {
        "amd64" => 17,
        "arm64" | "ppc64" | "ppc64le" => 18,
        "riscv64" => 19,
        "loong64" => 20,
        _ => return Some(false),
    };
    match (minor, table) {
        (Some(m), _) => Some(m >= first),
        (None, PclnVersion::Go118 | PclnVersion::Go120) => (first <= 18).then_some(true),
        (None, PclnVersion::Go12) => Some(false),
        (None, PclnVersion::Go116) => (first > 17).then_some(false),
    }
}

impl<'a, 'data> Resolver<'a, 'data> {
    /// A resolver for `bin`. Its own DWARF is used when present; else `debug` (the bytes of an
    /// unstripped build of the same program), checked to have the same functions at the same
    /// addresses.
    pub fn new(
        bin: &'a GoBinary<'data>,
        debug: Option<&GoBinary<'_>>,
    ) -> Result<Self, ResolveError> {
        // Damaged DWARF in the binary is not fatal: the other sources of types remain.
        let (own, dwarf_error) = match Dwarf::load(&bin.container) {
            Ok(d) => (d, None),
            Err(e) => (
                None,
                Some(format!("the binary's DWARF is unreadable ({e})")),
            ),
        };
        let dwarf = match (own, debug) {
            (Some(d), _) => Some((d, LayoutSource::Dwarf)),
            (None, Some(dbg)) => {
                same_program(bin, dbg)?;
                let d = Dwarf::load(&dbg.container)
                    .map_err(|e| ResolveError::Dwarf(e.to_string()))?
                    .ok_or_else(|| {
                        ResolveError::DebugFileMismatch("the debug file has no DWARF".into())
                    })?;
                Some((d, LayoutSource::DebugFile))
            }
            (None, None) => None,
        };
        Ok(Resolver {
            bin,
            dwarf,
            dwarf_error,
        })
    }

    /// Plans for every function matching any of `patterns`, in address order, each function
    /// once. Every pattern must match something.
    pub fn resolve(&self, patterns: &[Pattern]) -> Result<Vec<Plan>, ResolveError> {
        // Names only: no need to decode sizes, files or kinds of every function.
        let table = &self.bin.table;
        let all = (0..table.len())
            .map(|i| Ok(String::from_utf8_lossy(table.func(i)?.name)))
            .collect::<Result<Vec<_>, ResolveError>>()?;
        let mut selected = vec![false; all.len()];
        for p in patterns {
            let mut matched = false;
            for (n, sel) in all.iter().zip(selected.iter_mut()) {
                if p.matches(n) {
                    matched = true;
                    *sel = true;
                }
            }
            if !matched {
                let suggestions = match p.exact_name() {
                    Some(wanted) => near_matches(wanted, all.iter().map(|n| n.as_ref()), 3)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                    None => Vec::new(),
                };
                return Err(ResolveError::NoMatch {
                    pattern: pattern_text(p),
                    suggestions,
                });
            }
        }
        let abi0_wrappers = self.abi0_wrappers(&all)?;
        // Table order is address order.
        (0..all.len())
            .filter(|i| selected.get(*i) == Some(&true))
            .map(|i| {
                let sig = patterns.iter().find_map(|p| match p {
                    Pattern::Signature(s) if all.get(i).is_some_and(|n| *n == s.name) => Some(s),
                    _ => None,
                });
                self.plan(i, sig, abi0_wrappers.contains(&i))
            })
            .collect()
    }

    /// The ABI0 wrappers among `all` (names by function index): a Go function called from assembly gets
    /// an autogenerated wrapper of the same name whose arguments are on the stack. (An
    /// assembly function called from Go gets the reverse: an autogenerated register-ABI wrapper
    /// beside the assembly.)
    fn abi0_wrappers(&self, all: &[Cow<'_, str>]) -> Result<Vec<usize>, ResolveError> {
        let mut by_name: std::collections::HashMap<&str, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, n) in all.iter().enumerate() {
            by_name.entry(n.as_ref()).or_default().push(i);
        }
        let mut out = Vec::new();
        for same in by_name.values().filter(|v| v.len() > 1) {
            let funcs = same
                .iter()
                .map(|i| self.bin.function(*i, true))
                .collect::<Result<Vec<_>, _>>()?;
            let generated =
                |f: &pclntab::Function<'_>| f.file.as_deref() == Some("<autogenerated>");
            let wraps_go = funcs.iter().any(|f| !generated(f) && f.kind != Kind::Asm);
            if wraps_go {
                out.extend(funcs.iter().filter(|f| generated(f)).map(|f| f.func.index));
            }
        }
        Ok(out)
    }

    fn site(&self, vaddr: u64) -> Result<Site, ResolveError> {
        let off =
            self.bin
                .container
                .offset_of(VirtAddr(vaddr))
                .ok_or(pclntab::Error::Unmapped {
                    what: "function code",
                    vaddr,
                })?;
        Ok(Site {
            vaddr,
            file_offset: off.0,
        })
    }

    fn plan(
        &self,
        index: usize,
        sig: Option<&crate::signature::Signature>,
        abi0_wrapper: bool,
    ) -> Result<Plan, ResolveError> {
        let bin = self.bin;
        let f = bin.function(index, false)?;
        let name = f.name.to_string();
        let arch = bin.container.arch;
        let ptr = u64::from(bin.container.ptr_size);
        let mut notes: Vec<String> = self.dwarf_error.iter().cloned().collect();

        let dwarf_regabi = self.dwarf.as_ref().and_then(|(d, _)| d.regabi());
        if abi0_wrapper {
            notes.push(
                "ABI0 wrapper of a Go function (its entry for assembly callers): stack ABI".into(),
            );
        }
        let regabi = if f.kind == Kind::Asm || abi0_wrapper {
            Some(false)
        } else {
            dwarf_regabi.or_else(|| register_abi(arch, bin.go_minor(), bin.table.header.version))
        };
        let abi = match regabi {
            Some(true) => Abi::Register,
            Some(false) => Abi::Stack,
            None => {
                notes.push("calling convention unknown (Go 1.16 or 1.17 without build info): assuming the stack ABI".into());
                Abi::Stack
            }
        };

        // Return sites and the end of the stack check.
        let entry = self.site(f.entry.0)?;
        let code = bin.container.bytes_at("function code", f.entry, f.size())?;
        let (returns, returns_unsupported, tail_calls, indirect_jumps, entry_probe) =
            match disasm::scan(arch, code, f.entry.0, abi == Abi::Register) {
                Ok(scan) => {
                    let rets = scan
                        .returns
                        .iter()
                        .map(|a| self.site(*a))
                        .collect::<Result<Vec<_>, _>>()?;
                    let probe = match scan.after_stack_check {
                        Some(a) => self.site(a)?,
                        None => entry,
                    };
                    (rets, None, scan.tail_calls, scan.indirect_jumps, probe)
                }
                Err(e) => {
                    notes.push(format!(
                        "entry probe at the entry ({e}): it fires again when the stack grows"
                    ));
                    (
                        Vec::new(),
                        Some(e.to_string()),
                        Vec::new(),
                        Vec::new(),
                        entry,
                    )
                }
            };
        if returns.is_empty() && returns_unsupported.is_none() {
            notes.push(
                "no return instruction: the function never returns, or only through tail calls"
                    .into(),
            );
        }

        let (layout, layout_source) = self.layout(&f, &name, sig, arch, ptr, abi, &mut notes)?;

        let offset_dwarf = self
            .dwarf
            .as_ref()
            .and_then(|(d, _)| d.field_offset("runtime.g", "goid").ok().flatten());
        let offset_table = bin.go_minor().and_then(|m| goid::goid_offset(m, arch));
        let goid = Goid {
            g_register: goid::g_register(arch, abi == Abi::Register),
            offset: offset_dwarf.or(offset_table),
            offset_source: match (offset_dwarf, offset_table) {
                (Some(_), _) => Some("dwarf"),
                (None, Some(_)) => Some("table"),
                _ => None,
            },
        };
        Ok(Plan {
            function: name,
            arch,
            entry,
            end: f.end.0,
            entry_probe,
            returns,
            returns_unsupported,
            tail_calls,
            indirect_jumps,
            abi,
            layout,
            layout_source,
            goid,
            notes,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn layout(
        &self,
        f: &pclntab::Function<'_>,
        name: &str,
        sig: Option<&crate::signature::Signature>,
        arch: &str,
        ptr: u64,
        abi: Abi,
        notes: &mut Vec<String>,
    ) -> Result<(Option<Layout>, Option<LayoutSource>), ResolveError> {
        let unsupported = |notes: &mut Vec<String>| {
            notes.push(format!(
                "argument layout unsupported: the register ABI on {arch} is not implemented"
            ));
        };
        // (1, 2) DWARF.
        if let Some((d, source)) = &self.dwarf {
            // A function DWARF describes incompletely (the receiver of some autogenerated
            // wrappers) falls through to the sources below, with a note: one odd function
            // must not stop a trace of many.
            let params = match d.params(name) {
                Ok(p) => p,
                Err(e @ crate::dwarf::Error::Incomplete { .. }) => {
                    notes.push(format!("{e}; types from the next source"));
                    None
                }
                Err(e) => return Err(ResolveError::Dwarf(e.to_string())),
            };
            if let Some(params) = params {
                let (args, results): (Vec<_>, Vec<_>) =
                    params.into_iter().partition(|p| !p.is_result);
                let to_fields = |v: Vec<crate::dwarf::Param>| {
                    v.into_iter()
                        .map(|p| Field {
                            name: p.name,
                            ty: p.ty,
                        })
                        .collect::<Vec<_>>()
                };
                let (args, results) = (to_fields(args), to_fields(results));
                if let Some(sig) = sig {
                    check_signature(name, sig, &args, &results, ptr)?;
                }
                let layout = abi::layout(arch, ptr, abi, &args, &results);
                if layout.is_none() {
                    unsupported(notes);
                }
                return Ok((layout, Some(*source)));
            }
        }
        // (3) The user's signature.
        if let Some(sig) = sig {
            let layout = abi::layout(arch, ptr, abi, &sig.params, &sig.results);
            if layout.is_none() {
                unsupported(notes);
            }
            return Ok((layout, Some(LayoutSource::Signature)));
        }
        // (4) ArgInfo: word shapes of the inputs.
        if let Some(shapes) = self.arginfo(f)? {
            let layout = raw_layout(arch, ptr, abi, &shapes);
            if layout.is_none() {
                unsupported(notes);
            } else if abi == Abi::Register {
                notes.push("types unknown (no DWARF, no signature): words from FUNCDATA_ArgInfo, assumed to be in integer registers".into());
            } else {
                notes.push(
                    "types unknown (no DWARF, no signature): words from FUNCDATA_ArgInfo".into(),
                );
            }
            return Ok((layout, Some(LayoutSource::ArgInfo)));
        }
        // (5) The argument area's size (stack ABI only).
        if abi == Abi::Stack {
            if let Some(size) = f.args_size.filter(|s| *s > 0) {
                let words = u64::from(size) / ptr;
                let pieces = (0..words)
                    .map(|i| Piece {
                        path: format!("[{i}]"),
                        offset: i * ptr,
                        size: ptr,
                        kind: PieceKind::Uint,
                        location: Location::Stack(ptr + i * ptr),
                    })
                    .collect();
                let value = ValueLayout {
                    name: "args".into(),
                    ty: GoType::Array {
                        len: words,
                        elem: Box::new(GoType::Uintptr),
                    },
                    size: words * ptr,
                    pieces,
                };
                notes.push(
                    "types unknown: the whole argument area as words (arguments, then results)"
                        .into(),
                );
                return Ok((
                    Some(Layout {
                        abi,
                        args: vec![value],
                        results: Vec::new(),
                    }),
                    Some(LayoutSource::ArgsSize),
                ));
            }
        }
        notes.push("no argument information: declare a signature, or give --debug-file".into());
        Ok((None, None))
    }

    /// The decoded `FUNCDATA_ArgInfo` of `f` (Go 1.17+), if it has one.
    fn arginfo(&self, f: &pclntab::Function<'_>) -> Result<Option<Vec<Shape>>, ResolveError> {
        let bin = self.bin;
        if bin.go_minor().is_some_and(|m| m < 17) || bin.table.header.version == PclnVersion::Go12 {
            return Ok(None);
        }
        const FUNCDATA_ARG_INFO: u32 = 5;
        let Some(fd) = bin.table.funcdata(&f.func, FUNCDATA_ARG_INFO)? else {
            return Ok(None);
        };
        let vaddr = match bin.table.header.version {
            PclnVersion::Go118 | PclnVersion::Go120 => {
                match bin.moduledata.as_ref().and_then(|m| m.gofunc) {
                    Some(g) => g.wrapping_add(fd),
                    None => return Ok(None),
                }
            }
            _ => fd,
        };
        let r = bin
            .container
            .reader_at("FUNCDATA_ArgInfo", VirtAddr(vaddr))?;
        let data = r
            .data()
            .get(..r.data().len().min(arginfo::MAX_LEN + 1))
            .unwrap_or_default();
        // A malformed stream is treated as absent, not fatal: it only adds detail.
        Ok(arginfo::decode(data).ok())
    }
}

fn pattern_text(p: &Pattern) -> String {
    match p {
        Pattern::Exact(n) => n.clone(),
        Pattern::Glob(re) | Pattern::Regex(re) => re.as_str().to_string(),
        Pattern::Signature(s) => s.name.clone(),
    }
}

/// A layout of raw words from ArgInfo shapes: each top-level argument `arg0`, `arg1`, ... with
/// one piece per leaf. Register ABI: leaves take integer registers in order (an argument that
/// does not fit goes to the stack at its ArgInfo offset, which is then its real stack slot).
fn raw_layout(arch: &str, ptr: u64, abi: Abi, shapes: &[Shape]) -> Option<Layout> {
    let regs = match abi {
        Abi::Register => Some(abi::registers(arch)?),
        Abi::Stack => None,
    };
    let mut next_int = 0usize;
    let mut args = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let mut leaves = Vec::new();
        shape.leaves(&mut leaves);
        if leaves.is_empty() {
            continue;
        }
        let fits = regs.is_some_and(|r| next_int + leaves.len() <= r.ints.len());
        let first = leaves.first().map_or(0, |(off, _)| *off);
        let pieces: Vec<Piece> = leaves
            .iter()
            .enumerate()
            .map(|(j, (off, size))| {
                let location = match (regs, fits) {
                    (Some(r), true) => {
                        let reg = r.ints.get(next_int + j).copied().unwrap_or("?");
                        Location::IntReg(reg)
                    }
                    _ => Location::Stack(ptr + u64::from(*off)),
                };
                let path = if leaves.len() == 1 {
                    String::new()
                } else {
                    format!("[{j}]")
                };
                Piece {
                    path,
                    offset: u64::from(off.saturating_sub(first)),
                    size: u64::from(*size),
                    kind: PieceKind::Uint,
                    location,
                }
            })
            .collect();
        if fits {
            next_int += leaves.len();
        }
        let size = leaves.iter().map(|(_, s)| u64::from(*s)).sum();
        args.push(ValueLayout {
            name: format!("arg{i}"),
            ty: GoType::Array {
                len: leaves.len() as u64,
                elem: Box::new(GoType::Uintptr),
            },
            size,
            pieces,
        });
    }
    Some(Layout {
        abi,
        args,
        results: Vec::new(),
    })
}

/// A signature contradicts DWARF when the counts or the sizes of its values differ.
fn check_signature(
    name: &str,
    sig: &crate::signature::Signature,
    args: &[Field],
    results: &[Field],
    ptr: u64,
) -> Result<(), ResolveError> {
    let err = |detail: String| ResolveError::SignatureContradicts {
        function: name.to_string(),
        detail,
    };
    for (what, mine, theirs) in [
        ("arguments", &sig.params, args),
        ("results", &sig.results, results),
    ] {
        if mine.len() != theirs.len() {
            return Err(err(format!(
                "{} {what} declared, DWARF has {}",
                mine.len(),
                theirs.len()
            )));
        }
        for (m, t) in mine.iter().zip(theirs) {
            if m.ty.size(ptr) != t.ty.size(ptr) {
                return Err(err(format!(
                    "{} is {} ({} bytes), DWARF says {} {} ({} bytes)",
                    m.name,
                    m.ty,
                    m.ty.size(ptr),
                    t.name,
                    t.ty,
                    t.ty.size(ptr)
                )));
            }
        }
    }
    Ok(())
}

/// The debug file must be the same program: the same functions at the same addresses.
fn same_program(bin: &GoBinary<'_>, dbg: &GoBinary<'_>) -> Result<(), ResolveError> {
    let (a, b) = (&bin.table, &dbg.table);
    if a.len() != b.len() {
        return Err(ResolveError::DebugFileMismatch(format!(
            "{} functions here, {} in the debug file",
            a.len(),
            b.len()
        )));
    }
    for i in 0..a.len() {
        let (fa, fb) = (a.func(i)?, b.func(i)?);
        if fa.entry != fb.entry || fa.name != fb.name {
            return Err(ResolveError::DebugFileMismatch(format!(
                "function {i} is {} at {:#x} here, {} at {:#x} in the debug file",
                fa.name_str(),
                fa.entry.0,
                fb.name_str(),
                fb.entry.0
            )));
        }
    }
    Ok(())
}

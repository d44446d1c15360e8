//! From patterns to plans.

use crate::abi::{self, Abi, Layout, Location, Piece, PieceKind, ValueLayout};
use crate::arginfo::{self, Shape};
use crate::check::{self, Evidence};
use crate::described::{DescribedTypes, DEFAULT_DEPTH};
use crate::dwarf::Dwarf;
use crate::pattern::Pattern;
use crate::plan::{Goid, LayoutSource, Plan, Site};
use crate::stdsigs::StdSigs;
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
    SignatureContradictsDwarf {
        /// The function.
        function: String,
        /// The first difference.
        detail: String,
    },
    /// A signature disagrees with what the binary records of the function's arguments
    /// (`FUNCDATA_ArgInfo`, the spill block, the argument area's size).
    #[error("{function}: {detail}")]
    SignatureContradicts {
        /// The function.
        function: String,
        /// What the binary has.
        detail: String,
    },
    /// A signature names a type the binary does not describe.
    #[error("{function}: {detail}")]
    UnknownType {
        /// The function.
        function: String,
        /// Which type, and what to do.
        detail: String,
    },
    /// A declaration without a package matches functions of several packages.
    #[error("{pattern:?} matches {}: write the package (e.g. {})", .functions.join(", "), .functions.first().map_or("", |f| f.as_str()))]
    Ambiguous {
        /// The pattern.
        pattern: String,
        /// The functions it matches.
        functions: Vec<String>,
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
    /// The runtime's type descriptors, when the binary's can be read.
    types: Option<DescribedTypes<'a, 'data>>,
    /// gosyms' table of the standard library's signatures for the binary's release, when there
    /// is one (read when first needed).
    std: std::cell::OnceCell<Option<StdSigs>>,
}

/// The binary's type descriptors as Go types, followed `depth` pointers deep; `None` when they
/// cannot be read (no moduledata, a release before Go 1.15).
fn described_types<'a, 'data>(
    bin: &'a GoBinary<'data>,
    depth: u32,
) -> Option<DescribedTypes<'a, 'data>> {
    let ptr = u64::from(bin.container.ptr_size);
    bin.type_descs()
        .ok()
        .map(|d| DescribedTypes::new(d, ptr, depth))
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
        let types = described_types(bin, DEFAULT_DEPTH);
        Ok(Resolver {
            bin,
            dwarf,
            dwarf_error,
            types,
            std: std::cell::OnceCell::new(),
        })
    }

    /// Follow pointers `depth` levels into types from the binary's descriptors (default
    /// [`DEFAULT_DEPTH`]): their targets are laid out and read that deep.
    pub fn with_depth(mut self, depth: u32) -> Self {
        self.types = described_types(self.bin, depth);
        self
    }

    /// Use these standard-library signatures instead of those gosyms' table has for the
    /// binary's release; `None` leaves them out (standard-library functions then get their
    /// layouts from the other sources).
    pub fn with_std_signatures(self, sigs: Option<StdSigs>) -> Self {
        // Unset until first used: setting it now cannot fail.
        let _ = self.std.set(sigs);
        self
    }

    /// The binary's type descriptors, as Go types.
    pub fn types(&self) -> Option<&DescribedTypes<'a, 'data>> {
        self.types.as_ref()
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
            let mut matched = Vec::new();
            for (n, sel) in all.iter().zip(selected.iter_mut()) {
                if p.matches(n) {
                    matched.push(n.as_ref());
                    *sel = true;
                }
            }
            if let Pattern::Signature(s) = p {
                let mut distinct = matched.clone();
                distinct.dedup();
                if distinct.len() > 1 {
                    return Err(ResolveError::Ambiguous {
                        pattern: s.name.clone(),
                        functions: distinct.iter().map(|n| n.to_string()).collect(),
                    });
                }
            }
            let matched = !matched.is_empty();
            if !matched {
                let names: Vec<&str> = all.iter().map(|n| n.as_ref()).collect();
                return Err(ResolveError::NoMatch {
                    pattern: p.text(),
                    suggestions: p.suggestions(&names, 3),
                });
            }
        }
        let abi0_wrappers = self.abi0_wrappers(&all)?;
        // Table order is address order.
        (0..all.len())
            .filter(|i| selected.get(*i) == Some(&true))
            .map(|i| {
                let sig = patterns.iter().find_map(|p| match p {
                    Pattern::Signature(s) if all.get(i).is_some_and(|n| s.matches(n)) => Some(s),
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
        // With lines: before Go 1.21 only the file tells assembly apart.
        let f = bin.function(index, true)?;
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
        let scan = disasm::scan(arch, code, f.entry.0, abi == Abi::Register);
        let spills = scan.as_ref().ok().and_then(|s| s.spills.clone());
        let (returns, returns_unsupported, tail_calls, indirect_jumps, entry_probe) = match scan {
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

        let evidence = Evidence {
            arginfo: self.arginfo(&f)?,
            // The compiler emits the spills only when the function uses a register argument
            // (the OpArg*Reg values carry them; amd64/ssa.go, arm64/ssa.go): then all of them,
            // else none. An empty block says nothing.
            spills: spills.filter(|s| abi == Abi::Register && !s.is_empty()),
            args_size: f.args_size,
            generic: name.contains('['),
        };
        let (layout, layout_source) =
            self.layout(&f, &name, sig, arch, ptr, abi, &evidence, &mut notes)?;

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

    /// The layout of `f`'s arguments and results from the first source that has one and that
    /// the binary does not contradict (see [`check`]).
    #[allow(clippy::too_many_arguments)]
    fn layout(
        &self,
        f: &pclntab::Function<'_>,
        name: &str,
        sig: Option<&crate::signature::Signature>,
        arch: &str,
        ptr: u64,
        abi: Abi,
        evidence: &Evidence,
        notes: &mut Vec<String>,
    ) -> Result<(Option<Layout>, Option<LayoutSource>), ResolveError> {
        let unsupported = |notes: &mut Vec<String>| {
            notes.push(format!(
                "argument layout unsupported: the register ABI on {arch} is not implemented"
            ));
        };
        // (1, 2) DWARF.
        let mut dwarf_fields = None;
        if let Some((d, source)) = &self.dwarf {
            // A function DWARF describes incompletely (the receiver of some autogenerated
            // wrappers) falls through to the sources below, with a note: one odd function
            // must not stop a trace of many.
            let params = match d.params(name) {
                // Go writes no parameters into the DWARF of an assembly function or of an
                // ABI wrapper, whatever its Go declaration says: that is not an empty list
                // when the binary records arguments.
                Ok(Some(p))
                    if p.is_empty()
                        && (f.args_size.is_some_and(|a| a > 0)
                            || evidence.arginfo.as_ref().is_some_and(|a| !a.is_empty())) =>
                {
                    None
                }
                Ok(_) if f.kind == Kind::Asm => None,
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
                match abi::layout(arch, ptr, abi, &args, &results) {
                    None => unsupported(notes),
                    Some(l) => match check::check(&l, evidence, ptr) {
                        Ok(()) if sig.is_none() => return Ok((Some(l), Some(*source))),
                        Ok(()) => dwarf_fields = Some((args, results, *source, l)),
                        // DWARF is the compiler's own account: a contradiction is a bug of
                        // gosyms' ABI rules, reported rather than trusted.
                        Err(c) => notes.push(format!(
                            "the layout from DWARF contradicts the binary ({c}): not used"
                        )),
                    },
                }
            }
        }
        // (3) The user's signature: each way of reading it (with or without the receiver and
        // the dictionary of a generic function), in order, until one the binary accepts.
        if let Some(sig) = sig {
            let mut first_contradiction = None;
            let (candidates, receiver_unknown) = self.signature_candidates(name, sig)?;
            for (args, results) in candidates {
                let Some(l) = abi::layout(arch, ptr, abi, &args, &results) else {
                    unsupported(notes);
                    return Ok((None, Some(LayoutSource::Signature)));
                };
                let verdict = match &dwarf_fields {
                    Some((dargs, dresults, _, _)) => {
                        check_against_dwarf(&args, &results, dargs, dresults, ptr)
                    }
                    None => check::check(&l, evidence, ptr).map_err(|c| c.0),
                };
                match verdict {
                    Ok(()) => {
                        return Ok(match dwarf_fields {
                            // DWARF agrees: its names and types are the better ones.
                            Some((_, _, source, dl)) => (Some(dl), Some(source)),
                            None => (Some(l), Some(LayoutSource::Signature)),
                        });
                    }
                    Err(c) => {
                        first_contradiction.get_or_insert(c);
                    }
                }
            }
            // Read with its receiver, the signature might have fit: say why it could not be.
            if let Some(e) = receiver_unknown {
                return Err(e);
            }
            let detail = first_contradiction.unwrap_or_default();
            return Err(if dwarf_fields.is_some() {
                ResolveError::SignatureContradictsDwarf {
                    function: name.to_string(),
                    detail,
                }
            } else {
                ResolveError::SignatureContradicts {
                    function: name.to_string(),
                    detail,
                }
            });
        }
        // (4) A method's type from its receiver's method table.
        if let Some(types) = &self.types {
            if let Some(m) = types.method(f.entry.0) {
                match types.method_fields(m.receiver, m.mtyp) {
                    Ok((args, results)) => match abi::layout(arch, ptr, abi, &args, &results) {
                        None => unsupported(notes),
                        Some(l) => match check::check(&l, evidence, ptr) {
                            Ok(()) => return Ok((Some(l), Some(LayoutSource::MethodType))),
                            Err(c) => notes.push(format!(
                                "the method's type from its receiver's descriptor contradicts the binary ({c}): not used"
                            )),
                        },
                    },
                    Err(e) => notes.push(format!("the method's type is unusable ({e})")),
                }
            }
        }
        // (5) The standard library's signature, from gosyms' table for the binary's release.
        match self.std_layout(name, arch, ptr, abi, evidence) {
            Some(Ok(l)) => {
                notes.extend(self.std_sigs().and_then(|s| s.note()).map(String::from));
                return Ok((Some(l), Some(LayoutSource::StdSignature)));
            }
            Some(Err(note)) => notes.push(note),
            None => {}
        }
        // (6) ArgInfo, with the spill block for the registers: word shapes of the inputs.
        if let Some(shapes) = &evidence.arginfo {
            let (layout, note) = raw_layout(arch, ptr, abi, shapes, evidence);
            match layout {
                None => unsupported(notes),
                Some(_) => notes.push(note),
            }
            return Ok((layout, Some(LayoutSource::ArgInfo)));
        }
        // (7) The argument area's size (stack ABI only).
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
                    frame_offset: Some(0),
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
                        arg_area: u64::from(size),
                    }),
                    Some(LayoutSource::ArgsSize),
                ));
            }
        }
        notes.push("no argument information: declare a signature, or give --debug-file".into());
        Ok((None, None))
    }

    /// gosyms' table of the standard library's signatures for this binary's release.
    fn std_sigs(&self) -> Option<&StdSigs> {
        self.std
            .get_or_init(|| StdSigs::for_binary(self.bin).ok())
            .as_ref()
    }

    /// The layout of `name` from the table of the standard library's signatures: `None` when
    /// the table does not have it, a note when the binary contradicts it (or it cannot be laid
    /// out). The table's signature says the receiver and has no dictionary, so it is read one
    /// way only.
    fn std_layout(
        &self,
        name: &str,
        arch: &str,
        ptr: u64,
        abi: Abi,
        evidence: &Evidence,
    ) -> Option<Result<Layout, String>> {
        let std = self.std_sigs()?;
        let unusable = |e: &dyn std::fmt::Display| {
            format!("the standard library's signature is unusable ({e})")
        };
        let sig = match std.signature(name)? {
            Ok(sig) => sig,
            Err(e) => return Some(Err(unusable(&e))),
        };
        let (args, results) = match self.signature_candidates(name, &sig) {
            Ok((c, _)) => c.into_iter().next()?,
            Err(e) => return Some(Err(unusable(&e))),
        };
        let Some(l) = abi::layout(arch, ptr, abi, &args, &results) else {
            return Some(Err(format!(
                "argument layout unsupported: the register ABI on {arch} is not implemented"
            )));
        };
        // The note leaves out what differs, so that the functions it applies to share it
        // (assembly functions whose TEXT directive leaves out trailing padding, mostly).
        Some(match check::check(&l, evidence, ptr) {
            Ok(()) => Ok(l),
            Err(_) => Err(
                "the standard library's signature from gosyms' table contradicts the binary: not used"
                    .into(),
            ),
        })
    }

    /// The ways to read `sig` for function `name`, most likely first: with the receiver added
    /// when the signature leaves it out (`main.(*T).M(x int)` or the declaration form), and
    /// with the dictionary of a generic shape function first. Named types are looked up. A
    /// receiver the name implies but the binary does not describe (a struct by value) leaves
    /// only the readings as written, and comes back as the second value, the error to give
    /// when none of them fits.
    fn signature_candidates(
        &self,
        name: &str,
        sig: &crate::signature::Signature,
    ) -> Result<(Vec<Inputs>, Option<ResolveError>), ResolveError> {
        let package = sig.package_of(name).unwrap_or("");
        let resolve = |f: &Field| -> Result<Field, ResolveError> {
            Ok(Field {
                name: f.name.clone(),
                ty: self.resolve_type(name, package, &f.ty)?,
            })
        };
        let params = sig
            .params
            .iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let results = sig
            .results
            .iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        // The receiver: the declaration's, or the one the name implies.
        let mut receiver_unknown = None;
        let receiver = match &sig.receiver {
            Some(r) => Some((resolve(r)?, true)),
            None => match method_receiver(name).map(|ty| self.resolve_type(name, package, &ty)) {
                Some(Ok(ty)) => Some((
                    Field {
                        name: "recv".into(),
                        ty,
                    },
                    false,
                )),
                Some(Err(e)) => {
                    receiver_unknown = Some(e);
                    None
                }
                None => None,
            },
        };
        let dict = Field {
            name: DICT.into(),
            ty: GoType::Uintptr,
        };
        let mut out: Vec<Inputs> = Vec::new();
        let mut push = |args: Vec<Field>| {
            if !out.iter().any(|(a, _)| *a == args) {
                out.push((args, results.clone()));
            }
        };
        let with_dicts = |args: Vec<Field>| -> [Vec<Field>; 2] {
            let mut d = vec![dict.clone()];
            d.extend(args.iter().cloned());
            if name.contains("go.shape.") {
                [d, args]
            } else {
                [args, d]
            }
        };
        match receiver {
            // The declaration form says the receiver: it is an input.
            Some((r, true)) => {
                let mut args = vec![r];
                args.extend(params.iter().cloned());
                with_dicts(args).into_iter().for_each(&mut push);
            }
            // A method in the first form: with the receiver added first, then as written (a
            // method expression, receiver first).
            Some((r, false)) => {
                let mut args = vec![r];
                args.extend(params.iter().cloned());
                with_dicts(args).into_iter().for_each(&mut push);
                with_dicts(params.clone()).into_iter().for_each(&mut push);
            }
            None => with_dicts(params.clone()).into_iter().for_each(&mut push),
        }
        Ok((out, receiver_unknown))
    }

    /// `ty` with every name looked up in the binary's type descriptors: a named type's layout
    /// must come from the binary. Behind a pointer, a name the binary does not describe stays a
    /// name (only the address is read). `package` qualifies names written without one.
    fn resolve_type(
        &self,
        function: &str,
        package: &str,
        ty: &GoType,
    ) -> Result<GoType, ResolveError> {
        self.resolve_names(function, package, ty, true)
    }

    fn resolve_names(
        &self,
        function: &str,
        package: &str,
        ty: &GoType,
        by_value: bool,
    ) -> Result<GoType, ResolveError> {
        let again = |t: &GoType, by_value: bool| -> Result<Box<GoType>, ResolveError> {
            Ok(Box::new(
                self.resolve_names(function, package, t, by_value)?,
            ))
        };
        Ok(match ty {
            GoType::Opaque { name } => {
                let found = match self.types.as_ref().map(|t| t.named(name, package)) {
                    Some(Ok(t)) => t,
                    // Behind a pointer only the address is read: a type whose descriptor
                    // gosyms cannot lay out stays a name there.
                    Some(Err(_)) if !by_value => None,
                    Some(Err(e)) => {
                        return Err(ResolveError::UnknownType {
                            function: function.to_string(),
                            detail: e.to_string(),
                        })
                    }
                    None => None,
                };
                // Not described by the binary: what the standard library's table says it is
                // made of (the layout is checked against the binary all the same).
                let table = match (&found, by_value) {
                    (None, true) => self.std_sigs().and_then(|s| s.underlying(name)),
                    _ => None,
                };
                match (found, by_value, table) {
                    (_, _, Some(Err(e))) => {
                        return Err(ResolveError::UnknownType {
                            function: function.to_string(),
                            detail: format!(
                                "type {name}: the standard library's table has it unreadable ({e})"
                            ),
                        })
                    }
                    (_, _, Some(Ok(u))) => GoType::Named {
                        name: name.clone(),
                        underlying: again(&u, true)?,
                    },
                    (Some(t), _, None) => t,
                    (None, false, None) => ty.clone(),
                    (None, true, None) => {
                        let why = match &self.types {
                            Some(_) => "the binary's type descriptors do not describe it",
                            None => "the binary's type descriptors are unreadable",
                        };
                        return Err(ResolveError::UnknownType {
                            function: function.to_string(),
                            detail: format!(
                                "type {name}: {why}; write what it is made of (struct {{ ... }}, interface {{ ... }}, or its underlying type)"
                            ),
                        });
                    }
                }
            }
            GoType::Pointer(t) => GoType::Pointer(again(t, false)?),
            GoType::Slice(t) => GoType::Slice(again(t, false)?),
            GoType::Array { len, elem } => GoType::Array {
                len: *len,
                elem: again(elem, true)?,
            },
            GoType::Map { key, elem } => GoType::Map {
                key: again(key, false)?,
                elem: again(elem, false)?,
            },
            GoType::Struct(fields) => GoType::Struct(
                fields
                    .iter()
                    .map(|f| {
                        Ok(Field {
                            name: f.name.clone(),
                            ty: *again(&f.ty, true)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ResolveError>>()?,
            ),
            GoType::Named { name, underlying } => GoType::Named {
                name: name.clone(),
                underlying: again(underlying, by_value)?,
            },
            t => t.clone(),
        })
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

/// One way to read a signature: its inputs (receiver and dictionary included) and results.
type Inputs = (Vec<Field>, Vec<Field>);

/// The name of a generic shape function's dictionary argument, as Go's DWARF names it.
pub const DICT: &str = ".dict";

/// The receiver type a method's full name implies: `*pkg.T` for `pkg.(*T).M`, `pkg.T` for
/// `pkg.T.M`; `None` for functions and closures (`pkg.f.func1`, `pkg.(*T).M.func1`).
fn method_receiver(name: &str) -> Option<GoType> {
    let package = pclntab::names::package_of(name);
    let rest = name.get(package.len()..)?.strip_prefix('.')?;
    let closure = |m: &str| {
        ["func", "gowrap", "deferwrap"].iter().any(|p| {
            m.strip_prefix(p)
                .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
        })
    };
    if let Some(ptr) = rest.strip_prefix("(*") {
        let (t, m) = ptr.split_once(").")?;
        if m.contains('.') || m.ends_with("-fm") {
            return None;
        }
        return Some(GoType::Pointer(Box::new(GoType::Opaque {
            name: format!("{package}.{t}"),
        })));
    }
    // `T.M`: T may have type arguments, which may contain dots.
    let (t, m) = match rest.find('[') {
        Some(_) => {
            let close = rest.rfind(']')?;
            let m = rest.get(close + 1..)?.strip_prefix('.')?;
            (rest.get(..=close)?, m)
        }
        None => rest.split_once('.')?,
    };
    if t.is_empty() || m.is_empty() || m.contains('.') || closure(m) || t.contains(['(', ')']) {
        return None;
    }
    if m.ends_with("-fm") {
        return None;
    }
    Some(GoType::Opaque {
        name: format!("{package}.{t}"),
    })
}

/// A layout of raw words from ArgInfo shapes: each top-level argument `arg0`, `arg1`, ... with
/// one piece per leaf, and the note to show with it. Under the register ABI the spill block of
/// the stack check says which register holds each word and whether it is an integer or a
/// floating-point register (a float is unreadable, and shifts nothing); a word in no spill
/// slot is on the stack at its ArgInfo offset. Without a spill block the registers cannot be
/// told, and every word is marked unreadable rather than guessed.
fn raw_layout(
    arch: &str,
    ptr: u64,
    abi: Abi,
    shapes: &[Shape],
    ev: &Evidence,
) -> (Option<Layout>, String) {
    if abi == Abi::Register && abi::registers(arch).is_none() {
        return (None, String::new());
    }
    let spills = ev.spills.as_deref();
    let mut unknown_regs = false;
    let mut floats = false;
    let mut args = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let mut leaves = Vec::new();
        shape.leaves(&mut leaves);
        if leaves.is_empty() {
            continue;
        }
        let first = leaves.first().map_or(0, |(off, _)| *off);
        let pieces: Vec<Piece> = leaves
            .iter()
            .enumerate()
            .map(|(j, (off, size))| {
                let at = ptr + u64::from(*off);
                let spilled = spills.and_then(|s| s.iter().find(|s| s.sp_offset == at));
                let (location, kind) = match (abi, spilled) {
                    (Abi::Stack, _) => (Location::Stack(at), PieceKind::Uint),
                    (Abi::Register, Some(s)) if s.float => {
                        floats = true;
                        (Location::FloatReg(s.reg), PieceKind::Float)
                    }
                    (Abi::Register, Some(s)) => (Location::IntReg(s.reg), PieceKind::Uint),
                    // Not spilled: on the stack when the spill block lists every register
                    // word; unknown without a spill block.
                    (Abi::Register, None) if spills.is_some() => {
                        (Location::Stack(at), PieceKind::Uint)
                    }
                    (Abi::Register, None) => {
                        unknown_regs = true;
                        (Location::Unknown, PieceKind::Uint)
                    }
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
                    kind,
                    location,
                }
            })
            .collect();
        let size = leaves.iter().map(|(_, s)| u64::from(*s)).sum();
        args.push(ValueLayout {
            name: format!("arg{i}"),
            ty: GoType::Array {
                len: leaves.len() as u64,
                elem: Box::new(GoType::Uintptr),
            },
            size,
            pieces,
            frame_offset: Some(u64::from(first)),
        });
    }
    let mut note =
        String::from("types unknown (no DWARF, no signature): words from FUNCDATA_ArgInfo");
    if abi == Abi::Register {
        note.push_str(if unknown_regs {
            "; no stack check to show which registers hold them, so they are not read"
        } else {
            ", in the registers the stack check spills"
        });
        if floats {
            note.push_str(" (floating-point registers are unreadable)");
        }
    }
    if shapes.iter().any(|s| matches!(s, Shape::Elided)) {
        note.push_str("; ArgInfo describes the first ten words only");
    }
    let layout = Layout {
        abi,
        args,
        results: Vec::new(),
        arg_area: ev.args_size.map_or(0, u64::from),
    };
    (Some(layout), note)
}

/// A signature contradicts DWARF when the counts or the sizes of its values differ.
fn check_against_dwarf(
    args: &[Field],
    results: &[Field],
    dargs: &[Field],
    dresults: &[Field],
    ptr: u64,
) -> Result<(), String> {
    for (what, mine, theirs) in [("arguments", args, dargs), ("results", results, dresults)] {
        if mine.len() != theirs.len() {
            return Err(format!(
                "{} {what} declared, DWARF has {}",
                mine.len(),
                theirs.len()
            ));
        }
        for (m, t) in mine.iter().zip(theirs) {
            if m.ty.size(ptr) != t.ty.size(ptr) {
                return Err(format!(
                    "{} is {} ({} bytes), DWARF says {} {} ({} bytes)",
                    m.name,
                    m.ty,
                    m.ty.size(ptr),
                    t.name,
                    t.ty,
                    t.ty.size(ptr)
                ));
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

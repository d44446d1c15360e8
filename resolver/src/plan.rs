//! Attach plans: everything needed to probe one function.

use crate::abi::{Abi, Layout};

/// An address in the program and where it is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    /// Virtual address (as linked; for PIE, before relocation).
    pub vaddr: u64,
    /// Offset in the file: what the kernel attaches uprobes by.
    pub file_offset: u64,
}

/// Where type information for a layout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutSource {
    /// The binary's own DWARF.
    Dwarf,
    /// DWARF of a matching unstripped build (`--debug-file`).
    DebugFile,
    /// A signature the user wrote.
    Signature,
    /// The method table of the receiver's type descriptor: the method's func type (`mtyp`).
    MethodType,
    /// gosyms' table of the standard library's signatures for the binary's Go release
    /// ([`crate::stdsigs`]).
    StdSignature,
    /// The runtime's `FUNCDATA_ArgInfo`: word shapes of the inputs, no names or types.
    ArgInfo,
    /// Only the size of the argument area (stack ABI before Go 1.17): raw words.
    ArgsSize,
}

impl LayoutSource {
    /// "dwarf", "debug-file", "signature", "method-type", "std-signature", "arginfo" or
    /// "args-size".
    pub fn name(self) -> &'static str {
        match self {
            LayoutSource::Dwarf => "dwarf",
            LayoutSource::DebugFile => "debug-file",
            LayoutSource::Signature => "signature",
            LayoutSource::MethodType => "method-type",
            LayoutSource::StdSignature => "std-signature",
            LayoutSource::ArgInfo => "arginfo",
            LayoutSource::ArgsSize => "args-size",
        }
    }
}

/// Where the current goroutine's id can be read at a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goid {
    /// The register holding the `g` pointer at entry and return, or `None` where `g` lives in
    /// thread-local storage (stack ABI on amd64, and 386).
    pub g_register: Option<&'static str>,
    /// Offset of `goid` in `runtime.g`, when known.
    pub offset: Option<u64>,
    /// Where the offset came from: "dwarf" or "table".
    pub offset_source: Option<&'static str>,
}

/// How to probe one function.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Full name.
    pub function: String,
    /// The binary's GOARCH: what the register names in `layout` and `goid` belong to.
    pub arch: &'static str,
    /// Its entry.
    pub entry: Site,
    /// One past its last instruction.
    pub end: u64,
    /// Where an entry probe goes: just past the stack-bound check (so it fires once per call,
    /// even when the stack grows and the function restarts), or the entry if there is none.
    pub entry_probe: Site,
    /// Every return instruction.
    pub returns: Vec<Site>,
    /// Why there are no return sites, when the code could not be decoded for them.
    pub returns_unsupported: Option<String>,
    /// Jumps that leave the function (tail calls): returns that no RET probe sees.
    pub tail_calls: Vec<u64>,
    /// Indirect jumps (jump tables, or tail calls through a register, as in interface method
    /// wrappers): a return through one is not seen either.
    pub indirect_jumps: Vec<u64>,
    /// The calling convention.
    pub abi: Abi,
    /// Arguments and results, when they could be laid out.
    pub layout: Option<Layout>,
    /// Where the layout's types came from.
    pub layout_source: Option<LayoutSource>,
    /// The goroutine id.
    pub goid: Goid,
    /// Things the user should know (missing types, assumptions).
    pub notes: Vec<String>,
}

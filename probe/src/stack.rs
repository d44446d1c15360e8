//! Go call stacks (`--stack`): the return addresses the program found through frame pointers,
//! symbolized from pclntab, with inlined calls expanded, as `runtime.CallersFrames` gives
//! them.
//!
//! The first address is the probed instruction (the function's entry); every other one is a
//! return address, looked up one byte earlier so that it falls in the call instruction (its
//! line, and its inlined frames), as the runtime does. A PIE's load bias is taken off first.
//! The stack stops at the first address outside the binary's Go code (C code of a cgo
//! program, or a frame pointer the walk should not have followed).
//!
//! As `runtime.Callers` does, wrapper functions the compiler generated (a `go` statement's
//! `gowrap`, method wrappers: `funcID` `FuncIDWrapper`) are left out, unless they called a
//! panic. Their `funcID` changes between releases: it is the last of the enum, and the only
//! one outside package runtime, so it is taken from the first such function of the binary.

use foldhash::HashMap;
use pclntab::{GoBinary, VirtAddr};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::sync::Arc;

/// One frame of a call stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFrame {
    /// The function (for an inlined frame, the inlined function).
    pub function: Arc<str>,
    /// Its source file.
    pub file: Option<Arc<str>>,
    /// The line: of the call for every frame but the first, of the entry for the first.
    pub line: Option<i32>,
    /// Inlined into the next frame.
    pub inlined: bool,
}

impl Serialize for StackFrame {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("function", &*self.function)?;
        m.serialize_entry("file", &self.file.as_deref())?;
        m.serialize_entry("line", &self.line)?;
        m.serialize_entry("inlined", &self.inlined)?;
        m.end()
    }
}

/// Addresses remembered at most; then the cache starts over.
const CACHE: usize = 1 << 16;

/// What one address gives: its frames, innermost first (the last is the function that owns
/// the code), and what the runtime's traceback needs to know of that function.
#[derive(Clone)]
struct AtPc {
    frames: Arc<[StackFrame]>,
    /// A compiler-generated wrapper.
    wrapper: bool,
    /// A panic function (`runtime.gopanic`, `sigpanic`, `panicwrap`): a wrapper calling it
    /// is shown.
    panics: bool,
}

/// Symbolizes stacks of one binary, remembering each address's frames.
pub struct Symbolizer<'a, 'data> {
    bin: &'a GoBinary<'data>,
    cache: HashMap<u64, Option<AtPc>>,
    /// The `funcID` of wrappers in this binary's release.
    wrapper: Option<u8>,
}

/// The `funcID` the compiler gives wrappers: the only one outside package runtime (the others
/// name runtime functions), taken from the first function that has it.
fn wrapper_func_id(bin: &GoBinary<'_>) -> Option<u8> {
    let mut funcs = bin.functions().without_lines();
    while let Ok(Some(f)) = funcs.next() {
        if f.func.func_id != 0 && !f.name.starts_with("runtime.") {
            return Some(f.func.func_id);
        }
    }
    None
}

impl<'a, 'data> Symbolizer<'a, 'data> {
    /// A symbolizer for `bin`.
    pub fn new(bin: &'a GoBinary<'data>) -> Self {
        Symbolizer {
            bin,
            cache: HashMap::default(),
            wrapper: wrapper_func_id(bin),
        }
    }

    /// The frames at link-time address `addr`; `None` outside Go code.
    fn at(&mut self, addr: u64) -> Option<AtPc> {
        if let Some(f) = self.cache.get(&addr) {
            return f.clone();
        }
        let at = self.bin.lookup(VirtAddr(addr)).ok().flatten().map(|loc| {
            let name = loc.function.name.as_ref();
            AtPc {
                frames: loc
                    .frames
                    .iter()
                    .map(|f| StackFrame {
                        function: Arc::from(f.function.as_ref()),
                        file: f.file.as_deref().map(Arc::from),
                        line: f.line,
                        inlined: f.inlined,
                    })
                    .collect(),
                wrapper: self.wrapper == Some(loc.function.func.func_id),
                panics: matches!(
                    name,
                    "runtime.gopanic" | "runtime.sigpanic" | "runtime.panicwrap"
                ),
            }
        });
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        self.cache.insert(addr, at.clone());
        at
    }

    /// The stack of the return addresses `pcs` (innermost first, run-time addresses of a
    /// process loaded `bias` bytes above its link-time addresses).
    pub fn stack(&mut self, pcs: impl Iterator<Item = u64>, bias: u64) -> Vec<StackFrame> {
        let mut out = Vec::new();
        let mut callee_panics = false;
        for (i, pc) in pcs.enumerate() {
            // A return address is just past its call instruction.
            let addr = pc.wrapping_sub(bias).wrapping_sub(u64::from(i > 0));
            let Some(at) = self.at(addr) else {
                break;
            };
            let frames = if at.wrapper && !callee_panics {
                // The wrapper's own frame, not what was inlined into it.
                at.frames.get(..at.frames.len().saturating_sub(1))
            } else {
                at.frames.get(..)
            };
            out.extend(frames.unwrap_or_default().iter().cloned());
            callee_panics = at.panics;
        }
        out
    }
}

//! Go call stacks (`--stack`): the return addresses the program found through frame pointers,
//! symbolized from pclntab, with inlined calls expanded, as `runtime.CallersFrames` gives
//! them.
//!
//! The first address is the probed instruction (the function's entry); every other one is a
//! return address, looked up one byte earlier so that it falls in the call instruction (its
//! line, and its inlined frames), as the runtime does. A PIE's load bias is taken off first.
//! The stack stops at the first address outside the binary's Go code (C code of a cgo
//! program, or a frame pointer the walk should not have followed).

use pclntab::{GoBinary, VirtAddr};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::collections::HashMap;
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

/// Symbolizes stacks of one binary, remembering each address's frames.
pub struct Symbolizer<'a, 'data> {
    bin: &'a GoBinary<'data>,
    cache: HashMap<u64, Option<Arc<[StackFrame]>>>,
}

impl<'a, 'data> Symbolizer<'a, 'data> {
    /// A symbolizer for `bin`.
    pub fn new(bin: &'a GoBinary<'data>) -> Self {
        Symbolizer {
            bin,
            cache: HashMap::new(),
        }
    }

    /// The frames at link-time address `addr`, innermost first; `None` outside Go code.
    fn at(&mut self, addr: u64) -> Option<Arc<[StackFrame]>> {
        if let Some(f) = self.cache.get(&addr) {
            return f.clone();
        }
        let frames = self.bin.lookup(VirtAddr(addr)).ok().flatten().map(|loc| {
            loc.frames
                .iter()
                .map(|f| StackFrame {
                    function: Arc::from(f.function.as_ref()),
                    file: f.file.as_deref().map(Arc::from),
                    line: f.line,
                    inlined: f.inlined,
                })
                .collect::<Arc<[StackFrame]>>()
        });
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        self.cache.insert(addr, frames.clone());
        frames
    }

    /// The stack of the return addresses `pcs` (innermost first, run-time addresses of a
    /// process loaded `bias` bytes above its link-time addresses).
    pub fn stack(&mut self, pcs: impl Iterator<Item = u64>, bias: u64) -> Vec<StackFrame> {
        let mut out = Vec::new();
        for (i, pc) in pcs.enumerate() {
            // A return address is just past its call instruction.
            let addr = pc.wrapping_sub(bias).wrapping_sub(u64::from(i > 0));
            match self.at(addr) {
                Some(frames) => out.extend(frames.iter().cloned()),
                None => break,
            }
        }
        out
    }
}

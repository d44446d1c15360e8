//! Events from the ring buffer: parsing the fixed header, pairing returns with calls per
//! goroutine, and decoding values.

use crate::capture::{Captured, Recipe, TypeNamer};
use crate::typenames::TypeNames;
use pclntab::GoBinary;
use probe_common::{EventHeader, DEREF_FAILED, HEADER_BYTES, MAX_DEREFS, MAX_REGS};
use serde_json::Value;
use std::collections::HashMap;
use std::mem::offset_of;

/// One event as the program sent it.
#[derive(Debug, Clone)]
pub struct Event<'b> {
    /// Nanoseconds since boot.
    pub ts_ns: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Goroutine id (0: unknown).
    pub goid: u64,
    /// Stack pointer.
    pub sp: u64,
    /// The probed instruction's address.
    pub ip: u64,
    /// The goroutine's `stack.hi` (0: unknown).
    pub stack_hi: u64,
    /// The spec index.
    pub spec: u64,
    /// Registers.
    pub regs: [u64; MAX_REGS],
    /// Bytes per memory read.
    pub deref_len: [u32; MAX_DEREFS],
    /// The stack copy.
    pub stack: &'b [u8],
    /// Memory reads' bytes, back to back.
    pub data: &'b [u8],
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'b> Event<'b> {
    /// Parses an event; `None` if it is shorter than its header says.
    pub fn parse(b: &'b [u8]) -> Option<Self> {
        // Field offsets from the shared definition, so the two sides cannot drift apart.
        let field = |off: usize| u64_at(b, off);
        let mut regs = [0u64; MAX_REGS];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = field(offset_of!(EventHeader, regs) + 8 * i)?;
        }
        let mut deref_len = [0u32; MAX_DEREFS];
        for (i, d) in deref_len.iter_mut().enumerate() {
            *d = u32_at(b, offset_of!(EventHeader, deref_len) + 4 * i)?;
        }
        let stack_len = u32_at(b, offset_of!(EventHeader, stack_len))? as usize;
        let data_len = u32_at(b, offset_of!(EventHeader, data_len))? as usize;
        let data = b.get(HEADER_BYTES..HEADER_BYTES.checked_add(data_len)?)?;
        let pid_tgid = field(offset_of!(EventHeader, pid_tgid))?;
        Some(Event {
            ts_ns: field(offset_of!(EventHeader, ts_ns))?,
            pid: (pid_tgid >> 32) as u32,
            tid: pid_tgid as u32,
            goid: field(offset_of!(EventHeader, goid))?,
            sp: field(offset_of!(EventHeader, sp))?,
            ip: field(offset_of!(EventHeader, ip))?,
            stack_hi: field(offset_of!(EventHeader, stack_hi))?,
            spec: field(offset_of!(EventHeader, cookie))?,
            regs,
            deref_len,
            stack: data.get(..stack_len)?,
            data: data.get(stack_len..)?,
        })
    }

    /// The memory reads, split.
    fn captured(&self) -> Captured<'_> {
        let mut at = 0usize;
        let derefs = self
            .deref_len
            .iter()
            .map(|&n| {
                if n == DEREF_FAILED {
                    return None;
                }
                let s = self.data.get(at..at + n as usize);
                at += n as usize;
                s
            })
            .collect();
        Captured {
            regs: &self.regs,
            stack: self.stack,
            derefs,
        }
    }

    /// Depth on the goroutine's stack, stable when the stack moves (`stack.hi - sp`); without
    /// `g`, the stack pointer itself, negated so that deeper is larger.
    pub fn depth(&self) -> u64 {
        if self.stack_hi != 0 {
            self.stack_hi.wrapping_sub(self.sp)
        } else {
            self.sp.wrapping_neg()
        }
    }
}

/// A call waiting for its return.
struct Pending {
    depth: u64,
    function: usize,
    ts_ns: u64,
}

/// Pending calls per goroutine, to pair returns with calls.
#[derive(Default)]
pub struct Pairing {
    /// (pid, goid or tid) → pending calls, outermost first.
    stacks: HashMap<(u32, u64), Vec<Pending>>,
    /// Calls whose return was never seen (panics, tail calls, tracing stopped).
    pub unpaired_calls: u64,
    /// Returns whose call was not seen (it started before tracing).
    pub unpaired_returns: u64,
}

impl Pairing {
    fn key(e: &Event<'_>) -> (u32, u64) {
        // Without a goroutine id, the thread is the best there is (goroutines migrate).
        let id = if e.goid != 0 {
            e.goid
        } else {
            (1 << 63) | u64::from(e.tid)
        };
        (e.pid, id)
    }

    /// Records a call.
    pub fn call(&mut self, e: &Event<'_>, function: usize) {
        let depth = e.depth();
        let stack = self.stacks.entry(Self::key(e)).or_default();
        // Depth grows as the stack does: a pending call as deep or deeper than this one has
        // returned unseen.
        while stack.last().is_some_and(|p| p.depth >= depth) {
            stack.pop();
            self.unpaired_calls += 1;
        }
        stack.push(Pending {
            depth,
            function,
            ts_ns: e.ts_ns,
        });
    }

    /// Matches a return; gives the call's timestamp.
    pub fn ret(&mut self, e: &Event<'_>, function: usize) -> Option<u64> {
        let depth = e.depth();
        let key = Self::key(e);
        let Some(stack) = self.stacks.get_mut(&key) else {
            self.unpaired_returns += 1;
            return None;
        };
        // Deeper pending calls have returned unseen.
        while stack.last().is_some_and(|p| p.depth > depth) {
            stack.pop();
            self.unpaired_calls += 1;
        }
        let found = match stack.last() {
            Some(p) if p.depth == depth && p.function == function => {
                let ts = p.ts_ns;
                stack.pop();
                Some(ts)
            }
            _ => {
                self.unpaired_returns += 1;
                None
            }
        };
        if stack.is_empty() {
            self.stacks.remove(&key);
        }
        found
    }

    /// Calls still waiting for their return.
    pub fn pending(&self) -> u64 {
        self.stacks.values().map(|s| s.len() as u64).sum()
    }
}

/// A decoded event.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// A return (else a call).
    pub is_return: bool,
    /// Index of the function.
    pub function: usize,
    /// Nanoseconds since boot.
    pub ts_ns: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Goroutine id, when known.
    pub goid: Option<u64>,
    /// Arguments (calls) or results (returns).
    pub values: Value,
    /// Time since the paired call (returns).
    pub dur_ns: Option<u64>,
}

/// One traced function, as the decoder needs it.
pub struct DecodedFunction {
    /// Full name.
    pub name: String,
    /// Arguments at calls.
    pub entry: Recipe,
    /// Results at returns.
    pub ret: Recipe,
    /// Link-time address of the entry probe: an entry event's `ip` minus this is the load
    /// bias of a PIE.
    pub entry_probe_vaddr: u64,
}

/// Turns raw events into [`TraceEvent`]s.
pub struct Decoder<'a, 'data> {
    bin: &'a GoBinary<'data>,
    functions: Vec<DecodedFunction>,
    names: TypeNames<'a, 'data>,
    /// Load bias per process (PIE), from the first entry event.
    biases: HashMap<u32, u64>,
    /// Goroutine pairing.
    pub pairing: Pairing,
    /// Events too short to parse (never expected).
    pub malformed: u64,
}

impl<'a, 'data> Decoder<'a, 'data> {
    /// Spec `2 * i` is function `i`'s entry, `2 * i + 1` its returns.
    pub fn new(bin: &'a GoBinary<'data>, functions: Vec<DecodedFunction>) -> Self {
        Decoder {
            bin,
            functions,
            names: TypeNames::new(bin),
            biases: HashMap::new(),
            pairing: Pairing::default(),
            malformed: 0,
        }
    }

    /// The name of function `i`.
    pub fn name(&self, i: usize) -> &str {
        self.functions.get(i).map_or("?", |f| f.name.as_str())
    }

    /// Decodes one event's bytes.
    pub fn decode(&mut self, bytes: &[u8]) -> Option<TraceEvent> {
        let Some(e) = Event::parse(bytes) else {
            self.malformed += 1;
            return None;
        };
        let function = usize::try_from(e.spec / 2).ok()?;
        let is_return = e.spec % 2 == 1;
        let f = self.functions.get(function)?;
        if !is_return && self.bin.container.pie {
            self.biases
                .entry(e.pid)
                .or_insert_with(|| e.ip.wrapping_sub(f.entry_probe_vaddr));
        }
        let recipe = if is_return { &f.ret } else { &f.entry };
        let values = recipe.decode(&e.captured(), &*self, e.pid);
        let dur_ns = if is_return {
            self.pairing
                .ret(&e, function)
                .map(|t| e.ts_ns.saturating_sub(t))
        } else {
            self.pairing.call(&e, function);
            None
        };
        Some(TraceEvent {
            is_return,
            function,
            ts_ns: e.ts_ns,
            pid: e.pid,
            tid: e.tid,
            goid: (e.goid != 0).then_some(e.goid),
            values,
            dur_ns,
        })
    }

    fn bias(&self, pid: u32) -> Option<u64> {
        if !self.bin.container.pie {
            return Some(0);
        }
        self.biases.get(&pid).copied()
    }
}

impl TypeNamer for Decoder<'_, '_> {
    fn type_name(&self, pid: u32, addr: u64) -> Option<String> {
        let bias = self.bias(pid)?;
        self.names.name(addr.wrapping_sub(bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(goid: u64, sp: u64, ts: u64) -> Event<'static> {
        Event {
            ts_ns: ts,
            pid: 1,
            tid: 1,
            goid,
            sp,
            ip: 0,
            stack_hi: 0x10000,
            spec: 0,
            regs: [0; MAX_REGS],
            deref_len: [0; MAX_DEREFS],
            stack: &[],
            data: &[],
        }
    }

    #[test]
    fn pairs_recursion_and_survives_stack_moves() {
        let mut p = Pairing::default();
        // f calls f (deeper: lower sp), both return.
        p.call(&ev(1, 0xff00, 10), 0);
        p.call(&ev(1, 0xfe00, 20), 0);
        assert_eq!(p.ret(&ev(1, 0xfe00, 25), 0), Some(20));
        // The stack moved: a new stack.hi, same depth.
        let mut moved = ev(1, 0x5ff00, 30);
        moved.stack_hi = 0x60000;
        assert_eq!(p.ret(&moved, 0), Some(10));
        assert_eq!(p.pending(), 0);
        // Another goroutine at the same depth does not pair with g1's call.
        p.call(&ev(1, 0xff00, 40), 0);
        assert_eq!(p.ret(&ev(2, 0xff00, 41), 0), None);
        assert_eq!(p.unpaired_returns, 1);
        // A return further out discards the deeper call that never returned (a panic).
        p.call(&ev(1, 0xfd00, 50), 1);
        p.call(&ev(3, 0xff00, 50), 1);
        assert_eq!(p.ret(&ev(1, 0xff00, 60), 0), Some(40));
        assert_eq!(p.unpaired_calls, 1);
        assert_eq!(p.pending(), 1);
    }
}

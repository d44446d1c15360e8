//! Events from the ring buffer: parsing the fixed header, pairing returns with calls per
//! goroutine, and decoding values.

use crate::decode::Captured;
use crate::dynamic::DynTypes;
use crate::spec::ProbeValues;
use crate::stack::{StackFrame, Symbolizer};
use crate::typenames::TypeNames;
use crate::value::Values;
use foldhash::HashMap;
use pclntab::GoBinary;
use probe_common::{
    CallKey, EventHeader, DEREF_FAILED, HEADER_BYTES, MAX_DEREFS, MAX_DYN, MAX_REGS,
};

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
    /// The spec index (the cookie's low half).
    pub spec: u64,
    /// The probed instruction's offset from the function's entry (the cookie's high half).
    pub site_offset: u64,
    /// Registers.
    pub regs: [u64; MAX_REGS],
    /// Bytes per memory read.
    pub deref_len: [u16; MAX_DEREFS],
    /// Reads made.
    pub nderefs: usize,
    /// Dynamic types of the interface values looked at (`ndyn` of them).
    pub dyn_type: [u64; MAX_DYN],
    /// Each one's first recipe read.
    pub dyn_first: [u8; MAX_DYN],
    /// Interface values looked at.
    pub ndyn: usize,
    /// The stack copy.
    pub stack: &'b [u8],
    /// Everything captured after the header: the stack copy, then each read's bytes, each
    /// starting at a multiple of 8.
    pub data: &'b [u8],
    /// The call stack's return addresses (`--stack`), 8 bytes each, innermost first: the last
    /// bytes of `data`.
    pub frames: &'b [u8],
}

impl<'b> Event<'b> {
    /// Parses an event; `None` if it is shorter than its header says.
    pub fn parse(b: &'b [u8]) -> Option<Self> {
        let head = b.get(..HEADER_BYTES)?;
        // SAFETY: `head` holds HEADER_BYTES = size_of::<EventHeader>() bytes, and EventHeader
        // is repr(C) plain integers with its padding spelled out (probe-common checks its
        // size), valid for any bytes; the program wrote it in this machine's byte order.
        let h: EventHeader = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
        let data_len = h.data_len as usize;
        let data = b.get(HEADER_BYTES..HEADER_BYTES.checked_add(data_len)?)?;
        let frames = data.get(data.len().checked_sub(8 * usize::from(h.nframes))?..)?;
        Some(Event {
            ts_ns: h.ts_ns,
            pid: (h.pid_tgid >> 32) as u32,
            tid: h.pid_tgid as u32,
            goid: h.goid,
            sp: h.sp,
            ip: h.ip,
            stack_hi: h.stack_hi,
            spec: h.cookie & 0xffff_ffff,
            site_offset: h.cookie >> 32,
            regs: h.regs,
            deref_len: h.deref_len,
            nderefs: usize::from(h.nderefs).min(MAX_DEREFS),
            dyn_type: h.dyn_type,
            dyn_first: h.dyn_first,
            ndyn: usize::from(h.ndyn).min(MAX_DYN),
            stack: data.get(..h.stack_len as usize)?,
            data,
            frames,
        })
    }

    /// The call stack's return addresses, innermost first.
    pub fn frame_pcs(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames
            .chunks_exact(8)
            .filter_map(|c| Some(u64::from_le_bytes(c.try_into().ok()?)))
    }

    /// The load bias of the process (0 unless PIE), for a function whose entry is at link-time
    /// `entry`.
    pub fn bias(&self, entry: u64) -> u64 {
        self.ip.wrapping_sub(entry).wrapping_sub(self.site_offset)
    }

    /// The memory reads, split, for a function whose entry is at link-time `entry`.
    fn captured(&self, entry: u64) -> Captured<'_> {
        let mut at = self.stack.len();
        let reads = self
            .deref_len
            .iter()
            .take(self.nderefs)
            .map(|&n| {
                if n == DEREF_FAILED || n == 0 {
                    return None;
                }
                at = (at + 7) & !7;
                let s = self.data.get(at..at + usize::from(n));
                at += usize::from(n);
                s
            })
            .collect();
        Captured {
            regs: &self.regs,
            stack: self.stack,
            reads,
            dyn_types: self.dyn_type.get(..self.ndyn).unwrap_or_default(),
            dyn_first: self.dyn_first.get(..self.ndyn).unwrap_or_default(),
            bias: self.bias(entry),
        }
    }

    /// Depth on the goroutine's stack, stable when the stack moves (`stack.hi - sp`); without
    /// `g`, the stack pointer itself, negated so that deeper is larger.
    pub fn depth(&self) -> u64 {
        CallKey::depth(self.stack_hi, self.sp)
    }

    /// Whose stack the event is on: (pid, goroutine), or (pid, thread with the top bit set)
    /// when the goroutine is unknown (goroutines migrate; the thread is the best there is).
    /// Calls and returns are paired per owner ([`Pairing`]).
    pub fn stack_owner(&self) -> (u32, u64) {
        (self.pid, CallKey::owner(self.goid, self.tid))
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
    /// Emptied stacks, kept for the next goroutines (a call and its return then allocate
    /// nothing).
    spare: Vec<Vec<Pending>>,
    /// Calls whose return was never seen (panics, tail calls, tracing stopped).
    pub unpaired_calls: u64,
    /// Returns whose call was not seen (it started before tracing).
    pub unpaired_returns: u64,
}

impl Pairing {
    /// Records a call.
    pub fn call(&mut self, e: &Event<'_>, function: usize) {
        let depth = e.depth();
        let spare = &mut self.spare;
        let stack = self
            .stacks
            .entry(e.stack_owner())
            .or_insert_with(|| spare.pop().unwrap_or_default());
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
        let key = e.stack_owner();
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
            if let Some(empty) = self.stacks.remove(&key) {
                if self.spare.len() < 1024 {
                    self.spare.push(empty);
                }
            }
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
    pub values: Values,
    /// Time since the paired call (returns).
    pub dur_ns: Option<u64>,
    /// The Go call stack, innermost first (calls, with `--stack`).
    pub stack: Option<Vec<StackFrame>>,
}

/// One traced function, as the decoder needs it.
pub struct DecodedFunction {
    /// Full name.
    pub name: String,
    /// Arguments at calls.
    pub entry: ProbeValues,
    /// Results at returns.
    pub ret: ProbeValues,
    /// Link-time address of the function's entry: with the probed instruction's offset from
    /// it (in the cookie), an event's `ip` gives the load bias of a PIE.
    pub entry_vaddr: u64,
}

/// Turns raw events into [`TraceEvent`]s.
pub struct Decoder<'a, 'data> {
    functions: Vec<DecodedFunction>,
    names: TypeNames<'a, 'data>,
    types: DynTypes,
    /// Goroutine pairing.
    pub pairing: Pairing,
    /// Events too short to parse (never expected).
    pub malformed: u64,
    /// Symbolizes call stacks, when they are captured.
    stacks: Option<Symbolizer<'a, 'data>>,
}

impl<'a, 'data> Decoder<'a, 'data> {
    /// Spec `2 * i` is function `i`'s entry, `2 * i + 1` its returns.
    pub fn new(bin: &'a GoBinary<'data>, functions: Vec<DecodedFunction>, types: DynTypes) -> Self {
        Decoder {
            functions,
            names: TypeNames::new(bin),
            types,
            pairing: Pairing::default(),
            malformed: 0,
            stacks: None,
        }
    }

    /// Calls carry their call stack (`--stack`).
    pub fn with_stacks(mut self, bin: &'a GoBinary<'data>) -> Self {
        self.stacks = Some(Symbolizer::new(bin));
        self
    }

    /// The dynamic types, with their recipes.
    pub fn types(&self) -> &DynTypes {
        &self.types
    }

    /// How many functions there are.
    pub fn functions(&self) -> usize {
        self.functions.len()
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
        let values_plan = if is_return { &f.ret } else { &f.entry };
        let names = &self.names;
        let namer = |addr: u64| names.name(addr);
        let values = values_plan.decode(&e.captured(f.entry_vaddr), &self.types, &namer);
        let stack = match (&mut self.stacks, is_return) {
            (Some(sym), false) => Some(sym.stack(e.frame_pcs(), e.bias(f.entry_vaddr))),
            _ => None,
        };
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
            stack,
        })
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
            site_offset: 0,
            regs: [0; MAX_REGS],
            deref_len: [0; MAX_DEREFS],
            nderefs: 0,
            dyn_type: [0; MAX_DYN],
            dyn_first: [0; MAX_DYN],
            ndyn: 0,
            stack: &[],
            data: &[],
            frames: &[],
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

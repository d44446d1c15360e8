//! The calls open on each goroutine, for nesting spans and slices.
//!
//! [`probe::Pairing`] decides which call a return belongs to (by depth on the goroutine's stack)
//! and which calls returned unseen (a panic, a tail call). [`CallTree`] runs its own `Pairing`
//! over the same events and mirrors every decision on a stack of its own, which holds what the
//! output needs per open call (a span id, the arguments). So a span's start and end are exactly
//! the call and return that `probe` paired, and its duration is the JSON event's `dur_ns`.

use probe::{Event, Pairing};
use std::collections::HashMap;

/// Open calls per goroutine, each with a `T`.
pub struct CallTree<T> {
    pairing: Pairing,
    /// (pid, goroutine or thread) → open calls, outermost first; always as long as
    /// `pairing`'s stack for the same key.
    open: HashMap<(u32, u64), Vec<T>>,
}

impl<T> Default for CallTree<T> {
    fn default() -> Self {
        CallTree {
            pairing: Pairing::default(),
            open: HashMap::new(),
        }
    }
}

impl<T> CallTree<T> {
    /// A call of `function`. Calls that `Pairing` finds returned unseen are handed to `unseen`,
    /// innermost first; then `make` builds the new call's `T` from its parent's, if any.
    pub fn call(
        &mut self,
        raw: &Event<'_>,
        function: usize,
        mut unseen: impl FnMut(T),
        make: impl FnOnce(Option<&T>) -> T,
    ) {
        let before = self.pairing.unpaired_calls;
        self.pairing.call(raw, function);
        let popped = self.pairing.unpaired_calls - before;
        let stack = self.open.entry(raw.stack_owner()).or_default();
        for _ in 0..popped {
            if let Some(t) = stack.pop() {
                unseen(t);
            }
        }
        let t = make(stack.last());
        stack.push(t);
    }

    /// A return of `function`: its call's `T` when `Pairing` pairs it. Calls found returned
    /// unseen go to `unseen` first, innermost first.
    pub fn ret(
        &mut self,
        raw: &Event<'_>,
        function: usize,
        mut unseen: impl FnMut(T),
    ) -> Option<T> {
        let k = raw.stack_owner();
        let before = self.pairing.unpaired_calls;
        let paired = self.pairing.ret(raw, function).is_some();
        let popped = self.pairing.unpaired_calls - before;
        let stack = self.open.get_mut(&k)?;
        for _ in 0..popped {
            if let Some(t) = stack.pop() {
                unseen(t);
            }
        }
        let found = if paired { stack.pop() } else { None };
        if stack.is_empty() {
            self.open.remove(&k);
        }
        found
    }

    /// Takes every call still open, innermost first on each goroutine.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.open
            .drain()
            .flat_map(|(_, stack)| stack.into_iter().rev())
    }

    /// Calls open now.
    pub fn open(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event where only what pairing reads matters: the goroutine and the depth.
    fn ev(goid: u64, sp: u64) -> Event<'static> {
        Event {
            ts_ns: 0,
            pid: 1,
            tid: 7,
            goid,
            sp,
            ip: 0,
            stack_hi: 0x10000,
            spec: 0,
            site_offset: 0,
            regs: Default::default(),
            deref_len: [0; probe_common::MAX_DEREFS],
            nderefs: 0,
            dyn_type: Default::default(),
            dyn_first: Default::default(),
            ndyn: 0,
            stack: &[],
            frames: &[],
            data: &[],
        }
    }

    #[test]
    fn nests_and_mirrors_pairing() {
        let mut t: CallTree<(&str, Option<&str>)> = CallTree::default();
        let mut lost = Vec::new();
        // f calls g calls h; h returns unseen (a panic), g returns: h is handed over first.
        t.call(
            &ev(1, 0xff00),
            0,
            |x| lost.push(x),
            |p| ("f", p.map(|p| p.0)),
        );
        t.call(
            &ev(1, 0xfe00),
            1,
            |x| lost.push(x),
            |p| ("g", p.map(|p| p.0)),
        );
        t.call(
            &ev(1, 0xfd00),
            2,
            |x| lost.push(x),
            |p| ("h", p.map(|p| p.0)),
        );
        assert_eq!(t.open(), 3);
        let g = t.ret(&ev(1, 0xfe00), 1, |x| lost.push(x));
        assert_eq!(g, Some(("g", Some("f"))));
        assert_eq!(lost, vec![("h", Some("g"))]);
        // Another goroutine's calls are roots of their own.
        t.call(
            &ev(2, 0xff00),
            0,
            |x| lost.push(x),
            |p| ("f2", p.map(|p| p.0)),
        );
        // A return without its call pairs with nothing and pops nothing.
        assert_eq!(t.ret(&ev(3, 0xff00), 0, |x| lost.push(x)), None);
        // f's second call at f's depth: the first f returned unseen.
        t.call(
            &ev(1, 0xff00),
            0,
            |x| lost.push(x),
            |p| ("f'", p.map(|p| p.0)),
        );
        assert_eq!(lost.last(), Some(&("f", None)));
        let mut rest: Vec<_> = t.drain().collect();
        rest.sort();
        assert_eq!(rest, vec![("f'", None), ("f2", None)]);
        assert_eq!(t.open(), 0);
    }
}

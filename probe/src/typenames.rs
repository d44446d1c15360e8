//! Names of Go runtime types: what an interface value's type word (or its itab's type word)
//! points to, read by `pclntab`'s type descriptor reader ([`GoBinary::type_name`]).

use foldhash::HashMap;
use pclntab::{GoBinary, VirtAddr};
use std::sync::Mutex;

/// Resolves type addresses (link-time addresses) to names, with a cache.
pub struct TypeNames<'a, 'data> {
    bin: &'a GoBinary<'data>,
    cache: Mutex<HashMap<u64, Option<String>>>,
}

impl<'a, 'data> TypeNames<'a, 'data> {
    /// For `bin`.
    pub fn new(bin: &'a GoBinary<'data>) -> Self {
        TypeNames {
            bin,
            cache: Mutex::new(HashMap::default()),
        }
    }

    /// The name of the type at link-time address `addr`, if it is a type descriptor of the
    /// binary.
    pub fn name(&self, addr: u64) -> Option<String> {
        let mut cache = self.cache.lock().ok()?;
        if let Some(n) = cache.get(&addr) {
            return n.clone();
        }
        let n = self
            .bin
            .type_name(VirtAddr(addr))
            .ok()
            .map(|n| n.into_owned());
        if cache.len() < 1 << 16 {
            cache.insert(addr, n.clone());
        }
        n
    }
}

//! Which memory a probe reads to capture values of given Go types, and where each read's bytes
//! are for the decoder: one walk over the types, shared by a probe's own values (a spec) and by
//! the values behind interfaces (a type recipe).
//!
//! A value is first an image of bytes: a top-level value rebuilt from registers and the stack
//! ([`Owner::Value`]), an earlier read ([`Owner::Read`]), or an interface's data word
//! ([`Owner::DynData`]). Each string, slice, pointer and map in it is one more read, addressed by
//! words of its owner; each interface in it is a [`DynSlot`] whose dynamic type the program
//! looks up. Reads follow pointers `depth` levels, and stop at the per-probe limits, with a note.

use foldhash::HashMap;
use pclntab::typedesc::MapLayout;
use probe_common::{
    Deref, DynSlot, Word, DYN_ITAB, MAX_DEREF_BYTES, WORD_CONST, WORD_DEREF, WORD_DYN_DATA,
};
use resolver::types::{field_offsets, GoType};

/// Largest pointee read through a pointer: the first this many bytes of a larger one.
pub const MAX_POINTEE: u64 = 512;
/// Elements of an array whose inner values are read.
const MAX_ARRAY_ELEMS: u64 = 16;
/// Values visited by one plan at most (a type can nest arrays of structs of arrays).
const MAX_VISITS: usize = 4096;
/// Slots of a map group or bucket.
pub const MAP_SLOTS: u64 = 8;
/// Bytes of a map's header read: `count`/`used` at 0, `buckets`/`dirPtr` at 16, `oldbuckets`
/// /`dirLen` at 24 (runtime.hmap before Go 1.24, internal/runtime/maps.Map after).
pub const MAP_HEADER: u64 = 32;
/// Offset of the groups or buckets pointer in a map's header.
pub const MAP_GROUPS_AT: u64 = 16;

/// Limits on what one event captures.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of a string (and of a `[]byte`) to read.
    pub max_str: u32,
    /// Elements of a slice to read.
    pub max_elems: u32,
    /// Pointer levels to follow (pointers, slices, maps, interfaces).
    pub depth: u32,
}

/// Whose bytes an offset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A probe's top-level value, by number.
    Value(usize),
    /// A read, by its number in its plan.
    Read(usize),
    /// The data word of the interface value a type recipe runs on.
    DynData,
}

/// The reads of a map: its header and, when its layout is known, its first group or bucket.
#[derive(Debug, Clone, Copy)]
pub struct MapReads {
    /// The header read.
    pub header: usize,
    /// The group (or bucket) read, and how entries sit in it.
    pub group: Option<(usize, MapLayout)>,
}

/// What a walk planned.
#[derive(Debug, Clone, Default)]
pub struct ReadPlan {
    /// The reads, in the order the program makes them.
    pub reads: Vec<Deref>,
    /// The read of the string, slice or pointer at (owner, offset).
    pub at: HashMap<(Owner, u64), usize>,
    /// The reads of the map at (owner, offset).
    pub maps: HashMap<(Owner, u64), MapReads>,
    /// Interface values to look up.
    pub dyns: Vec<DynSlot>,
    /// The interface value at (owner, offset), by its number in `dyns`.
    pub dyn_at: HashMap<(Owner, u64), usize>,
    /// Whether the limits left reads out.
    pub cut: bool,
}

/// The words of a probe's top-level values: how to address the word at an offset of value `v`.
pub type TopWords<'a> = dyn Fn(usize, u64) -> Option<Word> + 'a;
/// How maps of a type store their entries, when the binary says.
pub type MapLayouts<'a> = dyn Fn(&GoType) -> Option<MapLayout> + 'a;

/// Plans reads for values of Go types, breadth first: every value one pointer away is read
/// before any two pointers away, so that when the limits cut, they cut the deepest reads.
pub struct Planner<'a> {
    /// The plan so far.
    pub plan: ReadPlan,
    /// Values to walk after those of the current level.
    queue: std::collections::VecDeque<(GoType, Owner, u64, u32)>,
    /// Values visited.
    visits: usize,
    max_reads: usize,
    max_dyn: usize,
    limits: Limits,
    top: &'a TopWords<'a>,
    maps: &'a MapLayouts<'a>,
}

const PTR: u64 = 8;

/// Whether a value of `ty` needs reads of its own to be decoded.
pub fn needs_reads(ty: &GoType) -> bool {
    match ty.underlying() {
        GoType::String
        | GoType::Slice(_)
        | GoType::Pointer(_)
        | GoType::Interface { .. }
        | GoType::Map { .. } => true,
        GoType::Struct(fields) => fields.iter().any(|f| needs_reads(&f.ty)),
        GoType::Array { elem, len } => *len > 0 && needs_reads(elem),
        _ => false,
    }
}

/// Whether `ty` is a byte (`[]byte` is shown as bytes).
pub fn is_byte(ty: &GoType) -> bool {
    matches!(ty.underlying(), GoType::Uint { bits: 8 })
}

impl<'a> Planner<'a> {
    /// A planner with room for `max_reads` reads and `max_dyn` interface values.
    pub fn new(
        max_reads: usize,
        max_dyn: usize,
        limits: Limits,
        top: &'a TopWords<'a>,
        maps: &'a MapLayouts<'a>,
    ) -> Self {
        Planner {
            plan: ReadPlan::default(),
            queue: std::collections::VecDeque::new(),
            visits: 0,
            max_reads,
            max_dyn,
            limits,
            top,
            maps,
        }
    }

    /// The word at `offset` of `owner`.
    fn word(&self, owner: Owner, offset: u64) -> Option<Word> {
        match owner {
            Owner::Value(v) => (self.top)(v, offset),
            Owner::Read(k) => Some(Word {
                kind: WORD_DEREF,
                index: u8::try_from(k).ok()?,
                pad: [0; 2],
                value: u32::try_from(offset).ok()?,
            }),
            Owner::DynData => (offset == 0).then_some(Word {
                kind: WORD_DYN_DATA,
                ..Word::NONE
            }),
        }
    }

    /// Adds a read of up to `max` bytes (`len` elements of `elem_size`, or one) at the pointer
    /// at (`owner`, `offset`); its number.
    fn read(
        &mut self,
        owner: Owner,
        offset: u64,
        len: Option<Word>,
        elem_size: u64,
        max: u64,
    ) -> Option<usize> {
        if self.plan.reads.len() >= self.max_reads {
            self.plan.cut = true;
            return None;
        }
        let addr = self.word(owner, offset)?;
        let k = self.plan.reads.len();
        self.plan.reads.push(Deref {
            addr,
            len: len.unwrap_or(Word {
                kind: WORD_CONST,
                index: 0,
                pad: [0; 2],
                value: 1,
            }),
            addr_add: 0,
            elem_size: u32::try_from(elem_size).ok()?,
            max_bytes: u32::try_from(max.min(u64::from(MAX_DEREF_BYTES))).ok()?,
            pad: 0,
        });
        self.plan.at.insert((owner, offset), k);
        Some(k)
    }

    /// Plans reads for a value of `ty` at (`owner`, `offset`), `level` pointers deep, and for
    /// everything found inside it, breadth first; values given to earlier calls come first at
    /// each level.
    pub fn walk(&mut self, ty: &GoType, owner: Owner, offset: u64, level: u32) {
        self.visit(ty, owner, offset, level);
        self.run();
    }

    /// Queues a value to walk with the others given this way; [`Planner::finish`] walks them
    /// all, breadth first.
    pub fn visit_later(&mut self, ty: &GoType, owner: Owner, offset: u64, level: u32) {
        self.later(ty, owner, offset, level);
    }

    /// Walks everything queued.
    pub fn finish(&mut self) {
        self.run();
    }

    /// Walks the values queued, in order.
    fn run(&mut self) {
        while let Some((ty, owner, offset, level)) = self.queue.pop_front() {
            self.visit(&ty, owner, offset, level);
        }
    }

    /// Queues a value one more pointer deep.
    fn later(&mut self, ty: &GoType, owner: Owner, offset: u64, level: u32) {
        self.queue.push_back((ty.clone(), owner, offset, level));
    }

    /// One value: its reads at this level; what they hold is queued.
    fn visit(&mut self, ty: &GoType, owner: Owner, offset: u64, level: u32) {
        self.visits += 1;
        // Past what its read captures, a value is never decoded: nothing to plan.
        let outside = match owner {
            Owner::Read(k) => self
                .plan
                .reads
                .get(k)
                .is_none_or(|r| offset >= u64::from(r.max_bytes)),
            _ => false,
        };
        if outside || self.visits > MAX_VISITS {
            return;
        }
        let deeper = level < self.limits.depth;
        match ty.underlying() {
            GoType::String => {
                let len = self.word(owner, offset + PTR);
                self.read(owner, offset, len, 1, u64::from(self.limits.max_str));
            }
            GoType::Slice(elem) if deeper => {
                let esize = elem.size(PTR);
                if esize == 0 || esize > u64::from(MAX_DEREF_BYTES) {
                    return;
                }
                let max = if is_byte(elem) {
                    u64::from(self.limits.max_str)
                } else {
                    u64::from(self.limits.max_elems) * esize
                };
                let len = self.word(owner, offset + PTR);
                let Some(k) = self.read(owner, offset, len, esize, max) else {
                    return;
                };
                if needs_reads(elem) {
                    let n = max.min(u64::from(MAX_DEREF_BYTES)) / esize;
                    for i in 0..n {
                        self.later(elem, Owner::Read(k), i * esize, level + 1);
                    }
                }
            }
            GoType::Pointer(elem) if deeper => {
                let size = elem.size(PTR).min(MAX_POINTEE);
                if size == 0 || matches!(elem.as_ref(), GoType::Opaque { .. }) {
                    return;
                }
                if let Some(k) = self.read(owner, offset, None, size, size) {
                    self.later(elem, Owner::Read(k), 0, level + 1);
                }
            }
            GoType::Interface { empty } if deeper => {
                if self.plan.dyns.len() >= self.max_dyn {
                    self.plan.cut = true;
                    return;
                }
                let (Some(type_word), Some(data_word)) =
                    (self.word(owner, offset), self.word(owner, offset + PTR))
                else {
                    return;
                };
                self.plan
                    .dyn_at
                    .insert((owner, offset), self.plan.dyns.len());
                self.plan.dyns.push(DynSlot {
                    type_word,
                    data_word,
                    flags: if *empty { 0 } else { DYN_ITAB },
                    itab_type: PTR as u32,
                });
            }
            GoType::Map { key, elem } if deeper => {
                let Some(header) = self.read(owner, offset, None, MAP_HEADER, MAP_HEADER) else {
                    return;
                };
                let layout = (self.maps)(ty);
                let group = layout.and_then(|l| {
                    let size = group_size(&l)?;
                    let g = self.read(Owner::Read(header), MAP_GROUPS_AT, None, size, size)?;
                    Some((g, l))
                });
                self.plan
                    .maps
                    .insert((owner, offset), MapReads { header, group });
                let Some((g, l)) = group else {
                    return;
                };
                for (part, at) in [(key, 0), (elem, 1)] {
                    let (indirect, off) = slot(&l, at == 0);
                    let ty = if indirect {
                        GoType::Pointer(part.clone())
                    } else {
                        part.as_ref().clone()
                    };
                    if needs_reads(&ty) {
                        for i in 0..MAP_SLOTS {
                            self.later(&ty, Owner::Read(g), off(i), level + 1);
                        }
                    }
                }
            }
            GoType::Struct(fields) => {
                for (off, f) in field_offsets(fields, PTR).zip(fields) {
                    if needs_reads(&f.ty) {
                        self.visit(&f.ty, owner, offset + off, level);
                    }
                }
            }
            GoType::Array { len, elem } if needs_reads(elem) => {
                let esize = elem.size(PTR);
                for i in 0..(*len).min(MAX_ARRAY_ELEMS) {
                    self.visit(elem, owner, offset + i * esize, level);
                }
            }
            _ => {}
        }
    }
}

/// Bytes of a group or bucket, when reading one whole fits a read.
pub fn group_size(l: &MapLayout) -> Option<u64> {
    let size = match l {
        MapLayout::Buckets { bucket_size, .. } => u64::from(*bucket_size),
        MapLayout::Swiss { group_size, .. } => *group_size,
    };
    (size > 0 && size <= u64::from(MAX_DEREF_BYTES)).then_some(size)
}

/// Whether a map's keys (or elems) are stored as pointers, and the offset of slot `i`'s key (or
/// elem) in a group or bucket.
pub fn slot(l: &MapLayout, key: bool) -> (bool, impl Fn(u64) -> u64) {
    let (indirect, first, stride) = match (*l, key) {
        (
            MapLayout::Buckets {
                key_size,
                indirect_key,
                ..
            },
            true,
        ) => (indirect_key, 8, u64::from(key_size)),
        (
            MapLayout::Buckets {
                key_size,
                elem_size,
                indirect_elem,
                ..
            },
            false,
        ) => (
            indirect_elem,
            8 + MAP_SLOTS * u64::from(key_size),
            u64::from(elem_size),
        ),
        (
            MapLayout::Swiss {
                keys_off,
                key_stride,
                indirect_key,
                ..
            },
            true,
        ) => (indirect_key, keys_off, key_stride),
        (
            MapLayout::Swiss {
                elems_off,
                elem_stride,
                indirect_elem,
                ..
            },
            false,
        ) => (indirect_elem, elems_off, elem_stride),
    };
    (indirect, move |i: u64| first + i * stride)
}

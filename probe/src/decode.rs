//! From the bytes one event captured back to Go values ([`Value`]), following the same plans
//! that told the program what to read ([`crate::reads`]): a probe's own, and for each interface
//! value, the recipe of the dynamic type the program found.

use crate::dynamic::{DynType, DynTypes};
use crate::reads::{self, is_byte, Owner, ReadPlan, MAP_GROUPS_AT, MAP_SLOTS};
use crate::spec::{PieceRecipe, PieceSrc, ProbeValues, TopValue};
use crate::value::{Value, Values};
use pclntab::typedesc::MapLayout;
use probe_common::{DYN_NO_RECIPE, MAX_DYN};
use resolver::types::{field_offsets, GoType};

/// Elements of an array decoded.
const MAX_ARRAY: u64 = 64;
/// Values decoded in one event at most: a type can be a struct of arrays of structs far larger
/// than what was captured, and what was not captured is not walked.
const MAX_VALUES: usize = 4096;
/// `runtime.minTopHash`: a bucket slot whose top hash is below it is empty or evacuated.
const MIN_TOP_HASH: u8 = 5;
/// Swiss map control bytes with the high bit set are empty or deleted slots.
const CTRL_EMPTY_BIT: u8 = 0x80;

/// The bytes of one event, split up.
pub struct Captured<'e> {
    /// `EventHeader::regs`.
    pub regs: &'e [u64],
    /// The stack copy.
    pub stack: &'e [u8],
    /// Each read by number: its bytes, or `None` when it failed, was not made (a nil pointer)
    /// or was beyond the reads made.
    pub reads: Vec<Option<&'e [u8]>>,
    /// The runtime address of each interface value's dynamic type, in queue order.
    pub dyn_types: &'e [u64],
    /// The number of the first read of each interface value's recipe, or `DYN_NO_RECIPE`.
    pub dyn_first: &'e [u8],
    /// The load bias of the process (0 unless PIE).
    pub bias: u64,
}

/// Names types that have no recipe, by link-time address.
pub type TypeNamer<'a> = dyn Fn(u64) -> Option<String> + 'a;

/// Where a decode is: whose reads, numbered from where, which interface values.
struct Frame<'p> {
    reads: &'p ReadPlan,
    /// The absolute number of the plan's read 0.
    base: usize,
    /// The queue position of each of the plan's interface values.
    dyn_pos: &'p [usize],
    /// The interface's data word (a recipe's frame).
    data: u64,
}

struct Decode<'c, 'e> {
    cap: &'c Captured<'e>,
    /// The probe's top-level values, read from their pieces.
    values: &'c [TopValue],
    types: &'c DynTypes,
    namer: &'c TypeNamer<'c>,
    /// For each queue position, the positions of the interface values its recipe queued.
    nested: Vec<Vec<usize>>,
    /// Values decoded so far (see [`MAX_VALUES`]).
    decoded: std::cell::Cell<usize>,
}

impl ProbeValues {
    /// Decodes the values of one event.
    pub fn decode(&self, cap: &Captured<'_>, types: &DynTypes, namer: &TypeNamer<'_>) -> Values {
        // Replay the program's queue of interface values: a spec's first, then, for each
        // value whose recipe ran, the values its recipe names, while there is room.
        let mut next = self.reads.dyns.len();
        let nested = (0..cap.dyn_types.len())
            .map(|q| {
                let mut pos = Vec::new();
                if let Some(t) = recipe_ran(cap, types, q) {
                    for _ in 0..t.reads.dyns.len() {
                        if next < MAX_DYN {
                            pos.push(next);
                            next += 1;
                        }
                    }
                }
                pos
            })
            .collect();
        let d = Decode {
            cap,
            values: &self.values,
            types,
            namer,
            nested,
            decoded: std::cell::Cell::new(0),
        };
        let statics: Vec<usize> = (0..self.reads.dyns.len()).collect();
        let top = Frame {
            reads: &self.reads,
            base: 0,
            dyn_pos: &statics,
            data: 0,
        };
        if self.raw {
            let values: Vec<Value> = self
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut words: Vec<Value> = v
                        .pieces
                        .iter()
                        .map(|p| {
                            d.uint(&top, Owner::Value(i), p.offset, p.size)
                                .map_or(Value::Unreadable, Value::Uint)
                        })
                        .collect();
                    if words.len() == 1 {
                        words.pop().unwrap_or(Value::Unreadable)
                    } else {
                        Value::Array(words)
                    }
                })
                .collect();
            if self.flat {
                if let [Value::Array(words)] = values.as_slice() {
                    return Values::Words(words.clone());
                }
            }
            return Values::Words(values);
        }
        Values::Named(
            self.values
                .iter()
                .enumerate()
                .map(|(i, v)| (v.name.clone(), d.decode(&top, &v.ty, Owner::Value(i), 0)))
                .collect(),
        )
    }
}

/// The dynamic type at queue position `q`, when its recipe ran.
fn recipe_ran<'t>(cap: &Captured<'_>, types: &'t DynTypes, q: usize) -> Option<&'t DynType> {
    let first = *cap.dyn_first.get(q)?;
    if first == DYN_NO_RECIPE {
        return None;
    }
    let ty = cap.dyn_types.get(q)?.wrapping_sub(cap.bias);
    types.types.get(&ty)
}

impl Decode<'_, '_> {
    /// The `size` bytes (at most 8) at `offset` of top-level value `v`, from the pieces that
    /// hold them; `None` when a byte was not captured.
    fn top_uint(&self, v: usize, offset: u64, size: u64) -> Option<u64> {
        let value = self.values.get(v)?;
        if size == 0 || size > 8 {
            return None;
        }
        let word = |p: &PieceRecipe| -> Option<u64> {
            match p.src {
                PieceSrc::Reg(slot) => self.cap.regs.get(slot).copied(),
                PieceSrc::Stack(o) => {
                    let o = usize::try_from(o).ok()?;
                    let b = self
                        .cap
                        .stack
                        .get(o..o + usize::try_from(p.size.min(8)).ok()?)?;
                    let mut w = [0u8; 8];
                    w.get_mut(..b.len())?.copy_from_slice(b);
                    Some(u64::from_le_bytes(w))
                }
                PieceSrc::Missing => None,
            }
        };
        let mask = |v: u64, bytes: u64| {
            if bytes >= 8 {
                v
            } else {
                v & ((1 << (8 * bytes)) - 1)
            }
        };
        // Almost always one piece is the value.
        if let Some(p) = value
            .pieces
            .iter()
            .find(|p| p.offset == offset && p.size == size)
        {
            return word(p).map(|w| mask(w, size));
        }
        let mut out = 0u64;
        for k in 0..size {
            let at = offset + k;
            let p = value
                .pieces
                .iter()
                .find(|p| p.offset <= at && at < p.offset + p.size.min(8))?;
            let byte = (word(p)? >> (8 * (at - p.offset))) & 0xff;
            out |= byte << (8 * k);
        }
        Some(out)
    }

    fn uint(&self, f: &Frame<'_>, owner: Owner, offset: u64, size: u64) -> Option<u64> {
        match owner {
            Owner::DynData => {
                let w = f.data.to_le_bytes();
                let b =
                    w.get(usize::try_from(offset).ok()?..usize::try_from(offset + size).ok()?)?;
                let mut out = [0u8; 8];
                out.get_mut(..b.len())?.copy_from_slice(b);
                Some(u64::from_le_bytes(out))
            }
            Owner::Value(v) => self.top_uint(v, offset, size),
            Owner::Read(k) => {
                let start = usize::try_from(offset).ok()?;
                let end = usize::try_from(offset.checked_add(size)?).ok()?;
                let b = self.cap.reads.get(f.base + k)?.as_ref()?.get(start..end)?;
                let mut w = [0u8; 8];
                w.get_mut(..b.len())?.copy_from_slice(b);
                Some(u64::from_le_bytes(w))
            }
        }
    }

    /// The read planned for the pointer at (`owner`, `offset`), when it was made.
    fn read(&self, f: &Frame<'_>, owner: Owner, offset: u64) -> Option<(usize, &[u8])> {
        let k = *f.reads.at.get(&(owner, offset))?;
        Some((k, self.cap.reads.get(f.base + k)?.as_ref().copied()?))
    }

    /// Bytes of `owner` captured (a top-level value's image, a read, the data word).
    fn captured_len(&self, f: &Frame<'_>, owner: Owner) -> u64 {
        match owner {
            Owner::Value(v) => self.values.get(v).map_or(0, |v| {
                let end = v
                    .pieces
                    .iter()
                    .map(|p| p.offset + p.size)
                    .max()
                    .unwrap_or(0);
                v.size.max(end).min(64 * 1024)
            }),
            Owner::Read(k) => self
                .cap
                .reads
                .get(f.base + k)
                .and_then(|r| r.map(|b| b.len() as u64))
                .unwrap_or(0),
            Owner::DynData => 8,
        }
    }

    fn decode(&self, f: &Frame<'_>, ty: &GoType, owner: Owner, offset: u64) -> Value {
        let size = ty.size(8);
        // Nothing of the value was captured, or enough has been decoded for one event.
        let n = self.decoded.get() + 1;
        self.decoded.set(n);
        if (size > 0 && offset >= self.captured_len(f, owner)) || n > MAX_VALUES {
            return Value::Unreadable;
        }
        let word = |o: u64| self.uint(f, owner, offset + o, 8);
        match ty.underlying() {
            GoType::Bool => self
                .uint(f, owner, offset, 1)
                .map_or(Value::Unreadable, |v| Value::Bool(v != 0)),
            GoType::Int { .. } => {
                self.uint(f, owner, offset, size)
                    .map_or(Value::Unreadable, |v| {
                        let shift = 64 - 8 * size as u32;
                        Value::Int(((v << shift) as i64) >> shift)
                    })
            }
            GoType::Uint { .. } | GoType::Uintptr => self
                .uint(f, owner, offset, size)
                .map_or(Value::Unreadable, Value::Uint),
            GoType::Float { bits } => {
                self.uint(f, owner, offset, size)
                    .map_or(Value::Unreadable, |v| {
                        Value::Float(if *bits == 32 {
                            f64::from(f32::from_bits(v as u32))
                        } else {
                            f64::from_bits(v)
                        })
                    })
            }
            GoType::Complex { bits } => {
                let half = u64::from(*bits) / 16;
                let part = GoType::Float { bits: *bits / 2 };
                Value::Complex {
                    real: Box::new(self.decode(f, &part, owner, offset)),
                    imag: Box::new(self.decode(f, &part, owner, offset + half)),
                }
            }
            GoType::String => {
                let (Some(ptr), Some(len)) = (word(0), word(8)) else {
                    return Value::Unreadable;
                };
                let bytes = if len == 0 {
                    Some(Vec::new())
                } else {
                    self.read(f, owner, offset).map(|(_, b)| b.to_vec())
                };
                Value::Str { bytes, len, ptr }
            }
            GoType::Slice(elem) => {
                let (Some(ptr), Some(len), Some(cap)) = (word(0), word(8), word(16)) else {
                    return Value::Unreadable;
                };
                let data = if len == 0 {
                    Some((0, &[][..]))
                } else {
                    self.read(f, owner, offset)
                };
                if is_byte(elem) {
                    return Value::Bytes {
                        len,
                        cap,
                        data: data.map(|(_, b)| b.to_vec()),
                        ptr,
                    };
                }
                let esize = elem.size(8).max(1);
                let elems = data.map(|(k, b)| {
                    (0..b.len() as u64 / esize)
                        .map(|i| self.decode(f, elem, Owner::Read(k), i * esize))
                        .collect()
                });
                Value::Slice {
                    len,
                    cap,
                    elems,
                    ptr,
                }
            }
            GoType::Pointer(elem) => match word(0) {
                None => Value::Unreadable,
                Some(0) => Value::Nil,
                Some(addr) => Value::Pointer {
                    addr,
                    target: self
                        .read(f, owner, offset)
                        .map(|(k, _)| Box::new(self.decode(f, elem, Owner::Read(k), 0))),
                },
            },
            GoType::UnsafePointer | GoType::Chan | GoType::Func => match word(0) {
                None => Value::Unreadable,
                Some(0) => Value::Nil,
                Some(a) => Value::Address(a),
            },
            GoType::Map { key, elem } => match word(0) {
                None => Value::Unreadable,
                Some(0) => Value::Nil,
                Some(addr) => self.map(f, key, elem, owner, offset, addr),
            },
            GoType::Interface { empty } => self.interface(f, *empty, owner, offset),
            GoType::Struct(fields) => Value::Struct(
                field_offsets(fields, 8)
                    .zip(fields)
                    .filter(|(_, fl)| fl.name != "_")
                    .map(|(off, fl)| (fl.name.clone(), self.decode(f, &fl.ty, owner, offset + off)))
                    .collect(),
            ),
            GoType::Array { len, elem } => {
                let esize = elem.size(8);
                Value::Array(
                    (0..(*len).min(MAX_ARRAY))
                        .map(|i| self.decode(f, elem, owner, offset + i * esize))
                        .collect(),
                )
            }
            GoType::Named { .. } | GoType::Opaque { .. } => Value::Unreadable,
        }
    }

    fn interface(&self, f: &Frame<'_>, empty: bool, owner: Owner, offset: u64) -> Value {
        let (Some(tab), Some(data)) = (
            self.uint(f, owner, offset, 8),
            self.uint(f, owner, offset + 8, 8),
        ) else {
            return Value::Unreadable;
        };
        if tab == 0 {
            return Value::Nil;
        }
        let pos = f
            .reads
            .dyn_at
            .get(&(owner, offset))
            .and_then(|j| f.dyn_pos.get(*j))
            .copied();
        // The type: what the program found, or for `any` the type word itself.
        let ty = match pos.and_then(|q| self.cap.dyn_types.get(q)) {
            Some(t) if *t != 0 => Some(*t),
            _ if empty => Some(tab),
            _ => None,
        };
        let link = ty.map(|t| t.wrapping_sub(self.cap.bias));
        let type_name = link
            .and_then(|a| {
                self.types
                    .name(a)
                    .map(str::to_string)
                    .or_else(|| (self.namer)(a))
            })
            .unwrap_or_else(|| format!("{:#x}", ty.unwrap_or(tab)));
        let value = pos.and_then(|q| {
            let t = recipe_ran(self.cap, self.types, q)?;
            let first = usize::from(*self.cap.dyn_first.get(q)?);
            let frame = Frame {
                reads: &t.reads,
                base: first,
                dyn_pos: self.nested.get(q).map_or(&[][..], Vec::as_slice),
                data,
            };
            Some(Box::new(if t.direct {
                self.decode(&frame, &t.ty, Owner::DynData, 0)
            } else {
                self.decode(&frame, &t.ty, Owner::Read(0), 0)
            }))
        });
        Value::Interface {
            type_name,
            data,
            value,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn map(
        &self,
        f: &Frame<'_>,
        key: &GoType,
        elem: &GoType,
        owner: Owner,
        offset: u64,
        addr: u64,
    ) -> Value {
        let Some(m) = f.reads.maps.get(&(owner, offset)) else {
            return Value::Map {
                len: None,
                entries: None,
                addr,
            };
        };
        let hdr = Owner::Read(m.header);
        let len = self.uint(f, hdr, 0, 8);
        let entries = m.group.and_then(|(g, layout)| {
            let len = len?;
            // One group or bucket holds every entry of a small map: a swiss map without a
            // directory; a bucket map with one bucket, not growing, without overflow.
            let (small, full): (bool, Box<dyn Fn(u64) -> Option<bool>>) = match layout {
                MapLayout::Swiss { .. } => (
                    self.uint(f, hdr, 24, 8)? == 0,
                    Box::new(move |i| {
                        Some(self.uint(f, Owner::Read(g), i, 1)? as u8 & CTRL_EMPTY_BIT == 0)
                    }),
                ),
                MapLayout::Buckets { bucket_size, .. } => {
                    let b = self.uint(f, hdr, 9, 1)?;
                    let old = self.uint(f, hdr, 24, 8)?;
                    let overflow = self.uint(f, Owner::Read(g), u64::from(bucket_size) - 8, 8)?;
                    (
                        b == 0 && old == 0 && overflow == 0,
                        Box::new(move |i| {
                            Some(self.uint(f, Owner::Read(g), i, 1)? as u8 >= MIN_TOP_HASH)
                        }),
                    )
                }
            };
            let bucket = self.uint(f, hdr, MAP_GROUPS_AT, 8)?;
            if !small || bucket == 0 {
                return None;
            }
            let (key_indirect, key_at) = reads::slot(&layout, true);
            let (elem_indirect, elem_at) = reads::slot(&layout, false);
            let part = |t: &GoType, indirect: bool| {
                if indirect {
                    GoType::Pointer(Box::new(t.clone()))
                } else {
                    t.clone()
                }
            };
            let (kt, et) = (part(key, key_indirect), part(elem, elem_indirect));
            let mut out = Vec::new();
            for i in 0..MAP_SLOTS {
                if full(i)? {
                    out.push((
                        self.decode(f, &kt, Owner::Read(g), key_at(i)),
                        self.decode(f, &et, Owner::Read(g), elem_at(i)),
                    ));
                }
            }
            // Every entry must be there: a count that disagrees means the read raced a write.
            (out.len() as u64 == len).then_some(out)
        });
        Value::Map { len, entries, addr }
    }
}

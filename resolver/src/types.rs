//! Go types, as far as a tracer needs them: enough to lay values out in memory and in registers.

use std::fmt;

/// A Go type. Sizes and alignments depend on the pointer size of the target (`int`, `uint`,
/// `uintptr`, pointers and headers are one word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoType {
    /// `bool`.
    Bool,
    /// Signed integer of `bits` bits; `bits == 0` is `int` (one word).
    Int {
        /// 8, 16, 32, 64, or 0 for `int`.
        bits: u8,
    },
    /// Unsigned integer of `bits` bits; `bits == 0` is `uint` (one word).
    Uint {
        /// 8, 16, 32, 64, or 0 for `uint`.
        bits: u8,
    },
    /// `uintptr`.
    Uintptr,
    /// `float32` or `float64`.
    Float {
        /// 32 or 64.
        bits: u8,
    },
    /// `complex64` or `complex128`.
    Complex {
        /// 64 or 128.
        bits: u8,
    },
    /// `string`: a data pointer and a length.
    String,
    /// `*T`.
    Pointer(Box<GoType>),
    /// `unsafe.Pointer`.
    UnsafePointer,
    /// `[]T`: data pointer, length, capacity.
    Slice(Box<GoType>),
    /// `[N]T`.
    Array {
        /// N.
        len: u64,
        /// T.
        elem: Box<GoType>,
    },
    /// `struct { ... }`.
    Struct(Vec<Field>),
    /// An interface: a type (or itab) word and a data word. `empty` for `any`/`interface{}`
    /// (the first word is a type pointer), else the first word is an itab pointer (`error`).
    Interface {
        /// `any` / `interface{}`.
        empty: bool,
    },
    /// `map[K]V`: one pointer.
    Map {
        /// `K` ([`GoType::Opaque`] when unknown).
        key: Box<GoType>,
        /// `V` ([`GoType::Opaque`] when unknown).
        elem: Box<GoType>,
    },
    /// `chan T`: one pointer.
    Chan,
    /// `func(...)`: one pointer (to a closure).
    Func,
    /// A defined type known only by its name (`main.Order`, `http.ResponseWriter`, or `Order`
    /// in a method's package): what a signature names before the name is looked up in the
    /// binary's type descriptors, and what a pointer points to when gosyms does not read the
    /// target. It has no layout: a value of it is never read, only a pointer to it.
    Opaque {
        /// The name as written.
        name: String,
    },
    /// A defined type (`main.Point`, `time.Duration`) and what it is made of.
    Named {
        /// The qualified name.
        name: String,
        /// Its underlying type.
        underlying: Box<GoType>,
    },
}

/// A struct field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name (`_` for blank fields).
    pub name: String,
    /// Its type.
    pub ty: GoType,
}

impl GoType {
    /// The type with any `Named` wrappers removed.
    pub fn underlying(&self) -> &GoType {
        match self {
            GoType::Named { underlying, .. } => underlying.underlying(),
            t => t,
        }
    }

    /// Size in bytes for pointer size `ptr` (4 or 8). Saturates instead of overflowing.
    pub fn size(&self, ptr: u64) -> u64 {
        match self.underlying() {
            GoType::Bool => 1,
            GoType::Int { bits } | GoType::Uint { bits } => {
                if *bits == 0 {
                    ptr
                } else {
                    u64::from(*bits) / 8
                }
            }
            GoType::Float { bits } | GoType::Complex { bits } => u64::from(*bits) / 8,
            GoType::Uintptr
            | GoType::Pointer(_)
            | GoType::UnsafePointer
            | GoType::Map { .. }
            | GoType::Chan
            | GoType::Func => ptr,
            GoType::String | GoType::Interface { .. } => 2 * ptr,
            GoType::Slice(_) => 3 * ptr,
            GoType::Array { len, elem } => len.saturating_mul(elem.size(ptr)),
            GoType::Struct(fields) => {
                let mut off = field_offsets(fields, ptr)
                    .zip(fields)
                    .last()
                    .map_or(0, |(o, f)| o.saturating_add(f.ty.size(ptr)));
                // A final zero-size field gets a byte of padding, so that its address stays
                // inside the struct (cmd/compile types.CalcStructSize).
                if fields.last().is_some_and(|f| f.ty.size(ptr) == 0) && off > 0 {
                    off = off.saturating_add(1);
                }
                align_up(off, self.align(ptr))
            }
            GoType::Named { .. } | GoType::Opaque { .. } => 0,
        }
    }

    /// Alignment in bytes for pointer size `ptr`. 64-bit integers and floats are 4-aligned on
    /// 32-bit targets, as Go lays them out.
    pub fn align(&self, ptr: u64) -> u64 {
        if let GoType::Named { name, .. } = self {
            if is_atomic_align64(name) {
                return 8;
            }
        }
        match self.underlying() {
            GoType::Bool => 1,
            GoType::Int { bits } | GoType::Uint { bits } | GoType::Float { bits } => {
                if *bits == 0 {
                    ptr
                } else {
                    (u64::from(*bits) / 8).min(ptr)
                }
            }
            GoType::Complex { bits } => (u64::from(*bits) / 16).min(ptr),
            GoType::Array { elem, .. } => elem.align(ptr),
            GoType::Struct(fields) => fields.iter().map(|f| f.ty.align(ptr)).max().unwrap_or(1),
            _ => ptr,
        }
    }

    /// The first name this type uses that is only a name ([`GoType::Opaque`]) where its layout
    /// matters: by value, in a struct or array, or as a slice's elements. Behind a pointer only
    /// the address is read, so a name there is fine.
    pub fn opaque_by_value(&self) -> Option<&str> {
        match self {
            GoType::Opaque { name } => Some(name),
            GoType::Named { underlying, .. } => underlying.opaque_by_value(),
            GoType::Array { elem, .. } | GoType::Slice(elem) => elem.opaque_by_value(),
            GoType::Struct(fields) => fields.iter().find_map(|f| f.ty.opaque_by_value()),
            _ => None,
        }
    }

    /// Whether the type is floating point (passed in floating-point registers).
    pub fn is_float(&self) -> bool {
        matches!(self.underlying(), GoType::Float { .. })
    }
}

/// The predeclared numeric and boolean type of this name (`int`, `uint8`, `float64`, ...),
/// without aliases (`byte`, `rune`).
pub fn predeclared(name: &str) -> Option<GoType> {
    Some(match name {
        "bool" => GoType::Bool,
        "int" => GoType::Int { bits: 0 },
        "int8" => GoType::Int { bits: 8 },
        "int16" => GoType::Int { bits: 16 },
        "int32" => GoType::Int { bits: 32 },
        "int64" => GoType::Int { bits: 64 },
        "uint" => GoType::Uint { bits: 0 },
        "uint8" => GoType::Uint { bits: 8 },
        "uint16" => GoType::Uint { bits: 16 },
        "uint32" => GoType::Uint { bits: 32 },
        "uint64" => GoType::Uint { bits: 64 },
        "uintptr" => GoType::Uintptr,
        "float32" => GoType::Float { bits: 32 },
        "float64" => GoType::Float { bits: 64 },
        "complex64" => GoType::Complex { bits: 64 },
        "complex128" => GoType::Complex { bits: 128 },
        _ => return None,
    })
}

/// Whether `name` is the atomic packages' `align64`, the empty struct that the compiler aligns
/// to 8 bytes on every architecture (cmd/compile `types.CalcStructSize`, `isAtomicStdPkg`): a
/// field of it makes `atomic.Int64` and friends 8-aligned on 32-bit targets too. Named by
/// package path (DWARF, signatures) or by package name (type descriptors).
fn is_atomic_align64(name: &str) -> bool {
    matches!(
        name,
        "atomic.align64"
            | "sync/atomic.align64"
            | "internal/runtime/atomic.align64"
            | "runtime/internal/atomic.align64"
    )
}

/// The offset of each field of a struct with `fields`, as Go lays them out: each at the next
/// multiple of its alignment (cmd/compile `types.CalcStructSize`). Saturates for types too large
/// to exist.
pub fn field_offsets(fields: &[Field], ptr: u64) -> impl Iterator<Item = u64> + '_ {
    fields.iter().scan(0u64, move |next, f| {
        let at = align_up(*next, f.ty.align(ptr));
        *next = at.saturating_add(f.ty.size(ptr));
        Some(at)
    })
}

/// `off` rounded up to a multiple of `align` (a power of two, or 0/1 for none).
pub fn align_up(off: u64, align: u64) -> u64 {
    if align <= 1 {
        return off;
    }
    off.checked_add(align - 1)
        .map_or(u64::MAX, |v| v / align * align)
}

impl fmt::Display for GoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GoType::Bool => write!(f, "bool"),
            GoType::Int { bits: 0 } => write!(f, "int"),
            GoType::Int { bits } => write!(f, "int{bits}"),
            GoType::Uint { bits: 0 } => write!(f, "uint"),
            GoType::Uint { bits } => write!(f, "uint{bits}"),
            GoType::Uintptr => write!(f, "uintptr"),
            GoType::Float { bits } => write!(f, "float{bits}"),
            GoType::Complex { bits } => write!(f, "complex{bits}"),
            GoType::String => write!(f, "string"),
            GoType::Pointer(t) => write!(f, "*{t}"),
            GoType::UnsafePointer => write!(f, "unsafe.Pointer"),
            GoType::Slice(t) => write!(f, "[]{t}"),
            GoType::Array { len, elem } => write!(f, "[{len}]{elem}"),
            GoType::Struct(fields) => {
                write!(f, "struct {{ ")?;
                for (i, fl) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{} {}", fl.name, fl.ty)?;
                }
                write!(f, " }}")
            }
            GoType::Interface { empty: true } => write!(f, "any"),
            GoType::Interface { empty: false } => write!(f, "interface"),
            GoType::Map { key, elem } => write!(f, "map[{key}]{elem}"),
            GoType::Chan => write!(f, "chan"),
            GoType::Func => write!(f, "func"),
            GoType::Named { name, .. } | GoType::Opaque { name } => write!(f, "{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: GoType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    #[test]
    fn sizes_and_alignment() {
        let s = GoType::Struct(vec![
            field("a", GoType::Bool),
            field("b", GoType::Int { bits: 64 }),
            field("c", GoType::Uint { bits: 8 }),
        ]);
        assert_eq!((s.size(8), s.align(8)), (24, 8));
        // int64 is 4-aligned on 32-bit targets.
        assert_eq!((s.size(4), s.align(4)), (16, 4));
        assert_eq!(GoType::String.size(8), 16);
        assert_eq!(GoType::Slice(Box::new(GoType::Bool)).size(4), 12);
        let arr = GoType::Array {
            len: 3,
            elem: Box::new(GoType::Int { bits: 16 }),
        };
        assert_eq!((arr.size(8), arr.align(8)), (6, 2));
        let trailing_empty = GoType::Struct(vec![
            field("a", GoType::Int { bits: 32 }),
            field("z", GoType::Struct(vec![])),
        ]);
        assert_eq!(trailing_empty.size(8), 8);
        assert_eq!(GoType::Complex { bits: 128 }.align(8), 8);
        // atomic.Int64 is 8-aligned on 32-bit targets through its align64 field.
        let align64 = GoType::Named {
            name: "sync/atomic.align64".into(),
            underlying: Box::new(GoType::Struct(vec![])),
        };
        let int64 = GoType::Struct(vec![
            field("_", GoType::Struct(vec![])),
            field("_", align64),
            field("v", GoType::Int { bits: 64 }),
        ]);
        assert_eq!((int64.size(4), int64.align(4)), (8, 8));
    }
}

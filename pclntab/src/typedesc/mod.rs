//! Go's runtime type descriptors: `runtime._type` (`internal/abi.Type` from Go 1.21) and the
//! kind-specific structures that extend it, the uncommon type with its method table, the names,
//! and the itabs. They survive `-ldflags='-s -w'`: the runtime needs them for interfaces,
//! reflection, maps and the garbage collector.
//!
//! Every type reachable through an interface, reflection or another such type has one: its size,
//! alignment, kind, name as `reflect.Type.String` gives it, package path, the elements of
//! pointers, slices, arrays and channels, map keys and elements with the map's memory layout,
//! struct fields with names and offsets, function parameters and results, interface methods, and
//! the methods of named types with their function types and code addresses.
//!
//! [`GoBinary::type_descs`] gives a [`TypeDescs`] for a binary of Go 1.15 or later;
//! [`TypeDescs::get`] reads the descriptor at an address, [`TypeDescs::all`] finds every one
//! (through `typelinks` up to Go 1.26, by walking them in Go 1.27, through the itabs, then by
//! following every reference), [`TypeDescs::itabs`] lists the itabs the linker wrote.
//!
//! Offsets in the descriptors count from `moduledata.types` (`nameOff`, `typeOff`) or from
//! `moduledata.text` through `textsectmap` (`textOff`); pointers are link-time virtual
//! addresses. A `typeOff` or `textOff` of -1 (0 before Go 1.16) marks what the linker
//! eliminated as dead code: it is `None` here.
//!
//! Layout facts by release are in [`layout`]; each was checked against that release's sources.

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod name;
mod syntax;

use crate::container::{Container, VirtAddr};
use crate::moduledata::{ModuleData, ModuleLayout};
use crate::reader::Reader;
use crate::table::TextMap;
use crate::{Error, GoBinary, Result};
use layout::{Embedding, Layout, MapImpl, NameLengths, Release, Roots, Unsupported};
use name::Name;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// `TFlagUncommon`: an `UncommonType` follows the kind-specific structure.
const TFLAG_UNCOMMON: u8 = 1 << 0;
/// `TFlagExtraStar`: the stored name has a `*` that is not part of it.
const TFLAG_EXTRA_STAR: u8 = 1 << 1;
/// `TFlagNamed`: the type has a name.
const TFLAG_NAMED: u8 = 1 << 2;
/// `TFlagDirectIface` (Go 1.26+) and `KindDirectIface` (up to Go 1.25): the same bit, in `tflag`
/// then in `kind`; the other is always clear.
const DIRECT_IFACE: u8 = 1 << 5;
/// `KindMask`: the kind is the low five bits up to Go 1.25 (bit 6 was `KindGCProg` up to 1.23).
const KIND_MASK: u8 = (1 << 5) - 1;

/// Size of `abi.UncommonType`: `PkgPath NameOff; Mcount, Xcount uint16; Moff uint32; _ uint32`.
const UNCOMMON_SIZE: u64 = 16;
/// Size of `abi.Method`: `Name NameOff; Mtyp TypeOff; Ifn, Tfn TextOff`.
const METHOD_SIZE: u64 = 16;
/// Size of `abi.Imethod`: `Name NameOff; Typ TypeOff`.
const IMETHOD_SIZE: u64 = 8;
/// Offset of the slots in a swiss map group: `ctrl uint64` comes first
/// (`cmd/compile/internal/reflectdata` `MapGroupType`, Go 1.24–1.26).
const SWISS_SLOTS_OFF: u64 = 8;
/// Most struct fields, interface methods or function parameters one descriptor may have. Go has
/// no such limit, but no real type comes near it, and it bounds the work one hostile descriptor
/// can cause.
const MAX_ENTRIES: u64 = 1 << 16;

/// What kind of type a descriptor describes (`abi.Kind`, `reflect.Kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TypeKind {
    Bool,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Uintptr,
    Float32,
    Float64,
    Complex64,
    Complex128,
    Array,
    Chan,
    Func,
    Interface,
    Map,
    Pointer,
    Slice,
    String,
    Struct,
    UnsafePointer,
}

impl TypeKind {
    const ALL: [TypeKind; 26] = [
        TypeKind::Bool,
        TypeKind::Int,
        TypeKind::Int8,
        TypeKind::Int16,
        TypeKind::Int32,
        TypeKind::Int64,
        TypeKind::Uint,
        TypeKind::Uint8,
        TypeKind::Uint16,
        TypeKind::Uint32,
        TypeKind::Uint64,
        TypeKind::Uintptr,
        TypeKind::Float32,
        TypeKind::Float64,
        TypeKind::Complex64,
        TypeKind::Complex128,
        TypeKind::Array,
        TypeKind::Chan,
        TypeKind::Func,
        TypeKind::Interface,
        TypeKind::Map,
        TypeKind::Pointer,
        TypeKind::Slice,
        TypeKind::String,
        TypeKind::Struct,
        TypeKind::UnsafePointer,
    ];

    /// The kind with `abi.Kind` number `k` (1 for `Bool` ... 26 for `UnsafePointer`).
    pub fn from_abi(k: u8) -> Option<TypeKind> {
        TypeKind::ALL.get(usize::from(k).checked_sub(1)?).copied()
    }

    /// The name `reflect.Kind.String` gives: `"int"`, `"ptr"`, `"unsafe.Pointer"`, ...
    pub fn name(self) -> &'static str {
        match self {
            TypeKind::Bool => "bool",
            TypeKind::Int => "int",
            TypeKind::Int8 => "int8",
            TypeKind::Int16 => "int16",
            TypeKind::Int32 => "int32",
            TypeKind::Int64 => "int64",
            TypeKind::Uint => "uint",
            TypeKind::Uint8 => "uint8",
            TypeKind::Uint16 => "uint16",
            TypeKind::Uint32 => "uint32",
            TypeKind::Uint64 => "uint64",
            TypeKind::Uintptr => "uintptr",
            TypeKind::Float32 => "float32",
            TypeKind::Float64 => "float64",
            TypeKind::Complex64 => "complex64",
            TypeKind::Complex128 => "complex128",
            TypeKind::Array => "array",
            TypeKind::Chan => "chan",
            TypeKind::Func => "func",
            TypeKind::Interface => "interface",
            TypeKind::Map => "map",
            TypeKind::Pointer => "ptr",
            TypeKind::Slice => "slice",
            TypeKind::String => "string",
            TypeKind::Struct => "struct",
            TypeKind::UnsafePointer => "unsafe.Pointer",
        }
    }
}

/// A channel's direction (`abi.ChanDir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChanDir {
    /// `<-chan T` (1).
    Recv,
    /// `chan<- T` (2).
    Send,
    /// `chan T` (3).
    Both,
}

/// How a map stores its entries, from its descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapLayout {
    /// Bucket maps (`runtime.maptype`, `abi.OldMapType`): Go 1.15–1.23, and 1.24–1.25 built
    /// with `GOEXPERIMENT=noswissmap`. Each bucket holds 8 top hashes, 8 keys, 8 elems and an
    /// overflow pointer.
    Buckets {
        /// The bucket type (a struct: `tophash`, `keys`, `elems`, `overflow`).
        bucket: VirtAddr,
        /// Size of a key slot (a pointer's size when keys are stored indirectly).
        key_size: u8,
        /// Size of an elem slot.
        elem_size: u8,
        /// Size of a bucket; checked against the bucket type's size.
        bucket_size: u16,
        /// Keys larger than 128 bytes are stored as pointers.
        indirect_key: bool,
        /// Elems larger than 128 bytes are stored as pointers.
        indirect_elem: bool,
    },
    /// Swiss maps (Go 1.24+): groups of a control word and 8 slots. Key `i` of a group is at
    /// `keys_off + i * key_stride`, elem `i` at `elems_off + i * elem_stride`; Go 1.24–1.26 store
    /// `GroupSize`, `SlotSize`, `ElemOff` (slots interleave key and elem after the 8-byte
    /// control word), Go 1.27 stores these four directly (and can split keys from elems).
    Swiss {
        /// The group type (a struct: `ctrl`, then the slots or the key and elem arrays).
        group: VirtAddr,
        /// Size of a group; checked against the group type's size.
        group_size: u64,
        /// Offset of the first key in a group.
        keys_off: u64,
        /// Distance between keys.
        key_stride: u64,
        /// Offset of the first elem in a group.
        elems_off: u64,
        /// Distance between elems.
        elem_stride: u64,
        /// Keys larger than 128 bytes are stored as pointers.
        indirect_key: bool,
        /// Elems larger than 128 bytes are stored as pointers.
        indirect_elem: bool,
    },
}

/// A method of an interface type (`abi.Imethod`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IMethod<'data> {
    /// The method's name.
    pub name: Cow<'data, str>,
    /// Exported.
    pub exported: bool,
    /// Its func type (without receiver).
    pub typ: Option<VirtAddr>,
}

/// A field of a struct type (`abi.StructField`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField<'data> {
    /// The field's name (the type's name for an embedded field).
    pub name: Cow<'data, str>,
    /// Its type.
    pub typ: VirtAddr,
    /// Byte offset in the struct.
    pub offset: u64,
    /// Embedded.
    pub embedded: bool,
    /// Exported.
    pub exported: bool,
    /// Its tag, when it has one.
    pub tag: Option<Cow<'data, str>>,
}

/// A method of a named type, from its uncommon type (`abi.Method`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method<'data> {
    /// The method's name.
    pub name: Cow<'data, str>,
    /// Exported.
    pub exported: bool,
    /// Its func type, without the receiver; `None` when the linker eliminated it.
    pub mtyp: Option<VirtAddr>,
    /// The code called through an interface (its receiver is one word); `None` when eliminated.
    pub ifn: Option<VirtAddr>,
    /// The code called directly; `None` when eliminated.
    pub tfn: Option<VirtAddr>,
}

/// What a descriptor says beyond the common header, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDetail<'data> {
    /// Booleans, numbers, strings, `unsafe.Pointer`: nothing more.
    Scalar,
    /// `*T`.
    Pointer {
        /// `T`.
        elem: VirtAddr,
    },
    /// `[]T`.
    Slice {
        /// `T`.
        elem: VirtAddr,
    },
    /// `[N]T`.
    Array {
        /// `T`.
        elem: VirtAddr,
        /// The descriptor of `[]T` (`abi.ArrayType.Slice`).
        slice: Option<VirtAddr>,
        /// `N`.
        len: u64,
    },
    /// `chan T`.
    Chan {
        /// `T`.
        elem: VirtAddr,
        /// Direction.
        dir: ChanDir,
    },
    /// `map[K]V`.
    Map {
        /// `K`.
        key: VirtAddr,
        /// `V`.
        elem: VirtAddr,
        /// How entries are stored.
        layout: MapLayout,
    },
    /// `func(...) (...)`.
    Func {
        /// Parameter types (for a method's type in a method table: without the receiver).
        params: Vec<VirtAddr>,
        /// Result types.
        results: Vec<VirtAddr>,
        /// The last parameter is `...T` (its type is `[]T`).
        variadic: bool,
    },
    /// `interface { ... }`.
    Interface {
        /// The methods, sorted by name.
        methods: Vec<IMethod<'data>>,
    },
    /// `struct { ... }`.
    Struct {
        /// The fields, in declaration order.
        fields: Vec<StructField<'data>>,
    },
}

/// One type descriptor, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDesc<'data> {
    /// Where it is.
    pub addr: VirtAddr,
    /// `Size_`: bytes of a value.
    pub size: u64,
    /// `PtrBytes` (`ptrdata`): the prefix of a value that can hold pointers.
    pub ptr_bytes: u64,
    /// `Hash`.
    pub hash: u32,
    /// `TFlag`.
    pub tflag: u8,
    /// `Align_`.
    pub align: u8,
    /// `FieldAlign_`.
    pub field_align: u8,
    /// The kind.
    pub kind: TypeKind,
    /// An interface holding a value of this type holds the value itself, not a pointer to it.
    pub direct_iface: bool,
    /// The name exactly as `reflect.Type.String` gives it: `*main.Node`, `fs.FileMode`,
    /// `[]string`, `map[string]int`, `struct { A int }`.
    pub name: Cow<'data, str>,
    /// `TFlagNamed`: a defined type (`main.Order`, not `*main.Order`).
    pub named: bool,
    /// The package path: of the uncommon type (named types and types with methods), else of
    /// the struct or interface (the package of its unexported names), when there is one.
    pub pkg_path: Option<Cow<'data, str>>,
    /// The descriptor of `*T`, when the binary has one.
    pub ptr_to_this: Option<VirtAddr>,
    /// By kind.
    pub detail: TypeDetail<'data>,
    /// The methods of the uncommon type (for `T`: value receivers; for `*T`: all), exported
    /// first, each sorted by name.
    pub methods: Vec<Method<'data>>,
}

impl TypeDesc<'_> {
    /// Every type this one refers to: elements, keys, the map's bucket or group, fields,
    /// parameters, results, method types and `ptrToThis`.
    pub fn references(&self) -> Vec<VirtAddr> {
        let mut out = Vec::new();
        out.extend(self.ptr_to_this);
        match &self.detail {
            TypeDetail::Scalar => {}
            TypeDetail::Pointer { elem } | TypeDetail::Slice { elem } => out.push(*elem),
            TypeDetail::Chan { elem, .. } => out.push(*elem),
            TypeDetail::Array { elem, slice, .. } => {
                out.push(*elem);
                out.extend(*slice);
            }
            TypeDetail::Map { key, elem, layout } => {
                out.extend([*key, *elem]);
                out.push(match layout {
                    MapLayout::Buckets { bucket, .. } => *bucket,
                    MapLayout::Swiss { group, .. } => *group,
                });
            }
            TypeDetail::Func {
                params, results, ..
            } => out.extend(params.iter().chain(results)),
            TypeDetail::Interface { methods } => out.extend(methods.iter().filter_map(|m| m.typ)),
            TypeDetail::Struct { fields } => out.extend(fields.iter().map(|f| f.typ)),
        }
        out.extend(self.methods.iter().filter_map(|m| m.mtyp));
        out
    }

    /// How many entries (fields, methods, parameters) it has: the work it took.
    fn entries(&self) -> u64 {
        let detail = match &self.detail {
            TypeDetail::Func {
                params, results, ..
            } => params.len() + results.len(),
            TypeDetail::Interface { methods } => methods.len(),
            TypeDetail::Struct { fields } => fields.len(),
            _ => 0,
        };
        (detail + self.methods.len() + 1) as u64
    }
}

/// An itab: the method table of a concrete type for an interface (`runtime.itab`, `abi.ITab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Itab {
    /// Where it is.
    pub addr: VirtAddr,
    /// The interface type.
    pub interface: VirtAddr,
    /// The concrete type.
    pub typ: VirtAddr,
    /// `Fun[0]`, the code of the interface's first method for this type; `None` when the type
    /// does not implement the interface (0) or the layout of this release is not known.
    pub fun0: Option<VirtAddr>,
}

/// The common header of a descriptor (`abi.Type`).
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Offset of the descriptor in the types reader.
    off: u64,
    size: u64,
    ptr_bytes: u64,
    hash: u32,
    tflag: u8,
    align: u8,
    field_align: u8,
    kind: TypeKind,
    direct_iface: bool,
    str_off: i32,
}

/// The type descriptors of one binary (see the module documentation).
#[derive(Debug)]
pub struct TypeDescs<'a, 'data> {
    container: &'a Container<'data>,
    md: &'a ModuleData,
    /// `moduledata.types`.
    types: u64,
    /// The bytes of `[types, etypes)`.
    r: Reader<'data>,
    /// Pointer size.
    ptr: u8,
    layout: Layout,
    /// `textOff` to address.
    text: TextMap,
    by_name: OnceLock<HashMap<Cow<'data, str>, Vec<VirtAddr>>>,
}

impl<'data> GoBinary<'data> {
    /// The type descriptors: where they are and how this release lays them out.
    ///
    /// Fails when there is no moduledata, when `[types, etypes)` is not in the file, or when the
    /// release is older than Go 1.15 (or unknown, with a moduledata of Go 1.8–1.15).
    pub fn type_descs(&self) -> Result<TypeDescs<'_, 'data>> {
        let md = self.moduledata.as_ref().ok_or(Error::NoModuleData)?;
        let release = Release {
            minor: self.go_minor(),
            module: md.layout,
            ptr_size: self.container.ptr_size,
            experiment: self
                .build_info
                .as_ref()
                .and_then(|b| b.setting("GOEXPERIMENT")),
        };
        TypeDescs::new(&self.container, md, &release)
    }

    /// The name (`reflect.Type.String`) of the type descriptor at `addr`. Unlike
    /// [`GoBinary::type_descs`], this also reads binaries of Go 1.8 to 1.14: the common header
    /// and the names have not changed since Go 1.7.
    pub fn type_name(&self, addr: VirtAddr) -> Result<Cow<'data, str>> {
        let md = self.moduledata.as_ref().ok_or(Error::NoModuleData)?;
        let r = types_reader(&self.container, md)?;
        let off = in_types(md.types.0, &r, "type address", addr.0)?;
        let p = u64::from(self.container.ptr_size);
        let tflag = r.u8("abi.Type.TFlag", off + 2 * p + 4)?;
        let str_off = r.i32("abi.Type.Str", off + 4 * p + 8)?;
        let name_off = name_offset(&r, "abi.Type.Str", off + 4 * p + 8, str_off)?;
        let lengths = match (self.go_minor(), md.layout) {
            (Some(m), _) if m >= 17 => NameLengths::Uvarint,
            (Some(_), _) | (None, ModuleLayout::Go18) => NameLengths::BigEndian16,
            (None, ModuleLayout::Go116) if name::looks_big_endian16(&r, name_off)? => {
                NameLengths::BigEndian16
            }
            (None, _) => NameLengths::Uvarint,
        };
        Ok(type_string(Name::read(&r, name_off, lengths)?.name, tflag))
    }
}

/// A reader over `[types, etypes)`.
fn types_reader<'data>(c: &Container<'data>, md: &ModuleData) -> Result<Reader<'data>> {
    let (types, etypes) = md.types;
    let len = etypes.checked_sub(types).ok_or(Error::BadValue {
        what: "moduledata.etypes (before types)",
        offset: c.offset_of(md.vaddr).map_or(0, |o| o.0),
        value: etypes,
    })?;
    let r = c.reader_at("moduledata.types", VirtAddr(types))?;
    r.sub("type descriptors [types, etypes)", 0, len)
}

/// The offset in `r` (which starts at `types`) of `addr`, which must be inside it.
fn in_types(types: u64, r: &Reader<'_>, what: &'static str, addr: u64) -> Result<u64> {
    match addr.checked_sub(types) {
        Some(off) if off < r.len() => Ok(off),
        _ => Err(Error::NotAType {
            what,
            vaddr: addr,
            types,
            etypes: types.saturating_add(r.len()),
        }),
    }
}

/// The offset in `r` of the name at `nameOff` `v`, read from offset `field` of `r`.
fn name_offset(r: &Reader<'_>, what: &'static str, field: u64, v: i32) -> Result<u64> {
    match u64::try_from(v) {
        Ok(off) if off > 0 && off < r.len() => Ok(off),
        _ => Err(Error::BadValue {
            what,
            offset: r.base() + field,
            value: u64::from(v as u32),
        }),
    }
}

/// A type's string from its stored name: without the `*` that `TFlagExtraStar` marks as extra.
fn type_string(name: &[u8], tflag: u8) -> Cow<'_, str> {
    let name = match name.split_first() {
        Some((b'*', rest)) if tflag & TFLAG_EXTRA_STAR != 0 => rest,
        _ => name,
    };
    String::from_utf8_lossy(name)
}

fn utf8(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl<'a, 'data> TypeDescs<'a, 'data> {
    /// The descriptors of the module `md` describes, in `c`, laid out as `release` does.
    pub(crate) fn new(
        c: &'a Container<'data>,
        md: &'a ModuleData,
        release: &Release<'_>,
    ) -> Result<Self> {
        let (mut layout, probes) = Layout::of(release).map_err(|u| Error::UnsupportedTypes {
            release: match u {
                Unsupported::TooOld(m) => format!("go1.{m}"),
                Unsupported::UnknownOld => "a Go release before 1.16 (no build info)".into(),
            },
        })?;
        let mut descs = TypeDescs {
            container: c,
            md,
            types: md.types.0,
            r: types_reader(c, md)?,
            ptr: c.ptr_size,
            layout,
            text: TextMap {
                start: md.text,
                sections: md.textsectmap.clone(),
            },
            by_name: OnceLock::new(),
        };
        if probes.names {
            layout.names = descs.probe_name_lengths()?;
        }
        if probes.embedding {
            layout.embedding = descs.probe_embedding();
        }
        descs.layout = layout;
        Ok(descs)
    }

    fn p(&self) -> u64 {
        u64::from(self.ptr)
    }

    /// Size of `abi.Type`.
    fn header_size(&self) -> u64 {
        4 * self.p() + 16
    }

    /// The offset of `addr` in the types reader.
    fn off_of(&self, what: &'static str, addr: u64) -> Result<u64> {
        in_types(self.types, &self.r, what, addr)
    }

    /// The pointer-sized word at `off`.
    fn word(&self, what: &'static str, off: u64) -> Result<u64> {
        self.r.word(what, off, self.ptr)
    }

    /// A pointer to a type descriptor at `off`: `None` when 0; else it must be a
    /// pointer-aligned address inside `[types, etypes)`.
    fn type_ptr(&self, what: &'static str, off: u64) -> Result<Option<VirtAddr>> {
        let v = self.word(what, off)?;
        if v == 0 {
            return Ok(None);
        }
        self.check_type_addr(what, self.r.base() + off, v).map(Some)
    }

    /// As [`TypeDescs::type_ptr`], for a pointer that must be there.
    fn required_type_ptr(&self, what: &'static str, off: u64) -> Result<VirtAddr> {
        self.type_ptr(what, off)?.ok_or(Error::BadValue {
            what,
            offset: self.r.base() + off,
            value: 0,
        })
    }

    /// `v`, read at file offset `field`, as a type descriptor address: pointer-aligned, with
    /// room for a header before `etypes`.
    fn check_type_addr(&self, what: &'static str, field: u64, v: u64) -> Result<VirtAddr> {
        let inside = v
            .checked_sub(self.types)
            .is_some_and(|o| o.saturating_add(self.header_size()) <= self.r.len());
        if !inside || !v.is_multiple_of(self.p()) {
            return Err(Error::BadValue {
                what,
                offset: field,
                value: v,
            });
        }
        Ok(VirtAddr(v))
    }

    /// The `typeOff` at `off`: `None` for 0 and -1 (eliminated).
    fn type_off_at(&self, what: &'static str, off: u64) -> Result<Option<VirtAddr>> {
        let v = self.r.i32(what, off)?;
        if v == 0 || v == -1 {
            return Ok(None);
        }
        let bad = || Error::BadValue {
            what,
            offset: self.r.base() + off,
            value: u64::from(v as u32),
        };
        let addr = u64::try_from(v)
            .ok()
            .and_then(|o| self.types.checked_add(o))
            .ok_or_else(bad)?;
        self.check_type_addr(what, self.r.base() + off, addr)
            .map(Some)
    }

    /// The `textOff` at `off`: `None` for -1 (eliminated; 0 before Go 1.16).
    fn text_off_at(&self, what: &'static str, off: u64) -> Result<Option<VirtAddr>> {
        let v = self.r.u32(what, off)?;
        match self.text_off(v) {
            Some(a) => Ok(Some(a)),
            None if v == u32::MAX || v == 0 => Ok(None),
            None => Err(Error::BadValue {
                what,
                offset: self.r.base() + off,
                value: u64::from(v),
            }),
        }
    }

    /// The type at `typeOff` `off` (from `moduledata.types`): `None` for 0 and -1 (the linker's
    /// mark for an eliminated type) and for offsets outside the descriptors.
    pub fn type_off(&self, off: i32) -> Option<VirtAddr> {
        let o = u64::try_from(off).ok().filter(|o| *o > 0)?;
        let addr = self.types.checked_add(o)?;
        (o + self.header_size() <= self.r.len() && addr.is_multiple_of(self.p()))
            .then_some(VirtAddr(addr))
    }

    /// The code at `textOff` `off` (from `moduledata.text`, through `textsectmap` when the text
    /// is split): `None` for -1 (the linker's mark for eliminated code), 0 (the same before Go
    /// 1.16; no method starts at the text's first byte), and offsets outside the text.
    pub fn text_off(&self, off: u32) -> Option<VirtAddr> {
        if off == u32::MAX || off == 0 {
            return None;
        }
        let addr = self.text.addr(u64::from(off));
        (addr >= self.md.text && addr < self.md.etext).then_some(VirtAddr(addr))
    }

    /// The common header of the descriptor at `addr`.
    fn header(&self, addr: u64) -> Result<Header> {
        let off = self.off_of("type address", addr)?;
        let p = self.p();
        let h = self.r.sub("abi.Type", off, self.header_size())?;
        let kind_byte = h.u8("abi.Type.Kind_", 2 * p + 7)?;
        let tflag = h.u8("abi.Type.TFlag", 2 * p + 4)?;
        let kind = TypeKind::from_abi(kind_byte & KIND_MASK).ok_or(Error::BadValue {
            what: "abi.Type.Kind_",
            offset: h.base() + 2 * p + 7,
            value: u64::from(kind_byte),
        })?;
        let align = h.u8("abi.Type.Align_", 2 * p + 5)?;
        if !align.is_power_of_two() {
            return Err(Error::BadValue {
                what: "abi.Type.Align_",
                offset: h.base() + 2 * p + 5,
                value: u64::from(align),
            });
        }
        let size = h.word("abi.Type.Size_", 0, self.ptr)?;
        let ptr_bytes = h.word("abi.Type.PtrBytes", p, self.ptr)?;
        if ptr_bytes > size {
            return Err(Error::BadValue {
                what: "abi.Type.PtrBytes",
                offset: h.base() + p,
                value: ptr_bytes,
            });
        }
        Ok(Header {
            off,
            size,
            ptr_bytes,
            hash: h.u32("abi.Type.Hash", 2 * p)?,
            tflag,
            align,
            field_align: h.u8("abi.Type.FieldAlign_", 2 * p + 6)?,
            kind,
            direct_iface: (kind_byte | tflag) & DIRECT_IFACE != 0,
            str_off: h.i32("abi.Type.Str", 4 * p + 8)?,
        })
    }

    /// The type string of `h`.
    fn header_name(&self, h: &Header) -> Result<Cow<'data, str>> {
        let at = name_offset(&self.r, "abi.Type.Str", h.off + 4 * self.p() + 8, h.str_off)?;
        Ok(type_string(
            Name::read(&self.r, at, self.layout.names)?.name,
            h.tflag,
        ))
    }

    /// The name at `nameOff` `v`, read at `field`.
    fn name_off(&self, what: &'static str, field: u64, v: i32) -> Result<Name<'data>> {
        let at = name_offset(&self.r, what, field, v)?;
        Name::read(&self.r, at, self.layout.names)
    }

    /// The name a pointer at `field` points to (`abi.Name` embeds a `*byte`): `None` when nil.
    fn name_ptr(&self, what: &'static str, field: u64) -> Result<Option<Name<'data>>> {
        let v = self.word(what, field)?;
        if v == 0 {
            return Ok(None);
        }
        let at = v
            .checked_sub(self.types)
            .filter(|o| *o < self.r.len())
            .ok_or(Error::BadValue {
                what,
                offset: self.r.base() + field,
                value: v,
            })?;
        Name::read(&self.r, at, self.layout.names).map(Some)
    }

    /// Size of the kind-specific structure: where the uncommon type starts.
    fn kind_size(&self, kind: TypeKind) -> u64 {
        let (t, p) = (self.header_size(), self.p());
        let round = |n: u64| n.div_ceil(p) * p;
        match kind {
            TypeKind::Array => t + 3 * p,
            TypeKind::Chan => t + 2 * p,
            TypeKind::Func => round(t + 4),
            TypeKind::Interface | TypeKind::Struct => t + 4 * p,
            TypeKind::Map => match self.layout.maps {
                MapImpl::Buckets => t + 4 * p + 8,
                MapImpl::Swiss124 => round(t + 7 * p + 4),
                MapImpl::Swiss127 => round(t + 10 * p + 4),
                // Only used to find the uncommon type: the map's own layout decides.
                MapImpl::BucketsOrSwiss124 => t + 4 * p + 8,
            },
            TypeKind::Pointer | TypeKind::Slice => t + p,
            _ => t,
        }
    }

    /// The name of the type at `addr`, as `reflect.Type.String` gives it.
    pub fn name(&self, addr: VirtAddr) -> Result<Cow<'data, str>> {
        let h = self.header(addr.0)?;
        self.header_name(&h)
    }

    /// The descriptor at `addr`, which must be inside `[types, etypes)`.
    pub fn get(&self, addr: VirtAddr) -> Result<TypeDesc<'data>> {
        let h = self.header(addr.0)?;
        let name = self.header_name(&h)?;
        let mut kind_size = self.kind_size(h.kind);
        let (detail, struct_pkg) = self.detail(&h, &mut kind_size)?;
        let (methods, uncommon_pkg) = if h.tflag & TFLAG_UNCOMMON != 0 {
            self.uncommon(h.off + kind_size)?
        } else {
            (Vec::new(), None)
        };
        let ptr_to_this = self.type_off_at("abi.Type.PtrToThis", h.off + 4 * self.p() + 12)?;
        Ok(TypeDesc {
            addr,
            size: h.size,
            ptr_bytes: h.ptr_bytes,
            hash: h.hash,
            tflag: h.tflag,
            align: h.align,
            field_align: h.field_align,
            kind: h.kind,
            direct_iface: h.direct_iface,
            name,
            named: h.tflag & TFLAG_NAMED != 0,
            pkg_path: uncommon_pkg.or(struct_pkg),
            ptr_to_this,
            detail,
            methods,
        })
    }

    /// The kind-specific part, and the struct's or interface's package path. `kind_size` is
    /// corrected when the map layout is only known from the descriptor.
    #[allow(clippy::type_complexity)]
    fn detail(
        &self,
        h: &Header,
        kind_size: &mut u64,
    ) -> Result<(TypeDetail<'data>, Option<Cow<'data, str>>)> {
        let (p, t) = (self.p(), h.off + self.header_size());
        let detail = match h.kind {
            TypeKind::Pointer => TypeDetail::Pointer {
                elem: self.required_type_ptr("abi.PtrType.Elem", t)?,
            },
            TypeKind::Slice => TypeDetail::Slice {
                elem: self.required_type_ptr("abi.SliceType.Elem", t)?,
            },
            TypeKind::Array => TypeDetail::Array {
                elem: self.required_type_ptr("abi.ArrayType.Elem", t)?,
                slice: self.type_ptr("abi.ArrayType.Slice", t + p)?,
                len: self.word("abi.ArrayType.Len", t + 2 * p)?,
            },
            TypeKind::Chan => TypeDetail::Chan {
                elem: self.required_type_ptr("abi.ChanType.Elem", t)?,
                dir: match self.word("abi.ChanType.Dir", t + p)? {
                    1 => ChanDir::Recv,
                    2 => ChanDir::Send,
                    3 => ChanDir::Both,
                    v => {
                        return Err(Error::BadValue {
                            what: "abi.ChanType.Dir",
                            offset: self.r.base() + t + p,
                            value: v,
                        })
                    }
                },
            },
            TypeKind::Map => self.map(h, kind_size)?,
            TypeKind::Func => self.func(h)?,
            TypeKind::Interface => {
                let methods = self.slice("abi.InterfaceType.Methods", t + p, IMETHOD_SIZE)?;
                let mut out = Vec::new();
                for i in 0..methods.len() / IMETHOD_SIZE {
                    let at = i * IMETHOD_SIZE;
                    let field = methods.base() - self.r.base() + at;
                    let n = self.name_off(
                        "abi.Imethod.Name",
                        field,
                        methods.i32("abi.Imethod.Name", at)?,
                    )?;
                    out.push(IMethod {
                        name: utf8(n.name),
                        exported: n.exported(),
                        typ: self.type_off_at("abi.Imethod.Typ", field + 4)?,
                    });
                }
                let pkg = self.name_ptr("abi.InterfaceType.PkgPath", t)?;
                return Ok((
                    TypeDetail::Interface { methods: out },
                    pkg.filter(|n| !n.name.is_empty()).map(|n| utf8(n.name)),
                ));
            }
            TypeKind::Struct => {
                let fields = self.slice("abi.StructType.Fields", t + p, 3 * p)?;
                let mut out = Vec::new();
                for i in 0..fields.len() / (3 * p) {
                    let at = fields.base() - self.r.base() + i * 3 * p;
                    let n = self
                        .name_ptr("abi.StructField.Name", at)?
                        .ok_or(Error::BadValue {
                            what: "abi.StructField.Name",
                            offset: self.r.base() + at,
                            value: 0,
                        })?;
                    let raw = self.word("abi.StructField.Offset", at + 2 * p)?;
                    let (offset, embedded) = match self.layout.embedding {
                        Embedding::OffsetLowBit => (raw >> 1, raw & 1 != 0),
                        Embedding::NameFlag => (raw, n.embedded()),
                        Embedding::Unknown => {
                            return Err(Error::AmbiguousLayout {
                                what: "struct fields (Go 1.18 or 1.19?)",
                            })
                        }
                    };
                    out.push(StructField {
                        name: utf8(n.name),
                        typ: self.required_type_ptr("abi.StructField.Typ", at + p)?,
                        offset,
                        embedded,
                        exported: n.exported(),
                        tag: n.tag.map(utf8),
                    });
                }
                let pkg = self.name_ptr("abi.StructType.PkgPath", t)?;
                return Ok((
                    TypeDetail::Struct { fields: out },
                    pkg.filter(|n| !n.name.is_empty()).map(|n| utf8(n.name)),
                ));
            }
            _ => TypeDetail::Scalar,
        };
        Ok((detail, None))
    }

    /// The elements of the Go slice whose header is at `off` (data pointer, length, capacity),
    /// each `size` bytes: a reader over exactly them.
    fn slice(&self, what: &'static str, off: u64, size: u64) -> Result<Reader<'data>> {
        let p = self.p();
        let data = self.word(what, off)?;
        let len = self.word(what, off + p)?;
        let cap = self.word(what, off + 2 * p)?;
        if len > cap || len > MAX_ENTRIES {
            return Err(Error::BadValue {
                what,
                offset: self.r.base() + off + p,
                value: len,
            });
        }
        if len == 0 {
            return Ok(Reader::new(&[], self.r.base(), self.r.endian()));
        }
        let at = data
            .checked_sub(self.types)
            .filter(|o| *o < self.r.len())
            .ok_or(Error::BadValue {
                what,
                offset: self.r.base() + off,
                value: data,
            })?;
        self.r.sub(what, at, len * size)
    }

    /// `abi.FuncType`: counts, then the parameter and result types after the uncommon type.
    fn func(&self, h: &Header) -> Result<TypeDetail<'data>> {
        let t = h.off + self.header_size();
        let in_count = u64::from(self.r.u16("abi.FuncType.InCount", t)?);
        let out_word = self.r.u16("abi.FuncType.OutCount", t + 2)?;
        let out_count = u64::from(out_word & 0x7fff);
        let mut at = h.off + self.kind_size(TypeKind::Func);
        if h.tflag & TFLAG_UNCOMMON != 0 {
            at += UNCOMMON_SIZE;
        }
        let p = self.p();
        // All of them must be there before any is read.
        self.r
            .sub("abi.FuncType params", at, (in_count + out_count) * p)?;
        let read = |range: std::ops::Range<u64>| -> Result<Vec<VirtAddr>> {
            range
                .map(|i| self.required_type_ptr("abi.FuncType param", at + i * p))
                .collect()
        };
        Ok(TypeDetail::Func {
            params: read(0..in_count)?,
            results: read(in_count..in_count + out_count)?,
            variadic: out_word & 0x8000 != 0,
        })
    }

    /// `abi.MapType` (and `OldMapType`, `SwissMapType`).
    fn map(&self, h: &Header, kind_size: &mut u64) -> Result<TypeDetail<'data>> {
        let (p, t) = (self.p(), h.off + self.header_size());
        let key = self.required_type_ptr("abi.MapType.Key", t)?;
        let elem = self.required_type_ptr("abi.MapType.Elem", t + p)?;
        let internal = self.required_type_ptr("abi.MapType.Group", t + 2 * p)?;
        let internal_size = self.header(internal.0)?.size;
        let first = t + 4 * p;
        let layout = match self.layout.maps {
            MapImpl::Buckets => self.bucket_map(internal, internal_size, first)?,
            MapImpl::Swiss124 => self.swiss124(internal, internal_size, first)?,
            MapImpl::Swiss127 => {
                let w = |i: u64, what| self.word(what, first + i * p);
                let group_size = w(0, "abi.MapType.GroupSize")?;
                self.check_size("abi.MapType.GroupSize", first, group_size, internal_size)?;
                let flags = self.r.u32("abi.MapType.Flags", first + 6 * p)?;
                MapLayout::Swiss {
                    group: internal,
                    group_size,
                    keys_off: w(1, "abi.MapType.KeysOff")?,
                    key_stride: w(2, "abi.MapType.KeyStride")?,
                    elems_off: w(3, "abi.MapType.ElemsOff")?,
                    elem_stride: w(4, "abi.MapType.ElemStride")?,
                    indirect_key: flags & 4 != 0,
                    indirect_elem: flags & 8 != 0,
                }
            }
            MapImpl::BucketsOrSwiss124 => {
                if self.word("abi.MapType.GroupSize", first)? == internal_size {
                    *kind_size = self.kind_size_swiss124();
                    self.swiss124(internal, internal_size, first)?
                } else {
                    self.bucket_map(internal, internal_size, first)?
                }
            }
        };
        Ok(TypeDetail::Map { key, elem, layout })
    }

    fn kind_size_swiss124(&self) -> u64 {
        let p = self.p();
        (self.header_size() + 7 * p + 4).div_ceil(p) * p
    }

    /// `OldMapType` from `KeySize` on.
    fn bucket_map(&self, bucket: VirtAddr, bucket_type_size: u64, at: u64) -> Result<MapLayout> {
        let bucket_size = self.r.u16("abi.OldMapType.BucketSize", at + 2)?;
        self.check_size(
            "abi.OldMapType.BucketSize",
            at + 2,
            u64::from(bucket_size),
            bucket_type_size,
        )?;
        let flags = self.r.u32("abi.OldMapType.Flags", at + 4)?;
        Ok(MapLayout::Buckets {
            bucket,
            key_size: self.r.u8("abi.OldMapType.KeySize", at)?,
            elem_size: self.r.u8("abi.OldMapType.ValueSize", at + 1)?,
            bucket_size,
            indirect_key: flags & 1 != 0,
            indirect_elem: flags & 2 != 0,
        })
    }

    /// `SwissMapType` (1.24–1.25), `MapType` (1.26) from `GroupSize` on.
    fn swiss124(&self, group: VirtAddr, group_type_size: u64, at: u64) -> Result<MapLayout> {
        let p = self.p();
        let group_size = self.word("abi.SwissMapType.GroupSize", at)?;
        self.check_size(
            "abi.SwissMapType.GroupSize",
            at,
            group_size,
            group_type_size,
        )?;
        let slot_size = self.word("abi.SwissMapType.SlotSize", at + p)?;
        let elem_off = self.word("abi.SwissMapType.ElemOff", at + 2 * p)?;
        let flags = self.r.u32("abi.SwissMapType.Flags", at + 3 * p)?;
        Ok(MapLayout::Swiss {
            group,
            group_size,
            keys_off: SWISS_SLOTS_OFF,
            key_stride: slot_size,
            elems_off: SWISS_SLOTS_OFF.saturating_add(elem_off),
            elem_stride: slot_size,
            indirect_key: flags & 4 != 0,
            indirect_elem: flags & 8 != 0,
        })
    }

    /// A bucket or group size field must equal the size of the type it describes.
    fn check_size(&self, what: &'static str, off: u64, v: u64, want: u64) -> Result<()> {
        if v != want {
            return Err(Error::BadValue {
                what,
                offset: self.r.base() + off,
                value: v,
            });
        }
        Ok(())
    }

    /// The uncommon type at `off`: methods and package path.
    #[allow(clippy::type_complexity)]
    fn uncommon(&self, off: u64) -> Result<(Vec<Method<'data>>, Option<Cow<'data, str>>)> {
        let u = self.r.sub("abi.UncommonType", off, UNCOMMON_SIZE)?;
        let pkg_off = u.i32("abi.UncommonType.PkgPath", 0)?;
        let pkg = if pkg_off == 0 {
            None
        } else {
            let n = self.name_off("abi.UncommonType.PkgPath", off, pkg_off)?;
            (!n.name.is_empty()).then(|| utf8(n.name))
        };
        let mcount = u64::from(u.u16("abi.UncommonType.Mcount", 4)?);
        let moff = u64::from(u.u32("abi.UncommonType.Moff", 8)?);
        let table = self
            .r
            .sub("abi.UncommonType methods", off + moff, mcount * METHOD_SIZE)?;
        let mut methods = Vec::new();
        for i in 0..mcount {
            let at = table.base() - self.r.base() + i * METHOD_SIZE;
            let n = self.name_off("abi.Method.Name", at, self.r.i32("abi.Method.Name", at)?)?;
            methods.push(Method {
                name: utf8(n.name),
                exported: n.exported(),
                mtyp: self.type_off_at("abi.Method.Mtyp", at + 4)?,
                ifn: self.text_off_at("abi.Method.Ifn", at + 8)?,
                tfn: self.text_off_at("abi.Method.Tfn", at + 12)?,
            });
        }
        Ok((methods, pkg))
    }

    /// `abi.Type.DescriptorSize` (Go 1.27): the bytes the descriptor at `addr` takes, up to the
    /// end of its method table.
    fn descriptor_size(&self, addr: u64) -> Result<u64> {
        let h = self.header(addr)?;
        let (p, t) = (self.p(), h.off + self.header_size());
        let add = match h.kind {
            TypeKind::Func => {
                let n = u64::from(self.r.u16("abi.FuncType.InCount", t)?)
                    + u64::from(self.r.u16("abi.FuncType.OutCount", t + 2)? & 0x7fff);
                n * p
            }
            TypeKind::Interface => self
                .word("abi.InterfaceType.Methods", t + 2 * p)?
                .saturating_mul(IMETHOD_SIZE),
            TypeKind::Struct => self
                .word("abi.StructType.Fields", t + 2 * p)?
                .saturating_mul(3 * p),
            _ => 0,
        };
        let mut size = self.kind_size(h.kind);
        if h.tflag & TFLAG_UNCOMMON != 0 {
            let mcount = self.r.u16("abi.UncommonType.Mcount", h.off + size + 4)?;
            size += UNCOMMON_SIZE + u64::from(mcount) * METHOD_SIZE;
        }
        size.checked_add(add)
            .filter(|s| *s <= self.r.len())
            .ok_or(Error::BadValue {
                what: "abi.Type descriptor size",
                offset: self.r.base() + h.off,
                value: add,
            })
    }

    /// The descriptors `moduledata` lists: `typelinks` (up to Go 1.26), or the descriptors from
    /// `types + ptrsize` to `types + typedesclen`, one after the other (Go 1.27).
    fn linked(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        match self.layout.roots {
            Roots::Links => {
                let (links, n) = self.link_table("moduledata.typelinks", self.md.typelinks, 4)?;
                for i in 0..n {
                    let off = links.i32("typelinks entry", i * 4)?;
                    let addr = u64::try_from(off)
                        .ok()
                        .and_then(|o| self.types.checked_add(o))
                        .ok_or(Error::BadValue {
                            what: "typelinks entry",
                            offset: links.base() + i * 4,
                            value: u64::from(off as u32),
                        })?;
                    out.push(self.check_link(addr, links.base() + i * 4)?);
                }
            }
            Roots::Walk => {
                let len = self.md.typedesclen.unwrap_or(0);
                if len > self.r.len() {
                    return Err(Error::BadValue {
                        what: "moduledata.typedesclen",
                        offset: self.md_field_offset(),
                        value: len,
                    });
                }
                let p = self.p();
                let mut td = p;
                while td < len {
                    td = td.div_ceil(p) * p;
                    if td >= len {
                        break;
                    }
                    out.push(self.types + td);
                    td += self.descriptor_size(self.types + td)?;
                }
            }
        }
        Ok(out)
    }

    /// The entries of `typelinks` or `itablinks` (`slice`: data pointer and length), each
    /// `size` bytes, and how many there are; all must be in the file.
    fn link_table(
        &self,
        what: &'static str,
        slice: Option<(u64, u64)>,
        size: u64,
    ) -> Result<(Reader<'data>, u64)> {
        match slice {
            Some((at, n)) if n > 0 => {
                let r = self.container.reader_at(what, VirtAddr(at))?;
                Ok((r.sub(what, 0, n.saturating_mul(size))?, n))
            }
            _ => Ok((Reader::new(&[], 0, self.r.endian()), 0)),
        }
    }

    /// Where moduledata is in the file, for errors about its fields.
    fn md_field_offset(&self) -> u64 {
        self.container.offset_of(self.md.vaddr).map_or(0, |o| o.0)
    }

    /// A listed descriptor address, which must be inside the descriptors.
    fn check_link(&self, addr: u64, field_offset: u64) -> Result<u64> {
        let ok = addr
            .checked_sub(self.types)
            .is_some_and(|o| o + self.header_size() <= self.r.len());
        if !ok || !addr.is_multiple_of(self.p()) {
            return Err(Error::BadValue {
                what: "typelinks entry",
                offset: field_offset,
                value: addr,
            });
        }
        Ok(addr)
    }

    /// The itabs the linker wrote: `itablinks` (up to Go 1.26), or `itabsize` bytes at
    /// `types + itaboffset` (Go 1.27).
    pub fn itabs(&self) -> Result<Vec<Itab>> {
        let mut out = Vec::new();
        let p = self.p();
        match self.layout.roots {
            Roots::Links => {
                let (links, n) = self.link_table("moduledata.itablinks", self.md.itablinks, p)?;
                for i in 0..n {
                    let addr = links.word("itablinks entry", i * p, self.ptr)?;
                    let r = self.container.reader_at("itab", VirtAddr(addr))?;
                    out.push(self.itab(addr, &r)?.0);
                }
            }
            Roots::Walk => {
                let Some((off, size)) = self.md.itabs else {
                    return Ok(out);
                };
                let end = off.checked_add(size).filter(|e| *e <= self.r.len()).ok_or(
                    Error::BadValue {
                        what: "moduledata.itaboffset",
                        offset: self.md_field_offset(),
                        value: off,
                    },
                )?;
                let r = self.r.sub("itabs", off, end - off)?;
                let mut at = 0;
                while at < r.len() {
                    let (itab, size) = self.itab(self.types + off + at, &r.tail("itab", at)?)?;
                    out.push(itab);
                    at += size;
                }
            }
        }
        Ok(out)
    }

    /// The itab at `addr`, whose bytes `r` starts with, and its size (`abi.ITab.Size`).
    fn itab(&self, addr: u64, r: &Reader<'data>) -> Result<(Itab, u64)> {
        let p = self.p();
        let field = |what, o: u64| -> Result<VirtAddr> {
            self.check_type_addr(what, r.base() + o, r.word(what, o, self.ptr)?)
        };
        let interface = field("abi.ITab.Inter", 0)?;
        let typ = field("abi.ITab.Type", p)?;
        let ih = self.header(interface.0)?;
        if ih.kind != TypeKind::Interface {
            return Err(Error::BadValue {
                what: "abi.ITab.Inter",
                offset: r.base(),
                value: interface.0,
            });
        }
        let fun_off = self.layout.itab_fun.unwrap_or(3 * p);
        let fun0 = match self.layout.itab_fun {
            Some(o) => r.word("abi.ITab.Fun", o, self.ptr)?,
            None => 0,
        };
        let fun0 = if fun0 == 0 {
            None
        } else if fun0 >= self.md.text && fun0 < self.md.etext {
            Some(VirtAddr(fun0))
        } else {
            return Err(Error::BadValue {
                what: "abi.ITab.Fun",
                offset: r.base() + fun_off,
                value: fun0,
            });
        };
        let methods = self.word(
            "abi.InterfaceType.Methods",
            ih.off + self.header_size() + 2 * p,
        )?;
        // abi.ITab.Size: one word of Fun when the type does not implement the interface.
        let funs = if fun0.is_none() {
            1
        } else {
            methods.clamp(1, MAX_ENTRIES)
        };
        let size = fun_off + p * funs;
        Ok((
            Itab {
                addr: VirtAddr(addr),
                interface,
                typ,
                fun0,
            },
            size,
        ))
    }

    /// Every type descriptor found: those `moduledata` lists, the itabs' interfaces and types,
    /// and every type these refer to, and so on; in address order.
    ///
    /// Fails when the lists cannot be read. A descriptor that is listed or referred to but
    /// cannot be read is still returned (and [`TypeDescs::get`] says what is wrong with it); its
    /// references are not followed.
    pub fn all(&self) -> Result<Vec<VirtAddr>> {
        let mut queue = self.linked()?;
        for itab in self.itabs()? {
            queue.extend([itab.interface.0, itab.typ.0]);
        }
        // Descriptors do not overlap: there are at most this many, with at most this many
        // fields, methods and parameters in all (each takes at least a 32-bit word).
        let max_types = self.r.len() / self.header_size() + 1;
        let max_entries = self.r.len() / 4 + MAX_ENTRIES;
        let mut seen: HashSet<u64> = HashSet::new();
        let mut entries = 0u64;
        queue.retain(|a| seen.insert(*a));
        let mut next = 0;
        while let Some(&addr) = queue.get(next) {
            next += 1;
            let Ok(d) = self.get(VirtAddr(addr)) else {
                continue;
            };
            entries += d.entries();
            if entries > max_entries {
                return Err(Error::BadValue {
                    what: "type descriptors (more entries than their bytes can hold)",
                    offset: self.r.base(),
                    value: entries,
                });
            }
            for r in d.references() {
                if seen.insert(r.0) {
                    if seen.len() as u64 > max_types {
                        return Err(Error::BadValue {
                            what: "type descriptors (more than their bytes can hold)",
                            offset: self.r.base(),
                            value: seen.len() as u64,
                        });
                    }
                    queue.push(r.0);
                }
            }
        }
        let mut all: Vec<VirtAddr> = queue.into_iter().map(VirtAddr).collect();
        all.sort_unstable();
        Ok(all)
    }

    /// The types whose `reflect.Type.String` is `name` (`*main.Node`, `fs.FileMode`,
    /// `[]string`): usually one, more when packages with the same name define the same type
    /// name. The index is built on the first call, from [`TypeDescs::all`] (empty if that
    /// fails).
    pub fn by_name(&self, name: &str) -> Vec<VirtAddr> {
        let index = self.by_name.get_or_init(|| {
            let mut index: HashMap<Cow<'data, str>, Vec<VirtAddr>> = HashMap::new();
            for addr in self.all().unwrap_or_default() {
                if let Ok(n) = self.name(addr) {
                    index.entry(n).or_default().push(addr);
                }
            }
            index
        });
        index.get(name).cloned().unwrap_or_default()
    }

    /// Go 1.16 or 1.17 without build info: two-byte or uvarint name lengths, from the names of
    /// the first listed types.
    fn probe_name_lengths(&self) -> Result<NameLengths> {
        for addr in self.linked()?.into_iter().take(16) {
            let h = self.header(addr)?;
            let at = name_offset(&self.r, "abi.Type.Str", h.off + 4 * self.p() + 8, h.str_off)?;
            if name::looks_big_endian16(&self.r, at)? {
                return Ok(NameLengths::BigEndian16);
            }
        }
        Ok(NameLengths::Uvarint)
    }

    /// Go 1.18 or 1.19 without build info: in 1.18 a field offset is `offset << 1 | embedded`,
    /// in 1.19 it is the offset and the name's flag bit 3 says embedded. A name with bit 3 set
    /// says 1.19; a field that would end past its struct when its offset is read plain says 1.18.
    fn probe_embedding(&self) -> Embedding {
        let Ok(links) = self.linked() else {
            return Embedding::Unknown;
        };
        let mut probe = TypeDescs {
            by_name: OnceLock::new(),
            text: self.text.clone(),
            ..*self
        };
        probe.layout.embedding = Embedding::NameFlag;
        // The listed types are unnamed ones; named structs are found through them (`*os.File`
        // leads to `os.File`, which embeds `*os.file`).
        let mut queue = links;
        let mut seen: HashSet<u64> = queue.iter().copied().collect();
        let mut next = 0;
        while let Some(&addr) = queue.get(next) {
            next += 1;
            if next > 1 << 14 {
                break;
            }
            let Ok(d) = probe.get(VirtAddr(addr)) else {
                continue;
            };
            for r in d.references() {
                if seen.insert(r.0) {
                    queue.push(r.0);
                }
            }
            let TypeDetail::Struct { fields } = &d.detail else {
                continue;
            };
            for f in fields {
                if f.embedded {
                    return Embedding::NameFlag;
                }
                let Ok(fh) = probe.header(f.typ.0) else {
                    continue;
                };
                if f.offset.saturating_add(fh.size) > d.size {
                    return Embedding::OffsetLowBit;
                }
            }
        }
        Embedding::Unknown
    }
}

#[cfg(test)]
mod tests;

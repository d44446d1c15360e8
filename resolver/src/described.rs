//! Go types from the binary's own type descriptors ([`pclntab::typedesc`]): what a named type
//! in a signature is made of, and the full signature of a method whose `mtyp` survived the
//! linker.
//!
//! A descriptor gives sizes, alignments and field offsets as the compiler laid them out. The
//! [`GoType`] built from one is laid out again by gosyms' own rules, and refused when the two
//! disagree, so that a layout used for tracing is one the binary vouches for.

use crate::types::{field_offsets, Field, GoType};
use pclntab::typedesc::{TypeDesc, TypeDescs, TypeDetail, TypeKind};
use pclntab::VirtAddr;
use std::cell::RefCell;
use std::collections::HashMap;

/// Pointer, slice and map levels followed into a type by default: a pointer's target is laid
/// out (and read) this many levels deep, and named beyond.
pub const DEFAULT_DEPTH: u32 = 3;

/// Types nest by value at most this deep (Go has no recursive value types; this bounds a
/// damaged binary).
const MAX_NESTING: u32 = 32;

/// Why a type could not be built from descriptors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The descriptor is damaged or unreadable.
    #[error("type descriptor at {addr:#x}: {reason}")]
    Unreadable {
        /// Its address.
        addr: u64,
        /// What the reader said.
        reason: String,
    },
    /// gosyms' layout of the type disagrees with the descriptor's.
    #[error("{name}: {detail} by gosyms' layout, {actual} by its descriptor")]
    Layout {
        /// The type.
        name: String,
        /// What gosyms computed.
        detail: String,
        /// What the descriptor says.
        actual: String,
    },
    /// Types nested too deep.
    #[error("{0}: nested too deeply")]
    TooDeep(String),
}

/// A method's receiver and type, from the method table of its receiver's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodType {
    /// The receiver's type descriptor (`T` or `*T`).
    pub receiver: VirtAddr,
    /// The method's func type, without the receiver.
    pub mtyp: VirtAddr,
}

/// Go types of one binary, built from its descriptors and cached.
pub struct DescribedTypes<'a, 'data> {
    descs: TypeDescs<'a, 'data>,
    ptr: u64,
    depth: u32,
    cache: RefCell<HashMap<(u64, u32), Result<GoType, TypeError>>>,
    methods: std::sync::OnceLock<HashMap<u64, MethodType>>,
}

impl<'a, 'data> DescribedTypes<'a, 'data> {
    /// Over `descs`, for pointer size `ptr`, following pointers `depth` levels.
    pub fn new(descs: TypeDescs<'a, 'data>, ptr: u64, depth: u32) -> Self {
        DescribedTypes {
            descs,
            ptr,
            depth,
            cache: RefCell::new(HashMap::new()),
            methods: std::sync::OnceLock::new(),
        }
    }

    /// The descriptors themselves.
    pub fn descs(&self) -> &TypeDescs<'a, 'data> {
        &self.descs
    }

    /// The type at descriptor `addr`.
    pub fn go_type(&self, addr: VirtAddr) -> Result<GoType, TypeError> {
        self.build(addr, 0, 0)
    }

    /// The type named `name` in a signature: `main.Order`, `http.ResponseWriter` (the package's
    /// name, as reflect writes it), `net/http.ResponseWriter` (its path), or `Order` for a type
    /// of `package`. `Ok(None)` when the binary describes no such type; an error when it
    /// describes several with different layouts.
    pub fn named(&self, name: &str, package: &str) -> Result<Option<GoType>, TypeError> {
        let (path, local) = split_qualified(name);
        let (path, local) = match path {
            Some(p) => (p.to_string(), local),
            None => (package.to_string(), local),
        };
        // reflect names a type by the last element of its package path.
        let short = path.rsplit('/').next().unwrap_or(&path);
        let wanted = format!("{short}.{local}");
        let mut found = Vec::new();
        for addr in self.descs.by_name(&wanted) {
            let Ok(d) = self.descs.get(addr) else {
                continue;
            };
            // A path-qualified name must match the package path; a short one may match any
            // package of that name.
            let path_matches = !path.contains('/')
                || d.pkg_path
                    .as_deref()
                    .is_none_or(|p| p == path || unescape(p) == unescape(&path));
            if d.named && path_matches {
                found.push(addr);
            }
        }
        let mut types: Vec<GoType> = Vec::new();
        for addr in found {
            let t = self.go_type(addr)?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        match types.len() {
            0 => Ok(None),
            1 => Ok(types.pop()),
            n => Err(TypeError::Layout {
                name: wanted,
                detail: format!("{n} different types"),
                actual: "write its package path (net/http.Header)".into(),
            }),
        }
    }

    /// The receiver and func type of the method whose code starts at `entry`, when the method
    /// table of a type names it (as the code called directly, `tfn`) and its type survived.
    pub fn method(&self, entry: u64) -> Option<MethodType> {
        self.methods
            .get_or_init(|| {
                let mut m = HashMap::new();
                for addr in self.descs.all().unwrap_or_default() {
                    let Ok(d) = self.descs.get(addr) else {
                        continue;
                    };
                    for meth in &d.methods {
                        if let (Some(tfn), Some(mtyp)) = (meth.tfn, meth.mtyp) {
                            m.entry(tfn.0).or_insert(MethodType {
                                receiver: addr,
                                mtyp,
                            });
                        }
                    }
                }
                m
            })
            .get(&entry)
            .copied()
    }

    /// The parameters and results of func type `mtyp`, with `receiver` first: positional
    /// names `recv`, `p0`, `p1`... and `r0`, `r1`... (a variadic last parameter is its slice).
    pub fn method_fields(
        &self,
        receiver: VirtAddr,
        mtyp: VirtAddr,
    ) -> Result<(Vec<Field>, Vec<Field>), TypeError> {
        let d = self.desc(mtyp)?;
        let TypeDetail::Func {
            params, results, ..
        } = &d.detail
        else {
            return Err(TypeError::Unreadable {
                addr: mtyp.0,
                reason: format!("{} is not a func type", d.name),
            });
        };
        let mut args = vec![Field {
            name: "recv".into(),
            ty: self.go_type(receiver)?,
        }];
        for (i, p) in params.iter().enumerate() {
            args.push(Field {
                name: format!("p{i}"),
                ty: self.go_type(*p)?,
            });
        }
        let results = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Field {
                    name: format!("r{i}"),
                    ty: self.go_type(*r)?,
                })
            })
            .collect::<Result<Vec<_>, TypeError>>()?;
        Ok((args, results))
    }

    fn desc(&self, addr: VirtAddr) -> Result<TypeDesc<'data>, TypeError> {
        self.descs.get(addr).map_err(|e| TypeError::Unreadable {
            addr: addr.0,
            reason: e.to_string(),
        })
    }

    /// `addr`'s type, `levels` pointers deep and `nesting` values deep.
    fn build(&self, addr: VirtAddr, levels: u32, nesting: u32) -> Result<GoType, TypeError> {
        if let Some(t) = self.cache.borrow().get(&(addr.0, levels)) {
            return t.clone();
        }
        let t = self.build_uncached(addr, levels, nesting);
        self.cache.borrow_mut().insert((addr.0, levels), t.clone());
        t
    }

    fn build_uncached(
        &self,
        addr: VirtAddr,
        levels: u32,
        nesting: u32,
    ) -> Result<GoType, TypeError> {
        let d = self.desc(addr)?;
        if nesting > MAX_NESTING {
            return Err(TypeError::TooDeep(d.name.to_string()));
        }
        // Behind more pointers than the depth, a type is its name.
        if levels > self.depth {
            return Ok(GoType::Opaque {
                name: d.name.to_string(),
            });
        }
        let by_value = |a: VirtAddr| self.build(a, levels, nesting + 1);
        let behind = |a: VirtAddr| self.build(a, levels + 1, nesting + 1);
        let core = match (&d.kind, &d.detail) {
            (TypeKind::Bool, _) => GoType::Bool,
            (TypeKind::Int, _) => GoType::Int { bits: 0 },
            (TypeKind::Int8, _) => GoType::Int { bits: 8 },
            (TypeKind::Int16, _) => GoType::Int { bits: 16 },
            (TypeKind::Int32, _) => GoType::Int { bits: 32 },
            (TypeKind::Int64, _) => GoType::Int { bits: 64 },
            (TypeKind::Uint, _) => GoType::Uint { bits: 0 },
            (TypeKind::Uint8, _) => GoType::Uint { bits: 8 },
            (TypeKind::Uint16, _) => GoType::Uint { bits: 16 },
            (TypeKind::Uint32, _) => GoType::Uint { bits: 32 },
            (TypeKind::Uint64, _) => GoType::Uint { bits: 64 },
            (TypeKind::Uintptr, _) => GoType::Uintptr,
            (TypeKind::Float32, _) => GoType::Float { bits: 32 },
            (TypeKind::Float64, _) => GoType::Float { bits: 64 },
            (TypeKind::Complex64, _) => GoType::Complex { bits: 64 },
            (TypeKind::Complex128, _) => GoType::Complex { bits: 128 },
            (TypeKind::String, _) => GoType::String,
            (TypeKind::UnsafePointer, _) => GoType::UnsafePointer,
            (TypeKind::Chan, _) => GoType::Chan,
            (TypeKind::Func, _) => GoType::Func,
            (_, TypeDetail::Pointer { elem }) => GoType::Pointer(Box::new(behind(*elem)?)),
            (_, TypeDetail::Slice { elem }) => GoType::Slice(Box::new(behind(*elem)?)),
            (_, TypeDetail::Array { elem, len, .. }) => GoType::Array {
                len: *len,
                elem: Box::new(by_value(*elem)?),
            },
            (_, TypeDetail::Map { key, elem, .. }) => GoType::Map {
                key: Box::new(behind(*key)?),
                elem: Box::new(behind(*elem)?),
            },
            (_, TypeDetail::Interface { methods }) => GoType::Interface {
                empty: methods.is_empty(),
            },
            (_, TypeDetail::Struct { fields }) => {
                let fields = fields
                    .iter()
                    .map(|f| {
                        Ok(Field {
                            name: f.name.to_string(),
                            ty: by_value(f.typ)?,
                        })
                    })
                    .collect::<Result<Vec<_>, TypeError>>()?;
                GoType::Struct(fields)
            }
            (kind, _) => {
                return Err(TypeError::Unreadable {
                    addr: addr.0,
                    reason: format!("{} descriptor without its {kind:?} details", d.name),
                })
            }
        };
        self.check_layout(&d, &core)?;
        Ok(if d.named {
            GoType::Named {
                name: d.name.to_string(),
                underlying: Box::new(core),
            }
        } else {
            core
        })
    }

    /// gosyms' layout of `t` must be the descriptor's: size, alignment, field offsets.
    fn check_layout(&self, d: &TypeDesc<'_>, t: &GoType) -> Result<(), TypeError> {
        let bad = |detail: String, actual: String| TypeError::Layout {
            name: d.name.to_string(),
            detail,
            actual,
        };
        let (size, align) = (t.size(self.ptr), t.align(self.ptr));
        if size != d.size {
            return Err(bad(format!("{size} bytes"), format!("{}", d.size)));
        }
        if align != u64::from(d.align) {
            return Err(bad(format!("aligned to {align}"), format!("{}", d.align)));
        }
        if let (GoType::Struct(fields), TypeDetail::Struct { fields: dfields }) = (t, &d.detail) {
            for ((off, f), df) in field_offsets(fields, self.ptr).zip(fields).zip(dfields) {
                if off != df.offset {
                    return Err(bad(
                        format!("field {} at {off}", f.name),
                        format!("{}", df.offset),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `net/http.Header` → (`net/http`, `Header`); `main.Pair[int,main.T]` → (`main`,
/// `Pair[int,main.T]`); `Order` → (None, `Order`).
fn split_qualified(name: &str) -> (Option<&str>, &str) {
    let base = name.find('[').and_then(|i| name.get(..i)).unwrap_or(name);
    let slash = base.rfind('/').map_or(0, |i| i + 1);
    match base.get(slash..).and_then(|b| b.find('.')) {
        Some(dot) => match (name.get(..slash + dot), name.get(slash + dot + 1..)) {
            (Some(p), Some(l)) => (Some(p), l),
            _ => (None, name),
        },
        None => (None, name),
    }
}

/// A package path as a symbol name writes it (`gopkg.in/yaml%2ev3`) as Go writes it.
fn unescape(path: &str) -> String {
    path.replace("%2e", ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        assert_eq!(
            split_qualified("net/http.Header"),
            (Some("net/http"), "Header")
        );
        assert_eq!(split_qualified("main.Order"), (Some("main"), "Order"));
        assert_eq!(
            split_qualified("main.Pair[int,example.com/x.T]"),
            (Some("main"), "Pair[int,example.com/x.T]")
        );
        assert_eq!(split_qualified("Order"), (None, "Order"));
        assert_eq!(unescape("gopkg.in/yaml%2ev3"), "gopkg.in/yaml.v3");
    }
}

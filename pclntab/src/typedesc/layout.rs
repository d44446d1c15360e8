//! What changes in the type descriptors from one Go release to the next, and how the release is
//! told when the build info does not say it.
//!
//! Every fact here was checked against the Go sources of the releases it names
//! (`runtime/type.go`, `runtime/runtime2.go`, `internal/abi/{type,map*,iface}.go`,
//! `cmd/compile/internal/reflectdata`, `cmd/link/internal/ld/data.go`) and against binaries
//! built by them; Go 1.16 to 1.18 only against real binaries.

use crate::moduledata::ModuleLayout;

/// The oldest release whose descriptors are read in full. The common header and the names are
/// the same since Go 1.7, but the map, uncommon and struct field layouts of releases before 1.15
/// are not verified here.
pub(crate) const OLDEST_MINOR: u32 = 15;

/// How `abi.Name` (`runtime.name`) stores the lengths of the name and the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameLengths {
    /// Up to Go 1.16: two bytes, big-endian.
    BigEndian16,
    /// From Go 1.17: a uvarint.
    Uvarint,
}

/// How a struct field says it is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Embedding {
    /// Up to Go 1.18: `offsetAnon` holds `offset << 1 | embedded`.
    OffsetLowBit,
    /// From Go 1.19: `offset` is plain, and bit 3 of the field name's flag byte says embedded.
    NameFlag,
    /// A Go 1.18 or 1.19 binary without build info whose structs did not tell.
    Unknown,
}

/// Which map implementation, hence which `maptype` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapImpl {
    /// Bucket maps (`runtime.maptype`, `abi.OldMapType`): up to Go 1.23, and 1.24–1.25 built
    /// with `GOEXPERIMENT=noswissmap`.
    Buckets,
    /// Swiss maps with `GroupSize`, `SlotSize`, `ElemOff` (`abi.SwissMapType` of 1.24–1.25,
    /// `abi.MapType` of 1.26).
    Swiss124,
    /// Swiss maps with `KeysOff`, `KeyStride`, `ElemsOff`, `ElemStride`, `ElemOff` (Go 1.27).
    Swiss127,
    /// Go 1.24–1.25 (swiss unless built with `GOEXPERIMENT=noswissmap`, or by a toolchain
    /// built with it), or a Go 1.20–1.25 binary without build info: each map descriptor tells
    /// (a swiss map's `GroupSize` word equals the size of its group type; the same bytes of a
    /// bucket map hold `KeySize`, `ValueSize` and `BucketSize` together, never equal to it).
    BucketsOrSwiss124,
}

/// Where the type descriptors are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roots {
    /// `moduledata.typelinks` and `itablinks` (up to Go 1.26).
    Links,
    /// One descriptor after the other up to `types + typedesclen`, and the itabs at
    /// `types + itaboffset` (Go 1.27).
    Walk,
}

/// The facts of one binary's release.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) names: NameLengths,
    pub(crate) embedding: Embedding,
    pub(crate) maps: MapImpl,
    /// Offset of `itab.fun[0]`, when known: `2*ptr + 8` up to Go 1.22 (`hash uint32; _ [4]byte`),
    /// `ITab.Fun` after `Hash uint32` rounded up to a pointer from Go 1.23 (so 12 on 32-bit
    /// targets, 24 on 64-bit ones either way).
    pub(crate) itab_fun: Option<u64>,
    pub(crate) roots: Roots,
}

/// What the build info and the binary say about the release.
pub(crate) struct Release<'a> {
    /// The minor number of the Go 1.x release, from the build info.
    pub(crate) minor: Option<u32>,
    /// The moduledata layout (it narrows the release down when `minor` is unknown).
    pub(crate) module: ModuleLayout,
    /// Pointer size.
    pub(crate) ptr_size: u8,
    /// The `GOEXPERIMENT` build setting.
    pub(crate) experiment: Option<&'a str>,
}

/// Why the layout cannot be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// Known to be older than [`OLDEST_MINOR`].
    TooOld(u32),
    /// No build info, and moduledata says Go 1.8–1.15.
    UnknownOld,
}

impl Layout {
    /// The facts for `rel`, with name lengths and embedding still to be probed when the release
    /// is unknown and moduledata leaves two choices (`None` in the result's fields that need it:
    /// see [`Layout::needs_name_probe`], [`Layout::needs_embedding_probe`]).
    pub(crate) fn of(rel: &Release<'_>) -> Result<(Layout, Probes), Unsupported> {
        let p = u64::from(rel.ptr_size);
        let mut probes = Probes::default();
        let layout = match rel.minor {
            Some(m) if m < OLDEST_MINOR => return Err(Unsupported::TooOld(m)),
            Some(m) => {
                let noswiss = rel
                    .experiment
                    .is_some_and(|e| e.split(',').any(|x| x.trim() == "noswissmap"));
                Layout {
                    names: if m >= 17 {
                        NameLengths::Uvarint
                    } else {
                        NameLengths::BigEndian16
                    },
                    embedding: if m >= 19 {
                        Embedding::NameFlag
                    } else {
                        Embedding::OffsetLowBit
                    },
                    maps: match m {
                        ..=23 => MapImpl::Buckets,
                        24 | 25 if noswiss => MapImpl::Buckets,
                        // Swiss by default, but a toolchain can be built with the experiment
                        // off: each map's descriptor tells.
                        24 | 25 => MapImpl::BucketsOrSwiss124,
                        26 => MapImpl::Swiss124,
                        _ => MapImpl::Swiss127,
                    },
                    itab_fun: Some(if m <= 22 { 2 * p + 8 } else { 3 * p }),
                    roots: if m >= 27 { Roots::Walk } else { Roots::Links },
                }
            }
            None => match rel.module {
                ModuleLayout::Go18 => return Err(Unsupported::UnknownOld),
                ModuleLayout::Go116 => {
                    probes.names = true;
                    Layout {
                        names: NameLengths::Uvarint,
                        embedding: Embedding::OffsetLowBit,
                        maps: MapImpl::Buckets,
                        itab_fun: Some(2 * p + 8),
                        roots: Roots::Links,
                    }
                }
                ModuleLayout::Go118 => {
                    probes.embedding = true;
                    Layout {
                        names: NameLengths::Uvarint,
                        embedding: Embedding::Unknown,
                        maps: MapImpl::Buckets,
                        itab_fun: Some(2 * p + 8),
                        roots: Roots::Links,
                    }
                }
                ModuleLayout::Go120 => Layout {
                    names: NameLengths::Uvarint,
                    embedding: Embedding::NameFlag,
                    maps: MapImpl::BucketsOrSwiss124,
                    // 1.20–1.22 and 1.23–1.25 agree on 64-bit targets only.
                    itab_fun: (p == 8).then_some(24),
                    roots: Roots::Links,
                },
                ModuleLayout::Go126 => Layout {
                    names: NameLengths::Uvarint,
                    embedding: Embedding::NameFlag,
                    maps: MapImpl::Swiss124,
                    itab_fun: Some(3 * p),
                    roots: Roots::Links,
                },
                ModuleLayout::Go127 => Layout {
                    names: NameLengths::Uvarint,
                    embedding: Embedding::NameFlag,
                    maps: MapImpl::Swiss127,
                    itab_fun: Some(3 * p),
                    roots: Roots::Walk,
                },
            },
        };
        Ok((layout, probes))
    }
}

/// Facts left to probe in the descriptors themselves (a binary without build info).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Probes {
    /// Go 1.16 or 1.17: two-byte or uvarint name lengths.
    pub(crate) names: bool,
    /// Go 1.18 or 1.19: embedded fields in `offsetAnon` or in the name.
    pub(crate) embedding: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(minor: Option<u32>, module: ModuleLayout, p: u8, exp: Option<&str>) -> Layout {
        Layout::of(&Release {
            minor,
            module,
            ptr_size: p,
            experiment: exp,
        })
        .unwrap()
        .0
    }

    #[test]
    fn facts_follow_the_release() {
        let l = layout(Some(16), ModuleLayout::Go116, 8, None);
        assert_eq!(l.names, NameLengths::BigEndian16);
        assert_eq!(l.embedding, Embedding::OffsetLowBit);
        let l = layout(Some(17), ModuleLayout::Go116, 8, None);
        assert_eq!(l.names, NameLengths::Uvarint);
        let l = layout(Some(19), ModuleLayout::Go118, 4, None);
        assert_eq!(l.embedding, Embedding::NameFlag);
        assert_eq!(l.itab_fun, Some(16));
        let l = layout(Some(23), ModuleLayout::Go120, 4, None);
        assert_eq!((l.maps, l.itab_fun), (MapImpl::Buckets, Some(12)));
        let l = layout(Some(24), ModuleLayout::Go120, 8, None);
        assert_eq!(l.maps, MapImpl::BucketsOrSwiss124);
        let l = layout(Some(25), ModuleLayout::Go120, 8, Some("noswissmap"));
        assert_eq!(l.maps, MapImpl::Buckets);
        let l = layout(Some(26), ModuleLayout::Go126, 8, Some("noswissmap"));
        assert_eq!(l.maps, MapImpl::Swiss124, "1.26 has no bucket maps");
        let l = layout(Some(27), ModuleLayout::Go127, 8, None);
        assert_eq!((l.maps, l.roots), (MapImpl::Swiss127, Roots::Walk));
    }

    #[test]
    fn unknown_releases_are_narrowed_by_moduledata() {
        let l = layout(None, ModuleLayout::Go120, 4, None);
        assert_eq!((l.maps, l.itab_fun), (MapImpl::BucketsOrSwiss124, None));
        let l = layout(None, ModuleLayout::Go120, 8, None);
        assert_eq!(l.itab_fun, Some(24));
        assert!(
            Layout::of(&Release {
                minor: None,
                module: ModuleLayout::Go116,
                ptr_size: 8,
                experiment: None
            })
            .unwrap()
            .1
            .names
        );
        assert_eq!(
            Layout::of(&Release {
                minor: Some(14),
                module: ModuleLayout::Go18,
                ptr_size: 8,
                experiment: None
            })
            .unwrap_err(),
            Unsupported::TooOld(14)
        );
    }
}

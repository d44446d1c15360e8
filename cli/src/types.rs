//! `gosyms types`: the binary's runtime type descriptors, in Go syntax or as JSON Lines (one
//! object per type; README.md documents every field, change both together).

use anyhow::Result;
use clap::Args;
use pclntab::{ChanDir, GoBinary, MapLayout, TypeDesc, TypeDescs, TypeDetail, TypeKind, VirtAddr};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

#[derive(Args)]
pub struct TypesArgs {
    #[command(flatten)]
    pub target: crate::Target,
    /// Only types whose name (as `reflect.Type.String` gives it) matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,
    /// One JSON object per line (JSON Lines); fields are documented in README.md.
    #[arg(long)]
    json: bool,
}

pub fn types(bin: &GoBinary<'_>, a: &TypesArgs, out: &mut impl Write) -> Result<ExitCode> {
    let filter = crate::filter_regex(a.filter.as_deref())?;
    let descs = bin.type_descs()?;
    let mut matched = 0usize;
    let mut failed = 0usize;
    for addr in descs.all()? {
        let d = match descs.get(addr) {
            Ok(d) => d,
            Err(e) => {
                failed += 1;
                report(a, addr, &e);
                continue;
            }
        };
        if filter.as_ref().is_some_and(|re| !re.is_match(&d.name)) {
            continue;
        }
        matched += 1;
        let written = if a.json {
            TypeEntry::new(&descs, &d).and_then(|e| {
                serde_json::to_writer(&mut *out, &e).map_err(anyhow::Error::from)?;
                writeln!(out)?;
                Ok(())
            })
        } else {
            write_text(&descs, &d, out)
        };
        if let Err(e) = written {
            // Output errors (a closed pipe) end the run; a type that cannot be read does not.
            match e.downcast::<pclntab::Error>() {
                Ok(e) => {
                    failed += 1;
                    report(a, addr, &e);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else if matched == 0 && filter.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(a: &TypesArgs, addr: VirtAddr, e: &pclntab::Error) {
    note!(
        "gosyms: {}: type descriptor at {:#x}: {e}",
        a.target.binary.display(),
        addr.0
    );
}

/// `0x4a1b20     48 type main.Order struct { ID int64; Items []*main.Item }`, then one line per
/// method; unnamed types are their name: `0x4a1c00     24 []string`.
fn write_text(descs: &TypeDescs<'_, '_>, d: &TypeDesc<'_>, out: &mut impl Write) -> Result<()> {
    if d.named {
        let syntax = descs.go_syntax(d)?;
        writeln!(
            out,
            "{:#x} {:>6} type {} {syntax}",
            d.addr.0, d.size, d.name
        )?;
    } else {
        writeln!(out, "{:#x} {:>6} {}", d.addr.0, d.size, d.name)?;
    }
    for m in &d.methods {
        let sig = match m.mtyp {
            Some(t) => descs.signature(t)?,
            None => " (type eliminated)".into(),
        };
        let code = match m.tfn {
            Some(a) => format!("{:#x}", a.0),
            None => "eliminated".into(),
        };
        writeln!(out, "    func ({}) {}{sig}  // {code}", d.name, m.name)?;
    }
    Ok(())
}

/// One line of `gosyms types --json`.
#[derive(Serialize)]
struct TypeEntry<'a> {
    name: &'a str,
    kind: &'static str,
    size: u64,
    align: u8,
    field_align: u8,
    ptr_bytes: u64,
    addr: u64,
    named: bool,
    pkg_path: Option<&'a str>,
    ptr_to_this: Option<u64>,
    direct_iface: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    elem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    map: Option<MapEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variadic: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<FieldEntry<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    methods: Option<Vec<MethodEntry<'a>>>,
}

#[derive(Serialize)]
struct FieldEntry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    typ: String,
    offset: u64,
    embedded: bool,
    exported: bool,
    tag: Option<&'a str>,
}

#[derive(Serialize)]
struct MethodEntry<'a> {
    name: &'a str,
    exported: bool,
    #[serde(rename = "type")]
    typ: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifn: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tfn: Option<Option<u64>>,
}

/// A map's layout: the bucket map's fields or the swiss map's.
#[derive(Serialize)]
#[serde(tag = "impl", rename_all = "snake_case")]
enum MapEntry {
    Buckets {
        bucket: String,
        bucket_size: u16,
        key_size: u8,
        elem_size: u8,
        indirect_key: bool,
        indirect_elem: bool,
    },
    Swiss {
        group: String,
        group_size: u64,
        keys_off: u64,
        key_stride: u64,
        elems_off: u64,
        elem_stride: u64,
        indirect_key: bool,
        indirect_elem: bool,
    },
}

impl<'a> TypeEntry<'a> {
    fn new(descs: &TypeDescs<'_, '_>, d: &'a TypeDesc<'_>) -> Result<Self> {
        let name = |a: VirtAddr| descs.name(a).map(|n| n.into_owned());
        let names = |v: &[VirtAddr]| v.iter().map(|a| name(*a)).collect::<Result<Vec<_>, _>>();
        let mut e = TypeEntry {
            name: &d.name,
            kind: d.kind.name(),
            size: d.size,
            align: d.align,
            field_align: d.field_align,
            ptr_bytes: d.ptr_bytes,
            addr: d.addr.0,
            named: d.named,
            pkg_path: d.pkg_path.as_deref(),
            ptr_to_this: d.ptr_to_this.map(|a| a.0),
            direct_iface: d.direct_iface,
            elem: None,
            key: None,
            len: None,
            dir: None,
            map: None,
            params: None,
            results: None,
            variadic: None,
            fields: None,
            methods: None,
        };
        match &d.detail {
            TypeDetail::Scalar => {}
            TypeDetail::Pointer { elem } | TypeDetail::Slice { elem } => {
                e.elem = Some(name(*elem)?)
            }
            TypeDetail::Array { elem, len, .. } => {
                e.elem = Some(name(*elem)?);
                e.len = Some(*len);
            }
            TypeDetail::Chan { elem, dir } => {
                e.elem = Some(name(*elem)?);
                e.dir = Some(match dir {
                    ChanDir::Recv => "recv",
                    ChanDir::Send => "send",
                    ChanDir::Both => "both",
                });
            }
            TypeDetail::Map { key, elem, layout } => {
                e.key = Some(name(*key)?);
                e.elem = Some(name(*elem)?);
                e.map = Some(match *layout {
                    MapLayout::Buckets {
                        bucket,
                        key_size,
                        elem_size,
                        bucket_size,
                        indirect_key,
                        indirect_elem,
                    } => MapEntry::Buckets {
                        bucket: name(bucket)?,
                        bucket_size,
                        key_size,
                        elem_size,
                        indirect_key,
                        indirect_elem,
                    },
                    MapLayout::Swiss {
                        group,
                        group_size,
                        keys_off,
                        key_stride,
                        elems_off,
                        elem_stride,
                        indirect_key,
                        indirect_elem,
                    } => MapEntry::Swiss {
                        group: name(group)?,
                        group_size,
                        keys_off,
                        key_stride,
                        elems_off,
                        elem_stride,
                        indirect_key,
                        indirect_elem,
                    },
                });
            }
            TypeDetail::Func {
                params,
                results,
                variadic,
            } => {
                e.params = Some(names(params)?);
                e.results = Some(names(results)?);
                e.variadic = Some(*variadic);
            }
            TypeDetail::Interface { methods } => {
                e.methods = Some(
                    methods
                        .iter()
                        .map(|m| {
                            Ok(MethodEntry {
                                name: &m.name,
                                exported: m.exported,
                                typ: m.typ.map(name).transpose()?,
                                ifn: None,
                                tfn: None,
                            })
                        })
                        .collect::<Result<_>>()?,
                );
            }
            TypeDetail::Struct { fields } => {
                e.fields = Some(
                    fields
                        .iter()
                        .map(|f| {
                            Ok(FieldEntry {
                                name: &f.name,
                                typ: name(f.typ)?,
                                offset: f.offset,
                                embedded: f.embedded,
                                exported: f.exported,
                                tag: f.tag.as_deref(),
                            })
                        })
                        .collect::<Result<_>>()?,
                );
            }
        }
        if d.kind != TypeKind::Interface && !d.methods.is_empty() {
            e.methods = Some(
                d.methods
                    .iter()
                    .map(|m| {
                        Ok(MethodEntry {
                            name: &m.name,
                            exported: m.exported,
                            typ: m.mtyp.map(name).transpose()?,
                            ifn: Some(m.ifn.map(|a| a.0)),
                            tfn: Some(m.tfn.map(|a| a.0)),
                        })
                    })
                    .collect::<Result<_>>()?,
            );
        }
        Ok(e)
    }
}

//! Type descriptors (`pclntab::typedesc`, `gosyms types`) against independent truth:
//!
//! - DWARF, read by Go's own `debug/dwarf` (`testdata/types/dwarftypes.go`), on every matrix
//!   binary that has it: every DWARF type that names its runtime type descriptor
//!   (`DW_AT_go_runtime_type`) must agree with that descriptor (kind, size, name, struct fields
//!   with names, offsets, types and embedding, elements, keys, array lengths, parameters and
//!   results), and every named type found in both is counted;
//! - each stripped binary gives the same types as its unstripped twin; methods and itabs point
//!   at the functions of their names; maps fit their group types; the real Go 1.16-1.18
//!   binaries do too; without build info (its magic wiped), the layout facts probed from the
//!   descriptors give the same types as the release's;
//! - `reflect`, in a program that prints what it says about its own types
//!   (`testdata/types/reflect`), built by every installed toolchain as an executable and as
//!   PIE (and with `GOEXPERIMENT=noswissmap` by Go 1.24 and 1.25): `gosyms types --json` on its
//!   stripped build must say the same, read back through the documented schema.

mod common;

use pclntab::{GoBinary, TypeDetail, TypeKind, VirtAddr};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

type Row = gosyms_tests::MatrixBinary;

/// One line of `dwarftypes`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct DwarfType {
    /// The descriptor, as an offset from `moduledata.types` (an `R_ADDROFF` relocation).
    rt: u64,
    tag: String,
    name: String,
    kind: u8,
    size: i64,
    #[serde(rename = "type")]
    typ: u64,
    elem: u64,
    key: u64,
    count: i64,
    fields: Vec<DwarfField>,
    params: Vec<u64>,
    results: Vec<u64>,
    variadic: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct DwarfField {
    name: String,
    offset: u64,
    #[serde(rename = "type")]
    typ: u64,
    embedded: bool,
}

/// `testdata/types/dwarftypes.go`, built once by the newest toolchain.
fn dwarftypes() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = common::scratch("dwarftypes");
        let out = dir.join("dwarftypes");
        gosyms_tests::go_build(
            "1.27.3",
            gosyms_tests::host_goarch(),
            &gosyms_tests::repo().join("testdata/types/dwarftypes.go"),
            &out,
            "",
        );
        out
    })
}

fn dwarf_types(path: &Path) -> Vec<DwarfType> {
    let out = Command::new(dwarftypes())
        .arg(path)
        .output()
        .expect("run dwarftypes");
    assert!(
        out.status.success(),
        "dwarftypes {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A DWARF type name written as `reflect.Type.String` writes it. DWARF names types by their
/// linker names; reflect differs (README.md, "Type descriptors", lists these):
/// - package paths: reflect qualifies with the package name, which for these programs is the
///   path's last element (`*example.com/gosymsprog/shapes.Circle` is `*shapes.Circle`), except
///   inside the type arguments of an instantiation (`atomic.Pointer[internal/godebug.value]`)
///   and in shape types (`go.shape.struct { internal/sync.isEntry bool }`), which keep them;
/// - a type declared inside a function has a `·N` suffix (`runtime.untracedG·4`), reflect none;
/// - unexported field names of an unnamed struct are qualified (`struct { runtime.n int32 }`),
///   in reflect they are not (but they are in shape types);
/// - a struct the compiler generates no equality for is `noalg.struct { ... }`, in reflect
///   `struct { ... }`.
fn reflect_name(dwarf: &str) -> String {
    let dwarf = dwarf.replace("noalg.", "");
    let dwarf = dwarf.as_str();
    let mut out = String::with_capacity(dwarf.len());
    let mut token = String::new();
    // For each open '[': whether it starts type arguments (it follows a name other than `map`).
    let mut brackets: Vec<bool> = Vec::new();
    let flush = |token: &mut String, out: &mut String, in_args: bool| {
        if let Some(i) = token.find('·') {
            if token[i + '·'.len_utf8()..]
                .chars()
                .all(|c| c.is_ascii_digit())
            {
                token.truncate(i);
            }
        }
        match token.rfind('/') {
            Some(i) if !in_args => out.push_str(&token[i + 1..]),
            _ => out.push_str(token),
        }
        token.clear();
    };
    let mut skip_to = 0;
    for (i, c) in dwarf.char_indices() {
        if i < skip_to {
            continue;
        }
        let in_args = brackets.iter().any(|b| *b);
        if token.is_empty() && dwarf[i..].starts_with("go.shape.") {
            let n = shape_len(&dwarf[i..]);
            out.push_str(&dwarf[i..i + n]);
            skip_to = i + n;
            continue;
        }
        if c.is_alphanumeric() || "_./-~%·".contains(c) {
            token.push(c);
            continue;
        }
        // `map[K]V` and the compiler's `map.group[K]V`, `map.bucket[K]V` are no instantiations.
        let args = c == '[' && !token.is_empty() && token != "map" && !token.starts_with("map.");
        flush(&mut token, &mut out, in_args);
        match c {
            '[' => brackets.push(args),
            ']' => {
                brackets.pop();
            }
            _ => {}
        }
        out.push(c);
    }
    let in_args = brackets.iter().any(|b| *b);
    flush(&mut token, &mut out, in_args);
    unqualify_fields(&out)
}

/// The length of the shape type name `s` starts with: `go.shape.int`, `go.shape.*uint8`,
/// `go.shape.struct { ... }`, `go.shape.interface { ... }`.
fn shape_len(s: &str) -> usize {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' if depth == 0 => return i,
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    return i + 1;
                }
            }
            ';' | ',' if depth == 0 => return i,
            ' ' if depth == 0 && !s[i..].starts_with(" {") => return i,
            _ => {}
        }
    }
    s.len()
}

/// `struct { runtime.n int32; runtime.gList }` as `struct { n int32; runtime.gList }`: field
/// names lose their package; embedded fields (a type, no name) keep it; shape types keep all.
fn unqualify_fields(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    // Each field starts after `{ ` or `; `; a shape type is copied whole.
    while let Some(j) = [rest.find("{ "), rest.find("; "), rest.find("go.shape.")]
        .into_iter()
        .flatten()
        .min()
    {
        if rest[j..].starts_with("go.shape.") {
            let n = j + shape_len(&rest[j..]);
            out.push_str(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        out.push_str(&rest[..j + 2]);
        rest = &rest[j + 2..];
        let (word, after) = rest.split_at(rest.find([' ', ';', '}']).unwrap_or(rest.len()));
        if after.starts_with(' ') && !after.starts_with(" }") && !word.starts_with("go.shape.") {
            if let Some(dot) = word.rfind('.') {
                out.push_str(&word[dot + 1..]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tallies of one binary's comparison.
#[derive(Default, Debug)]
struct Tally {
    compared: usize,
    named: usize,
    /// Descriptors DWARF names that no list or reference leads to (code uses them directly).
    unlisted: usize,
}

fn compare_with_dwarf(row: &Row, problems: &mut Vec<String>) -> Tally {
    let data = std::fs::read(&row.path).unwrap();
    let bin = match GoBinary::parse(&data) {
        Ok(b) => b,
        Err(e) => {
            problems.push(format!("parse: {e}"));
            return Tally::default();
        }
    };
    let descs = match bin.type_descs() {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("type_descs: {e}"));
            return Tally::default();
        }
    };
    let all: HashSet<VirtAddr> = match descs.all() {
        Ok(a) => a.into_iter().collect(),
        Err(e) => {
            problems.push(format!("all: {e}"));
            return Tally::default();
        }
    };
    let types = bin.moduledata.as_ref().unwrap().types.0;
    let dwarf = dwarf_types(&row.path);
    // Up to Go 1.22 the linker writes the runtime type of DWARF's own `uintptr` as an absolute
    // address (DW_CLS_ADDRESS), not as an offset from `types` (cmd/link/internal/ld/dwarf.go).
    let minor = bin.go_minor().unwrap_or(0);
    let absolute = dwarf
        .iter()
        .find(|t| minor <= 22 && t.name == "uintptr" && t.tag == "BaseType")
        .map(|t| t.rt);
    let at = |rt: u64| {
        if Some(rt) == absolute {
            VirtAddr(rt)
        } else {
            VirtAddr(types + rt)
        }
    };
    let mut tally = Tally::default();
    for t in dwarf {
        let addr = at(t.rt);
        let d = match descs.get(addr) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{} at {:#x}: {e}", t.name, addr.0));
                continue;
            }
        };
        tally.compared += 1;
        tally.named += usize::from(d.named);
        tally.unlisted += usize::from(!all.contains(&addr));
        let mut bad = |what: &str, dwarf: String, ours: String| {
            problems.push(format!(
                "{} at {:#x} ({}): {what}: DWARF {dwarf}, descriptor {ours}",
                t.name, addr.0, t.tag
            ))
        };
        let kind_number = kind_number(d.kind);
        // DWARF's own `unsafe.Pointer` has no DW_AT_go_kind (Go 1.23+).
        if t.kind != kind_number && t.kind != 0 {
            bad("kind", t.kind.to_string(), kind_number.to_string());
        }
        if t.size >= 0 && t.size as u64 != d.size {
            bad("size", t.size.to_string(), d.size.to_string());
        }
        let want = reflect_name(&t.name);
        if want != d.name {
            bad(
                "name",
                format!("{:?} ({want:?})", t.name),
                format!("{:?}", d.name),
            );
        }
        // A reference DWARF cannot resolve to a runtime type (its own `unsafe.Pointer` up to Go
        // 1.22) is 0: anything agrees with it.
        let same = |rt: u64, ours: VirtAddr| rt == 0 || at(rt) == ours;
        match &d.detail {
            TypeDetail::Struct { fields } => {
                let ours: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} +{} {:#x} {}", f.name, f.offset, f.typ.0, f.embedded))
                    .collect();
                let theirs: Vec<String> = t
                    .fields
                    .iter()
                    .zip(fields.iter().map(Some).chain(std::iter::repeat(None)))
                    .map(|(f, ours)| {
                        let typ = match (f.typ, ours) {
                            (0, Some(o)) => o.typ,
                            _ => at(f.typ),
                        };
                        format!("{} +{} {:#x} {}", f.name, f.offset, typ.0, f.embedded)
                    })
                    .collect();
                if ours != theirs {
                    bad("fields", format!("{theirs:?}"), format!("{ours:?}"));
                }
            }
            TypeDetail::Pointer { elem } => {
                if !same(t.typ, *elem) {
                    bad(
                        "elem",
                        format!("{:#x}", at(t.typ).0),
                        format!("{:#x}", elem.0),
                    );
                }
            }
            TypeDetail::Slice { elem } | TypeDetail::Chan { elem, .. } => {
                if !same(t.elem, *elem) {
                    bad(
                        "elem",
                        format!("{:#x}", at(t.elem).0),
                        format!("{:#x}", elem.0),
                    );
                }
            }
            TypeDetail::Array { elem, len, .. } => {
                if !same(t.typ, *elem) || t.count != *len as i64 {
                    bad(
                        "elem and len",
                        format!("{:#x} {}", at(t.typ).0, t.count),
                        format!("{:#x} {len}", elem.0),
                    );
                }
            }
            TypeDetail::Map { key, elem, .. } => {
                if !same(t.key, *key) || !same(t.elem, *elem) {
                    bad(
                        "key and elem",
                        format!("{:#x} {:#x}", at(t.key).0, at(t.elem).0),
                        format!("{:#x} {:#x}", key.0, elem.0),
                    );
                }
            }
            TypeDetail::Func {
                params,
                results,
                variadic,
            } => {
                // Up to Go 1.23 DWARF lists each result as one more parameter, of type `*R`
                // (cmd/link/internal/ld/dwarf.go: `defptrto`); from 1.24 as a parameter with
                // DW_AT_variable_parameter, of type `R`.
                let agrees = if minor <= 23 {
                    t.results.is_empty()
                        && t.params.len() == params.len() + results.len()
                        && t.params.iter().zip(params).all(|(rt, p)| same(*rt, *p))
                        && t.params[params.len()..].iter().zip(results).all(|(rt, r)| {
                            *rt == 0
                                || matches!(descs.get(at(*rt)).map(|p| p.detail),
                                            Ok(TypeDetail::Pointer { elem }) if elem == *r)
                        })
                } else {
                    t.params.len() == params.len()
                        && t.results.len() == results.len()
                        && t.params.iter().zip(params).all(|(rt, p)| same(*rt, *p))
                        && t.results.iter().zip(results).all(|(rt, r)| same(*rt, *r))
                };
                if !agrees || t.variadic != *variadic {
                    bad(
                        "signature",
                        format!("{:?} {:?} {}", t.params, t.results, t.variadic),
                        format!("{:?}", d.detail),
                    );
                }
            }
            TypeDetail::Interface { .. } | TypeDetail::Scalar => {}
        }
    }
    tally
}

fn kind_number(k: TypeKind) -> u8 {
    (1..=26u8)
        .find(|n| TypeKind::from_abi(*n) == Some(k))
        .unwrap_or(0)
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Runs `f` on every row, two at a time; the problems of each, labelled.
fn for_rows<T: Send>(rows: &[Row], f: impl Fn(&Row, &mut Vec<String>) -> T + Sync) -> Vec<String> {
    let next = Mutex::new(0usize);
    let problems = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(row) = rows.get(i) else { break };
                let mut p = Vec::new();
                f(row, &mut p);
                let mut all = problems.lock().unwrap();
                all.extend(
                    p.into_iter()
                        .take(20)
                        .map(|p| format!("{}: {p}", row.label())),
                );
            });
        }
    });
    problems.into_inner().unwrap()
}

#[test]
fn descriptors_agree_with_dwarf() {
    let rows: Vec<Row> = gosyms_tests::matrix()
        .into_iter()
        .filter(|r| !r.stripped)
        .collect();
    let tallies = Mutex::new(BTreeMap::new());
    let problems = for_rows(&rows, |row, problems| {
        let t = compare_with_dwarf(row, problems);
        if t.named < 40 {
            problems.push(format!("only {} named types compared: {t:?}", t.named));
        }
        tallies.lock().unwrap().insert(row.label(), t);
    });
    let tallies = tallies.into_inner().unwrap();
    let total: usize = tallies.values().map(|t| t.compared).sum();
    let named: usize = tallies.values().map(|t| t.named).sum();
    let unlisted: usize = tallies.values().map(|t| t.unlisted).sum();
    println!(
        "{} binaries: {total} DWARF types compared with their descriptors ({named} named; {unlisted} not reached from the lists)",
        tallies.len()
    );
    for (label, t) in &tallies {
        println!("  {label}: {t:?}");
    }
    assert!(tallies.len() > 100, "only {} binaries", tallies.len());
    assert_no_problems(&problems);
}

#[test]
fn stripped_binaries_have_their_twins_types() {
    let rows: Vec<Row> = gosyms_tests::matrix()
        .into_iter()
        .filter(|r| r.stripped)
        .collect();
    // Offsets from `types` and names: Go 1.27's PE linker puts 32 more bytes before the type
    // descriptors of a stripped build.
    let types_of = |path: &Path| -> Result<Vec<(u64, String)>, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let bin = GoBinary::parse(&data).map_err(|e| e.to_string())?;
        let types = bin.moduledata.as_ref().map_or(0, |m| m.types.0);
        let descs = bin.type_descs().map_err(|e| e.to_string())?;
        let all = descs.all().map_err(|e| e.to_string())?;
        all.into_iter()
            .map(|a| {
                descs
                    .name(a)
                    .map(|n| (a.0 - types, n.into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let problems = for_rows(&rows, |row, problems| {
        match (types_of(&row.path), types_of(&row.twin)) {
            (Ok(a), Ok(b)) if a == b => {
                if a.len() < 300 {
                    problems.push(format!("only {} types", a.len()));
                }
            }
            (Ok(a), Ok(b)) => problems.push(format!(
                "{} types, the twin {}; first difference: {:?}",
                a.len(),
                b.len(),
                a.iter().zip(&b).find(|(x, y)| x != y)
            )),
            (a, b) => problems.push(format!("{:?} / twin {:?}", a.err(), b.err())),
        }
    });
    assert!(rows.len() > 100);
    assert_no_problems(&problems);
}

/// Every method's code (`ifn`, `tfn`, through `textOff` and `textsectmap`) and every itab's
/// first function (at its release's offset in the itab) is the entry of a function, per the
/// function table, whose name ends with the method's name; an itab's first function is the
/// `ifn` of its type's method of the interface's first method name.
fn check_code_addresses(path: &Path, problems: &mut Vec<String>) -> usize {
    let data = std::fs::read(path).unwrap();
    let bin = GoBinary::parse(&data).unwrap();
    let descs = bin.type_descs().unwrap();
    let mut checked = 0;
    // The linker points itab entries of methods it eliminated at `runtime.unreachableMethod`.
    let check = |problems: &mut Vec<String>, what: &str, addr: VirtAddr, method: &str| match bin
        .lookup(addr)
    {
        Ok(Some(loc))
            if loc.offset == 0
                && (loc.function.name.ends_with(&format!(".{method}"))
                    || what.starts_with("itab")
                        && loc.function.name == "runtime.unreachableMethod") => {}
        other => problems.push(format!(
            "{what} {method} at {:#x}: {:?}",
            addr.0,
            other.map(|l| l.map(|l| (l.function.name.to_string(), l.offset)))
        )),
    };
    for addr in descs.all().unwrap() {
        let d = descs.get(addr).unwrap();
        for m in &d.methods {
            for (what, code) in [("ifn", m.ifn), ("tfn", m.tfn)] {
                if let Some(c) = code {
                    checked += 1;
                    check(problems, &format!("{} {what}", d.name), c, &m.name);
                }
            }
        }
    }
    for itab in descs.itabs().unwrap() {
        let iface = descs.get(itab.interface).unwrap();
        let typ = descs.get(itab.typ).unwrap();
        let TypeDetail::Interface { methods } = &iface.detail else {
            problems.push(format!("itab at {:#x}: not an interface", itab.addr.0));
            continue;
        };
        let (Some(first), Some(fun0)) = (methods.first(), itab.fun0) else {
            continue;
        };
        checked += 1;
        check(
            problems,
            &format!("itab {} for {}", typ.name, iface.name),
            fun0,
            &first.name,
        );
        let ifn = typ
            .methods
            .iter()
            .find(|m| m.name == first.name)
            .and_then(|m| m.ifn);
        let unreachable = bin
            .lookup(fun0)
            .ok()
            .flatten()
            .is_some_and(|l| l.function.name == "runtime.unreachableMethod");
        if ifn.is_some_and(|ifn| ifn != fun0) && !unreachable {
            problems.push(format!(
                "itab {} for {}: fun[0] {:#x}, the method's ifn {:#x}",
                typ.name,
                iface.name,
                fun0.0,
                ifn.unwrap().0
            ));
        }
    }
    if checked < 100 {
        problems.push(format!("only {checked} code addresses"));
    }
    checked
}

#[test]
fn methods_itabs_and_maps_agree_with_the_binary() {
    let rows = gosyms_tests::matrix();
    let problems = for_rows(&rows, |row, problems| {
        check_code_addresses(&row.path, problems);
        check_map_layouts(&row.path, problems);
    });
    assert_no_problems(&problems);
}

#[test]
fn dwarf_names_map_to_reflect_names() {
    for (dwarf, reflect) in [
        ("*example.com/gosymsprog/shapes.Circle", "*shapes.Circle"),
        ("map[string][]*io/fs.FileMode", "map[string][]*fs.FileMode"),
        (
            "sync/atomic.Pointer[internal/godebug.value]",
            "atomic.Pointer[internal/godebug.value]",
        ),
        (
            "noalg.map.group[internal/abi.TypeOff]*internal/abi.Type",
            "map.group[abi.TypeOff]*abi.Type",
        ),
        ("runtime.untracedG·4", "runtime.untracedG"),
        (
            "struct { runtime.gList; runtime.n int32 }",
            "struct { runtime.gList; n int32 }",
        ),
        (
            "[0]*go.shape.struct { internal/sync.isEntry bool }",
            "[0]*go.shape.struct { internal/sync.isEntry bool }",
        ),
        (
            "*sync/atomic.Pointer[go.shape.struct { internal/sync.isEntry bool }]",
            "*atomic.Pointer[go.shape.struct { internal/sync.isEntry bool }]",
        ),
        (
            "struct { sync.f func() go.shape.bool; sync.once sync.Once; sync.p interface {} }",
            "struct { f func() go.shape.bool; once sync.Once; p interface {} }",
        ),
        ("func(*net/http.Request) error", "func(*http.Request) error"),
    ] {
        assert_eq!(reflect_name(dwarf), reflect, "{dwarf}");
    }
}

// ---------------------------------------------------------------------------------------------
// reflect, in testdata/types/reflect, against `gosyms types --json`.

/// One line of `gosyms types --json`, as README.md documents it.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct TypeLine {
    name: String,
    kind: String,
    size: u64,
    align: u8,
    field_align: u8,
    ptr_bytes: u64,
    addr: u64,
    named: bool,
    pkg_path: Option<String>,
    ptr_to_this: Option<u64>,
    direct_iface: bool,
    elem: Option<String>,
    key: Option<String>,
    len: Option<u64>,
    dir: Option<String>,
    map: Option<MapLine>,
    params: Option<Vec<String>>,
    results: Option<Vec<String>>,
    variadic: Option<bool>,
    fields: Option<Vec<FieldLine>>,
    methods: Option<Vec<MethodLine>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, tag = "impl", rename_all = "snake_case")]
#[allow(dead_code)] // the fields are the schema
enum MapLine {
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

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct FieldLine {
    name: String,
    #[serde(rename = "type")]
    typ: String,
    offset: u64,
    embedded: bool,
    exported: bool,
    tag: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct MethodLine {
    name: String,
    exported: bool,
    #[serde(rename = "type")]
    typ: Option<String>,
    ifn: Option<Option<u64>>,
    tfn: Option<Option<u64>>,
}

/// One line of testdata/types/reflect.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ReflectLine {
    name: String,
    kind: String,
    size: u64,
    align: u8,
    field_align: u8,
    addr: u64,
    named: bool,
    pkg_path: String,
    elem: Option<String>,
    key: Option<String>,
    len: Option<u64>,
    dir: Option<String>,
    params: Option<Vec<String>>,
    results: Option<Vec<String>>,
    variadic: Option<bool>,
    fields: Option<Vec<FieldLine>>,
    methods: Option<Vec<ReflectMethod>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ReflectMethod {
    name: String,
    #[serde(rename = "type")]
    typ: String,
}

/// The installed toolchains, oldest first.
fn releases() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(gosyms_tests::cache().join("go"))
        .expect("no Go toolchains: run testdata/install-toolchains.sh")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("bin/go").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort_by_key(|r| {
        r.split('.')
            .map(|n| n.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    out
}

/// The reflect program built by `release` as `mode`, stripped; `noswiss` with
/// `GOEXPERIMENT=noswissmap`.
fn build_reflect(release: &str, mode: &str, noswiss: bool) -> PathBuf {
    let out = common::scratch("types-reflect").join(format!(
        "reflect-{release}-{mode}{}",
        if noswiss { "-noswissmap" } else { "" }
    ));
    let env: &[(&str, &str)] = if noswiss {
        &[("GOEXPERIMENT", "noswissmap")]
    } else {
        &[]
    };
    gosyms_tests::go_build_env(
        release,
        gosyms_tests::host_goarch(),
        &gosyms_tests::repo().join("testdata/types/reflect"),
        &out,
        "-s -w",
        mode,
        env,
    );
    out
}

fn compare_with_reflect(binary: &Path, want_map: &str) -> Result<usize, Vec<String>> {
    let run = Command::new(binary)
        .output()
        .expect("run the reflect program");
    assert!(run.status.success(), "{}", binary.display());
    let text = String::from_utf8(run.stdout).unwrap();
    let mut lines = text.lines();
    let main_at: BTreeMap<String, u64> = serde_json::from_str(lines.next().unwrap()).unwrap();
    let truth: Vec<ReflectLine> = lines
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let path = binary.to_str().unwrap();
    let ours: Vec<TypeLine> = common::stdout_of(&["types", "--json", path])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    // The load bias of a PIE: main.main where it ran, less where it was linked.
    let data = std::fs::read(binary).unwrap();
    let bin = GoBinary::parse(&data).unwrap();
    let mut funcs = bin.functions().without_lines();
    let mut main_entry = None;
    while let Some(f) = funcs.next().unwrap() {
        if f.name == "main.main" {
            main_entry = Some(f.entry.0);
        }
    }
    let bias = main_at["main"].wrapping_sub(main_entry.expect("main.main"));
    let by_addr: BTreeMap<u64, &TypeLine> = ours.iter().map(|t| (t.addr, t)).collect();
    let mut problems = Vec::new();
    for t in &truth {
        let addr = t.addr.wrapping_sub(bias);
        let Some(o) = by_addr.get(&addr) else {
            problems.push(format!("{} at {addr:#x}: not listed", t.name));
            continue;
        };
        let mut check = |what: &str, ok: bool, theirs: String, ours: String| {
            if !ok {
                problems.push(format!(
                    "{}: {what}: reflect {theirs}, gosyms {ours}",
                    t.name
                ));
            }
        };
        check("name", o.name == t.name, t.name.clone(), o.name.clone());
        check("kind", o.kind == t.kind, t.kind.clone(), o.kind.clone());
        check(
            "size, align, field align",
            (o.size, o.align, o.field_align) == (t.size, t.align, t.field_align),
            format!("{} {} {}", t.size, t.align, t.field_align),
            format!("{} {} {}", o.size, o.align, o.field_align),
        );
        check(
            "named",
            o.named == t.named,
            t.named.to_string(),
            o.named.to_string(),
        );
        if t.named {
            let ours = o.pkg_path.clone().unwrap_or_default();
            check("pkg_path", ours == t.pkg_path, t.pkg_path.clone(), ours);
        }
        check(
            "elem, key, len, dir",
            (&o.elem, &o.key, o.len, &o.dir) == (&t.elem, &t.key, t.len, &t.dir),
            format!("{:?}", (&t.elem, &t.key, t.len, &t.dir)),
            format!("{:?}", (&o.elem, &o.key, o.len, &o.dir)),
        );
        // The reflect program's JSON leaves empty lists out.
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        check(
            "params, results, variadic",
            (list(&o.params), list(&o.results), o.variadic)
                == (list(&t.params), list(&t.results), t.variadic),
            format!("{:?}", (&t.params, &t.results, t.variadic)),
            format!("{:?}", (&o.params, &o.results, o.variadic)),
        );
        check(
            "fields",
            o.fields.clone().unwrap_or_default() == t.fields.clone().unwrap_or_default(),
            format!("{:?}", t.fields),
            format!("{:?}", o.fields),
        );
        check(
            "ptr_bytes",
            o.ptr_bytes <= o.size,
            "at most the size".into(),
            o.ptr_bytes.to_string(),
        );
        // Pointer-shaped types are stored in interfaces directly.
        if ["ptr", "map", "chan", "func", "unsafe.Pointer"].contains(&t.kind.as_str()) {
            check(
                "direct_iface",
                o.direct_iface,
                "true".into(),
                "false".into(),
            );
        }
        if let Some(p) = o.ptr_to_this {
            let ptr = by_addr.get(&p);
            check(
                "ptr_to_this",
                ptr.is_some_and(|p| p.kind == "ptr" && p.elem.as_deref() == Some(&o.name)),
                format!("*{}", o.name),
                format!("{:?}", ptr.map(|p| &p.name)),
            );
        }
        // Code addresses: none for an interface's methods; reflect can call every exported
        // method of a type, so the linker kept their code.
        check(
            "ifn, tfn",
            o.methods.iter().flatten().all(|m| {
                if t.kind == "interface" {
                    m.ifn.is_none() && m.tfn.is_none()
                } else {
                    !m.exported || m.ifn.flatten().is_some() && m.tfn.flatten().is_some()
                }
            }),
            "for exported methods of types only".into(),
            format!("{:?}", o.methods),
        );
        // reflect shows an interface's methods, and only the exported methods of other types.
        let ours: Vec<(String, String)> = o
            .methods
            .iter()
            .flatten()
            .filter(|m| t.kind == "interface" || m.exported)
            .map(|m| (m.name.clone(), m.typ.clone().unwrap_or_default()))
            .collect();
        let theirs: Vec<(String, String)> = t
            .methods
            .iter()
            .flatten()
            .map(|m| (m.name.clone(), m.typ.clone()))
            .collect();
        check(
            "methods",
            ours == theirs,
            format!("{theirs:?}"),
            format!("{ours:?}"),
        );
        if t.kind == "map" {
            let implementation = match &o.map {
                Some(MapLine::Buckets { .. }) => "buckets",
                Some(MapLine::Swiss { .. }) => "swiss",
                None => "none",
            };
            check(
                "map implementation",
                implementation == want_map,
                want_map.into(),
                implementation.into(),
            );
        }
    }
    check_map_layouts(binary, &mut problems);
    if problems.is_empty() {
        Ok(truth.len())
    } else {
        Err(problems)
    }
}

#[test]
fn gosyms_types_agrees_with_reflect() {
    let mut builds = Vec::new();
    for release in releases() {
        let minor = pclntab::go_minor(&format!("go{release}")).unwrap();
        let map = if minor >= 24 { "swiss" } else { "buckets" };
        for mode in ["exe", "pie"] {
            builds.push((release.clone(), mode, false, map));
        }
        if minor == 24 || minor == 25 {
            builds.push((release.clone(), "exe", true, "buckets"));
        }
    }
    let problems = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some((release, mode, noswiss, map)) = builds.get(i) else {
                    break;
                };
                let bin = build_reflect(release, mode, *noswiss);
                let label = format!("{release} {mode} noswissmap={noswiss}");
                match compare_with_reflect(&bin, map) {
                    // Go 1.15 has no generics: 75 types; the others 85.
                    Ok(n) if n >= 75 => println!("{label}: {n} types agree"),
                    Ok(n) => problems
                        .lock()
                        .unwrap()
                        .push(format!("{label}: only {n} types")),
                    Err(p) => problems
                        .lock()
                        .unwrap()
                        .extend(p.into_iter().map(|p| format!("{label}: {p}"))),
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(builds.len() >= 18, "{} builds", builds.len());
    assert_no_problems(&problems);
}

/// Each map's layout, as its descriptor gives it, agrees with its bucket or group type, a struct
/// the compiler built (`tophash`, `keys`, `elems`, `overflow`; or `ctrl` and `slots` of `key`,
/// `elem`; or, split, `ctrl`, `keys`, `elems`).
fn check_map_layouts(path: &Path, problems: &mut Vec<String>) -> usize {
    let data = std::fs::read(path).unwrap();
    let bin = GoBinary::parse(&data).unwrap();
    let descs = bin.type_descs().unwrap();
    let fields_of = |a: VirtAddr| match descs.get(a).map(|d| d.detail) {
        Ok(TypeDetail::Struct { fields }) => fields,
        _ => vec![],
    };
    let size_of = |a: VirtAddr| descs.get(a).map(|d| d.size).unwrap_or(u64::MAX);
    let elem_of = |a: VirtAddr| match descs.get(a).map(|d| d.detail) {
        Ok(TypeDetail::Array { elem, .. }) => Some(elem),
        _ => None,
    };
    let mut maps = 0;
    for addr in descs.all().unwrap() {
        let d = descs.get(addr).unwrap();
        let TypeDetail::Map { layout, .. } = d.detail else {
            continue;
        };
        maps += 1;
        let ok = match layout {
            pclntab::MapLayout::Buckets {
                bucket,
                key_size,
                elem_size,
                ..
            } => {
                let f = fields_of(bucket);
                let slot = |i: usize| f.get(i).and_then(|f| elem_of(f.typ)).map(size_of);
                f.len() == 4
                    && f[1].offset == 8
                    && slot(1) == Some(u64::from(key_size))
                    && slot(2) == Some(u64::from(elem_size))
                    && f[2].offset == 8 + 8 * u64::from(key_size)
            }
            pclntab::MapLayout::Swiss {
                group,
                keys_off,
                key_stride,
                elems_off,
                elem_stride,
                ..
            } => {
                let f = fields_of(group);
                match f.len() {
                    // ctrl, slots [8]struct { key; elem }
                    2 => {
                        let slot = elem_of(f[1].typ).unwrap_or(VirtAddr(0));
                        let sf = fields_of(slot);
                        sf.len() == 2
                            && keys_off == f[1].offset
                            && key_stride == size_of(slot)
                            && elem_stride == size_of(slot)
                            && elems_off == f[1].offset + sf[1].offset
                    }
                    // ctrl, keys [8]K, elems [8]V (Go 1.27, GOEXPERIMENT=mapsplitgroup)
                    3 => {
                        keys_off == f[1].offset
                            && elems_off == f[2].offset
                            && Some(key_stride) == elem_of(f[1].typ).map(size_of)
                            && Some(elem_stride) == elem_of(f[2].typ).map(size_of)
                    }
                    _ => false,
                }
            }
        };
        if !ok {
            problems.push(format!(
                "{}: {layout:?} does not fit its group type",
                d.name
            ));
        }
    }
    if maps < 5 {
        problems.push(format!("only {maps} map types"));
    }
    maps
}

// ---------------------------------------------------------------------------------------------
// Real Go 1.16-1.18 binaries, and binaries whose build info is gone.

fn real_binaries() -> Vec<(String, PathBuf)> {
    let tsv = gosyms_tests::repo().join("testdata/real-binaries.tsv");
    std::fs::read_to_string(&tsv)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let path = gosyms_tests::cache().join("real").join(f[0]);
            assert!(
                path.exists(),
                "{} missing: run testdata/fetch-real-binaries.sh (the README test command does)",
                path.display()
            );
            (format!("{} ({})", f[0], f[1]), path)
        })
        .collect()
}

/// Every type of `path`, decoded, as text: what the comparisons below compare.
fn decoded_types(data: &[u8]) -> Result<Vec<String>, String> {
    let bin = GoBinary::parse(data).map_err(|e| e.to_string())?;
    let descs = bin.type_descs().map_err(|e| e.to_string())?;
    let all = descs.all().map_err(|e| e.to_string())?;
    all.into_iter()
        .map(|a| {
            descs
                .get(a)
                .map(|d| format!("{d:?}"))
                .map_err(|e| format!("{:#x}: {e}", a.0))
        })
        .collect()
}

#[test]
fn real_go116_to_go118_binaries() {
    let mut problems = Vec::new();
    for (label, path) in real_binaries() {
        let mut p = Vec::new();
        let data = std::fs::read(&path).unwrap();
        match decoded_types(&data) {
            Ok(types) if types.len() > 500 => {}
            Ok(types) => p.push(format!("only {} types", types.len())),
            Err(e) => p.push(e),
        }
        check_code_addresses(&path, &mut p);
        check_map_layouts(&path, &mut p);
        // Every one of them has os.File: `struct { *os.file }`, the field embedded (Go 1.16-1.18
        // say so in the field offset's low bit).
        let bin = GoBinary::parse(&data).unwrap();
        let descs = bin.type_descs().unwrap();
        let file = descs.by_name("os.File");
        let fields = file.first().map(|a| descs.get(*a).unwrap().detail);
        match &fields {
            Some(TypeDetail::Struct { fields })
                if fields.len() == 1
                    && fields[0].embedded
                    && fields[0].offset == 0
                    && descs.name(fields[0].typ).unwrap() == "*os.file" => {}
            other => p.push(format!("os.File: {other:?}")),
        }
        let error = descs.by_name("error");
        match error.first().map(|a| descs.get(*a).unwrap()) {
            Some(d) if descs.go_syntax(&d).unwrap() == "interface { Error() string }" => {}
            other => p.push(format!("error: {other:?}")),
        }
        problems.extend(p.into_iter().take(10).map(|p| format!("{label}: {p}")));
    }
    assert_no_problems(&problems);
}

/// `data` with its build info's magic and every copy of its version string (where
/// `runtime.buildVersion` points) overwritten, so that the Go release is unknown.
fn without_build_info(data: &[u8]) -> Vec<u8> {
    let version = GoBinary::parse(data)
        .unwrap()
        .go_version()
        .expect("a Go version")
        .to_string();
    let mut out = data.to_vec();
    for needle in [&b"\xff Go buildinf:"[..], version.as_bytes()] {
        let mut found = 0;
        while let Some(at) = out.windows(needle.len()).position(|w| w == needle) {
            out[at..at + needle.len()].fill(0);
            found += 1;
        }
        assert!(found > 0, "{:?} not found", String::from_utf8_lossy(needle));
    }
    out
}

#[test]
fn layouts_probed_without_build_info_agree() {
    let mut paths: Vec<(String, PathBuf)> = [
        ("1.19", "linux_amd64", "exe-stripped"),
        ("1.19", "linux_386", "exe-stripped"),
        ("1.21.13", "linux_s390x", "exe-stripped"),
        ("1.23.9", "linux_arm", "exe-stripped"),
        ("1.24.11", "linux_amd64", "exe-stripped"),
        ("1.25.5", "windows_386", "exe-stripped"),
        ("1.26.6", "linux_arm64", "exe-stripped"),
        ("1.27.3", "darwin_amd64", "exe-stripped"),
    ]
    .iter()
    .map(|(r, t, v)| (format!("{r} {t} {v}"), gosyms_tests::matrix_binary(r, t, v)))
    .collect();
    paths.extend(real_binaries());
    paths.push((
        "1.25.5 reflect noswissmap".into(),
        build_reflect("1.25.5", "exe", true),
    ));
    let mut problems = Vec::new();
    for (label, path) in paths {
        let data = std::fs::read(&path).unwrap();
        let blind = without_build_info(&data);
        assert!(
            GoBinary::parse(&blind).unwrap().go_minor().is_none(),
            "{label}"
        );
        let (want, got) = (decoded_types(&data), decoded_types(&blind));
        match (&want, &got) {
            (Ok(w), Ok(g)) if w == g && w.len() > 300 => {}
            (Ok(w), Ok(g)) => problems.push(format!(
                "{label}: {} types, {} without build info; first difference: {:?}",
                w.len(),
                g.len(),
                w.iter().zip(g).find(|(a, b)| a != b)
            )),
            _ => problems.push(format!("{label}: {want:?} / without build info {got:?}")),
        }
    }
    assert_no_problems(&problems);
}

// ---------------------------------------------------------------------------------------------
// The command line.

#[test]
fn gosyms_types_exit_codes_and_errors() {
    let prog = gosyms_tests::matrix_binary("1.24.11", "linux_amd64", "exe-stripped");
    let p = prog.to_str().unwrap();
    // A filter that matches: Go syntax, methods under their type.
    let out = common::stdout_of(&["types", "--filter", r"^shapes\.Rect$", p]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with(" 16 type shapes.Rect struct { W int; H int }"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("    func (shapes.Rect) Area() int  // 0x"),
        "{out}"
    );
    // No match: status 1, nothing printed.
    let none = common::run(&["types", "--filter", "^no such type$", p]);
    assert_eq!(none.status.code(), Some(1));
    assert!(none.stdout.is_empty() && none.stderr.is_empty());
    // Not Go: status 2, one line naming the file.
    let ls = common::run(&["types", "/bin/ls"]);
    assert_eq!(ls.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&ls.stderr),
        "gosyms: /bin/ls: no Go function table found (not a Go binary?)\n"
    );
    // A release before 1.15 (the build info of a 1.15 binary made to say 1.14): refused in one
    // line.
    let data = std::fs::read(gosyms_tests::matrix_binary(
        "1.15",
        "linux_amd64",
        "exe-stripped",
    ))
    .unwrap();
    let at = data
        .windows(7)
        .position(|w| w == b"go1.15.")
        .expect("the Go version in the build info");
    let mut old = data.clone();
    old[at..at + 7].copy_from_slice(b"go1.14.");
    let path = common::scratch("types-cli").join("go114");
    std::fs::write(&path, old).unwrap();
    let out = common::run(&["types", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "gosyms: {}: type descriptors of go1.14 are not supported (Go 1.15 and later are)\n",
            path.display()
        )
    );
    // A closed pipe ends quietly.
    let mut child = Command::new(common::gosyms())
        .args(["types", p])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
}

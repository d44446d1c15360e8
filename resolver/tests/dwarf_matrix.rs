//! `resolver::dwarf` and `resolver::goid` against the test matrix: testdata/prog built by every
//! installed Go toolchain for many targets (testdata/build-matrix.sh). The unstripped binaries
//! carry DWARF; the expectations below are written by hand from the Go source of the test
//! program (testdata/prog) and from Go's documented rules, never taken from this crate's output.

// The helpers below are test code too (clippy's allow-*-in-tests only covers `#[test]` fns): a
// test must fail loudly, naming what is wrong.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use resolver::dwarf::{Dwarf, Error, Param};
use resolver::goid;
use resolver::types::{align_up, Field, GoType};

/// One binary of the matrix (a row of manifest.tsv).
type Row = gosyms_tests::MatrixBinary;

fn matrix() -> Vec<Row> {
    gosyms_tests::matrix()
}

/// Opens a binary and runs `f` on it and its DWARF.
fn with_binary<T>(row: &Row, f: impl FnOnce(&pclntab::GoBinary<'_>, Option<Dwarf>) -> T) -> T {
    with_parsed(row, |bin| {
        let dwarf = Dwarf::load(&bin.container)
            .unwrap_or_else(|e| panic!("{}: loading DWARF: {e}", row.label()));
        f(bin, dwarf)
    })
}

/// Opens a binary and runs `f` on it.
fn with_parsed<T>(row: &Row, f: impl FnOnce(&pclntab::GoBinary<'_>) -> T) -> T {
    let map = pclntab::map_file(&row.path).unwrap_or_else(|e| panic!("{}: {e}", row.label()));
    let bin = pclntab::GoBinary::parse(&map).unwrap_or_else(|e| panic!("{}: {e}", row.label()));
    f(&bin)
}

/// An unstripped binary of the matrix with its DWARF loaded.
struct Loaded {
    row: Row,
    minor: u32,
    dwarf: Dwarf,
}

/// Every unstripped binary, its DWARF loaded once for all the tests.
fn unstripped() -> &'static [Loaded] {
    static LOADED: OnceLock<Vec<Loaded>> = OnceLock::new();
    LOADED.get_or_init(|| {
        matrix()
            .into_iter()
            .filter(|r| !r.stripped)
            .map(|row| {
                let minor = minor(&row.release);
                let dwarf = with_binary(&row, |bin, dwarf| {
                    assert_eq!(bin.go_minor(), Some(minor), "{}", row.label());
                    assert_eq!(bin.container.arch, row.goarch, "{}", row.label());
                    dwarf.unwrap_or_else(|| {
                        panic!("{}: unstripped binary without DWARF", row.label())
                    })
                });
                Loaded { row, minor, dwarf }
            })
            .collect()
    })
}

/// The minor version of a release name ("1.21.13" -> 21).
fn minor(release: &str) -> u32 {
    release
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .expect("release name 1.N[.M]")
}

// --- Type constructors, to write expectations compactly. ---

fn int() -> GoType {
    GoType::Int { bits: 0 }
}
fn named(name: &str, underlying: GoType) -> GoType {
    GoType::Named {
        name: name.into(),
        underlying: Box::new(underlying),
    }
}
fn ptr(t: GoType) -> GoType {
    GoType::Pointer(Box::new(t))
}
fn slice(t: GoType) -> GoType {
    GoType::Slice(Box::new(t))
}
fn field(name: &str, ty: GoType) -> Field {
    Field {
        name: name.into(),
        ty,
    }
}
fn input(name: &str, ty: GoType) -> Param {
    Param {
        name: name.into(),
        ty,
        is_result: false,
    }
}
fn result(name: &str, ty: GoType) -> Param {
    Param {
        name: name.into(),
        ty,
        is_result: true,
    }
}

const SHAPES: &str = "example.com/gosymsprog/shapes";

fn shape_iface() -> GoType {
    named(
        &format!("{SHAPES}.Shape"),
        GoType::Interface { empty: false },
    )
}
fn rect() -> GoType {
    named(
        &format!("{SHAPES}.Rect"),
        GoType::Struct(vec![field("W", int()), field("H", int())]),
    )
}
fn circle() -> GoType {
    named(
        &format!("{SHAPES}.Circle"),
        GoType::Struct(vec![field("R", int())]),
    )
}
fn tag() -> GoType {
    named(
        &format!("{SHAPES}.Tag"),
        GoType::Struct(vec![field("Text", GoType::String)]),
    )
}
/// `shapes.Labeled`; `tag` is how its `*Tag` field's pointee comes out (expanded, or opaque
/// when Labeled itself is behind a pointer).
fn labeled(tag: GoType) -> GoType {
    named(
        &format!("{SHAPES}.Labeled"),
        GoType::Struct(vec![field("Shape", shape_iface()), field("Tag", ptr(tag))]),
    )
}

/// The name Go gives the unnamed result number `i` of a function with `inputs` declared inputs
/// (the receiver not counted): `~r0`... from Go 1.19 (checked: 1.19+), `~r<inputs+i>` in 1.15.
fn unnamed_result(minor: u32, inputs: usize, i: usize) -> String {
    if minor <= 15 {
        format!("~r{}", inputs + i)
    } else {
        format!("~r{i}")
    }
}

/// The test program's functions and their parameters, from testdata/prog's source.
fn expected(minor: u32) -> Vec<(String, Vec<Param>)> {
    let r = |inputs, i, ty| result(&unnamed_result(minor, inputs, i), ty);
    let mut e = vec![
        ("main.fib", vec![input("n", int()), r(1, 0, int())]),
        (
            "main.sum",
            vec![
                input("base", int()),
                input("xs", slice(int())),
                r(2, 0, int()),
            ],
        ),
        (
            "main.mix",
            vec![input("a", int()), input("b", int()), r(2, 0, int())],
        ),
        (
            "main.apply",
            vec![
                input("f", GoType::Func),
                input("times", int()),
                r(2, 0, int()),
            ],
        ),
        (
            "main.safeDiv",
            vec![
                input("a", int()),
                input("b", int()),
                result("q", int()),
                result("err", GoType::String),
            ],
        ),
        (
            "main.classify",
            vec![
                input("v", GoType::Interface { empty: true }),
                r(1, 0, GoType::String),
            ],
        ),
        (
            "main.describe",
            vec![
                input(
                    "d",
                    named(
                        &format!("{SHAPES}.Describer"),
                        GoType::Interface { empty: false },
                    ),
                ),
                r(1, 0, GoType::String),
            ],
        ),
        (
            "main.fanOut",
            vec![input("n", int()), r(1, 0, slice(int()))],
        ),
        (
            "main.wordCount",
            vec![input("text", GoType::String), r(1, 0, GoType::String)],
        ),
        (
            "example.com/gosymsprog/shapes.Rect.Area",
            vec![input("r", rect()), r(0, 0, int())],
        ),
        (
            "example.com/gosymsprog/shapes.Rect.Name",
            vec![input("r", rect()), r(0, 0, GoType::String)],
        ),
        (
            "example.com/gosymsprog/shapes.(*Circle).Area",
            vec![input("c", ptr(circle())), r(0, 0, int())],
        ),
        (
            "example.com/gosymsprog/shapes.(*Circle).Name",
            vec![input("c", ptr(circle())), r(0, 0, GoType::String)],
        ),
        (
            "example.com/gosymsprog/shapes.(*Tag).Describe",
            vec![input("t", ptr(tag())), r(0, 0, GoType::String)],
        ),
        (
            "example.com/gosymsprog/shapes.Total",
            vec![input("ss", slice(shape_iface())), r(1, 0, int())],
        ),
    ];
    let mut out: Vec<(String, Vec<Param>)> = e.drain(..).map(|(n, p)| (n.to_string(), p)).collect();
    // Promoted-method wrappers: complete from Go 1.22 on (earlier releases leave the receiver
    // out, which `promoted_wrappers` checks).
    if minor >= 22 {
        out.push((
            format!("{SHAPES}.Labeled.Area"),
            vec![input("~p0", labeled(tag())), result("~r0", int())],
        ));
        out.push((
            format!("{SHAPES}.(*Labeled).Describe"),
            vec![
                input(
                    "t",
                    ptr(labeled(named(
                        &format!("{SHAPES}.Tag"),
                        GoType::Struct(vec![]),
                    ))),
                ),
                result("~r0", GoType::String),
            ],
        ));
    }
    out.extend(generics(minor));
    out
}

/// The shape instantiations of testdata/prog/generics.go (Go 1.18+). `Sum[N Number](xs ...N) N`,
/// `Map[T, U any](xs []T, f func(T) U) []U`, `(*Stack[T]).Pop() (T, bool)`.
///
/// The dictionary: Go 1.19 passes it first (before the receiver) as a `uintptr`
/// (noder/stencil.go); 1.20+ pass it after the receiver as `*[N]uintptr` (noder/reader.go,
/// shapeSig); only 1.27 lists it in DWARF, with its real type.
fn generics(minor: u32) -> Vec<(String, Vec<Param>)> {
    if minor < 18 {
        return vec![];
    }
    // Shape type names: go.shape.int_0 in 1.19 (index suffix), go.shape.int from 1.21.
    let shape = |base: &str, i: usize| {
        if minor <= 19 {
            format!("go.shape.{base}_{i}")
        } else {
            format!("go.shape.{base}")
        }
    };
    let dict = |words: u64| match minor {
        19 => GoType::Uintptr,
        21..=26 => GoType::UnsafePointer,
        _ => ptr(GoType::Array {
            len: words,
            elem: Box::new(GoType::Uintptr),
        }),
    };
    let int_shape = || named(&shape("int", 0), int());
    let stack = named(
        &format!("main.Stack[{}]", shape("int", 0)),
        GoType::Struct(vec![field("items", slice(int_shape()))]),
    );
    let pop_inputs = if minor == 19 {
        vec![input(".dict", dict(0)), input("s", ptr(stack))]
    } else {
        vec![input("s", ptr(stack)), input(".dict", dict(4))]
    };
    vec![
        (
            format!("main.Sum[{}]", shape("int", 0)),
            vec![
                input(".dict", dict(3)),
                input("xs", slice(int_shape())),
                result("~r0", int_shape()),
            ],
        ),
        (
            format!("main.Map[{},{}]", shape("int", 0), shape("string", 1)),
            vec![
                input(".dict", dict(7)),
                input("xs", slice(int_shape())),
                input("f", GoType::Func),
                result("~r0", slice(named(&shape("string", 1), GoType::String))),
            ],
        ),
        (
            format!("main.(*Stack[{}]).Pop", shape("int", 0)),
            pop_inputs
                .into_iter()
                .chain([result("~r0", int_shape()), result("~r1", GoType::Bool)])
                .collect(),
        ),
    ]
}

fn show(ps: &[Param]) -> String {
    ps.iter()
        .map(|p| {
            format!(
                "{}{} {}",
                if p.is_result { "-> " } else { "" },
                p.name,
                p.ty
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// (a) The goid offset in every unstripped binary's DWARF is the one the table gives, and the
/// table has an entry for every binary of the matrix.
#[test]
fn goid_table_matches_every_toolchains_dwarf() {
    let mut checked = BTreeSet::new();
    for Loaded {
        row,
        minor: m,
        dwarf: d,
    } in unstripped()
    {
        let from_dwarf = d
            .field_offset("runtime.g", "goid")
            .unwrap_or_else(|e| panic!("{}: {e}", row.label()));
        let from_table = goid::goid_offset(*m, &row.goarch);
        assert!(
            from_dwarf.is_some(),
            "{}: DWARF has no runtime.g.goid",
            row.label()
        );
        assert_eq!(
            from_dwarf,
            from_table,
            "{}: goid offset, DWARF vs goid::goid_offset",
            row.label()
        );
        checked.insert((*m, row.goarch.clone()));
    }
    // Every (release, arch) pair of the matrix was checked, including both word sizes.
    assert!(
        checked.contains(&(15, "amd64".into())) && checked.contains(&(27, "386".into())),
        "{checked:?}"
    );
    // 9 releases x 10 architectures, less loong64 in 1.15 (Go has it from 1.19).
    assert!(
        checked.len() >= 89,
        "only {} (release, arch) pairs checked",
        checked.len()
    );
}

/// Which releases and architectures say `regabi` in DW_AT_producer (observed on the matrix:
/// amd64, arm64, ppc64, ppc64le and riscv64 from 1.19 — the oldest regabi release built —
/// loong64 from 1.22, s390x from 1.26; never 386, arm or mips64le). `g_register` must answer
/// for every register-ABI binary.
#[test]
fn regabi_from_producer() {
    for Loaded {
        row,
        minor: m,
        dwarf: d,
    } in unstripped()
    {
        let expect = match row.goarch.as_str() {
            "amd64" | "arm64" | "ppc64" | "ppc64le" | "riscv64" => *m >= 19,
            "loong64" => *m >= 22,
            "s390x" => *m >= 26,
            _ => false,
        };
        assert_eq!(
            d.regabi(),
            Some(expect),
            "{}: producers {:?}",
            row.label(),
            d.producers()
        );
        if expect {
            assert!(
                goid::g_register(&row.goarch, true).is_some(),
                "{}: no g register",
                row.label()
            );
        }
    }
}

/// (b) Names, types and order of the test program's parameters, on every unstripped binary
/// (every toolchain, 32- and 64-bit, ELF, PE and Mach-O), by DWARF name and by entry address.
#[test]
fn params_of_the_test_program() {
    let mut seen = BTreeSet::new();
    for Loaded {
        row,
        minor: m,
        dwarf: d,
    } in unstripped()
    {
        with_parsed(row, |bin| {
            for (name, want) in expected(*m) {
                let got = d
                    .params(&name)
                    .unwrap_or_else(|e| panic!("{}: {name}: {e}", row.label()))
                    .unwrap_or_else(|| panic!("{}: {name}: not in DWARF", row.label()));
                assert_eq!(
                    got,
                    want,
                    "{}: {name}\n got: {}\nwant: {}",
                    row.label(),
                    show(&got),
                    show(&want)
                );
            }
            // By entry address, for every function of the program's packages (Go 1.18–1.20
            // abbreviate instantiations as `main.Sum[...]` in the symbol table).
            let mut funcs = bin.functions();
            while let Some(f) = funcs.next().expect("function table") {
                if !(f.package == "main" || f.package == SHAPES) || f.name.ends_with("-tramp0") {
                    continue;
                }
                let by_entry = d.params_at(f.entry.0);
                let dwarf_name = d.function_at(f.entry.0);
                let Some(dwarf_name) = dwarf_name else {
                    panic!(
                        "{}: {} at {:#x} has no DWARF subprogram",
                        row.label(),
                        f.name,
                        f.entry.0
                    )
                };
                if !f.name.contains("[...]") {
                    assert_eq!(dwarf_name, f.name, "{}", row.label());
                }
                assert_eq!(
                    by_entry,
                    d.params(dwarf_name),
                    "{}: {}",
                    row.label(),
                    f.name
                );
            }
        });
        seen.insert((row.release.clone(), row.goarch.clone()));
    }
    for must in [
        ("1.15", "amd64"),
        ("1.15", "386"),
        ("1.21.13", "amd64"),
        ("1.21.13", "arm"),
        ("1.27.3", "amd64"),
        ("1.27.3", "386"),
    ] {
        assert!(
            seen.contains(&(must.0.to_string(), must.1.to_string())),
            "matrix lacks {must:?}"
        );
    }
}

/// Go up to 1.21 leave the receiver of promoted-method wrappers out of DWARF; `params` says so
/// instead of returning a list that would shift every argument.
#[test]
fn promoted_wrappers() {
    for Loaded {
        row,
        minor: m,
        dwarf: d,
    } in unstripped()
    {
        for name in [
            format!("{SHAPES}.Labeled.Area"),
            format!("{SHAPES}.(*Labeled).Name"),
        ] {
            let got = d.params(&name);
            if *m <= 21 {
                assert!(
                    matches!(got, Err(Error::Incomplete { .. })),
                    "{}: {name}: {got:?}",
                    row.label()
                );
            } else {
                let ps = got
                    .unwrap_or_else(|e| panic!("{}: {name}: {e}", row.label()))
                    .expect("wrapper in DWARF");
                assert_eq!(
                    ps.first().map(|p| p.name.as_str()),
                    Some("~p0"),
                    "{}: {name}",
                    row.label()
                );
            }
        }
    }
}

/// (c) Functions that are not there.
#[test]
fn absent_functions() {
    for Loaded { row, dwarf: d, .. } in unstripped() {
        assert_eq!(d.params("main.doesNotExist"), Ok(None), "{}", row.label());
        assert_eq!(d.params(""), Ok(None), "{}", row.label());
        assert_eq!(d.params_at(0), Ok(None), "{}", row.label());
        assert_eq!(
            d.field_offset("runtime.g", "noSuchField"),
            Ok(None),
            "{}",
            row.label()
        );
        assert_eq!(
            d.field_offset("runtime.noSuchType", "goid"),
            Ok(None),
            "{}",
            row.label()
        );
    }
}

/// (d) Stripped binaries (`-ldflags=-s -w`) have no DWARF.
#[test]
fn stripped_binaries_have_no_dwarf() {
    let mut n = 0;
    for row in matrix().iter().filter(|r| r.stripped) {
        with_binary(row, |_, dwarf| {
            assert!(
                dwarf.is_none(),
                "{}: stripped binary has DWARF",
                row.label()
            )
        });
        n += 1;
    }
    assert!(n > 0, "no stripped binaries in the matrix");
}

/// An independent check of every parameter list and of the type mapping: on the stack ABI,
/// the parameters' ABI0 layout (each aligned to its type, results from a word boundary, the
/// total rounded to a word) must be exactly the argument size the Go toolchain recorded in
/// the function table (`_func.args`), for every function DWARF describes.
#[test]
fn stack_abi_sizes_match_the_function_table() {
    // Blank inputs (`_`) that Go 1.19–1.21 leave out of DWARF, which no rule can see; known
    // from the source (runtime/mgcscavenge.go: `func(s any, _ uintptr)`).
    const UNDETECTABLE: &[(u32, &str)] = &[
        (19, "runtime.(*scavengerState).init.func1"),
        (21, "runtime.(*scavengerState).init.func1"),
    ];
    let mut binaries = 0;
    for Loaded {
        row,
        minor: m,
        dwarf: d,
    } in unstripped().iter().filter(|l| l.row.variant == "exe")
    {
        let m = *m;
        if d.regabi() != Some(false) {
            continue;
        }
        with_parsed(row, |bin| {
            binaries += 1;
            let word = u64::from(bin.container.ptr_size);
            let (mut checked, mut mismatches) = (0, Vec::new());
            let mut funcs = bin.functions().without_lines();
            while let Some(f) = funcs.next().expect("function table") {
                let (Some(args), Ok(Some(ps))) = (f.args_size, d.params_at(f.entry.0)) else {
                    continue;
                };
                if ps.is_empty() {
                    continue; // assembly, or no parameters
                }
                let mut off = 0;
                let mut in_results = false;
                for p in &ps {
                    if p.is_result && !in_results {
                        off = align_up(off, word);
                        in_results = true;
                    }
                    off = align_up(off, p.ty.align(word)) + p.ty.size(word);
                }
                checked += 1;
                let known = UNDETECTABLE.iter().any(|&(km, kn)| km == m && kn == f.name);
                if align_up(off, word) != u64::from(args) && !known {
                    mismatches.push(format!(
                        "{}: table {args}, DWARF {} ({})",
                        f.name,
                        align_up(off, word),
                        show(&ps)
                    ));
                }
            }
            assert!(
                checked > 500,
                "{}: only {checked} functions checked",
                row.label()
            );
            assert!(
                mismatches.is_empty(),
                "{}:\n{}",
                row.label(),
                mismatches.join("\n")
            );
        });
    }
    assert!(binaries >= 20, "only {binaries} stack-ABI binaries");
}

//! `gosyms resolve`: the JSON schema as a consumer reads it, and bad patterns.

mod common;

use common::run;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Site {
    vaddr: u64,
    file_offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Piece {
    path: String,
    size: u64,
    kind: String,
    location: String,
    reg: Option<String>,
    stack_offset: Option<u64>,
    readable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Value {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    size: u64,
    pieces: Vec<Piece>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Goid {
    g_register: Option<String>,
    offset: Option<u64>,
    offset_source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    function: String,
    entry: Site,
    end: u64,
    entry_probe: Site,
    returns: Vec<Site>,
    returns_unsupported: Option<String>,
    tail_calls: Vec<u64>,
    indirect_jumps: Vec<u64>,
    abi: String,
    layout_source: Option<String>,
    args: Option<Vec<Value>>,
    results: Option<Vec<Value>>,
    goid: Goid,
    notes: Vec<String>,
}

fn plans(args: &[&str]) -> Vec<Plan> {
    common::stdout_of(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_plans_for_stripped_and_unstripped() {
    let full = common::matrix_binary("1.27.3", "linux_amd64", "exe");
    let stripped = common::matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let (full, stripped) = (full.to_str().unwrap(), stripped.to_str().unwrap());
    let from_dwarf = plans(&["resolve", "--json", full, "main.sum"]);
    let p = &from_dwarf[0];
    assert_eq!(p.function, "main.sum");
    assert_eq!(p.abi, "register");
    assert_eq!(p.layout_source.as_deref(), Some("dwarf"));
    let args = p.args.as_ref().unwrap();
    assert_eq!(
        (args[0].name.as_str(), args[0].ty.as_str()),
        ("base", "int")
    );
    assert_eq!(args[1].ty, "[]int");
    assert_eq!(
        args[1]
            .pieces
            .iter()
            .map(|p| p.reg.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["rbx", "rcx", "rdi"]
    );
    assert_eq!(p.goid.g_register.as_deref(), Some("r14"));
    assert_eq!(
        p.goid.offset,
        Some(152),
        "Go 1.27's runtime.g has goid at 152"
    );
    assert_eq!(p.goid.offset_source.as_deref(), Some("dwarf"));
    assert!(!p.returns.is_empty() && p.returns_unsupported.is_none());
    assert!(p.entry.vaddr <= p.entry_probe.vaddr && p.entry_probe.vaddr < p.end);
    assert!(p
        .returns
        .iter()
        .all(|r| r.vaddr > p.entry.vaddr && r.vaddr < p.end && r.file_offset > 0));

    // The stripped twin with a signature: the same layout; with --debug-file: the same again.
    let sig = plans(&[
        "resolve",
        "--json",
        stripped,
        "main.sum(base int, xs ...int) int",
    ]);
    assert_eq!(sig[0].layout_source.as_deref(), Some("signature"));
    let dbg = plans(&[
        "resolve",
        "--json",
        "--debug-file",
        full,
        stripped,
        "main.sum",
    ]);
    assert_eq!(dbg[0].layout_source.as_deref(), Some("debug-file"));
    for other in [&sig[0], &dbg[0]] {
        let a = other.args.as_ref().unwrap();
        assert_eq!(a.len(), args.len());
        for (x, y) in a.iter().zip(args) {
            assert_eq!((x.size, x.pieces.len()), (y.size, y.pieces.len()));
            for (px, py) in x.pieces.iter().zip(&y.pieces) {
                assert_eq!(
                    (&px.location, &px.reg, px.stack_offset, px.readable),
                    (&py.location, &py.reg, py.stack_offset, py.readable)
                );
                assert_eq!((px.size, &px.kind, &px.path), (py.size, &py.kind, &py.path));
            }
        }
        assert_eq!(other.entry.file_offset, p.entry.file_offset);
    }
    // Without types: ArgInfo words, with a note saying so.
    let raw = plans(&["resolve", "--json", stripped, "main.sum"]);
    assert_eq!(raw[0].layout_source.as_deref(), Some("arginfo"));
    assert!(raw[0].notes.iter().any(|n| n.contains("types unknown")));
    assert!(raw[0].results.as_ref().unwrap().is_empty());
    // Globs and regexes give every match once, in address order.
    let many = plans(&["resolve", "--json", stripped, "main.*", "re:^main\\.f"]);
    assert!(many.len() > 10);
    assert!(many.windows(2).all(|w| w[0].entry.vaddr < w[1].entry.vaddr));
    assert!(many
        .iter()
        .all(|p| p.tail_calls.len() + p.indirect_jumps.len() < 100 && !p.abi.is_empty()));
}

#[test]
fn bad_patterns() {
    let p = common::matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let p = p.to_str().unwrap();
    let out = run(&["resolve", p, "main.fibb"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no function matches \"main.fibb\" (did you mean main.fib"),
        "{err}"
    );
    for (pattern, msg) in [
        ("re:(", "bad regular expression"),
        (
            "main.fib(n Foo) int",
            "type Foo: the binary's type descriptors do not describe it",
        ),
        ("main.fib(n int", "malformed signature"),
    ] {
        let out = run(&["resolve", p, pattern]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{pattern}: {err}");
        assert!(
            err.contains(msg) && err.lines().count() == 1,
            "{pattern}: {err}"
        );
    }
    let full = common::matrix_binary("1.27.3", "linux_amd64", "exe");
    let out = run(&["resolve", full.to_str().unwrap(), "main.fib(n string) int"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signature of main.fib contradicts DWARF")
    );
    let other = common::matrix_binary("1.21.13", "linux_amd64", "exe");
    let out = run(&[
        "resolve",
        "--debug-file",
        other.to_str().unwrap(),
        p,
        "main.fib",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("debug file does not match"));
}

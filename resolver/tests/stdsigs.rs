//! gosyms' table of standard-library signatures ([`resolver::stdsigs`]) against the compiler, on
//! the test matrix: every layout the table gives a function of a stripped binary must be the
//! layout the unstripped twin's DWARF gives the same function (names, sizes, where each piece
//! is, integer or floating point), for the inputs and the results.
//!
//! Binaries: `exe-stripped` of every toolchain of the matrix for linux/amd64, arm64, 386 and arm
//! (testdata/build-matrix.sh), each against its `exe` twin.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use gosyms_tests::{matrix, MatrixBinary};
use pclntab::GoBinary;
use resolver::abi::{Layout, ValueLayout};
use resolver::stdsigs::{Span, StdSigs, Table};
use resolver::types::GoType;
use resolver::{LayoutSource, Pattern, Plan, Resolver};

/// Every function's plan; with `without`, as if the table had none for that release.
fn plans(path: &std::path::Path, without: Option<&str>) -> Vec<Plan> {
    let map = pclntab::map_file(path).unwrap();
    let bin = GoBinary::parse(&map).unwrap();
    let mut resolver = Resolver::new(&bin, None).unwrap();
    if let Some(release) = without {
        let table: &'static Table = Box::leak(Box::new(Table::get().unwrap().without(release)));
        let sigs = table.select(Span::of(&bin), bin.container.arch).unwrap();
        assert!(sigs.note().is_some());
        resolver = resolver.with_std_signatures(Some(sigs));
    }
    resolver
        .resolve(&[Pattern::parse("re:.").unwrap()])
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names the table and DWARF may give differently: unnamed and blank parameters and results
/// (`~p0`, `~r0`, `~b1`, or none in DWARF), and before Go 1.?? results numbered after the
/// parameters.
fn synthetic(name: &str) -> bool {
    name.starts_with('~') || name == "_" || name.is_empty()
}

/// A type as both sources can write it: what a named type is made of, aliases of the binary's
/// release by what they name (`*runtime._type` is DWARF's `*internal/abi.Type` from Go 1.21),
/// package paths cut to their last element (descriptors name `io/fs.FileMode` `fs.FileMode`),
/// `error` as the interface it is.
fn type_shape(ty: &GoType, own: &StdSigs) -> String {
    let text = ty.underlying().to_string();
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // `*[]net/http.Header` → `*[]http.Header`.
        let lead = word.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
        let (prefix, name) = word.split_at(lead);
        out.push_str(prefix);
        let name = own.alias(name).unwrap_or(name);
        out.push_str(name.rsplit('/').next().unwrap_or(name));
    }
    out.replace("error", "interface")
}

/// How a layout's values differ, or `None` when they are the same: names (where both have
/// real ones), sizes, and every piece's offset, size, kind and location.
fn differs(std: &Layout, dwarf: &Layout, own: &StdSigs) -> Option<String> {
    let side = |what: &str, a: &[ValueLayout], b: &[ValueLayout]| -> Option<String> {
        if a.len() != b.len() {
            return Some(format!(
                "{} {what} from the table, {} in DWARF",
                a.len(),
                b.len()
            ));
        }
        for (x, y) in a.iter().zip(b) {
            if x.name != y.name && !(synthetic(&x.name) || synthetic(&y.name)) {
                return Some(format!(
                    "{what}: {} in the table, {} in DWARF",
                    x.name, y.name
                ));
            }
            let pieces = |v: &ValueLayout| {
                v.pieces
                    .iter()
                    .map(|p| (p.offset, p.size, p.kind, p.location.clone()))
                    .collect::<Vec<_>>()
            };
            if type_shape(&x.ty, own) != type_shape(&y.ty, own) {
                return Some(format!(
                    "{what} {}: {} from the table, {} in DWARF",
                    x.name, x.ty, y.ty
                ));
            }
            if x.size != y.size || pieces(x) != pieces(y) {
                return Some(format!(
                    "{what} {}: {} {} bytes {:?} from the table, {} {} bytes {:?} in DWARF",
                    x.name,
                    x.ty,
                    x.size,
                    pieces(x),
                    y.ty,
                    y.size,
                    pieces(y)
                ));
            }
        }
        None
    };
    side("arguments", &std.args, &dwarf.args)
        .or_else(|| side("results", &std.results, &dwarf.results))
}

/// The source file of every function of `b`'s twin, by entry address (its addr2line file).
fn files(b: &MatrixBinary) -> HashMap<u64, String> {
    std::fs::read_to_string(&b.addr2line)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let file = f.nth(1)?;
            Some((
                addr,
                file.rsplit_once(':').map_or(file, |(p, _)| p).to_string(),
            ))
        })
        .collect()
}

/// The releases of the embedded table, oldest first.
static TABLES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    Table::get()
        .unwrap()
        .releases()
        .iter()
        .map(|r| r.name.clone())
        .collect()
});

#[test]
fn table_layouts_agree_with_dwarf() {
    let binaries: Vec<MatrixBinary> = matrix()
        .into_iter()
        .filter(|b| {
            b.goos == "linux" && ["amd64", "arm64", "386", "arm"].contains(&b.goarch.as_str())
        })
        .collect();
    let twins: HashMap<(String, String), MatrixBinary> = binaries
        .iter()
        .filter(|b| b.variant == "exe")
        .map(|b| ((b.release.clone(), b.goarch.clone()), b.clone()))
        .collect();
    let stripped: Vec<&MatrixBinary> = binaries
        .iter()
        .filter(|b| b.variant == "exe-stripped")
        .collect();
    assert!(
        stripped.len() >= 16,
        "only {} stripped binaries",
        stripped.len()
    );
    let (mut agree, mut refused, mut assembly, mut between) = (0usize, 0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for b in stripped {
        let twin = &twins[&(b.release.clone(), b.goarch.clone())];
        // The table of the binary's own release, for its aliases.
        let minor = pclntab::go_minor(&b.go_version).unwrap();
        let own = Table::get()
            .unwrap()
            .select(
                Span {
                    lo: minor,
                    hi: minor,
                },
                &b.goarch,
            )
            .unwrap();
        let files = files(twin);
        let is_asm = |p: &Plan| files.get(&p.entry.vaddr).is_some_and(|f| f.ends_with(".s"));
        // The register-ABI wrapper of an assembly function has no DWARF parameters either.
        let is_wrapper = |p: &Plan| {
            files
                .get(&p.entry.vaddr)
                .is_some_and(|f| f == "<autogenerated>")
        };
        let truth: HashMap<u64, Plan> = plans(&twin.path, None)
            .into_iter()
            .filter(|p| p.layout_source == Some(LayoutSource::Dwarf))
            .map(|p| (p.entry.vaddr, p))
            .collect();
        // How the plan's layout differs from the twin's DWARF layout (`Some(None)`: not at
        // all); `None` when the twin has no DWARF layout of the function.
        let against_dwarf = |p: &Plan| {
            let dwarf = truth.get(&p.entry.vaddr)?;
            Some(differs(
                p.layout.as_ref().unwrap(),
                dwarf.layout.as_ref().unwrap(),
                &own,
            ))
        };
        let (mut b_agree, mut b_refused, mut b_asm) = (0, 0, 0);
        for p in plans(&b.path, None) {
            let what = |d: &str| format!("{} {}: {d}", b.label(), p.function);
            if let Some(n) = p
                .notes
                .iter()
                .find(|n| n.contains("standard library's signature"))
            {
                // The check refuses the table's layout of assembly functions whose TEXT
                // directive gives an argument size without the padding after the last
                // result (runtime.memequal: $0-25, not 32), or none at all
                // (runtime.procyield: $0-0). A refusal elsewhere is a defect of the table.
                b_refused += 1;
                if !is_asm(&p) {
                    failures.push(what(&format!("refused, and not assembly: {n}")));
                }
                continue;
            }
            if p.layout_source != Some(LayoutSource::StdSignature) {
                continue;
            }
            match against_dwarf(&p) {
                // Go's DWARF has no parameters for an assembly function: its Go declaration
                // (the table's) is checked only against the argument size of its TEXT
                // directive, which go vet checks against the declaration. Its register-ABI
                // wrapper is checked against its ArgInfo and spill block.
                None if is_asm(&p) || is_wrapper(&p) => b_asm += 1,
                None => failures.push(what("no DWARF layout in the twin to compare with")),
                Some(None) => b_agree += 1,
                Some(Some(d)) => failures.push(what(&d)),
            }
        }
        // As if the table had none for this release: what its neighbours agree on must be
        // what DWARF says too.
        let neighbours = TABLES.windows(3).any(|w| w[1] == b.release);
        let mut b_between = 0;
        if neighbours && ["amd64", "arm64"].contains(&b.goarch.as_str()) {
            for p in plans(&b.path, Some(&b.release)) {
                if p.layout_source != Some(LayoutSource::StdSignature) {
                    continue;
                }
                match against_dwarf(&p) {
                    None => {}
                    Some(None) => b_between += 1,
                    Some(Some(d)) => failures.push(format!(
                        "{} {} (from its neighbours' tables): {d}",
                        b.label(),
                        p.function
                    )),
                }
            }
        }
        let from_neighbours = if b_between > 0 {
            format!("; from the neighbours' tables, {b_between} agree")
        } else {
            String::new()
        };
        println!(
            "{}: {b_agree} agree with DWARF, {b_asm} assembly or its wrappers, {b_refused} refused{from_neighbours}",
            b.label()
        );
        between += b_between;
        agree += b_agree;
        refused += b_refused;
        assembly += b_asm;
    }
    println!(
        "{agree} layouts from the table agree with DWARF; {assembly} of assembly functions or their wrappers (no DWARF); {refused} refused by the binary (assembly); {between} from the neighbours' tables agree with DWARF"
    );
    assert!(agree > 10_000, "only {agree} layouts checked");
    assert!(
        between > 5_000,
        "only {between} layouts from neighbours checked"
    );
    assert!(
        failures.is_empty(),
        "{} layouts from the table disagree with DWARF:\n{}",
        failures.len(),
        failures
            .iter()
            .take(80)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

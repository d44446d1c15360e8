//! `resolver::check` against the compiler, on every function of the test matrix:
//!
//! 1. Every layout the resolver derives from DWARF must agree with what the binary records of
//!    the same function: `FUNCDATA_ArgInfo` as `check::expected_arginfo` writes it, the spill
//!    block of the stack check, and the argument area's size. The compiler wrote all three from
//!    the same ABI assignment as the DWARF, so any disagreement is a bug in gosyms' rules.
//! 2. On the stripped twins, with no types at all, every word the resolver places from ArgInfo
//!    and the spill block must be where the unstripped twin's DWARF layout puts it: the same
//!    register (integer or floating point) or the same stack slot.
//!
//! Binaries: the `exe` and `exe-stripped` of every toolchain of the matrix for linux/amd64,
//! arm64, 386 and arm (testdata/build-matrix.sh).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use gosyms_tests::{matrix, MatrixBinary};
use pclntab::GoBinary;
use resolver::abi::{Location, ValueLayout};
use resolver::{LayoutSource, Pattern, Plan, Resolver};

/// Every function's plan, with types from DWARF or ArgInfo only (not from gosyms' table of
/// standard-library signatures, which tests/stdsigs.rs checks).
fn plans(path: &std::path::Path) -> Vec<Plan> {
    let map = pclntab::map_file(path).unwrap();
    let bin = GoBinary::parse(&map).unwrap();
    Resolver::new(&bin, None)
        .unwrap()
        .with_std_signatures(None)
        .resolve(&[Pattern::parse("re:.").unwrap()])
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn targets(stripped: bool) -> Vec<MatrixBinary> {
    let t: Vec<MatrixBinary> = matrix()
        .into_iter()
        .filter(|b| {
            b.goos == "linux"
                && ["amd64", "arm64", "386", "arm"].contains(&b.goarch.as_str())
                && b.variant == if stripped { "exe-stripped" } else { "exe" }
        })
        .collect();
    assert!(t.len() >= 28, "only {} binaries", t.len());
    t
}

/// Functions whose DWARF is incomplete, so that the check rightly refuses its layout: the
/// function, the releases, and why. Each must still be refused.
const DWARF_GAPS: &[(&str, &[&str], &str)] = &[(
    "runtime.(*scavengerState).init.func1",
    &["1.19", "1.21.13"],
    "Go's DWARF leaves out blank parameters: this is func(s any, _ uintptr)",
)];

#[test]
fn dwarf_layouts_agree_with_arginfo_spills_and_argument_area() {
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let mut gaps_seen = Vec::new();
    for b in targets(false) {
        for p in plans(&b.path) {
            if let Some(n) = p
                .notes
                .iter()
                .find(|n| n.contains("contradicts the binary"))
            {
                let gap = DWARF_GAPS.iter().position(|(f, releases, _)| {
                    *f == p.function && releases.contains(&b.release.as_str())
                });
                match gap {
                    Some(g) => gaps_seen.push((g, b.release.clone())),
                    None => failures.push(format!("{} {}: {n}", b.label(), p.function)),
                }
            } else if p.layout_source == Some(LayoutSource::Dwarf) {
                checked += 1;
            }
        }
    }
    println!("{checked} DWARF layouts agree with the binary");
    for (g, (f, releases, why)) in DWARF_GAPS.iter().enumerate() {
        for r in *releases {
            assert!(
                gaps_seen.iter().any(|(s, sr)| *s == g && sr == r),
                "{f} ({why}) is no longer refused on Go {r}: remove it from DWARF_GAPS"
            );
        }
    }
    assert!(checked > 20_000, "only {checked} functions checked");
    assert!(
        failures.is_empty(),
        "{} layouts from DWARF contradict the binary:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Where each byte range of the argument area is: (offset in the argument area, size) →
/// location, for the inputs of a layout.
fn placed(args: &[ValueLayout]) -> HashMap<(u64, u64), Location> {
    let mut out = HashMap::new();
    for a in args {
        let Some(frame) = a.frame_offset else {
            continue;
        };
        for p in &a.pieces {
            out.insert((frame + p.offset, p.size), p.location.clone());
        }
    }
    out
}

#[test]
fn words_without_types_are_where_dwarf_puts_them() {
    let twins: HashMap<String, MatrixBinary> = targets(false)
        .into_iter()
        .map(|b| (format!("{} {}", b.release, b.goarch), b))
        .collect();
    let (mut words, mut floats, mut unknown) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for b in targets(true) {
        let twin = &twins[&format!("{} {}", b.release, b.goarch)];
        let truth: HashMap<(String, u64), HashMap<(u64, u64), Location>> = plans(&twin.path)
            .into_iter()
            .filter(|p| p.layout_source == Some(LayoutSource::Dwarf))
            .map(|p| {
                (
                    (p.function.clone(), p.entry.vaddr),
                    placed(&p.layout.unwrap().args),
                )
            })
            .collect();
        for p in plans(&b.path) {
            let Some(truth) = truth.get(&(p.function.clone(), p.entry.vaddr)) else {
                continue;
            };
            if p.layout_source != Some(LayoutSource::ArgInfo) {
                continue;
            }
            for ((at, size), loc) in placed(&p.layout.as_ref().unwrap().args) {
                words += 1;
                match &loc {
                    Location::FloatReg(_) => floats += 1,
                    Location::Unknown => {
                        unknown += 1;
                        continue;
                    }
                    _ => {}
                }
                let want = truth.get(&(at, size));
                if want != Some(&loc) {
                    failures.push(format!(
                        "{} {}: the word at {at} ({size} bytes) is placed at {loc:?}, DWARF says {want:?}",
                        b.label(),
                        p.function
                    ));
                }
            }
        }
    }
    println!(
        "{words} argument words placed without types ({floats} in floating-point registers, {unknown} unreadable for want of a spill block)"
    );
    assert!(words > 20_000, "only {words} words checked");
    assert!(floats > 0, "no float words seen");
    assert!(
        failures.is_empty(),
        "{} words misplaced:\n{}",
        failures.len(),
        failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

//! Argument layouts: from DWARF, from a debug file, from signatures typed by hand, and from
//! FUNCDATA_ArgInfo, for `testdata/params` built by Go 1.15 (stack ABI), 1.21 and 1.27
//! (register ABI on amd64 and arm64, stack ABI on 386).
// Test helpers outside #[test] functions may unwrap and panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pclntab::GoBinary;
use resolver::abi::ValueLayout;
use resolver::{LayoutSource, Pattern, Plan, ResolveError, Resolver};
use std::path::{Path, PathBuf};

use gosyms_tests::repo;

fn build(release: &str, goarch: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let src = repo().join("testdata/params/main.go");
    let out = |suffix: &str| dir.join(format!("params-{release}-{goarch}{suffix}"));
    gosyms_tests::go_build(release, goarch, &src, &out(""), "");
    gosyms_tests::go_build(release, goarch, &src, &out("-stripped"), "-s -w");
    (out(""), out("-stripped"))
}

fn signatures() -> Vec<String> {
    std::fs::read_to_string(repo().join("testdata/params/signatures.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

fn one(r: &Resolver<'_, '_>, p: Pattern) -> Plan {
    let mut plans = r.resolve(&[p]).unwrap();
    assert_eq!(plans.len(), 1);
    plans.remove(0)
}

/// Pieces as (size, kind, location), the part of a layout both sources must agree on.
fn shape(vals: &[ValueLayout]) -> Vec<Vec<String>> {
    vals.iter()
        .map(|v| {
            v.pieces
                .iter()
                .map(|p| format!("{}{} {} {:?}", v.size, p.path, p.kind.name(), p.location))
                .collect()
        })
        .collect()
}

#[test]
fn dwarf_debug_file_signature_and_arginfo_agree() {
    let dir = std::env::temp_dir().join(format!("gosyms-layouts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for (release, goarch) in [
        ("1.15", "amd64"),
        ("1.15", "386"),
        ("1.21.13", "amd64"),
        ("1.21.13", "arm64"),
        ("1.21.13", "386"),
        ("1.27.3", "amd64"),
        ("1.27.3", "arm64"),
    ] {
        let (full, stripped) = build(release, goarch, &dir);
        let (fm, sm) = (
            pclntab::map_file(&full).unwrap(),
            pclntab::map_file(&stripped).unwrap(),
        );
        let (fb, sb) = (GoBinary::parse(&fm).unwrap(), GoBinary::parse(&sm).unwrap());
        let with_dwarf = Resolver::new(&fb, None).unwrap();
        let with_debug_file = Resolver::new(&sb, Some(&fb)).unwrap();
        let bare = Resolver::new(&sb, None).unwrap();
        for sig in signatures() {
            let ctx = format!("go {release} {goarch}: {sig}");
            let pattern = Pattern::parse(&sig).unwrap();
            let name = pattern.exact_name().unwrap().to_string();
            let from_dwarf = one(&with_dwarf, Pattern::Exact(name.clone()));
            assert_eq!(from_dwarf.layout_source, Some(LayoutSource::Dwarf), "{ctx}");
            let dl = from_dwarf
                .layout
                .as_ref()
                .unwrap_or_else(|| panic!("{ctx}: no DWARF layout"));
            let from_sig = one(&bare, pattern);
            assert_eq!(
                from_sig.layout_source,
                Some(LayoutSource::Signature),
                "{ctx}"
            );
            let sl = from_sig.layout.as_ref().unwrap();
            assert_eq!(dl.abi, sl.abi, "{ctx}");
            assert_eq!(shape(&dl.args), shape(&sl.args), "{ctx}: arguments");
            assert_eq!(shape(&dl.results), shape(&sl.results), "{ctx}: results");
            let dnames: Vec<&str> = dl.args.iter().map(|v| v.name.as_str()).collect();
            let snames: Vec<&str> = sl.args.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(dnames, snames, "{ctx}: argument names");
            let from_debug = one(&with_debug_file, Pattern::Exact(name.clone()));
            assert_eq!(
                from_debug.layout_source,
                Some(LayoutSource::DebugFile),
                "{ctx}"
            );
            assert_eq!(from_debug.layout, from_dwarf.layout, "{ctx}");
            // ArgInfo (Go 1.17+) has the same number of words per argument as DWARF, up to the
            // ten components the runtime records.
            let raw = one(&bare, Pattern::Exact(name.clone()));
            if release != "1.15" {
                assert_eq!(raw.layout_source, Some(LayoutSource::ArgInfo), "{ctx}");
                let raw_words: Vec<usize> = raw
                    .layout
                    .as_ref()
                    .unwrap()
                    .args
                    .iter()
                    .map(|v| v.pieces.len())
                    .collect();
                let mut total = 0;
                for (i, v) in dl.args.iter().enumerate() {
                    total += v.pieces.len();
                    if total > 10 {
                        break;
                    }
                    assert_eq!(
                        raw_words.get(i),
                        Some(&v.pieces.len()),
                        "{ctx}: words of argument {i}"
                    );
                }
            } else {
                assert_eq!(raw.layout_source, Some(LayoutSource::ArgsSize), "{ctx}");
            }
            checked += 1;
        }
        // A signature that disagrees with DWARF is refused.
        let wrong = Pattern::parse("main.Strings(s string) int").unwrap();
        assert!(matches!(
            with_dwarf.resolve(&[wrong]),
            Err(ResolveError::SignatureContradictsDwarf { .. })
        ));
    }
    assert!(checked >= 70);
}

#[test]
fn mismatched_debug_file_and_bad_patterns() {
    let dir = std::env::temp_dir().join(format!("gosyms-layouts-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, a) = build("1.27.3", "amd64", &dir);
    let (b, _) = build("1.21.13", "amd64", &dir);
    let (am, bm) = (
        pclntab::map_file(&a).unwrap(),
        pclntab::map_file(&b).unwrap(),
    );
    let (ab, bb) = (GoBinary::parse(&am).unwrap(), GoBinary::parse(&bm).unwrap());
    assert!(matches!(
        Resolver::new(&ab, Some(&bb)),
        Err(ResolveError::DebugFileMismatch(_))
    ));
    let r = Resolver::new(&ab, None).unwrap();
    match r.resolve(&[Pattern::parse("main.Strngs").unwrap()]) {
        Err(ResolveError::NoMatch { suggestions, .. }) => assert_eq!(
            suggestions.first().map(String::as_str),
            Some("main.Strings")
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.resolve(&[Pattern::parse("nomatch.*").unwrap()]),
        Err(ResolveError::NoMatch { .. })
    ));
    let plans = r
        .resolve(&[
            Pattern::parse("main.*").unwrap(),
            Pattern::parse("re:^main\\.S").unwrap(),
        ])
        .unwrap();
    assert!(plans.len() >= 12);
    assert!(
        plans
            .windows(2)
            .all(|w| w[0].entry.vaddr < w[1].entry.vaddr),
        "sorted, each function once"
    );
}

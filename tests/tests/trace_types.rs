//! Types from the binary itself, under real BPF: testdata/typed, built stripped (no symbols,
//! no DWARF) by Go 1.15, 1.19, 1.21 and 1.27, as an executable and as PIE, is traced with no
//! signature. Its methods are typed from their receivers' method tables, its errors and `any`
//! values are decoded by their dynamic types, and every value must be what the program printed
//! (the truth). A function without any type gives raw words, with its floats unreadable and
//! nothing shifted. Wrong signatures, in each of the three forms, are refused: exit 2, one
//! line, no events.
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::truth::{self, Run};
use common::{gosyms, scratch};
use gosyms_tests::{go_build_mode, host_goarch, repo};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const RELEASES: &[&str] = &["1.15", "1.19", "1.21.13", "1.27.3"];

/// The methods the program prints the truth of.
const METHODS: &[&str] = &[
    "main.(*Store).Add",
    "main.(*Store).Find",
    "main.(*Store).Count",
    "main.(*Store).Describe",
    "main.(*Store).Ratio",
    "main.(*Store).SetStatus",
    "main.Order.Total",
];

fn build(release: &str, mode: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("typed").join(format!("typed-{release}-{mode}"));
    if !out.exists() {
        let src = repo().join("testdata/typed/main.go");
        go_build_mode(release, host_goarch(), &src, &out, "-s -w", mode);
    }
    out
}

fn run(release: &str, mode: &str, patterns: &[&str]) -> Run {
    let mut run = truth::trace(&build(release, mode), &["--max-str", "64"], patterns);
    run.events.iter_mut().for_each(sort_map_entries);
    run
}

/// Map entries come in the map's slot order: sorted by key, as the program prints them.
fn sort_map_entries(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(entries)) = m.get_mut("entries") {
                entries.sort_by_key(|e| e["key"].to_string());
            }
            m.values_mut().for_each(sort_map_entries);
        }
        Value::Array(a) => a.iter_mut().for_each(sort_map_entries),
        _ => {}
    }
}

#[test]
fn methods_errors_and_any_are_typed_from_the_binary() {
    for release in RELEASES {
        for mode in ["exe", "pie"] {
            let label = format!("go{release} {mode} stripped, no signature");
            let run = run(release, mode, METHODS);
            truth::check_calls(&run, &label, Some(METHODS));
            // No layout came from anywhere but the binary's descriptors.
            assert!(
                !run.stderr.contains("types unknown"),
                "{label}: {}",
                run.stderr
            );
            for e in &run.events {
                assert!(
                    e["args"].is_object() || e["ret"].is_object(),
                    "{label}: {e}"
                );
            }
        }
    }
}

#[test]
fn errors_show_their_messages() {
    let run = run("1.27.3", "exe", &["main.(*Store).Find"]);
    let rets: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "return")
        .map(|e| &e["ret"]["r1"])
        .collect();
    assert_eq!(rets.len(), 2, "{:?}", run.events);
    assert_eq!(rets[0], &Value::Null);
    assert_eq!(rets[1]["type"], "*fmt.wrapError");
    assert_eq!(rets[1]["value"]["msg"], "find: order 9 not found");
    assert_eq!(rets[1]["value"]["err"]["type"], "*main.NotFound");
    assert_eq!(rets[1]["value"]["err"]["value"]["ID"], 9);
}

#[test]
fn raw_words_keep_their_places_past_a_float() {
    for release in ["1.19", "1.21.13", "1.27.3"] {
        let run = run(release, "exe", &["main.Mixed"]);
        let label = format!("go{release} main.Mixed");
        let call = run
            .events
            .iter()
            .find(|e| e["event"] == "call")
            .unwrap_or_else(|| panic!("{label}: no call: {}", run.stderr));
        let truth = run.truth.iter().find(|t| t["fn"] == "main.Mixed").unwrap();
        let words = call["args"].as_array().expect("raw words");
        // f float64, n int, s string (ptr, len), g float32, b byte
        assert_eq!(words.len(), 5, "{label}: {words:?}");
        assert_eq!(words[0], Value::Null, "{label}: a float in a register");
        assert_eq!(words[1], truth["words"]["n"], "{label}");
        assert_eq!(words[2][1], truth["words"]["slen"], "{label}");
        assert_eq!(words[3], Value::Null, "{label}: a float in a register");
        assert_eq!(words[4], truth["words"]["b"], "{label}");
    }
}

/// A signature that contradicts the binary: exit 2, one line naming the function, no events.
fn refused(release: &str, signature: &str, wanted: &str) {
    let bin = build(release, "exe");
    let events = scratch("typed").join("refused.jsonl");
    let _ = std::fs::remove_file(&events);
    let out = Command::new(gosyms())
        .args(["trace", "-o"])
        .arg(&events)
        .arg(signature)
        .arg("--")
        .arg(&bin)
        .output()
        .expect("run gosyms");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{signature}: {err}");
    assert_eq!(err.lines().count(), 1, "{signature}: {err}");
    assert!(err.contains(wanted), "{signature}: {err}");
    assert!(
        std::fs::read(&events).map_or(true, |e| e.is_empty()),
        "{signature}: events written"
    );
}

#[test]
fn wrong_signatures_are_refused_in_every_form() {
    for release in ["1.15", "1.27.3"] {
        // The name without the receiver (gosyms adds it), a parameter missing.
        refused(
            release,
            "main.(*Store).Count(tags map[string]int) int",
            "main.(*Store).Count:",
        );
        // The Go declaration, a parameter of the wrong size.
        refused(
            release,
            "func (s *Store) Find(id int32, extra string) (*Order, error)",
            "main.(*Store).Find:",
        );
        // The method expression, receiver first, a string where the binary has a pointer.
        refused(
            release,
            "main.(*Store).Add(s *main.Store, o string) error",
            "main.(*Store).Add:",
        );
    }
    // A float where the binary spills an integer register.
    refused(
        "1.27.3",
        "main.Mixed(n int, f float64, s string, g float32, b byte) int",
        "main.Mixed:",
    );
}

#[test]
fn right_signatures_in_every_form_agree_with_the_truth() {
    for form in [
        "main.(*Store).Count(tags map[string]int, names []string) int",
        "func (s *Store) Count(tags map[string]int, names []string) int",
        "main.(*Store).Count(s *main.Store, tags map[string]int, names []string) int",
    ] {
        let run = run("1.27.3", "exe", &[form]);
        let counts: Vec<&Value> = run.events.iter().filter(|e| e["event"] == "call").collect();
        assert_eq!(counts.len(), 2, "{form}: {}", run.stderr);
        assert_eq!(counts[0]["args"]["names"]["elems"][2], "zzz", "{form}");
        assert_eq!(counts[0]["args"]["tags"]["len"], 2, "{form}");
    }
}

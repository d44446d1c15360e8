//! `--stack` under real BPF: each call of main.Leaf in testdata/selective carries the Go call
//! stack, walked in the kernel through frame pointers and symbolized from pclntab, and it must
//! be the stack the program's own `runtime.Callers` gives at the same call, frame by frame:
//! through recursion, an inlined function and a goroutine, for Go 1.15, 1.21 and 1.27, PIE
//! too. The first frame is the function itself at its entry line (the program's is at the
//! line of its `runtime.Callers` call); every other frame has the line of its call.
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON) and fail, not skip, without it.

mod common;

use common::selective;
use common::truth;
use serde_json::Value;

const BUILDS: &[(&str, &str)] = &[
    ("1.27.3", "exe"),
    ("1.27.3", "pie"),
    ("1.21.13", "exe"),
    ("1.15", "exe"),
];

/// The call events of main.Leaf and the program's lines for them, in order per goroutine.
fn pairs(run: &truth::Run) -> Vec<(&Value, &Value)> {
    let mut out = Vec::new();
    let truth = selective::calls(&run.truth, "main.Leaf");
    let mut goids: Vec<u64> = truth.iter().map(|t| t["goid"].as_u64().unwrap()).collect();
    goids.dedup();
    for g in goids {
        let want: Vec<_> = truth.iter().filter(|t| t["goid"] == g).collect();
        let got: Vec<_> = run
            .events
            .iter()
            .filter(|e| e["event"] == "call" && e["goid"] == g)
            .collect();
        assert_eq!(got.len(), want.len(), "g{g}: calls");
        out.extend(got.into_iter().zip(want.into_iter().copied()));
    }
    assert_eq!(out.len(), 3, "three calls of main.Leaf");
    out
}

#[test]
fn stacks_are_what_runtime_callers_gives() {
    for (release, mode) in BUILDS {
        let label = format!("go{release} {mode}");
        let run = truth::trace_args(
            &selective::build(release, mode),
            &["stacks"],
            &["--stack"],
            &["main.Leaf"],
        );
        for (event, t) in pairs(&run) {
            let stack = event["stack"].as_array().expect("a stack");
            let frames = t["frames"].as_array().unwrap();
            assert_eq!(
                stack.len(),
                frames.len(),
                "{label}: gosyms {stack:?}\nprogram {frames:?}"
            );
            for (i, (ours, theirs)) in stack.iter().zip(frames).enumerate() {
                assert_eq!(ours["function"], theirs["function"], "{label}: frame {i}");
                assert_eq!(ours["file"], theirs["file"], "{label}: frame {i}");
                if i > 0 {
                    assert_eq!(ours["line"], theirs["line"], "{label}: frame {i}");
                }
                // Only main.inlined is inlined (into main.Middle).
                let inlined = theirs["function"] == "main.inlined";
                assert_eq!(ours["inlined"], inlined, "{label}: frame {i}");
            }
            // Returns carry no stack.
            assert!(run
                .events
                .iter()
                .filter(|e| e["event"] == "return")
                .all(|e| e.get("stack").is_none()));
        }
    }
}

#[test]
fn stack_depth_counts_frames_on_the_stack() {
    let run = truth::trace_args(
        &selective::build("1.27.3", "exe"),
        &["stacks"],
        &["--stack=3"],
        &["main.Leaf"],
    );
    for (event, t) in pairs(&run) {
        let stack = event["stack"].as_array().unwrap();
        let frames = t["frames"].as_array().unwrap();
        // Three addresses: main.Leaf, the call in main.inlined (inlined into main.Middle,
        // so two frames), and main.Middle's caller.
        assert_eq!(stack.len(), 4, "{stack:?}");
        for (ours, theirs) in stack.iter().zip(frames).skip(1) {
            assert_eq!(ours["function"], theirs["function"]);
            assert_eq!(ours["line"], theirs["line"]);
        }
    }
    // Text: each frame on its own line under its call, indented.
    let out = std::process::Command::new(common::gosyms())
        .args(["trace", "--format", "text", "--stack=2", "main.Leaf", "--"])
        .arg(selective::build("1.27.3", "exe"))
        .arg("stacks")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let call = lines
        .iter()
        .position(|l| l.contains("-> main.Leaf(depth=0)"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        lines[call + 1].starts_with("        main.Leaf at "),
        "{text}"
    );
    assert!(
        lines[call + 2].starts_with("        main.inlined at ")
            && lines[call + 2].ends_with("(inlined)"),
        "{text}"
    );
}

//! `gosyms trace --format perfetto` under real BPF, read back with Perfetto's own definitions:
//! tests/perfetto_slices.py decodes the file with the `perfetto` PyPI package's compiled
//! trace protos (installed by testdata/install-python-tools.sh), checks the rules Perfetto's
//! trace processor relies on, and rebuilds the slices per track. The truth is testdata/spans,
//! which prints its own call tree: one slice per call, nested as the program called, with the
//! program's values as annotations.
//!
//! Also: the committed subset of Perfetto's definitions and the Rust generated from it are
//! what export/perfetto/subset.py and prost-build make from the pinned package.
//!
//! The tracing test needs root (or CAP_BPF + CAP_PERFMON) and fails without.

mod common;

use common::{gosyms, scratch};
use gosyms_tests::{go_build_mode, host_goarch, perfetto_python, repo};
use prost::Message;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

fn build() -> PathBuf {
    let out = scratch("perfetto").join("spans");
    if !out.exists() {
        let src = repo().join("testdata/spans/main.go");
        go_build_mode("1.27.3", host_goarch(), &src, &out, "", "exe");
    }
    out
}

/// The slices of a trace file, as tests/perfetto_slices.py reads them.
fn slices(trace: &std::path::Path) -> Value {
    let out = Command::new(perfetto_python())
        .arg(repo().join("tests/perfetto_slices.py"))
        .arg(trace)
        .output()
        .expect("run perfetto_slices.py");
    assert!(
        out.status.success(),
        "Perfetto's definitions do not read the trace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from perfetto_slices.py")
}

#[test]
fn slices_are_the_calls_nested_as_the_program_made_them() {
    let program = build();
    let trace = scratch("perfetto").join("tree.pftrace");
    let out = Command::new(gosyms())
        .args(["trace", "--format", "perfetto", "-o"])
        .arg(&trace)
        .args([
            "main.Node",
            "main.Leaf",
            "main.Guard",
            "main.Risky",
            "main.Block",
            "--",
        ])
        .arg(&program)
        .arg("tree")
        .output()
        .expect("run gosyms trace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let truth: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = slices(&trace);
    let slices = got["slices"].as_array().unwrap();
    let tracks = got["tracks"].as_object().unwrap();

    // Slices per function equal the calls (the program's own count for Node).
    let mut per_function: HashMap<&str, usize> = HashMap::new();
    for s in slices {
        *per_function.entry(s["name"].as_str().unwrap()).or_default() += 1;
    }
    let nodes: Vec<&Value> = truth.iter().filter(|t| t["fn"] == "main.Node").collect();
    assert_eq!(nodes.len(), 160);
    let want: HashMap<&str, usize> = [
        ("main.Node", nodes.len()),
        ("main.Leaf", 108),
        ("main.Guard", 1),
        ("main.Risky", 1),
        ("main.Block", 1),
    ]
    .into();
    assert_eq!(per_function, want, "{stderr}");

    // One process track (the command's), one track per goroutine under it, named by id.
    let processes: Vec<_> = tracks.values().filter(|t| !t["pid"].is_null()).collect();
    assert_eq!(processes.len(), 1);
    let track_name = |s: &Value| -> String {
        tracks[&s["track"].to_string()]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Each Node: the program's values, its goroutine's track, and the parent it printed.
    let by_id: HashMap<i64, usize> = slices
        .iter()
        .enumerate()
        .filter(|(_, s)| s["name"] == "main.Node")
        .map(|(i, s)| (s["args"]["id"].as_i64().unwrap(), i))
        .collect();
    for t in &nodes {
        let id = t["id"].as_i64().unwrap();
        let s = &slices[by_id[&id]];
        for k in ["parent", "depth", "label"] {
            assert_eq!(s["args"][k], t[k], "Node {id} {k}");
        }
        assert_eq!(s["ret"]["sum"], t["sum"], "Node {id}");
        assert_eq!(
            track_name(s),
            format!("goroutine {}", t["goid"]),
            "Node {id}"
        );
        assert!(s["incomplete"].is_null());
        assert!(s["dur"].as_u64().unwrap() > 0);
        let parent = s["parent"].as_u64().map(|p| &slices[p as usize]);
        match (t["parent"].as_i64().unwrap(), parent) {
            (0, None) => {}
            (p, Some(ps)) => assert_eq!(ps["args"]["id"].as_i64(), Some(p), "Node {id}"),
            (p, None) => panic!("Node {id} is not nested (the program says under {p})"),
        }
    }
    for s in slices.iter().filter(|s| s["name"] == "main.Leaf") {
        let parent = &slices[s["parent"].as_u64().expect("Leaf is nested") as usize];
        assert_eq!(parent["args"]["id"], s["args"]["x"]);
        assert_eq!(
            s["ret"]["y"].as_i64(),
            Some(2 * s["args"]["x"].as_i64().unwrap() + 1)
        );
    }
    let one = |name: &str| -> &Value { slices.iter().find(|s| s["name"] == name).unwrap() };
    let (guard, risky, block) = (one("main.Guard"), one("main.Risky"), one("main.Block"));
    assert_eq!(
        &slices[risky["parent"].as_u64().unwrap() as usize]["name"],
        "main.Guard"
    );
    assert!(risky["incomplete"]
        .as_str()
        .unwrap()
        .starts_with("return not seen"));
    assert_eq!(guard["ret"]["ok"], false);
    assert_eq!(block["incomplete"], "still running when tracing stopped");
    assert!(block["parent"].is_null());
}

#[test]
fn perfetto_definitions_are_those_of_the_pinned_package() {
    let dir = repo().join("export/perfetto");
    let python = perfetto_python();
    let proto = Command::new(&python)
        .arg(dir.join("subset.py"))
        .arg("--proto")
        .output()
        .expect("run subset.py");
    assert!(
        proto.status.success(),
        "{}",
        String::from_utf8_lossy(&proto.stderr)
    );
    let committed = std::fs::read(dir.join("perfetto_trace_subset.proto")).unwrap();
    assert!(
        proto.stdout == committed,
        "export/perfetto/perfetto_trace_subset.proto is stale: run `subset.py --proto > perfetto_trace_subset.proto` with the venv's python"
    );

    let tmp = scratch("perfetto");
    let fds_path = tmp.join("subset.fds");
    let status = Command::new(&python)
        .arg(dir.join("subset.py"))
        .arg("--fds")
        .arg(&fds_path)
        .status()
        .expect("run subset.py");
    assert!(status.success());
    let fds = prost_types::FileDescriptorSet::decode(std::fs::read(&fds_path).unwrap().as_slice())
        .expect("a FileDescriptorSet");
    let out = tmp.join("generated");
    std::fs::create_dir_all(&out).unwrap();
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(fds)
        .expect("prost-build");
    let generated = std::fs::read(out.join("perfetto.protos.rs")).unwrap();
    let target = repo().join("export/src/perfetto/perfetto.protos.rs");
    if std::env::var_os("GOSYMS_BLESS").is_some() {
        std::fs::write(&target, &generated).unwrap();
    }
    assert!(
        generated == std::fs::read(&target).unwrap(),
        "{} is not what prost-build makes of subset.py --fds (GOSYMS_BLESS=1 rewrites it)",
        target.display()
    );
}

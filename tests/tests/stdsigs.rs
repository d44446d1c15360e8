//! Standard-library functions typed with no user input: `os.OpenFile` in a stripped build of
//! testdata/stdsigs/prog gets its names and types from gosyms' table of standard-library
//! signatures (`layout_source` "std-signature"), laid out as the unstripped twin's DWARF lays
//! it out, and traced under real BPF its arguments are what the program printed.
//!
//! The trace test needs root (or CAP_BPF + CAP_PERFMON) and fails, not skips, without it.

mod common;

use common::{gosyms, scratch, stdout_of};
use gosyms_tests::{go_build, host_goarch, repo};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Every release the matrix has (testdata/install-toolchains.sh).
const RELEASES: &[&str] = &[
    "1.15", "1.19", "1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3",
];

/// The test program built by Go `release`, stripped or not.
fn build(release: &str, stripped: bool) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch("stdsigs").join(format!(
        "prog-{release}{}",
        if stripped { "-stripped" } else { "" }
    ));
    if !out.exists() {
        let src = repo().join("testdata/stdsigs/prog/main.go");
        let ldflags = if stripped { "-s -w" } else { "" };
        go_build(release, host_goarch(), &src, &out, ldflags);
    }
    out
}

/// `gosyms resolve --json BINARY os.OpenFile`: its one plan.
fn plan(binary: &std::path::Path) -> Value {
    let out = stdout_of(&["resolve", "--json", binary.to_str().unwrap(), "os.OpenFile"]);
    let plans: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(plans.len(), 1, "{out}");
    plans.into_iter().next().unwrap()
}

/// A value's layout for comparison: its name unless Go made it up (`~r0`, and before Go 1.17
/// `~r3` counted after the parameters), its type without package paths (`fs.FileMode`, as
/// the descriptors name it, is DWARF's `io/fs.FileMode`), its size and its pieces.
fn shape(v: &Value) -> Value {
    let name = v["name"].as_str().unwrap();
    let ty = v["type"].as_str().unwrap();
    let short: String = ty
        .split('*')
        .map(|t| t.rsplit('/').next().unwrap_or(t))
        .collect::<Vec<_>>()
        .join("*");
    serde_json::json!({
        "name": if name.starts_with('~') { "~" } else { name },
        "type": short,
        "size": v["size"],
        "pieces": v["pieces"],
    })
}

#[test]
fn stripped_os_openfile_is_typed_as_dwarf_types_it() {
    for release in RELEASES {
        let stripped = plan(&build(release, true));
        let full = plan(&build(release, false));
        let ctx = format!("go{release}: {stripped}");
        assert_eq!(stripped["layout_source"], "std-signature", "{ctx}");
        assert_eq!(full["layout_source"], "dwarf", "{ctx}");
        let each = |side: &str, key: &str| -> Vec<String> {
            stripped[side]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a[key].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(each("args", "name"), ["name", "flag", "perm"], "{ctx}");
        assert_eq!(each("results", "type"), ["*os.File", "interface"], "{ctx}");
        let perm = stripped["args"][2]["type"].as_str().unwrap();
        let want = if *release == "1.15" {
            "os.FileMode"
        } else {
            "fs.FileMode"
        };
        assert!(perm.ends_with(want), "{ctx}");
        for side in ["args", "results"] {
            let a: Vec<Value> = stripped[side]
                .as_array()
                .unwrap()
                .iter()
                .map(shape)
                .collect();
            let b: Vec<Value> = full[side].as_array().unwrap().iter().map(shape).collect();
            assert_eq!(a, b, "go{release} {side}: the table's layout, then DWARF's");
        }
        // Its own release's table: no note about a nearer one.
        assert!(
            stripped["notes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| !n.as_str().unwrap().contains("standard-library")),
            "{ctx}"
        );
    }
}

/// The releases traced: the stack ABI (1.15) and the register ABI, old and new.
const TRACED: &[&str] = &["1.15", "1.19", "1.21.13", "1.27.3"];

#[test]
fn tracing_os_openfile_in_a_stripped_binary_shows_its_arguments() {
    for release in TRACED {
        let bin = build(release, true);
        let dir = scratch("stdsigs").join(format!("files-{release}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let events_path = scratch("stdsigs").join(format!("events-{release}.jsonl"));
        let out = Command::new(gosyms())
            .args(["trace", "--json", "-o"])
            .arg(&events_path)
            .arg("os.OpenFile")
            .arg("--")
            .arg(&bin)
            .arg(&dir)
            .output()
            .expect("run gosyms trace");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "go{release}: {stderr}");
        let truth: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(truth.len(), 3, "go{release}: the program printed {truth:?}");
        let events: Vec<Value> = std::fs::read_to_string(&events_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let calls: Vec<&Value> = events.iter().filter(|e| e["event"] == "call").collect();
        let returns: Vec<&Value> = events.iter().filter(|e| e["event"] == "return").collect();
        assert_eq!(calls.len(), 3, "go{release}: {events:?}");
        assert_eq!(returns.len(), 3, "go{release}: {events:?}");
        for ((t, call), ret) in truth.iter().zip(&calls).zip(&returns) {
            let ctx = format!("go{release}: program {t}, gosyms {call} {ret}");
            assert_eq!(call["args"], t["args"], "{ctx}");
            let (file, err) = (&ret["ret"]["~r0"], &ret["ret"]["~r1"]);
            if t["ret"]["err"] == true {
                assert!(file.is_null(), "{ctx}");
                assert!(
                    err["type"].as_str().unwrap_or("").contains("PathError"),
                    "{ctx}"
                );
            } else {
                assert!(!file.is_null() && err.is_null(), "{ctx}");
            }
        }
        assert!(stderr.contains(" 0 dropped"), "go{release}: {stderr}");
    }
}

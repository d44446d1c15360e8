//! `gosyms trace` on linux/arm64, for real: testdata/arm64-vm.sh boots Debian's arm64 kernel
//! under QEMU's full-system emulation and runs tests/trace.rs and tests/trace_safety.rs inside
//! it, cross-built for arm64, against Go programs built for arm64: the traced program's own
//! printout against the events, and no breakpoint left behind after SIGKILL of the tracer.
//!
//! The script installs or fetches every tool it needs; when one is missing or any check fails,
//! this test fails with the script's output, which names the machine's console log.

use gosyms_tests::repo;
use std::process::Command;

/// Tests that must have run and passed inside the machine.
const REQUIRED: &[&str] = &[
    "trace: test unstripped_binaries_with_dwarf",
    "trace: test stripped_binaries_with_a_debug_file",
    "trace: test stripped_binaries_with_signatures",
    "trace: test stripped_binaries_without_types_give_raw_words",
    "trace: test a_binary_of_another_architecture_is_refused_clearly",
    "trace_safety: test sigkill_of_the_tracer_leaves_the_program_unharmed",
    "trace_safety: test sigint_detaches_cleanly",
];

/// "N passed, M failed", the script's last line.
fn summary(stdout: &str) -> Option<(u64, u64)> {
    let line = stdout.lines().last()?;
    let (p, f) = line.split_once(" passed, ")?;
    Some((p.parse().ok()?, f.strip_suffix(" failed")?.parse().ok()?))
}

#[test]
fn tracing_works_on_arm64_in_an_emulated_machine() {
    let script = repo().join("testdata/arm64-vm.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run testdata/arm64-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("{}:\n{stderr}{stdout}", script.display());
    let counts = summary(&stdout);
    assert!(
        out.status.success() && counts.is_some_and(|(passed, failed)| passed > 0 && failed == 0),
        "the arm64 machine's tests failed ({counts:?} passed and failed): {report}"
    );
    for t in REQUIRED {
        assert!(
            stderr.contains(&format!("{t} ... ok")),
            "{t} did not pass: {report}"
        );
    }
    // The steps' times and each test's result (shown with --nocapture).
    eprintln!("{report}");
}

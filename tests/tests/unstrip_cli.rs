//! `gosyms unstrip` as a command: what it refuses (one line, exit 2, nothing written), that it
//! never changes its input, that it replaces its output whole, and what it says.

mod common;

use common::{matrix_binary, run};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs unstrip and checks it fails with exactly `gosyms: {what}: {problem}`, writing nothing.
fn assert_refused(args: &[&str], out: &Path, what: &str, problem: &str) {
    let r = run(args);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(stderr, format!("gosyms: {what}: {problem}\n"), "{args:?}");
    assert_eq!(r.status.code(), Some(2), "{args:?}");
    assert!(r.stdout.is_empty());
    assert!(
        !out.exists() || out.is_dir(),
        "{args:?} wrote {}",
        out.display()
    );
    // No temporary file left beside the output either.
    if let Some(dir) = out.parent() {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                !name.to_string_lossy().contains(".gosyms-"),
                "{args:?} left {name:?}"
            );
        }
    }
}

fn dir(name: &str) -> PathBuf {
    let d = common::scratch("unstrip-cli").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn pe_and_macho_are_refused() {
    let d = dir("formats");
    let out = d.join("out");
    for (target, format) in [
        ("windows_amd64", "PE"),
        ("windows_386", "PE"),
        ("darwin_arm64", "Mach-O"),
        ("darwin_amd64", "Mach-O"),
    ] {
        let bin = matrix_binary("1.27.3", target, "exe-stripped");
        assert_refused(
            &["unstrip", s(&bin), "-o", s(&out)],
            &out,
            s(&bin),
            &format!("unstrip writes ELF files only; this is a {format} file"),
        );
    }
}

#[test]
fn binaries_with_symbols_or_dwarf_are_refused() {
    let d = dir("unstripped");
    let out = d.join("out");
    let twin = matrix_binary("1.27.3", "linux_amd64", "exe");
    assert_refused(
        &["unstrip", s(&twin), "-o", s(&out)],
        &out,
        s(&twin),
        "already has .symtab: nothing to unstrip",
    );
    // Its own output: the same.
    let bin = matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let once = d.join("once");
    assert!(run(&["unstrip", s(&bin), "-o", s(&once)]).status.success());
    assert_refused(
        &["unstrip", s(&once), "-o", s(&out)],
        &out,
        s(&once),
        "already has .symtab: nothing to unstrip",
    );
}

#[test]
fn the_input_is_never_the_output_nor_changed() {
    let d = dir("input");
    let bin = d.join("prog");
    std::fs::copy(matrix_binary("1.27.3", "linux_amd64", "exe-stripped"), &bin).unwrap();
    let before = std::fs::read(&bin).unwrap();
    assert_refused(
        &["unstrip", s(&bin), "-o", s(&bin)],
        &bin.with_file_name("never-written"),
        s(&bin),
        "refusing to overwrite the input (give another -o)",
    );
    // Through another name for the same file.
    let link = d.join("link");
    std::fs::hard_link(&bin, &link).unwrap();
    let r = run(&["unstrip", s(&bin), "-o", s(&link)]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(std::fs::read(&bin).unwrap(), before);
    // A real run leaves it as it was, and the output keeps its permissions.
    let out = d.join("out");
    let r = run(&["unstrip", s(&bin), "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read(&bin).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&bin));
    let debug = d.join("out.debug");
    assert!(run(&["unstrip", "--debug-only", s(&bin), "-o", s(&debug)])
        .status
        .success());
    assert_eq!(mode(&debug), 0o644);
}

#[test]
fn the_output_is_replaced_whole_or_not_at_all() {
    let d = dir("replace");
    let out = d.join("out");
    std::fs::write(&out, b"old contents").unwrap();
    // A failure leaves the old file.
    let r = run(&["unstrip", "/bin/ls", "-o", s(&out)]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(std::fs::read(&out).unwrap(), b"old contents");
    // Success replaces it.
    let bin = matrix_binary("1.27.3", "linux_amd64", "exe-stripped");
    let r = run(&["unstrip", s(&bin), "-o", s(&out)]);
    assert!(r.status.success());
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x7fELF"));
    // What it says: one line on stderr, nothing on stdout.
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("gosyms: wrote {}: ", out.display()))
            && stderr.contains(" functions in ")
            && stderr.contains(" inlined calls"),
        "{stderr}"
    );
    // An output directory that does not exist: the error names the output.
    let missing = d.join("no/such/dir/out");
    let r = run(&["unstrip", s(&bin), "-o", s(&missing)]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(
        stderr,
        format!(
            "gosyms: {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// The function symbols of `nm -S`: (address, size, name).
fn nm_functions(path: &Path) -> Vec<(String, String, String)> {
    let out = std::process::Command::new(common::tool("nm", "binutils"))
        .args(["-S", "-n"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (f.len() == 4).then(|| (f[0].into(), f[1].into(), f[3].into()))
        })
        .collect()
}

/// An ELF file whose section headers are gone: the symbols go into a `.text` section made over
/// the executable segment; the same symbols as for the intact file, and the same program.
#[test]
fn elf_without_section_headers() {
    let d = dir("no-sections");
    let orig = matrix_binary("1.21.13", "linux_amd64", "exe-stripped");
    let mut data = std::fs::read(&orig).unwrap();
    // ELF64 header: e_shoff at 0x28 (8 bytes), e_shnum at 0x3c, e_shstrndx at 0x3e.
    data[0x28..0x30].fill(0);
    data[0x3c..0x40].fill(0);
    let bare = d.join("bare");
    std::fs::write(&bare, &data).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bare, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (from_bare, from_orig) = (d.join("from-bare"), d.join("from-orig"));
    for (input, out) in [(&bare, &from_bare), (&orig, &from_orig)] {
        let r = run(&["unstrip", s(input), "-o", s(out)]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let syms = nm_functions(&from_bare);
    assert!(syms.len() > 1000);
    assert_eq!(syms, nm_functions(&from_orig));
    let out = std::fs::read(&from_bare).unwrap();
    assert_eq!(out[..0x28], data[..0x28]);
    assert_eq!(out[0x40..data.len()], data[0x40..]);
    let ran = |p: &Path| std::process::Command::new(p).output().unwrap().stdout;
    assert_eq!(ran(&from_bare), ran(&orig));
}

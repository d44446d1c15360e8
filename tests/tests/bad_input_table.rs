//! The bad-input table (`docs/bad-input.md`): for each kind of input that is not a readable Go
//! binary, exactly what `gosyms list` and `gosyms info` say and with which exit code.
//!
//! Every error is one line on stderr, `gosyms: FILE: PROBLEM`, exit code 2, nothing on stdout.
//! Non-Go PE and Mach-O files are built here from a few hundred bytes of headers. The UPX rows
//! need UPX, which testdata/install-toolchains.sh installs (Debian's `upx-ucl`).

mod common;

use common::run;
use pclntab::{Container, GoBinary};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    common::scratch("bad-input-table").join(name)
}

fn write(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `gosyms list FILE`, `gosyms info FILE` and `gosyms unstrip FILE -o OUT` all fail with exactly
/// `gosyms: FILE: {problem}`; unstrip writes nothing.
fn assert_fails(path: &Path, problem: &str) {
    let out_file = scratch("unstrip-output");
    for cmd in ["list", "info", "unstrip"] {
        let out = match cmd {
            "unstrip" => run(&[cmd, s(path), "-o", s(&out_file)]),
            _ => run(&[cmd, s(path)]),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr,
            format!("gosyms: {}: {problem}\n", path.display()),
            "gosyms {cmd} {}",
            path.display()
        );
        assert_eq!(out.status.code(), Some(2), "gosyms {cmd}: {stderr}");
        assert!(out.stdout.is_empty(), "gosyms {cmd}: printed something");
    }
    assert!(!out_file.exists(), "unstrip wrote {}", out_file.display());
}

/// `gosyms list FILE` succeeds and prints what it prints for `want`.
fn assert_lists_like(path: &Path, like: &Path) {
    let got = run(&["list", s(path)]);
    assert!(
        got.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&got.stderr)
    );
    let want = run(&["list", s(like)]);
    assert!(want.status.success());
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&want.stdout),
        "{} lists other functions than {}",
        path.display(),
        like.display()
    );
}

fn matrix(release: &str, target: &str) -> PathBuf {
    common::matrix_binary(release, target, "exe-stripped")
}

/// Where pclntab is in `data` (file offset), its pointer size, and `nfunc`.
fn table_of(data: &[u8]) -> (usize, usize, u64, u64) {
    let bin = GoBinary::parse(data).unwrap();
    let h = bin.table.header;
    (
        bin.table.reader().base() as usize,
        usize::from(h.ptr_size),
        h.nfunc,
        h.pcln_offset,
    )
}

fn put_word(data: &mut [u8], at: usize, size: usize, v: u64) {
    data[at..at + size].copy_from_slice(&v.to_le_bytes()[..size]);
}

// ---------------------------------------------------------------------------------------------
// Files that cannot be read at all.

#[test]
fn empty_file() {
    assert_fails(&write("empty", b""), "empty file");
}

#[test]
fn directory() {
    let dir = scratch("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    assert_fails(&dir, "is a directory");
}

#[test]
fn missing_file() {
    assert_fails(
        &scratch("no-such-file"),
        "No such file or directory (os error 2)",
    );
}

#[test]
fn no_permission() {
    use std::os::unix::fs::PermissionsExt;
    let p = std::fs::read(matrix("1.21.13", "linux_amd64")).unwrap();
    let p = write("no-permission", &p);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    for cmd in ["list", "info"] {
        // root reads anything: drop to nobody to see what a user sees.
        let out = if uid.trim() == "0" {
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(common::gosyms())
                .args([cmd, s(&p)])
                .output()
                .expect("setpriv (util-linux) is needed to test permissions as root")
        } else {
            run(&[cmd, s(&p)])
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("gosyms: {}: Permission denied (os error 13)\n", p.display())
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn not_an_executable_format() {
    assert_fails(
        &write("script", b"#!/bin/sh\necho hello\n"),
        "not an executable (no ELF, PE or Mach-O header)",
    );
    // Shorter than any magic number.
    assert_fails(
        &write("three-bytes", b"\x7fEL"),
        "not an executable (no ELF, PE or Mach-O header)",
    );
}

#[test]
fn go_binary_without_execute_permission_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let orig = matrix("1.21.13", "linux_amd64");
    let p = write("not-executable", &std::fs::read(&orig).unwrap());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    assert_lists_like(&p, &orig);
}

// ---------------------------------------------------------------------------------------------
// Executables that are not Go.

/// A little-endian ELF32 i386 executable: one PT_LOAD with a `ret`.
fn elf32() -> Vec<u8> {
    let mut d = vec![0u8; 0x200];
    d[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    put_word(&mut d, 16, 2, 2); // ET_EXEC
    put_word(&mut d, 18, 2, 3); // EM_386
    put_word(&mut d, 20, 4, 1);
    put_word(&mut d, 24, 4, 0x0804_8100); // e_entry
    put_word(&mut d, 28, 4, 52); // e_phoff
    put_word(&mut d, 40, 2, 52); // e_ehsize
    put_word(&mut d, 42, 2, 32); // e_phentsize
    put_word(&mut d, 44, 2, 1); // e_phnum
    put_word(&mut d, 46, 2, 40); // e_shentsize
    let ph = 52;
    put_word(&mut d, ph, 4, 1); // PT_LOAD
    put_word(&mut d, ph + 8, 4, 0x0804_8000); // p_vaddr
    put_word(&mut d, ph + 12, 4, 0x0804_8000);
    put_word(&mut d, ph + 16, 4, 0x200); // p_filesz
    put_word(&mut d, ph + 20, 4, 0x200);
    put_word(&mut d, ph + 24, 4, 5); // r-x
    d[0x100] = 0xc3;
    d
}

/// A PE executable (PE32+ amd64 or PE32 i386): one `.text` section with a `ret`.
fn pe(is_64: bool) -> Vec<u8> {
    let mut d = vec![0u8; 0x400];
    d[..2].copy_from_slice(b"MZ");
    put_word(&mut d, 0x3c, 4, 0x40);
    d[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    let opt_size = if is_64 { 240 } else { 224 };
    put_word(&mut d, coff, 2, if is_64 { 0x8664 } else { 0x14c });
    put_word(&mut d, coff + 2, 2, 1); // one section
    put_word(&mut d, coff + 16, 2, opt_size);
    put_word(&mut d, coff + 18, 2, 0x22);
    let opt = coff + 20;
    put_word(&mut d, opt, 2, if is_64 { 0x20b } else { 0x10b });
    put_word(&mut d, opt + 16, 4, 0x1000); // AddressOfEntryPoint
    put_word(&mut d, opt + 20, 4, 0x1000); // BaseOfCode
                                           // PE32 has BaseOfData before a 4-byte ImageBase; PE32+ an 8-byte ImageBase.
    if is_64 {
        put_word(&mut d, opt + 24, 8, 0x1_4000_0000);
    } else {
        put_word(&mut d, opt + 28, 4, 0x40_0000);
    }
    put_word(&mut d, opt + 32, 4, 0x1000); // SectionAlignment
    put_word(&mut d, opt + 36, 4, 0x200); // FileAlignment
    put_word(&mut d, opt + 40, 2, 6); // OS version
    put_word(&mut d, opt + 48, 2, 6); // subsystem version
    put_word(&mut d, opt + 56, 4, 0x2000); // SizeOfImage
    put_word(&mut d, opt + 60, 4, 0x200); // SizeOfHeaders
    put_word(&mut d, opt + 68, 2, 3); // console
    let n_dirs = if is_64 { opt + 108 } else { opt + 92 };
    put_word(&mut d, n_dirs, 4, 16);
    let sect = opt + opt_size as usize;
    d[sect..sect + 5].copy_from_slice(b".text");
    put_word(&mut d, sect + 8, 4, 0x10);
    put_word(&mut d, sect + 12, 4, 0x1000);
    put_word(&mut d, sect + 16, 4, 0x200);
    put_word(&mut d, sect + 20, 4, 0x200);
    put_word(&mut d, sect + 36, 4, 0x6000_0020);
    d[0x200] = 0xc3;
    d
}

/// A 64-bit little-endian Mach-O executable for `cputype`: `__PAGEZERO`, a `__TEXT` segment with
/// one `__text` section holding a `ret`, and LC_MAIN.
fn macho(cputype: u32) -> Vec<u8> {
    let mut d = vec![0u8; 0x1000];
    put_word(&mut d, 0, 4, 0xfeed_facf);
    put_word(&mut d, 4, 4, u64::from(cputype));
    put_word(&mut d, 12, 4, 2); // MH_EXECUTE
    put_word(&mut d, 16, 4, 3); // ncmds
    put_word(&mut d, 20, 4, 72 + 152 + 24);
    put_word(&mut d, 24, 4, 0x0020_0085); // flags: NOUNDEFS, DYLDLINK, TWOLEVEL, PIE
    let zero = 32;
    put_word(&mut d, zero, 4, 0x19);
    put_word(&mut d, zero + 4, 4, 72);
    d[zero + 8..zero + 18].copy_from_slice(b"__PAGEZERO");
    put_word(&mut d, zero + 32, 8, 0x1_0000_0000); // vmsize
    let text = zero + 72;
    put_word(&mut d, text, 4, 0x19);
    put_word(&mut d, text + 4, 4, 152);
    d[text + 8..text + 14].copy_from_slice(b"__TEXT");
    put_word(&mut d, text + 24, 8, 0x1_0000_0000); // vmaddr
    put_word(&mut d, text + 32, 8, 0x1000); // vmsize
    put_word(&mut d, text + 48, 8, 0x1000); // filesize
    put_word(&mut d, text + 56, 4, 5); // maxprot r-x
    put_word(&mut d, text + 60, 4, 5); // initprot
    put_word(&mut d, text + 64, 4, 1); // nsects
    let sect = text + 72;
    d[sect..sect + 6].copy_from_slice(b"__text");
    d[sect + 16..sect + 22].copy_from_slice(b"__TEXT");
    put_word(&mut d, sect + 32, 8, 0x1_0000_0800); // addr
    put_word(&mut d, sect + 40, 8, 1); // size
    put_word(&mut d, sect + 48, 4, 0x800); // offset
    put_word(&mut d, sect + 64, 4, 0x8000_0400); // S_ATTR_PURE_INSTRUCTIONS | SOME_INSTRUCTIONS
    let main = text + 152;
    put_word(&mut d, main, 4, 0x8000_0028); // LC_MAIN
    put_word(&mut d, main + 4, 4, 24);
    put_word(&mut d, main + 8, 8, 0x800); // entryoff
    d[0x800] = 0xc3;
    d
}

/// A fat (universal) Mach-O file holding `slices`, each at a 4 KiB boundary.
fn fat(slices: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xcafe_babeu32.to_be_bytes());
    out.extend((slices.len() as u32).to_be_bytes());
    let mut offset = 0x1000u32;
    for (cputype, data) in slices {
        for v in [*cputype, 3, offset, data.len() as u32, 12] {
            out.extend(v.to_be_bytes());
        }
        offset += (data.len() as u32).div_ceil(0x1000) * 0x1000;
    }
    for (_, data) in slices {
        out.resize(out.len().div_ceil(0x1000) * 0x1000, 0);
        out.extend(data);
    }
    out
}

const X86_64: u32 = 0x0100_0007;
const ARM64: u32 = 0x0100_000c;

#[test]
fn non_go_elf() {
    let not_go = "no Go function table found (not a Go binary?)";
    assert_fails(Path::new("/bin/ls"), not_go);
    let p = write("elf32-not-go", &elf32());
    assert_eq!(Container::parse(&elf32(), None).unwrap().arch, "386");
    assert_fails(&p, not_go);
}

#[test]
fn non_go_pe() {
    for is_64 in [true, false] {
        let data = pe(is_64);
        let c = Container::parse(&data, None).unwrap();
        assert_eq!(
            (c.arch, c.ptr_size),
            if is_64 { ("amd64", 8) } else { ("386", 4) }
        );
        let p = write(
            &format!("pe{}-not-go.exe", if is_64 { 64 } else { 32 }),
            &data,
        );
        assert_fails(&p, "no Go function table found (not a Go binary?)");
    }
}

#[test]
fn non_go_macho() {
    let thin = macho(X86_64);
    assert_eq!(Container::parse(&thin, None).unwrap().arch, "amd64");
    assert_fails(
        &write("macho-not-go", &thin),
        "no Go function table found (not a Go binary?)",
    );
    let universal = fat(&[(X86_64, macho(X86_64)), (ARM64, macho(ARM64))]);
    let p = write("fat-not-go", &universal);
    assert_fails(&p, "no Go function table found (not a Go binary?)");
    let out = run(&["list", "--arch", "arm64", s(&p)]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["list", "--arch", "386", s(&p)]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "gosyms: {}: no 386 code in this file (it has: amd64,arm64)\n",
            p.display()
        )
    );
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Go binaries cut short.

/// Cuts `release`/`target` at the start and end of every section and checks each: before the end
/// of the function table, "file cut short" naming the first section that runs past the cut (the
/// section names for ELF, whose section table needs them); after it, the same functions as the
/// whole file. Cuts inside the file's own headers are the container parser's message.
fn truncated_at_each_section(release: &str, target: &str, pclntab_section: &str) {
    let orig = matrix(release, target);
    let data = std::fs::read(&orig).unwrap();
    let c = Container::parse(&data, None).unwrap();
    let end = |s: &pclntab::Section| s.offset.0 + s.file_size;
    let pclntab_end = c
        .sections
        .iter()
        .find(|s| s.name == pclntab_section)
        .map(end)
        // PE: pclntab has no section of its own; it ends with the table's bytes in .rdata.
        .unwrap_or_else(|| {
            let bin = GoBinary::parse(&data).unwrap();
            let t = &bin.table;
            c.sections
                .iter()
                .find(|s| s.offset.0 <= t.reader().base() && t.reader().base() < end(s))
                .map(end)
                .unwrap()
        });
    let names = c.sections.iter().find(|s| s.name == ".shstrtab");
    let mut cuts: Vec<u64> = c
        .sections
        .iter()
        .filter(|s| s.file_size > 0)
        .flat_map(|s| [s.offset.0, end(s)])
        .filter(|at| *at < data.len() as u64)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    assert!(cuts.len() >= 6, "{target}: only {} cuts", cuts.len());
    for at in cuts {
        let p = write(
            &format!("{release}-{target}-cut-{at:x}"),
            &data[..at as usize],
        );
        let len = at;
        let crossing = c
            .sections
            .iter()
            .filter(|s| s.file_size > 0 && end(s) > len)
            .min_by_key(|s| s.offset.0);
        match (names, crossing) {
            (Some(n), _) if end(n) > len => assert_fails(
                &p,
                &format!(
                    "file cut short: section .shstrtab runs to file offset {:#x}, the file ends at {len:#x}",
                    end(n)
                ),
            ),
            (_, Some(s)) if len < pclntab_end => assert_fails(
                &p,
                &format!(
                    "file cut short: section {} runs to file offset {:#x}, the file ends at {len:#x}",
                    s.name,
                    end(s)
                ),
            ),
            _ => assert_lists_like(&p, &orig),
        }
    }
    // Inside the headers: the container parser's words, after "malformed FORMAT file:".
    let format = match c.format {
        pclntab::Format::Elf => "ELF",
        pclntab::Format::Pe => "PE",
        pclntab::Format::MachO => "Mach-O",
    };
    for at in [16, 64] {
        let p = write(&format!("{release}-{target}-cut-{at}"), &data[..at]);
        let out = run(&["list", s(&p)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let prefix = format!("gosyms: {}: malformed {format} file: ", p.display());
        assert!(stderr.starts_with(&prefix), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn truncated_elf_at_each_section() {
    truncated_at_each_section("1.21.13", "linux_amd64", ".gopclntab");
}

#[test]
fn truncated_pe_at_each_section() {
    truncated_at_each_section("1.21.13", "windows_amd64", ".rdata");
}

#[test]
fn truncated_macho_at_each_section() {
    truncated_at_each_section("1.21.13", "darwin_amd64", "__gopclntab");
}

// ---------------------------------------------------------------------------------------------
// Damaged tables.

/// A copy of `orig` with pclntab's magic zeroed and every "gopclntab" (the section's name)
/// overwritten, so that only moduledata leads to the table.
fn without_magic(orig: &Path, name: &str) -> PathBuf {
    let mut data = std::fs::read(orig).unwrap();
    let (at, ..) = table_of(&data);
    data[at..at + 4].fill(0);
    while let Some(i) = data.windows(9).position(|w| w == b"gopclntab") {
        data[i..i + 9].copy_from_slice(b"xxxxxxxxx");
    }
    write(name, &data)
}

#[test]
fn zeroed_magic_is_found_through_moduledata() {
    // ELF: bad_input.rs; here PE (pclntab in .rdata), Mach-O with pclntab in __TEXT (Go 1.27,
    // r-x) and in __DATA_CONST (Go 1.19 arm64, rw- until relocated).
    for (release, target) in [
        ("1.21.13", "windows_amd64"),
        ("1.27.3", "darwin_amd64"),
        ("1.19", "darwin_arm64"),
        ("1.15", "linux_386"),
    ] {
        let orig = matrix(release, target);
        let p = without_magic(&orig, &format!("{release}-{target}-no-magic"));
        assert_lists_like(&p, &orig);
        assert_eq!(
            common::info(&p).unwrap()["pclntab"]["found_by"],
            "moduledata",
            "{release} {target}"
        );
    }
}

#[test]
fn absurd_nfunc() {
    for (release, target) in [
        ("1.21.13", "linux_amd64"),
        ("1.21.13", "windows_amd64"),
        ("1.21.13", "darwin_amd64"),
        ("1.15", "linux_386"),
    ] {
        let data = std::fs::read(matrix(release, target)).unwrap();
        let (at, p, ..) = table_of(&data);
        // Go 1.2-1.15 call it nfunctab, and the file table's offset follows the function table.
        let name = if release == "1.15" {
            "nfunctab"
        } else {
            "nfunc"
        };
        for v in [0xffff_fff0u64, 0] {
            let mut bad = data.clone();
            put_word(&mut bad, at + 8, p, v);
            let path = write(&format!("{release}-{target}-nfunc-{v:x}"), &bad);
            let name = if v == 0 { "nfunc" } else { name };
            assert_fails(
                &path,
                &format!("bad pcHeader.{name} at file offset {:#x}: {v:#x}", at + 8),
            );
        }
    }
}

#[test]
fn table_offset_out_of_range() {
    for target in ["linux_amd64", "windows_amd64", "darwin_amd64"] {
        let mut data = std::fs::read(matrix("1.21.13", target)).unwrap();
        let (at, p, ..) = table_of(&data);
        // pcHeader word 3 (Go 1.18+): funcnameOffset.
        put_word(&mut data, at + 8 + 3 * p, p, 0xff_ffff);
        let path = write(&format!("{target}-funcname-offset"), &data);
        assert_fails(
            &path,
            &format!("bad pcHeader.funcnameOffset at file offset {at:#x}: 0xffffff"),
        );
    }
}

#[test]
fn cyclic_funcoff() {
    // A function table entry whose record would be the function table itself.
    for (release, target) in [
        ("1.21.13", "linux_amd64"),
        ("1.21.13", "windows_amd64"),
        ("1.21.13", "darwin_amd64"),
        ("1.15", "linux_386"),
    ] {
        let mut data = std::fs::read(matrix(release, target)).unwrap();
        let (at, p, _, pcln) = table_of(&data);
        let ftab = at + pcln as usize;
        // Go 1.18+: u32 offsets from the function table; before: words from pclntab.
        let (field, v) = if release == "1.15" { (p, pcln) } else { (4, 0) };
        put_word(&mut data, ftab + field, field, v);
        let path = write(&format!("{release}-{target}-cyclic-funcoff"), &data);
        assert_fails(
            &path,
            &format!("bad functab.funcoff at file offset {ftab:#x}: {v:#x}"),
        );
    }
}

#[test]
fn funcoff_out_of_range() {
    // Function 5's record past the end of the file: list prints the first five functions, then
    // fails; info does not read every record and succeeds.
    let orig = matrix("1.21.13", "linux_amd64");
    let mut data = std::fs::read(&orig).unwrap();
    let (at, _, _, pcln) = table_of(&data);
    let ftab = at + pcln as usize;
    put_word(&mut data, ftab + 5 * 8 + 4, 4, 0xffff_fff0);
    let p = write("funcoff-out-of-range", &data);
    let out = run(&["list", s(&p)]);
    assert_eq!(out.status.code(), Some(2));
    let want = run(&["list", s(&orig)]);
    let first: Vec<&str> = std::str::from_utf8(&want.stdout)
        .unwrap()
        .lines()
        .take(5)
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", first.join("\n"))
    );
    let record = at as u64 + pcln + 0xffff_fff0;
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "gosyms: {}: _func at file offset {record:#x} needs 44 bytes, only 0 remain\n",
            p.display()
        )
    );
    assert!(run(&["info", s(&p)]).status.success());
}

// ---------------------------------------------------------------------------------------------
// Packed.

/// UPX as testdata/install-toolchains.sh installs it (Debian's upx-ucl, unpacked in the cache).
fn upx() -> Command {
    let upx = common::cache().join("tools/upx/usr/bin/upx-ucl");
    assert!(
        upx.exists(),
        "{} is missing: run testdata/install-toolchains.sh (the README test command does)",
        upx.display()
    );
    Command::new(upx)
}

#[test]
fn upx_packed() {
    for (release, target) in [
        ("1.21.13", "linux_amd64"),
        ("1.15", "linux_386"),
        ("1.21.13", "linux_arm64"),
        ("1.21.13", "windows_amd64"),
    ] {
        let orig = matrix(release, target);
        let packed = scratch(&format!("{release}-{target}-upx"));
        let _ = std::fs::remove_file(&packed);
        let out = upx()
            .args(["-q", "-o"])
            .arg(&packed)
            .arg(&orig)
            .output()
            .unwrap();
        assert!(out.status.success(), "upx {}", orig.display());
        assert_fails(&packed, "packed with UPX: unpack it first (e.g. `upx -d`)");
        // As it says: unpacked, it reads as before.
        let unpacked = scratch(&format!("{release}-{target}-unpacked"));
        let _ = std::fs::remove_file(&unpacked);
        let out = upx()
            .args(["-q", "-d", "-o"])
            .arg(&unpacked)
            .arg(&packed)
            .output()
            .unwrap();
        assert!(out.status.success(), "upx -d {}", packed.display());
        assert_lists_like(&unpacked, &orig);
    }
}

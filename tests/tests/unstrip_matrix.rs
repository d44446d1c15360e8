//! `gosyms unstrip` on every stripped ELF binary of the matrix (every release, architecture,
//! executable, PIE and cgo), checked with the same tools on the unstripped twin, without
//! running the binaries:
//! - the output repeats the input byte for byte (but for the ELF header's section-table fields);
//! - `nm` lists every function the twin's `nm` does, with the same address, size and name, and
//!   nothing else (apart from the documented differences, [`name_eq`]);
//! - `addr2line -f -i` gives the same frames as on the twin at every function entry and at a
//!   sample of addresses inside; where Go's own DWARF says something else, the difference must be
//!   one of the known ones ([`Why`]), each checked against an independent truth;
//! - `readelf --debug-dump` reads all the DWARF without a complaint;
//! - `--debug-only` writes the same symbols, in a file `readelf --all` reads without one.

mod common;

use common::{elided_eq, gosyms, tool};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Every `STEP`th byte of each function is looked up besides its entry.
const STEP: u64 = 61;

/// A function symbol as binutils' `nm -S` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sym {
    addr: u64,
    size: u64,
    name: String,
}

/// The text symbols (`T`, `t`) of `nm -S` with a size.
fn nm(path: &Path) -> Result<Vec<Sym>, String> {
    let out = Command::new(tool("nm", "binutils"))
        .arg("-S")
        .arg(path)
        .output()
        .expect("run nm");
    if !out.status.success() {
        return Err(format!(
            "nm {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // `ADDR SIZE KIND NAME`, or `ADDR KIND NAME` for symbols without a size (markers).
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(' ')?;
            let (size, rest) = match rest.split_once(' ')? {
                (k, _) if k.len() == 1 => ("0", rest),
                (s, rest) => (s, rest),
            };
            let (kind, name) = rest.split_once(' ')?;
            if !matches!(kind, "T" | "t") {
                return None;
            }
            Some(Sym {
                addr: u64::from_str_radix(addr, 16).ok()?,
                size: u64::from_str_radix(size, 16).ok()?,
                name: name.to_string(),
            })
        })
        .collect())
}

/// Whether our symbol name is the twin's: the same, or
/// - without `.abi0`: the symbol table marks an assembly function's ABI0 name when an ABI wrapper
///   of the same name was in the link, which pclntab does not record unless the wrapper was kept;
/// - with type arguments elided to `[...]` (Go 1.18 and 1.19 pclntab, [`elided_eq`]).
fn name_eq(ours: &str, theirs: &str) -> bool {
    let theirs = theirs.strip_suffix(".abi0").unwrap_or(theirs);
    let ours = ours.strip_suffix(".abi0").unwrap_or(ours);
    ours == theirs || elided_eq(ours, theirs)
}

/// `addr2line -a -f -i` (binutils) or `llvm-symbolizer --inlines`: the lines it prints for each
/// address (function, file:line, then the same for each frame the code is inlined into).
fn symbolize(path: &Path, addrs: &[u64], llvm: bool) -> HashMap<u64, Vec<String>> {
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let text = if llvm {
        common::pipe(
            Command::new(tool("llvm-symbolizer", "llvm"))
                .arg("--inlines")
                .arg(format!("--obj={}", path.display())),
            input.as_bytes(),
        )
    } else {
        common::pipe(
            Command::new(tool("addr2line", "binutils"))
                .args(["-a", "-f", "-i", "-e"])
                .arg(path),
            input.as_bytes(),
        )
    };
    let mut out: HashMap<u64, Vec<String>> = HashMap::new();
    if llvm {
        // One block per address, in order, blocks separated by an empty line; columns dropped.
        for (block, addr) in text.split("\n\n").zip(addrs) {
            let lines = block
                .lines()
                .map(|l| match l.rsplit_once(':') {
                    Some((fl, col)) if col.chars().all(|c| c.is_ascii_digit()) => fl.to_string(),
                    _ => l.to_string(),
                })
                .collect();
            out.insert(*addr, lines);
        }
    } else {
        let mut cur = None;
        for l in text.lines() {
            if let Some(hex) = l.strip_prefix("0x") {
                let a = u64::from_str_radix(hex, 16).unwrap_or(u64::MAX);
                out.insert(a, Vec::new());
                cur = Some(a);
            } else if let Some(v) = cur.and_then(|a| out.get_mut(&a)) {
                v.push(l.to_string());
            }
        }
    }
    out
}

/// Function names compare with [`name_eq`], file:line exactly.
fn same_frames(ours: &[String], theirs: &[String]) -> bool {
    ours.len() == theirs.len()
        && ours
            .iter()
            .zip(theirs)
            .enumerate()
            .all(|(i, (a, b))| if i % 2 == 0 { name_eq(a, b) } else { a == b })
}

/// Why unstrip's answer at an address differs from the twin's, when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Why {
    /// binutils 2.40 cannot read Go's own DWARF here (Go 1.25+ writes DWARF 5, whose line tables
    /// it reads as `go.go:?`; 32-bit range lists of earlier releases put inlined calls at wrong
    /// addresses), and LLVM's reader gives the same frames on the twin as on unstrip's output,
    /// whose innermost line binutils reads as LLVM does.
    BinutilsMisreadsGo,
    /// A call-site line of Go's DWARF is past the end of its source file (cgo's rewritten files);
    /// unstrip's, from pclntab, is in it, and every other line is the same.
    TwinLinePastEnd,
    /// The address is in code a compiler-generated wrapper inlined: pclntab's inline tree has the
    /// call, Go's DWARF does not (the compiler writes no inlining records for wrappers).
    WrapperInline,
    /// Go's DWARF line table puts the address on another line than pclntab, and unstrip's line
    /// is `go tool addr2line`'s (pclntab, what the runtime says too).
    LineFromPclntab,
    /// Neither knows a line (trampolines and other code without line tables).
    NoLine,
}

fn explain(
    ours: &[String],
    theirs: &[String],
    llvm: Option<(&Vec<String>, &Vec<String>)>,
    go_line: Option<&str>,
) -> Option<Why> {
    let no_line = |l: Option<&String>| l.is_none_or(|l| l.ends_with(":?") || l.ends_with(":0"));
    let go_none = go_line.is_none_or(|l| l.ends_with(":0") || l.ends_with(":-1"));
    if no_line(ours.get(1)) && no_line(theirs.get(1)) && go_none {
        return Some(Why::NoLine);
    }
    if let Some((lo, lt)) = llvm {
        if same_frames(lo, lt) && ours.get(1) == lt.get(1) {
            return Some(Why::BinutilsMisreadsGo);
        }
    }
    let past_end = |line: &str| -> Option<bool> {
        let (file, n) = line.rsplit_once(':')?;
        let n: usize = n.parse().ok()?;
        let text = std::fs::read_to_string(file).ok()?;
        Some(n > text.lines().count())
    };
    let call_lines_differ = ours.len() == theirs.len()
        && ours.iter().zip(theirs).enumerate().all(|(i, (a, b))| {
            a == b
                || (i % 2 == 0 && name_eq(a, b))
                || (i > 1 && i % 2 == 1 && past_end(b) == Some(true) && past_end(a) == Some(false))
        });
    if call_lines_differ {
        return Some(Why::TwinLinePastEnd);
    }
    // Go's DWARF names the wrapper and gives the innermost line; unstrip adds the calls the
    // wrapper inlined, the outermost at the wrapper's `<autogenerated>:1`.
    let wrapper_call = ours
        .last()
        .is_some_and(|l| l.ends_with("<autogenerated>:1"));
    let outer = ours.len().checked_sub(2).and_then(|i| ours.get(i));
    if wrapper_call
        && theirs.len() == 2
        && outer
            .zip(theirs.first())
            .is_some_and(|(a, b)| name_eq(a, b))
        && ours.get(1) == theirs.get(1)
    {
        return Some(Why::WrapperInline);
    }
    // binutils puts relative file names (`<autogenerated>`) under the unit's directory, `.`.
    let ours_line = ours.get(1).map(|l| l.strip_prefix("./").unwrap_or(l));
    if ours_line.is_some() && ours_line == go_line && ours.get(1) != theirs.get(1) {
        return Some(Why::LineFromPclntab);
    }
    None
}

/// `go tool addr2line` (the newest toolchain's: it reads every release's tables) on `path`:
/// file:line per address.
fn go_addr2line(path: &Path, addrs: &[u64]) -> HashMap<u64, String> {
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let out = common::pipe(
        common::go("1.27.3").args(["tool", "addr2line"]).arg(path),
        input.as_bytes(),
    );
    let lines: Vec<&str> = out.lines().collect();
    addrs
        .iter()
        .zip(lines.chunks(2))
        .filter_map(|(a, l)| Some((*a, l.get(1)?.to_string())))
        .collect()
}

/// The bytes of `out` that must equal `input`'s: all of `input` but the ELF header's `e_shoff`,
/// `e_shentsize`, `e_shnum` and `e_shstrndx`.
fn first_difference(input: &[u8], out: &[u8]) -> Option<usize> {
    let is_64 = input.get(4) == Some(&2);
    let allowed: &[(usize, usize)] = if is_64 {
        &[(0x28, 0x30), (0x3a, 0x40)]
    } else {
        &[(0x20, 0x24), (0x2e, 0x34)]
    };
    if out.len() < input.len() {
        return Some(out.len());
    }
    input
        .iter()
        .zip(out)
        .enumerate()
        .find(|(i, (a, b))| a != b && !allowed.iter().any(|(s, e)| i >= s && i < e))
        .map(|(i, _)| i)
}

#[derive(Default)]
struct Tally {
    binaries: usize,
    functions: usize,
    addresses: usize,
    why: HashMap<Why, usize>,
}

fn check(row: &gosyms_tests::MatrixBinary, dir: &Path, tally: &Mutex<Tally>) -> Vec<String> {
    let mut problems = Vec::new();
    let name = row.label().replace(['/', ' '], "_");
    let out = dir.join(&name);
    let debug = dir.join(format!("{name}.debug"));
    for (mode, path) in [(None, &out), (Some("--debug-only"), &debug)] {
        let mut cmd = Command::new(gosyms());
        cmd.arg("unstrip").arg(&row.path).arg("-o").arg(path);
        cmd.args(mode);
        let r = cmd.output().expect("run gosyms");
        if !r.status.success() {
            return vec![format!(
                "unstrip {}: {}",
                mode.unwrap_or(""),
                String::from_utf8_lossy(&r.stderr).trim()
            )];
        }
    }
    let input = std::fs::read(&row.path).expect("read input");
    let output = std::fs::read(&out).expect("read output");
    if let Some(at) = first_difference(&input, &output) {
        problems.push(format!(
            "output differs from the input at file offset {at:#x}"
        ));
    }

    // Symbols.
    let (ours, theirs, debug_syms) = match (nm(&out), nm(&row.twin), nm(&debug)) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => return vec![format!("nm: {:?} {:?} {:?}", a.err(), b.err(), c.err())],
    };
    if debug_syms != ours {
        problems.push("the --debug-only file's symbols differ from the binary's".into());
    }
    let find = |n: &str| theirs.iter().find(|s| s.name == n).map(|s| s.addr);
    let go_text = (
        find("runtime.text").unwrap_or(0),
        find("runtime.etext").unwrap_or(u64::MAX),
    );
    let mut by_addr: HashMap<u64, Vec<&Sym>> = HashMap::new();
    for s in &theirs {
        by_addr.entry(s.addr).or_default().push(s);
    }
    let mut matched = 0;
    // Sizes that differ are checked once addr2line has said which functions have no lines.
    let mut longer = Vec::new();
    for s in &ours {
        let hit = by_addr
            .get(&s.addr)
            .and_then(|at| at.iter().find(|t| name_eq(&s.name, &t.name)).copied());
        match hit {
            Some(t) if t.size == s.size => matched += 1,
            Some(t) if t.size < s.size => longer.push((s, t.size)),
            Some(t) => problems.push(format!(
                "{} at {:#x}: size {} but the twin's nm says {}",
                s.name, s.addr, s.size, t.size
            )),
            None => problems.push(format!(
                "{} at {:#x}: not a function in the twin's nm",
                s.name, s.addr
            )),
        }
    }
    // Every Go function of the twin is there (text markers and the build ID are not functions).
    for t in theirs
        .iter()
        .filter(|t| t.addr >= go_text.0 && t.addr < go_text.1)
    {
        let marker = t.name.starts_with("runtime.text")
            || t.name == "runtime.etext"
            || t.name == "go:buildid"
            || t.name == "go.buildid"
            || t.name.ends_with("(.text)");
        let ours_too = ours
            .iter()
            .any(|s| s.addr == t.addr && name_eq(&s.name, &t.name));
        if !marker && !ours_too {
            problems.push(format!("the twin's {} at {:#x} is missing", t.name, t.addr));
        }
    }

    // DWARF readable; the debug file's headers too.
    for (path, args) in [
        (&out, "--debug-dump=info,line,frames,ranges"),
        (&debug, "--all"),
    ] {
        let re = Command::new(tool("readelf", "binutils"))
            .arg(args)
            .arg(path)
            .output()
            .expect("run readelf");
        let complaint = String::from_utf8_lossy(&re.stderr);
        if !re.status.success() || !complaint.trim().is_empty() {
            problems.push(format!(
                "readelf {args} {}: {}",
                path.display(),
                complaint.lines().next().unwrap_or("failed")
            ));
        }
    }

    // addr2line at every entry and inside.
    let mut addrs = Vec::new();
    for s in &ours {
        addrs.push(s.addr);
        addrs.extend((1..s.size).step_by(STEP as usize).map(|o| s.addr + o));
    }
    let a = symbolize(&out, &addrs, false);
    // Code without pc-value tables (C code linked into cgo binaries, linker trampolines and
    // markers): no line, and its size runs to the next function, as `gosyms list` says.
    for (s, size) in longer {
        let no_line = a
            .get(&s.addr)
            .and_then(|l| l.get(1))
            .is_some_and(|l| l == "??:?" || l.ends_with(":0"));
        if no_line {
            matched += 1;
        } else {
            problems.push(format!(
                "{} at {:#x}: size {} but the twin's nm says {size}",
                s.name, s.addr, s.size
            ));
        }
    }
    let b = symbolize(&row.twin, &addrs, false);
    let differ: Vec<u64> = addrs
        .iter()
        .copied()
        .filter(|x| !same_frames(&a[x], &b[x]))
        .collect();
    let mut why: HashMap<Why, usize> = HashMap::new();
    if !differ.is_empty() {
        let la = symbolize(&out, &differ, true);
        let lb = symbolize(&row.twin, &differ, true);
        let go = go_addr2line(&row.twin, &differ);
        for x in &differ {
            let llvm = la.get(x).zip(lb.get(x));
            match explain(&a[x], &b[x], llvm, go.get(x).map(String::as_str)) {
                Some(w) => *why.entry(w).or_default() += 1,
                None => problems.push(format!(
                    "addr2line {x:#x}: {:?}, on the twin {:?} (go tool addr2line: {:?})",
                    a[x],
                    b[x],
                    go.get(x)
                )),
            }
        }
    }
    let mut t = tally.lock().unwrap();
    t.binaries += 1;
    t.functions += matched;
    t.addresses += addrs.len();
    for (w, n) in why {
        *t.why.entry(w).or_default() += n;
    }
    drop(t);
    if problems.is_empty() {
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&debug);
    }
    problems
}

#[test]
fn matrix_elf_binaries_unstrip_like_their_twins() {
    let rows: Vec<_> = gosyms_tests::matrix()
        .into_iter()
        .filter(|r| r.stripped && r.goos == "linux")
        .collect();
    assert!(
        rows.len() > 100,
        "only {} stripped ELF binaries",
        rows.len()
    );
    let dir: PathBuf = common::scratch("unstrip-matrix");
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(row) = rows.get(i) else { break };
                let problems = check(row, &dir, &tally);
                if !problems.is_empty() {
                    let mut msg = format!("{}: {} problem(s)\n", row.label(), problems.len());
                    for p in problems.iter().take(6) {
                        msg.push_str(&format!("    {p}\n"));
                    }
                    failures.lock().unwrap().push(msg);
                }
            });
        }
    });
    let t = tally.into_inner().unwrap();
    let mut why: Vec<_> = t.why.iter().collect();
    why.sort();
    eprintln!(
        "unstripped {} binaries: {} functions as in the twins' nm; {} addresses, differing from Go's DWARF: {why:?}",
        t.binaries, t.functions, t.addresses
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} binaries:\n{}",
        failures.len(),
        rows.len(),
        failures.concat()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

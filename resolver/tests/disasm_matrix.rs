//! `disasm::scan` on every function of the test matrix (`testdata/build-matrix.sh`), checked
//! against `go tool objdump` of the binary's unstripped twin, run with the toolchain that built it.
//!
//! For each function that pclntab finds in the stripped binary, the code is scanned and compared
//! with what objdump shows in `[entry, end)`:
//! 1. `returns` is exactly the set of return instructions (amd64/386 `RET`, `RET $n`; arm64 `RET`;
//!    arm `RET #n`, `POP [.., R15]`, `MOVW.P (R13)(Rn), R15`, `ADD $0, R14, R15`);
//! 2. `after_stack_check` is the address just past the last conditional branch to the block that
//!    calls `runtime.morestack*`, for the functions that call it, and `None` for the others;
//! 3. `tail_calls` is exactly the set of direct branches whose target is outside the function,
//!    and `indirect_jumps` the set of jumps through a register or memory (arm64 `RET Rn`,
//!    `JMP (Rn)`; x86 `JMP reg`/`JMP mem`; arm writes to R15 that are not returns);
//! 4. `scan` decodes the whole function without an error.
//!
//! Binaries: linux exe and pie, windows and darwin exe, for amd64, arm64 (no windows), 386 (no
//! darwin) and arm (linux), built by every toolchain of the matrix.
//!
//! On arm and arm64, words that objdump's own listing shows being loaded PC-relative
//! (`MOVW off(R15), Rn`, `MOVD n(PC), Rn`) are literal-pool data, not instructions, and so are
//! the words between such a pool and the last instruction before it that does not fall through.
//! On x86, objdump cannot decode some instructions (AVX-512 in Go 1.26+
//! `internal/runtime/gc/scan`, printed `?`) and Go 1.27's objdump reads `VZEROUPPER` as 4 or 5
//! bytes; its listing is out of step after either, so those functions are checked only up to
//! there (the `partial` column). The symbols in [`NOT_CODE`] are data and are not checked.
//!
//! Run with `--nocapture` to see the counts per architecture and toolchain.
// A test reports by panicking; clippy.toml allows this only inside #[test] functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pclntab::{GoBinary, Kind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use resolver::disasm;

use gosyms_tests::cache;

type Row = gosyms_tests::MatrixBinary;

/// The stripped binaries to check, read from the matrix manifest.
fn rows() -> Vec<Row> {
    let path = cache().join("matrix/manifest.tsv");
    let rows: Vec<Row> = gosyms_tests::matrix()
        .into_iter()
        .filter(|r| {
            ["amd64", "arm64", "386", "arm"].contains(&r.goarch.as_str())
                && match r.goos.as_str() {
                    "linux" => ["exe-stripped", "pie-stripped"].contains(&r.variant.as_str()),
                    // PIE changes nothing in their code that linux/pie does not already cover.
                    "windows" | "darwin" => r.variant == "exe-stripped",
                    _ => false,
                }
        })
        .collect();
    // Every toolchain, for each architecture, or the matrix is incomplete.
    let linux = |arch: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.goarch == arch && r.goos == "linux")
            .map(|r| r.release.clone())
            .collect()
    };
    let all = linux("amd64");
    for arch in ["amd64", "arm64", "386", "arm"] {
        let have = linux(arch);
        assert!(
            all.len() >= 9 && have == all,
            "{}: linux/{arch} built by {have:?}, expected all of {all:?} (at least 9 releases); \
             rebuild the matrix with `bash testdata/build-matrix.sh`",
            path.display()
        );
    }
    rows
}

/// One instruction of objdump's listing, borrowed from its output.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    hex: &'a str,
    asm: &'a str,
}

/// objdump's listing of a whole binary: instructions in address order, and symbol entries by name.
struct Listing<'a> {
    insns: Vec<(u64, Line<'a>)>,
    symbols: HashMap<&'a str, u64>,
}

impl<'a> Listing<'a> {
    /// The instructions in `[start, end)`.
    fn range(&self, start: u64, end: u64) -> &[(u64, Line<'a>)] {
        let lo = self.insns.partition_point(|(a, _)| *a < start);
        let hi = self.insns.partition_point(|(a, _)| *a < end);
        &self.insns[lo..hi.max(lo)]
    }
}

/// Runs `go tool objdump` on the unstripped twin; its output.
fn objdump(row: &Row) -> String {
    let root = cache().join("go").join(&row.release);
    let mut cmd = Command::new(root.join("bin/go"));
    cmd.args(["tool", "objdump"])
        .arg(&row.twin)
        .env("GOROOT", &root)
        .env("GOCACHE", cache().join("gocache").join(&row.release))
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off");
    let shown = format!(
        "GOROOT={0} {0}/bin/go tool objdump {1}",
        root.display(),
        row.twin.display()
    );
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{shown}: {e}: install the toolchains with testdata/install-toolchains.sh")
    });
    assert!(
        out.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{shown}: output is not UTF-8: {e}"))
}

/// Parses `TEXT name(SB) file` headers and `  file:line\t0xADDR\tHEX\tASM` lines.
fn parse_listing(text: &str) -> Listing<'_> {
    let mut insns = Vec::new();
    let mut symbols = HashMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("TEXT ") {
            current = Some(match rest.rfind("(SB) ") {
                Some(i) => &rest[..i],
                None => rest.strip_suffix("(SB)").unwrap_or(rest),
            });
            continue;
        }
        if !line.starts_with("  ") {
            continue;
        }
        let mut f = line.split('\t').filter(|s| !s.is_empty());
        let (Some(_), Some(addr), Some(hex)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(addr) = addr
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            continue;
        };
        if let Some(name) = current.take() {
            symbols.entry(name).or_insert(addr);
        }
        let asm = f.next().map_or("", str::trim);
        insns.push((
            addr,
            Line {
                hex: hex.trim(),
                asm,
            },
        ));
    }
    insns.sort_by_key(|(a, _)| *a);
    Listing { insns, symbols }
}

/// What objdump's listing says about one function.
#[derive(Debug, Default)]
struct Truth {
    returns: Vec<u64>,
    tail_calls: Vec<u64>,
    indirect_jumps: Vec<u64>,
    after_stack_check: Option<u64>,
    /// The listing is reliable only below this address (x86 after a `?`).
    reliable_until: u64,
    /// Problems with the listing itself.
    problems: Vec<String>,
}

/// A branch target as objdump prints it: `0x47f148`, `21(PC)` (arm64, in words), `name(SB)` or
/// `name+0x10(SB)`.
fn branch_target(
    arch: &str,
    addr: u64,
    operand: &str,
    symbols: &HashMap<&str, u64>,
) -> Result<u64, String> {
    if let Some(h) = operand.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).map_err(|e| format!("{operand}: {e}"));
    }
    if arch == "arm64" {
        if let Some(n) = operand.strip_suffix("(PC)") {
            let n: i64 = n.parse().map_err(|e| format!("{operand}: {e}"))?;
            return Ok(addr.wrapping_add_signed(4 * n));
        }
    }
    let sym = operand
        .strip_suffix("(SB)")
        .ok_or_else(|| format!("unknown target {operand:?}"))?;
    let (name, off) = match sym.rsplit_once('+') {
        Some((n, o)) => {
            let off = match o.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => o.parse().ok(),
            };
            match off {
                Some(off) => (n, off),
                None => (sym, 0),
            }
        }
        None => (sym, 0),
    };
    symbols
        .get(name)
        .map(|e| e + off)
        .ok_or_else(|| format!("unknown symbol {name:?}"))
}

/// The mnemonic and the operand text of an instruction.
fn split(asm: &str) -> (&str, &str) {
    asm.split_once(' ').unwrap_or((asm, ""))
}

const ARM_CONDS: &[&str] = &[
    ".EQ", ".NE", ".CS", ".HS", ".CC", ".LO", ".MI", ".PL", ".VS", ".VC", ".HI", ".LS", ".GE",
    ".LT", ".GT", ".LE",
];

fn arm_conditional(mnemonic: &str) -> bool {
    ARM_CONDS.iter().any(|c| mnemonic.contains(c))
}

/// How an instruction of the listing transfers control.
enum Transfer {
    Next,
    Return,
    Call,
    Branch { target: u64, conditional: bool },
    Indirect,
}

fn classify(
    arch: &str,
    addr: u64,
    l: &Line,
    symbols: &HashMap<&str, u64>,
) -> Result<Transfer, String> {
    let (m, ops) = split(l.asm);
    Ok(match arch {
        "amd64" | "386" => match m {
            "RET" | "RETF" | "LRET" => Transfer::Return,
            "CALL" | "LCALL" => Transfer::Call,
            _ if m.starts_with('J') || m.starts_with("LOOP") => {
                // A direct target is `0x47f148` or `name(SB)`; anything else (`CX`,
                // `0(AX)(CX*8)`) is a register or memory operand.
                if ops.starts_with("0x") || ops.ends_with("(SB)") && !ops.contains("(SB)(") {
                    Transfer::Branch {
                        target: branch_target(arch, addr, ops, symbols)?,
                        conditional: m != "JMP",
                    }
                } else if m == "JMP" || m == "LJMP" {
                    Transfer::Indirect
                } else {
                    return Err(format!("unknown branch {:?}", l.asm));
                }
            }
            _ => Transfer::Next,
        },
        "arm64" => match m {
            "RET" if ops.is_empty() || ops == "R30" => Transfer::Return,
            "RET" => Transfer::Indirect,
            "CALL" => Transfer::Call,
            "JMP" if ops.starts_with('(') => Transfer::Indirect,
            _ => {
                let target_text = match m {
                    "CBZ" | "CBNZ" | "CBZW" | "CBNZW" => ops.split_once(", ").map(|x| x.1),
                    "TBZ" | "TBNZ" => ops.splitn(3, ", ").nth(2),
                    "JMP" | "BEQ" | "BNE" | "BCS" | "BHS" | "BCC" | "BLO" | "BMI" | "BPL"
                    | "BVS" | "BVC" | "BHI" | "BLS" | "BGE" | "BLT" | "BGT" | "BLE" => Some(ops),
                    _ => None,
                };
                match target_text {
                    Some(t) => Transfer::Branch {
                        target: branch_target(arch, addr, t, symbols)?,
                        conditional: m != "JMP",
                    },
                    None => Transfer::Next,
                }
            }
        },
        "arm" => {
            let base = m.split('.').next().unwrap_or(m);
            let is_return = match base {
                "RET" => true,
                "POP" => ops.contains("R15"),
                "MOVW" => {
                    m.starts_with("MOVW.P") && ops.starts_with("(R13)(") && ops.ends_with(", R15")
                        || ops == "R14, R15"
                }
                "ADD" => ops == "$0, R14, R15",
                "BX" => ops == "(R14)" || ops == "R14",
                _ => false,
            };
            let writes_pc = || {
                !matches!(base, "CMP" | "CMN" | "TST" | "TEQ")
                    && !base.starts_with("STR")
                    && !base.starts_with("STM")
                    && !base.starts_with("PUSH")
                    && (ops.ends_with(", R15")
                        || (base == "POP" || base.starts_with("LDM")) && ops.contains("R15")
                        || base == "BX")
            };
            match base {
                "B" => Transfer::Branch {
                    target: branch_target(arch, addr, ops, symbols)?,
                    conditional: arm_conditional(m),
                },
                "BL" | "BLX" => Transfer::Call,
                _ if is_return && !arm_conditional(m) => Transfer::Return,
                _ if is_return || writes_pc() => Transfer::Indirect,
                _ => Transfer::Next,
            }
        }
        _ => unreachable!("{arch}"),
    })
}

/// The words a PC-relative load at `addr` reads, from objdump's text: arm `MOVW off(R15), Rn`,
/// arm64 `MOVD n(PC), Rn` (and the other widths).
fn literal(arch: &str, addr: u64, l: &Line) -> Option<(u64, u64)> {
    let (m, ops) = split(l.asm);
    let (src, _) = ops.split_once(", ")?;
    match arch {
        "arm" => {
            let base = m.split('.').next().unwrap_or(m);
            if base != "MOVW" || m.contains(".P") || m.contains(".W") {
                return None;
            }
            let off = src.strip_suffix("(R15)")?;
            let off = if off.is_empty() {
                0
            } else if let Some(h) = off.strip_prefix("-0x") {
                -i64::from_str_radix(h, 16).ok()?
            } else if let Some(h) = off.strip_prefix("0x") {
                i64::from_str_radix(h, 16).ok()?
            } else {
                off.parse().ok()?
            };
            Some((addr.wrapping_add_signed(8 + off), 4))
        }
        "arm64" => {
            let n: i64 = src.strip_suffix("(PC)")?.parse().ok()?;
            let len = match m {
                "MOVWU" | "MOVW" | "FMOVS" => 4,
                "MOVD" | "FMOVD" => 8,
                "FMOVQ" => 16,
                _ => return None,
            };
            Some((addr.wrapping_add_signed(4 * n), len))
        }
        _ => None,
    }
}

/// Whether objdump's x86 decoder lost its step at this instruction: it printed `?` (it does not
/// know AVX-512), or it took `VZEROUPPER` (C5 F8 77) for more than 3 bytes, swallowing the start
/// of the next instruction (Go 1.27's objdump does, e.g. the `RET` after it in `memeqbody`).
fn objdump_lost_step(l: &Line) -> bool {
    l.asm == "?" || l.asm == "VZEROUPPER" && l.hex != "c5f877"
}

fn is_morestack_call(asm: &str) -> bool {
    let Some(t) = asm
        .strip_prefix("CALL runtime.morestack")
        .or_else(|| asm.strip_prefix("BL runtime.morestack"))
    else {
        return false;
    };
    let t = t.strip_suffix("(SB)").unwrap_or("-");
    let t = t.strip_suffix(".abi0").unwrap_or(t);
    ["", "_noctxt", "c"].contains(&t)
}

fn truth(arch: &str, listing: &Listing, entry: u64, end: u64) -> Truth {
    let mut t = Truth {
        reliable_until: end,
        ..Truth::default()
    };
    let lines = listing.range(entry, end);
    match lines.first() {
        Some((a, _)) if *a == entry => {}
        _ => {
            t.problems.push(format!(
                "objdump lists no instruction at the entry {entry:#x}"
            ));
            return t;
        }
    }
    // Literal pools.
    let mut pool = BTreeSet::new();
    for (a, l) in lines {
        if pool.contains(a) {
            continue;
        }
        if let Some((at, len)) = literal(arch, *a, l) {
            let mut w = at;
            while w < at + len {
                if (entry..end).contains(&w) {
                    pool.insert(w);
                }
                w += 4;
            }
        }
    }
    let mut kinds = Vec::new();
    for (a, l) in lines {
        if pool.contains(a) {
            kinds.push((*a, Transfer::Next));
            continue;
        }
        if matches!(arch, "amd64" | "386") && objdump_lost_step(l) {
            t.reliable_until = *a;
            break;
        }
        match classify(arch, *a, l, &listing.symbols) {
            Ok(k) => kinds.push((*a, k)),
            Err(e) => {
                t.problems.push(format!("{a:#x} {:?}: {e}", l.asm));
                kinds.push((*a, Transfer::Next));
            }
        }
    }
    // Code cannot fall through into a pool: the words before one, back to the last instruction
    // that does not fall through, are unreferenced pool words (or a `B .` before the pool).
    for k in (1..kinds.len()).rev() {
        let falls_through = matches!(
            kinds[k - 1].1,
            Transfer::Next
                | Transfer::Call
                | Transfer::Branch {
                    conditional: true,
                    ..
                }
        );
        if pool.contains(&kinds[k].0) && falls_through {
            pool.insert(kinds[k - 1].0);
            kinds[k - 1].1 = Transfer::Next;
        }
    }
    for (a, k) in &kinds {
        match k {
            Transfer::Return => t.returns.push(*a),
            Transfer::Indirect => t.indirect_jumps.push(*a),
            Transfer::Branch { target, .. } if !(entry..end).contains(target) => {
                t.tail_calls.push(*a)
            }
            _ => {}
        }
    }
    // The stack check: conditional branches to the run of straight-line code that ends in the
    // call of morestack.
    if let Some(ci) = lines
        .iter()
        .position(|(a, l)| *a < t.reliable_until && is_morestack_call(l.asm))
    {
        let call = lines[ci].0;
        // Where the block can start: the straight-line instructions just before the call.
        let mut first = ci;
        while first > 0 && matches!(kinds.get(first - 1), Some((_, Transfer::Next))) {
            first -= 1;
        }
        let block: BTreeSet<u64> = lines[first..=ci].iter().map(|(a, _)| *a).collect();
        let mut after = None;
        for (k, (_, kind)) in kinds.iter().enumerate().take(ci) {
            if let Transfer::Branch {
                target,
                conditional: true,
            } = kind
            {
                if block.contains(target) {
                    after = Some(lines[k + 1].0);
                }
            }
        }
        if after.is_none() {
            t.problems.push(format!(
                "no conditional branch to the morestack call at {call:#x}"
            ));
        }
        t.after_stack_check = after;
    }
    t
}

/// Symbols in pclntab that are not code: the build ID string at the start of the text (darwin,
/// windows) and the one-byte markers around the FIPS 140 module (Go 1.24+).
const NOT_CODE: &[&str] = &[
    "go.buildid",
    "go:buildid",
    "go:textfipsstart",
    "go:textfipsend",
];

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    binaries: usize,
    not_code: usize,
    functions: usize,
    partial: usize,
    returns: usize,
    stack_checks: usize,
    tail_calls: usize,
    indirect: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.binaries += o.binaries;
        self.not_code += o.not_code;
        self.functions += o.functions;
        self.partial += o.partial;
        self.returns += o.returns;
        self.stack_checks += o.stack_checks;
        self.tail_calls += o.tail_calls;
        self.indirect += o.indirect;
    }
}

fn below(v: &[u64], limit: u64) -> Vec<u64> {
    v.iter().copied().filter(|a| *a < limit).collect()
}

fn hex(v: &[u64]) -> String {
    let s: Vec<String> = v.iter().map(|a| format!("{a:#x}")).collect();
    format!("[{}]", s.join(" "))
}

/// Checks one binary; returns its counts and its mismatches.
fn check(row: &Row) -> (Counts, Vec<String>) {
    let text = objdump(row);
    let listing = parse_listing(&text);
    let map =
        pclntab::map_file(&row.path).unwrap_or_else(|e| panic!("{}: {e}", row.path.display()));
    let bin = GoBinary::parse(&map).unwrap_or_else(|e| panic!("{}: {e}", row.path.display()));
    let minor = bin
        .go_minor()
        .unwrap_or_else(|| panic!("{}: no Go version", row.path.display()));
    let arch = row.goarch.as_str();
    let mut counts = Counts {
        binaries: 1,
        ..Counts::default()
    };
    let mut bad = Vec::new();
    let tag = format!("{} {}/{} {}", row.release, row.goos, arch, row.variant);
    let mut funcs = bin.functions();
    while let Some(f) = funcs.next().unwrap_or_else(|e| panic!("{tag}: {e}")) {
        let (entry, end) = (f.entry.0, f.end.0);
        let code = bin
            .container
            .bytes_at("function code", f.entry, f.size())
            .unwrap_or_else(|e| panic!("{tag} {}: {e}", f.name));
        let regabi = f.kind != Kind::Asm
            && match arch {
                "amd64" => minor >= 17,
                "arm64" => minor >= 18,
                _ => false,
            };
        let name = format!("{tag} {} [{entry:#x}, {end:#x})", f.name);
        if NOT_CODE.contains(&f.name.as_ref()) {
            counts.not_code += 1;
            continue;
        }
        counts.functions += 1;
        let got = match disasm::scan(arch, code, entry, regabi) {
            Ok(s) => s,
            Err(e) => {
                bad.push(format!("error: {name}: {e}"));
                continue;
            }
        };
        let want = truth(arch, &listing, entry, end);
        for p in &want.problems {
            bad.push(format!("objdump: {name}: {p}"));
        }
        let limit = want.reliable_until;
        if limit < end {
            counts.partial += 1;
        }
        let cmp = |what: &str, got: &[u64], want: &[u64], bad: &mut Vec<String>| {
            let got = below(got, limit);
            if got != want {
                bad.push(format!(
                    "{what}: {name}: scan {} objdump {}",
                    hex(&got),
                    hex(want)
                ));
            }
        };
        cmp("returns", &got.returns, &want.returns, &mut bad);
        cmp("tail calls", &got.tail_calls, &want.tail_calls, &mut bad);
        cmp(
            "indirect jumps",
            &got.indirect_jumps,
            &want.indirect_jumps,
            &mut bad,
        );
        if got.after_stack_check != want.after_stack_check
            && (limit == end || want.after_stack_check.is_some())
        {
            bad.push(format!(
                "stack check: {name}: scan {:x?} objdump {:x?}",
                got.after_stack_check, want.after_stack_check
            ));
        }
        counts.returns += want.returns.len();
        counts.tail_calls += want.tail_calls.len();
        counts.indirect += want.indirect_jumps.len();
        counts.stack_checks += usize::from(want.after_stack_check.is_some());
    }
    (counts, bad)
}

#[test]
fn scan_matches_objdump_on_the_matrix() {
    let start = Instant::now();
    let rows = rows();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(Row, Counts, Vec<String>)>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let (c, bad) = check(row);
                results.lock().unwrap().push((row.clone(), c, bad));
            });
        }
    });
    let results = results.into_inner().unwrap();

    // Counts by architecture and toolchain.
    let mut table: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut total = Counts::default();
    let mut bad: Vec<String> = Vec::new();
    for (row, c, b) in results {
        *table
            .entry((row.goarch.clone(), row.release.clone()))
            .or_default() += c;
        total += c;
        bad.extend(b);
    }
    let mut report = String::new();
    writeln!(
        report,
        "arch    go       binaries functions partial  returns stackchk tailcall indirect"
    )
    .unwrap();
    for ((arch, rel), c) in &table {
        writeln!(
            report,
            "{arch:<7} {rel:<8} {:>8} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}",
            c.binaries, c.functions, c.partial, c.returns, c.stack_checks, c.tail_calls, c.indirect
        )
        .unwrap();
    }
    writeln!(
        report,
        "total            {:>8} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}   ({:.1} s)",
        total.binaries,
        total.functions,
        total.partial,
        total.returns,
        total.stack_checks,
        total.tail_calls,
        total.indirect,
        start.elapsed().as_secs_f64()
    )
    .unwrap();
    println!("{report}");

    if !bad.is_empty() {
        bad.sort();
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &bad {
            *by_kind
                .entry(b.split(':').next().unwrap_or(""))
                .or_default() += 1;
        }
        const SHOWN: usize = 60;
        let all = std::env::temp_dir().join("gosyms-disasm-matrix.txt");
        let _ = std::fs::write(&all, bad.join("\n") + "\n");
        let mut msg = format!(
            "{} mismatches {by_kind:?} (all in {})\n{report}\n",
            bad.len(),
            all.display()
        );
        for b in bad.iter().take(SHOWN) {
            writeln!(msg, "  {b}").unwrap();
        }
        if bad.len() > SHOWN {
            writeln!(msg, "  ... and {} more", bad.len() - SHOWN).unwrap();
        }
        panic!("{msg}");
    }
}

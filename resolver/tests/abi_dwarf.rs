//! `resolver::abi` against the compiler: for every function of the test binaries whose DWARF
//! says where its inputs are at the entry, the layout the resolver derives from DWARF types
//! (through `abi::layout`) must put each piece exactly there.
//!
//! The truth is the location descriptions Go writes for formal parameters, evaluated at the
//! function's entry by `Dwarf::param_locations_at`: a register, or a CFA-relative address made an
//! offset from SP at the entry with `.debug_frame`'s CFA rule. The compiler writes them from its
//! own ABI assignment (`cmd/compile/internal/abi`), so a wrong rule in `abi.rs` (register order,
//! the all-or-nothing rule for aggregates, alignment of stack slots, where the stack area starts,
//! the spill area) shows up here, which comparing DWARF types with hand-written signatures
//! cannot show.
//!
//! Binaries: the `exe` of every toolchain of the test matrix (testdata/build-matrix.sh) for
//! linux/amd64, arm64, 386 and arm; testdata/params built by Go 1.15, 1.21 and 1.27 for amd64,
//! arm64 and 386; and `abiedge` (below), for the corners those programs do not reach, built by
//! the same releases for all four. What DWARF cannot say is counted and printed, never skipped
//! silently, and must stay rare: functions without DWARF or written in assembly, inputs
//! without a location at the entry, pieces DWARF marks missing, functions the resolver
//! refuses, and the ways Go's DWARF is wrong (see `compare_function`). Set
//! GOSYMS_ABI_DWARF_VERBOSE=1 to list them all.
//!
//! Resolver bugs found and not fixed yet are listed in `KNOWN_BUGS`: each must still show up
//! (remove it once fixed), and no other mismatch may.

// Test helpers outside #[test] functions may unwrap and panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pclntab::{GoBinary, Kind};
use resolver::abi::{Abi, Layout, Location, ValueLayout};
use resolver::dwarf::{Dwarf, DwarfPiece, ParamLocation, PieceLocation};
use resolver::types::{align_up, GoType};
use resolver::{LayoutSource, Pattern, Resolver};

/// A Go 1.15 function with a zero-size parameter: see `KNOWN_BUGS`.
const ZERO_SIZE_ORDER: &str = "zero-size parameter order";

/// Resolver bugs this test finds that are not fixed yet: class, and what is wrong. None now:
/// "zero-size parameter order" was one (Go 1.15 lists a function's parameters in DWARF in
/// frame-offset order, gc/pgen.go sort.Sort(byStackVar), so a zero-size parameter can come out
/// of declaration order, and dwarf.rs takes DWARF's order as the declaration order); such a
/// layout now disagrees with the binary's argument area and is refused (counted below as
/// "DWARF contradicted by the binary"), so no wrong layout is used.
const KNOWN_BUGS: &[(&str, &str)] = &[];

use gosyms_tests::{cache, repo};

/// A binary to check.
struct Target {
    label: String,
    path: PathBuf,
    /// `go tool nm -size -n` output for it.
    nm: PathBuf,
}

/// The unstripped `exe` of every toolchain in the matrix, for the four architectures whose
/// layouts gosyms implements.
fn matrix_targets() -> Vec<Target> {
    let manifest = cache().join("matrix/manifest.tsv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "the test matrix is missing ({}: {e}); build it with `bash testdata/build-matrix.sh`",
            manifest.display()
        )
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("manifest.tsv is empty")
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("manifest.tsv has no column {name}"))
    };
    let (release, goos, goarch, variant, path, nm) = (
        col("release"),
        col("goos"),
        col("goarch"),
        col("variant"),
        col("path"),
        col("nm"),
    );
    let mut out = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let c: Vec<&str> = l.split('\t').collect();
        if c[goos] != "linux"
            || c[variant] != "exe"
            || !["amd64", "arm64", "386", "arm"].contains(&c[goarch])
        {
            continue;
        }
        let (p, nm) = (PathBuf::from(c[path]), PathBuf::from(c[nm]));
        for f in [&p, &nm] {
            assert!(
                f.exists(),
                "{} is in manifest.tsv but missing; rebuild with testdata/build-matrix.sh",
                f.display()
            );
        }
        out.push(Target {
            label: format!("matrix {} linux/{}", c[release], c[goarch]),
            path: p,
            nm,
        });
    }
    assert!(
        out.len() >= 36,
        "manifest.tsv lists only {} linux exe binaries for amd64/arm64/386/arm; rebuild with testdata/build-matrix.sh",
        out.len()
    );
    out
}

/// Builds the Go program `src` for linux/`goarch` with Go `release` (unstripped), as
/// layouts.rs builds testdata/params, and lists its symbols with `go tool nm`.
fn build(prog: &str, src: &Path, release: &str, goarch: &str, dir: &Path) -> Target {
    let path = dir.join(format!("{prog}-{release}-{goarch}"));
    gosyms_tests::go_build(release, goarch, src, &path, "");
    let out = gosyms_tests::go(release)
        .args(["tool", "nm", "-size", "-n"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "go {release} tool nm failed");
    let nm = dir.join(format!("{prog}-{release}-{goarch}.nm"));
    std::fs::write(&nm, out.stdout).unwrap();
    Target {
        label: format!("{prog} {release} linux/{goarch}"),
        path,
        nm,
    }
}

/// A program for the corners of the calling conventions that testdata/params and the matrix
/// program do not reach: more arguments than registers on arm64 (16 of each kind), a struct
/// or complex number that no longer fits while a later scalar still does, arrays of one and
/// of two elements, zero-size values and the alignment they impose, padding, 32-bit
/// alignment, stack-assigned arguments of every alignment and stack-assigned results before
/// the spill area.
const EDGE_GO: &str = r#"// Command abiedge has functions whose arguments hit the corners of Go's calling conventions:
// registers running out, aggregates that no longer fit going to the stack whole, arrays,
// zero-size values, padding, alignment on 32-bit targets. Every argument but one is used, so
// DWARF has a location for it at the entry; the unused one is located by its spill slot.
package main

import "os"

type S0 struct{}

type Pair struct {
	A int8
	B int64
}

type F2 struct{ X, Y float64 }

type Mixed struct {
	A int32
	F float32
	B uint8
	G float64
}

type Nested struct {
	P F2
	I int
	Q [1]float32
	E S0
}

type Tail struct {
	A int64
	B uint8
	E [0]int
}

var sink float64

//go:noinline
func Ints17(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16 int) int {
	return a0 + a1*2 + a2*3 + a3*4 + a4*5 + a5*6 + a6*7 + a7*8 + a8*9 + a9*10 + a10*11 + a11*12 + a12*13 + a13*14 + a14*15 + a15*16 + a16*17
}

//go:noinline
func Floats17(f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16 float64) float64 {
	return f0 + f1*2 + f2*3 + f3*4 + f4*5 + f5*6 + f6*7 + f7*8 + f8*9 + f9*10 + f10*11 + f11*12 + f12*13 + f13*14 + f14*15 + f15*16 + f16*17
}

//go:noinline
func IntRollback(a0, a1, a2, a3, a4, a5, a6, a7 int, p Pair, last int) int {
	return a0 + a1*2 + a2*3 + a3*4 + a4*5 + a5*6 + a6*7 + a7*8 + int(p.A)*9 + int(p.B)*10 + last*11
}

//go:noinline
func IntRollback16(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14 int, p Pair, last int) int {
	return a0 + a1*2 + a2*3 + a3*4 + a4*5 + a5*6 + a6*7 + a7*8 + a8*9 + a9*10 + a10*11 + a11*12 + a12*13 + a13*14 + a14*15 + int(p.A)*16 + int(p.B)*17 + last*18
}

//go:noinline
func FloatRollback(f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13 float64, c complex128, last float64) float64 {
	return f0 + f1*2 + f2*3 + f3*4 + f4*5 + f5*6 + f6*7 + f7*8 + f8*9 + f9*10 + f10*11 + f11*12 + f12*13 + f13*14 + real(c)*15 + imag(c)*16 + last*17
}

//go:noinline
func FloatRollback16(f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14 float64, c complex128, last float64) float64 {
	return f0 + f1*2 + f2*3 + f3*4 + f4*5 + f5*6 + f6*7 + f7*8 + f8*9 + f9*10 + f10*11 + f11*12 + f12*13 + f13*14 + f14*15 + real(c)*16 + imag(c)*17 + last*18
}

//go:noinline
func Arrays(a [1]float32, b [2]uint8, c [0]int, d [1]Pair, e int) int {
	return int(a[0]) + int(b[0]) + int(b[1])*2 + len(c) + int(d[0].A)*3 + int(d[0].B)*4 + e*5
}

//go:noinline
func Empty(a S0, b int, c struct{}, d float32, e [0]string, f uint16) float32 {
	_, _, _ = a, c, e
	return float32(b) + d + float32(f)
}

//go:noinline
func Structs(m Mixed, n Nested, t Tail) float64 {
	return float64(m.A) + float64(m.F) + float64(m.B) + m.G + n.P.X + n.P.Y + float64(n.I) + float64(n.Q[0]) + float64(t.A) + float64(t.B)
}

//go:noinline
func Small(a int8, b uint16, c int32, d bool, e float32, f complex64, g uint8) float64 {
	r := float64(a) + float64(b) + float64(c) + float64(e) + float64(real(f)) + float64(imag(f)) + float64(g)
	if d {
		r++
	}
	return r
}

//go:noinline
func StackMix(a [3]int, b string, c float32, d [2]float64, e int8, f *int, g [2]int16) int {
	return a[0] + a[1] + a[2] + len(b) + int(b[0]) + int(c) + int(d[0]) + int(d[1]) + int(e) + *f + int(g[0]) + int(g[1])
}

//go:noinline
func Align(a int8, b int64, c int16, d float64, e uint8, f complex64, g int32, h uint64) float64 {
	return float64(a) + float64(b) + float64(c) + d + float64(e) + float64(real(f)) + float64(imag(f)) + float64(g) + float64(h)
}

//go:noinline
func (m Mixed) Method(x int, y float32) float64 {
	return float64(m.A) + float64(m.F) + float64(m.B) + m.G + float64(x) + float64(y)
}

//go:noinline
func (t *Tail) PtrMethod(n Nested, k int8) float64 {
	return float64(t.A) + float64(t.B) + n.P.X + n.P.Y + float64(n.I) + float64(n.Q[0]) + float64(k)
}

//go:noinline
func Headers(e error, a interface{}, s []string, m map[int]int, ch chan int, fn func() int, p *Pair) int {
	n := len(s) + cap(s) + len(s[0]) + m[1] + len(ch) + cap(ch) + fn() + int(p.B)
	if e != nil {
		n++
	}
	if a != nil {
		n++
	}
	return n
}

//go:noinline
func ZeroAlign(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 int, b int8, z [0]int64, c int8) int {
	return a0 + a1*2 + a2*3 + a3*4 + a4*5 + a5*6 + a6*7 + a7*8 + a8*9 + a9*10 + a10*11 + a11*12 + a12*13 + a13*14 + a14*15 + a15*16 + int(b)*17 + len(z) + int(c)*18
}

//go:noinline
func StackResults(unused int, a [2]int, f float64) (r [2]int, s [3]int8, t int, g float64) {
	r = a
	s = [3]int8{1, 2, 3}
	t = 4
	g = f
	return
}

//go:noinline
func AfterStack(a [2]int, b int, c [2]float32, d float32, e Pair) int {
	return a[0] + a[1] + b + int(c[0]) + int(c[1]) + int(d) + int(e.A) + int(e.B)
}

func main() {
	n := Ints17(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
	f := Floats17(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
	n += IntRollback(1, 2, 3, 4, 5, 6, 7, 8, Pair{9, 10}, 11)
	n += IntRollback16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, Pair{16, 17}, 18)
	f += FloatRollback(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, complex(15, 16), 17)
	f += FloatRollback16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, complex(16, 17), 18)
	n += Arrays([1]float32{1}, [2]uint8{2, 3}, [0]int{}, [1]Pair{{4, 5}}, 6)
	f += float64(Empty(S0{}, 1, struct{}{}, 2, [0]string{}, 3))
	m := Mixed{1, 2, 3, 4}
	ns := Nested{F2{1, 2}, 3, [1]float32{4}, S0{}}
	t := &Tail{A: 1, B: 2}
	f += Structs(m, ns, *t)
	f += Small(1, 2, 3, true, 4, complex(5, 6), 7)
	x := 5
	n += StackMix([3]int{1, 2, 3}, "abc", 4, [2]float64{5, 6}, 7, &x, [2]int16{8, 9})
	f += Align(1, 2, 3, 4, 5, complex(6, 7), 8, 9)
	f += m.Method(1, 2)
	f += t.PtrMethod(ns, 3)
	ch := make(chan int, 1)
	n += Headers(nil, 1, []string{"a"}, map[int]int{1: 2}, ch, func() int { return 4 }, &Pair{1, 2})
	n += ZeroAlign(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, [0]int64{}, 18)
	r, s3, t3, g3 := StackResults(1, [2]int{2, 3}, 4)
	n += r[0] + int(s3[1]) + t3 + int(g3)
	n += AfterStack([2]int{1, 2}, 3, [2]float32{4, 5}, 6, Pair{7, 8})
	sink = f + float64(n)
	if sink == 0 {
		os.Exit(1)
	}
}
"#;

/// The functions of `abiedge` and testdata/params whose every input DWARF locates on every
/// target. The others have an input that some releases do not locate at the entry (a value
/// Go 1.15–1.21 keep only in part, an unused input on a stack-ABI target, floating-point
/// arguments on arm with Go 1.15) or hit a DWARF bug counted in the report; Go 1.27 locates
/// all of `abiedge`'s.
const FULLY_LOCATED: &[&str] = &[
    "main.Ints17",
    "main.Headers",
    "main.Mixed.Method",
    "main.(*Tail).PtrMethod",
    "main.Small",
    "main.StackMix",
    "main.Ints",
    "main.Scalars",
    "main.Pointers",
    "main.Interfaces",
    "main.Many",
    "main.(*Server).Rename",
];

/// What one binary gave.
#[derive(Default)]
struct Report {
    label: String,
    functions: usize,
    /// Functions with no subprogram at their entry in DWARF.
    no_dwarf: usize,
    /// Assembly functions (DWARF lists no parameters for them).
    asm: usize,
    /// Functions whose DWARF lists no inputs.
    no_inputs: usize,
    /// Functions whose DWARF gives no input a location at the entry.
    none_located: usize,
    /// Functions whose DWARF DIE found by name is not the one at their entry (the resolver
    /// looks DWARF up by name).
    other_die: usize,
    /// Functions the resolver refuses to lay out from DWARF, by reason.
    refused: BTreeMap<String, usize>,
    /// Functions whose DWARF puts two of their values in the same place at the entry.
    dwarf_conflicts: Vec<String>,
    /// Functions whose inputs all have a location at the entry, compared without a mismatch.
    compared_full: usize,
    /// Functions where only some inputs have one, compared without a mismatch.
    compared_partial: usize,
    /// Inputs compared, and inputs without a location at the entry.
    params: usize,
    params_unlocated: usize,
    /// Register-ABI inputs in registers that DWARF locates by their spill slot (which nothing
    /// stores to at the entry), checked against the spill slot the layout implies.
    spill_slots: usize,
    /// Results that DWARF locates at the entry (the stack ABI in Go 1.21+), compared.
    results: usize,
    /// Named results that DWARF locates in the frame at the entry (register ABI): not where
    /// they are returned.
    results_in_frame: usize,
    /// Pieces of the layout that agree with DWARF, in all and by kind of location.
    pieces: usize,
    int_pieces: usize,
    float_pieces: usize,
    stack_pieces: usize,
    /// Pieces DWARF marks as not available (`DW_OP_piece` without a location).
    pieces_missing: usize,
    /// Values of size 0 (nothing to compare).
    zero_size: usize,
    /// Values whose DWARF repeats a piece, compared with each piece once.
    repeated_pieces: usize,
    /// Slices whose DWARF describes the pointer and length but not the capacity.
    cap_missing: usize,
    /// Values whose DWARF pieces describe fewer or more bytes than the type's leaves: not
    /// compared.
    dwarf_size: Vec<String>,
    /// Values DWARF gives one location for, which is where a later part of them is.
    part_as_whole: Vec<String>,
    /// ABI0 wrappers of Go functions compared.
    abi0_wrappers: usize,
    /// Mismatches of the classes in `KNOWN_BUGS`.
    known: BTreeMap<&'static str, Vec<String>>,
    /// What happened to each function of package main.
    main: BTreeMap<String, &'static str>,
    /// Layout and DWARF disagree.
    mismatches: Vec<String>,
}

/// Offsets of the scalar leaves of `ty` inside it, in the order `abi::layout` lists its
/// pieces (at most 64 elements of an array, as there).
fn leaf_offsets(ty: &GoType, ptr: u64, base: u64, out: &mut Vec<u64>) {
    match ty.underlying() {
        GoType::Complex { bits } => {
            out.push(base);
            out.push(base + u64::from(*bits) / 16);
        }
        GoType::String | GoType::Interface { .. } => {
            out.push(base);
            out.push(base + ptr);
        }
        GoType::Slice(_) => {
            out.extend([base, base + ptr, base + 2 * ptr]);
        }
        GoType::Array { len, elem } => {
            let esize = elem.size(ptr);
            for i in 0..(*len).min(64) {
                leaf_offsets(elem, ptr, base + i * esize, out);
            }
        }
        GoType::Struct(fields) => {
            let mut off = 0;
            for f in fields {
                off = align_up(off, f.ty.align(ptr));
                leaf_offsets(&f.ty, ptr, base + off, out);
                off += f.ty.size(ptr);
            }
        }
        GoType::Named { .. } => unreachable!("underlying() strips names"),
        _ => out.push(base),
    }
}

/// Where one byte of a value is: byte `k` of a register, or a stack address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Byte {
    Reg(&'static str, u64),
    Stack(i64),
    Missing,
}

fn describe(pieces: &[DwarfPiece]) -> String {
    let one = |p: &DwarfPiece| {
        let loc = match p.location {
            PieceLocation::Register { dwarf, name } => {
                format!("{} (DWARF reg {dwarf})", name.unwrap_or("?"))
            }
            PieceLocation::Stack(o) => format!("sp{o:+#x}"),
            PieceLocation::Missing => "missing".into(),
        };
        match p.size {
            Some(s) => format!("{loc} [{s}]"),
            None => loc,
        }
    };
    pieces.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// The inputs (or results) of a DWARF parameter list, each name once: Go 1.19–1.26 list some
/// parameters twice, and the resolver keeps the first.
fn dedup(locs: &[ParamLocation], results: bool) -> Vec<&ParamLocation> {
    let mut out: Vec<&ParamLocation> = Vec::new();
    for l in locs.iter().filter(|l| l.is_result == results) {
        match out.iter_mut().find(|o| o.name == l.name) {
            // Keep whichever copy has a location at the entry.
            Some(o) if o.pieces.is_none() => *o = l,
            Some(_) => {}
            None => out.push(l),
        }
    }
    out
}

/// One value of a function, with its DWARF description at the entry.
struct Value<'a> {
    ctx: String,
    layout: &'a ValueLayout,
    /// Its position among the inputs (or results).
    index: usize,
    pieces: &'a [DwarfPiece],
    result: bool,
    /// A single location description under the register ABI (see `ParamLocation::from_list`).
    single: bool,
    /// Offsets of the layout's pieces in the value.
    offsets: Vec<u64>,
    /// Where DWARF puts each byte of the leaves, concatenated without padding.
    got: Vec<Byte>,
    /// DWARF repeats a piece.
    repeated: bool,
}

/// Reads DWARF's pieces the way Go writes them: one `DW_OP_piece` per part of the value its
/// SSA backend decomposed it into (a word of a string or slice, a field of a struct, each half
/// of a 64-bit integer on 32-bit targets), in memory order and without padding; a value it did
/// not decompose has one location without a piece, which covers the value as laid out in
/// memory. Go repeats some pieces (32-bit halves, 1.19–1.21; `printany` in 1.21): a piece
/// identical to the one before it describes the same bytes, and is read once.
fn dwarf_bytes(
    ctx: &str,
    v: &ValueLayout,
    pieces: &[DwarfPiece],
    offsets: &[u64],
) -> (Vec<Byte>, bool) {
    let byte = |location: PieceLocation, k: u64| match location {
        PieceLocation::Register { name, dwarf } => Byte::Reg(
            name.unwrap_or_else(|| panic!("{ctx}: DWARF register {dwarf} has no name")),
            k,
        ),
        PieceLocation::Stack(sp) => Byte::Stack(sp + k as i64),
        PieceLocation::Missing => Byte::Missing,
    };
    if let [DwarfPiece {
        location,
        size: None,
    }] = pieces
    {
        let mut got = Vec::new();
        for (p, &o) in v.pieces.iter().zip(offsets) {
            for k in 0..p.size {
                got.push(byte(*location, o + k));
            }
        }
        return (got, false);
    }
    let mut kept: Vec<&DwarfPiece> = Vec::new();
    let mut repeated = false;
    for p in pieces {
        if p.location != PieceLocation::Missing && kept.last() == Some(&p) {
            repeated = true;
            continue;
        }
        kept.push(p);
    }
    let got = kept
        .iter()
        .flat_map(|p| (0..p.size.unwrap_or(0)).map(move |k| byte(p.location, k)))
        .collect();
    (got, repeated)
}

/// Pairs a value list of the layout with DWARF's, by name and order, adding those DWARF
/// locates at the entry to `out`. Returns how many inputs it does not locate.
fn pair<'a>(
    rep: &mut Report,
    ctx: &str,
    abi: Abi,
    (layout, dwarf): (&'a [ValueLayout], &[&'a ParamLocation]),
    result: bool,
    ptr: u64,
    out: &mut Vec<Value<'a>>,
) -> Result<usize, String> {
    // The resolver adds the dictionary of a shape instantiation where DWARF (before Go 1.27)
    // leaves it out; its placement shows in the locations of the parameters after it.
    let layout: Vec<(usize, &ValueLayout)> = layout
        .iter()
        .enumerate()
        .filter(|(_, v)| v.name != ".dict" || dwarf.iter().any(|d| d.name == ".dict"))
        .collect();
    let (ln, dn): (Vec<&str>, Vec<&str>) = (
        layout.iter().map(|(_, v)| v.name.as_str()).collect(),
        dwarf.iter().map(|d| d.name.as_str()).collect(),
    );
    if ln != dn {
        return Err(format!("{ctx}: layout lists {ln:?}, DWARF {dn:?}"));
    }
    let mut not_located = 0;
    for ((index, v), d) in layout.into_iter().zip(dwarf) {
        let Some(pieces) = &d.pieces else {
            not_located += usize::from(!result);
            continue;
        };
        if abi == Abi::Register && result {
            // A result located at the entry under the register ABI is a named result kept in
            // the frame (its address is taken), not where the function returns it.
            rep.results_in_frame += 1;
            continue;
        }
        let ctx = format!("{ctx} {}{}", if result { "result " } else { "" }, v.name);
        let mut offsets = Vec::new();
        leaf_offsets(&v.ty, ptr, 0, &mut offsets);
        assert_eq!(
            offsets.len(),
            v.pieces.len(),
            "{ctx}: the layout of {} has {} pieces, the type {} leaves",
            v.ty,
            v.pieces.len(),
            offsets.len()
        );
        let (got, repeated) = dwarf_bytes(&ctx, v, pieces, &offsets);
        out.push(Value {
            ctx,
            layout: v,
            index,
            pieces,
            result,
            single: abi == Abi::Register && !d.from_list,
            offsets,
            got,
            repeated,
        });
    }
    Ok(not_located)
}

/// The spill slot (offset from SP at the entry) of each register-assigned input of a
/// register-ABI layout, by index: the spill area follows the stack-assigned arguments and
/// results, pointer-aligned, and gives each register-assigned input, in order, a slot aligned
/// for its type (cmd/compile/internal/abi, regAllocate and ABIAnalyzeFuncType).
fn spill_slots(layout: &Layout, ptr: u64) -> HashMap<usize, u64> {
    let stack_end = layout
        .args
        .iter()
        .chain(&layout.results)
        .flat_map(|v| &v.pieces)
        .filter_map(|p| match p.location {
            Location::Stack(x) => Some(x + p.size - ptr),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let area = ptr + align_up(stack_end, ptr);
    let mut off = 0;
    let mut out = HashMap::new();
    for (i, v) in layout.args.iter().enumerate() {
        let in_regs = !v.pieces.is_empty()
            && v.pieces
                .iter()
                .all(|p| !matches!(p.location, Location::Stack(_)));
        if in_regs {
            off = align_up(off, v.ty.align(ptr));
            out.insert(i, area + off);
            off += v.size;
        }
    }
    out
}

/// Compares one function's layout with DWARF, and says how that went.
///
/// Besides reading pieces as `dwarf_bytes` says, it allows for what Go's DWARF gets wrong:
///
/// * Two values in the same place at the entry (Go 1.19 gives `max` of
///   `runtime.(*pallocData).findScavengeCandidate` the register of `min`): DWARF is wrong
///   about one of them, so the function is not compared.
/// * Under the register ABI, an input the function never reads gets one location for the
///   whole function, its spill slot, which nothing stores to: it is checked against the spill
///   slot the layout implies, not as where the value is.
/// * Slices whose capacity is never read are described by their pointer and length.
/// * Go 1.15–1.26, stack ABI: a value of which only a later part is live (the length of the
///   receiver of `sort.IntSlice.Len`) is given that part's location alone, as if it were the
///   whole value (the code reads the length there: checked by disassembly).
/// * Other descriptions whose size is not the size of the value's leaves (garbled 64-bit
///   integers on 32-bit targets, `runtime.heapBits` in Go 1.15) are not compared.
fn compare_function(
    rep: &mut Report,
    ctx: &str,
    layout: &Layout,
    locs: &[ParamLocation],
    ptr: u64,
) -> &'static str {
    let mut values = Vec::new();
    let (inputs, results) = (dedup(locs, false), dedup(locs, true));
    let paired = pair(
        rep,
        ctx,
        layout.abi,
        (&layout.args, &inputs),
        false,
        ptr,
        &mut values,
    )
    .and_then(|unlocated| {
        pair(
            rep,
            ctx,
            layout.abi,
            (&layout.results, &results),
            true,
            ptr,
            &mut values,
        )?;
        Ok(unlocated)
    });
    let unlocated = match paired {
        Ok(n) => n,
        Err(e) => {
            rep.mismatches.push(e);
            return "mismatch";
        }
    };
    if values.iter().all(|v| v.result) {
        rep.none_located += 1;
        rep.params_unlocated += unlocated;
        return "no input located";
    }
    let mut owner: HashMap<Byte, &str> = HashMap::new();
    for v in &values {
        for b in v.got.iter().filter(|b| **b != Byte::Missing) {
            if let Some(other) = owner.insert(*b, &v.layout.name) {
                if other != v.layout.name {
                    rep.dwarf_conflicts.push(format!(
                        "{ctx}: DWARF puts {other} and {} both in {b:?}",
                        v.layout.name
                    ));
                    return "DWARF conflict";
                }
            }
        }
    }
    let spill = spill_slots(layout, ptr);
    let before = rep.mismatches.len();
    for v in &values {
        if v.layout.size == 0 {
            rep.zero_size += 1;
            continue;
        }
        if v.single {
            if let Some(&slot) = spill.get(&v.index).filter(|_| !v.result) {
                // In registers by the layout; DWARF gives the spill slot.
                match v.pieces {
                    [DwarfPiece {
                        location: PieceLocation::Stack(sp),
                        size: None,
                    }] if *sp == slot as i64 => rep.spill_slots += 1,
                    _ => rep.mismatches.push(format!(
                        "{}: in registers, spill slot sp{slot:+#x}, DWARF {}",
                        v.ctx,
                        describe(v.pieces)
                    )),
                }
                continue;
            }
        }
        // The layout's leaves, byte by byte.
        let mut want: Vec<(usize, Byte)> = Vec::new();
        for (i, p) in v.layout.pieces.iter().enumerate() {
            for k in 0..p.size {
                want.push((
                    i,
                    match p.location {
                        Location::IntReg(r) | Location::FloatReg(r) => Byte::Reg(r, k),
                        Location::Stack(x) => Byte::Stack(x as i64 + k as i64),
                        Location::Unknown => unreachable!("DWARF layouts name every location"),
                    },
                ));
            }
        }
        let mut got = v.got.clone();
        if matches!(v.layout.ty.underlying(), GoType::Slice(_)) && got.len() as u64 == 2 * ptr {
            got.extend((0..ptr).map(|_| Byte::Missing));
            rep.cap_missing += 1;
        }
        if got.len() != want.len() {
            rep.dwarf_size.push(format!(
                "{}: {} has {} bytes of leaves, DWARF describes {}: {}",
                v.ctx,
                v.layout.ty,
                want.len(),
                got.len(),
                describe(v.pieces)
            ));
            continue;
        }
        rep.repeated_pieces += usize::from(v.repeated);
        if v.result {
            rep.results += 1;
        } else {
            rep.params += 1;
        }
        let mut bad: Vec<usize> = Vec::new();
        let mut missing: Vec<usize> = Vec::new();
        for (&(i, w), &g) in want.iter().zip(&got) {
            if g == Byte::Missing {
                if !missing.contains(&i) {
                    missing.push(i);
                }
            } else if g != w && !bad.contains(&i) {
                bad.push(i);
            }
        }
        rep.pieces_missing += missing.len();
        for (i, p) in v.layout.pieces.iter().enumerate() {
            if missing.contains(&i) || bad.contains(&i) {
                continue;
            }
            rep.pieces += 1;
            match p.location {
                Location::IntReg(_) => rep.int_pieces += 1,
                Location::FloatReg(_) => rep.float_pieces += 1,
                Location::Stack(_) => rep.stack_pieces += 1,
                Location::Unknown => unreachable!("DWARF layouts name every location"),
            }
        }
        if bad.is_empty() {
            continue;
        }
        let part_as_whole = v.layout.pieces.len() > 1
            && matches!(v.pieces, [DwarfPiece { location: PieceLocation::Stack(sp), size: None }]
                if v.layout.pieces.iter().skip(1).any(|p| p.location == Location::Stack(*sp as u64)));
        if part_as_whole {
            rep.part_as_whole
                .push(format!("{}: DWARF {}", v.ctx, describe(v.pieces)));
            continue;
        }
        for i in bad {
            let p = &v.layout.pieces[i];
            rep.mismatches.push(format!(
                "{}{} ({} bytes at +{}): layout {:?}, DWARF {}",
                v.ctx,
                p.path,
                p.size,
                v.offsets[i],
                p.location,
                describe(v.pieces)
            ));
        }
    }
    rep.params_unlocated += unlocated;
    if rep.mismatches.len() != before {
        "mismatch"
    } else if unlocated == 0 {
        rep.compared_full += 1;
        "compared"
    } else {
        rep.compared_partial += 1;
        "partly compared"
    }
}

/// The entries of the `NAME.abi0` symbols in `go tool nm -size` output: ABI0 wrappers of Go
/// functions (and assembly functions' own symbols).
fn abi0_entries(nm: &Path) -> HashSet<u64> {
    let text = std::fs::read_to_string(nm).unwrap_or_else(|e| panic!("{}: {e}", nm.display()));
    text.lines()
        .filter_map(|l| {
            // ADDR SIZE KIND NAME
            let mut f = l.split_whitespace();
            let (addr, name) = (f.next()?, f.nth(2)?);
            name.ends_with(".abi0")
                .then(|| u64::from_str_radix(addr, 16).ok())
                .flatten()
        })
        .collect()
}

/// Why a function with DWARF at its entry is not compared, or `None` if it is to be.
fn wanted_or_why(
    rep: &mut Report,
    dwarf: &Dwarf,
    name: &str,
    entry: u64,
    locs: &[ParamLocation],
) -> Option<&'static str> {
    let inputs = dedup(locs, false);
    if inputs.is_empty() {
        rep.no_inputs += 1;
        return Some("no inputs");
    }
    if inputs.iter().all(|p| p.pieces.is_none()) {
        rep.none_located += 1;
        return Some("no input located");
    }
    // The resolver finds DWARF by name: it must get the parameters of the DIE at the entry.
    let by_name = dwarf.params(name);
    if dwarf.function_at(entry) == Some(name)
        && by_name.as_ref().ok() == Some(&dwarf.params_at(entry).ok().flatten())
    {
        return None;
    }
    match by_name {
        Err(e) => {
            let reason = e.to_string();
            let reason = reason.split_once(": ").map_or(reason.as_str(), |(_, r)| r);
            *rep.refused.entry(reason.to_string()).or_default() += 1;
            Some("refused")
        }
        Ok(_) => {
            rep.other_die += 1;
            Some("other DIE")
        }
    }
}

fn check(t: &Target) -> Report {
    let map = pclntab::map_file(&t.path).unwrap_or_else(|e| panic!("{}: {e}", t.label));
    let bin = GoBinary::parse(&map).unwrap_or_else(|e| panic!("{}: {e}", t.label));
    let ptr = u64::from(bin.container.ptr_size);
    let mut dwarf = Dwarf::load(&bin.container)
        .unwrap_or_else(|e| panic!("{}: DWARF: {e}", t.label))
        .unwrap_or_else(|| panic!("{}: no DWARF", t.label));
    dwarf
        .load_locations(&bin.container)
        .unwrap_or_else(|e| panic!("{}: location sections: {e}", t.label));
    let go115 = bin.go_minor().is_some_and(|m| m <= 16);
    let abi0 = abi0_entries(&t.nm);
    let resolver = Resolver::new(&bin, None).unwrap();
    let mut rep = Report {
        label: t.label.clone(),
        ..Report::default()
    };

    // Pick the functions DWARF locates at least one input of, and that the resolver lays out
    // from the same DIE.
    let mut wanted: Vec<(u64, String, Vec<ParamLocation>)> = Vec::new();
    let mut funcs = bin.functions().without_lines();
    while let Some(f) = funcs.next().unwrap() {
        rep.functions += 1;
        let (name, entry) = (f.name.to_string(), f.entry.0);
        let skipped = if f.kind == Kind::Asm {
            rep.asm += 1;
            "assembly"
        } else {
            match dwarf
                .param_locations_at(entry)
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", t.label))
            {
                None => {
                    rep.no_dwarf += 1;
                    "no DWARF"
                }
                Some(locs) => match wanted_or_why(&mut rep, &dwarf, &name, entry, &locs) {
                    Some(why) => why,
                    None => {
                        wanted.push((entry, name, locs));
                        continue;
                    }
                },
            }
        };
        if name.starts_with("main.") {
            rep.main.insert(name, skipped);
        }
    }
    // One call for all: resolving them one by one would list the functions each time.
    let patterns: Vec<Pattern> = wanted
        .iter()
        .map(|(_, n, _)| Pattern::Exact(n.clone()))
        .collect();
    let plans = resolver
        .resolve(&patterns)
        .unwrap_or_else(|e| panic!("{}: resolve: {e}", t.label));
    let plans: HashMap<u64, _> = plans.into_iter().map(|p| (p.entry.vaddr, p)).collect();

    for (entry, name, locs) in &wanted {
        let ctx = format!("{} {name}", t.label);
        let plan = &plans[entry];
        // A DWARF layout the binary contradicts is not used (resolver/tests/evidence.rs lists
        // each such function and why: Go's DWARF leaves out blank parameters).
        if let Some(n) = plan
            .notes
            .iter()
            .find(|n| n.contains("contradicts the binary"))
        {
            *rep.refused
                .entry(format!("DWARF contradicted by the binary: {n}"))
                .or_default() += 1;
            continue;
        }
        assert_eq!(plan.layout_source, Some(LayoutSource::Dwarf), "{ctx}");
        let layout = plan
            .layout
            .as_ref()
            .unwrap_or_else(|| panic!("{ctx}: no layout"));
        let before = rep.mismatches.len();
        let outcome = compare_function(&mut rep, &ctx, layout, locs, ptr);
        if name.starts_with("main.") {
            rep.main.insert(name.clone(), outcome);
        }
        let wrapper = abi0.contains(entry);
        rep.abi0_wrappers += usize::from(wrapper);
        let known = if go115 && layout.args.iter().any(|v| v.size == 0) {
            Some(ZERO_SIZE_ORDER)
        } else {
            None
        };
        if let Some(class) = known {
            let found: Vec<String> = rep.mismatches.drain(before..).collect();
            if !found.is_empty() {
                rep.known.entry(class).or_default().extend(found);
                if name.starts_with("main.") {
                    rep.main.insert(name.clone(), "known bug");
                }
            }
        }
    }
    rep
}

#[test]
fn layouts_put_inputs_where_dwarf_locations_say() {
    let started = std::time::Instant::now();
    let dir = std::env::temp_dir().join(format!("gosyms-abi-dwarf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut targets = matrix_targets();
    let params = repo().join("testdata/params/main.go");
    let edge = dir.join("abiedge.go");
    std::fs::write(&edge, EDGE_GO).unwrap();
    for release in ["1.15", "1.21.13", "1.27.3"] {
        for goarch in ["amd64", "arm64", "386"] {
            targets.push(build("params", &params, release, goarch, &dir));
        }
        for goarch in ["amd64", "arm64", "386", "arm"] {
            targets.push(build("abiedge", &edge, release, goarch, &dir));
        }
    }

    // A binary takes a tenth of a second: two cores do them all in a few seconds.
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = targets.get(i) else { break };
                let r = check(t);
                reports.lock().unwrap().push(r);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.label.cmp(&b.label));
    let _ = std::fs::remove_dir_all(&dir);

    let verbose = std::env::var_os("GOSYMS_ABI_DWARF_VERBOSE").is_some();
    let mut summary = String::new();
    let mut mismatches = Vec::new();
    let mut known: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &reports {
        let _ = writeln!(
            summary,
            "{:26} functions {:4}: compared {:4} (+{:3} partly) | assembly {:3}, no DWARF {}, no inputs {:3}, no input located {:3}, refused {:?}, other DIE {}, DWARF conflict {}",
            r.label,
            r.functions,
            r.compared_full,
            r.compared_partial,
            r.asm,
            r.no_dwarf,
            r.no_inputs,
            r.none_located,
            r.refused.values().sum::<usize>(),
            r.other_die,
            r.dwarf_conflicts.len(),
        );
        let _ = writeln!(
            summary,
            "{:26} inputs {:4} (+{:3} unlocated, {:2} by spill slot), results {:3} (+{:2} in the frame), pieces {:4} ({} int, {} float, {} stack; +{} missing); zero-size {}, repeated pieces {}, no cap {}, DWARF size differs {}, part as whole {}; ABI0 wrappers {}",
            "",
            r.params,
            r.params_unlocated,
            r.spill_slots,
            r.results,
            r.results_in_frame,
            r.pieces,
            r.int_pieces,
            r.float_pieces,
            r.stack_pieces,
            r.pieces_missing,
            r.zero_size,
            r.repeated_pieces,
            r.cap_missing,
            r.dwarf_size.len(),
            r.part_as_whole.len(),
            r.abi0_wrappers,
        );
        if verbose {
            if !r.label.starts_with("matrix") {
                let _ = writeln!(summary, "{:26} package main: {:?}", "", r.main);
            }
            for (what, list) in [
                ("refused", r.refused.keys().cloned().collect::<Vec<_>>()),
                ("DWARF conflict", r.dwarf_conflicts.clone()),
                ("DWARF size differs", r.dwarf_size.clone()),
                ("part as whole", r.part_as_whole.clone()),
            ] {
                for l in list {
                    let _ = writeln!(summary, "    {what}: {l}");
                }
            }
        }
        mismatches.extend(r.mismatches.iter().cloned());
        for (class, found) in &r.known {
            known
                .entry(class)
                .or_default()
                .extend(found.iter().cloned());
        }
    }
    for (class, what) in KNOWN_BUGS {
        let found = known.get(class).map_or(&[][..], Vec::as_slice);
        let shown = if verbose { found.len() } else { 3 };
        let _ = writeln!(
            summary,
            "KNOWN BUG ({class}): {what}. {} pieces, e.g.\n    {}",
            found.len(),
            found
                .iter()
                .take(shown)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n    ")
        );
    }
    let _ = writeln!(
        summary,
        "{} binaries in {:.1}s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{summary}");

    assert!(
        mismatches.is_empty(),
        "{} pieces where the layout disagrees with DWARF:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(if verbose { usize::MAX } else { 40 })
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (class, _) in KNOWN_BUGS {
        assert!(
            known.get(class).is_some_and(|f| !f.is_empty()),
            "the known bug {class:?} no longer shows: remove it from KNOWN_BUGS"
        );
    }
    for r in &reports {
        let min = if r.label.starts_with("matrix") {
            700
        } else {
            500
        };
        assert!(
            r.compared_full >= min,
            "{}: only {} functions compared (at least {min} expected)",
            r.label,
            r.compared_full
        );
        // What DWARF describes oddly stays rare; a flood would mean this test misreads it.
        let odd = r.dwarf_size.len() + r.part_as_whole.len() + r.dwarf_conflicts.len();
        assert!(
            odd * 20 < r.params,
            "{}: {odd} values DWARF describes oddly, {} compared",
            r.label,
            r.params
        );
        if r.label.starts_with("matrix") {
            continue;
        }
        for f in FULLY_LOCATED {
            if let Some(outcome) = r.main.get(*f) {
                assert!(
                    ["compared", "known bug"].contains(outcome),
                    "{}: {f}: {outcome}",
                    r.label
                );
            }
        }
        if r.label.starts_with("abiedge 1.27") {
            for (f, outcome) in &r.main {
                assert!(
                    ["compared", "no inputs"].contains(outcome),
                    "{}: {f}: {outcome}",
                    r.label
                );
            }
        }
        // Of 11 functions with inputs in testdata/params, 18 in abiedge.
        let program = if r.label.starts_with("params") {
            10
        } else {
            15
        };
        assert!(
            r.main
                .values()
                .filter(|o| o.contains("compared") || **o == "known bug")
                .count()
                >= program,
            "{}: too few functions of package main compared: {:?}",
            r.label,
            r.main
        );
        let regabi =
            ["amd64", "arm64"].iter().any(|a| r.label.ends_with(a)) && !r.label.contains(" 1.15 ");
        if regabi {
            assert!(
                r.float_pieces >= 6,
                "{}: floating-point registers must be compared",
                r.label
            );
        }
        // Go 1.27 locates an unused register-ABI input by its spill slot (earlier releases
        // give it no location).
        if regabi && r.label.contains(" 1.27") {
            assert!(
                r.spill_slots >= 1,
                "{}: spill slots must be compared",
                r.label
            );
        }
    }
}

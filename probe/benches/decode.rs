#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)] // a benchmark
//! The decoder's ceiling: ring-buffer events of `main.Target(n int, s string, v any) (int,
//! error)` (benches/trace/loop.go, built here by Go 1.27.3 from the test cache) decoded, paired
//! and written as JSON Lines, on one core. Calls carry an integer, a 23-byte string and a nil
//! interface, returns an integer and a nil error; what is measured is what `gosyms trace` does per event after the
//! ring buffer hands it over.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pclntab::GoBinary;
use probe::{DecodedFunction, Decoder, DynTypes, FunctionCapture, GoroutineAccess, Limits};
use probe_common::{EventHeader, DYN_NO_RECIPE, HEADER_BYTES, MAX_DEREFS, MAX_DYN, MAX_REGS};
use probe_common::{ProbeSpec, PT_REGS_X86_64};
use std::path::PathBuf;
use std::process::Command;

/// benches/trace/loop.go, built unstripped (its DWARF gives the types).
fn loop_binary() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-loop");
    if out.exists() {
        return out;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let goroot = std::env::var_os("GOSYMS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/gosyms"))
        .join("go/1.27.3");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/trace/loop.go");
    let status = Command::new(goroot.join("bin/go"))
        .args(["build", "-o"])
        .arg(&out)
        .arg(&src)
        .env("GOROOT", &goroot)
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .status()
        .expect("Go 1.27.3 from the test cache (testdata/install-toolchains.sh)");
    assert!(status.success(), "go build {}", src.display());
    out
}

/// The bytes of one event of `spec` with registers named by value, and `data` after it.
fn event(spec: &ProbeSpec, cookie: u64, ts: u64, regs: &[(&str, u64)], reads: &[&[u8]]) -> Vec<u8> {
    let mut h = EventHeader {
        ts_ns: ts,
        pid_tgid: (1000 << 32) | 1000,
        goid: 1,
        sp: 0xc000_0fff00,
        ip: spec.entry_vaddr,
        stack_hi: 0xc000_100000,
        cookie,
        regs: [0; MAX_REGS],
        dyn_type: [0; MAX_DYN],
        stack_len: 0,
        data_len: 0,
        deref_len: [0; MAX_DEREFS],
        nderefs: reads.len() as u8,
        ndyn: spec.ndyn,
        dyn_first: [DYN_NO_RECIPE; MAX_DYN],
        nframes: 0,
        pad: [0; 5],
    };
    for (slot, &r) in h.regs.iter_mut().zip(&spec.regs[..spec.nregs as usize]) {
        let name = PT_REGS_X86_64[r as usize];
        *slot = regs.iter().find(|x| x.0 == name).map_or(0, |x| x.1);
    }
    let mut data = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        data.resize(data.len().next_multiple_of(8), 0);
        h.deref_len[i] = r.len() as u16;
        data.extend_from_slice(r);
    }
    h.data_len = data.len() as u32;
    // SAFETY: EventHeader is plain repr(C) data without implicit padding.
    let head = unsafe {
        std::slice::from_raw_parts((&h as *const EventHeader).cast::<u8>(), HEADER_BYTES)
    };
    [head, &data].concat()
}

fn bench(c: &mut Criterion) {
    let path = loop_binary();
    let map = pclntab::map_file(&path).expect("map");
    let bin = GoBinary::parse(&map).expect("parse");
    let pattern = resolver::Pattern::parse("main.Target").expect("pattern");
    let plans = resolver::Resolver::new(&bin, None)
        .expect("resolver")
        .resolve(&[pattern])
        .expect("main.Target");
    let plan = &plans[0];
    let limits = Limits {
        max_str: 64,
        max_elems: 16,
        depth: 3,
    };
    let no_maps = |_: &resolver::types::GoType| None;
    let cap = FunctionCapture::new(
        plan,
        GoroutineAccess::for_plan(plan, None),
        limits,
        &no_maps,
    );
    let text = b"hello, gosyms benchmark";
    let ptr = 0xc000_012000u64;
    const PAIRS: u64 = 500;
    let mut events = Vec::new();
    for i in 0..PAIRS {
        let ts = 1_000_000 + 100 * i;
        events.push(event(
            &cap.entry,
            0,
            ts,
            &[("rax", i), ("rbx", ptr), ("rcx", 23)],
            &[text],
        ));
        events.push(event(
            &cap.ret,
            1,
            ts + 40,
            &[("rax", i + 23), ("rbx", 0), ("rcx", 0)],
            &[],
        ));
    }
    let functions = vec![DecodedFunction {
        name: plan.function.clone(),
        entry: cap.entry_values,
        ret: cap.ret_values,
        entry_vaddr: plan.entry.vaddr,
    }];
    let mut decoder = Decoder::new(&bin, functions, DynTypes::default());
    // What one pair looks like, as a check that the bench decodes what it means to.
    let mut out = Vec::with_capacity(1 << 20);
    for e in &events[..2] {
        let ev = decoder.decode(e).expect("decodes");
        probe::json::write_event(&mut out, &ev, decoder.name(ev.function)).unwrap();
    }
    let text_out = String::from_utf8(out.clone()).unwrap();
    assert!(
        text_out.contains(r#""args":{"n":0,"s":"hello, gosyms benchmark","v":null}"#),
        "{text_out}"
    );
    assert!(
        text_out.contains(r#""ret":{"~r0":23,"~r1":null},"dur_ns":40"#),
        "{text_out}"
    );
    eprintln!("{text_out}");

    let mut g = c.benchmark_group("decode and write JSON");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("main.Target call and return", |b| {
        b.iter(|| {
            out.clear();
            for e in &events {
                let ev = decoder.decode(e).expect("decodes");
                probe::json::write_event(&mut out, &ev, decoder.name(ev.function)).unwrap();
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

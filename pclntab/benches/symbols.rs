#![allow(clippy::expect_used)] // a benchmark without its input has nothing to measure
//! Criterion benchmarks of the pclntab crate on real binaries: parse (find every table), list
//! every function (with and without file:line), look up many addresses, read build info.
//!
//! Binaries: `GOSYMS_BENCH_BINARIES` (colon-separated paths), else the largest Go binaries this
//! machine has from a known list, plus the 1.27 matrix build of the test program.

use criterion::{criterion_group, criterion_main, Criterion};
use pclntab::{GoBinary, VirtAddr};
use std::hint::black_box;
use std::path::PathBuf;

fn binaries() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("GOSYMS_BENCH_BINARIES") {
        return std::env::split_paths(&list).collect();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    [
        home.join(".cache/gosyms/matrix/1.27.3/linux_amd64/exe-stripped"),
        PathBuf::from("/usr/lib/google-cloud-sdk/bin/kubectl"),
        PathBuf::from("/usr/lib/google-cloud-sdk/bin/anthoscli"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect()
}

fn bench(c: &mut Criterion) {
    for path in binaries() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let map = pclntab::map_file(&path).expect("map");
        let bin = GoBinary::parse(&map).expect("parse");
        let n = bin.table.len();
        let mut g = c.benchmark_group(format!("{name} ({n} functions)"));
        g.sample_size(20);
        g.bench_function("parse", |b| {
            b.iter(|| GoBinary::parse(black_box(&map)).expect("parse"))
        });
        g.bench_function("list", |b| {
            b.iter(|| {
                let mut f = bin.functions().without_lines();
                let mut count = 0usize;
                while let Some(x) = f.next().expect("function") {
                    count += x.name.len();
                }
                count
            })
        });
        g.bench_function("list with lines", |b| {
            b.iter(|| {
                let mut f = bin.functions();
                let mut count = 0usize;
                while let Some(x) = f.next().expect("function") {
                    count += x.line.unwrap_or(0) as usize;
                }
                count
            })
        });
        // 10,000 addresses spread over the text, each inside some function.
        let first = bin.table.entry(0).expect("entry").0;
        let last = bin.table.entry(n).expect("end").0;
        let step = ((last - first) / 10_000).max(1);
        let pcs: Vec<u64> = (0..10_000).map(|i| first + i * step).collect();
        g.bench_function("lookup 10k pcs", |b| {
            b.iter(|| {
                let mut found = 0usize;
                for pc in &pcs {
                    if let Some(loc) = bin.lookup(VirtAddr(*pc)).expect("lookup") {
                        found += loc.frames.len();
                    }
                }
                found
            })
        });
        g.bench_function("build info", |b| {
            b.iter(|| pclntab::buildinfo::find(black_box(&bin.container)).expect("build info"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

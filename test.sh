#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the Go toolchains, builds the test matrix,
# fetches the real Go 1.16-1.18 binaries and Perfetto's Python package (all cached under
# ${GOSYMS_CACHE:-~/.cache/gosyms}), checks that the committed eBPF objects and table of
# standard-library signatures match their sources, then checks formatting and lints and runs
# every test. The tracing tests need root (or CAP_BPF and CAP_PERFMON); the arm64 ones run in an
# emulated machine that testdata/arm64-vm.sh sets up (tests/tests/arm64_vm.rs).
set -euo pipefail
cd "$(dirname "$0")"

# Debian tools the tests run: jq (checks trace output), setpriv (runs gosyms unprivileged), man
# (formats gosyms' man pages); for `gosyms unstrip`: nm, addr2line, readelf (binutils),
# llvm-symbolizer (llvm), gdb, perf (linux-perf), bpftrace, and arm-linux-gnueabihf-gcc (links the
# binary with several text sections).
need=()
command -v jq >/dev/null || need+=(jq)
command -v setpriv >/dev/null || need+=(util-linux)
command -v man >/dev/null || need+=(man-db)
command -v readelf >/dev/null || need+=(binutils)
command -v llvm-symbolizer >/dev/null || need+=(llvm)
command -v gdb >/dev/null || need+=(gdb)
command -v perf >/dev/null || need+=(linux-perf)
command -v bpftrace >/dev/null || need+=(bpftrace)
command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf)
if ((${#need[@]})); then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >&2
fi

bash testdata/install-toolchains.sh >&2
bash testdata/build-matrix.sh >&2
bash testdata/fetch-real-binaries.sh >/dev/null
# Perfetto's Python package, to read the traces `--format perfetto` writes (pinned, in a venv).
bash testdata/install-python-tools.sh >&2
# Rebuilds the eBPF objects from source (installing nightly rust-src and bpf-linker) and fails
# if a committed probe/gosyms-probe*.bpf.o is stale.
bash probe-ebpf/build.sh --check
# Regenerates the table of standard-library signatures from the installed toolchains (cached per
# toolchain) and fails if the committed resolver/data/stdsigs.zlib is stale.
bash testdata/stdsigs/gen.sh --check

cargo fmt --all --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

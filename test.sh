#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the Go toolchains, builds the test matrix,
# fetches the real Go 1.16-1.18 binaries and Perfetto's Python package (all cached under
# ${GOSYMS_CACHE:-~/.cache/gosyms}),
# checks that the committed eBPF object matches its source, then checks formatting and lints and
# runs every test. The tracing tests need root (or CAP_BPF and CAP_PERFMON).
set -euo pipefail
cd "$(dirname "$0")"

# Debian tools the tests run: jq (checks trace output), setpriv (runs gosyms unprivileged),
# man (formats gosyms' man pages).
need=()
command -v jq >/dev/null || need+=(jq)
command -v setpriv >/dev/null || need+=(util-linux)
command -v man >/dev/null || need+=(man-db)
if ((${#need[@]})); then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >&2
fi

bash testdata/install-toolchains.sh >&2
bash testdata/build-matrix.sh >&2
bash testdata/fetch-real-binaries.sh >/dev/null
# Perfetto's Python package, to read the traces `--format perfetto` writes (pinned, in a venv).
bash testdata/install-python-tools.sh >&2
# Rebuilds the eBPF object from source (installing nightly rust-src and bpf-linker) and fails
# if the committed probe/gosyms-probe.bpf.o is stale.
bash probe-ebpf/build.sh --check

cargo fmt --all --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

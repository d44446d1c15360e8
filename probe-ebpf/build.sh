#!/usr/bin/env bash
# Builds the eBPF object from source and writes it to probe/gosyms-probe.bpf.o, the copy that
# is committed so that gosyms builds with stable Rust alone. With --check, builds into a
# temporary directory instead and fails if the committed object differs (it is stale).
#
# Needs the nightly toolchain with rust-src, and bpf-linker: install-build-tools.sh installs
# both. The object does not depend on where the clone lives: see below.
set -euo pipefail
# One build at a time on a machine: the build directory below is fixed, and so is the tool cache.
exec 9>/tmp/gosyms-bpf-build.lock
flock 9
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
committed="$root/probe/gosyms-probe.bpf.o"
tools_bin="$("$here/install-build-tools.sh")"
export PATH="$tools_bin:$PATH"

# Cargo hashes a path dependency's location into symbol names, so the build always happens in
# one fixed place, whatever directory the clone is in.
work=/tmp/gosyms-bpf-build
mkdir -p "$work"
for crate in probe-ebpf probe-common; do
  rm -rf "$work/$crate.new" && mkdir -p "$work/$crate.new"
  (cd "$root/$crate" && cp -r Cargo.toml src "$work/$crate.new/")
  [[ -f "$root/$crate/Cargo.lock" ]] && cp "$root/$crate/Cargo.lock" "$work/$crate.new/"
  # Replace only when changed, so that cargo's fingerprints keep the build incremental.
  if ! diff -rq "$work/$crate.new" "$work/$crate" >/dev/null 2>&1; then
    rm -rf "$work/$crate" && mv "$work/$crate.new" "$work/$crate"
  else
    rm -rf "$work/$crate.new"
  fi
done
target_dir="$work/target"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export CARGO_CFG_BPF_TARGET_ARCH=x86_64
export RUSTFLAGS="--cfg bpf_target_arch=\"x86_64\" -C debuginfo=2 -C link-arg=--btf \
--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$(rustc +nightly --print sysroot)=/rust"
(cd "$work/probe-ebpf" && cargo +nightly build --quiet --locked --release \
  --target bpfel-unknown-none -Z build-std=core --target-dir "$target_dir")
built="$target_dir/bpfel-unknown-none/release/gosyms-probe"

if [[ "${1:-}" == "--check" ]]; then
  if ! cmp -s "$built" "$committed"; then
    echo "probe/gosyms-probe.bpf.o is stale: run probe-ebpf/build.sh and commit the result" >&2
    exit 1
  fi
  echo "probe/gosyms-probe.bpf.o matches its source" >&2
else
  cp "$built" "$committed"
  echo "wrote $committed ($(stat -c %s "$committed") bytes)" >&2
fi

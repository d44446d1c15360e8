#!/usr/bin/env bash
# Builds the eBPF objects from source, one per target architecture, and writes them to
# probe/gosyms-probe.bpf.o (x86-64) and probe/gosyms-probe-arm64.bpf.o (arm64), the copies that
# are committed so that gosyms builds with stable Rust alone. With --check, fails instead if a
# committed object differs from what its source builds to (it is stale).
#
# Needs the nightly toolchain with rust-src, and bpf-linker: install-build-tools.sh installs
# both. The object does not depend on where the clone lives: see below.
set -euo pipefail
# One build at a time on a machine: the build directory below is fixed, and so is the tool cache.
exec 9>/tmp/gosyms-bpf-build.lock
flock 9
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
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
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
sysroot="$(rustc +nightly --print sysroot)"

# One object per target architecture: the program reads the registers the kernel hands a uprobe,
# whose layout aya-ebpf picks by `--cfg bpf_target_arch`. Each has its own target directory, so
# that switching between them rebuilds nothing.
build() {
  local arch=$1 target_dir=$2
  (cd "$work/probe-ebpf" &&
    CARGO_CFG_BPF_TARGET_ARCH="$arch" \
    RUSTFLAGS="--cfg bpf_target_arch=\"$arch\" -C debuginfo=2 -C link-arg=--btf \
--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$sysroot=/rust" \
    cargo +nightly build --quiet --locked --release \
      --target bpfel-unknown-none -Z build-std=core --target-dir "$target_dir")
  echo "$target_dir/bpfel-unknown-none/release/gosyms-probe"
}

stale=0
for pair in "x86_64 $work/target gosyms-probe.bpf.o" "aarch64 $work/target-aarch64 gosyms-probe-arm64.bpf.o"; do
  read -r arch target_dir name <<<"$pair"
  built="$(build "$arch" "$target_dir")"
  committed="$root/probe/$name"
  if [[ "${1:-}" == "--check" ]]; then
    if ! cmp -s "$built" "$committed"; then
      echo "probe/$name is stale: run probe-ebpf/build.sh and commit the result" >&2
      stale=1
    else
      echo "probe/$name matches its source ($arch)" >&2
    fi
  else
    cp "$built" "$committed"
    echo "wrote $committed ($arch, $(stat -c %s "$committed") bytes)" >&2
  fi
done
exit "$stale"

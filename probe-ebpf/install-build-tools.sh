#!/usr/bin/env bash
# Installs what building the eBPF object needs, into the gosyms cache:
# the nightly toolchain's rust-src (for -Z build-std=core) and bpf-linker,
# built against the nightly rustc's own LLVM 22 so that the bitcode rustc
# emits and the linker that reads it agree. Idempotent; prints the
# directory holding bpf-linker.
set -euo pipefail
cache="${GOSYMS_CACHE:-$HOME/.cache/gosyms}"
tools="$cache/tools"
bpf_linker_version=0.13.0
mkdir -p "$tools"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
rustup component add rust-src --toolchain nightly >&2

if [[ -x "$tools/bin/bpf-linker" ]] && "$tools/bin/bpf-linker" --version 2>/dev/null | grep -q "$bpf_linker_version"; then
  echo "$tools/bin"
  exit 0
fi

sysroot="$(rustc +nightly --print sysroot)"
# The real shared object, not the libLLVM-22-*.so linker script beside it.
libllvm="$(ls "$sysroot"/lib/libLLVM.so.22.* 2>/dev/null | head -n1)"
[[ -n "$libllvm" ]] || { echo "no libLLVM.so.22.* in $sysroot/lib" >&2; exit 1; }
prefix="$tools/llvm-prefix"
mkdir -p "$prefix/lib"
ln -sf "$libllvm" "$prefix/lib/libLLVM.so"

echo "building bpf-linker $bpf_linker_version against $libllvm (takes minutes)" >&2
LLVM_PREFIX="$prefix" RUSTFLAGS="-C link-arg=-Wl,-rpath,$sysroot/lib" \
  cargo install --locked --root "$tools" bpf-linker --version "=$bpf_linker_version" \
  --no-default-features --features llvm-22 >&2
echo "$tools/bin"

#!/usr/bin/env bash
# Runs the fuzz targets, one after the other, each for SECONDS (default 60).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     targets: parse list lookup buildinfo arginfo signature disasm
#                                          types unstrip
#
# Installs cargo-fuzz into $GOSYMS_CACHE/tools (default ~/.cache/gosyms/tools) on first use, and
# needs a nightly toolchain. The corpus grows in $GOSYMS_CACHE/fuzz/corpus/TARGET (not in the
# repository: only the seeds, fuzz/seeds/TARGET, are committed); crashes land in
# $GOSYMS_CACHE/fuzz/artifacts/TARGET. Reproduce one with
#   cargo +nightly fuzz run -s none -a TARGET FILE        (from the repository's root)
# and keep it in fuzz/regressions/ with a unit test in the crate that had the bug.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2 # builds with nightly 1.97 (2026-05)
ALL=(parse list lookup buildinfo arginfo signature disasm types unstrip)

here=$(cd "$(dirname "$0")" && pwd)
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
tools=$cache/tools
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo +nightly install --locked --root "$tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
export PATH=$tools/bin:$PATH

# Largest input worth trying, per target.
max_len() {
    case $1 in
        parse | list | lookup | unstrip) echo 65536 ;; # the seeds are 8-28 KiB ELF files
        buildinfo | disasm) echo 4096 ;;
        arginfo) echo 256 ;; # the runtime's limit is 171 bytes
        signature) echo 1024 ;;
        types) echo 65536 ;; # the seeds are 64 KiB of real descriptors
        *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}

# No sanitizer: the code under test is safe Rust, and without ASan it runs several times faster.
# Debug assertions on, so that arithmetic overflow panics as it does in the tests.
flags=(-s none -a --fuzz-dir "$here")
cd "$here/.."
cargo +nightly fuzz build "${flags[@]}"
status=0
for t in "${targets[@]}"; do
    corpus=$cache/fuzz/corpus/$t
    artifacts=$cache/fuzz/artifacts/$t
    work=$cache/fuzz/work/$t
    mkdir -p "$corpus" "$artifacts" "$work"
    # unstrip reads whole files, as parse does: the same seeds.
    seeds=$here/seeds/$t
    [ "$t" = unstrip ] && seeds=$here/seeds/parse
    echo "== $t: ${secs}s"
    # -jobs=1 runs the fuzzer in one child process whose output goes to fuzz-0.log in the
    # working directory: run there, then show the log's end.
    rm -f "$work"/fuzz-*.log
    if ! (cd "$work" && cargo +nightly fuzz run "${flags[@]}" "$t" "$corpus" "$seeds" -- \
        -max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        -jobs=1 -artifact_prefix="$artifacts/" -print_final_stats=1 >"$work/run.log" 2>&1); then
        status=1
        echo "!! $t failed; see $work"
    fi
    tail -n 25 "$work"/fuzz-0.log 2>/dev/null || tail -n 25 "$work/run.log"
done
ls -l "$cache"/fuzz/artifacts/*/ 2>/dev/null | grep -v '^total' || true
exit $status

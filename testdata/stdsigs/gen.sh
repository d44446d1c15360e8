#!/usr/bin/env bash
# Writes resolver/data/stdsigs.zlib, gosyms' table of the Go standard library's function
# signatures, from every installed Go toolchain (testdata/install-toolchains.sh): each one runs
# main.go over its own GOROOT/src (offline) for linux/amd64, arm64, 386 and arm, and the newest
# merges the tables into one and compresses it. The file is committed, so that building gosyms
# needs no Go.
#
# With --check, writes into a temporary directory instead and fails if the committed table
# differs from what the toolchains give (it is stale), showing the first differences.
#
# The generator and each table are cached under ${GOSYMS_CACHE:-~/.cache/gosyms}/stdsigs, keyed by the hash of
# main.go, the toolchain's `go version` and the architecture, so that --check redoes only what
# changed (the output is a function of these alone).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$(dirname "$here")")
committed=$root/resolver/data/stdsigs.zlib
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
log() { echo "stdsigs: $*" >&2; }

releases=()
for d in "$cache"/go/*/; do
  r=$(basename "$d")
  [ -x "$d/bin/go" ] && releases+=("$r")
done
mapfile -t releases < <(printf '%s\n' "${releases[@]}" | sort -V)
if ((${#releases[@]} == 0)); then
  log "no Go toolchain in $cache/go: run testdata/install-toolchains.sh"
  exit 2
fi

# Run a toolchain's go command with nothing to download and no user settings.
go_of() {
  local r=$1
  shift
  GOROOT="$cache/go/$r" GOCACHE="$cache/gocache/$r" GOPATH="$cache/gopath" GOENV=off \
    GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GO111MODULE=off CGO_ENABLED=0 GOOS= GOARCH= \
    "$cache/go/$r/bin/go" "$@"
}

# The architectures with tables of their own; a binary of another one gets the lines all of
# these agree on.
ARCHES=(amd64 arm64 386 arm)

start=$SECONDS
mkdir -p "$cache/stdsigs"
src_key=$(sha256sum "$here/main.go" | cut -c1-16)
args=()
jobs=()
for r in "${releases[@]}"; do
  version=$(go_of "$r" version)
  # The generator, built by this toolchain for this machine; it runs with the target's GOARCH
  # in the environment, so that go/build selects the target's files and experiment tags.
  gen=$cache/stdsigs/gen-$r-$src_key
  if [ ! -x "$gen" ]; then
    (cd "$here" && go_of "$r" build -o "$gen.tmp" main.go)
    mv "$gen.tmp" "$gen"
  fi
  for a in "${ARCHES[@]}"; do
    key=$( (echo "$version $a" && cat "$here/main.go") | sha256sum | cut -c1-16)
    table=$cache/stdsigs/$r-$a-$key.txt
    args+=("$r/$a=$table")
    [ -s "$table" ] && continue
    # Two at a time (the tests' machine has two cores).
    (
      t0=$SECONDS
      GOROOT="$cache/go/$r" GOOS=linux GOARCH=$a CGO_ENABLED=0 GOENV=off GOFLAGS= \
        GO111MODULE=off "$gen" "$a" > "$table.tmp"
      mv "$table.tmp" "$table"
      log "$r linux/$a: $(wc -l < "$table") lines in $((SECONDS - t0)) s"
    ) &
    jobs+=($!)
    if ((${#jobs[@]} >= 2)); then
      wait "${jobs[0]}"
      jobs=("${jobs[@]:1}")
    fi
  done
done
for j in "${jobs[@]}"; do wait "$j"; done

newest=${releases[-1]}
if [[ "${1:-}" == "--check" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  gen=$cache/stdsigs/gen-$newest-$src_key
  "$gen" merge "$tmp/stdsigs.zlib" "${args[@]}"
  "$gen" unpack "$tmp/stdsigs.zlib" > "$tmp/new.txt"
  if [ ! -f "$committed" ]; then
    log "$committed is missing: run testdata/stdsigs/gen.sh and commit the result"
    exit 1
  fi
  "$gen" unpack "$committed" > "$tmp/old.txt"
  if ! cmp -s "$tmp/old.txt" "$tmp/new.txt"; then
    diff -u "$tmp/old.txt" "$tmp/new.txt" | head -40 >&2 || true
    log "resolver/data/stdsigs.zlib is stale ($(diff "$tmp/old.txt" "$tmp/new.txt" | grep -c '^[<>]') lines differ): run testdata/stdsigs/gen.sh and commit the result"
    exit 1
  fi
  log "resolver/data/stdsigs.zlib matches the toolchains (${releases[*]}) [$((SECONDS - start)) s]"
else
  mkdir -p "$(dirname "$committed")"
  "$cache/stdsigs/gen-$newest-$src_key" merge "$committed" "${args[@]}"
  log "wrote $committed ($(stat -c %s "$committed") bytes) [$((SECONDS - start)) s]"
fi

#!/usr/bin/env bash
# Builds the test matrix: testdata/prog compiled by every installed Go toolchain (see
# install-toolchains.sh, which this script runs first) for many targets, stripped and unstripped,
# and records the truth from Go's own tools run on each unstripped twin.
#
# Layout, under ${GOSYMS_CACHE:-$HOME/.cache/gosyms}:
#   matrix/<release>/<goos>_<goarch>/<variant>            the binary (no .exe suffix, even on windows)
#   matrix/<release>/<goos>_<goarch>/<variant>.version    `go version -m <variant>`  (every binary,
#       run in its directory, so the first line starts "<variant>: go1.N.M")
#   matrix/<release>/<goos>_<goarch>/<variant>.nm         `go tool nm -size -n`     (unstripped only)
#   matrix/<release>/<goos>_<goarch>/<variant>.addr2line  ADDR_HEX \t FUNC \t FILE:LINE, one line per
#       text (T/t) symbol of the .nm file, in nm order; ADDR_HEX is lowercase hex without 0x, as
#       nm prints it; FUNC and FILE:LINE are `go tool addr2line`'s answers ("?" and "?:0" when
#       it has none, e.g. for C functions of the cgo variant)               (unstripped only)
#   matrix/<release>/src/                                  the module as built (go.mod rewritten)
#   matrix/manifest.tsv                                    one row per binary (see header)
#   gocache/<release>/                                     GOCACHE of each toolchain
#
# GOSYMS_RELEASES (space-separated release names) restricts the matrix to those toolchains.
#
# Variants: exe, exe-stripped (-ldflags=-s -w), pie, pie-stripped (-buildmode=pie, only where the
# toolchain does it with CGO_ENABLED=0 and internal linking), and on linux/amd64 cgo, cgo-stripped
# (CGO_ENABLED=1, -linkmode=external, system gcc). All tools run are the building toolchain's own.
#
# The matrix is rebuilt only when a stamp (hash of testdata/prog, this script, the toolchains and
# gcc) changes; each release also has its own stamp, so adding a toolchain builds only that one.
set -euo pipefail

start=$SECONDS
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
matrix=$cache/matrix

log() { echo "build-matrix: $*" >&2; }

bash "$here/install-toolchains.sh" >/dev/null

TARGETS=(linux/amd64 linux/386 linux/arm64 linux/arm linux/ppc64 linux/ppc64le linux/s390x
         linux/riscv64 linux/mips64le linux/loong64 windows/amd64 windows/386 darwin/amd64
         darwin/arm64)

# Targets `go tool dist list` names but the toolchain cannot build with CGO_ENABLED=0 (no internal
# linker for them); any other failed plain exe build is an error.
#   go1.15 darwin/arm64 was iOS only and needs external linking (internal linking came in go1.16).
declare -A NO_EXE=([1.15:darwin/arm64]=1)

# How go build says it cannot do -buildmode=pie for a target with CGO_ENABLED=0: not at all, or only
# with external linking (the linker then wants runtime/cgo, or runs gcc on a foreign object file).
PIE_REFUSED='buildmode=pie not supported|cannot find runtime/cgo|requires external|running gcc failed'

# Toolchains, oldest first: every directory of $cache/go with a runnable bin/go.
releases=()
for d in "$cache"/go/*/; do
  r=$(basename "$d")
  [ -x "$d/bin/go" ] && releases+=("$r")
done
mapfile -t releases < <(printf '%s\n' "${releases[@]}" | sort -V)
# GOSYMS_RELEASES="1.15 1.27.3" restricts the matrix to some toolchains (for trying things out).
if [ -n "${GOSYMS_RELEASES:-}" ]; then
  mapfile -t releases < <(printf '%s\n' "${releases[@]}" | grep -Fx -f <(tr ' ' '\n' <<< "$GOSYMS_RELEASES"))
fi
[ ${#releases[@]} -gt 0 ] || { log "no toolchains under $cache/go"; exit 1; }

gcc_version=$(gcc --version 2>/dev/null | head -n1 || echo "no gcc")
src_hash=$(cd "$here" && { find prog -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum;
                           sha256sum build-matrix.sh; echo "$gcc_version"; } | sha256sum | cut -d' ' -f1)

declare -A gover
for r in "${releases[@]}"; do
  gover[$r]=$(GOROOT="$cache/go/$r" "$cache/go/$r/bin/go" version | awk '{print $3}')
done
release_stamp() { printf '%s %s %s\n' "$src_hash" "$1" "${gover[$1]}"; }

stamp=$(for r in "${releases[@]}"; do release_stamp "$r"; done | sha256sum | cut -d' ' -f1)
if [ -f "$matrix/manifest.tsv" ] && [ "$(cat "$matrix/stamp" 2>/dev/null)" = "$stamp" ]; then
  log "up to date ($(($(wc -l < "$matrix/manifest.tsv") - 1)) binaries in $matrix/manifest.tsv)"
  exit 0
fi
mkdir -p "$matrix"
rm -f "$matrix/stamp"

# gorun RELEASE ARGS...: runs that toolchain's go command in an environment where nothing is
# downloaded and the user's go env file is ignored (GOOS, GOARCH, CGO_ENABLED come from the caller).
gorun() {
  local r=$1; shift
  GOROOT="$cache/go/$r" GOCACHE="$cache/gocache/$r" GOPATH="$cache/gopath" GOENV=off \
    GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off \
    "$cache/go/$r/bin/go" "$@"
}

# truth R BIN: the .nm and .addr2line files of an unstripped binary.
truth() {
  local r=$1 bin=$2
  gorun "$r" tool nm -size -n "$bin" > "$bin.nm"
  awk '$3 == "T" || $3 == "t" { print "0x" $1 }' "$bin.nm" > "$bin.addrs"
  gorun "$r" tool addr2line "$bin" < "$bin.addrs" > "$bin.a2l"
  local n_addr n_out
  n_addr=$(wc -l < "$bin.addrs"); n_out=$(wc -l < "$bin.a2l")
  if [ "$n_out" -ne $((2 * n_addr)) ]; then
    log "$bin: addr2line printed $n_out lines for $n_addr addresses"; exit 1
  fi
  awk 'NR == FNR { addr[NR] = substr($0, 3); next }
       FNR % 2 == 1 { fn = $0; next }
       { printf "%s\t%s\t%s\n", addr[FNR / 2], fn, $0 }' "$bin.addrs" "$bin.a2l" > "$bin.addr2line"
  rm -f "$bin.addrs" "$bin.a2l"
}

# version R BIN: run in BIN's directory so the file names the binary by its base name only.
version() {
  (cd "$(dirname "$2")" && gorun "$1" version -m "$(basename "$2")" > "$2.version" 2>&1) || true
}

# build_release R: builds everything of one toolchain into $matrix/R and writes $matrix/R/manifest.part.
build_release() {
  local r=$1 gv=${gover[$1]}
  local rdir=$matrix/$r
  rm -rf "$rdir"
  mkdir -p "$rdir"
  # The module as this toolchain builds it: go.mod's go line is the toolchain's major.minor.
  cp -r "$here/prog" "$rdir/src"
  local mm; mm=$(echo "$gv" | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
  sed -i -E "s/^go [0-9.]+\$/go $mm/" "$rdir/src/go.mod"
  local supported; supported=$(GOOS= GOARCH= gorun "$r" tool dist list)
  local part=$rdir/manifest.part.tmp
  : > "$part"

  # row VARIANT STRIPPED TWIN-VARIANT (relative to the target dir $tdir)
  row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$gv" "$goos" "$goarch" "$1" "$2" \
      "$tdir/$1" "$tdir/$3" "$tdir/$3.nm" "$tdir/$3.addr2line" "$tdir/$1.version" >> "$part"
  }

  # gb OUT [go build flags...]: builds with the target environment already exported by the caller.
  gb() {
    local out=$1; shift
    (cd "$rdir/src" && gorun "$r" build -o "$out" "$@" .)
  }

  local target goos goarch tdir t0 done_variants err
  for target in "${TARGETS[@]}"; do
    goos=${target%/*} goarch=${target#*/}
    if ! grep -qx "$target" <<< "$supported"; then
      log "$r $target: not in go tool dist list, skipped"
      continue
    fi
    if [ -n "${NO_EXE[$r:$target]:-}" ]; then
      log "$r $target: cannot be built without cgo, skipped"
      continue
    fi
    t0=$SECONDS
    tdir=$rdir/${goos}_$goarch
    mkdir -p "$tdir"
    export GOOS=$goos GOARCH=$goarch CGO_ENABLED=0
    done_variants="exe"
    if ! err=$(gb "$tdir/exe" 2>&1); then
      log "$r $target: go build failed:"; echo "$err" >&2; exit 1
    fi
    gb "$tdir/exe-stripped" -ldflags='-s -w'
    truth "$r" "$tdir/exe"; version "$r" "$tdir/exe"; version "$r" "$tdir/exe-stripped"
    row exe 0 exe; row exe-stripped 1 exe

    if err=$(gb "$tdir/pie" -buildmode=pie 2>&1); then
      gb "$tdir/pie-stripped" -buildmode=pie -ldflags='-s -w'
      truth "$r" "$tdir/pie"; version "$r" "$tdir/pie"; version "$r" "$tdir/pie-stripped"
      row pie 0 pie; row pie-stripped 1 pie
      done_variants+=" pie"
    elif grep -qE "$PIE_REFUSED" <<< "$err"; then
      rm -f "$tdir/pie"
      done_variants+=" (no pie: $(grep -E "$PIE_REFUSED" <<< "$err" | head -n1))"
    else
      log "$r $target: go build -buildmode=pie failed:"; echo "$err" >&2; exit 1
    fi

    if [ "$target" = linux/amd64 ]; then
      export CGO_ENABLED=1
      gb "$tdir/cgo" -ldflags='-linkmode=external'
      gb "$tdir/cgo-stripped" -ldflags='-s -w -linkmode=external'
      truth "$r" "$tdir/cgo"; version "$r" "$tdir/cgo"; version "$r" "$tdir/cgo-stripped"
      row cgo 0 cgo; row cgo-stripped 1 cgo
      done_variants+=" cgo"
    fi
    unset GOOS GOARCH CGO_ENABLED
    log "$r $target: $done_variants ($((SECONDS - t0))s)"
  done
  mv "$part" "$rdir/manifest.part"
  release_stamp "$r" > "$rdir/stamp"
}

for r in "${releases[@]}"; do
  t0=$SECONDS
  if [ -f "$matrix/$r/manifest.part" ] && [ "$(cat "$matrix/$r/stamp" 2>/dev/null)" = "$(release_stamp "$r")" ]; then
    log "$r: $(wc -l < "$matrix/$r/manifest.part") binaries (up to date)"
  else
    build_release "$r"
    log "$r: $(wc -l < "$matrix/$r/manifest.part") binaries ($((SECONDS - t0))s)"
  fi
done

# Releases whose toolchain is no longer installed are dropped from the matrix.
for d in "$matrix"/*/; do
  [ -d "$d" ] || continue
  r=$(basename "$d")
  [ -x "$cache/go/$r/bin/go" ] || { log "removing $d (toolchain no longer installed)"; rm -rf "$d"; }
done

{
  printf 'release\tgo_version\tgoos\tgoarch\tvariant\tstripped\tpath\ttwin\tnm\taddr2line\tversion\n'
  for r in "${releases[@]}"; do cat "$matrix/$r/manifest.part"; done
} > "$matrix/manifest.tsv.tmp"
mv "$matrix/manifest.tsv.tmp" "$matrix/manifest.tsv"
echo "$stamp" > "$matrix/stamp"
log "$(($(wc -l < "$matrix/manifest.tsv") - 1)) binaries from ${#releases[@]} toolchains in $((SECONDS - start))s; manifest: $matrix/manifest.tsv"

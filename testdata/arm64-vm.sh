#!/usr/bin/env bash
# The emulated arm64 machine that gosyms' arm64 tracing is tested in, on an x86-64 host.
#
#   testdata/arm64-vm.sh            run the tracing tests inside it; prints "N passed, M failed"
#   testdata/arm64-vm.sh --bench    measure the per-call overhead against the tracefs floor
#                                   (CALLS per run, default 20000; ROUNDS, default 5)
#
# GOSYMS_VM_TEST_ARGS passes more arguments to the test executables inside, e.g. a test name to
# run only the tests whose names contain it.
#
# It fetches and caches, under ${GOSYMS_CACHE:-~/.cache/gosyms} (arm64-vm/ and apt-trixie-arm64/):
#   - Debian trixie's arm64 kernel (linux-image-arm64, 6.12: BTF, uprobes, ring buffers,
#     uprobe_multi) and busybox-static, with apt-get download under a private apt configuration
#     (testdata/apt-download.sh) and dpkg -x: the system's apt state is not touched;
#   - from the system's apt (installed when missing): qemu-system-arm (qemu-system-aarch64),
#     gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (the linker, a static glibc, and the
#     dynamic loader that Go's PIEs name), cpio;
#   - the nightly toolchain's rust-src, to build Rust's std for aarch64-unknown-linux-gnu
#     (-Z build-std: rustup has no prebuilt std for it here).
# It builds gosyms and the tracing tests (tests/tests/trace.rs, trace_safety.rs) for arm64,
# statically linked, and the Go programs they trace with the installed Go toolchains
# (GOARCH=arm64; the tests take them from GOSYMS_PREBUILT_GO). Then it boots the kernel under
# QEMU's full-system emulation (-M virt, no KVM, 2 CPUs, 4 GiB) with an initramfs holding all
# of them and busybox, runs the tests inside as root, and reads the results from the serial
# console, which is kept in arm64-vm/logs/. Everything built is cached; cargo and the Go build
# cache rebuild what changed, and the Go programs are rebuilt when their sources change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
vm=$cache/arm64-vm
mode=test
case "${1:-}" in
  "") ;;
  --bench) mode=bench ;;
  *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac
mkdir -p "$vm/logs"
say() { echo "arm64-vm: $*" >&2; }
started=$SECONDS
step_start=$SECONDS
step() { say "$1 ($((SECONDS - step_start)) s)"; step_start=$SECONDS; }

# ------------------------------------------------------------------------------------------------
# Host tools from the system's apt: QEMU, the cross linker with a static glibc, cpio.
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[[ -f /usr/aarch64-linux-gnu/lib/libc.a ]] || need+=(libc6-dev-arm64-cross)
command -v cpio >/dev/null || need+=(cpio)
if ((${#need[@]})); then
  say "installing ${need[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc aarch64-linux-gnu-strip cpio jq; do
  command -v "$tool" >/dev/null || { say "$tool is missing (jq: test.sh installs it)"; exit 1; }
done
step "host tools ready"

# ------------------------------------------------------------------------------------------------
# The kernel and busybox, from Debian trixie for arm64, unpacked into the cache.
debian_spec="trixie arm64: linux-image-arm64 busybox-static"
if [[ ! -f $vm/debian/stamp || "$(cat "$vm/debian/stamp")" != "$debian_spec" ]]; then
  say "fetching $debian_spec"
  # shellcheck source=testdata/apt-download.sh
  source "$here/apt-download.sh"
  apt_private trixie arm64
  # linux-image-arm64 is a metapackage: fetch the image package it depends on.
  kernel_pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-arm64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
  [[ -n $kernel_pkg ]] || { say "linux-image-arm64 names no kernel package"; exit 1; }
  tmp=$(mktemp -d)
  apt_debs trixie arm64 "$tmp" "$kernel_pkg" busybox-static
  rm -rf "$vm/debian" && mkdir -p "$vm/debian"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
  cp "$tmp"/x/boot/vmlinuz-* "$vm/debian/Image"
  cp "$tmp"/x/boot/config-* "$vm/debian/config"
  cp "$tmp/x/usr/bin/busybox" "$vm/debian/busybox"
  basename "$(ls "$tmp"/x/boot/vmlinuz-*)" | sed 's/^vmlinuz-//' > "$vm/debian/kernel-release"
  rm -rf "$tmp"
  echo "$debian_spec" > "$vm/debian/stamp"
fi
step "kernel $(cat "$vm/debian/kernel-release") and busybox ready"

# ------------------------------------------------------------------------------------------------
# gosyms and its tracing tests for arm64: nightly Rust, std built from rust-src, linked
# statically by the cross gcc (the initramfs has no C library).
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
rustup component add rust-src --toolchain nightly >&2 2>/dev/null
target=aarch64-unknown-linux-gnu
target_dir=$vm/target
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# glibc warns that getaddrinfo and getpwuid_r want its shared libraries at run time when linked
# statically; gosyms calls neither.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static -A linker-messages"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
(cd "$root" && cargo +nightly build -Z build-std --target "$target" --target-dir "$target_dir" \
  --locked -q -p gosyms)
tests_json=$(cd "$root" && cargo +nightly test -Z build-std --target "$target" \
  --target-dir "$target_dir" --locked -q --no-run -p gosyms-tests --test trace --test trace_safety \
  --message-format=json)
declare -A test_exe=()
while read -r name exe; do test_exe[$name]=$exe; done < <(jq -r \
  'select(.reason == "compiler-artifact" and .executable != null and .profile.test) | "\(.target.name) \(.executable)"' \
  <<<"$tests_json")
for t in trace trace_safety; do
  [[ -n ${test_exe[$t]:-} ]] || { say "cargo built no test executable $t"; exit 1; }
done
step "gosyms and the tests built for $target"

# ------------------------------------------------------------------------------------------------
# The Go programs, built beforehand (no Go toolchain runs in the machine) and named as
# tests/src/lib.rs prebuilt_name says. Rebuilt when a source or this list changes.
go_builds=()
for release in 1.15 1.19 1.21.13 1.27.3; do
  for m in exe pie; do
    go_builds+=("trace $release arm64 $m" "trace $release arm64 $m -s -w")
  done
done
go_builds+=("stress 1.27.3 arm64 exe" "trace 1.27.3 amd64 exe" "loop 1.27.3 arm64 exe -s -w")
src_of() {
  case $1 in
    loop) echo "$root/benches/trace/loop.go" ;;
    *) echo "$root/testdata/$1/main.go" ;;
  esac
}
go_key=$( { printf '%s\n' "${go_builds[@]}"; for d in trace stress loop; do cat "$(src_of $d)"; done; } | sha256sum | cut -c1-16)
go_dir=$vm/go/$go_key
if [[ ! -f $go_dir/stamp ]]; then
  rm -rf "$vm/go" && mkdir -p "$go_dir"
  for b in "${go_builds[@]}"; do
    read -r dir release goarch m ldflags <<<"$b"
    ldflags=${b#"$dir $release $goarch $m"}
    ldflags=${ldflags# }
    name="$dir-$release-$goarch-$m${ldflags:+-stripped}"
    goroot=$cache/go/$release
    [[ -x $goroot/bin/go ]] || { say "Go $release is missing: run testdata/install-toolchains.sh"; exit 1; }
    GOROOT=$goroot GOTOOLCHAIN=local GOFLAGS= GO111MODULE=off CGO_ENABLED=0 GOOS=linux GOARCH=$goarch \
      GOCACHE=$cache/gocache/$release \
      "$goroot/bin/go" build -buildmode="$m" -ldflags="$ldflags" -o "$go_dir/$name" "$(src_of "$dir")"
  done
  touch "$go_dir/stamp"
fi
step "${#go_builds[@]} Go programs ready"

# ------------------------------------------------------------------------------------------------
# The initramfs: busybox, /init, gosyms and the test executables (stripped copies, laid out as
# in the target directory, where the tests look for gosyms), the Go programs.
stage=$vm/initramfs
rm -rf "$stage" && mkdir -p "$stage"/{bin,lib,gosyms/debug/deps,go,tmp,root,proc,sys,dev}
cp "$vm/debian/busybox" "$stage/bin/busybox"
# Go's PIEs name the dynamic loader as their interpreter, even without cgo (they need no library).
cp /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 "$stage/lib/"
aarch64-linux-gnu-strip -o "$stage/gosyms/debug/gosyms" "$target_dir/$target/debug/gosyms"
for t in trace trace_safety; do
  aarch64-linux-gnu-strip -o "$stage/gosyms/debug/deps/$t" "${test_exe[$t]}"
done
cp "$go_dir"/*-* "$stage/go/"
# More arguments for both test executables (a name filter, --nocapture ...), for debugging.
printf '%s\n' "${GOSYMS_VM_TEST_ARGS:-}" > "$stage/test-args"

# What runs inside: mounts, then the tests or the benchmark; every line for the host starts
# with "gosyms-vm:". The machine powers off at the end.
cat > "$stage/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /bin /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp GOSYMS_PREBUILT_GO=/go
mode=$(sed -n 's/.*gosyms\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
echo "gosyms-vm: booted linux $(uname -r) $(uname -m), $(nproc) CPUs, $(sed -n 's/MemTotal: *//p' /proc/meminfo) memory, mode $mode"
cd /tmp
if [ "$mode" = test ]; then
  # Each test executable runs whole, as on amd64, but for two tests.
  run() {
    name=$1; shift
    start=$(date +%s)
    # Streamed to the console as it comes, with each test's time (libtest built by nightly).
    { /gosyms/debug/deps/$name --test-threads=2 -Z unstable-options --report-time "$@"; echo $? > /tmp/$name.rc; } 2>&1 |
      tee /tmp/$name.out | sed "s/^/gosyms-vm: $name: /"
    rc=$(cat /tmp/$name.rc)
    summary=$(grep '^test result:' /tmp/$name.out | tail -n1)
    passed=$(echo "$summary" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
    failed=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    # No summary: the executable crashed; count it as one failure.
    [ -n "$summary" ] || { passed=0; failed=1; }
    [ "$rc" = 0 ] || [ "$failed" != 0 ] || failed=1
    echo "gosyms-vm-result: $name passed=$passed failed=$failed rc=$rc seconds=$(( $(date +%s) - start ))"
  }
  # Left out, and why: trace_refuses_without_privileges_clearly needs util-linux's setpriv
  # (busybox's cannot change user ids); events_are_valid_json_for_jq needs jq; neither checks
  # anything that depends on the architecture. millions_of_calls_under_gc_and_stack_growth
  # (2.3 million traced calls) would take a quarter of an hour here, and
  # two_tracers_on_one_process_and_the_target_exiting_under_them (600,000 events) 8 minutes;
  # the other tests cover the same paths (1,000 goroutines growing their stacks under the
  # sigkill and sigint tests, 100 goroutines and a stack that moves during a traced call in
  # trace).
  # Emulation is slow: trace_safety's delays and timeouts stretch by this factor.
  export GOSYMS_TEST_SLOWDOWN=10
  extra=$(cat /test-args)
  run trace --skip trace_refuses_without_privileges_clearly $extra
  run trace_safety --skip events_are_valid_json_for_jq --skip millions_of_calls_under_gc_and_stack_growth \
    --skip two_tracers_on_one_process_and_the_target_exiting_under_them $extra
else
  /bench.sh
fi
echo "gosyms-vm: done"
poweroff -f
INIT
chmod +x "$stage/init"

if [[ $mode == bench ]]; then
  # Measured with the release build, as benches/trace_overhead.py does.
  (cd "$root" && cargo +nightly build -Z build-std --target "$target" --target-dir "$target_dir" \
    --locked -q --release -p gosyms)
  mkdir -p "$stage/gosyms/release"
  aarch64-linux-gnu-strip -o "$stage/gosyms/release/gosyms" "$target_dir/$target/release/gosyms"
  # The loop's probe sites, from gosyms on the host (resolve reads any architecture).
  cargo build -q -p gosyms --manifest-path "$root/Cargo.toml" >&2
  sig='main.Target(n int, s string) (int, error)'
  plan=$("$root/target/debug/gosyms" resolve --json "$go_dir/loop-1.27.3-arm64-exe-stripped" "$sig")
  jq -r '.entry_probe.file_offset' <<<"$plan" > "$stage/entry-offset"
  jq -r '.returns[].file_offset' <<<"$plan" > "$stage/return-offsets"
  printf '%s\n' "$sig" > "$stage/signature"
  # As for benches/trace_overhead.py: CALLS per run, ROUNDS of them.
  printf 'calls=%d\nrounds=%d\n' "${CALLS:-20000}" "${ROUNDS:-5}" > "$stage/bench-env"
  cat > "$stage/bench.sh" <<'BENCH'
#!/bin/sh
# benches/trace_overhead.py's method, in busybox sh: the loop untraced, under plain tracefs
# uprobes on the instructions gosyms probes (the floor), and under gosyms trace, entry only and
# entry+RET, configurations alternating within each round; medians of ns per call; overhead is
# traced minus untraced; the ratio compares gosyms with the floor on the same probe points.
loop=/go/loop-1.27.3-arm64-exe-stripped
. /bench-env
sig=$(cat /signature)
tfs=/sys/kernel/tracing
nspc() { sed -n 's/.*"ns_per_call":\([0-9.]*\).*/\1/p'; }
floor() {
  i=0
  for off in "$@"; do
    echo "p:gosyms_bench/p$i $loop:$off" >> $tfs/uprobe_events
    i=$((i + 1))
  done
  echo 1 > $tfs/events/gosyms_bench/enable
  $loop $calls | nspc
  echo 0 > $tfs/events/gosyms_bench/enable
  echo > $tfs/uprobe_events
  echo > $tfs/trace
}
gos() {
  /gosyms/release/gosyms trace --format json -o /tmp/events.jsonl "$@" "$sig" -- $loop $calls 2>/tmp/gosyms.err | nspc
  grep -q ' 0 dropped' /tmp/gosyms.err || { echo "gosyms-vm: gosyms dropped events:"; cat /tmp/gosyms.err; }
}
entry=$(cat /entry-offset)
rets=$(cat /return-offsets)
run() {
  case $1 in
    untraced) $loop $calls | nspc ;;
    floor-entry) floor $entry ;;
    floor-all) floor $entry $rets ;;
    gosyms-entry) gos --no-returns ;;
    gosyms-all) gos ;;
  esac
}
configs="untraced floor-entry floor-all gosyms-entry gosyms-all"
echo "gosyms-vm: bench: entry at $entry, returns at $(echo $rets), $rounds rounds of $calls calls"
for c in $configs; do run $c > /dev/null; done # warm-up
r=1
while [ $r -le $rounds ]; do
  for c in $configs; do
    v=$(run $c)
    echo "$v" >> /tmp/bench.$c
    echo "gosyms-vm: bench: round $r $c $v ns/call"
  done
  r=$((r + 1))
done
median() { sort -n /tmp/bench.$1 | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
u=$(median untraced)
for p in entry all; do
  f=$(median floor-$p)
  g=$(median gosyms-$p)
  awk -v u=$u -v f=$f -v g=$g -v p=$p 'BEGIN {
    printf "gosyms-vm-bench: %s untraced %.2f floor %.0f gosyms %.0f ns/call; overhead ratio %.3f\n",
      p, u, f, g, (g - u) / (f - u) }'
done
BENCH
  chmod +x "$stage/bench.sh"
fi
initramfs=$vm/initramfs.cpio
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$initramfs"
rm -rf "$stage"
step "initramfs of $(($(stat -c %s "$initramfs") >> 20)) MiB ready"

# ------------------------------------------------------------------------------------------------
# Boot. The serial console (PL011, ttyAMA0) goes to the log; the machine powers itself off.
log=$vm/logs/$mode-$(date -u +%Y%m%dT%H%M%SZ).log
# Keep the 20 latest logs.
find "$vm/logs" -name '*.log' -printf '%T@ %p\n' | sort -rn | tail -n +21 | cut -d' ' -f2- | xargs -r rm -f
say "booting; console log: $log"
set +e
# Neoverse N1 is the core of AWS Graviton2 and Ampere Altra. No network card (QEMU would look
# for its boot ROM), no disk: everything is in the initramfs.
timeout "${GOSYMS_VM_TIMEOUT:-3600}" qemu-system-aarch64 -M virt -cpu neoverse-n1 -smp 2 -m 4G \
  -nographic -no-reboot -nic none -kernel "$vm/debian/Image" -initrd "$initramfs" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 loglevel=4 gosyms.mode=$mode" \
  </dev/null >"$log" 2>&1
qemu_rc=$?
set -e
tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
step "the machine stopped (qemu exit status $qemu_rc)"

fail() { say "FAILED: $*; the machine's console log: $log"; exit 1; }
grep -q '^gosyms-vm: booted' "$log" || fail "the machine did not boot"
grep '^gosyms-vm: booted' "$log" | sed 's/^gosyms-vm: /arm64-vm: /' >&2
grep -q '^gosyms-vm: done' "$log" || fail "the machine stopped before the end (qemu exit status $qemu_rc)"
if [[ $mode == bench ]]; then
  { grep '^gosyms-vm-bench: ' "$log" || true; } | sed 's/^gosyms-vm-bench: //'
  [[ $(grep -c '^gosyms-vm-bench: ' "$log" || true) == 2 ]] || fail "no overhead figures"
  say "done in $((SECONDS - started)) s"
  exit 0
fi
{ grep -E '^gosyms-vm: [a-z_]+: test .* \.\.\. ' "$log" || true; } | sed 's/^gosyms-vm: //' >&2
passed=0 failed=0
while read -r _ name p f rc secs; do
  say "$name: ${p#passed=} passed, ${f#failed=} failed, exit status ${rc#rc=}, ${secs#seconds=} s"
  passed=$((passed + ${p#passed=}))
  failed=$((failed + ${f#failed=}))
done < <(grep '^gosyms-vm-result: ' "$log")
reports=$(grep -c '^gosyms-vm-result: ' "$log" || true)
[[ $reports == 2 ]] || { failed=$((failed + 1)); say "$reports test executables of 2 reported"; }
say "done in $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0)) || fail "$passed passed, $failed failed"

#!/usr/bin/env python3
"""Measures what `gosyms trace` costs the traced program, against the kernel's floor and bpftrace.

Builds benches/trace/loop.go (a loop calling `main.Target(n int, s string, v any) (int, error)`
with an int behind `v` and a non-nil error returned, so that gosyms decodes both interfaces by
their dynamic types on every call; it prints the wall time of the loop divided by the number of
calls) stripped, and runs it:

  untraced
  floor, entry          plain tracefs uprobe (uprobe_events, no BPF, fetches nothing) on the
                        instruction gosyms probes at entry
  floor, entry+RET      the same plus one on every RET of Target
  bpftrace, entry       reading n, s (string), tid, goid and a timestamp at the same instruction
  bpftrace, entry+RET   plus the results at every RET
  gosyms, entry         `gosyms trace --no-returns` (arguments and the string), when it has it
  gosyms, entry+RET     `gosyms trace` (arguments, string, results, durations)
  gosyms --otlp-endpoint, entry+RET
                        the same as OpenTelemetry spans to an OTLP/HTTP receiver running beside it
                        (tests/src/bin/otlp-receiver.rs, built here), instead of JSON to a file
  gosyms --min-duration 1s, --stats, --stack (entry+RET): filtered in the kernel (no events),
                        added up in the kernel (no events), and with the call stack

Configurations alternate within each round (ROUNDS of them, after a shorter warm-up round); the
tables give medians. Overhead is traced minus untraced ns per call; the ratio compares gosyms
with the floor that has the same probe points. Then: the eBPF programs' own run time per hit
(kernel.bpf_stats_enabled, in separate runs because the accounting costs time), the events per
second gosyms sustains without drops, the time to attach 100, 1,000 and 10,000 probes to a
generated program with 10,000 functions, and an HTTP server's requests/s (benches/trace/
httpserver.go, loaded by benches/trace/httpload.go over keep-alive connections) untraced, under
`gosyms trace 'net/http.*'`, `--stats` and `--min-duration 1s` on the same pattern.

Needs root. Installs bpftrace with apt-get when missing; mounts tracefs when it is not mounted (and leaves it mounted).
Every tracefs probe it creates is removed on exit, also after an error or Ctrl-C.

Usage: sudo python3 benches/trace_overhead.py
Environment: ROUNDS (5), CALLS (loop calls per run, 100000), RATE_CALLS (300000),
ATTACH_COUNTS (100,1000,10000; empty to skip), STATS_ROUNDS (3), GO_VERSIONS (1.27.3; add 1.15
for the stack ABI), OTLP (1; 0 to leave out the OTLP rows),
HTTP_ROUNDS (3; 0 to skip), HTTP_SECONDS (5), HTTP_CONNS (8).
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("GOSYMS_CACHE", os.path.expanduser("~/.cache/gosyms"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
CALLS = int(os.environ.get("CALLS", "100000"))
RATE_CALLS = int(os.environ.get("RATE_CALLS", "300000"))
STATS_ROUNDS = int(os.environ.get("STATS_ROUNDS", "3"))
ATTACH_COUNTS = [int(x) for x in os.environ.get("ATTACH_COUNTS", "100,1000,10000").split(",") if x]
GO_VERSIONS = [v for v in os.environ.get("GO_VERSIONS", "1.27.3").split(",") if v]
OTLP = os.environ.get("OTLP", "1") != "0"
SIGNATURE = "main.Target(n int, s string, v any) (int, error)"
HTTP_ROUNDS = int(os.environ.get("HTTP_ROUNDS", "3"))
HTTP_SECONDS = float(os.environ.get("HTTP_SECONDS", "5"))
HTTP_CONNS = int(os.environ.get("HTTP_CONNS", "8"))
TRACEFS = "/sys/kernel/tracing"
GROUP = "gosyms_bench"
MANY = 10000


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------------
# tracefs: the floor. Every probe made here is listed in `made` and removed by `cleanup`.

class Tracefs:
    def __init__(self):
        self.made = []

    def ready(self):
        if not os.path.exists(os.path.join(TRACEFS, "uprobe_events")):
            sh(["mount", "-t", "tracefs", "nodev", TRACEFS])  # left mounted: others may use it now
        # Probes a killed earlier run left behind.
        with open(os.path.join(TRACEFS, "uprobe_events")) as f:
            self.made = [line.split()[0].split("/")[1] for line in f if line.startswith(f"p:{GROUP}/")]
        self.cleanup()

    def _write(self, name, text):
        # os.open: Python's append mode seeks to the end, which tracefs refuses (EINVAL).
        fd = os.open(os.path.join(TRACEFS, name), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)

    def add(self, path, offsets):
        for i, off in enumerate(offsets):
            name = f"p{i}"
            self.made.append(name)
            self._write("uprobe_events", f"p:{GROUP}/{name} {path}:{off:#x}")
        self._write(f"events/{GROUP}/enable", "1")

    def cleanup(self):
        if self.made:
            try:
                self._write(f"events/{GROUP}/enable", "0")
            except OSError:
                pass
            for name in self.made:
                try:
                    self._write("uprobe_events", f"-:{GROUP}/{name}")
                except OSError as e:
                    log(f"could not remove tracefs probe {GROUP}/{name}: {e}")
            self.made = []
            try:
                open(os.path.join(TRACEFS, "trace"), "w").close()  # drop the recorded hits
            except OSError:
                pass


TRACEFS_STATE = Tracefs()
RECEIVER = None


# ---------------------------------------------------------------------------------------------
# Building and planning

def go_build(version, src, out):
    goroot = os.path.join(CACHE, "go", version)
    env = dict(os.environ, GOROOT=goroot, GO111MODULE="off", CGO_ENABLED="0", GOTOOLCHAIN="local",
               GOFLAGS="", GOARCH="amd64", GOOS="linux")
    sh([os.path.join(goroot, "bin", "go"), "build", "-ldflags=-s -w", "-o", out, src], env=env,
       cwd=os.path.dirname(src))


def write_many(path, n):
    with open(path, "w") as f:
        f.write(f"// Generated by benches/trace_overhead.py: {n} tiny functions to attach to.\n"
                "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n")
        for i in range(n):
            f.write(f"//go:noinline\nfunc f{i}(x int) int {{ return x*3 + {i} }}\n\n")
        f.write("var fs = [...]func(int) int{\n")
        for i in range(n):
            f.write(f"\tf{i},\n")
        f.write("}\n\nfunc main() {\n\ts := 0\n\tfor i, f := range fs {\n\t\ts += f(i)\n\t}\n"
                "\tif len(os.Args) > 1 {\n\t\tfmt.Println(s)\n\t}\n}\n")


def plan(gosyms, binary):
    out = sh([gosyms, "resolve", "--json", binary, SIGNATURE], capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[0])


BT_REGS = {"rax": "ax", "rbx": "bx", "rcx": "cx", "rdx": "dx", "rsi": "si", "rdi": "di",
           "rbp": "bp", "rsp": "sp"}


def bt_word(piece):
    """A bpftrace expression for one word of an argument or result, from resolve's plan."""
    if piece["location"] == "reg":
        r = piece["reg"]
        return f'reg("{BT_REGS.get(r, r)}")'
    if piece["location"] == "stack":
        return f'*(uint64 *)(reg("sp") + {piece["stack_offset"]})'
    raise ValueError(f"cannot read {piece} from bpftrace")


def bt_program(p, binary, returns):
    """bpftrace reading what gosyms reads: timestamp, tid, goroutine id, n, s (64 bytes at most),
    and at each RET the results (int, and the error's two words)."""
    g = p["goid"]
    if g["g_register"]:
        gexpr = f'reg("{BT_REGS.get(g["g_register"], g["g_register"])}")'
    else:  # Go's g in thread-local storage, just below fsbase
        gexpr = "*(uint64 *)uptr(curtask->thread.fsbase - 8)"
    goid = f"*(uint64 *)({gexpr} + {g['offset']})"
    n = bt_word(p["args"][0]["pieces"][0])
    sptr, slen = (bt_word(x) for x in p["args"][1]["pieces"])
    prog = (f'uprobe:{binary}:{p["entry_probe"]["file_offset"]:#x} {{ printf("call %llu %d %llu %lld %s\\n", '
            f"nsecs, tid, {goid}, {n}, str({sptr}, {slen})); }}\n")
    if returns:
        r0 = bt_word(p["results"][0]["pieces"][0])
        e0, e1 = (bt_word(x) for x in p["results"][1]["pieces"])
        for r in p["returns"]:
            prog += (f'uprobe:{binary}:{r["file_offset"]:#x} {{ printf("ret %llu %d %llu %lld %llx %llx\\n", '
                     f"nsecs, tid, {goid}, {r0}, {e0}, {e1}); }}\n")
    return prog


# ---------------------------------------------------------------------------------------------
# Runs

def loop_result(stdout):
    for line in stdout.splitlines():
        if line.startswith('{"calls"'):
            return json.loads(line)
    raise RuntimeError(f"no result line from the loop in: {stdout[-500:]!r}")


class Sampler:
    """Samples a running tracer every 50 ms: its own CPU time (/proc/PID/stat, without its
    children) and, with `bpf`, its BPF programs' run_time_ns and run_cnt (/proc/PID/fdinfo)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid, bpf):
        self.pid = pid
        self.bpf = bpf
        self.progs = {}
        self.cpu = 0.0
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def sample(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            self.cpu = (int(fields[11]) + int(fields[12])) / self.TICK  # utime, stime
        except (OSError, IndexError, ValueError):
            return
        if not self.bpf:
            return
        d = f"/proc/{self.pid}/fdinfo"
        try:
            fds = os.listdir(d)
        except OSError:
            return
        for fd in fds:
            try:
                with open(os.path.join(d, fd)) as f:
                    info = f.read()
            except OSError:
                continue
            if "prog_tag" not in info:
                continue
            m = dict(re.findall(r"^(\w+):\s+(\S+)", info, re.M))
            if "run_cnt" in m:
                self.progs[(fd, m["prog_tag"])] = (int(m["run_time_ns"]), int(m["run_cnt"]))

    def run(self):
        while not self.stop:
            self.sample()
            time.sleep(0.05)

    def result(self):
        self.stop = True
        self.t.join()
        ns = sum(v[0] for v in self.progs.values())
        cnt = sum(v[1] for v in self.progs.values())
        return (ns, cnt) if self.bpf else None, self.cpu


def run_tracer(cmd, stats=False):
    """Runs a tracer that starts the loop itself; returns its stdout, stderr, BPF stats."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        s = Sampler(p.pid, stats)
        rc = p.wait()
        bpf, cpu = s.result()
        out.seek(0)
        err.seek(0)
        o, e = out.read(), err.read()
    if rc != 0:
        raise RuntimeError(f"{cmd[0]} exited with {rc}: {e[-1000:]}")
    return o, e, bpf, cpu


def parse_gosyms(stderr):
    m = re.search(r"stopped \([^)]*\): (\d+) events? (?:written|read|sent), (\d+) dropped", stderr)
    a = re.search(r"with (\d+) uprobes? \(program loaded in \d+ ms, attached in (\d+) ms\)", stderr)
    if not m:
        raise RuntimeError(f"no summary from gosyms: {stderr[-1000:]}")
    info = {"events": int(m.group(1)), "drops": int(m.group(2)),
            "uprobes": int(a.group(1)) if a else None, "attach_ms": int(a.group(2)) if a else None}
    o = re.search(r"OTLP: (\d+) spans?: (\d+) exported to \S+, (\d+) dropped \(queue full\), "
                  r"(\d+) failed", stderr)
    if o:
        info.update(spans=int(o.group(1)), exported=int(o.group(2)), span_drops=int(o.group(3)),
                    span_failed=int(o.group(4)))
    return info


class OtlpReceiver:
    """tests/src/bin/otlp-receiver.rs in its own process: decodes every export with the
    OpenTelemetry project's types, as a collector would, and counts the spans."""

    def __init__(self):
        sh(["cargo", "build", "--release", "-q", "-p", "gosyms-tests", "--bin", "otlp-receiver"], cwd=ROOT)
        self.p = subprocess.Popen([os.path.join(ROOT, "target", "release", "otlp-receiver")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.p.stdout.readline().strip()

    def close(self):
        self.p.stdin.close()
        count = self.p.stdout.readline().strip()
        self.p.wait()
        return int(count or 0)


# gosyms configurations that filter, add up or walk stacks in the kernel: (label, flags).
KERNEL_CONFIGS = [("gosyms --min-duration 1s", ["--min-duration", "1s"]),
                  ("gosyms --stats", ["--stats"]),
                  ("gosyms --stack", ["--stack"])]


def make_configs(gosyms, binary, p, work, no_returns_flag, help_text=""):
    entry = p["entry_probe"]["file_offset"]
    rets = [r["file_offset"] for r in p["returns"]]
    events = os.path.join(work, "events.jsonl")
    bt_out = os.path.join(work, "bpftrace.out")
    bt = {}
    for name, with_returns in (("entry", False), ("entry+RET", True)):
        path = os.path.join(work, f"bt-{'er' if with_returns else 'e'}.bt")
        with open(path, "w") as f:
            f.write(bt_program(p, binary, with_returns))
        bt[name] = path

    def untraced(n, stats=False):
        r = sh([binary, str(n)], capture_output=True, text=True)
        return loop_result(r.stdout), {}

    def floor(offsets):
        def run(n, stats=False):
            TRACEFS_STATE.add(binary, offsets)
            try:
                r = sh([binary, str(n)], capture_output=True, text=True)
            finally:
                TRACEFS_STATE.cleanup()
            return loop_result(r.stdout), {}
        return run

    def bpftrace(name):
        def run(n, stats=False):
            o, e, bpf, cpu = run_tracer(
                ["bpftrace", "--unsafe", "-o", bt_out, "-c", f"{binary} {n}", bt[name]], stats)
            lost = sum(int(x) for x in re.findall(r"Lost (\d+) events", e + open(bt_out).read()))
            lines = sum(1 for line in open(bt_out) if line.startswith(("call ", "ret ")))
            os.unlink(bt_out)
            return loop_result(o), {"events": lines, "drops": lost, "bpf": bpf, "cpu": cpu}
        return run

    def gos(extra, output=True):
        def run(n, stats=False, buffer_mib=None):
            cmd = [gosyms, "trace"] + (["--format", "json", "-o", events] if output else []) + extra
            if buffer_mib:
                cmd += ["--buffer-mib", str(buffer_mib)]
            cmd += [SIGNATURE, "--", binary, str(n)]
            start = time.perf_counter()
            o, e, bpf, cpu = run_tracer(cmd, stats)
            wall = time.perf_counter() - start
            if output:
                os.unlink(events)
            info = parse_gosyms(e)
            info.update(bpf=bpf, wall=wall, cpu=cpu)
            return loop_result(o), info
        return run

    configs = [("untraced", "-", untraced), ("floor (tracefs)", "entry", floor([entry])),
               ("floor (tracefs)", "entry+RET", floor([entry] + rets)),
               ("bpftrace", "entry", bpftrace("entry")), ("bpftrace", "entry+RET", bpftrace("entry+RET"))]
    if no_returns_flag:
        configs.append(("gosyms trace", "entry", gos(["--no-returns"])))
    configs.append(("gosyms trace", "entry+RET", gos([])))
    if RECEIVER:
        configs.append(("gosyms trace --otlp-endpoint", "entry+RET",
                        gos(["--otlp-endpoint", RECEIVER.url], output=False)))
    for label, flags in KERNEL_CONFIGS:
        if flags[0] in help_text:
            configs.append((label, "entry+RET", gos(flags)))
    return configs


# ---------------------------------------------------------------------------------------------
# Reports

def per_call(gosyms, version, work, no_returns_flag):
    src = os.path.join(ROOT, "benches", "trace", "loop.go")
    binary = os.path.join(work, f"loop-{version}")
    go_build(version, src, binary)
    p = plan(gosyms, binary)
    help_text = sh([gosyms, "trace", "--help"], capture_output=True, text=True).stdout
    configs = make_configs(gosyms, binary, p, work, no_returns_flag, help_text)
    results = {(c[0], c[1]): [] for c in configs}
    cpu = {(c[0], c[1]): [] for c in configs}
    extras = {(c[0], c[1]): [] for c in configs}
    log(f"go {version}: entry probe at file offset {p['entry_probe']['file_offset']:#x}, "
        f"{len(p['returns'])} RETs, {p['abi']} ABI; {len(configs)} configurations, "
        f"{ROUNDS} rounds of {CALLS} calls")
    for tool, points, run in configs:  # warm-up: page cache, bpftrace's and gosyms' first start
        run(max(CALLS // 10, 1000))
    loads = [uptime()]
    for rnd in range(ROUNDS):
        for tool, points, run in configs:
            res, info = run(CALLS)
            results[(tool, points)].append(res["ns_per_call"])
            cpu[(tool, points)].append(res["cpu_ns_per_call"])
            extras[(tool, points)].append(info)
            if info.get("drops"):
                log(f"  {tool} {points}: {info['drops']} dropped")
        loads.append(uptime())
        log(f"  round {rnd + 1}/{ROUNDS} done (load {loads[-1]})")
    med = {k: statistics.median(v) for k, v in results.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    base = med[("untraced", "-")]
    cbase = cmed[("untraced", "-")]
    rows = []
    for tool, points, _ in configs:
        k = (tool, points)
        ov = med[k] - base
        floor = med.get(("floor (tracefs)", points))
        fo = floor - base if floor is not None else None
        vs_floor = f"{ov / fo:.2f}x" if tool != "untraced" and fo else "-"
        cov = cmed[k] - cbase
        cfloor = cmed.get(("floor (tracefs)", points))
        cvs_floor = f"{cov / (cfloor - cbase):.2f}x" if tool != "untraced" and cfloor else "-"
        drops = sum(x.get("drops", 0) or 0 for x in extras[k])
        span_drops = sum(x.get("span_drops", 0) + x.get("span_failed", 0) for x in extras[k])
        events = [x.get("events") for x in extras[k] if x.get("events") is not None]
        rows.append([tool, points, f"{med[k]:,.0f}" if med[k] >= 100 else f"{med[k]:.2f}",
                     f"{min(results[k]):,.0f}-{max(results[k]):,.0f}" if med[k] >= 100 else
                     f"{min(results[k]):.2f}-{max(results[k]):.2f}",
                     "-" if tool == "untraced" else f"{ov:,.0f}", vs_floor,
                     f"{cmed[k]:,.0f}" if cmed[k] >= 100 else f"{cmed[k]:.2f}",
                     "-" if tool == "untraced" else f"{cov:,.0f}", cvs_floor,
                     "-" if not events else f"{statistics.median(events):,.0f}",
                     "-" if tool in ("untraced", "floor (tracefs)") else
                     str(drops) + (f" (spans lost: {span_drops})" if "otlp" in tool else "")])
    print(f"\n### Go {version}, {p['abi']} ABI: {CALLS:,} calls per run, median of {ROUNDS} interleaved rounds\n")
    print(f"Load average (1, 5, 15 min) during the rounds: {loads[0]} at the start, {loads[-1]} at the end.\n")
    print("Wall time per call, and the CPU time (user + system) the kernel charged the traced program "
          "per call, which other load on the machine hardly moves.\n")
    print("| tracer | probes | ns/call | range | overhead ns/call | overhead vs floor | CPU ns/call | CPU overhead ns/call | CPU overhead vs floor | events/run | dropped (all runs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for points in ("entry", "entry+RET"):
        g = med.get(("gosyms trace", points))
        b = med.get(("bpftrace", points))
        f = med.get(("floor (tracefs)", points))
        if g is None:
            print(f"- {points}: gosyms has no such mode (no --no-returns).")
            continue
        gv, bv, fv = g - base, b - base, f - base
        print(f"- {points}: gosyms overhead {gv:,.0f} ns = {gv / fv:.3f}x the floor's {fv:,.0f} ns "
              f"(target at most 1.10x: {'met' if gv <= 1.1 * fv else 'missed'}); bpftrace {bv:,.0f} ns, "
              f"gosyms/bpftrace {gv / bv:.3f}x (target below 1: {'met' if gv < bv else 'missed'}).")
    if ("gosyms trace --otlp-endpoint", "entry+RET") in med:
        for what, m, b in (("wall", med, base), ("CPU", cmed, cbase)):
            ov = m[("gosyms trace --otlp-endpoint", "entry+RET")] - b
            gv = m[("gosyms trace", "entry+RET")] - b
            fv = m[("floor (tracefs)", "entry+RET")] - b
            print(f"- entry+RET with --otlp-endpoint, {what} time: overhead {ov:,.0f} ns = "
                  f"{ov / gv:.3f}x plain `gosyms trace` ({gv:,.0f} ns) and {ov / fv:.3f}x the floor "
                  f"({fv:,.0f} ns).")
    f = med[("floor (tracefs)", "entry+RET")] - base
    for (label, _), goal in zip(KERNEL_CONFIGS, (1.10, 1.05, 1.30)):
        g = med.get((label, "entry+RET"))
        if g is None:
            continue
        events = [x.get("events") for x in extras[(label, "entry+RET")]]
        print(f"- {label}: overhead {g - base:,.0f} ns = {(g - base) / f:.3f}x the entry+RET floor "
              f"(goal at most {goal:.2f}x: {'met' if g - base <= goal * f else 'missed'}); "
              f"{(g - base) - (med[('gosyms trace', 'entry+RET')] - base):+,.0f} ns against plain "
              f"`gosyms trace`; events per run {statistics.median(events):,.0f}.")
    return binary, p, configs


def bpf_run_time(configs):
    """The BPF programs' own time per hit, from kernel.bpf_stats_enabled."""
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    rows = {}
    try:
        with open(path, "w") as f:
            f.write("1")
        for _ in range(STATS_ROUNDS):
            for tool, points, run in configs:
                if tool != "bpftrace" and not tool.startswith("gosyms"):
                    continue
                res, info = run(CALLS, stats=True)
                ns, cnt = info["bpf"]
                if cnt:
                    rows.setdefault((tool, points), []).append((ns / cnt, cnt, res["ns_per_call"]))
    finally:
        with open(path, "w") as f:
            f.write(old)
    print(f"\nBPF program time per hit (kernel.bpf_stats_enabled=1, run_time_ns / run_cnt from the "
          f"tracer's program fds, median of {STATS_ROUNDS} runs of {CALLS:,} calls):\n")
    print("| tracer | probes | ns per BPF run | runs per call |")
    print("|---|---|---|---|")
    for (tool, points), v in rows.items():
        print(f"| {tool} | {points} | {statistics.median(x[0] for x in v):,.0f} | "
              f"{statistics.median(x[1] for x in v) / CALLS:.2f} |")


def rate(configs):
    runs = dict(((c[0], c[1]), c[2]) for c in configs)
    print(f"\nEvents per second without drops: `gosyms trace` (arguments, string, results) on "
          f"{RATE_CALLS:,} calls, one event per call and one per return; rate = events / wall time "
          f"of the traced loop. gosyms CPU = the"
          f" tracer's own user+sys time (sampled every 50 ms, without the traced loop) per event.\n")
    print("| output | --buffer-mib | events | dropped | spans exported / dropped / failed | loop wall s | events/s | ns/call | gosyms CPU ns/event |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("JSON file", "gosyms trace", 16), ("JSON file", "gosyms trace", 64)]
    if ("gosyms trace --otlp-endpoint", "entry+RET") in runs:
        rows.append(("OTLP spans", "gosyms trace --otlp-endpoint", 16))
    for output, tool, mib in rows:
        res, info = runs[(tool, "entry+RET")](RATE_CALLS, buffer_mib=mib)
        cpu = info["cpu"]
        wall = res["loop_ns"] / 1e9
        spans = (f"{info['exported']:,} / {info['span_drops']:,} / {info['span_failed']:,}"
                 if "spans" in info else "-")
        print(f"| {output} | {mib} | {info['events']:,} | {info['drops']:,} | {spans} | {wall:.2f} | "
              f"{info['events'] / wall:,.0f} | {res['ns_per_call']:,.0f} | "
              f"{cpu * 1e9 / max(info['events'], 1):,.0f} |")


def attach_times(gosyms, work, version, no_returns_flag):
    src = os.path.join(work, "many", "many.go")
    os.makedirs(os.path.dirname(src), exist_ok=True)
    write_many(src, MANY)
    binary = os.path.join(work, "many-bin")
    go_build(version, src, binary)
    print(f"\nAttach time: `gosyms trace{' --no-returns' if no_returns_flag else ''} BINARY 're:^main\\.f[0-9]{{1,K}}$' "
          f"--duration 1ms -o /dev/null` on a generated Go {version} program with {MANY:,} tiny functions "
          f"(no process running it). The times are gosyms' own figures: loading and verifying the "
          f"eBPF program with its specs, attaching, detaching; wall is the whole process, including "
          f"resolving and the 50 ms poll.\n")
    print("| functions | uprobes | program loaded in ms | attached in ms | detached in ms | wall s |")
    print("|---|---|---|---|---|---|")
    for count in ATTACH_COUNTS:
        digits = len(str(count - 1))
        pattern = r"re:^main\.f[0-9]{1,%d}$" % digits
        cmd = [gosyms, "trace"] + (["--no-returns"] if no_returns_flag else []) + \
              [binary, pattern, "--duration", "1ms", "-o", "/dev/null"]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            raise RuntimeError(f"gosyms trace exited with {r.returncode}: {r.stderr[-1000:]}")
        a = re.search(r"tracing (\d+) functions? with (\d+) uprobes? \(program loaded in (\d+) ms, "
                      r"attached in (\d+) ms\)", r.stderr)
        d = re.search(r"detached \d+ uprobes? in (\d+) ms", r.stderr)
        fns, ups, load_ms, ms = (int(a.group(i)) for i in range(1, 5))
        det_ms = int(d.group(1)) if d else -1
        print(f"| {fns:,} | {ups:,} | {load_ms:,} | {ms:,} | {det_ms:,} | {wall:.1f} |", flush=True)
        log(f"  attach {count}: {ms} ms, wall {wall:.1f} s (load {uptime()})")


def http_bench(gosyms, work, version, help_text):
    """Requests/s of an HTTP server, untraced and traced on 'net/http.*'."""
    server = os.path.join(work, "httpserver")
    load = os.path.join(work, "httpload")
    go_build(version, os.path.join(ROOT, "benches", "trace", "httpserver.go"), server)
    go_build(version, os.path.join(ROOT, "benches", "trace", "httpload.go"), load)
    pattern = "net/http.*"
    events = os.path.join(work, "http-events.jsonl")
    configs = [("untraced", None), ("gosyms trace", []),
               ("gosyms trace --stats", ["--stats"]),
               ("gosyms trace --min-duration 1s", ["--min-duration", "1s"])]
    configs = [c for c in configs if c[1] is None or not c[1] or c[1][0] in help_text]

    def run(flags):
        if flags is None:
            cmd = [server]
        else:
            cmd = [gosyms, "trace", "--format", "json", "-o", events] + flags + [pattern, "--", server]
        with tempfile.TemporaryFile(mode="w+") as err:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
            try:
                line = p.stdout.readline()
                port = json.loads(line)["port"]
                r = sh([load, f"http://127.0.0.1:{port}/hello", str(HTTP_SECONDS), str(HTTP_CONNS)],
                       capture_output=True, text=True)
                res = json.loads(r.stdout)
            finally:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            err.seek(0)
            e = err.read()
        info = {}
        if flags is not None:
            info = parse_gosyms(e)
            m = re.search(r"(\d+) calls? filtered out", e)
            info["filtered"] = int(m.group(1)) if m else 0
            os.path.exists(events) and os.unlink(events)
        return res, info

    results = {c[0]: [] for c in configs}
    infos = {c[0]: [] for c in configs}
    for rnd in range(HTTP_ROUNDS):
        for label, flags in configs:
            res, info = run(flags)
            results[label].append(res["rps"])
            infos[label].append(info)
            if res["failed"]:
                log(f"  http {label}: {res['failed']} failed requests")
        log(f"  http round {rnd + 1}/{HTTP_ROUNDS} done (load {uptime()})")
    base = statistics.median(results["untraced"])
    first = infos.get("gosyms trace", [{}])[0]
    print(f"\nHTTP server requests/s (benches/trace/httpserver.go, Go {version}; "
          f"benches/trace/httpload.go, {HTTP_CONNS} keep-alive connections for {HTTP_SECONDS:g} s; "
          f"median of {HTTP_ROUNDS} interleaved rounds; gosyms traces '{pattern}', "
          f"{first.get('uprobes', '?')} uprobes, events as JSON to a file on /dev/shm):\n")
    print("| configuration | requests/s | range | vs untraced | events written/run | dropped/run |")
    print("|---|---|---|---|---|---|")
    for label, _ in configs:
        v = results[label]
        ev = [i.get("events", 0) for i in infos[label]]
        dr = [i.get("drops", 0) for i in infos[label]]
        print(f"| {label} | {statistics.median(v):,.0f} | {min(v):,.0f}-{max(v):,.0f} | "
              f"{statistics.median(v) / base:.3f}x | "
              f"{'-' if label == 'untraced' else f'{statistics.median(ev):,.0f}'} | "
              f"{'-' if label == 'untraced' else f'{statistics.median(dr):,.0f}'} |")


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, kernel {os.uname().release}"


def main():
    if os.geteuid() != 0:
        sys.exit("trace_overhead.py needs root (uprobes, tracefs, BPF)")
    # SIGTERM/SIGHUP end the run through the same cleanup as an error.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(1))
    if not shutil.which("bpftrace"):
        log("installing bpftrace")
        sh(["apt-get", "install", "-y", "-q", "bpftrace"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    bt_version = sh(["bpftrace", "--version"], capture_output=True, text=True).stdout.strip()
    sh(["cargo", "build", "--release", "-q", "-p", "gosyms"], cwd=ROOT)
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip() or "?"
    work = tempfile.mkdtemp(prefix="gosyms-trace-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        # A copy: every run measures the same build even if the tree is rebuilt meanwhile.
        gosyms = os.path.join(work, "gosyms")
        shutil.copy2(os.path.join(ROOT, "target", "release", "gosyms"), gosyms)
        help_text = sh([gosyms, "trace", "--help"], capture_output=True, text=True).stdout
        no_returns_flag = "--no-returns" in help_text
        TRACEFS_STATE.ready()
        global RECEIVER
        if OTLP:
            RECEIVER = OtlpReceiver()
        print(f"Machine: {machine()}; gosyms {rev}; {bt_version}; load average at the start {uptime()}.")
        configs = None
        for version in GO_VERSIONS:
            binary, p, configs = per_call(gosyms, version, work, no_returns_flag)
            if STATS_ROUNDS:
                bpf_run_time(configs)
        if RATE_CALLS and configs:
            rate(configs)
        if ATTACH_COUNTS:
            attach_times(gosyms, work, GO_VERSIONS[0], no_returns_flag)
        if HTTP_ROUNDS:
            http_bench(gosyms, work, GO_VERSIONS[0], help_text)
        print(f"\nLoad average at the end: {uptime()}.")
    finally:
        TRACEFS_STATE.cleanup()
        if RECEIVER:
            log(f"the OTLP receiver got {RECEIVER.close():,} spans in all")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

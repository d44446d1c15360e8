#!/usr/bin/env python3
"""Time and memory of `gosyms unstrip` (the whole binary, and `--debug-only`) on large binaries.

For each binary: `gosyms unstrip BINARY -o OUT` and `gosyms unstrip --debug-only`, against `cp`
of the same file to the same directory (the floor: reading and writing the bytes), ROUNDS times
each, interleaved, after one warm-up run each (so the input is in the page cache). Reports the
median wall time, the median CPU time (user and system, every thread), the median peak RSS
(GNU time's %M: the pages of the mapped input that were touched count too), the output's size and the size of the DWARF written, as a Markdown table
for BENCHMARKS.md. Outputs go to a temporary directory on the same file system as /tmp.

Usage: benches/unstrip.py [BINARY ...]   (default: anthoscli and terraform-provider-aws)
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("ROUNDS", "5"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = [
    "/usr/lib/google-cloud-sdk/bin/anthoscli",
    "/opt/tf-plugins/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5",
]


def measure(cmd):
    """Wall seconds, peak RSS KiB, CPU seconds (user + system, all threads) and stderr of one run."""
    with tempfile.NamedTemporaryFile(mode="r") as t:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%M %U %S"] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, check=True)
        wall = time.perf_counter() - start
        rss, user, system = t.read().split()[-3:]
        return wall, int(rss), float(user) + float(system), p.stderr


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gosyms"], cwd=ROOT, check=True)
    gosyms = os.path.join(ROOT, "target", "release", "gosyms")
    targets = sys.argv[1:] or [p for p in DEFAULT if os.path.exists(p)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for binary in targets:
            out = os.path.join(tmp, "out")
            cmds = {
                "cp (floor)": ["cp", binary, out],
                "gosyms unstrip": [gosyms, "unstrip", binary, "-o", out],
                "gosyms unstrip --debug-only": [gosyms, "unstrip", "--debug-only", binary, "-o", out],
            }
            results = {k: [] for k in cmds}
            sizes = {}
            for name, cmd in cmds.items():  # warm the page cache
                measure(cmd)
            for _ in range(ROUNDS):
                for name, cmd in cmds.items():
                    results[name].append(measure(cmd))
                    sizes[name] = os.path.getsize(out)
                    os.remove(out)
            for name, rs in results.items():
                wall = statistics.median(r[0] for r in rs)
                rss = statistics.median(r[1] for r in rs) / 1024
                cpu = statistics.median(r[2] for r in rs)
                said = re.search(r"(\d+) functions in .* ([\d.]+) MiB of DWARF", rs[-1][3])
                funcs, dwarf = (said.group(1), said.group(2)) if said else ("-", "-")
                rows.append((os.path.basename(binary)[:40], f"{os.path.getsize(binary) / 1e6:.0f}", name,
                             f"{wall * 1000:.0f}", f"{cpu * 1000:.0f}", f"{rss:.0f}", f"{sizes[name] / 1e6:.0f}",
                             funcs, dwarf))
            print(f"done {binary}", file=sys.stderr)
    print("| binary | MB | command | median wall ms | median CPU ms | median peak RSS MiB | output MB | functions | DWARF MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()

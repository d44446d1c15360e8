#!/usr/bin/env python3
"""Compares whole processes side by side, in one run, alternating the commands.

For each binary: `gosyms list --lines` against `unstrip` (the crate registry's Go symbol
recovery tool, installed into the cache by this script) and, where an unstripped twin exists,
against `go tool nm -size` on the twin. Each command runs ROUNDS times, interleaved; the script
reports the median wall time, the median peak RSS (GNU time's %M), the function count each tool
printed, and gosyms' speed-up. Prints a Markdown table for BENCHMARKS.md.

Usage: benches/compare.py [BINARY[:TWIN] ...]   (default: the largest Go binaries found here)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("ROUNDS", "7"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("GOSYMS_CACHE", os.path.expanduser("~/.cache/gosyms"))
GO = os.path.join(CACHE, "go", "1.27.3")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def tools():
    sh(["cargo", "build", "--release", "-q", "-p", "gosyms"], cwd=ROOT)
    gosyms = os.path.join(ROOT, "target", "release", "gosyms")
    unstrip = os.path.join(CACHE, "tools", "bin", "unstrip")
    if not os.path.exists(unstrip):
        print("installing unstrip 1.2.0 into", os.path.dirname(unstrip), file=sys.stderr)
        sh(["cargo", "install", "-q", "unstrip", "--version", "1.2.0", "--root", os.path.join(CACHE, "tools")])
    return gosyms, unstrip


def measure(cmd, env=None):
    """Wall seconds (including the ~1 ms of starting GNU time), peak RSS KiB, and lines printed."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile(mode="r") as t:
        start = time.perf_counter()
        sh(["/usr/bin/time", "-o", t.name, "-f", "%M"] + cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - start
        rss = t.read().split()[-1]
        out.seek(0)
        return wall, int(rss), sum(1 for _ in out)


def default_targets():
    found = []
    for p in ["/usr/lib/google-cloud-sdk/bin/anthoscli", "/usr/local/bin/terraform",
              "/usr/lib/google-cloud-sdk/bin/kubectl", "/usr/local/bin/docker",
              "/opt/tf-plugins/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"]:
        if os.path.exists(p):
            found.append((p, None))
    m = os.path.join(CACHE, "matrix", "1.27.3", "linux_amd64")
    if os.path.exists(os.path.join(m, "exe")):
        found.append((os.path.join(m, "exe-stripped"), os.path.join(m, "exe")))
    return found


def main():
    gosyms, unstrip = tools()
    targets = [(a.split(":")[0], (a.split(":") + [None])[1]) for a in sys.argv[1:]] or default_targets()
    goenv = dict(os.environ, GOROOT=GO, GOTOOLCHAIN="local")
    rows = []
    for binary, twin in targets:
        cmds = {"gosyms list --lines": [gosyms, "list", "--lines", binary], "unstrip": [unstrip, binary]}
        if twin:
            cmds["go tool nm -size (twin)"] = [os.path.join(GO, "bin", "go"), "tool", "nm", "-size", twin]
        results = {k: [] for k in cmds}
        for name, cmd in cmds.items():  # warm the page cache and go's tool build
            measure(cmd, goenv)
        for _ in range(ROUNDS):
            for name, cmd in cmds.items():
                results[name].append(measure(cmd, goenv))
        size = os.path.getsize(binary) / 1e6
        base = statistics.median(r[0] for r in results["gosyms list --lines"])
        for name, rs in results.items():
            wall = statistics.median(r[0] for r in rs)
            rss = statistics.median(r[1] for r in rs) / 1024
            lines = rs[0][2]
            rows.append((os.path.basename(binary), f"{size:.0f}", name, f"{wall * 1000:.0f}", f"{rss:.0f}",
                         str(lines), f"{wall / base:.1f}x" if base > 0 else "-"))
        print(f"done {binary}", file=sys.stderr)
    print(f"| binary | MB | command | median wall ms | median peak RSS MiB | lines out | time vs gosyms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()

"""Drill cluster start-up and idle cost (issue: ready < 1 s headless, idle < 2% of a core).

Runs ``controlroom demo --headless`` as a child process and measures, in one run:
- time from spawn to the kubeconfig line, and to the first successful list of seed pods;
- CPU used while idle over a window (utime+stime from /proc), as a share of one core.

Usage: python bench/bench_drill.py [--idle-seconds N] [--scenario NAME] [--static]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--static", action="store_true", help="no simulated controllers")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "controlroom", "demo", "--headless"]
    if args.scenario:
        cmd += ["--scenario", args.scenario]
    if args.static:
        cmd += ["--static"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = None
    t_kubeconfig = None
    while url is None:
        line = proc.stdout.readline()
        if not line:
            print("drill did not start", file=sys.stderr)
            return 1
        if line.startswith("kubeconfig: "):
            t_kubeconfig = time.perf_counter() - t0
        if line.startswith("api: "):
            url = line.split(": ", 1)[1].strip()
    with httpx.Client(base_url=url) as c:
        pods = c.get("/api/v1/pods").json()["items"]
    t_ready = time.perf_counter() - t0
    time.sleep(1.0)
    c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
    time.sleep(args.idle_seconds)
    c1, w1 = cpu_seconds(proc.pid), time.perf_counter()
    proc.terminate()
    proc.wait(10)
    idle = (c1 - c0) / (w1 - w0) * 100
    print(f"{'metric':<40}{'value':>12}")
    print(f"{'spawn -> kubeconfig line (s)':<40}{t_kubeconfig:>12.3f}")
    print(f"{'spawn -> seed pods listed (s)':<40}{t_ready:>12.3f}")
    print(f"{'seed pods':<40}{len(pods):>12d}")
    print(f"{'idle CPU (% of one core)':<40}{idle:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the trouble line's summary on a big cluster in trouble, time per computation.

Why: the App computes :func:`widgets.trouble.summarise` once a second on the event loop, from
the store (issue 15, point 3). It must stay a small fraction of that second on the biggest
cluster the control room is built for, in the middle of an incident, when everything is red.

Setup: a Store with 30,000 pods of which 1,000 crash-loop (in 100 namespaces), 3,000
Deployments (100 stalled), 1,000 nodes (10 NotReady), 300 Argo CD apps (30 Degraded) and
2,000 firing alerts (40 names, two sources reporting each): all sources connected.

Run: ``python bench/bench_trouble.py [--runs 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.model import AppRow, DeploymentRow, NodeRow, PodRow  # noqa: E402
from backends.signals.model import ALERTS, AlertRow  # noqa: E402
from backends.store import Store  # noqa: E402
from widgets.trouble import summarise  # noqa: E402

TARGET_MS = 50.0


def build() -> Store:
    store = Store()
    now = time.time()
    for kind in ("pods", "deployments", "nodes", "applications", "prometheus", "alertmanager"):
        store.set_health(kind, "connected", now=now)
    store.apply("pods", [("ADDED", PodRow(
        key=f"ns-{i % 100}/pod-{i}", namespace=f"ns-{i % 100}", name=f"pod-{i}",
        phase="Running", status="CrashLoopBackOff" if i % 30 == 0 else "Running",
        ready_containers=0 if i % 30 == 0 else 1, total_containers=1,
        problem=i % 30 == 0)) for i in range(30_000)])
    store.apply("deployments", [("ADDED", DeploymentRow(
        key=f"ns-{i % 100}/dep-{i}", namespace=f"ns-{i % 100}", name=f"dep-{i}", desired=3,
        ready=3, updated=3, available=0 if i % 30 == 0 else 3, current=3)) for i in range(3000)])
    store.apply("nodes", [("ADDED", NodeRow(key=f"node-{i}", name=f"node-{i}",
                                            ready="False" if i % 100 == 0 else "True"))
                          for i in range(1000)])
    store.apply("applications", [("ADDED", AppRow(
        key=f"argocd/app-{i}", namespace="argocd", name=f"app-{i}",
        destination_namespace=f"ns-{i % 100}", sync_status="Synced",
        health_status="Degraded" if i % 10 == 0 else "Healthy")) for i in range(300)])
    store.apply(ALERTS, [("ADDED", AlertRow(
        key=f"{source}/{i}", source=source, alertname=f"Alert{i % 40}", severity="critical",
        state="firing" if source == "prometheus" else "active", since=now - 300,
        labels=(("alertname", f"Alert{i % 40}"), ("namespace", f"ns-{i % 100}"),
                ("pod", f"pod-{i}"))))
        for source in ("prometheus", "alertmanager") for i in range(1000)])
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    store = build()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        summary = summarise(store, time.time())
        times.append((time.perf_counter() - start) * 1000)
    median, worst = statistics.median(times), max(times)
    print(f"summarise: {len(summary.parts)} parts in {len(summary.areas)} areas; "
          f"median {median:.1f} ms, max {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")
    return 0 if median < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

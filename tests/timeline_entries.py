"""Constructed timeline entries shared by the screen and export tests, and a recording of
them written through the store's own writer (backends/timeline/store.py), exactly as the
recorder writes one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.timeline.entry import TimelineEntry
from backends.timeline.writer import TimelineWriter

__all__ = ["CRASH_WORDS", "entry", "recording", "write"]

CRASH_WORDS = ("PodCrashLooping on checkout-stable 2m after image checkout:1.5.0 synced by "
               "argocd (automated) at rev abc123")


def entry(at: float, kind: Any, name: str, **fields: Any) -> TimelineEntry:
    values: dict[str, Any] = {"seen": at, "context": "drill", "namespace": "checkout",
                              "object_kind": "Deployment"}
    values.update(fields)
    return TimelineEntry(at=at, kind=kind, name=name, **values)


def recording(t0: float) -> list[TimelineEntry]:
    """A bad rollout of checkout (synced by Argo CD, then crash-looping) and, on payments,
    an operator's scale and a hand edit with markup-like text."""
    return [
        entry(t0, "sync", "checkout", namespace="argocd", object_kind="Application",
              app="checkout", change="sync Running rev abc123", actor="argocd (automated)",
              actor_kind="argocd", revision="abc123"),
        entry(t0 + 5, "spec", "checkout-stable", app="checkout",
              workload="Deployment/checkout-stable",
              change="image checkout:1.4.2 -> checkout:1.5.0", actor="argocd-controller (Apply)",
              actor_kind="field-manager"),
        entry(t0 + 125, "alert", "PodCrashLooping", object_kind="Alert", app="checkout",
              workload="Deployment/checkout-stable", change="firing", after="firing",
              severity="critical"),
        entry(t0 + 200, "journal", "payments", namespace="payments",
              change="scale Deployment payments/payments: verified", before="3", after="2",
              actor="controlroom: alice", actor_kind="operator"),
        entry(t0 + 210, "spec", "payments", namespace="payments", app="payments",
              workload="Deployment/payments", change="replicas 2 -> 4 [bold red]x[/]",
              actor="kubectl (Update)", actor_kind="field-manager"),
    ]


def write(path: Path, entries: list[TimelineEntry], context: str = "drill") -> Path:
    """A recording of ``context`` at ``path`` holding ``entries`` (committed and closed)."""
    writer = TimelineWriter(path, context)
    writer.append(entries)
    writer.close()
    return path

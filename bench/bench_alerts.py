"""Benchmark: the alerts panel with 2,000 firing alerts, refresh time per tick.

Why: issue "Alerts and the team bus" requires that with 2,000 firing alerts the alerts panel
stays under 100 ms per refresh, so a storm of alerts during a bad update never makes the
control room sluggish exactly when it is needed. A refresh here is what the App does on a
tick: take the store's change set, let the panel rebuild the changed rows and their group
headers, commit them to the table, and draw the lines on screen.

Setup: a Store with 2,000 alerts (Prometheus and Alertmanager rows, 40 alert names in two
severities, 25 targets each, some silenced) and the :class:`~widgets.alerts.AlertsPanel`
mounted alone in a headless App at 200x50. Ticks, each measured separately:

- *poll, 5% changed*: one poll's answer replaces the source's rows with 100 alerts changed
  (state flips, 50 resolved, 50 new) - the common case during an incident;
- *quiet poll*: the same answer again (nothing changed; the store wakes nobody for rows, only
  the source's "data age" health moves);
- *source down*: Prometheus unreachable, its 1,000 rows flagged stale (all re-rendered dim);
- *recovery*: the next good answer, 1,000 rows fresh again.

Run: ``python bench/bench_alerts.py [--alerts 2000] [--ticks 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402

from backends.signals.model import ALERTS, AlertRow, mark_stale, replace_source  # noqa: E402
from backends.store import Store  # noqa: E402
from widgets.alerts import AlertsPanel  # noqa: E402

TARGET_MS = 100.0
NOW = 1_800_000_000.0


def make_alerts(count: int, source: str, generation: int = 0, changed: int = 0
                ) -> list[AlertRow]:
    """``count`` alerts of one source; the first ``changed`` differ by ``generation``
    (half flip state, half are replaced by new alerts)."""
    rows = []
    for i in range(count):
        name = f"Alert{i % 40:02d}"
        severity = "critical" if (i // 40) % 2 else "warning"
        target = i // 80
        ident = i
        state = "firing" if source == "prometheus" else "active"
        silenced: tuple[str, ...] = ()
        if source == "alertmanager" and i % 10 == 0:
            state, silenced = "suppressed", (f"silence-{i:06d}-abcdef",)
        if i < changed:
            if i % 2:
                state = "pending" if source == "prometheus" else "unprocessed"
            else:
                ident = i + 1_000_000 * generation  # resolved, and a new one instead
        labels = (("alertname", name), ("namespace", f"ns-{target % 7}"),
                  ("pod", f"web-{target}-{ident}"), ("severity", severity))
        rows.append(AlertRow(
            key=f"{source}/{ident:016x}", source=source,  # type: ignore[arg-type]
            alertname=name, severity=severity, state=state,  # type: ignore[arg-type]
            since=NOW - 60 * (i % 300), summary=f"{name} on web-{target} is unhappy",
            labels=labels, fingerprint=f"{ident:016x}", silenced_by=silenced))
    return rows


class BenchApp(App[None]):
    def __init__(self, panel: AlertsPanel) -> None:
        super().__init__()
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield self.panel


def tick(store: Store, panel: AlertsPanel, seen: int, now: float) -> tuple[int, float, int]:
    """One refresh as the App does it, plus drawing every line on screen; (version, ms,
    rows changed)."""
    started = time.perf_counter()
    changes = store.changes_since(seen)
    touched = sum(len(keys) for keys in changes.upserted.values()) + \
        sum(len(keys) for keys in changes.removed.values())
    if not changes.is_empty:
        panel.refresh_from(store, changes, now)
    table = panel.table
    for y in range(table.size.height):
        table.render_line(y)
    return changes.version, (time.perf_counter() - started) * 1000, touched


def summary(label: str, samples: list[float], changed: list[int]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    verdict = "ok" if p95 < TARGET_MS else "OVER TARGET"
    return (f"{label:<28} {statistics.median(changed):>8.0f} {statistics.median(samples):>9.1f}"
            f" {p95:>9.1f} {max(samples):>9.1f}  {verdict}")


async def run(alerts: int, ticks: int) -> int:
    half = alerts // 2
    store = Store(clock=lambda: NOW)
    panel = AlertsPanel()
    app = BenchApp(panel)
    results: dict[str, tuple[list[float], list[int]]] = {}

    def record(label: str, ms: float, changed: int) -> None:
        samples, counts = results.setdefault(label, ([], []))
        samples.append(ms)
        counts.append(changed)

    async with app.run_test(size=(200, 50)) as pilot:
        store.set_health("prometheus", "connected")
        store.set_health("alertmanager", "connected")
        replace_source(store, ALERTS, "prometheus", make_alerts(half, "prometheus"))
        replace_source(store, ALERTS, "alertmanager", make_alerts(half, "alertmanager"))
        panel.focus()
        seen, ms, changed = tick(store, panel, 0, NOW)
        record("first load (all new)", ms, changed)
        await pilot.pause()
        assert len(list(panel.groups())) == 80, "expected 40 names x 2 severities"
        for n in range(1, ticks + 1):
            now = NOW + n
            replace_source(store, ALERTS, "prometheus",
                           make_alerts(half, "prometheus", generation=n, changed=alerts // 20))
            seen, ms, changed = tick(store, panel, seen, now)
            record("poll, 5% changed", ms, changed)
            store.note_event("prometheus", now=now)
            seen, ms, changed = tick(store, panel, seen, now)
            record("quiet poll (0 changed)", ms, changed)
            store.set_health("prometheus", "stale", "unreachable: bench", now=now)
            mark_stale(store, ALERTS, "prometheus")
            seen, ms, changed = tick(store, panel, seen, now)
            record(f"source down ({half} stale)", ms, changed)
            store.set_health("prometheus", "connected", now=now)
            replace_source(store, ALERTS, "prometheus",
                           make_alerts(half, "prometheus", generation=n, changed=alerts // 20))
            seen, ms, changed = tick(store, panel, seen, now)
            record(f"recovery ({half} fresh)", ms, changed)
            await pilot.pause()  # let Textual paint, as between real ticks
        held = store.count(ALERTS)

    print(f"alerts panel, {held} alerts in the store, 200x50, {ticks} ticks per case; "
          f"target < {TARGET_MS:.0f} ms per refresh (p95)")
    print(f"{'tick':<28} {'changed':>8} {'median ms':>9} {'p95 ms':>9} {'max ms':>9}")
    worst = 0.0
    for label, (samples, counts) in results.items():
        print(summary(label, samples, counts))
        if not label.startswith("first load"):
            ordered = sorted(samples)
            worst = max(worst, ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])
    return 0 if worst < TARGET_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=2000, help="alerts in the store")
    parser.add_argument("--ticks", type=int, default=30, help="ticks measured per case")
    args = parser.parse_args()
    if args.alerts < 80 or args.ticks < 1:
        parser.error("--alerts must be at least 80 and --ticks at least 1")
    return asyncio.run(run(args.alerts, args.ticks))


if __name__ == "__main__":
    sys.exit(main())

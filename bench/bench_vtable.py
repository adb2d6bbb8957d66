"""Benchmark: VirtualTable versus DataTable for the pods panel's workload.

Run: ``python bench/bench_vtable.py [--rows 30000] [--changes 1000] [--ticks 20]``.

Both widgets are mounted side by side in one headless App and fed the same data: 30,000 pod-like
rows (8 columns, ``Text`` cells for the DataTable, plain ``str`` for the VirtualTable, which
never parses markup), then ticks of 1,000 changes each, as the refresh tick would hand them
over every 150 ms. A tick's change mix:

- ``in place``: 1,000 rows change a cell (restarts, age) but keep their place in the order;
- ``churn``: 900 in place, 50 change rank (a pod starts crash-looping and moves to the top),
  25 new pods, 25 deleted pods;
- ``all move``: 1,000 rows change rank (a whole rollout flipping state at once).

Per tick we time the update itself (VirtualTable: ``upsert``/``remove_row`` + one ``commit``;
DataTable: ``update_cell`` by key without ``update_width`` for changed cells only,
``remove_row``, ``add_row``, one ``sort`` when something moved) and then the drawing of one
screen of lines right after it (``render_line`` for every visible line, cold caches as after a
real update), and again with warm caches (a repaint without changes). Times are medians over
the ticks, in milliseconds. The last lines count what Textual itself asked the VirtualTable to
draw for one more tick: one screen of lines, whatever the row count.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.text import Text  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.containers import Horizontal  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from widgets.vtable import Column, VirtualTable  # noqa: E402

LABELS = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "PROBLEM", "NODE", "AGE")
STATUSES = ("Running", "CrashLoopBackOff", "Pending", "ImagePullBackOff")
SCREEN = (200, 50)


class Pod:
    """A mutable pod for the generator (the panels get frozen rows from the store)."""

    __slots__ = ("age", "i", "restarts", "status")

    def __init__(self, i: int) -> None:
        self.i = i
        self.status = "CrashLoopBackOff" if i % 97 == 0 else "Running"
        self.restarts = i % 7
        self.age = i % 300

    @property
    def key(self) -> str:
        return f"team-{self.i % 40}/svc-{self.i % 300}-{self.i:06d}"

    @property
    def rank(self) -> int:
        return 0 if self.status != "Running" else 5

    def cells(self) -> tuple[str, ...]:
        return (
            f"team-{self.i % 40}",
            f"svc-{self.i % 300}-{(self.i * 7919) % 16**10:010x}-{self.i:06d}",
            "1/1" if self.status == "Running" else "0/1",
            self.status,
            str(self.restarts),
            self.status if self.status != "Running" else "",
            f"aks-user-{self.i % 120:03d}-vmss000{self.i % 9}",
            f"{self.age}m",
        )

    def sort_key(self) -> tuple[int, str]:
        return (self.rank, self.key)


class Bench(App[None]):
    """Both tables side by side."""

    CSS = "Horizontal > * { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield VirtualTable([Column(label) for label in LABELS])
            yield DataTable(cursor_type="row")


class DataTableFeeder:
    """Feeds a DataTable the way a keyed panel must: by key, no update_width, one sort."""

    def __init__(self, table: DataTable[Text]) -> None:
        self.table = table
        self.cells: dict[str, tuple[Text, ...]] = {}
        self.sort_keys: dict[str, Any] = {}
        self.columns = [table.add_column(label, key=label) for label in LABELS]

    def upsert(self, key: str, cells: tuple[str, ...], sort_key: Any) -> bool:
        texts = tuple(Text(cell, no_wrap=True, end="") for cell in cells)
        old = self.cells.get(key)
        moved = self.sort_keys.get(key) != sort_key
        self.sort_keys[key] = sort_key
        if old is None:
            self.table.add_row(*texts, key=key)
            self.cells[key] = texts
            return True
        merged = list(old)
        for index, (was, new) in enumerate(zip(old, texts, strict=True)):
            if was != new:
                self.table.update_cell(key, self.columns[index], new)
                merged[index] = new
        self.cells[key] = tuple(merged)
        return moved

    def remove(self, key: str) -> None:
        self.table.remove_row(key)
        del self.cells[key]
        del self.sort_keys[key]

    def sort(self) -> None:
        ranks = {id(texts[0]): (self.sort_keys[key], key) for key, texts in self.cells.items()}
        self.table.sort(key=lambda cells: ranks[id(cells[0])])


def render_screen(widget: Any, height: int) -> float:
    start = time.perf_counter()
    for y in range(height):
        widget.render_line(y)
    return (time.perf_counter() - start) * 1000


def make_tick(
    pods: dict[str, Pod], rng: random.Random, changes: int, mode: str, next_id: list[int]
) -> tuple[list[Pod], list[str]]:
    """Mutate pods for one tick; returns (upserted pods, removed keys)."""
    keys = rng.sample(sorted(pods), changes)
    upserted: list[Pod] = []
    removed: list[str] = []
    moves = {"in place": 0, "churn": changes // 20, "all move": changes}[mode]
    churn = changes // 40 if mode == "churn" else 0
    for n, key in enumerate(keys):
        pod = pods[key]
        if n < moves:
            pod.status = "Running" if pod.status != "Running" else rng.choice(STATUSES[1:])
        elif n < moves + churn:
            removed.append(key)
            del pods[key]
            continue
        pod.restarts += 1
        pod.age += 1
        upserted.append(pod)
    for _ in range(churn):
        pod = Pod(next_id[0])
        next_id[0] += 1
        pods[pod.key] = pod
        upserted.append(pod)
    return upserted, removed


async def run(rows: int, changes: int, ticks: int) -> list[tuple[str, str, str]]:
    app = Bench()
    results: list[tuple[str, str, str]] = []
    async with app.run_test(size=SCREEN) as pilot:
        vtable = app.query_one(VirtualTable)
        datatable: DataTable[Text] = app.query_one(DataTable)
        feeder = DataTableFeeder(datatable)
        pods = {pod.key: pod for pod in (Pod(i) for i in range(rows))}
        height = vtable.size.height

        start = time.perf_counter()
        for pod in pods.values():
            vtable.upsert(pod.key, pod.cells(), pod.sort_key())
        vtable.commit()
        v_load = time.perf_counter() - start
        start = time.perf_counter()
        for pod in pods.values():
            feeder.upsert(pod.key, pod.cells(), pod.sort_key())
        feeder.sort()
        await pilot.pause()  # DataTable measures new rows when idle
        d_load = time.perf_counter() - start
        results.append((f"load {rows:,} rows", f"{v_load * 1000:,.0f}", f"{d_load * 1000:,.0f}"))
        await pilot.pause()

        rng = random.Random(7)
        next_id = [rows]
        for mode in ("in place", "churn", "all move"):
            timings: dict[str, list[float]] = {name: [] for name in
                                               ("vt", "dt", "vt_cold", "dt_cold", "vt_warm",
                                                "dt_warm")}
            for _ in range(ticks):
                upserted, removed = make_tick(pods, rng, changes, mode, next_id)
                timings["vt"].append(_timed(_vtable_tick, vtable, upserted, removed))
                timings["dt"].append(_timed(_datatable_tick, feeder, upserted, removed))
                # Cold: right after the update (DataTable rebuilds its row offsets here).
                timings["vt_cold"].append(render_screen(vtable, height))
                timings["dt_cold"].append(render_screen(datatable, height))
                timings["vt_warm"].append(render_screen(vtable, height))
                timings["dt_warm"].append(render_screen(datatable, height))
                await pilot.pause()
            med = {name: statistics.median(values) for name, values in timings.items()}
            results.append((f"tick, {changes:,} changes ({mode})", f"{med['vt']:.1f}",
                            f"{med['dt']:.1f}"))
            results.append((f"  then draw {height} lines, cold", f"{med['vt_cold']:.2f}",
                            f"{med['dt_cold']:.2f}"))
            results.append(("  redraw, warm caches", f"{med['vt_warm']:.2f}",
                            f"{med['dt_warm']:.2f}"))
        assert vtable.row_count == datatable.row_count == len(pods)
        assert vtable.key_at(0) == _first_key(pods)
        # What Textual itself draws after one more tick: one screen, not 30,000 rows.
        vtable.lines_rendered = vtable.strips_built = 0
        upserted, removed = make_tick(pods, rng, changes, "churn", next_id)
        _vtable_tick(vtable, upserted, removed)
        await pilot.pause()
        results.append((f"lines drawn by Textual after a tick ({len(pods):,} rows)",
                        f"{vtable.lines_rendered:,}", ""))
        results.append(("  of which row strips rebuilt", f"{vtable.strips_built:,}", ""))
    return results


def _first_key(pods: dict[str, Pod]) -> str:
    return min(pods.values(), key=lambda pod: pod.sort_key()).key


def _timed(work: Callable[..., None], *args: Any) -> float:
    start = time.perf_counter()
    work(*args)
    return (time.perf_counter() - start) * 1000


def _vtable_tick(vtable: VirtualTable, upserted: list[Pod], removed: list[str]) -> None:
    with vtable.app.batch_update():
        for key in removed:
            vtable.remove_row(key)
        for pod in upserted:
            vtable.upsert(pod.key, pod.cells(), pod.sort_key())
        vtable.commit()


def _datatable_tick(feeder: DataTableFeeder, upserted: list[Pod], removed: list[str]) -> None:
    with feeder.table.app.batch_update():
        for key in removed:
            feeder.remove(key)
        moved = bool(removed)
        for pod in upserted:
            moved |= feeder.upsert(pod.key, pod.cells(), pod.sort_key())
        if moved:
            feeder.sort()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(run(args.rows, args.changes, args.ticks))
    width = max(len(name) for name, _, _ in results)
    print(f"{'milliseconds (median)':<{width}}  {'VirtualTable':>12}  {'DataTable':>12}")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 12}")
    for name, vt, dt in results:
        print(f"{name:<{width}}  {vt:>12}  {dt:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

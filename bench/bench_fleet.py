"""Issue 18 point 6: the cost of several contexts in one control room.

1. **Drill fleet** (a child process, ``--child drill``): N drill clusters (static, each with
   P bulk pods), one kubeconfig with a context each; SIGUSR1 starts a flood of R pod changes
   per second on EVERY cluster for ``--flood-seconds``.
2. **The App** (this process): ``ControlRoomApp`` headless at 200x50 watching every context
   (tui/run_fleet.py's members: one store, source set and gate per context), the pods panel
   showing all pods of the active context. Measured: time until every store holds its P pods,
   RSS once loaded (``VmRSS`` and ``ru_maxrss``: the App, the bench's own small overhead,
   no drill), then during the flood a ``down`` key every 100 ms posted from a thread (as
   Textual's input thread does): key-to-paint p50/p95/p99 (bench_live.py's hooks), and the
   App's RSS at the end.
3. **The fleet screen**: S summaries published retained to a real mosquitto, then an App
   with ``[mqtt] url`` on one context: time from start to all S in the store, and from ``W``
   to the screen listing all S (the end of its paint).

Targets (issue 18): memory under 400 MB, key-to-paint p95 under 50 ms, 500 summaries shown in
under 1 s. Run: ``.venv/bin/python bench/bench_fleet.py`` (10 x 3,000, 100/s, 500);
``--contexts``, ``--pods``, ``--rate``, ``--flood-seconds``, ``--summaries`` scale it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_live import KeyRecord, Recorder, _quantiles, install_hooks  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ the drill child


async def drill_child(args: argparse.Namespace) -> int:
    from drill.bulk import flood, populate
    from drill.fleet import DrillFleet
    from drill.runner import DrillOptions

    names = [(f"ctx{i:02d}", "calm") for i in range(args.contexts)]
    fleet = DrillFleet(DrillOptions(simulate=False, servers=False, window=400_000,
                                    bookmark_interval=5.0), names)
    now = datetime.now(UTC)
    for cluster in fleet.clusters.values():
        populate(cluster.state, max(3, args.pods // 30), args.pods, max(1, args.pods // 10), now)
    await fleet.start()
    loop = asyncio.get_running_loop()
    floods: list[asyncio.Task[int]] = []

    def start_flood() -> None:
        for cluster in fleet.clusters.values():
            floods.append(loop.create_task(flood(cluster.state, args.rate, args.flood_seconds)))
        print("flood: started", flush=True)

    loop.add_signal_handler(signal.SIGUSR1, start_flood)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"kubeconfig: {fleet.kubeconfig}", flush=True)
    await stop.wait()
    for task in floods:
        task.cancel()
    await fleet.stop()
    return 0


# ------------------------------------------------------------------ the App


async def measure_fleet(args: argparse.Namespace, kubeconfig: str, drill_pid: int) -> dict[str, Any]:
    from textual import events

    from backends.config import parse
    from tui.app import ControlRoomApp
    from tui.run_fleet import _member
    from widgets.panels import PodsPanel

    rec = Recorder()
    install_hooks(rec, encode=True)
    settings = parse("signals = []\n")
    names = [f"ctx{i:02d}" for i in range(args.contexts)]
    members = [_member(settings, name, f"bench {name}", False, [], {
        "kubeconfig": lambda: kubeconfig, "context": name, "namespaces": None})
        for name in names]
    first, *others = members
    app = ControlRoomApp(first.settings, None, first.target, first.starter,
                         journal_path=Path(args.tmp) / "journal.sqlite3", watch=others)
    out: dict[str, Any] = {"rss_before": rss_mb()}
    started = time.perf_counter()
    async with app.run_test(size=(200, 50)) as pilot:
        pods_panel = app.query_one(PodsPanel)
        if not pods_panel.show_all:
            pods_panel.toggle_all()
        deadline = started + args.load_timeout
        while not all((s := m.store) is not None and s.count("pods") >= args.pods
                      for m in app.fleet.members):
            if time.perf_counter() > deadline:
                counts = [m.store.count("pods") if m.store else 0 for m in app.fleet.members]
                raise TimeoutError(f"not loaded: {counts}")
            await asyncio.sleep(0.05)
        out["loaded_s"] = time.perf_counter() - started
        await pilot.pause(1.0)
        out["rss_loaded"] = rss_mb()
        out["strip"] = app.fleet_strip.plain.splitlines()[:2]
        pods_panel.focus()
        table = pods_panel.table
        cursor_down = table.action_cursor_down

        def hooked() -> None:
            rec.key_handled()
            cursor_down()

        table.action_cursor_down = hooked  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        stop_keys = threading.Event()

        def press() -> None:
            while not stop_keys.wait(0.1):
                key = events.Key("down", None)
                key.set_sender(app)
                rec.keys.append(KeyRecord(time.perf_counter()))
                loop.call_soon_threadsafe(app.post_message, key)

        os.kill(drill_pid, signal.SIGUSR1)
        keys = threading.Thread(target=press, daemon=True)
        keys.start()
        await asyncio.sleep(args.flood_seconds)
        stop_keys.set()
        keys.join()
        await asyncio.sleep(1.0)
        out["rss_flood"] = rss_mb()
        painted = [(k.painted - k.posted) * 1000 for k in rec.keys if k.painted is not None]
        out["keys"] = len(rec.keys)
        out["keys_painted"] = len(painted)
        out["key_to_paint_ms"] = _quantiles(painted) if painted else (None, None, None)
        app.exit(0)
    out["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


async def measure_summaries(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    import aiomqtt

    from backends.config import parse
    from backends.fleet_summary import ContextSummary
    from backends.signals.bus_schema import encode
    from backends.signals.bus_summary import TEAMSUMMARY, summary_message
    from drill.servers import DrillServers
    from tui.app import ControlRoomApp
    from tui.fleet_screen import FleetScreen
    from tui.run_fleet import _member

    servers = DrillServers(enable=("mqtt",))
    await servers.start()
    if servers.mosquitto is None:
        return {"error": "; ".join(p.line() for p in servers.problems)}
    try:
        url = servers.mosquitto.url
        port = servers.mosquitto.port
        now = time.time()
        async with aiomqtt.Client("127.0.0.1", port) as client:
            for i in range(args.summaries):
                summary = ContextSummary(context=f"aks-{i:04d}", verdict="ok", breaker="off")
                await client.publish(f"controlroom/summary/aks-{i:04d}",
                                     encode(summary_message(summary, "bench", now)),
                                     qos=1, retain=True)
        settings = parse(f'signals = []\n[mqtt]\nurl = "{url}"\n')
        member = _member(settings, "ctx00", "bench", False, [], {
            "kubeconfig": lambda: kubeconfig, "context": "ctx00", "namespaces": None})
        app = ControlRoomApp(member.settings, None, member.target, member.starter,
                             journal_path=Path(args.tmp) / "journal2.sqlite3")
        out: dict[str, Any] = {}
        started = time.perf_counter()
        async with app.run_test(size=(200, 50)) as pilot:
            while app.store.count(TEAMSUMMARY) < args.summaries:
                if time.perf_counter() - started > 60:
                    raise TimeoutError(f"summaries: {app.store.count(TEAMSUMMARY)}")
                await asyncio.sleep(0.01)
            out["in_store_s"] = time.perf_counter() - started
            pressed = time.perf_counter()
            await pilot.press("W")
            while not (isinstance(app.screen, FleetScreen)
                       and f"{args.summaries} context(s)" in app.screen.plain):
                await asyncio.sleep(0.005)
            await pilot.pause(0)  # its paint
            out["shown_s"] = time.perf_counter() - pressed
            app.exit(0)
        return out
    finally:
        await servers.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["drill"], default=None)
    parser.add_argument("--contexts", type=int, default=10)
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument("--summaries", type=int, default=500)
    parser.add_argument("--load-timeout", type=float, default=300.0)
    parser.add_argument("--tmp", default="")
    args = parser.parse_args()
    if args.child == "drill":
        return asyncio.run(drill_child(args))
    import tempfile

    args.tmp = tempfile.mkdtemp(prefix="bench-fleet-")
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", "drill", "--contexts", str(args.contexts),
         "--pods", str(args.pods), "--rate", str(args.rate),
         "--flood-seconds", str(args.flood_seconds)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("kubeconfig: "):
            print(f"drill fleet did not start: {line!r}", file=sys.stderr)
            return 2
        kubeconfig = line.split(": ", 1)[1].strip()
        fleet = asyncio.run(measure_fleet(args, kubeconfig, child.pid))
        summaries = asyncio.run(measure_summaries(args, kubeconfig))
    finally:
        child.terminate()
        child.wait(30)
    p50, p95, p99 = fleet["key_to_paint_ms"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} ms"

    print(f"bench_fleet: {args.contexts} contexts x {args.pods} pods, flood {args.rate:g}/s "
          f"per context for {args.flood_seconds:g} s, {args.summaries} summaries")
    print("| metric | value | target |\n|---|---|---|")
    print(f"| all contexts loaded | {fleet['loaded_s']:.1f} s | |")
    print(f"| RSS loaded / after flood / peak | {fleet['rss_loaded']:.0f} / "
          f"{fleet['rss_flood']:.0f} / {fleet['ru_maxrss']:.0f} MB | < 400 MB |")
    print(f"| key-to-paint p50 / p95 / p99 ({fleet['keys_painted']}/{fleet['keys']} keys) | "
          f"{ms(p50)} / {ms(p95)} / {ms(p99)} | p95 < 50 ms |")
    if "error" in summaries:
        print(f"| summaries | not measured: {summaries['error']} | |")
    else:
        print(f"| {args.summaries} retained summaries: start to store / W to shown | "
              f"{summaries['in_store_s']:.2f} s / {summaries['shown_s'] * 1000:.0f} ms | "
              f"< 1 s |")
    print(f"strip: {fleet['strip']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

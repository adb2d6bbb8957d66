"""Benchmark: the incident timeline's cost (issue 17, point 6).

Two parts, printed as tables:

1. **Recording under a pod-event flood.** The drill serves a generated cluster (``--bulk``)
   and floods pod changes on SIGUSR1 (``--flood``, as ``bench_live.py``). Two child
   processes are measured in turn over the same flood: ``watch`` (the sources and the store
   alone: what the control room does anyway) and ``record`` (``controlroom record``: the same
   plus the recorder and its writer thread). Reported: CPU of each over the flood as a share
   of one core and the difference (the recording's cost on top of watching), the file's
   growth during the flood as MB per hour, RSS at the start and the end of the flood and at
   its peak (memory flat), and the events the drill made.
2. **Replay seek in a 1-hour recording.** An hour of recording is synthesised with the real
   recorder and writer on a fake clock (``--synth-pods`` pods, ``--synth-rate`` pod changes
   a second, a tick every 0.5 s, a keyframe every 10 minutes and a checkpoint every 30 s,
   as recorded live), then the replay's :class:`~backends.timeline.replay.ReplaySource`
   seeks to the last second of every minute in random order (29 s past a checkpoint, the
   most deltas a seek applies; 9 min 59 s past a keyframe in the last minute of each ten): the time to build the state at the cursor and to
   copy it into the App's store (what a seek costs the screen), median and worst, against
   the 1 s target, wall and CPU time (the machine is shared: CPU time is what the seek
   costs, wall time what it costs there and then). Under both parts: where the file's bytes
   are (each table and index, frames by type) and what the recorder's tick costs.

Defaults are scaled down to stay near three minutes on the 2-core development machine: the
full 30,000 pods, but a 60 s flood instead of 10 minutes (``--flood-seconds 600`` for the
issue's size) and 100 pod changes a second in the synthetic hour (``--synth-rate 1000``).

Run: ``.venv/bin/python bench/bench_timeline.py [--small]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- /proc readings


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bytes_by_part(path: Path) -> str:
    """Where the file's bytes are: each table and index (SQLite's ``dbstat``, pages in
    use), frames split by type; one line for the tables."""
    import sqlite3

    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        parts = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name "
                             "ORDER BY 2 DESC").fetchall()
        frames = conn.execute("SELECT type, count(*), sum(length(body)) FROM frames "
                              "GROUP BY type ORDER BY 3 DESC").fetchall()
    finally:
        conn.close()
    shown = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in parts if size >= 50_000)
    split = ", ".join(f"{count} {kind} {size / 1e6:.1f}" for kind, count, size in frames)
    return f"MB by table/index: {shown}; frame bodies: {split}"


def file_mb(path: Path) -> float:
    """The recording's logical size: its pages in use, the WAL's not yet checkpointed
    included (the WAL file itself keeps its largest size, which would overstate growth)."""
    import sqlite3

    if not path.exists():
        return 0.0
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return (pages - free) * size / 1024 / 1024


# ---------------------------------------------------------------- the children


def child_watch(kubeconfig: str) -> None:
    """Sources and store only: what watching costs without recording."""
    from backends.kube.connection import connect
    from backends.kube.source_set import SourceOptions, start_all
    from backends.store import Store

    async def main() -> None:
        conn = await connect(kubeconfig, None)
        store = Store()
        await start_all(conn, store, None, options=SourceOptions(metrics=False))
        while store.first_lists_loading() or not store.count("pods"):
            await asyncio.sleep(0.1)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"child ended before {prefix!r}")
        if line.startswith(prefix):
            return line.strip()
    raise SystemExit(f"no {prefix!r} within {timeout} s")


def measure_flood(name: str, child: subprocess.Popen[str], drill: subprocess.Popen[str],
                  floods: list[str], output: Path | None) -> dict[str, float]:
    """CPU, RSS and file growth of ``child`` over one flood of the drill (from SIGUSR1 to
    the drill's "flood: N writes in S s" line, plus a second to catch up)."""
    time.sleep(2.0)  # let the first lists' garbage settle
    cpu0, rss0 = cpu_seconds(child.pid), rss_mb(child.pid)
    size0 = file_mb(output) if output else 0.0
    peak = rss0
    done = len(floods)
    drill.send_signal(signal.SIGUSR1)
    start = time.monotonic()
    minutes: list[str] = []  # RSS at each minute of the flood: flat, or growing?
    while len(floods) == done:
        time.sleep(0.5)
        rss = rss_mb(child.pid)
        peak = max(peak, rss)
        if time.monotonic() - start >= 60 * (len(minutes) + 1):
            minutes.append(f"{rss:.0f}")
    time.sleep(1.0)
    if minutes:
        print(f"{name}: RSS at each minute of the flood (MB): {', '.join(minutes)}",
              flush=True)
    wall = time.monotonic() - start
    cpu1, rss1 = cpu_seconds(child.pid), rss_mb(child.pid)
    size1 = file_mb(output) if output else 0.0
    return {"cpu_share": (cpu1 - cpu0) / wall, "rss0": rss0, "rss1": rss1, "peak": peak,
            "mb_per_hour": (size1 - size0) / wall * 3600, "wall": wall}


def live_part(args: argparse.Namespace, tmp: Path) -> None:
    from backends.timeline.store import TimelineReader

    nodes, pods, deployments = args.bulk
    drill = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "demo", "--headless", "--static", "--bulk",
         f"{nodes},{pods},{deployments}", "--watch-window", "400000", "--flood",
         str(args.flood_rate), "--flood-on-signal", "--flood-seconds", str(args.flood_seconds)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        kubeconfig = wait_line(drill, "kubeconfig: ", 300).split(": ", 1)[1]
        wait_line(drill, "metrics: ", 60)
        floods: list[str] = []

        def drain() -> None:
            assert drill.stdout is not None
            for line in drill.stdout:
                if line.startswith("flood: ") and "writes" in line:
                    floods.append(line.strip())

        threading.Thread(target=drain, daemon=True).start()
        results: dict[str, dict[str, float]] = {}
        # watch only
        watch = subprocess.Popen([sys.executable, __file__, "--child", "watch", kubeconfig],
                                 cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            wait_line(watch, "ready", 300)
            results["watch"] = measure_flood("watch", watch, drill, floods, None)
        finally:
            watch.terminate()
            watch.wait(30)
        # watch + record
        output = tmp / "bench.timeline"
        config = tmp / "config.toml"
        config.write_text("")
        rec = subprocess.Popen(
            [sys.executable, "-m", "controlroom", "record", "--kubeconfig", kubeconfig,
             "--config", str(config), "--state-dir", str(tmp / "state"), "-o", str(output)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            wait_line(rec, "recording: ", 300)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if output.exists():
                    with TimelineReader(output, check=False) as reader:
                        if reader.first_keyframe_at() is not None:
                            break
                time.sleep(0.5)
            results["record"] = measure_flood("record", rec, drill, floods, output)
        finally:
            rec.send_signal(signal.SIGINT)
            rec.wait(60)
        with TimelineReader(output) as reader:
            entries = len(reader.entries())
            frames = len(reader.frame_times())
        w, r = results["watch"], results["record"]
        print(f"\n## Recording {pods:,} pods under {args.flood_rate:g} pod events/s for "
              f"{args.flood_seconds:g} s (issue: 30,000 pods, 1,000/s, 10 min)")
        print("| | watch only | watch + record | target |")
        print("|---|---|---|---|")
        print(f"| CPU, share of one core | {w['cpu_share']:.1%} | {r['cpu_share']:.1%} | "
              f"recording on top: {r['cpu_share'] - w['cpu_share']:+.1%} (< 10%) |")
        print(f"| RSS at flood start -> end (peak), MB | {w['rss0']:.0f} -> {w['rss1']:.0f} "
              f"({w['peak']:.0f}) | {r['rss0']:.0f} -> {r['rss1']:.0f} ({r['peak']:.0f}) | "
              "flat |")
        print(f"| file growth under the flood | - | {r['mb_per_hour']:.1f} MB/hour | "
              "< 50 MB/hour |")
        print(f"| recorded | - | {entries} entries, {frames} frames, file "
              f"{file_mb(output):.1f} MB | |")
        print(f"| drill (the same flood twice) | {floods[0]} | {floods[1]} | |")
        print(bytes_by_part(output))
    finally:
        drill.send_signal(signal.SIGINT)
        try:
            drill.wait(30)
        except subprocess.TimeoutExpired:
            drill.kill()


# ---------------------------------------------------------------- the synthetic hour


def _replicasets(count: int) -> list[object]:
    from backends.model import ReplicaSetRow

    deployments = max(1, count // 10)
    rows = []
    for d in range(deployments):
        ns, dep = f"team-{d % 100:03d}", f"app-{d:04d}"
        rows.append(ReplicaSetRow(key=f"{ns}/{dep}-7c64885f58", namespace=ns,
                                  name=f"{dep}-7c64885f58", owner_kind="Deployment",
                                  owner_name=dep, deployment=dep, desired=10))
    return rows


def _pods(count: int) -> list[object]:
    """Pods as the bulk drill makes them: ten per Deployment (through its ReplicaSet)."""
    from backends.model import ContainerInfo, PodRow

    deployments = max(1, count // 10)
    rows = []
    for i in range(count):
        d = i % deployments
        ns = f"team-{d % 100:03d}"
        dep = f"app-{d:04d}"
        name = f"{dep}-7c64885f58-{i:05d}"
        rows.append(PodRow(
            key=f"{ns}/{name}", namespace=ns, name=name, uid=f"uid-{i:08d}",
            phase="Running", status="Running", ready_containers=1, total_containers=1,
            node=f"aks-pool-{i % 1000:04d}", owner_kind="ReplicaSet",
            owner_name=f"{dep}-7c64885f58", images=(f"ghcr.io/bench/{dep}:1.0.{i % 7}",),
            created=1.7e9, containers=(ContainerInfo(
                name="app", image=f"ghcr.io/bench/{dep}:1.0.{i % 7}", ready=True,
                state="running", since=1.7e9),)))
    return rows


def synth_part(args: argparse.Namespace, tmp: Path) -> None:
    import msgspec

    from backends.store import Store
    from backends.timeline.recorder import Recorder
    from backends.timeline.replay import ReplaySource, copy_state
    from backends.timeline.writer import TimelineWriter

    path = tmp / "hour.timeline"
    clock = [1.8e9]
    store = Store(clock=lambda: clock[0])
    pods = _pods(args.synth_pods)
    store.replace("replicasets", _replicasets(args.synth_pods))  # type: ignore[arg-type]
    store.replace("pods", pods)  # type: ignore[arg-type]
    for kind in ("nodes", "deployments", "replicasets", "events", "applications", "gateways",
                 "httproutes", "applicationloadbalancers"):
        store.set_health(kind, "connected", now=clock[0])
    store.set_health("pods", "connected", now=clock[0])
    writer = TimelineWriter(path, "bench")
    recorder = Recorder(store, writer, "bench", clock=lambda: clock[0])
    rng = random.Random(17)
    per_tick = max(1, int(args.synth_rate / 2))
    made = time.perf_counter()
    ticks = int(args.synth_seconds * 2)
    keys = list(store.held("pods"))
    tick_s: list[float] = []
    for tick in range(ticks):
        clock[0] += 0.5
        batch = []
        for key in rng.sample(keys, per_tick):
            row = store.get("pods", key)
            flip = not row.containers[0].ready  # type: ignore[union-attr]
            container = msgspec.structs.replace(
                row.containers[0], ready=flip,  # type: ignore[union-attr]
                restarts=row.restarts + (0 if flip else 1))  # type: ignore[union-attr]
            batch.append(("MODIFIED", msgspec.structs.replace(
                row, ready_containers=int(flip), restarts=container.restarts,  # type: ignore
                status="Running", containers=(container,))))
        store.apply("pods", batch)  # type: ignore[arg-type]
        began = time.perf_counter()
        recorder.tick()
        tick_s.append(time.perf_counter() - began)
        if tick % 200 == 0:
            writer.flush()
    writer.close()
    build = time.perf_counter() - made
    size = file_mb(path)
    opened = time.perf_counter()
    source = ReplaySource(path)
    open_s = time.perf_counter() - opened
    minutes = list(range(int(args.synth_seconds // 60)))
    rng.shuffle(minutes)
    seeks, copies, cpus = [], [], []
    target = Store()
    for minute in minutes:
        c0 = time.process_time()
        t0 = time.perf_counter()
        state = source.state_at(source.start + minute * 60 + 59)
        t1 = time.perf_counter()
        copy_state(state, target)
        t2 = time.perf_counter()
        cpus.append(time.process_time() - c0)
        seeks.append(t1 - t0)
        copies.append(t2 - t1)
    total = [a + b for a, b in zip(seeks, copies, strict=True)]
    source.close()
    print(f"\n## Replay seek in a {args.synth_seconds / 3600:g}-hour recording "
          f"({args.synth_pods:,} pods, {args.synth_rate:g} pod changes/s, synthesised in "
          f"{build:.0f} s, {size:.1f} MB)")
    print("| | median | worst | target |")
    print("|---|---|---|---|")
    print(f"| state at a minute (keyframe, checkpoint, deltas) | {statistics.median(seeks):.3f} s | "
          f"{max(seeks):.3f} s | |")
    print(f"| into the App's store | {statistics.median(copies):.3f} s | "
          f"{max(copies):.3f} s | |")
    print(f"| seek total ({len(total)} minutes, random order) | "
          f"{statistics.median(total):.3f} s | {max(total):.3f} s | < 1 s |")
    print(f"| seek total, CPU time (what the seek itself costs on a shared machine) | "
          f"{statistics.median(cpus):.3f} s | {max(cpus):.3f} s | |")
    print(f"| opening the recording (integrity check) | {open_s:.3f} s | | |")
    print(bytes_by_part(path))
    ordered = sorted(tick_s)
    print(f"recorder tick (on the event loop when live): median {statistics.median(tick_s) * 1e3:.1f} "
          f"ms, 99th {ordered[int(len(ordered) * 0.99)] * 1e3:.1f} ms, max {max(tick_s) * 1e3:.0f} ms "
          f"(keyframes and checkpoints included), {sum(tick_s) / args.synth_seconds:.1%} of a core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "KUBECONFIG"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--bulk", default="1000,30000,3000", help="NODES,PODS,DEPLOYMENTS")
    parser.add_argument("--flood-rate", type=float, default=1000.0)
    parser.add_argument("--flood-seconds", type=float, default=60.0)
    parser.add_argument("--synth-pods", type=int, default=30_000)
    parser.add_argument("--synth-rate", type=float, default=100.0)
    parser.add_argument("--synth-seconds", type=float, default=3600.0)
    parser.add_argument("--small", action="store_true",
                        help="3,000 pods, a 15 s flood, a 20-minute synthetic recording")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    if args.child:
        child_watch(args.child[1])
        return
    if args.small:
        args.bulk, args.flood_seconds = "100,3000,300", 15.0
        args.synth_pods, args.synth_seconds = 3000, 1200.0
    args.bulk = tuple(int(x) for x in args.bulk.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        if not args.skip_live:
            live_part(args, Path(tmp))
        if not args.skip_replay:
            synth_part(args, Path(tmp))


if __name__ == "__main__":
    main()

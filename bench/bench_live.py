"""Benchmark: the live control room against kubectl, loading a big cluster and under a flood.

Issue "The live control room". One run measures, side by side:

1. The drill API server (``controlroom demo --headless --static --bulk N,P,D``) is started as a
   child process, with ``--flood RATE --flood-on-signal --flood-seconds S``: it floods only
   when it gets SIGUSR1.
2. ``kubectl get pods -A -o json`` against it: wall time, peak RSS (``os.wait4`` of that child
   alone), and how many pods it printed.
3. The control room App, headless at 200x50, in ANOTHER child process (this script run with
   ``--child app``), so its RSS is its own: connect -> first panel rows painted, connect -> all
   pods, nodes and deployments in the store AND every big panel holding them on screen (the
   pods panel is switched to "all pods", the heaviest case), CPU and GC time while loading,
   peak RSS (``ru_maxrss``).
4. Once loaded, the App process sends SIGUSR1 and the server changes RATE pods per second for
   S seconds while the App runs. Measured in the App: events applied to the store per second,
   paints per second, key latency (a thread posts ``down`` to the pods table every 100 ms, as
   Textual's input thread does: key posted -> ``action_cursor_down`` -> end of the next
   paint), the longest frame (one Textual update: layout + compositor render + the terminal
   bytes), the longest event-loop stall (a 5 ms sleeper's lateness), the refresh tick, and
   the longest GC pause (``gc.callbacks``).

The headless driver writes nothing, so the paint hook still builds the terminal byte string of
each update (``render_segments``): a frame costs what it would cost on a real terminal. The
hooks patch private Textual 8.2.8 methods (``Screen._compositor_refresh``,
``Screen._on_timer_update``, ``App._display``), in the benchmark's App process only.

The parent also reports how much CPU other processes used while the App ran: on a 2-core
machine a busy neighbour makes every App number worse, and the table says so.

Run from the repository root (see bench/README.md):

    python bench/bench_live.py            # 1,000 nodes, 30,000 pods, 3,000 deploys; ~1 min
    python bench/bench_live.py --small    # 100 nodes, 3,000 pods, 300 deploys, 10 s flood
    python bench/bench_live.py --profile-phase flood --profile-out /tmp/flood.pstats

Numbers, not pass/fail: the table says for each target whether it was met.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES: dict[str, tuple[tuple[int, int, int], float]] = {
    "small": ((100, 3_000, 300), 10.0),
    "full": ((1_000, 30_000, 3_000), 30.0),
}
"""(nodes, pods, deployments), flood seconds."""


# =============================================================================== parent


class Server:
    """The headless drill API server as a child process; its stdout read by a thread."""

    def __init__(self, bulk: tuple[int, int, int], rate: float, flood_seconds: float) -> None:
        cmd = [sys.executable, "-m", "controlroom", "demo", "--headless", "--static",
               "--bulk", ",".join(map(str, bulk)), "--watch-window", "400000",
               "--flood", str(rate), "--flood-on-signal", "--flood-seconds", str(flood_seconds)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # end of output

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The first line starting with ``prefix`` (skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the drill server did not print {prefix!r}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line == "" and self.proc.poll() is not None:
                raise RuntimeError(f"the drill server exited ({self.proc.returncode})")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def app_command(kubeconfig: str, server: Server, expect: dict[str, int],
                result_path: Path, *extra: str) -> list[str]:
    """The App child's command line (``extra``: what this run does besides loading)."""
    return [sys.executable, str(Path(__file__).resolve()), "--child", "app",
            "--kubeconfig", kubeconfig, "--server-pid", str(server.proc.pid),
            "--expect", json.dumps(expect), "--result", str(result_path),
            "--spawned", repr(time.time()), *extra]


def run_app_load_only(kubeconfig: str, server: Server, expect: dict[str, int]) -> float | None:
    """One App child that loads and exits (no flood): connect -> loaded, seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "app.json"
        cmd = app_command(kubeconfig, server, expect, result_path, "--no-flood")
        code, _, _ = run_measured(cmd, cwd=ROOT)
        if code != 0 or not result_path.exists():
            print(f"bench_live: the App child failed (exit {code})", file=sys.stderr)
            return None
        return float(json.loads(result_path.read_text())["connect_to_loaded"])


def run_measured(cmd: list[str], **kwargs: Any) -> tuple[int, float, Any]:
    """Run ``cmd``; (exit code, wall seconds, resource usage of that process alone)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, **kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage


_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def expected_counts(url: str) -> dict[str, int]:
    """How many nodes, pods and deployments the server holds (one-item pages)."""
    import httpx

    paths = {"nodes": "/api/v1/nodes", "pods": "/api/v1/pods",
             "deployments": "/apis/apps/v1/deployments"}
    counts = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for kind, path in paths.items():
            body = client.get(path, params={"limit": 1}).json()
            meta = body.get("metadata", {})
            counts[kind] = len(body["items"]) + int(meta.get("remainingItemCount") or 0)
    return counts


def run_kubectl(kubeconfig: str) -> dict[str, Any]:
    """``kubectl get pods -A -o json``: time, peak RSS, pods printed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pods.json"
        with out.open("wb") as sink:
            code, wall, usage = run_measured(
                ["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-A", "-o", "json",
                 "--request-timeout=600s"], stdout=sink)
            rss = usage.ru_maxrss / 1024
        pods = 0
        marker = b'"kind": "Pod",'
        tail = b""  # shorter than the marker: nothing in it is counted twice
        with out.open("rb") as source:
            while chunk := source.read(1 << 22):
                data = tail + chunk
                pods += data.count(marker)
                tail = data[-(len(marker) - 1):]
        size = out.stat().st_size
    return {"exit": code, "seconds": wall, "rss_mb": rss, "pods": pods, "bytes": size}


def parent(args: argparse.Namespace) -> int:
    size = "small" if args.small else "full"
    bulk, flood_seconds = SIZES[size]
    if args.bulk:
        n, p, d = (int(x) for x in args.bulk.split(","))
        bulk = (n, p, d)
    if args.flood_seconds is not None:
        flood_seconds = args.flood_seconds
    print(f"bench_live: {size} run, --bulk {','.join(map(str, bulk))}, flood {args.flood_rate:g}"
          f"/s for {flood_seconds:g} s", flush=True)
    started = time.perf_counter()
    server = Server(bulk, args.flood_rate, flood_seconds)
    try:
        try:
            kubeconfig = server.wait_for("kubeconfig: ", timeout=900)
            url = server.wait_for("api: ", timeout=60)
        except (TimeoutError, RuntimeError) as exc:
            print(f"bench_live: {exc}", file=sys.stderr)
            return 1
        generated = time.perf_counter() - started
        print(f"  drill server ready in {generated:.1f} s", flush=True)
        expect = expected_counts(url)
        kubectl: dict[str, Any] | None = None
        have_kubectl = not args.skip_kubectl and shutil.which("kubectl") is not None
        if not args.skip_kubectl and not have_kubectl:
            print("  kubectl not found (make tools installs it): its column stays empty")
        # The machine's speed drifts (a VM on shared cores: the same App load took 1.1 s of
        # CPU in one run and 1.7 s in the next). kubectl and the App are therefore run in
        # turn, --repeat times, and the load is compared by the medians; every pair is shown.
        pairs: list[tuple[float | None, float]] = []
        for round_ in range(args.repeat):
            if have_kubectl:
                kubectl = run_kubectl(kubeconfig)
                print(f"  kubectl: {kubectl['seconds']:.2f} s, {kubectl['rss_mb']:.0f} MB, "
                      f"{kubectl['pods']} pods", flush=True)
            if round_ == args.repeat - 1:
                break  # the last App run is the full one below (load, then the flood)
            loaded = run_app_load_only(kubeconfig, server, expect)
            if loaded is None:
                return 1
            print(f"  App: {loaded:.2f} s", flush=True)
            pairs.append((kubectl["seconds"] if kubectl else None, loaded))
        with tempfile.TemporaryDirectory() as tmp:
            result_path = Path(tmp) / "app.json"
            cmd = app_command(kubeconfig, server, expect, result_path,
                              "--flood-seconds", str(flood_seconds),
                              "--key-interval", str(args.key_interval))
            if args.profile_out:
                cmd += ["--profile-out", args.profile_out, "--profile-phase", args.profile_phase]
            if args.no_encode:
                cmd += ["--no-encode"]
            busy0, server0, own0 = (machine_busy_seconds(),
                                    process_cpu_seconds(server.proc.pid), own_cpu_seconds())
            code, wall, usage = run_measured(cmd, cwd=ROOT)
            busy1, server1, own1 = (machine_busy_seconds(),
                                    process_cpu_seconds(server.proc.pid), own_cpu_seconds())
            if code != 0 or not result_path.exists():
                print(f"bench_live: the App child failed (exit {code})", file=sys.stderr)
                return 1
            app = json.loads(result_path.read_text())
        app_cpu = usage.ru_utime + usage.ru_stime
        others = (busy1 - busy0) - (server1 - server0) - (own1 - own0) - app_cpu
        app["others_cpu_share"] = max(0.0, others / wall)
        app["app_cpu_share"] = app_cpu / wall
        app["server_cpu_share"] = (server1 - server0) / wall
        try:
            flood_line = server.wait_for("flood: ", timeout=5)
            while flood_line == "started":
                flood_line = server.wait_for("flood: ", timeout=flood_seconds + 30)
        except (TimeoutError, RuntimeError):
            flood_line = "?"
        app["server_flood"] = flood_line
        pairs.append((kubectl["seconds"] if kubectl else None, app["connect_to_loaded"]))
        app["pairs"] = pairs
    finally:
        server.stop()
    report(size, bulk, expect, kubectl, app, args.flood_rate, flood_seconds)
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def report(size: str, bulk: tuple[int, int, int], expect: dict[str, int],
           kubectl: dict[str, Any] | None, app: dict[str, Any], rate: float,
           flood_seconds: float) -> None:
    nodes, pods, deployments = bulk
    k_s = kubectl["seconds"] if kubectl else None
    rows: list[tuple[str, str, str, str, str]] = []

    def row(metric: str, k: str, a: str, target: str = "", met: bool | None = None) -> None:
        rows.append((metric, k, a, target, "" if met is None else ("yes" if met else "NO")))

    loaded = app["connect_to_loaded"]
    first = app["connect_to_first_rows"]
    row("server holds (pods / nodes / deployments)", "",
        f"{expect['pods']} / {expect['nodes']} / {expect['deployments']}")
    row("pods received", str(kubectl["pods"]) if kubectl else "-", str(app["store_pods"]))
    row("first rows on screen after connecting (s)", "-", f"{first:.2f}", "< 0.5 s", first < 0.5)
    row("  kubeconfig loaded / discovery done (s)", "-",
        f"{app['connect_to_connected']:.2f} / {app['connect_to_discovered']:.2f}")
    row("  first rows in the store (s)", "-", f"{app['connect_to_first_apply']:.2f}")
    row("App start -> first rows (s)", "-", f"{app['start_to_first_rows']:.2f}")
    row("spawn -> first rows, incl. imports (s)", "-", f"{app['spawn_to_first_rows']:.2f}")
    pairs = app.get("pairs") or [(k_s, loaded)]
    apps = [a for _, a in pairs]
    kubectls = [k for k, _ in pairs if k is not None]
    loaded = statistics.median(apps)
    k_s = statistics.median(kubectls) if kubectls else None
    ratio = loaded / k_s if k_s else None
    row(f"all {expect['pods']} pods loaded, panels on screen (s)",
        f"{k_s:.2f}" if k_s else "-", f"{loaded:.2f}",
        f"<= 0.1x kubectl ({0.1 * k_s:.2f} s)" if k_s else "<= 0.1x kubectl",
        None if ratio is None else ratio <= 0.1)
    row("  ratio App / kubectl", "1.00" if k_s else "-", f"{ratio:.3f}" if ratio else "-")
    if len(pairs) > 1:
        row(f"  medians of {len(pairs)} runs in turn; each run (s)",
            " ".join(f"{k:.1f}" for k in kubectls) or "-", " ".join(f"{a:.2f}" for a in apps))
        row("  each run's ratio", "-", " ".join(
            f"{a / k:.3f}" for k, a in pairs if k) or "-")
    row("  pods list done (s)", "-", f"{app['connect_to_pods_listed']:.2f}")
    row("  App CPU time while loading (s)", "-", f"{app['load_cpu']:.2f}")
    row("    of which garbage collection (s)", "-", f"{app['load_gc_total']:.2f}")
    row("    store / refresh ticks / frames (s)", "-",
        f"{app['load_apply_total']:.2f} / {app['load_tick_total']:.2f} / "
        f"{app['load_frame_total']:.2f}")
    row("  collector paused until (s), objects frozen", "-",
        f"{app['connect_to_gc_resumed']:.2f}, {app['gc_frozen']}")
    row("peak RSS, whole process (MB)", f"{kubectl['rss_mb']:.0f}" if kubectl else "-",
        f"{app['rss_peak_mb']:.0f}", "< 300 MB", app["rss_peak_mb"] < 300)
    row("  RSS when loaded (MB)", "-", f"{app['rss_loaded_mb']:.0f}")
    row("longest GC pause while loading (ms)", "-", _ms(app["load_gc_max"]))
    row("longest frame while loading (ms)", "-", _ms(app["load_frame_max"]))
    row("longest loop stall while loading (ms)", "-", _ms(app["load_stall_max"]))
    f = app["flood"]
    rows.append(("", "", "", "", ""))
    rows.append((f"under a flood of {rate:g} pod events/s for {flood_seconds:g} s", "", "", "", ""))
    row("server: pod writes", "", app["server_flood"])
    row("events applied to the store per second", "", f"{f['applied_per_s']:.0f}",
        f"~{rate:g} (keeps up)", f["applied_per_s"] >= 0.95 * rate)
    row("  store catches up after the flood (ms)", "", _ms(f["drain"]))
    row("UI frames (paints) per second", "", f"{f['paints_per_s']:.1f}")
    row("refresh tick: median / max (ms)", "", f"{_ms(f['tick_p50'])} / {_ms(f['tick_max'])}")
    row("key -> handler p50 / p95 / p99 (ms)", "",
        f"{_ms(f['key_handler'][0])} / {_ms(f['key_handler'][1])} / {_ms(f['key_handler'][2])}")
    row("key -> paint p50 / p95 / p99 (ms)", "",
        f"{_ms(f['key_paint'][0])} / {_ms(f['key_paint'][1])} / {_ms(f['key_paint'][2])}",
        "p95 < 100 ms", f["key_paint"][1] is not None and f["key_paint"][1] < 0.1)
    row("  keys posted / painted", "", f"{f['keys_posted']} / {f['keys_painted']}")
    row("frame (layout+render+encode): median / max (ms)", "",
        f"{_ms(f['frame_p50'])} / {_ms(f['frame_max'])}", "max < 100 ms", f["frame_max"] < 0.1)
    row("longest event-loop stall (ms)", "", _ms(f["stall_max"]), "(< 100 ms)",
        f["stall_max"] < 0.1)
    row("longest GC pause (ms)", "", _ms(f["gc_max"]), "< 50 ms", f["gc_max"] < 0.05)
    row("  GC runs gen0 / gen1 / gen2", "", " / ".join(str(n) for n in f["gc_counts"]))
    row("peak RSS after the flood (MB)", "", f"{app['rss_peak_mb']:.0f}")
    rows.append(("", "", "", "", ""))
    row("CPU, % of a core: App / server / others", "",
        f"{app['app_cpu_share'] * 100:.0f} / {app['server_cpu_share'] * 100:.0f} / "
        f"{app['others_cpu_share'] * 100:.0f}", "others < 10%",
        app["others_cpu_share"] < 0.1)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    widths = [max(w, len(h)) for w, h in zip(widths, ("metric", "kubectl", "app", "target",
                                                      "met"), strict=True)]
    header = ("metric", "kubectl", "app", "target", "met")
    print()
    print(f"bench_live ({size}: {nodes} nodes, {pods} pods, {deployments} deployments)")
    line = "  ".join(h.ljust(w) if i in (0, 3) else h.rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    if app["others_cpu_share"] >= 0.1:
        print(f"\nWARNING: other processes used {app['others_cpu_share'] * 100:.0f}% of a core "
              "while the App ran (this machine has 2): the App's times are pessimistic. "
              "Run again on a quiet machine.")


# =============================================================================== App child


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quantiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


class KeyRecord:
    __slots__ = ("handled", "painted", "posted")

    def __init__(self, posted: float) -> None:
        self.posted = posted
        self.handled: float | None = None
        self.painted: float | None = None


class Recorder:
    """Everything the App process measures, as (timestamp, value) series."""

    def __init__(self) -> None:
        self.paints: list[tuple[float, float]] = []
        self.frames: list[tuple[float, float]] = []
        self.gc: list[tuple[float, float, int]] = []
        self.applied: list[tuple[float, int, str]] = []
        self.applies: list[tuple[float, float, str]] = []
        self.ticks: list[tuple[float, float]] = []
        self.stalls: list[tuple[float, float]] = []
        self.keys: list[KeyRecord] = []
        self._next_handled = 0
        self._unpainted: list[KeyRecord] = []
        self._gc_started = 0.0
        self.on_paint: list[Any] = []

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            now = time.perf_counter()
            self.gc.append((now, now - self._gc_started, info["generation"]))

    def key_handled(self) -> None:
        if self._next_handled < len(self.keys):
            record = self.keys[self._next_handled]
            self._next_handled += 1
            record.handled = time.perf_counter()
            self._unpainted.append(record)

    def painted(self, began: float, ended: float) -> None:
        self.paints.append((began, ended))
        if self._unpainted:
            for record in self._unpainted:
                record.painted = ended
            self._unpainted.clear()
        for callback in self.on_paint:
            callback(ended)


def install_hooks(rec: Recorder, encode: bool) -> None:
    """Patch Textual (this process only) to time frames and paints."""
    from textual.app import App
    from textual.screen import Screen

    compositor_refresh = Screen._compositor_refresh
    timer_update = Screen._on_timer_update
    display = App._display

    def _compositor_refresh(self: Screen[Any]) -> None:
        if self is not self.app.screen:
            compositor_refresh(self)
            return
        began = time.perf_counter()
        compositor_refresh(self)
        rec.painted(began, time.perf_counter())

    def _on_timer_update(self: Screen[Any]) -> None:
        began = time.perf_counter()
        timer_update(self)
        rec.frames.append((began, time.perf_counter() - began))

    def _display(self: App[Any], screen: Screen[Any], renderable: Any) -> None:
        if encode and renderable is not None and self.is_headless and not self._batch_count:
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                render(self.console)  # the bytes a terminal would get
        display(self, screen, renderable)

    Screen._compositor_refresh = _compositor_refresh  # type: ignore[method-assign]
    Screen._on_timer_update = _on_timer_update  # type: ignore[method-assign]
    App._display = _display  # type: ignore[method-assign]


async def app_child(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import gc

    from textual import events

    import tui.app as app_module
    from backends.config import Settings
    from backends.kube.connection import connect
    from backends.kube.gcpause import collector_paused
    from backends.kube.source_set import WATCHED, start_all
    from backends.store import Store
    from tui.app import ControlRoomApp, Target
    from widgets.panels import NodesPanel, PodsPanel, WorkloadsPanel

    expect: dict[str, int] = json.loads(args.expect)
    rec = Recorder()
    install_hooks(rec, encode=not args.no_encode)
    gc.callbacks.append(rec.gc_callback)
    profiler = None
    if args.profile_out:
        import cProfile

        profiler = cProfile.Profile()

    marks: dict[str, float] = {}
    app: ControlRoomApp

    async def start(store: Store) -> Any:
        pods = app.query_one(PodsPanel)
        if not pods.show_all:
            pods.toggle_all()  # all 30,000 pods in the table: the heaviest case
        marks["connect"] = time.perf_counter()
        marks["connect_cpu"] = _cpu_seconds()
        if profiler is not None and args.profile_phase == "load":
            profiler.enable()
        conn = await connect(args.kubeconfig, None)
        marks["connected"] = time.perf_counter()
        sources = await start_all(conn, store, None)
        marks["discovered"] = time.perf_counter()

        async def stop() -> None:
            await sources.stop()

        # The App takes a Session (the stopper and the connection for actions) where the
        # write path exists, a bare stopper before it.
        session = getattr(app_module, "Session", None)
        return stop if session is None else session(stop, conn)

    app = ControlRoomApp(Settings(), None, Target(cluster="bench", context="drill"), start)
    store = app.store
    apply = store.apply

    def counting_apply(kind: str, events_: Any) -> int:
        ops = list(events_)
        began = time.perf_counter()
        changed = apply(kind, ops)
        rec.applied.append((time.perf_counter(), len(ops), kind))
        rec.applies.append((began, rec.applied[-1][0] - began, kind))
        if ops and "first_apply" not in marks:
            marks["first_apply"] = rec.applied[-1][0]
        return changed

    store.apply = counting_apply
    tick = app.refresh_tick

    def timed_tick() -> None:
        began = time.perf_counter()
        tick()
        rec.ticks.append((began, time.perf_counter() - began))

    app.refresh_tick = timed_tick  # type: ignore[method-assign]

    def loaded() -> bool:
        if not all(store.count(kind) >= n for kind, n in expect.items()):
            return False
        health = store.health("pods")
        if health is None or health.state != "connected":
            return False
        return (app.query_one(NodesPanel).visible_count() >= expect["nodes"]
                and app.query_one(WorkloadsPanel).visible_count() >= expect["deployments"]
                and app.query_one(PodsPanel).visible_count() >= expect["pods"])

    watched = {kind for kind, _ in WATCHED}

    def watch_paint(ended: float) -> None:
        # Panels fed by the cluster (not, say, an alerts panel showing a "waiting" note).
        cluster_panels = [p for p in app.panels if watched.intersection(p.KINDS)]
        if "first_rows" not in marks and any(p.visible_count() for p in cluster_panels):
            marks["first_rows"] = ended
            marks["first_rows_wall"] = time.time()
        if "pods_listed" not in marks:
            health = store.health("pods")
            if health is not None and health.state == "connected":
                marks["pods_listed"] = ended
        if "loaded" not in marks and loaded():
            marks["loaded"] = ended
            marks["loaded_cpu"] = _cpu_seconds()

    rec.on_paint.append(watch_paint)
    running = True

    async def stall_probe() -> None:
        step = 0.005
        while running:
            began = time.perf_counter()
            await asyncio.sleep(step)
            late = time.perf_counter() - began - step
            rec.stalls.append((began, late))
            if "discovered" in marks and "gc_resumed" not in marks and not collector_paused():
                marks["gc_resumed"] = time.perf_counter()

    marks["start"] = time.perf_counter()
    async with app.run_test(size=(200, 50)) as pilot:
        probe = asyncio.get_running_loop().create_task(stall_probe())
        deadline = time.perf_counter() + args.load_timeout
        while "loaded" not in marks:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not loaded: store pods {store.count('pods')}, "
                                   f"panel {app.query_one(PodsPanel).visible_count()}")
            # Not pilot.pause(): it forces a screen update and a round of messages to every
            # widget each time, work a real terminal session would not do.
            await asyncio.sleep(0.02)
        if profiler is not None and args.profile_phase == "load":
            profiler.disable()
        rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        marks["gc_frozen"] = gc.get_freeze_count()  # O(objects): not inside a measured span
        pods_panel = app.query_one(PodsPanel)
        pods_panel.focus()
        table = pods_panel.table
        cursor_down = table.action_cursor_down

        def hooked_cursor_down() -> None:
            rec.key_handled()
            cursor_down()

        table.action_cursor_down = hooked_cursor_down  # type: ignore[method-assign]
        await pilot.pause(args.settle)

        # ---------------------------------------------------------------- the flood
        loop = asyncio.get_running_loop()
        stop_keys = threading.Event()

        def press_keys() -> None:
            # Like Textual's input thread: the event is handed to the loop from outside it.
            while not stop_keys.wait(args.key_interval):
                key = events.Key("down", None)
                key.set_sender(app)
                rec.keys.append(KeyRecord(time.perf_counter()))
                loop.call_soon_threadsafe(app.post_message, key)

        if profiler is not None and args.profile_phase == "flood":
            profiler.enable()
        flood_start = time.perf_counter()
        keys = threading.Thread(target=press_keys, daemon=True)
        if not args.no_flood:
            os.kill(args.server_pid, signal.SIGUSR1)
            keys.start()
            await asyncio.sleep(args.flood_seconds)
        flood_end = max(time.perf_counter(), flood_start + 1e-6)
        stop_keys.set()
        if keys.is_alive():
            keys.join()
        # Wait for the store to catch up (no pod events for 1 s) and the last keys to paint.
        quiet_since = time.perf_counter()
        last_seen = len(rec.applied)
        while time.perf_counter() - quiet_since < 1.0 and time.perf_counter() - flood_end < 30:
            await asyncio.sleep(0.05)
            if len(rec.applied) != last_seen:
                last_seen = len(rec.applied)
                quiet_since = time.perf_counter()
        if profiler is not None and args.profile_phase == "flood":
            profiler.disable()
        running = False
        await probe
        app.exit(0)
    gc.callbacks.remove(rec.gc_callback)
    if profiler is not None:
        profiler.dump_stats(args.profile_out)

    def within(series: list[Any], start: float, end: float) -> list[Any]:
        return [item for item in series if start <= item[0] <= end]

    connect_at = marks["connect"]
    pod_events = [(t, n) for t, n, kind in rec.applied if kind == "pods" and t >= flood_start]
    in_window = sum(n for t, n in pod_events if t <= flood_end)
    last_apply = max((t for t, _ in pod_events), default=flood_end)
    keys_in = [k for k in rec.keys if k.posted <= flood_end]
    handled = [k.handled - k.posted for k in keys_in if k.handled is not None]
    painted = [k.painted - k.posted for k in keys_in if k.painted is not None]
    frames = within(rec.frames, flood_start, flood_end)
    paints = within(rec.paints, flood_start, flood_end)
    gcs = within(rec.gc, flood_start, flood_end)
    ticks = [d for _, d in within(rec.ticks, flood_start, flood_end)]
    load_end = marks["loaded"]
    return {
        "store_pods": store.count("pods"),
        "connect_to_first_rows": marks["first_rows"] - connect_at,
        "start_to_first_rows": marks["first_rows"] - marks["start"],
        "spawn_to_first_rows": marks["first_rows_wall"] - args.spawned,
        "connect_to_pods_listed": marks.get("pods_listed", load_end) - connect_at,
        "connect_to_connected": marks["connected"] - connect_at,
        "connect_to_discovered": marks["discovered"] - connect_at,
        "connect_to_first_apply": marks["first_apply"] - connect_at,
        "connect_to_loaded": load_end - connect_at,
        "load_cpu": marks["loaded_cpu"] - marks["connect_cpu"],
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "connect_to_gc_resumed": marks.get("gc_resumed", load_end) - connect_at,
        "gc_frozen": marks["gc_frozen"],
        "load_tick_total": sum(d for _, d in within(rec.ticks, connect_at, load_end)),
        "load_frame_total": sum(d for _, d in within(rec.frames, connect_at, load_end)),
        "load_apply_total": sum(d for _, d, _ in within(rec.applies, connect_at, load_end)),
        "load_gc_max": max((d for _, d, _ in within(rec.gc, connect_at, load_end)), default=0),
        "load_gc_total": sum(d for _, d, _ in within(rec.gc, connect_at, load_end)),
        "load_frame_max": max((d for _, d in within(rec.frames, connect_at, load_end)),
                              default=0),
        "load_stall_max": max((d for _, d in within(rec.stalls, connect_at, load_end)),
                              default=0),
        "flood": {
            "seconds": flood_end - flood_start,
            "applied": sum(n for _, n in pod_events),
            "applied_per_s": in_window / (flood_end - flood_start),
            "drain": max(0.0, last_apply - flood_end),
            "paints_per_s": len(paints) / (flood_end - flood_start),
            "frame_max": max((d for _, d in frames), default=0),
            "frame_p50": statistics.median(d for _, d in frames) if frames else 0,
            "stall_max": max((d for _, d in within(rec.stalls, flood_start, flood_end)),
                             default=0),
            "tick_p50": statistics.median(ticks) if ticks else None,
            "tick_max": max(ticks, default=None),
            "gc_max": max((d for _, d, _ in gcs), default=0),
            "gc_counts": [sum(1 for *_, g in gcs if g == gen) for gen in (0, 1, 2)],
            "keys_posted": len(keys_in),
            "keys_painted": len(painted),
            "key_handler": _quantiles(handled),
            "key_paint": _quantiles(painted),
        },
    }


def child(args: argparse.Namespace) -> int:
    import asyncio

    result = asyncio.run(app_child(args))
    Path(args.result).write_text(json.dumps(result))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true",
                      help="100 nodes, 3,000 pods, 300 deployments, 10 s flood (a quick look)")
    size.add_argument("--full", action="store_true",
                      help="1,000 nodes, 30,000 pods, 3,000 deployments, 30 s flood (default)")
    ap.add_argument("--bulk", default=None, metavar="NODES,PODS,DEPLOYMENTS",
                    help="override the cluster size")
    ap.add_argument("--flood-rate", type=float, default=1000.0, help="pod events per second")
    ap.add_argument("--flood-seconds", type=float, default=None)
    ap.add_argument("--key-interval", type=float, default=0.1,
                    help="seconds between Down presses during the flood")
    ap.add_argument("--skip-kubectl", action="store_true", help="do not run kubectl")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="kubectl and App loads in turn, N times; the load is compared by "
                         "the medians (default 3; the flood runs once, in the last App run)")
    ap.add_argument("--no-flood", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-encode", action="store_true",
                    help="do not build the terminal bytes of each paint (headless skips it)")
    ap.add_argument("--profile-out", default=None, metavar="PATH",
                    help="investigation: cProfile the App process into PATH (slows it down)")
    ap.add_argument("--profile-phase", choices=("load", "flood"), default="load")
    # Internal: the App child.
    ap.add_argument("--child", choices=("app",), help=argparse.SUPPRESS)
    ap.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--expect", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--spawned", type=float, default=time.time(), help=argparse.SUPPRESS)
    ap.add_argument("--settle", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--load-timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "app":
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())

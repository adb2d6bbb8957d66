"""Benchmark: k9s and the control room side by side, in tmux, against one bulk drill server.

Issue 16, point 5. Both programs are real terminal programs here: each runs in its own tmux
session (200x50, a private tmux server) against the same headless drill server
(``controlroom demo --headless --static --bulk N,P,D --flood-on-signal``), one after the
other so that neither steals the other's CPU, and everything is read from what tmux shows
(``capture-pane``) and from ``/proc``:

- *spawn -> first rows*: from the spawn of the program (imports and start-up included) to the
  first screen showing pod or node rows with a count above zero;
- *spawn -> all pods on screen*: to the first screen whose pod view says it lists every pod
  the server holds (k9s: the title ``pods(all)[N]``, started with ``-A -c pods``; the control
  room: the pods panel switched to "all pods" with ``a`` as soon as it paints, its border
  reading ``N``);
- *peak RSS* (``VmHWM``) and RSS once loaded;
- *idle CPU*: share of one core over ``--idle-seconds`` after loading (and a settle);
- *key -> paint under a flood*: the server changes ``--flood-rate`` pods a second (SIGUSR1);
  meanwhile ``?`` (help) is sent through tmux and the time until the screen shows the help is
  taken, then Escape and the time until it is gone, ``--keys`` times. The screen is polled
  every few milliseconds, so the numbers include up to one poll of slack for both programs.

kubectl (``get pods -A -o json``) is timed too, as the issue's yardstick for "all pods".

Before anything is timed the control room's own modules are compiled to bytecode, as an
installed control room is (:func:`compile_bytecode`; ``--no-compile`` skips it).
``--startup-runs N`` measures only spawn -> first paint and first rows, N spawns per program
(each killed at its first rows), with the median: a start is a fraction of a second, so one
run says more about a busy neighbour than about the program.

k9s is built by ``make k9s`` (scripts/build-k9s.sh, pinned by tools/k9s/go.mod) into
~/.cache/controlroom/k9s/; without it this benchmark measures the control room alone and says
so. Run from the repository root:

    .venv/bin/python bench/bench_k9s.py                       # 1,000 nodes, 30,000 pods
    .venv/bin/python bench/bench_k9s.py --bulk 5000,150000,15000 --load-timeout 900
    .venv/bin/python bench/bench_k9s.py --skip-k9s --startup-runs 10   # start-up only
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live import (  # noqa: E402  (a sibling script, found through sys.path)
    Server,
    expected_counts,
    machine_busy_seconds,
    process_cpu_seconds,
    run_kubectl,
)

WIDTH, HEIGHT = 200, 50
POLL = 0.005
"""Seconds between two screen captures while waiting for a paint."""

K9S_CONFIG = """\
k9s:
  liveViewAutoRefresh: false
  refreshRate: 2
  skipLatestRevCheck: true
  ui:
    enableMouse: false
    logoless: false
"""
"""k9s's defaults, except the check for a newer release (no network here)."""


@dataclass
class Program:
    """How to start one program and how to read its screen."""

    name: str
    argv: Callable[[str, Path], list[str]]
    env: Callable[[Path], dict[str, str]]
    pod_count: Callable[[str], int | None]
    """The pod count the all-pods view shows on this screen, or None."""
    first_rows: Callable[[str], bool]
    help_shown: Callable[[str], bool]
    after_first_paint: list[str] = field(default_factory=list)
    """Keys sent once the screen first shows anything (the control room's ``a``)."""


_K9S_TITLE = re.compile(r"pods\(all\)\[([\d,]+)\]", re.IGNORECASE)
"""k9s's title: ``pods(all)[535]``, ``pods(all)[30,035]`` (thousands separated)."""
_BORDER_COUNT = re.compile(r" (\d+) ─╯")
"""A panel's count on its bottom border: ``─ 30035 ─╯``, ``10649 failing  30035 ─╯``."""
_BORDER_OF = re.compile(r"─ \d+ of (\d+) ─╯")


def _k9s_count(screen: str) -> int | None:
    match = _K9S_TITLE.search(screen)
    return int(match.group(1).replace(",", "")) if match else None


def _cr_count(screen: str) -> int | None:
    if "Pods all" not in screen:
        return None
    # The pods panel is the one whose title says "Pods all"; the biggest border count on the
    # screen is its count (nodes and workloads hold fewer rows in every bulk shape).
    counts = [int(m) for m in _BORDER_COUNT.findall(screen)]
    return max(counts) if counts else None


def _cr_first_rows(screen: str) -> bool:
    counts = [int(m) for m in _BORDER_COUNT.findall(screen) + _BORDER_OF.findall(screen)]
    return any(n > 0 for n in counts) and "aks-" in screen


def _k9s_first_rows(screen: str) -> bool:
    count = _k9s_count(screen)
    return count is not None and count > 0


def k9s_program(binary: str) -> Program:
    def env(home: Path) -> dict[str, str]:
        config = home / "config" / "k9s"
        config.mkdir(parents=True, exist_ok=True)
        (config / "config.yaml").write_text(K9S_CONFIG)
        return {"XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache"),
                "K9S_CONFIG_DIR": str(config)}

    return Program(
        name="k9s",
        argv=lambda kubeconfig, home: [binary, "--kubeconfig", kubeconfig, "-A", "-c", "pods",
                                       "--readonly", "--logFile", str(home / "k9s.log")],
        env=env,
        pod_count=_k9s_count,
        first_rows=_k9s_first_rows,
        help_shown=lambda screen: "RESOURCE" in screen and "GENERAL" in screen,
    )


def controlroom_program() -> Program:
    return Program(
        name="controlroom",
        argv=lambda kubeconfig, home: [str(ROOT / ".venv" / "bin" / "controlroom"),
                                       "--kubeconfig", kubeconfig, "--read-only",
                                       "--state-dir", str(home / "state")],
        env=lambda home: {"XDG_CONFIG_HOME": str(home / "config"),
                          "XDG_STATE_HOME": str(home / "state"),
                          "XDG_CACHE_HOME": str(home / "cache")},
        pod_count=_cr_count,
        first_rows=_cr_first_rows,
        help_shown=lambda screen: "Keys (remap them" in screen,
        after_first_paint=["a"],
    )


class Tmux:
    """A private tmux server (its own socket, no user config), one session per program."""

    def __init__(self, home: Path) -> None:
        self.socket = f"controlroom-bench-{os.getpid()}"
        conf = home / "tmux.conf"
        conf.write_text("set -g status off\nset -g escape-time 0\nset -g exit-empty off\n")
        self.base = ["tmux", "-L", self.socket, "-f", str(conf)]

    def start(self, session: str, argv: list[str], env: dict[str, str]) -> int:
        envs = [f"{k}={v}" for k, v in env.items()]
        subprocess.run([*self.base, "new-session", "-d", "-s", session, "-x", str(WIDTH),
                        "-y", str(HEIGHT), "env", *envs, *argv], check=True)
        out = subprocess.run([*self.base, "list-panes", "-t", session, "-F", "#{pane_pid}"],
                             check=True, capture_output=True, text=True).stdout
        return int(out.split()[0])

    def screen(self, session: str) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout

    def keys(self, session: str, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", session, *keys], check=True)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def _status_kb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return float(line.split()[1])
    return 0.0


def wait_screen(tmux: Tmux, session: str, test: Callable[[str], bool],
                timeout: float) -> tuple[float | None, str]:
    """(monotonic time of the first screen passing ``test``, that screen), or (None, last)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux.screen(session)
        if test(screen):
            return time.monotonic(), screen
        time.sleep(POLL)
    return None, screen


def measure(program: Program, tmux: Tmux, kubeconfig: str, server: Server, pods: int,
            args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """One program's run: load, idle, flood with keys. Every value in seconds, MB or share."""
    result: dict[str, Any] = {"name": program.name}
    phome = home / program.name
    phome.mkdir()
    env = program.env(phome)
    busy0, server0 = machine_busy_seconds(), process_cpu_seconds(server.proc.pid)
    spawned = time.monotonic()
    pid = tmux.start(program.name, program.argv(kubeconfig, phome), env)
    session = program.name
    painted, _ = wait_screen(tmux, session, lambda s: bool(s.strip()), args.load_timeout)
    result["first_paint"] = None if painted is None else painted - spawned
    if program.after_first_paint:
        tmux.keys(session, *program.after_first_paint)
    first, _ = wait_screen(tmux, session, program.first_rows, args.load_timeout)
    result["first_rows"] = None if first is None else first - spawned
    loaded, screen = wait_screen(tmux, session, lambda s: program.pod_count(s) == pods,
                                 args.load_timeout)
    result["all_pods"] = None if loaded is None else loaded - spawned
    result["shown_count"] = program.pod_count(screen)
    wall = time.monotonic() - spawned
    cpu = process_cpu_seconds(pid)
    result["load_cpu"] = cpu
    others = (machine_busy_seconds() - busy0) - (process_cpu_seconds(server.proc.pid) - server0)
    result["others_share"] = max(0.0, others - cpu) / wall
    result["rss_loaded"] = _status_kb(pid, "VmRSS") / 1024
    if loaded is None:
        (home / f"{program.name}.screen.txt").write_text(screen)
        print(f"  {program.name}: all {pods} pods not shown within {args.load_timeout:g} s "
              f"(last count {result['shown_count']}; screen in {home})", flush=True)
    time.sleep(args.settle)
    cpu0 = process_cpu_seconds(pid)
    time.sleep(args.idle_seconds)
    result["idle_share"] = (process_cpu_seconds(pid) - cpu0) / args.idle_seconds
    # Under a flood: help open / close, timed from the key to the screen showing it.
    opens: list[float] = []
    closes: list[float] = []
    os.kill(server.proc.pid, signal.SIGUSR1)
    flood_started = time.monotonic()
    time.sleep(1.0)
    cpu0 = process_cpu_seconds(pid)
    for _ in range(args.keys):
        sent = time.monotonic()
        tmux.keys(session, "?")
        shown, _ = wait_screen(tmux, session, program.help_shown, 10.0)
        if shown is None:
            break
        opens.append(shown - sent)
        time.sleep(0.2)
        sent = time.monotonic()
        tmux.keys(session, "Escape")
        gone, _ = wait_screen(tmux, session, lambda s: not program.help_shown(s), 10.0)
        if gone is None:
            break
        closes.append(gone - sent)
        time.sleep(0.2)
        if time.monotonic() - flood_started > args.flood_seconds - 0.5:
            break
    keys_window = time.monotonic() - flood_started - 1.0
    result["flood_share"] = (process_cpu_seconds(pid) - cpu0) / max(keys_window, 1e-3)
    result["key_open"] = opens
    result["key_close"] = closes
    result["rss_peak"] = _status_kb(pid, "VmHWM") / 1024
    try:
        line = server.wait_for("flood: ", timeout=5)
        while line == "started":
            line = server.wait_for("flood: ", timeout=args.flood_seconds + 30)
    except (TimeoutError, RuntimeError):
        line = "?"
    result["flood_line"] = line
    subprocess.run([*tmux.base, "kill-session", "-t", session], capture_output=True)
    return result


def measure_startup(program: Program, tmux: Tmux, kubeconfig: str, runs: int,
                    timeout: float, home: Path) -> list[tuple[float | None, float | None]]:
    """``runs`` spawns of one program, each to its first rows and killed: (first paint, rows).

    Why: spawn -> first rows is a fraction of a second, so one run says more about a busy
    neighbour than about the program; several, with the median, say more (``--startup-runs``).
    """
    times: list[tuple[float | None, float | None]] = []
    for i in range(runs):
        phome = home / f"{program.name}-startup-{i}"
        phome.mkdir()
        session = f"{program.name}-startup-{i}"
        spawned = time.monotonic()
        pid = tmux.start(session, program.argv(kubeconfig, phome), program.env(phome))
        painted, _ = wait_screen(tmux, session, lambda s: bool(s.strip()), timeout)
        first, _ = wait_screen(tmux, session, program.first_rows, timeout)
        times.append((None if painted is None else painted - spawned,
                      None if first is None else first - spawned))
        print(f"  {program.name} start {i + 1}: first paint {_fmt(times[-1][0])} s, first rows "
              f"{_fmt(times[-1][1])} s", flush=True)
        subprocess.run([*tmux.base, "kill-session", "-t", session], capture_output=True)
        _wait_gone(pid)  # a start still loading would steal the next one's CPU
    return times


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait until process ``pid`` has exited; SIGKILL it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    killed = False
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline + 5.0:
        if time.monotonic() > deadline and not killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.02)


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def _ratio(cr: float | None, k9s: float | None) -> str:
    if cr is None or not k9s:
        return "-"
    return f"{cr / k9s:.3f}"


def report(bulk: tuple[int, int, int], pods: int, kubectl: dict[str, Any] | None,
           results: dict[str, dict[str, Any]], rate: float) -> None:
    k9s = results.get("k9s", {})
    cr = results["controlroom"]
    k_s = kubectl["seconds"] if kubectl else None
    rows: list[tuple[str, ...]] = []

    def row(metric: str, key: str, scale: float = 1.0, digits: int = 2, target: str = "",
            met: Callable[[float], bool] | None = None) -> None:
        a, b = k9s.get(key), cr.get(key)
        ok = "" if met is None or b is None else ("yes" if met(b) else "NO")
        rows.append((metric, _fmt(a, scale, digits), _fmt(b, scale, digits),
                     _ratio(b, a), target, ok))

    def key_row(metric: str, key: str, q: float) -> None:
        a, b = _q(k9s.get(key, []), q), _q(cr.get(key, []), q)
        ok = "" if b is None or a is None else ("yes" if b < a else "NO")
        rows.append((metric, _fmt(a, 1000, 0), _fmt(b, 1000, 0), _ratio(b, a),
                     "faster than k9s", ok))

    nodes, _, deployments = bulk
    row("spawn -> first paint (s)", "first_paint")
    row("spawn -> first rows on screen (s)", "first_rows", target="< 0.6 s",
        met=lambda v: v < 0.6)
    row(f"spawn -> all {pods} pods on screen (s)", "all_pods", target="faster than k9s",
        met=lambda v: k9s.get("all_pods") is None or v < k9s["all_pods"])
    if k_s:
        rows.append(("  kubectl get pods -A -o json (s)", f"{k_s:.2f}", f"{k_s:.2f}", "", "", ""))
        for name, res in (("k9s", k9s), ("controlroom", cr)):
            value = res.get("all_pods")
            if value is not None:
                met = "yes" if value <= 0.05 * k_s else "NO"
                rows.append((f"  {name} / kubectl", "", "", f"{value / k_s:.2f}",
                             "cr <= 0.05x" if name == "controlroom" else "",
                             met if name == "controlroom" else ""))
    row("  count on screen when done", "shown_count", digits=0)
    row("  CPU time to load (s)", "load_cpu")
    limit = 250 if bulk[1] <= 30_000 else 1024  # the sizes: 30,000 and 150,000
    row("peak RSS (MB)", "rss_peak", digits=0, target=f"< {limit} MB, smaller than k9s",
        met=lambda v: v < limit and (k9s.get("rss_peak") is None or v < k9s["rss_peak"]))
    row("  RSS once loaded (MB)", "rss_loaded", digits=0)
    row("idle CPU, % of a core", "idle_share", scale=100, digits=1, target="less than k9s",
        met=lambda v: k9s.get("idle_share") is None or v < k9s["idle_share"])
    rows.append((f"under {rate:g} pod events/s:", "", "", "", "", ""))
    key_row("  key -> paint, help open p50 (ms)", "key_open", 0.5)
    key_row("  key -> paint, help open p95 (ms)", "key_open", 0.95)
    key_row("  key -> paint, help open max (ms)", "key_open", 1.0)
    key_row("  key -> paint, help close p50 (ms)", "key_close", 0.5)
    key_row("  key -> paint, help close p95 (ms)", "key_close", 0.95)
    key_row("  key -> paint, help close max (ms)", "key_close", 1.0)
    rows.append(("  keys timed (open / close)",
                 f"{len(k9s.get('key_open', []))} / {len(k9s.get('key_close', []))}",
                 f"{len(cr['key_open'])} / {len(cr['key_close'])}", "", "", ""))
    row("  CPU while flooded, % of a core", "flood_share", scale=100, digits=0)
    rows.append(("  server", k9s.get("flood_line", "-"), cr["flood_line"], "", "", ""))
    row("other processes' CPU while loading, % of a core", "others_share", scale=100, digits=0)
    header = ("metric", "k9s", "controlroom", "cr/k9s", "target", "met")
    widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(6)]
    print(f"\nbench_k9s ({nodes} nodes, {pods} pods (seed included), {deployments} deployments; "
          f"{WIDTH}x{HEIGHT} tmux)")
    line = "  ".join(h.ljust(w) if i in (0, 4) else h.rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) if i in (0, 4) else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    if not k9s:
        print("\nk9s was not measured (not built: `make k9s` builds it, many minutes once).")


PACKAGES = ("backends", "cli", "controlroom", "drill", "themes", "tui", "widgets")


def compile_bytecode() -> None:
    """Compile the control room's own modules to ``__pycache__`` before any spawn is timed.

    Why: an installed control room starts from bytecode (pip compiles it at install time, and
    an editable install writes it on its first run), but a shell with
    ``PYTHONDONTWRITEBYTECODE=1`` (as on the project's machines) never writes it for the
    checkout, so every spawn compiled about 180 modules from source again: ~0.15-0.4 s of the
    time to first rows that no user sees. Third-party packages in the venv were compiled by
    pip already. ``--no-compile`` keeps the old behaviour.
    """
    import compileall

    for package in PACKAGES:
        compileall.compile_dir(str(ROOT / package), quiet=1)


def find_k9s(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-k9s.sh"), "--check"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulk", default="1000,30000,3000", metavar="NODES,PODS,DEPLOYMENTS")
    ap.add_argument("--flood-rate", type=float, default=1000.0, help="pod events per second")
    ap.add_argument("--flood-seconds", type=float, default=20.0)
    ap.add_argument("--keys", type=int, default=10, help="help open/close pairs under flood")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds between loaded and the idle window")
    ap.add_argument("--load-timeout", type=float, default=300.0)
    ap.add_argument("--k9s", default=None, help="k9s binary (default: the cached build)")
    ap.add_argument("--skip-k9s", action="store_true")
    ap.add_argument("--skip-kubectl", action="store_true")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not compile the control room's bytecode first (see compile_bytecode)")
    ap.add_argument("--startup-runs", type=int, default=0, metavar="N",
                    help="only spawn each program N times to its first rows (median, min)")
    args = ap.parse_args()
    # A terminated run still stops its tmux server and drill server (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n, p, d = (int(x) for x in args.bulk.split(","))
    bulk = (n, p, d)
    if shutil.which("tmux") is None:
        print("bench_k9s: tmux is not installed", file=sys.stderr)
        return 1
    programs = [controlroom_program()]
    if not args.no_compile:
        compile_bytecode()
    k9s_binary = None if args.skip_k9s else find_k9s(args.k9s)
    if k9s_binary:
        programs.insert(0, k9s_program(k9s_binary))
    elif not args.skip_k9s:
        print("bench_k9s: k9s is not built (make k9s); measuring the control room alone")
    print(f"bench_k9s: --bulk {args.bulk}, flood {args.flood_rate:g}/s", flush=True)
    started = time.perf_counter()
    server = Server(bulk, args.flood_rate, args.flood_seconds)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-k9s-") as tmp:
        home = Path(tmp)
        tmux = Tmux(home)
        try:
            kubeconfig = server.wait_for("kubeconfig: ", timeout=1800)
            url = server.wait_for("api: ", timeout=60)
            print(f"  drill server ready in {time.perf_counter() - started:.1f} s", flush=True)
            expect = expected_counts(url)
            kubectl = None
            if not (args.skip_kubectl or args.startup_runs) and shutil.which("kubectl"):
                kubectl = run_kubectl(kubeconfig)
                print(f"  kubectl: {kubectl['seconds']:.2f} s, {kubectl['pods']} pods", flush=True)
            if args.startup_runs:
                for program in programs:
                    times = measure_startup(program, tmux, kubeconfig, args.startup_runs,
                                            args.load_timeout, home)
                    for label, index in (("first paint", 0), ("first rows", 1)):
                        values = [t[index] for t in times if t[index] is not None]
                        print(f"  {program.name} spawn -> {label}: median "
                              f"{_fmt(_q(values, 0.5))} s, min {_fmt(min(values, default=None))}"
                              f" s, max {_fmt(max(values, default=None))} s ({len(values)} of "
                              f"{len(times)} runs)", flush=True)
                programs = []
            for program in programs:
                res = measure(program, tmux, kubeconfig, server, expect["pods"], args, home)
                results[program.name] = res
                print(f"  {program.name}: all pods {_fmt(res['all_pods'])} s, peak RSS "
                      f"{res['rss_peak']:.0f} MB, idle {res['idle_share'] * 100:.1f}%, "
                      f"help open p50 {_fmt(_q(res['key_open'], 0.5), 1000, 0)} ms, close p50 "
                      f"{_fmt(_q(res['key_close'], 0.5), 1000, 0)} ms", flush=True)
        finally:
            tmux.kill()
            server.stop()
    if results:
        report(bulk, expect["pods"], kubectl, results, args.flood_rate)
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The logs screen, driven with Pilot on the drill: ``l`` on a pod or a Deployment, follow,
``p`` for the crash's last words with the exit reason, search highlights, a bounded ring,
untrusted text shown literally, and a broken or forbidden read said as such.

Each drill runs on a manual clock: new log lines appear when a test advances scenario time,
and the tests wait for them on screen (``pilot_until``), never on the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style

from backends.kube.logs import parse_lines
from drill.logs import instance, lines
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import START
from tests.test_app import _select, make_app, panel
from tests.test_app_actions import notes
from tests.test_drill_logs import advance_until, container_status, crashed_pod
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp
from tui.logs_screen import LogsScreen
from widgets.logview import LogView
from widgets.panels import AppsPanel, PodsPanel, WorkloadsPanel

PODS = BY_KEY["pods"]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clusters: list[DrillCluster] = []

    async def build(scenario: str = "calm", policy: Policy | None = None) -> DrillCluster:
        cluster = DrillCluster(DrillOptions(
            kubeconfig=tmp_path / f"{scenario}-{len(clusters)}.kubeconfig", scenario=scenario,
            manual_clock=True, bookmark_interval=0.2, start=START, policy=policy or Policy()))
        await cluster.start()
        clusters.append(cluster)
        return cluster

    try:
        yield build
    finally:
        for cluster in clusters:
            await cluster.stop()


def first_pod(c: DrillCluster, ns: str, prefix: str = "") -> str:
    return sorted(p["metadata"]["name"] for p in c.state.objects(PODS, ns)
                  if p["metadata"]["name"].startswith(prefix))[0]


async def open_pod_logs(pilot: Any, app: ControlRoomApp, key: str) -> LogsScreen:
    """Select ``key`` in the pods panel (all pods shown) and press ``l``."""
    await until(pilot, lambda: app.session is not None, "the session")
    pods = panel(app, PodsPanel)
    if not pods.show_all:
        pods.toggle_all()
    app.refresh_tick()
    await _select(pilot, app, PodsPanel, key)
    await pilot.press("l")
    return await until(pilot, lambda: app.screen if isinstance(app.screen, LogsScreen)
                       else None, "the logs screen")


def drill_texts(c: DrillCluster, ns: str, name: str, container: str, tail: int) -> list[str]:
    """What the drill's container wrote last (the same sanitizing as the screen's)."""
    pod = c.state.get(PODS, ns, name)
    found = lines(pod, instance(pod, container, False), c.config, c.clock.now(), tail=tail)
    return [line.text for line in parse_lines(text.encode() for _, text in found)]


def held(screen: LogsScreen) -> list[str]:
    return [line.text for _, line in screen.buffer.lines()]


def rows(screen: LogsScreen) -> list[str]:
    return [row.rstrip() for row in screen.view.rendered_rows() if row.strip()]


async def test_l_on_a_pod_follows_its_log_and_new_lines_appear(make: Any) -> None:
    c = await make()
    name = first_pod(c, "catalog")
    app = make_app(c)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_pod_logs(pilot, app, f"catalog/{name}")
        await until(pilot, lambda: screen.state.startswith("following since")
                    and len(screen.buffer) == 500, "500 lines (the default tail), following")
        assert held(screen)[-3:] == drill_texts(c, "catalog", name, "catalog", 3)
        # the view keeps to the newest line (cut at the right edge: wrap is off)
        assert held(screen)[-1].startswith(rows(screen)[-1]) and len(rows(screen)[-1]) > 80
        before = rows(screen)[-1]
        c.sim.advance(10)  # the container writes two more request lines
        await until(pilot, lambda: screen.buffer.total == 502, "the two new lines")
        await until(pilot, lambda: rows(screen)[-1] != before and drill_texts(
            c, "catalog", name, "catalog", 1)[0].startswith(rows(screen)[-1]),
                    "the newest line at the bottom of the view")
        assert "catalog: running" in str(screen.query_one("#logs-container").render())
        newest = held(screen)[-1]
        assert len(newest) > screen.view.size.width  # cut at the edge while wrap is off
        await pilot.press("w")
        await until(pilot, lambda: "".join(rows(screen)[-2:]) == newest,
                    "the newest line wrapped over the last two rows")
        await pilot.press("f")  # follow off: one read, and it says so
        await until(pilot, lambda: "not following" in screen.state, "follow off")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogsScreen), "back")


@pytest.mark.parametrize(("scenario", "deployment", "image", "reason", "words"), [
    ("bad-rollout", "checkout/checkout-stable", "checkout:1.5.0", "Error (exit code 1)",
     "checkout.settings.SettingMissing: required setting TAX_SERVICE_URL is not set"),
    ("oom", "ai-ml/mlflow", "mlflow:v3.4.0", "OOMKilled (exit code 137)",
     'msg="model loaded into cache" model=recommender-v10'),
])
async def test_l_on_a_deployment_then_p_shows_the_crash_with_its_exit_reason(
        make: Any, scenario: str, deployment: str, image: str, reason: str,
        words: str) -> None:
    c = await make(scenario)
    ns = deployment.split("/")[0]
    crashed = advance_until(c, lambda: crashed_pod(c, ns, image, restarts=2),
                            "a pod that crashed twice")
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.session is not None, "the session")
        await _select(pilot, app, WorkloadsPanel, deployment)
        await pilot.press("l")
        screen = await until(pilot, lambda: app.screen if isinstance(app.screen, LogsScreen)
                             else None, "the logs screen")
        failing = [p for p in c.state.objects(PODS, ns)
                   if container_status(p).get("image", "").endswith(image)
                   and container_status(p).get("restartCount", 0) >= 1]
        newest = max(failing, key=lambda p: (p["metadata"]["creationTimestamp"],
                                             p["metadata"]["name"]))
        assert crashed in failing
        assert screen.pod_key == f"{ns}/{newest['metadata']['name']}"  # the newest failing
        header = str(screen.query_one("#logs-container").render())
        assert f"last: {reason}" in header and "restarts 0" not in header
        await pilot.press("p")
        await until(pilot, lambda: screen.state.startswith("previous instance"),
                    "the previous instance's log")
        assert f"it ended {reason} at " in screen.state
        assert words in "\n".join(held(screen))
        assert words in "\n".join(rows(screen))


async def test_search_highlights_every_match_and_n_moves_between_lines(make: Any) -> None:
    c = await make("bad-rollout")
    crashed = advance_until(c, lambda: crashed_pod(c, "checkout", "checkout:1.5.0"),
                            "a crashed pod")
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_pod_logs(pilot, app, f"checkout/{crashed['metadata']['name']}")
        await until(pilot, lambda: "Traceback" in "\n".join(held(screen)), "the traceback")
        await pilot.press("slash", *"file")
        await until(pilot, lambda: screen.view.search == "file", "the search text")
        title = str(screen.query_one("#logs-title").render())
        assert "search 'file': 4 lines" in title  # settings file=..., three File "..." lines
        view = screen.query_one(LogView)
        match = view.get_component_rich_style("logview--match", partial=True)
        assert highlighted(view, "file", match) == 4  # every match on screen, any case
        await pilot.press("enter")  # jump to the first matching line and close the box
        first = await until(pilot, lambda: view.current_match, "a current match")
        assert 'msg="settings loaded" file=/etc/checkout/' in screen.buffer.line(first).text
        current = view.get_component_rich_style("logview--current", partial=True)
        assert highlighted(view, "file", current) == 1
        assert highlighted(view, "file", match) == 3
        await pilot.press("n")
        second = view.current_match
        assert second is not None and second > first
        assert 'File "/app/checkout/main.py"' in screen.buffer.line(second).text
        await pilot.press("N")
        assert view.current_match == first


def highlighted(view: LogView, word: str, style: Style) -> int:
    """Segments on screen showing ``word`` (any case) with ``style``'s background."""
    count = 0
    for y in range(view.size.height):
        for segment in view.render_line(y):
            seg_style = segment.style
            if segment.text.lower() == word.lower() and seg_style is not None and \
                    seg_style.bgcolor == style.bgcolor:
                count += 1
    return count


async def test_the_ring_bounds_what_is_held(make: Any) -> None:
    c = await make()
    name = first_pod(c, "catalog")
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.session is not None and app.session.conn is not None,
                    "the session")
        assert app.session is not None and app.session.conn is not None
        screen = LogsScreen(app.session.conn, app.store, f"catalog/{name}", ring=50)
        app.push_screen(screen)
        await until(pilot, lambda: screen.buffer.total == 500, "the 500 tail lines read")
        assert len(screen.buffer) == 50 and screen.buffer.dropped == 450
        assert held(screen) == drill_texts(c, "catalog", name, "catalog", 50)
        assert "50 lines held (ring 50), 450 older dropped" in str(
            screen.query_one("#logs-title").render())
        for _ in range(3):  # following: more lines come, the ring stays at 50
            c.sim.advance(30)
            total = screen.buffer.total
            await until(pilot, lambda t=total: screen.buffer.total == t + 6, "six more lines")
            assert len(screen.buffer) == 50
        assert held(screen) == drill_texts(c, "catalog", name, "catalog", 50)
        assert rows(screen)[-1] == held(screen)[-1]


async def test_untrusted_log_text_is_shown_literally(make: Any) -> None:
    c = await make()
    c.sim.advance(600)
    name = first_pod(c, "frontend", "web")
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_pod_logs(pilot, app, f"frontend/{name}")
        await until(pilot, lambda: len(screen.buffer) == 500, "the tail")
        await pilot.press("slash", *"pwned", "enter")
        view = screen.query_one(LogView)
        await until(pilot, lambda: view.current_match is not None, "a hostile line")
        shown = rows(screen)
        hostile = [row for row in shown if "pwned" in row]
        # markup stays text; the OSC 52 clipboard write and the screen clear are gone
        assert hostile and set(hostile) == {'warn: blocked bot user-agent="[bold red]pwned[/] "'}
        assert any(row.startswith("info: GET /") for row in shown)  # colours gone, text kept
        assert not any("\x1b" in row or "\x07" in row or "[32m" in row for row in shown)
        await pilot.press("T")  # timestamps on: still literal, stamp first
        await until(pilot, lambda: rows(screen)[0][:2] == "20", "timestamps shown")


async def test_a_broken_stream_says_so_with_since_when(make: Any) -> None:
    c = await make()
    pod = c.state.get(PODS, "catalog", first_pod(c, "catalog"))
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_pod_logs(pilot, app, f"catalog/{pod['metadata']['name']}")
        await until(pilot, lambda: screen.state.startswith("following since"), "following")
        c.config.down_nodes.add(pod["spec"]["nodeName"])  # its kubelet dies mid-stream
        broken = await until(pilot, lambda: screen.state if screen.state.startswith(
            "stream broken since ") else None, "the break on screen")
        assert broken.endswith("; retrying")
        since = broken.split()[3].rstrip(":")
        assert len(since) == 8 and since.count(":") == 2  # HH:MM:SS
        await until(pilot, lambda: "500" in screen.state and "no route to host" in
                    screen.state, "a failed reconnect, still broken since the same moment")
        assert screen.state.split()[3].rstrip(":") == since
        before = screen.buffer.total
        c.sim.advance(10)
        c.config.down_nodes.discard(pod["spec"]["nodeName"])
        await until(pilot, lambda: screen.state.startswith("following since")
                    and screen.buffer.total == before + 2, "following again, nothing lost")


async def test_a_forbidden_log_read_says_forbidden(make: Any) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["get"], "resources": ["pods/log"],
                                          "allow": False}]})
    c = await make(policy=policy)
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_pod_logs(pilot, app, f"catalog/{first_pod(c, 'catalog')}")
        await until(pilot, lambda: screen.state.startswith("forbidden: "), "forbidden")
        assert 'cannot get resource "pods/log"' in screen.state
        assert screen.state.endswith("not following") and len(screen.buffer) == 0


async def test_l_elsewhere_says_what_it_needs(make: Any) -> None:
    c = await make()
    app = make_app(c)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.session is not None, "the session")
        await _select(pilot, app, AppsPanel, "argocd/checkout")
        await pilot.press("l")
        await until(pilot, lambda: "logs: select a pod or a Deployment" in notes(app),
                    "the hint")
        assert not isinstance(app.screen, LogsScreen)
        await _select(pilot, app, WorkloadsPanel, "catalog/catalog")
        await pilot.press("l")  # nothing fails there: its newest pod, and it says so
        screen = await until(pilot, lambda: app.screen if isinstance(app.screen, LogsScreen)
                             else None, "the logs screen")
        assert screen.pod_key.startswith("catalog/catalog-")
        assert "no failing pod in catalog/catalog: showing its newest pod" in notes(app)

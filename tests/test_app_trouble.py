"""What is broken, in one line (issue 15, point 3): the trouble line under the header on the
bad-rollout drill, its jumps (click and ``n``), and that it is never calm when unsure."""

from __future__ import annotations

import time

from backends.model import NodeRow
from backends.store import Store
from drill.runner import DrillCluster
from tests.test_app import make_app, panel
from tests.waiting import pilot_until as until
from widgets.panels import AppsPanel, PodsPanel
from widgets.trouble import summarise
from widgets.trouble_line import line_of


async def test_bad_rollout_is_one_line_and_each_part_jumps(rollout: DrillCluster) -> None:
    app = make_app(rollout)
    async with app.run_test(size=(200, 50)) as pilot:
        line = app.trouble.line
        await until(pilot, lambda: app.store.count("pods") and "all clear" in line.plain,
                    "the calm line once every source delivers")
        rollout.sim.advance(150)  # the bad image is synced and crash-loops
        await until(pilot, lambda: "checkout:" in line.plain and "CrashLoopBackOff" in line.plain
                    and "app Degraded" in line.plain, "the bad rollout on the trouble line")
        assert "all clear" not in line.plain
        first = line.summary.parts[0]
        assert first.area == "checkout" and first.panel == "pods"
        # n: the worst part's row, in its panel, with the cursor on it
        await pilot.press("n")
        pods = panel(app, PodsPanel)
        await until(pilot, lambda: app.focused_panel() is pods
                    and pods.selected_row == first.row, "n to select the crash-looping pod")
        # a click on the app part selects the checkout app's row
        index = next(i for i, p in enumerate(line.summary.parts) if p.text == "app Degraded")
        start = next(s for s, _, i in line._spans if i == index)  # noqa: SLF001
        await pilot.click(line, offset=(start + 1 + 2, 0))
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: app.focused_panel() is apps
                    and apps.selected_row == ("applications", "argocd/checkout"),
                    "a click on 'app Degraded' to select the checkout app")


def test_never_calm_when_a_source_does_not_deliver() -> None:
    store = Store()
    now = time.time()
    assert "waiting" in summarise(store, now).parts[0].text
    store.set_health("pods", "connected", now=now)
    store.set_health("nodes", "connected", now=now)
    assert summarise(store, now).calm
    store.set_health("pods", "error", "api server unreachable", now=now)
    summary = summarise(store, now)
    assert not summary.calm
    assert summary.unknown[0].text.startswith("pods unreadable since ")
    assert summary.unknown[0].panel == "pods"
    store.set_health("pods", "connected", now=now)
    store.set_health("prometheus", "stale", "unreachable", now=now)
    summary = summarise(store, now)
    assert not summary.calm and "prometheus stale since" in summary.unknown[0].text
    assert "(alerts unknown)" in summary.unknown[0].text


def test_cluster_words_are_shown_literally() -> None:
    """A node's name is cluster text: it is drawn as is, never as markup or an action."""
    store = Store()
    now = time.time()
    store.set_health("nodes", "connected", now=now)
    hostile = "[@click=app.quit]n1[/]"
    store.apply("nodes", [("ADDED", NodeRow(key=hostile, name=hostile, ready="False"))])
    summary = summarise(store, now)
    content, spans = line_of(summary)
    assert f"node {hostile} NotReady" in content.plain
    assert summary.parts[0].row == ("nodes", hostile)
    assert all("click" not in str(span.style) for span in content.spans)
    start, end, index = spans[0]
    assert content.plain[start:end] == summary.parts[index].text

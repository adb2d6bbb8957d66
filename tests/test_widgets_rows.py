"""Row factories and a store feeder shared by the widget tests, plus tests of the pure parts
(cell formatting and the VirtualTable's row model) that need no running App."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from backends.kube.decode import decode_list
from backends.model import (
    AppRow,
    BackendRef,
    Condition,
    DeploymentRow,
    EventRow,
    GatewayRow,
    Listener,
    NodeMetricsRow,
    NodeRow,
    ParentRef,
    PodRow,
    RouteParent,
    RouteRow,
    RouteRule,
    Row,
)
from backends.store import Store
from widgets.formatting import age, percent, short_image, short_revision, weights
from widgets.messages import PanelRowActivated, PanelRowHighlighted
from widgets.rowmodel import Column, RowModel

NOW = 1_800_000_000.0
HOSTILE = ("[bold red]x", "[@click=app.quit]y", "[link=http://e]z")


# ---------------------------------------------------------------- factories


def node(name: str, *, ready: str = "True", pool: str = "user", created: float = NOW - 86400,
         **kw: Any) -> NodeRow:
    return NodeRow(key=name, name=name, pool=pool, ready=ready, created=created,
                   cpu_allocatable_m=kw.pop("cpu", 4000.0),
                   memory_allocatable=kw.pop("memory", 16 << 30), kubelet_version="v1.30.4",
                   **kw)


def node_metrics(name: str, cpu_m: float, memory: int) -> NodeMetricsRow:
    return NodeMetricsRow(key=name, name=name, cpu_m=cpu_m, memory=memory)


def pod(name: str, *, namespace: str = "shop", status: str = "Running", ready: int = 1,
        total: int = 1, restarts: int = 0, phase: str | None = None, problem: bool | None = None,
        created: float = NOW - 600, uid: str | None = None, node: str = "aks-user-000",
        **kw: Any) -> PodRow:
    if phase is None:
        phase = "Pending" if status in ("Pending", "ContainerCreating", "ImagePullBackOff") \
            else "Running"
    if problem is None:
        problem = (status == "Running" and ready < total) or status not in (
            "Running", "Pending", "ContainerCreating", "Completed", "Terminating")
    return PodRow(key=f"{namespace}/{name}", namespace=namespace, name=name,
                  uid=uid or f"uid-{namespace}-{name}", phase=phase, status=status,
                  ready_containers=ready, total_containers=total, restarts=restarts,
                  problem=problem, created=created, node=node, **kw)


def deployment(name: str, *, namespace: str = "shop", desired: int = 3, ready: int = 3,
               updated: int = 3, available: int = 3, **kw: Any) -> DeploymentRow:
    return DeploymentRow(key=f"{namespace}/{name}", namespace=namespace, name=name,
                         desired=desired, ready=ready, updated=updated, available=available,
                         current=kw.pop("current", desired), generation=2, observed_generation=2,
                         images=(f"acr.io/shop/{name}:1.0",), created=NOW - 3600, **kw)


def event(name: str, *, type_: str = "Warning", reason: str = "BackOff", message: str = "m",
          last_seen: float = NOW - 60, obj: str = "checkout-1", kind: str = "Pod",
          namespace: str = "shop", count: int = 1) -> EventRow:
    return EventRow(key=f"{namespace}/{name}", namespace=namespace, name=name, type=type_,
                    reason=reason, message=message, object_kind=kind, object_name=obj,
                    object_namespace=namespace, count=count, last_seen=last_seen,
                    created=last_seen)


def app_row(name: str, *, sync: str = "Synced", health: str = "Healthy", auto: str = "on",
            **kw: Any) -> AppRow:
    return AppRow(key=f"argocd/{name}", namespace="argocd", name=name, sync_status=sync,
                  health_status=health, auto_sync=auto,  # type: ignore[arg-type]
                  revision=kw.pop("revision", "a" * 40), created=NOW - 86400, **kw)


def ok(type_: str) -> Condition:
    return Condition(type=type_, status="True", reason=type_)


def gateway(name: str, *, namespace: str = "shop", conditions: tuple[Condition, ...] | None = None,
            addresses: tuple[str, ...] = ("10.0.0.1",), attached: int = 2) -> GatewayRow:
    return GatewayRow(
        key=f"{namespace}/{name}", namespace=namespace, name=name, generation=1,
        addresses=addresses,
        conditions=conditions if conditions is not None else (ok("Accepted"), ok("Programmed")),
        listeners=(Listener(name="https", port=443, protocol="HTTPS", attached_routes=attached,
                            conditions=(ok("Accepted"), ok("ResolvedRefs"))),),
        created=NOW - 7200)


def route(name: str, *, namespace: str = "shop", resolved: bool = True,
          backends: Iterable[tuple[str, int]] = (("checkout-stable", 90),
                                                  ("checkout-canary", 10))) -> RouteRow:
    ref = ParentRef(namespace=namespace, name="web")
    refs = Condition(type="ResolvedRefs", status="True" if resolved else "False",
                     reason="ResolvedRefs" if resolved else "BackendNotFound")
    return RouteRow(
        key=f"{namespace}/{name}", namespace=namespace, name=name, generation=1,
        parent_refs=(ref,),
        parents=(RouteParent(ref=ref, controller="alb", conditions=(ok("Accepted"), refs)),),
        rules=(RouteRule(backends=tuple(BackendRef(name=n, namespace=namespace, weight=w)
                                        for n, w in backends)),),
        created=NOW - 7200)


def pods_from_json(*items: dict[str, Any]) -> list[Row]:
    """Pods through the real decoder (sanitizing, kubectl STATUS)."""
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
            "items": list(items)}
    return decode_list("pods", json.dumps(body).encode()).rows


# ---------------------------------------------------------------- harness


class Feed:
    """A real Store and the App's hand-over: ``changes_since`` then ``refresh_from``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.store = Store(clock=lambda: self.now)
        self.seen = 0

    def add(self, kind: str, *rows: Row) -> Feed:
        self.store.apply(kind, [("ADDED", row) for row in rows])
        return self

    def delete(self, kind: str, *rows: Row) -> Feed:
        self.store.apply(kind, [("DELETED", row) for row in rows])
        return self

    def tick(self, *panels: Any) -> None:
        changes = self.store.changes_since(self.seen)
        self.seen = changes.version
        touched = set(changes.upserted) | set(changes.removed)
        for panel in panels:
            if changes.full or touched.intersection(panel.KINDS):
                panel.refresh_from(self.store, changes, self.now)


class PanelApp(App[None]):
    """A tiny App that mounts the given widgets and records the panels' messages."""

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets
        self.activated: list[tuple[str, str]] = []
        self.highlighted: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_panel_row_activated(self, event: PanelRowActivated) -> None:
        self.activated.append((event.kind, event.key))

    def on_panel_row_highlighted(self, event: PanelRowHighlighted) -> None:
        self.highlighted.append((event.kind, event.key))


# ---------------------------------------------------------------- formatting


def test_age_is_kubectl_like_and_coarse() -> None:
    assert age(NOW - 42, NOW) == "42s"
    assert age(NOW - 600, NOW) == "10m"
    assert age(NOW - 5 * 3600, NOW) == "5h"
    assert age(NOW - 3 * 86400, NOW) == "3d"
    assert age(0.0, NOW) == "?"
    assert age(NOW + 30, NOW) == "skew"  # a future time is said as such (issue 13), not "0s"


def test_small_formatters() -> None:
    assert percent(1000, 4000) == "25%"
    assert percent(1, 0) == "?"
    assert short_revision("0123456789abcdef0123456789abcdef01234567") == "0123456"
    assert short_revision("v1.2.3") == "v1.2.3"
    assert short_image("myacr.azurecr.io/shop/checkout:1.4.2") == "checkout:1.4.2"
    assert short_image("nginx@sha256:" + "f" * 64) == "nginx@sha256:" + "f" * 12
    backends = (BackendRef(name="a", namespace="shop", weight=90),
                BackendRef(name="b", namespace="other", weight=10))
    assert weights(backends, "shop") == "a:90 other/b:10"


# ---------------------------------------------------------------- row model


def test_row_model_keeps_a_sorted_filtered_order_under_random_changes() -> None:
    rng = random.Random(5)
    for _ in range(200):
        model = RowModel(["name"])
        truth: dict[str, tuple[int]] = {}
        for _step in range(rng.randint(1, 6)):
            for _change in range(rng.randint(0, 80)):
                key = f"k{rng.randint(0, 90)}"
                if rng.random() < 0.25:
                    model.remove(key)
                    truth.pop(key, None)
                else:
                    sort_key = (rng.randint(0, 5),)
                    model.upsert(key, (key,), sort_key)
                    truth[key] = sort_key
            if rng.random() < 0.3:
                model.set_filter(rng.choice(["", "1", "K2"]))
            model.commit()
            wanted = model.filter_text
            expected = [k for _, k in sorted((s, k) for k, s in truth.items()) if wanted in k]
            assert model.keys() == expected


def test_row_model_grows_widths_lazily_and_never_remeasures_unchanged_rows() -> None:
    model = RowModel([Column("NAME"), Column("S", width=4), Column("MSG", max_width=10)])
    assert model.widths == [4, 4, 3]
    model.upsert("a", ("abcdefgh", "CrashLoopBackOff", "x" * 50), (0,))
    model.commit()
    assert model.widths == [8, 4, 10]  # fixed stays, capped at max_width
    model.upsert("b", ("ab", "x", "y"), (1,))
    model.commit()
    assert model.widths == [8, 4, 10]  # never shrinks
    model.upsert("c", ("日本語の名前", "", ""), (2,))
    model.commit()
    assert model.widths[0] == 12  # wide characters count two cells
    model.clear()
    assert model.widths == [4, 4, 3]


def test_row_model_identical_upsert_is_a_no_op() -> None:
    model = RowModel(["a"])
    assert model.upsert("k", ("v",), (1,))
    model.commit()
    version = model.version("k")
    assert not model.upsert("k", ("v",), (1,))
    assert not model.pending
    assert model.version("k") == version
    assert model.update_cell("k", 0, "w")
    model.commit()
    assert model.cells("k") == ("w",) and model.version("k") == version + 1


def test_pods_decoded_from_json_keep_markup_like_names_as_text() -> None:
    rows = pods_from_json({
        "metadata": {"name": "[@click=app.quit]y", "namespace": "shop", "uid": "u1",
                     "creationTimestamp": "2026-11-26T15:00:00Z"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "ready": False, "restartCount": 3, "image": "x", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "[bold]boom"}}}]},
    })
    assert isinstance(rows[0], PodRow)
    assert rows[0].name == "[@click=app.quit]y" and rows[0].status == "CrashLoopBackOff"


# ---------------------------------------------------------------- rank_key

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from backends.sanitize import clean  # noqa: E402
from widgets.formatting import rank_key  # noqa: E402

_clean_text = st.text(max_size=12).map(clean)


@given(st.lists(st.tuples(st.integers(0, 999), _clean_text, _clean_text), min_size=2,
                max_size=30))
def test_rank_key_orders_like_the_tuple(keys: list[tuple[int, str, str]]) -> None:
    """The one-string sort key of the big tables must order rows exactly as
    ``(rank, namespace, name)`` did, including a name that is a prefix of another."""
    by_tuple = sorted(keys)
    by_text = sorted(keys, key=lambda k: rank_key(*k))
    assert by_text == by_tuple
    assert rank_key(1, "a", "b") < rank_key(1, "ab", "") < rank_key(2, "", "")


# ---------------------------------------------------------------- QuietDataTable

from rich.text import Text  # noqa: E402
from textual.containers import Vertical  # noqa: E402

from widgets.table_panel import QuietDataTable  # noqa: E402


class _QuietApp(App[None]):
    CSS = "Vertical { height: 8; } QuietDataTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield QuietDataTable()


async def test_quiet_datatable_grows_without_laying_out_the_screen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """New rows change only the table's virtual size: its scrollbar follows, the screen is
    not laid out again (and every panel not repainted) for each batch of rows."""
    app = _QuietApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(QuietDataTable)
        table.add_columns("name", "state")
        for n in range(3):
            table.add_row(Text(f"row-{n}"), Text("ok"))
        await pilot.pause()
        assert not table.show_vertical_scrollbar

        for n in range(3, 30):
            table.add_row(Text(f"row-{n}"), Text("ok"))
        await pilot.pause()
        assert table.show_vertical_scrollbar, "the scrollbar appears with the rows"
        assert table.virtual_size.height >= 30 and table.max_scroll_y > 0

        # What the table asks of Textual (below its own refresh, which drops the layout).
        layouts: list[bool] = []
        original = Widget.refresh

        def spy(self: Widget, *regions: Any, **kwargs: Any) -> Widget:
            if self is table:
                layouts.append(bool(kwargs.get("layout")))
            return original(self, *regions, **kwargs)

        monkeypatch.setattr(Widget, "refresh", spy)
        for n in range(30, 60):
            table.add_row(Text(f"row-{n}"), Text("ok"))
        await pilot.pause()
        monkeypatch.setattr(Widget, "refresh", original)
        assert table.virtual_size.height >= 60
        assert layouts and not any(layouts), "more rows: repaint, never a screen layout"

        table.scroll_end(animate=False)
        await pilot.pause()
        assert table.scroll_y == table.max_scroll_y > 20

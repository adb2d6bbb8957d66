"""Enter on a pod shows each container's state, restarts and last termination; Enter on an
Argo CD app shows its resource tree (status.resources, each Deployment's pods) and its history,
with each commit's author and subject where Argo CD's REST API is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from backends.config import parse
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import START
from tests.test_app import _select, make_app
from tests.test_drill_logs import advance_until, crashed_pod
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp
from tui.screens import DetailScreen
from widgets.detail import DetailView
from widgets.panels import AppsPanel, PodsPanel

TOKEN_ENV = "CONTROLROOM_TEST_ARGOCD_TOKEN"
APPS = BY_KEY["applications.argoproj.io"]


@pytest.fixture
async def bad_rollout(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """bad-rollout on a manual clock, once a 1.5.0 pod has crashed."""
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        scenario="bad-rollout", manual_clock=True,
                                        bookmark_interval=0.2, start=START))
    await cluster.start()
    advance_until(cluster, lambda: crashed_pod(cluster, "checkout", "checkout:1.5.0"),
                  "a crashed 1.5.0 pod")
    try:
        yield cluster
    finally:
        await cluster.stop()


class FakeArgoCD:
    """Argo CD's revision metadata endpoint, answered from the drill's Git (the commits the
    drill's Argo CD deployed), with the bearer token checked and every request kept."""

    def __init__(self, drill: DrillCluster, token: str) -> None:
        self.drill = drill
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def metadata(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.query_string))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"code": 16, "message": "invalid session"}, status=401)
        commit = self.drill.git.get(request.match_info["name"], request.match_info["rev"])
        if commit is None:
            return web.json_response({"code": 5, "message": "revision not found"}, status=404)
        return web.json_response({"author": commit.author, "date": commit.time.isoformat(),
                                  "message": f"{commit.message}\n\nSigned-off-by: someone",
                                  "tags": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/applications/{name}/revisions/{rev}/metadata",
                           self.metadata)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def detail_text(app: ControlRoomApp) -> str:
    return app.screen.query_one(DetailView).content.plain if isinstance(
        app.screen, DetailScreen) else ""


def with_commits(app: ControlRoomApp) -> str | None:
    """The detail once the commits have been read from the Argo CD API."""
    text = detail_text(app)
    return text if "commits from the Argo CD API" in text else None


async def open_detail(pilot: Any, app: ControlRoomApp, cls: type, key: str) -> None:
    await until(pilot, lambda: app.session is not None, "the session")
    await _select(pilot, app, cls, key)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail")


async def test_pod_detail_shows_each_containers_last_termination(
        bad_rollout: DrillCluster) -> None:
    pod = crashed_pod(bad_rollout, "checkout", "checkout:1.5.0")
    assert pod is not None
    app = make_app(bad_rollout)
    async with app.run_test(size=(180, 50)) as pilot:
        await open_detail(pilot, app, PodsPanel, f"checkout/{pod['metadata']['name']}")
        text = detail_text(app)
        assert "Containers\n  checkout: waiting CrashLoopBackOff  restarts " in text
        assert "last: Error (exit code 1)" in text
        assert "    image: ghcr.io/drill/checkout:1.5.0" in text
        assert "    last termination: Error (exit code 1)  started " in text


async def test_app_detail_shows_its_resource_tree_and_history(bad_rollout: DrillCluster
                                                              ) -> None:
    app = make_app(bad_rollout)
    async with app.run_test(size=(180, 50)) as pilot:
        await open_detail(pilot, app, AppsPanel, "argocd/checkout")
        text = detail_text(app)
        assert "Resources (" in text
        resources = text.split("Resources (", 1)[1].split("History", 1)[0]
        lines = resources.splitlines()
        # the unhealthy Deployment first, and under it the pod that crash-loops
        stable = next(i for i, line in enumerate(lines)
                      if line.startswith("  apps/Deployment checkout/checkout-stable  "))
        assert lines[stable].split()[2:4] in (["Synced", "Progressing"],
                                              ["Synced", "Degraded"])
        under = lines[stable + 1:stable + 6]
        assert any(line.startswith("    └ Pod checkout-stable-") and "CrashLoopBackOff" in line
                   and "last: Error (exit code 1)" in line for line in under)
        assert "  Service checkout/checkout-stable  Synced  Healthy" in resources
        assert "  gateway.networking.k8s.io/HTTPRoute checkout/checkout  Synced  Healthy" in \
            resources
        history = text.split("History (newest first)\n", 1)[1].splitlines()
        live = bad_rollout.state.get(APPS, "argocd", "checkout")
        ids = [str(h["id"]) for h in live["status"]["history"]]
        assert len(ids) >= 4  # the seed's three and the 1.5.0 release
        assert [line.split()[0] for line in history[:len(ids)]] == ids[::-1]
        assert history[0].endswith("<- synced now")
        assert "commit author and message: set [argocd] server" in history[len(ids)]


async def test_app_history_names_each_commit_from_the_argocd_api(
        bad_rollout: DrillCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # a commit whose subject carries markup and an escape: shown as the text it is
    bad_rollout.git.commit("catalog", "[bold red]catalog[/] 0.9.5 \x1b]52;c;aGk=\x07fast "
                           "search\n\nlonger body", {"deployments": {"catalog": {
                               "image": "ghcr.io/drill/catalog:0.9.4", "replicas": 3}}},
                           author="dev <dev@drill.example.com>")
    bad_rollout.sim.advance(10)  # auto-sync deploys it: a new history entry
    fake = FakeArgoCD(bad_rollout, token="s3cret")
    await fake.start()
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    settings = parse(f'[argocd]\nserver = "{fake.url}"\ntoken_env = "{TOKEN_ENV}"\n'
                     "allow_http_credentials = true\n")
    app = make_app(bad_rollout, settings)
    try:
        async with app.run_test(size=(180, 50)) as pilot:
            await open_detail(pilot, app, AppsPanel, "argocd/checkout")
            text = await until(pilot, lambda: with_commits(app), "the commits")
            assert "release-bot <release-bot@drill.example.com>  Promote checkout 1.5.0 to " \
                   "stable" in text
            assert "platform-bot <platform-bot@drill.example.com>  checkout 1.4.2: fix tax " \
                   "rounding" in text
            assert "Signed-off-by" not in text  # the subject only
            assert all(q == "appNamespace=argocd" for _, q in fake.requests)
            await pilot.press("escape")
            await open_detail(pilot, app, AppsPanel, "argocd/catalog")
            text = await until(pilot, lambda: with_commits(app), "the catalog commits")
            assert "dev <dev@drill.example.com>  [bold red]catalog[/] 0.9.5 fast search" in text
    finally:
        await fake.stop()

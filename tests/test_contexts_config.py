"""Issue 18 point 1: per-context settings. Each context has its own Prometheus,
Alertmanager, Argo CD REST API, endpoints, namespaces, production and read-only flags,
falling back to the global ones; a bad table names its context; in the App, the alerts of
one context never come from another context's source, and the header says whose each alert
source is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from backends.config import ConfigError, Settings, parse
from backends.store import SourceHealth
from drill.runner import DrillCluster
from tests.waiting import pilot_until
from tui.app import ControlRoomApp, Target
from tui.run import _sources
from widgets.header import health_text

TWO = """
production_patterns = ["prod"]
[prometheus]
url = "http://global-prom:9090"
[alertmanager]
url = "http://global-am:9093"
[argocd]
server = "https://argocd.global"

[contexts."staging"]
namespaces = ["shop"]
read_only = true
[contexts."staging".prometheus]
url = "http://staging-prom:9090"
interval = 2
[contexts."staging".argocd]
server = "https://argocd.staging"
[[contexts."staging".endpoints]]
name = "staging shop"
url = "https://shop.staging/health"

[contexts."prod"]
[contexts."prod".alertmanager]
url = "http://prod-am:9093"
"""


def test_two_contexts_resolve_each_own_settings_falling_back_to_the_globals() -> None:
    settings = parse(TWO)
    staging, prod = settings.for_context("staging"), settings.for_context("prod")
    assert (staging.prometheus.url, staging.prometheus.interval) == ("http://staging-prom:9090", 2)
    assert staging.alertmanager.url == "http://global-am:9093"  # not set: the global one
    assert staging.argocd.server == "https://argocd.staging"
    assert [e.name for e in staging.endpoints] == ["staging shop"]
    assert prod.prometheus.url == "http://global-prom:9090"
    assert prod.alertmanager.url == "http://prod-am:9093"
    assert prod.argocd.server == "https://argocd.global"
    assert prod.endpoints == []
    assert settings.for_context("other") is settings
    assert staging.for_context("staging").prometheus == staging.prometheus  # idempotent
    assert (settings.is_read_only("staging"), settings.is_read_only("prod")) == (True, False)
    assert (settings.is_production("staging"), settings.is_production("prod")) == (False, True)
    assert settings.context("staging").namespaces == ["shop"]


@pytest.mark.parametrize(("text", "names"), [
    ('[contexts."ok"]\n[contexts."prod".prometheus]\nurl = "ftp://x"',
     ['$.contexts."prod".prometheus', "url must look like"]),
    ('[contexts."prod".alertmanager]\nurll = "http://x"',
     ['$.contexts."prod".alertmanager', "unknown field `urll`"]),
    ('[[contexts."prod".endpoints]]\nname = "a"\nurl = "http://a"\n'
     '[[contexts."prod".endpoints]]\nname = "a"\nurl = "http://b"',
     ['$.contexts."prod"', "endpoint names must be unique"]),
    ('watch = ["prod", "prod"]', ["$.watch", "distinct"]),
])
def test_a_bad_context_table_names_the_context_and_the_key(text: str, names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "config.toml")
    for name in names:
        assert name in str(caught.value)


def test_the_header_says_which_context_an_alert_source_belongs_to() -> None:
    health = {name: SourceHealth(state="connected", since=1.0, last_event=1.0)
              for name in ("pods", "prometheus", "alertmanager")}
    strip = health_text(health, 2.0, "prod").plain
    assert "prometheus (prod) ●" in strip and "alertmanager (prod) ●" in strip
    assert "pods ●" in strip and "pods (prod)" not in strip


@pytest.fixture
async def proms() -> AsyncIterator[dict[str, str]]:
    """Two fake Prometheus servers, each firing one alert named after its cluster."""
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    for cluster in ("Staging", "Global", "Prod"):
        async def alerts(_: web.Request, cluster: str = cluster) -> web.Response:
            return web.json_response({"status": "success", "data": {"alerts": [{
                "labels": {"alertname": f"{cluster}Only", "severity": "critical"},
                "annotations": {}, "state": "firing",
                "activeAt": "2026-01-01T00:00:00Z", "value": "1"}]}})

        async def rules(_: web.Request) -> web.Response:
            return web.json_response({"status": "success", "data": {"groups": []}})

        app = web.Application()
        app.router.add_get("/api/v1/alerts", alerts)
        app.router.add_get("/api/v1/rules", rules)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        urls[cluster] = f"http://127.0.0.1:{port}"
        runners.append(runner)
    try:
        yield urls
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_a_context_shows_only_its_own_alert_source(
        drill: DrillCluster, proms: dict[str, str], tmp_path: Path) -> None:
    settings: Settings = parse(f"""
signals = []
[prometheus]
url = "{proms['Global']}"
interval = 0.5
[contexts."drill".prometheus]
url = "{proms['Staging']}"
interval = 0.5
""")
    starter = _sources(lambda: str(drill.kubeconfig), "drill", None, settings=settings)
    app = ControlRoomApp(settings, None, Target(cluster="drill", context="drill"), starter,
                         journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot_until(pilot, lambda: app.store.count("alerts") > 0, "an alert", 30)
        names = {getattr(row, "alertname", "") for row in app.store.rows("alerts").values()}
        assert names == {"StagingOnly"}, names
        await pilot_until(pilot, lambda: "prometheus (drill) ●" in
                          str(app.header.query_one(".header--health").render()),
                          "the header naming the alert source's context", 10)

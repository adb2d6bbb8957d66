"""Links out (issue 15, point 7): URL templates in the config, validated when read, filled
with URL-encoded row values, shown as hyperlinks and copied with ``o``."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import DataTable

from backends.config import ConfigError, parse
from backends.link_values import row_values
from backends.links import LinkTemplate, fill
from backends.signals.model import AlertRow
from backends.store import Store
from drill.runner import DrillCluster
from tests.test_app import make_app, panel, shown
from tests.waiting import pilot_until as until
from tui.links_screen import LinksScreen
from widgets.panels import AppsPanel

CONFIG = """
[[links.applications]]
title = "Argo CD"
url = "https://argocd.example.com/applications/{namespace}/{name}?ctx={context}"

[[links.applications]]
title = "Grafana: app"
url = "https://grafana.example.com/d/app?var-app={app}&var-cluster={cluster}"

[[links.alerts]]
title = "Runbook"
url = "https://runbooks.example.com/alerts/{alertname}#{namespace}"
"""


@pytest.mark.parametrize(("text", "words"), [
    ('[[links.pods]]\ntitle = "x"\nurl = "https://g.example/{nmae}"',
     ["links.pods[0]", "unknown placeholder {nmae}", "{namespace}"]),
    ('[[links.pods]]\ntitle = "x"\nurl = "https://g.example/{alertname}"',
     ["links.pods[0]", "unknown placeholder {alertname}"]),
    ('[[links.podz]]\ntitle = "x"\nurl = "https://g.example/"', ["unknown field `podz`"]),
    ('[[links.alerts]]\ntitle = "x"\nurl = "https://g.example/a"\n'
     '[[links.alerts]]\ntitle = "y"\nurl = "javascript:alert(1)"',
     ["links.alerts[1]", "must look like https://"]),
    ('[[links.pods]]\ntitle = "x"\nurl = "https://{name}.example/"',
     ["links.pods[0]", "no placeholder in the host"]),
    ('[[links.pods]]\ntitle = "x"\nurl = "https://g.example/{name!r}"',
     ["links.pods[0]", "takes no format"]),
    ('[[links.pods]]\ntitle = "x"\nurl = "https://g.example/{name"', ["links.pods[0]"]),
])
def test_bad_templates_are_refused_when_read_naming_the_key(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "config.toml")
    for word in words:
        assert word in str(caught.value)


def test_values_are_url_encoded_and_a_missing_one_leaves_the_link_out() -> None:
    template = LinkTemplate(title="pod", url="https://g.example/d?ns={namespace}&pod={name}")
    hostile = "web/../x?y=1&z=2#frag \x1b]8;;https://evil\x07"
    [link] = fill([template], {"namespace": "shop", "name": hostile})
    assert link.url.startswith("https://g.example/d?ns=shop&pod=web%2F..%2Fx%3Fy%3D1%26z%3D2"
                               "%23frag%20%1B%5D8%3B%3Bhttps%3A%2F%2Fevil%07")
    assert link.url.count("?") == 1 and "#" not in link.url and "\x1b" not in link.url
    [missing] = fill([template], {"namespace": "shop", "name": ""})
    assert missing.url == "" and "{name}" in missing.missing


def test_an_alerts_values_come_from_its_labels() -> None:
    alert = AlertRow(key="prometheus/1", source="prometheus", alertname="AppHighErrorRatio",
                     severity="critical", labels=(("alertname", "AppHighErrorRatio"),
                                                  ("namespace", "checkout"), ("app", "checkout")))
    values = row_values(Store(), "alerts", alert, context="prod", cluster="aks")
    settings = parse(CONFIG)
    [runbook] = fill(settings.links.of("alerts"), values)
    assert runbook.url == "https://runbooks.example.com/alerts/AppHighErrorRatio#checkout"


async def test_o_shows_the_rows_links_as_hyperlinks_and_copies_them(drill: DrillCluster) -> None:
    app = make_app(drill, parse(CONFIG))
    async with app.run_test(size=(200, 50)) as pilot:
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: "argocd/checkout" in shown(apps), "the checkout app")
        apps.focus()
        assert apps.select_row(("applications", "argocd/checkout"))
        await pilot.press("o")
        screen = await until(pilot, lambda: isinstance(app.screen, LinksScreen) and app.screen,
                             "the links screen")
        argocd = "https://argocd.example.com/applications/argocd/checkout?ctx=drill"
        assert app.clipboard == argocd and screen.copied == argocd
        table = screen.query_one("#links-table", DataTable)
        title, url = table.get_row_at(0)
        assert isinstance(url, Text) and url.plain == argocd
        assert url.style.link == argocd  # type: ignore[union-attr]  # OSC 8 hyperlink
        grafana = "https://grafana.example.com/d/app?var-app=checkout&var-cluster=drill"
        assert table.get_row_at(1)[1].plain == grafana
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.clipboard == grafana, "Enter to copy the second link")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LinksScreen), "closed")
        # a kind without links says how to add them
        app.panels[0].focus()
        await pilot.press("o")
        await until(pilot, lambda: any("[[links.nodes]]" in str(n.message)
                                       for n in app._notifications),  # noqa: SLF001
                    "how to add links for nodes")

"""Links out: URL templates from the config (``[links]``) filled in for one row.

Why: the row the engineer is looking at has a Grafana dashboard, an Argo CD page and a runbook
somewhere, and copying its namespace and name into three URLs by hand at 3 a.m. is where
mistakes happen. The config holds templates per kind of row::

    [[links.pods]]
    title = "Grafana: pod"
    url = "https://grafana.example.com/d/k8s-pod?var-namespace={namespace}&var-pod={name}"

Placeholders are ``{context}`` and ``{cluster}`` (the kubeconfig's), ``{namespace}``,
``{name}``, ``{app}`` (the Argo CD app: the app itself, a Deployment's ``argocd_app`` or a pod's
Deployment's) and, for alerts, ``{alertname}`` and ``{severity}``. Which placeholders a kind
knows is fixed (:data:`PLACEHOLDERS`), so a template asking for ``{alertname}`` on pods, a
typo (``{nmae}``), a format spec or a URL that is not ``http(s)://`` is refused when the
config is read, naming the key (``links.pods[0]``).

Every value comes from the cluster (untrusted): it is URL-encoded whole (``quote`` with no safe
characters, so ``/``, ``?``, ``#``, ``&`` and control characters cannot change the URL's
structure), and a value the row does not have leaves the link out with the reason, never a
URL with a hole in it. Pure functions: a row's values are read in :mod:`backends.link_values`
(the config, which imports this module, must not reach the store), and the App shows the
result (:mod:`tui.links_screen`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import msgspec

__all__ = ["PLACEHOLDERS", "Link", "LinkSettings", "LinkTemplate", "fill"]

_COMMON = ("context", "cluster", "namespace", "name", "app")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "nodes": ("context", "cluster", "name"),
    "pods": _COMMON,
    "deployments": _COMMON,
    "applications": _COMMON,
    "httproutes": ("context", "cluster", "namespace", "name"),
    "events": ("context", "cluster", "namespace", "name"),
    "alerts": (*_COMMON, "alertname", "severity"),
}
"""Kind (a field of ``[links]``) -> the placeholders its templates may use."""


def _check(kind: str, index: int, template: LinkTemplate) -> None:
    known = PLACEHOLDERS[kind]
    where = f"links.{kind}[{index}] ({template.title!r})"
    url = template.url.strip()
    if not re.fullmatch(r"https?://[^\s/?#{}]+(/\S*)?", url):
        raise ValueError(f"{where}: url must look like "
                         f"https://host/path?x={{name}} (no placeholder in the host), got "
                         f"{template.url!r}")
    try:
        fields = list(string.Formatter().parse(url))
    except ValueError as exc:
        raise ValueError(f"{where}: url: {exc} (a literal brace "
                         "is written {{ or }})") from None
    for _, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in known:
            raise ValueError(f"{where}: url: unknown placeholder "
                             f"{{{field}}}; {kind} know {', '.join('{' + k + '}' for k in known)}")
        if spec or conversion:
            raise ValueError(f"{where}: url: {{{field}}} takes no "
                             "format (write the bare name)")


class LinkTemplate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One link of a kind: what it is called and its URL template."""

    #: Shown in the links list, e.g. ``Grafana: pod``.
    title: str
    #: ``https://`` URL with placeholders (see :data:`PLACEHOLDERS`).
    url: str

    def __post_init__(self) -> None:
        if not self.title.strip() or not self.title.isprintable() or len(self.title) > 80:
            raise ValueError(f"title must be printable text of 1 to 80 characters, got "
                             f"{self.title!r}")


class LinkSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[links]``: URL templates per kind of row (``o`` shows and copies them)."""

    nodes: list[LinkTemplate] = msgspec.field(default_factory=list)
    pods: list[LinkTemplate] = msgspec.field(default_factory=list)
    deployments: list[LinkTemplate] = msgspec.field(default_factory=list)
    applications: list[LinkTemplate] = msgspec.field(default_factory=list)
    httproutes: list[LinkTemplate] = msgspec.field(default_factory=list)
    events: list[LinkTemplate] = msgspec.field(default_factory=list)
    alerts: list[LinkTemplate] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # msgspec appends " - at `$.links`"; the message names the kind and the link.
        for kind in PLACEHOLDERS:
            for index, template in enumerate(getattr(self, kind)):
                _check(kind, index, template)

    def of(self, kind: str) -> list[LinkTemplate]:
        """The templates of a kind (none for a kind without links)."""
        templates = getattr(self, kind, None) if kind in PLACEHOLDERS else None
        return list(templates or [])


@dataclass(frozen=True)
class Link:
    """A template filled in for one row: the URL, or why there is none."""

    title: str
    url: str = ""
    missing: str = ""
    """Why the link is left out ("no {app} for this row"); "" when ``url`` is set."""


def fill(templates: list[LinkTemplate], values: Mapping[str, str]) -> list[Link]:
    """Each template with the row's ``values`` URL-encoded in (see the module docstring)."""
    links = []
    for template in templates:
        url = template.url.strip()
        wanted = [f for _, f, _, _ in string.Formatter().parse(url) if f is not None]
        absent = [f for f in wanted if not values.get(f)]
        if absent:
            links.append(Link(template.title, missing="this row has no " + ", ".join(
                "{" + f + "}" for f in absent)))
            continue
        links.append(Link(template.title, url.format_map(
            {f: quote(values[f], safe="") for f in wanted})))
    return links


"""What the timeline screen shows and where Enter takes the engineer: pure, so testable alone.

Why apart from the screen (``tui/timeline_screen.py``): the filter words and the jump target
are decisions about entries and store rows, not about widgets; replay will show the same list.

The filter is a few words, all of which must match (case-insensitive substrings):
``checkout`` matches the entry's app, namespace, object (``Kind/name``, its workload) or
actor; ``app:checkout``, ``ns:payments`` (or ``namespace:``), ``object:checkout-stable``
(or ``obj:``) and ``actor:argocd`` match only that field.

The jump target of an entry is the dashboard row of what it is about, in the store's kinds
and keys (:func:`backends.model.make_key`): the object itself when a panel lists it, else its
workload, else its Argo CD app, in that order of preference; the screen takes the first the
dashboard shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from backends.model import make_key
from backends.timeline.correlate import alert_names, alert_target
from backends.timeline.entry import TimelineEntry

__all__ = ["FILTER_FIELDS", "EntryFilter", "jump_targets", "parse_filter"]

FILTER_FIELDS: Final = {"app": "app", "ns": "namespace", "namespace": "namespace",
                        "object": "object", "obj": "object", "actor": "actor"}
"""The ``field:`` prefixes the filter understands, to the field they match."""

STORE_KIND: Final = {"Deployment": "deployments", "ReplicaSet": "replicasets", "Pod": "pods",
                     "Application": "applications", "HTTPRoute": "httproutes",
                     "Gateway": "gateways", "Node": "nodes", "Event": "events"}
"""Kubernetes kinds to the store kinds whose rows the dashboard panels show."""


def _fields(e: TimelineEntry) -> dict[str, str]:
    obj = f"{e.object_kind}/{e.name} {e.workload}" if e.kind != "alert" \
        else f"{e.name} {e.workload}"
    return {"app": e.app.lower(), "namespace": e.namespace.lower(), "object": obj.lower(),
            "actor": e.actor.lower()}


EntryFilter = Callable[[TimelineEntry], bool]


def parse_filter(text: str) -> EntryFilter:
    """The filter the words of ``text`` describe (module docstring); "" keeps everything.
    A word with an unknown ``prefix:`` is matched whole, like any other word (a name may
    hold a colon: ``checkout:1.5.0``)."""
    terms: list[tuple[str | None, str]] = []
    for word in text.lower().split():
        prefix, colon, value = word.partition(":")
        field = FILTER_FIELDS.get(prefix) if colon else None
        if field is not None and value:
            terms.append((field, value))
        elif field is None:
            terms.append((None, word))
    if not terms:
        return lambda _e: True

    def matches(e: TimelineEntry) -> bool:
        fields = _fields(e)
        return all(value in fields[field] if field is not None
                   else any(value in v for v in fields.values())
                   for field, value in terms)

    return matches


def _app_keys(app: str, app_keys: Iterable[str]) -> Iterator[str]:
    for key in app_keys:
        if key.rpartition("/")[2] == app:
            yield key


def jump_targets(e: TimelineEntry, app_keys: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(store kind, key)`` rows for ``e``, the most precise first; ``app_keys`` are the
    store keys of the known Argo CD applications (an entry names its app by name only)."""
    found: list[tuple[str, str]] = []
    if e.kind not in ("alert", "bus", "pods") and e.object_kind in STORE_KIND:
        kind = STORE_KIND[e.object_kind]
        found.append((kind, make_key(e.namespace, e.name, namespaced=kind != "nodes")))
    owner_kind, slash, owner = e.workload.partition("/")
    if slash and owner_kind in STORE_KIND and e.namespace:
        found.append((STORE_KIND[owner_kind], make_key(e.namespace, owner)))
    if e.kind == "alert" and e.namespace and not e.workload:
        # an alert on a pod: the pod (shown when it is a problem pod), else its owner
        target = alert_target(e)
        if target:
            found.append(("pods", make_key(e.namespace, target)))
        found.extend(("deployments", make_key(e.namespace, name))
                     for name in sorted(alert_names(e) - {target}, key=len))
    if e.app:
        found.extend(("applications", key) for key in _app_keys(e.app, app_keys))
    if e.kind == "alert" and e.namespace:
        found.extend(("applications", key) for key in _app_keys(e.namespace, app_keys))
    return list(dict.fromkeys(found))

"""Detail sections that need more than a row's fields: a pod's containers, an app's tree.

- **Containers** of a pod (what ``kubectl describe pod`` lists): state now, ready, restarts,
  and the last termination with its reason and exit code, ``OOMKilled (exit code 137)``,
  ``Error (exit code 1)``: the why behind a CrashLoopBackOff. The logs screen shows the same
  words (:func:`container_line`, :func:`last_termination`).
- **Resources** of an Argo CD app (``status.resources``): kind, namespace and name with the
  per-resource sync status and health, the unhealthy and out-of-sync first; under each
  Deployment its pods from the store, so the engineer sees the tree down to the crashing pod.
- **History** of an app (``status.history``): id, revision, deployed time, and where Argo CD's
  REST API is configured, the commit's author and subject
  (:mod:`backends.ops.argocd_revisions`).

Lines are lists of plain parts (``str`` or ``(text, style)``), assembled into ``Content`` by
:class:`~widgets.detail.DetailView`: no cluster or Git string is ever parsed as markup.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from backends.model import AppResource, AppRow, ContainerInfo, PodRow
from backends.store import Store
from widgets.formatting import ago, short_revision

__all__ = ["app_sections", "container_line", "container_lines", "last_termination"]

Part = str | tuple[str, str]
Line = list[Part]

_HEADING = "bold $text-primary"
_LABEL = "$foreground-muted"
_BAD = "bold $text-error"
_NOTE = "$text-warning"
_GOOD_HEALTH = frozenset({"Healthy", ""})
_POD_LIMIT = 10


class Revision(Protocol):
    """What the history shows of a commit (:class:`backends.ops.argocd_revisions.
    RevisionInfo`; a protocol here so widgets need not import the ops room)."""

    @property
    def author(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def error(self) -> str: ...


def _clock(moment: float | None) -> str:
    if not moment:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def last_termination(c: ContainerInfo) -> str:
    """``OOMKilled (exit code 137)``, ``Error (exit code 1, signal 9)``; "" when none."""
    if not c.last_reason and c.last_exit_code is None:
        return ""
    signal = f", signal {c.last_signal}" if c.last_signal else ""
    code = f"exit code {c.last_exit_code}" if c.last_exit_code is not None else "exit code ?"
    return f"{c.last_reason or 'Terminated'} ({code}{signal})"


def _state(c: ContainerInfo, now: float) -> tuple[str, str]:
    """(words, style) of the state now."""
    if c.state == "running":
        style = "" if c.ready else _NOTE
        return f"running{'' if c.ready else ', not ready'} {ago(c.since, now)}".rstrip(), style
    if c.state == "terminated":
        code = f" (exit code {c.exit_code})" if c.exit_code is not None else ""
        bad = c.exit_code not in (0, None)
        return f"terminated {c.reason or ''}{code}".replace("  ", " "), _BAD if bad else ""
    if c.state == "waiting":
        bad = c.reason not in ("ContainerCreating", "PodInitializing")
        return f"waiting {c.reason}".rstrip(), _BAD if bad else _NOTE
    return "no status yet", _LABEL


def container_line(c: ContainerInfo, now: float) -> Line:
    """One line: name, state now, restarts and the last termination."""
    words, style = _state(c, now)
    line: Line = [(f"{'init ' if c.init else ''}{c.name}: ", "bold"), (words, style),
                  (f"  restarts {c.restarts}", _NOTE if c.restarts else _LABEL)]
    last = last_termination(c)
    if last:
        line += [("  last: ", _LABEL), (last, _BAD if c.last_exit_code else ""),
                 (f" {ago(c.last_finished, now)}", _LABEL)]
    return line


def container_lines(pod: PodRow, now: float) -> list[Line]:
    """The Containers section of a pod's detail."""
    lines: list[Line] = [[("Containers", _HEADING)]]
    for c in pod.containers:
        lines.append(["  ", *container_line(c, now)])
        lines.append([("    image: ", _LABEL), c.image or "-"])
        if c.message:
            lines.append([("    message: ", _LABEL), c.message])
        if c.last_reason or c.last_exit_code is not None:
            lines.append([("    last termination: ", _LABEL),
                          (last_termination(c), _BAD if c.last_exit_code else ""),
                          (f"  started {_clock(c.last_started)}, finished "
                           f"{_clock(c.last_finished)}", _LABEL)])
            if c.last_message:
                lines.append([("    last message: ", _LABEL), c.last_message])
    if not pod.containers:
        lines.append([("  none reported", _LABEL)])
    return lines


# ---------------------------------------------------------------- Argo CD apps


def _rank(r: AppResource) -> tuple[int, str, str, str]:
    bad = (r.health_status not in _GOOD_HEALTH) + (r.sync_status != "Synced")
    return -bad, r.kind, r.namespace, r.name


def _resource_line(r: AppResource) -> Line:
    kind = f"{r.group}/{r.kind}" if r.group else r.kind
    sync_style = "" if r.sync_status == "Synced" else _NOTE
    health = r.health_status or "-"
    health_style = "" if r.health_status in _GOOD_HEALTH else (
        _NOTE if r.health_status in ("Progressing", "Suspended") else _BAD)
    line: Line = [f"  {kind} ", (f"{r.namespace}/{r.name}" if r.namespace else r.name, "bold"),
                  "  ", (r.sync_status or "?", sync_style), "  ", (health, health_style)]
    if r.requires_pruning:
        line.append(("  requires pruning", _NOTE))
    if r.health_message:
        line.append((f"  {r.health_message}", _LABEL))
    return line


def _pods_under(store: Store, r: AppResource, now: float) -> list[Line]:
    if r.kind != "Deployment" or r.group != "apps":
        return []
    keys = store.pods_of_deployment(f"{r.namespace}/{r.name}")
    problems = store.problem_pods(now=now)
    lines: list[Line] = []
    for key in sorted(keys, key=lambda k: (k not in problems, k))[:_POD_LIMIT]:
        pod = store.get("pods", key)
        if not isinstance(pod, PodRow):
            continue
        reason = problems.get(key, "")
        line: Line = [("    └ Pod ", _LABEL), pod.name, "  ",
                      (pod.status, _BAD if reason else ""),
                      (f"  restarts {pod.restarts}", _NOTE if pod.restarts else _LABEL)]
        last = next((last_termination(c) for c in pod.containers if c.last_reason), "")
        if last:
            line.append((f"  last: {last}", _BAD))
        lines.append(line)
    if len(keys) > _POD_LIMIT:
        lines.append([(f"    ... {len(keys) - _POD_LIMIT} more pods", _LABEL)])
    return lines


def app_sections(store: Store, app: AppRow, now: float,
                 revisions: Mapping[str, Revision] | None = None,
                 revisions_note: str = "") -> list[Line]:
    """Resources (with each Deployment's pods) and history of an Argo CD app."""
    synced = sum(r.sync_status == "Synced" for r in app.resources)
    unhealthy = sum(r.health_status not in _GOOD_HEALTH for r in app.resources)
    lines: list[Line] = [[(f"Resources ({len(app.resources)}: {synced} Synced, "
                           f"{len(app.resources) - synced} not; {unhealthy} not healthy)",
                           _HEADING)]]
    for r in sorted(app.resources, key=_rank):
        lines.append(_resource_line(r))
        lines.extend(_pods_under(store, r, now))
    if not app.resources:
        lines.append([("  none reported in status.resources", _LABEL)])
    lines.append([("History (newest first)", _HEADING)])
    for entry in reversed(app.history[-10:]):
        current = entry.revision == app.revision
        line: Line = [f"  {entry.id:>3}  ", (short_revision(entry.revision), "bold"),
                      ("  deployed ", _LABEL), _clock(entry.deployed_at),
                      (f" ({ago(entry.deployed_at, now)})", _LABEL)]
        if current:
            line.append(("  <- synced now", _NOTE))
        info = (revisions or {}).get(entry.revision)
        if info is not None and info.error:
            line.append((f"  commit unknown: {info.error}", _NOTE))
        elif info is not None:
            line += ["  ", (info.author, _LABEL), "  ", info.subject]
        lines.append(line)
    if not app.history:
        lines.append([("  none in status.history", _LABEL)])
    if revisions_note:
        lines.append([(f"  {revisions_note}", _LABEL)])
    return lines

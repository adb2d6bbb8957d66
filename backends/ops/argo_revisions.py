"""Evidence about an Argo CD app's history entries, and what restoring its auto-sync would
deploy.

The rule and the list of evidence are in :mod:`backends.ops.revisions`. Here the app's
``status.history`` and health, the application controller's health-transition events and the
journal (our rollbacks, our pauses) become :class:`~backends.ops.revisions.Evidence` about
each Git revision, spread over every history entry that deployed it.

:func:`redeploy_risk` is the ONE check behind "restoring auto-sync would redeploy the bad
commit", used by :func:`backends.ops.argocd.plan_restore` and so by ``restore-sync``, the App's
restore key and the breaker's release alike. What auto-sync would deploy is Git's revision:
upstream Argo CD reports it as ``status.sync.revision`` (the revision compared with Git). When
that field names the running revision although the newest history entry is a rollback by hand
and the app is OutOfSync (the drill reports the running revision there, as do some setups),
Git's revision is not visible: it is then taken to be the revision the rollback moved away
from, and the plan says that this is an assumption. Never calm when unsure. Revisions, names
and reasons that come from the cluster or the journal are cleaned as they go into the
evidence's words (:func:`~backends.sanitize.clean`).

The status-transition events (``Updated health status: Healthy -> Degraded``, ``Updated sync
status: Synced -> OutOfSync``, reason ``ResourceUpdated`` on the Application) are the
controller's only record of health over time: Argo CD keeps no health per history entry. An
entry is bad when such an event says the app went Degraded while it was the deployed one and
in sync with Git (a Degraded that a hand change caused, while OutOfSync, is not the
revision's); good when the app was Healthy when the next entry was deployed (the first
transition within :data:`NEXT_DEPLOY_SLACK` seconds after it starts says what the health was
before).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from backends.kube.decode import DecodeError, decode_list, parse_time
from backends.kube.errors import KubeApiError, KubeError
from backends.model import EventRow
from backends.ops.argo_status import PAUSE_STEP, ROLLBACK_STEP, app_status, entry_revision, running
from backends.ops.breaker_model import is_breaker_operation
from backends.ops.journal import Journal, JournalEntry
from backends.ops.plan import Reader
from backends.ops.revisions import Evidence, Knowledge, judge, stamp
from backends.sanitize import clean

__all__ = [
    "NEXT_DEPLOY_SLACK",
    "RedeployRisk",
    "app_knowledge",
    "history_evidence",
    "journal_evidence",
    "redeploy_risk",
    "sync_target",
    "transitions",
]

NEXT_DEPLOY_SLACK: Final = 300.0
STATUS_MESSAGE: Final = re.compile(r"Updated (health|sync) status: (\w+) -> (\w+)")
EVENT_LIMIT: Final = 500
BAD_AT_PAUSE: Final = frozenset({"Degraded", "Missing"})
"""App health at a pause that marks the running revision bad (any pause)."""

Point = tuple[float, str, str]
"""(when, status before, status after) of one health or sync transition."""


def _history(app: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [h for h in app_status(app).get("history") or [] if isinstance(h, dict)]


def _start(entry: Mapping[str, Any]) -> float | None:
    for field in ("deployStartedAt", "deployedAt"):
        try:
            return parse_time(str(entry.get(field) or ""))
        except ValueError:
            continue
    return None


def _rolled_back_from(history: Sequence[Mapping[str, Any]], j: int) -> bool:
    """Whether entry ``j`` is a rollback by hand away from entry ``j - 1``: a user
    re-deployed a revision older than the one before it."""
    if j < 1 or (history[j].get("initiatedBy") or {}).get("automated"):
        return False
    rev = entry_revision(history[j])
    return bool(rev) and rev != entry_revision(history[j - 1]) \
        and rev in {entry_revision(h) for h in history[: j - 1]}


def transitions(events: Sequence[EventRow], which: str) -> list[Point]:
    """The app's ``health`` or ``sync`` transitions the events still hold, oldest first
    (an aggregated event counts at its first and its last time)."""
    points: set[Point] = set()
    for e in events:
        found = STATUS_MESSAGE.search(e.message)
        if not found or found.group(1) != which:
            continue
        for when in {e.first_seen, e.last_seen}:
            if when is not None:
                points.add((when, found.group(2), found.group(3)))
    return sorted(points)


def _synced_at(sync: Sequence[Point], moment: float) -> bool:
    """Whether the app was in sync with Git at ``moment`` (a tie counts as out of sync:
    a hand change and the health it breaks are recorded in the same second); True when
    the events do not say (never calm when unsure)."""
    before = [p for p in sync if p[0] <= moment]
    if before:
        return before[-1][2] == "Synced"
    after = [p for p in sync if p[0] > moment]
    return not after or after[0][1] == "Synced"


def history_evidence(app: Mapping[str, Any], points: Sequence[Point],
                     sync: Sequence[Point] = ()) -> list[Evidence]:
    """Evidence per Git revision (``key`` is the revision) from the history, the app's
    health now and its health transitions (module doc). A Degraded that began while the
    app was out of sync with Git (``sync`` transitions) is blamed on the hand changes
    that put it there (a rollout undo, a scale), not on the revision."""
    history = _history(app)
    out: list[Evidence] = []
    if not history:
        return out
    rev_now, health = running(app)
    if (app_status(app).get("sync") or {}).get("status") == "Synced":
        # out of sync, the health is that of the hand changes (a scale to 0 is Healthy)
        if health == "Healthy":
            out.append(Evidence(rev_now, "good", "deployed now, in sync and Healthy",
                                live=True))
        elif health == "Degraded":
            out.append(Evidence(rev_now, "bad", "deployed now, in sync and Degraded",
                                live=True))
    starts = [_start(h) for h in history]
    for i, entry in enumerate(history):
        rev = entry_revision(entry)
        if not rev:
            continue
        nxt = history[i + 1] if i + 1 < len(history) else None
        if nxt is not None and _rolled_back_from(history, i + 1):
            who = (nxt.get("initiatedBy") or {}).get("username") or "a user"
            out.append(Evidence(rev, "bad", f"history {nxt.get('id')}: {clean(who, 80)} "
                                            f"rolled back from it to {clean(entry_revision(nxt)[:12])}"))
        begin, end = starts[i], starts[i + 1] if i + 1 < len(history) else None
        if begin is None:
            continue
        inside = [p for p in points if p[0] >= begin and (end is None or p[0] < end)]
        degraded = [p for p in inside if p[2] == "Degraded" and _synced_at(sync, p[0])]
        if degraded:
            out.append(Evidence(rev, "bad", f"the app went Degraded at {stamp(degraded[0][0])}"
                                            f" while history {entry.get('id')} was deployed "
                                            "and in sync"))
        if end is None:
            continue
        after = [p for p in points if end <= p[0] <= end + NEXT_DEPLOY_SLACK]
        at_end = inside[-1][2] if inside else (after[0][1] if after else "")
        if at_end == "Healthy":
            out.append(Evidence(rev, "good", f"the app was Healthy when history "
                                             f"{nxt.get('id') if nxt else '?'} was deployed"))
    return out


def journal_evidence(entries: Sequence[JournalEntry]) -> list[Evidence]:
    """Our rollbacks (the revision left is bad) and our pauses of a sick app (the revision
    it ran is bad), per Git revision."""
    out = []
    for e in entries:
        if not e.may_have_applied or not isinstance(e.prior, dict):
            continue
        said = clean("; ".join(x for x in (e.operator, e.reason, "journal") if x), 300)
        when = f"{stamp(e.ts)} ({said})"
        if e.step == ROLLBACK_STEP:
            left = e.prior.get("history")  # the REST transport journals [entry]
            left = left[-1] if isinstance(left, list) and left else left
            left = left.get("revision") if isinstance(left, dict) else None
            if left:
                out.append(Evidence(str(left), "bad", f"rolled back away from it at {when}"))
        elif e.step == PAUSE_STEP:
            rev, health = str(e.prior.get("revision") or ""), str(e.prior.get("health") or "")
            breaker = is_breaker_operation(e.operation_id)
            in_sync = e.prior.get("sync") in ("Synced", None, "")
            if rev and in_sync and (health in BAD_AT_PAUSE
                                    or (breaker and health != "Healthy")):
                who = "the circuit breaker froze the app" if breaker else "auto-sync was paused"
                state = health or "of unknown health"
                out.append(Evidence(rev, "bad", f"{who} while it ran {state} at {when}"))
    return out


async def _health_events(conn: Reader, app: Mapping[str, Any],
                         rest: bool) -> tuple[list[EventRow], str]:
    """The app's status-transition events, through the Kubernetes API or (``rest``) the
    Argo CD API's ``/api/v1/applications/{name}/events``."""
    meta = app.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    if rest:
        path = f"/api/v1/applications/{quote(name, safe='')}/events"
        params = {"appNamespace": ns}
    else:
        path = f"/api/v1/namespaces/{quote(ns, safe='')}/events"
        params = {"fieldSelector": f"involvedObject.kind=Application,involvedObject.name="
                                   f"{name},reason=ResourceUpdated", "limit": str(EVENT_LIMIT)}
    try:
        page = decode_list("events", await conn.get_raw(path, params))
    except KubeApiError as exc:
        return [], (f"could not list the events of {ns}/{name} ({exc.status} "
                    f"{clean(exc.reason, 80)}): its health history not checked")
    except (KubeError, DecodeError) as exc:
        return [], f"could not list the events of {ns}/{name} ({clean(exc, 200)})"
    return [r for r in page.rows if isinstance(r, EventRow) and r.object_kind == "Application"
            and r.object_name == name], ""


async def app_knowledge(conn: Reader, app: Mapping[str, Any], journal: Journal | None = None,
                        context: str = "", *, rest: bool = False) -> Knowledge:
    """What is known about each history entry of the Application ``app`` (as read): keys
    are history ids, the verdict that of the entry's Git revision. ``conn`` reads the
    app's events: the Kubernetes API, or (``rest``) the Argo CD API."""
    meta = app.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    history = _history(app)
    events, note = await _health_events(conn, app, rest)
    per_revision = history_evidence(app, transitions(events, "health"),
                                    transitions(events, "sync"))
    if journal is not None:
        per_revision += journal_evidence(
            [e for e in await journal.entries(context=context or None)
             if (e.kind, e.namespace, e.name) == ("Application", ns, name)])
    keys = [str(h.get("id")) for h in history]
    evidence = [Evidence(str(h.get("id")), item.verdict, item.why, item.live)
                for h in history for item in per_revision if item.key == entry_revision(h)]
    return judge("history", keys, keys[-1] if keys else "", evidence,
                 [note] if note else [])


def sync_target(app: Mapping[str, Any]) -> tuple[str, str]:
    """(the Git revision restoring auto-sync would sync to, how that is known) (module
    doc); ("", why) when the app has no history."""
    status = app_status(app)
    history = _history(app)
    rev_now, _ = running(app)
    sync = status.get("sync") or {}
    compared = str(sync.get("revision") or ",".join(sync.get("revisions") or []))
    if compared and compared != rev_now:
        return compared, "Git's revision, status.sync.revision"
    if history and sync.get("status") == "OutOfSync" \
            and _rolled_back_from(history, len(history) - 1):
        return (entry_revision(history[-2]),
                "taken as Git's revision: the commit the last rollback moved away from; "
                "status.sync.revision shows the running one")
    return rev_now, "the running revision, in sync with Git"


@dataclass(frozen=True)
class RedeployRisk:
    """Restoring auto-sync would sync the app to a revision recorded as bad."""

    revision: str
    how: str
    why: str

    @property
    def short(self) -> str:
        """The revision as the plan says it (12 characters, cleaned)."""
        return clean(self.revision[:12])

    def held(self, ns: str, name: str) -> str:
        """The plan's red line when the restore is held back."""
        return (f"auto-sync of {ns}/{name} kept paused: restoring it would sync "
                f"{self.short} ({self.how}), recorded as bad: {self.why}. Revert "
                "in Git first, or choose to restore it anyway")

    def anyway(self, ns: str, name: str) -> str:
        """The plan's warning when the operator chose to restore anyway."""
        return (f"restoring auto-sync of {ns}/{name} anyway, as chosen: Argo CD will sync "
                f"{self.short} ({self.how}), recorded as bad: {self.why}")


async def redeploy_risk(conn: Reader, app: Mapping[str, Any], journal: Journal | None = None,
                        context: str = "") -> RedeployRisk | None:
    """The risk of restoring the auto-sync of ``app`` (as read), or None when what it would
    sync to is not recorded as bad."""
    target, how = sync_target(app)
    if not target:
        return None
    knowledge = await app_knowledge(conn, app, journal, context)
    ids = [str(h.get("id")) for h in _history(app) if entry_revision(h) == target]
    bad = [k for k in ids if knowledge.verdict(k) == "bad"]
    if not bad:
        return None
    return RedeployRisk(target, how, knowledge.why(bad[-1]))

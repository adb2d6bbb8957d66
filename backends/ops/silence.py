"""Silences: a scoped, auto-expiring Alertmanager silence, and expiring it again.

Why a silence is planned like any cluster write: during an update the on-call silences the
alerts the update is expected to trip, and a silence that is too broad (``alertname`` alone
silences that alert on every service) or never ends hides the next real incident. So:

- Scoped: the matchers are ``alertname`` plus the alert's identifying labels (namespace,
  deployment, pod, node...; all its labels when it has none of those), every matcher exact
  (``isEqual: true, isRegex: false``). A group of alerts gets one silence per distinct alert,
  never a wildcard. The label values are Alertmanager's own (read live), not the sanitized
  copies the panel shows, so the matchers match the real alert.
- Auto-expiring: ``endsAt = now + duration`` (default ``[alertmanager] silence_hours``),
  computed when the write is *sent*, not when the plan was shown.
- Accountable: ``createdBy`` is the operator (:func:`~backends.ops.gate.current_operator`,
  through the gate's policy) and ``comment`` is the reason typed on the plan screen (the
  change or incident id): the plan's ``with_reason`` puts it into the body.
- Gated and journaled: the writes go through a ``WriteGate`` on the Alertmanager client with
  the session's policy and journal (read-only mode refuses them, production asks for the typed
  context name). The prior state journaled is the alert's current status in Alertmanager;
  the result is Alertmanager's ``{"silenceID": ...}``.

Expiring finds the silence back without guessing: the silences the journal says we created,
or else Alertmanager's active silences created by this operator, in both cases only those
whose matchers match the selected alert.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from backends.kube.errors import KubeApiError, KubeError
from backends.ops.gate import TargetRef, WriteGate, WriteRequest
from backends.ops.journal import Journal
from backends.ops.plan import Plan, PlanError, PlannedWrite, finish
from backends.sanitize import clean
from backends.signals.alertmanager import (
    ALERTS_PATH,
    SILENCES_PATH,
    AlertmanagerClient,
    Matcher,
    Silence,
    decode_silences,
    matches,
    silence_path,
)
from backends.signals.model import AlertRow

__all__ = [
    "CREATE_STEP",
    "EXPIRE_STEP",
    "IDENTIFYING_LABELS",
    "MAX_SILENCE_HOURS",
    "describe_matchers",
    "matchers_for",
    "plan_expire",
    "plan_silence",
]

CREATE_STEP: Final = "silence-create"
EXPIRE_STEP: Final = "silence-expire"
MAX_SILENCE_HOURS: Final = 24 * 14
"""A longer silence is a configuration change, not an incident action."""
MAX_ALERTS: Final = 50
"""More distinct alerts in one silence plan is almost certainly a mis-selection (and 50
journaled writes); a broad silence belongs in Alertmanager's own UI, on purpose."""

IDENTIFYING_LABELS: Final[tuple[str, ...]] = (
    "cluster", "namespace", "deployment", "statefulset", "daemonset", "job_name", "pod",
    "container", "node", "instance", "service", "httproute", "route", "gateway",
    "application", "app",
)
"""Labels that say *which* thing an alert is about; with ``alertname`` they scope a silence
to that thing. ``severity`` is deliberately not one of them (a silence should not stop
because an alert escalated... nor should it match less because it did)."""


def matchers_for(labels: Iterable[tuple[str, str]]) -> tuple[Matcher, ...]:
    """``alertname`` plus the identifying labels present, all exact; every label when the
    alert carries none of the identifying ones (never ``alertname`` alone)."""
    have = dict(labels)
    if not have.get("alertname"):
        raise PlanError("the alert has no alertname label: refusing to build a silence "
                        "that could match unrelated alerts")
    chosen = ["alertname", *(name for name in IDENTIFYING_LABELS if have.get(name))]
    if len(chosen) == 1:
        chosen = sorted(have)
    return tuple(Matcher(name=name, value=have[name], isRegex=False, isEqual=True)
                 for name in chosen)


def describe_matchers(matchers: Sequence[Matcher]) -> str:
    """``PodCrashLooping{namespace="shop", pod="web-1"}`` (sanitized, for titles)."""
    name = next((m.value for m in matchers if m.name == "alertname"), "")
    rest = ", ".join(f'{clean(m.name, 64)}="{clean(m.value, 80)}"' for m in matchers
                     if m.name != "alertname")
    return f"{clean(name, 120)}{{{rest}}}"


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _target(matchers: Sequence[Matcher]) -> TargetRef:
    namespace = next((m.value for m in matchers if m.name == "namespace"), "")
    return TargetRef(kind="Silence", namespace=clean(namespace, 128),
                     name=describe_matchers(matchers), resource="silences")


@dataclass(frozen=True)
class _LiveAlert:
    """An alert as Alertmanager has it now (raw strings: they become matchers)."""

    labels: dict[str, str]
    state: str
    silenced_by: list[str]
    inhibited_by: list[str]
    fingerprint: str


async def _live_alerts(client: AlertmanagerClient, alertname: str) -> list[_LiveAlert]:
    """Alertmanager's alerts of that name (``filter=alertname="..."``), raw."""
    escaped = alertname.replace("\\", "\\\\").replace('"', '\\"')
    try:
        raw = await client.get_raw(ALERTS_PATH, {"filter": f'alertname="{escaped}"'})
        items = json.loads(raw)
    except KubeApiError as exc:
        raise PlanError(f"could not read the alerts from Alertmanager: {exc.status} "
                        f"{exc.reason}: {exc.message}") from exc
    except KubeError as exc:
        raise PlanError(f"Alertmanager is unreachable: {clean(exc, 300)}") from exc
    except ValueError as exc:
        raise PlanError("Alertmanager's alert list is not JSON") from exc
    out: list[_LiveAlert] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            continue
        status = item.get("status")
        if not isinstance(status, dict):
            status = {}
        out.append(_LiveAlert(
            labels={str(k): str(v) for k, v in item["labels"].items()},
            state=str(status.get("state", "")),
            silenced_by=[str(s) for s in status.get("silencedBy") or []],
            inhibited_by=[str(s) for s in status.get("inhibitedBy") or []],
            fingerprint=str(item.get("fingerprint", ""))))
    return out


def _same_alert(row: AlertRow, live: _LiveAlert) -> bool:
    """The row (sanitized labels, maybe from Prometheus without external labels) is this
    live alert: same fingerprint, or every label of the row equal on the live alert."""
    if row.source == "alertmanager" and row.fingerprint and \
            row.fingerprint == live.fingerprint:
        return True
    cleaned = {clean(k, 512): clean(v, 512) for k, v in live.labels.items()}
    return all(cleaned.get(k) == v for k, v in row.labels)


async def _silences(client: AlertmanagerClient) -> list[Silence]:
    try:
        return decode_silences(await client.get_raw(SILENCES_PATH))
    except KubeApiError as exc:
        raise PlanError(f"could not read the silences from Alertmanager: {exc.status} "
                        f"{exc.reason}: {exc.message}") from exc
    except KubeError as exc:
        raise PlanError(f"Alertmanager is unreachable: {clean(exc, 300)}") from exc
    except ValueError as exc:
        raise PlanError(str(exc)) from exc


# --------------------------------------------------------------------------- create


async def plan_silence(client: AlertmanagerClient, gate: WriteGate, alerts: Sequence[AlertRow],
                       *, hours: float = 1.0,
                       clock: Callable[[], float] = time.time) -> Plan:
    """One silence per distinct selected alert, each scoped and ending ``hours`` after it is
    sent. ``alerts`` is the selected row or every row of the selected group."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) \
            or not 0 < hours <= MAX_SILENCE_HOURS:
        raise PlanError(f"the silence duration must be more than 0 and at most "
                        f"{MAX_SILENCE_HOURS} hours, not {hours!r}")
    alerts = [a for a in alerts if a.alertname]
    if not alerts:
        raise PlanError("no alert with an alertname selected: nothing to silence")
    operator = gate.policy.operator
    live_by_name: dict[str, list[_LiveAlert]] = {}
    for name in sorted({a.alertname for a in alerts}):
        live_by_name[name] = await _live_alerts(client, name)
    silences = [s for s in await _silences(client) if s.state == "active"]

    seen: set[tuple[Matcher, ...]] = set()
    plan = Plan(title="")
    for row in alerts:
        live = next((x for x in live_by_name[row.alertname] if _same_alert(row, x)), None)
        labels = live.labels.items() if live is not None else row.labels
        found = matchers_for(labels)
        if found in seen:
            continue
        seen.add(found)
        what = describe_matchers(found)
        if live is None:
            plan.warnings.append(f"{what} is not in Alertmanager (yet): the silence will "
                                 "apply when it arrives")
        already = [s.id for s in silences if s.matchers == found]
        if already:
            plan.info.append(f"{what} already has an active silence of the same scope: "
                             f"{', '.join(clean(i, 64) for i in already)}")
        prior: dict[str, Any] = {"alert": {
            "fingerprint": live.fingerprint if live else "", "state": live.state if live
            else "not in Alertmanager", "silencedBy": live.silenced_by if live else [],
            "inhibitedBy": live.inhibited_by if live else []}}
        plan.writes.append(_create_write(client, found, hours, operator, clock, prior))
    count = len(plan.writes)
    if count > MAX_ALERTS:  # counted after merging the same alert seen by two sources
        raise PlanError(f"{count} distinct alerts selected: silence at most {MAX_ALERTS} at "
                        "once (select a smaller group, or silence it in Alertmanager)")
    plan.title = (f"Silence {plan.writes[0].request.target.name} for {hours:g}h" if count == 1
                  else f"Silence {count} alerts of {alerts[0].alertname} for {hours:g}h")
    plan.info.append(f"createdBy = {clean(operator, 120)}; comment = the reason you type "
                     "(change or incident id); the silence ends by itself")
    return await finish(gate, plan)


def _create_write(client: AlertmanagerClient, found: tuple[Matcher, ...], hours: float,
                  operator: str, clock: Callable[[], float],
                  prior: dict[str, Any]) -> PlannedWrite:
    matchers = [{"name": m.name, "value": m.value, "isRegex": False, "isEqual": True}
                for m in found]
    sent: dict[str, str] = {}

    def request(reason: str) -> WriteRequest:
        now = clock()
        body = {"matchers": matchers, "startsAt": _rfc3339(now),
                "endsAt": _rfc3339(now + hours * 3600), "createdBy": operator,
                "comment": reason}
        sent["comment"] = reason
        return WriteRequest(method="POST", path=SILENCES_PATH, verb="create",
                            body=json.dumps(body).encode(), target=_target(found))

    async def verify() -> tuple[bool, str]:
        """Read back: an active silence of exactly these matchers, by us, with our comment
        (Alertmanager answers 200 for a silence that starts in the future, too)."""
        try:
            listed = await _silences(client)
        except PlanError as exc:
            return False, str(exc)
        for silence in listed:
            if silence.matchers == found and silence.createdBy == operator \
                    and silence.comment == sent.get("comment") and silence.state == "active":
                return True, (f"silence {clean(silence.id, 64)} active until "
                              f"{clean(silence.endsAt, 40)}")
        return False, "no active silence with these matchers, createdBy and comment"

    return PlannedWrite(
        title=f"silence {describe_matchers(found)} for {hours:g}h",
        request=request("(the reason typed on the confirm screen)"), prior=prior,
        intent={"matchers": matchers, "hours": hours, "createdBy": operator},
        verify=verify, step=CREATE_STEP, with_reason=request)


# --------------------------------------------------------------------------- expire


async def _journal_ids(journal: Journal | None, context: str) -> set[str]:
    """Silence ids the journal says this control room created on ``context``."""
    if journal is None:
        return set()
    ids: set[str] = set()
    for entry in await journal.entries(context=context):
        if entry.step != CREATE_STEP or entry.status not in ("done", "verified"):
            continue
        result = entry.result if isinstance(entry.result, dict) else {}
        response = result.get("response")
        if isinstance(response, dict) and isinstance(response.get("silenceID"), str):
            ids.add(response["silenceID"])
    return ids


async def plan_expire(client: AlertmanagerClient, gate: WriteGate, journal: Journal | None,
                      alerts: Sequence[AlertRow]) -> Plan:
    """Expire the active silences the control room made for the selected alert(s).

    A silence qualifies when it is active, its matchers match the alert's labels, and either
    the journal records creating it or its ``createdBy`` is this operator (a journal on
    another machine). Silences of other people are listed, never expired from here.
    """
    alerts = [a for a in alerts if a.alertname]
    if not alerts:
        raise PlanError("no alert selected: nothing to expire")
    operator = gate.policy.operator
    ours = await _journal_ids(journal, gate.policy.context)
    live_by_name = {name: await _live_alerts(client, name)
                    for name in sorted({a.alertname for a in alerts})}
    active = [s for s in await _silences(client) if s.state == "active"]
    chosen: dict[str, Silence] = {}
    others: set[str] = set()
    for row in alerts:
        live = next((x for x in live_by_name[row.alertname] if _same_alert(row, x)), None)
        labels = list(live.labels.items()) if live is not None else list(row.labels)
        for silence in active:
            if not matches(silence.matchers, labels):
                continue
            if silence.id in ours or silence.createdBy == operator:
                chosen[silence.id] = silence
            else:
                others.add(f"{clean(silence.id, 64)} by {clean(silence.createdBy, 80)}")
    plan = Plan(title="")
    for silence in chosen.values():
        plan.writes.append(_expire_write(client, silence))
    names = sorted({a.alertname for a in alerts})
    plan.title = (f"Expire {len(plan.writes)} silence(s) of {clean(', '.join(names), 200)}"
                  if plan.writes else f"Expire silences of {clean(', '.join(names), 200)}")
    if not plan.writes:
        plan.info.append("no active silence made by the control room (journal) or by "
                         f"{clean(operator, 80)} matches the selected alert(s): nothing to do")
    if others:
        plan.info.append("silenced by others too (left alone): " + "; ".join(sorted(others)))
    return await finish(gate, plan)


def _expire_write(client: AlertmanagerClient, silence: Silence) -> PlannedWrite:
    path = silence_path(silence.id)

    async def verify() -> tuple[bool, str]:
        try:
            raw = await client.get_raw(path)
            state = json.loads(raw).get("status", {}).get("state", "")
        except (KubeError, ValueError, AttributeError) as exc:
            return False, f"could not read the silence back: {clean(exc, 200)}"
        return state == "expired", f"silence {clean(silence.id, 64)} is {clean(state, 32)}"

    req = WriteRequest(method="DELETE", path=path, verb="delete",
                       target=_target(silence.matchers))
    prior = {"silence": {"id": silence.id, "matchers": [
        {"name": m.name, "value": m.value, "isRegex": m.isRegex, "isEqual": m.isEqual}
        for m in silence.matchers], "startsAt": silence.startsAt, "endsAt": silence.endsAt,
        "createdBy": silence.createdBy, "comment": silence.comment, "state": silence.state}}
    return PlannedWrite(title=f"expire silence {clean(silence.id, 64)} "
                        f"({describe_matchers(silence.matchers)})",
                        request=req, prior=prior, intent={"expire": silence.id},
                        verify=verify, step=EXPIRE_STEP)

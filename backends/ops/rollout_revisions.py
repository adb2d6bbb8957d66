"""Evidence about a Deployment's rollout revisions: which ReplicaSet is bad, which is good.

The rule and where each piece of evidence comes from are in :mod:`backends.ops.revisions`;
this module reads the cluster (the Deployment and its ReplicaSets, their pods, the Warning
events of those pods) and the journal (our rollout undos) and turns what it finds into
:class:`~backends.ops.revisions.Evidence`. Reading is best effort: a list that cannot be read
(RBAC, an old server) becomes a note and less is known, never a refusal of the rollback, whose
own planner reads what it needs.

Events are matched to a ReplicaSet by the name of the pod they are about (``<replicaset>-
<suffix>``, what the ReplicaSet controller names its pods), because the pods of a ReplicaSet
that a rollback scaled to 0 are gone and only their events remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from backends.kube.decode import DecodeError, decode_list
from backends.kube.errors import KubeApiError, KubeError
from backends.model import EventRow, PodRow
from backends.ops.journal import Journal, JournalEntry
from backends.ops.plan import Reader
from backends.ops.revisions import Evidence, Knowledge, judge, stamp
from backends.ops.workloads import (
    Revision,
    label_selector,
    read_rollout,
    revision_of,
    revisions_of,
    same_template,
)
from backends.sanitize import clean

__all__ = ["FAILING_STATES", "UNDO_STEP", "rollout_evidence", "rollout_knowledge"]

FAILING_STATES: Final = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError", "InvalidImageName"})
"""Pod statuses (kubectl's STATUS column) of a revision that does not run."""
BAD_EVENT_REASONS: Final = frozenset({"BackOff", "Failed"})
"""Warning reasons of the kubelet for a container that crash-loops or cannot be pulled."""
UNDO_STEP: Final = "rollout-undo"
EVENT_LIMIT: Final = 500


async def _rows(conn: Reader, kind: str, path: str, params: dict[str, str],
                what: str, notes: list[str]) -> list[Any]:
    """The decoded rows of one list, or [] with a note saying why not."""
    try:
        page = decode_list(kind, await conn.get_raw(path, params))
    except KubeApiError as exc:
        notes.append(f"could not list {what} ({exc.status} {clean(exc.reason, 80)}): "
                     "not checked")
        return []
    except (KubeError, DecodeError) as exc:
        notes.append(f"could not list {what} ({clean(exc, 200)}): not checked")
        return []
    if page.continue_token:
        notes.append(f"only the first {len(page.rows)} {what} were read")
    return list(page.rows)


def _pod_evidence(number: int, uid: str, pods: Sequence[PodRow]) -> list[Evidence]:
    return [Evidence(str(number), "bad", f"its pod {p.name} is {p.status}"
                     + (f" (restarts {p.restarts})" if p.restarts else ""), live=True)
            for p in pods if p.owner_uid == uid and p.status in FAILING_STATES]


def _event_evidence(number: int, rs_name: str, events: Sequence[EventRow]) -> list[Evidence]:
    out = []
    for e in events:
        if e.type == "Warning" and e.object_kind == "Pod" and e.reason in BAD_EVENT_REASONS \
                and e.object_name.rpartition("-")[0] == rs_name:
            when = f", last {stamp(e.last_seen)}" if e.last_seen else ""
            out.append(Evidence(str(number), "bad",
                                f"{e.reason} x{e.count} on its pod {e.object_name}{when}"))
    return out


def _deadline_evidence(deploy: Mapping[str, Any], number: int, rs_name: str) -> list[Evidence]:
    for cond in (deploy.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == \
                "ProgressDeadlineExceeded" and f'"{rs_name}"' in str(cond.get("message", "")):
            return [Evidence(str(number), "bad", "it exceeded the rollout's progress deadline "
                                                 "(never became available)", live=True)]
    return []


def _available_evidence(rs: Mapping[str, Any], number: int) -> list[Evidence]:
    want = int((rs.get("spec") or {}).get("replicas") or 0)
    status = rs.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if want > 0 and min(ready, available) >= want:
        return [Evidence(str(number), "good", f"all {want} replicas available", live=True)]
    return []


def _journal_evidence(entries: Sequence[JournalEntry], replicasets: Sequence[dict[str, Any]]
                      ) -> list[Evidence]:
    """Our rollout undos: the template each one moved away from is bad."""
    out = []
    for entry in entries:
        if entry.step != UNDO_STEP or not entry.may_have_applied \
                or not isinstance(entry.prior, dict):
            continue
        left = entry.prior.get("template")
        for rs in replicasets:
            number = revision_of(rs)
            if number is not None and same_template((rs.get("spec") or {}).get("template"),
                                                    left):
                said = clean("; ".join(x for x in (entry.operator, entry.reason, "journal")
                                   if x), 300)
                out.append(Evidence(str(number), "bad", f"rolled back away from it at "
                                                        f"{stamp(entry.ts)} ({said})"))
    return out


async def rollout_evidence(conn: Reader, deploy: Mapping[str, Any],
                           replicasets: Sequence[dict[str, Any]],
                           entries: Sequence[JournalEntry] = ()
                           ) -> tuple[list[Evidence], list[str]]:
    """Everything known about each owned ReplicaSet (module doc), and notes on what could
    not be read."""
    meta, spec = deploy.get("metadata") or {}, deploy.get("spec") or {}
    ns = str(meta.get("namespace", ""))
    notes: list[str] = []
    base = f"/api/v1/namespaces/{quote(ns, safe='')}"
    pods = await _rows(conn, "pods", f"{base}/pods",
                       {"labelSelector": label_selector(spec.get("selector") or {})},
                       f"pods in {ns}", notes)
    events = await _rows(conn, "events", f"{base}/events",
                         {"fieldSelector": "involvedObject.kind=Pod,type=Warning",
                          "limit": str(EVENT_LIMIT)}, f"Warning events in {ns}", notes)
    evidence: list[Evidence] = []
    for rs in replicasets:
        number = revision_of(rs)
        rs_meta = rs.get("metadata") or {}
        if number is None:
            continue
        rs_name, uid = str(rs_meta.get("name", "")), str(rs_meta.get("uid", ""))
        evidence += _pod_evidence(number, uid, pods)
        evidence += _event_evidence(number, rs_name, events)
        evidence += _deadline_evidence(deploy, number, rs_name)
        evidence += _available_evidence(rs, number)
    evidence += _journal_evidence(entries, replicasets)
    return evidence, notes


async def rollout_knowledge(conn: Reader, ns: str, name: str, journal: Journal | None = None,
                            context: str = "") -> tuple[list[Revision], Knowledge]:
    """The Deployment's revisions (oldest first) and what is known about each."""
    deploy, replicasets = await read_rollout(conn, ns, name)
    revisions = revisions_of(replicasets)
    entries: list[JournalEntry] = []
    if journal is not None:
        entries = [e for e in await journal.entries(context=context or None)
                   if (e.kind, e.namespace, e.name) == ("Deployment", ns, name)]
    evidence, notes = await rollout_evidence(conn, deploy, replicasets, entries)
    current = str(revisions[-1].number) if revisions else ""
    return revisions, judge("revision", [str(r.number) for r in revisions], current, evidence,
                            notes)

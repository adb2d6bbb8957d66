"""The cluster carries the breaker's state (issue 14, point 11): every changed object's mark
holds its prior state and who engaged it when, so an operator with another (empty) journal
sees the breaker and releases it exactly; a malformed mark is reported and never restored
from; a second operator engaging joins the first breaker and never captures its emergency
state as a "prior"."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.ops.breaker import (
    BREAKER_ANNOTATION,
    BreakerConfig,
    RouteShift,
    breaker_status,
    combined_state,
    engage,
    live_state,
    plan_engage,
    plan_release,
    release,
    scan,
)
from backends.ops.breaker_mark import MAX_MARK_BYTES, MarkError, decode_mark, mark_value
from backends.ops.journal import Journal
from backends.usecases import breaker as breaker_uc
from backends.usecases import breaker as usecase
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import (
    APPS,
    CONFIRM,
    CTX,
    DEPLOY,
    REASON,
    ROUTES,
    gate_for,
    replicas,
    sim_poll,
    started,
    writes_seen,
)
from tests.usecase_support import workspace

CONFIG = BreakerConfig(apps=["payments"],
                       deployments=["checkout/checkout-canary", "payments/payments"],
                       routes=[RouteShift(route="checkout/checkout",
                                          weights={"checkout-stable": 100,
                                                   "checkout-canary": 0})],
                       # payments/payments is its route's only backend: dark on purpose here
                       allow_no_backend=["payments/payments"])
OBJECTS = [(APPS, "argocd", "checkout"), (APPS, "argocd", "payments"),
           (ROUTES, "checkout", "checkout"), (DEPLOY, "checkout", "checkout-canary"),
           (DEPLOY, "payments", "payments")]
"""Every object CONFIG changes (checkout's app is frozen too: it tracks the route)."""


@pytest.fixture
async def journal_b(tmp_path: Path) -> AsyncIterator[Journal]:
    """Another operator's journal: a state dir that has never seen the breaker."""
    j = await Journal.open(tmp_path / "other-state" / "journal.sqlite3")
    try:
        yield j
    finally:
        await j.close()


def objects(cluster: DrillCluster) -> dict[str, Any]:
    """Spec and annotations of every object the breaker changes (what must come back)."""
    out = {}
    for rt, ns, name in OBJECTS:
        obj = cluster.state.get(rt, ns, name)
        out[f"{rt.kind} {ns}/{name}"] = copy.deepcopy(
            {"spec": obj["spec"], "annotations": obj["metadata"].get("annotations") or {}})
    return out


def mark_on(cluster: DrillCluster, rt: Any, ns: str, name: str) -> dict[str, Any]:
    text = (cluster.state.get(rt, ns, name)["metadata"].get("annotations") or {})[
        BREAKER_ANNOTATION]
    value: dict[str, Any] = json.loads(text)
    return value


def annotate(cluster: DrillCluster, rt: Any, ns: str, name: str, value: str) -> None:
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("annotations", {})[BREAKER_ANNOTATION] = value
        return obj

    cluster.state.mutate(rt, ns, name, edit)


async def _conn(cluster: DrillCluster) -> KubeConnection:
    return await connect(str(cluster.kubeconfig), None)


async def test_an_empty_journal_sees_the_breaker_on_the_objects_and_releases_it_exactly(
        calm: DrillCluster, journal: Journal, journal_b: Journal) -> None:
    before = objects(calm)
    async with await _conn(calm) as conn:
        gate_a = gate_for(conn, journal)
        poll = sim_poll(calm)
        plan = await plan_engage(conn, gate_a, None, CONFIG, poll=poll)
        engaged = await engage(gate_a, plan, reason=REASON, confirm=CONFIRM, operator="alice")
        assert engaged.ok, engaged.summary()
        op = engaged.operation_id

        # Every object carries its prior state, the emergency state, who and when.
        for rt, ns, name in OBJECTS:
            mark = mark_on(calm, rt, ns, name)
            assert (mark["operation"], mark["by"], mark["targets"]) == (op, "alice", 5)
            assert mark["since"].endswith("Z") and mark["phase"]
        assert mark_on(calm, DEPLOY, "payments", "payments")["prior"] == {"replicas": 2}
        assert mark_on(calm, DEPLOY, "payments", "payments")["intent"] == {"replicas": 0}
        assert mark_on(calm, APPS, "argocd", "payments")["prior"]["automated"] == \
            before["Application argocd/payments"]["spec"]["syncPolicy"]["automated"]
        route_prior = mark_on(calm, ROUTES, "checkout", "checkout")["prior"]["rules"]
        assert route_prior == [{"index": 0, "backendRefs": before[
            "HTTPRoute checkout/checkout"]["spec"]["rules"][0]["backendRefs"]}]

        # Operator B, whose journal has never seen it: the cluster says engaged.
        assert not (await breaker_status(journal_b, CTX)).engaged  # the journal alone
        marks = await scan(conn)
        assert marks.malformed == () and marks.errors == ()
        state = combined_state(await journal_b.open_operations(CTX), marks)
        assert state.engaged and state.operation_id == op and state.source == "cluster"
        assert state.by == "alice" and len(state.targets) == 5
        live = await live_state(conn, state)
        assert [t.state for t in live.targets] == ["engaged"] * 5
        assert live.headline().startswith(f"BREAKER ENGAGED 5/5 ({op}) by alice since ")
        assert "marks on 5 object(s) of 5, not in this journal" in live.headline()

        gate_b = gate_for(conn, journal_b)
        preview = await plan_release(conn, gate_b, journal_b, CTX, poll=poll)
        assert preview.refusals == [] and len(preview.as_plan().writes) == 7
        done = await release(gate_b, journal_b, conn, CTX, reason=REASON, confirm=CONFIRM,
                             poll=poll)
        assert done.ok and done.released, done.summary()
        assert objects(calm) == before  # every object exactly as before the breaker

        # A's journal still says engaged; the objects say released, and A's release
        # only marks the journal (nothing is sent).
        live_a = await live_state(conn, combined_state(await journal.open_operations(CTX),
                                                       await scan(conn)))
        assert live_a.headline().startswith("breaker released (journal not yet updated)")
        calm.server.record_requests = True
        again = await release(gate_a, journal, conn, CTX, reason=REASON, confirm=CONFIRM)
        assert again.ok and again.released and writes_seen(calm) == []
    assert not (await breaker_status(journal, CTX)).engaged
    assert objects(calm) == before


@pytest.mark.parametrize(("value", "problem"), [
    ("{not json", "not JSON"),
    ('{"operation": "breaker-abc"}' + " " * MAX_MARK_BYTES, "longer than"),
    ('{"operation": "rm -rf", "by": "x"}', "is not a breaker's id"),
    ('{"operation": "breaker-abc", "by": 7}', "not a breaker mark"),
    ('{"operation": "breaker-abc", "phase": "freeze", "prior": {"automated": null}}',
     "a freeze mark on a Deployment"),
    ('{"operation": "breaker-abc", "phase": "scale", "prior": {"replicas": 1e20}}',
     "not a scale prior"),
    ('{"operation": "breaker-abc", "phase": "scale", "prior": {"replicas": -5}}',
     "not within 0..2147483647"),
    ('{"operation": "breaker-abc", "phase": "scale", "prior": {"replicas": true}}',
     "not a scale prior"),
    ('{"operation": "breaker-abc", "since": "yesterday\\u001b[2J"}', "is not a time"),
])
async def test_a_malformed_mark_is_reported_and_never_restored_from(
        calm: DrillCluster, journal_b: Journal, value: str, problem: str) -> None:
    """Annotations are anybody's text: a mark that fails its schema is listed with why
    (sanitized), status stays "off", and release sends nothing to the object."""
    annotate(calm, DEPLOY, "payments", "payments", value)
    with pytest.raises(MarkError, match=problem):
        decode_mark(value, "Deployment")
    async with await _conn(calm) as conn:
        marks = await scan(conn)
        assert marks.found == ()
        assert [(f.kind, f.namespace, f.name) for f in marks.malformed] == [
            ("Deployment", "payments", "payments")]
        assert problem in marks.malformed[0].problem
        state = combined_state([], marks)
        assert not state.engaged
        assert state.notes and "not trusted, not restored from" in state.notes[0]
        assert all("\x1b" not in n for n in state.notes)
        calm.server.record_requests = True
        done = await release(gate_for(conn, journal_b), journal_b, conn, CTX, reason=REASON,
                             confirm=CONFIRM)
        assert not done.started and writes_seen(calm) == []
        assert any("Deployment payments/payments" in w for w in done.warnings)
    assert replicas(calm, "payments", "payments") == 2


def test_a_prior_too_large_for_the_annotation_is_left_to_the_journal() -> None:
    huge = {"rules": [{"index": 0, "backendRefs": [{"name": "b" * 100}] * 400}]}
    text = mark_value("breaker-0123abcd", "alice", "2025-06-02T09:30:00Z", phase="shift",
                      prior=huge, intent={}, targets=1)
    mark = decode_mark(text, "HTTPRoute")
    assert len(text) <= MAX_MARK_BYTES and mark.phase == "shift" and not mark.restorable


async def test_a_second_operator_joins_the_engaged_breaker_and_never_doubles(
        calm: DrillCluster, journal: Journal, journal_b: Journal) -> None:
    """Both plan before either engages (each sees no breaker); A engages; B's engage reads
    the cluster right before its first write, finds A's marks on every target and sends
    nothing. Then payments drifts back to 1 replica (a colleague) while still marked, and B
    engages payments and catalog: payments is left to A's breaker (B would otherwise record
    1 as its "prior"), catalog is engaged under A's operation id. One release from B's
    journal puts everything back to the state before A."""
    before = objects(calm)
    config = BreakerConfig(deployments=["payments/payments"],
                           allow_no_backend=["payments/payments"])
    async with await _conn(calm) as conn:
        gate_a, gate_b = gate_for(conn, journal), gate_for(conn, journal_b)
        poll = sim_poll(calm)
        plan_a = await plan_engage(conn, gate_a, None, config, poll=poll)
        plan_b = await plan_engage(conn, gate_b, None, config, poll=poll)
        first = await engage(gate_a, plan_a, reason=REASON, confirm=CONFIRM, operator="alice")
        assert first.ok, first.summary()
        calm.server.record_requests = True
        second = await engage(gate_b, plan_b, reason=REASON, confirm=CONFIRM, operator="bob")
        assert second.ok and not second.started, second.summary()
        assert writes_seen(calm) == [] and await journal_b.entries() == []
        assert second.operation_id == first.operation_id
        assert all("held by breaker " + first.operation_id in o.detail
                   for o in second.outcomes)
        ws_b, _recorder = workspace(conn, journal_b)  # planning now shows it before engaging
        shown = (await breaker_uc.plan_engage(ws_b, config)).plan.describe()
        assert f"carries the mark of breaker {first.operation_id} (by alice" in shown

        def by_hand(deploy: dict[str, Any]) -> dict[str, Any]:
            deploy["spec"]["replicas"] = 1
            return deploy

        calm.state.mutate(DEPLOY, "payments", "payments", by_hand)
        both = BreakerConfig(deployments=["payments/payments", "catalog/catalog"],
                             allow_no_backend=["payments/payments", "catalog/catalog"])
        plan_c = await plan_engage(conn, gate_b, None, both, poll=poll)
        assert [t.key for t in plan_c.targets] == [  # payments' app is frozen already
            "freeze:argocd/catalog", "scale:payments/payments", "scale:catalog/catalog"]
        catalog_before = replicas(calm, "catalog", "catalog")
        joined = await engage(gate_b, plan_c, reason=REASON, confirm=CONFIRM, operator="bob")
        assert joined.ok and joined.operation_id == first.operation_id, joined.summary()
        states = {o.key: o.state for o in joined.outcomes}
        assert states["scale:payments/payments"] == "nothing-to-do"
        assert states["scale:catalog/catalog"] == "done"
        assert any("joined breaker" in w for w in joined.warnings)
        assert mark_on(calm, DEPLOY, "payments", "payments")["by"] == "alice"  # untouched
        assert mark_on(calm, DEPLOY, "catalog", "catalog")["operation"] == first.operation_id
        assert not any(e.kind == "Deployment" and e.name == "payments"
                       for e in await journal_b.entries())

        # One breaker in the cluster, known to A's journal and, for catalog, only its mark.
        state = combined_state(await journal.open_operations(CTX), await scan(conn))
        assert state.others == () and state.source == "journal+cluster"
        assert {t.key for t in state.targets} >= {"scale:payments/payments",
                                                   "scale:catalog/catalog"}
        done = await release(gate_b, journal_b, conn, CTX, reason=REASON, confirm=CONFIRM,
                             poll=poll)
        assert done.ok, done.summary()
    assert replicas(calm, "payments", "payments") == 2  # A's prior, not the drifted 1
    assert replicas(calm, "catalog", "catalog") == catalog_before
    assert objects(calm) == before


async def test_a_paused_rollout_is_released_exactly_from_its_mark_alone(
        tmp_path: Path, journal: Journal, journal_b: Journal) -> None:
    """The proposal on bad-rollout pauses checkout-stable's rollout (the traffic-aware
    breaker); operator B, whose journal never saw it, releases it from the marks: spec.paused
    goes back to what it was (absent), every object as before."""
    cluster = await started(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                         scenario="bad-rollout", manual_clock=True,
                                         bookmark_interval=0.2))
    cluster.sim.advance(60)
    stable = (DEPLOY, "checkout", "checkout-stable")
    try:
        before = copy.deepcopy(cluster.state.get(*stable)["spec"])
        async with await _conn(cluster) as conn:
            ws_a, _ = workspace(conn, journal)
            poll = sim_poll(cluster)
            action = await usecase.plan_engage(ws_a, poll=poll)  # proposed from the cluster
            assert "pause:checkout/checkout-stable" in [t.key for t in action.plan.included()]
            assert (await usecase.engage(ws_a, action, reason=REASON, confirm=CONFIRM)).ok
            assert cluster.state.get(*stable)["spec"]["paused"] is True
            mark = mark_on(cluster, *stable)
            assert (mark["phase"], mark["prior"], mark["intent"]) == (
                "pause", {"paused": before.get("paused")}, {"paused": True})
            done = await release(gate_for(conn, journal_b), journal_b, conn, CTX,
                                 reason=REASON, confirm=CONFIRM, poll=poll)
            assert done.ok and done.released, done.summary()
        after = cluster.state.get(*stable)
        assert after["spec"].get("paused") == before.get("paused")
        assert BREAKER_ANNOTATION not in (after["metadata"].get("annotations") or {})
    finally:
        await cluster.stop()


async def test_a_scan_says_each_cause_once_naming_the_kinds_it_stopped() -> None:
    """With the API server down, the three kinds fail alike: the header said the same
    connection error with each kind's URL three times (seven lines at 120 columns). One
    line per cause, naming the kinds; a different cause for one kind stays its own line."""
    from backends.kube.errors import KubeApiError, KubeUnreachable
    from backends.ops.breaker import cluster as breaker_cluster

    class Down:
        async def get_raw(self, path: str, params: object = None) -> bytes:
            raise KubeUnreachable(f"GET https://10.0.0.1:6443{path}: connection refused") \
                from ConnectionRefusedError(111, "Connection refused")  # as aiohttp's chain

    class RoutesForbidden:
        async def get_raw(self, path: str, params: object = None) -> bytes:
            if "httproutes" in path:
                raise KubeApiError(403, "Forbidden", "httproutes is forbidden")
            raise KubeUnreachable(f"GET https://10.0.0.1:6443{path}: connection refused") \
                from ConnectionRefusedError(111, "Connection refused")

    down = await breaker_cluster.scan(Down())
    assert len(down.errors) == 1, down.errors
    (line,) = down.errors
    assert line.endswith("for breaker marks: api server unreachable: connection refused"), line
    for kind in ("Applications", "Deployments", "HTTPRoutes"):
        assert kind in line
    assert "/apis/" not in line  # the cause, not each kind's URL
    mixed = await breaker_cluster.scan(RoutesForbidden())
    assert len(mixed.errors) == 2, mixed.errors
    assert any(e == "could not list HTTPRoutes for breaker marks: 403 Forbidden: httproutes "
               "is forbidden" for e in mixed.errors)

"""The drill's ``GET /api/v1/namespaces/NS/pods/NAME/log``: the API's parameters, the
kubelet's choice of container instance and its errors, follow streaming, and what the
scenarios' broken containers say (a traceback and exit code 1; OOMKilled 137 with no last
words).

Each drill runs on a manual clock: scenario time moves only when a test advances it, so a
follow stream's new lines are waited for as lines, never slept for.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.kube.decode import decode_object
from backends.model import PodRow
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import START
from tests.waiting import await_until

PODS = BY_KEY["pods"]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[DrillCluster, httpx.AsyncClient]] = []

    async def build(scenario: str = "calm", policy: Policy | None = None
                    ) -> tuple[DrillCluster, httpx.AsyncClient]:
        cluster = DrillCluster(DrillOptions(
            kubeconfig=tmp_path / f"{scenario}-{len(made)}.kubeconfig", scenario=scenario,
            manual_clock=True, bookmark_interval=0.2, start=START,
            policy=policy or Policy()))
        await cluster.start()
        http = httpx.AsyncClient(base_url=cluster.server.url, timeout=10)
        made.append((cluster, http))
        return cluster, http

    try:
        yield build
    finally:
        for cluster, http in made:
            await http.aclose()
            await cluster.stop()


def log_path(ns: str, pod: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods/{pod}/log"


def first_pod(c: DrillCluster, ns: str, prefix: str = "") -> dict[str, Any]:
    pods = sorted((p for p in c.state.objects(PODS, ns)
                   if p["metadata"]["name"].startswith(prefix)),
                  key=lambda p: p["metadata"]["name"])
    assert pods, f"no pod {prefix}* in {ns}"
    return pods[0]


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = pod.get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def advance_until(c: DrillCluster, check: Callable[[], Any], what: str,
                  limit: float = 300.0, step: float = 1.0) -> Any:
    """Advance scenario time a step at a time until ``check()`` holds."""
    spent = 0.0
    while spent <= limit:
        found = check()
        if found:
            return found
        c.sim.advance(step)
        spent += step
    raise AssertionError(f"{what}: not within {limit:g} scenario seconds")


def crashed_pod(c: DrillCluster, ns: str, image_part: str, *, restarts: int = 1
                ) -> dict[str, Any] | None:
    """A pod of ``ns`` whose container runs ``image_part`` and has restarted."""
    for pod in c.state.objects(PODS, ns):
        cs = container_status(pod)
        if str(cs.get("image")).endswith(image_part) and cs.get("restartCount", 0) >= restarts:
            return pod
    return None


def stamps(text: str) -> list[datetime]:
    return [datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
            for line in text.splitlines()]


async def test_tail_since_timestamps_and_limit_bytes_are_the_apis(make: Any) -> None:
    c, http = await make()
    c.sim.advance(60)
    pod = first_pod(c, "catalog")["metadata"]["name"]
    path = log_path("catalog", pod)

    r = await http.get(path, params={"tailLines": "3"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert len(r.text.splitlines()) == 3 and not STAMP.match(r.text)

    r = await http.get(path, params={"tailLines": "4", "timestamps": "true"})
    lines = r.text.splitlines()
    assert len(lines) == 4 and all(STAMP.match(line) for line in lines)
    times = stamps(r.text)
    assert times == sorted(times)
    # the same four lines, with and without their timestamps
    plain = (await http.get(path, params={"tailLines": "4"})).text.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == plain

    now = c.clock.now()
    r = await http.get(path, params={"sinceSeconds": "12", "timestamps": "true"})
    within = stamps(r.text)
    assert within and all(t >= now - timedelta(seconds=12) for t in within)
    assert len(within) < len(stamps((await http.get(path, params={
        "sinceSeconds": "60", "timestamps": "true"})).text))
    since_time = (now - timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = await http.get(path, params={"sinceTime": since_time, "timestamps": "true"})
    assert stamps(r.text) == within

    r = await http.get(path, params={"limitBytes": "50"})
    assert len(r.content) == 50

    r = await http.get(path, params={"tailLines": "0"})
    assert r.status_code == 200 and r.text == ""


@pytest.mark.parametrize(("params", "code", "words"), [
    ({"tailLines": "-1"}, 422, "tailLines: Invalid value: -1: must be greater than or equal "
                               "to 0"),
    ({"sinceSeconds": "0"}, 422, "sinceSeconds: Invalid value: 0: must be greater than 0"),
    ({"sinceSeconds": "10", "sinceTime": "2025-06-02T09:30:00Z"}, 422,
     "at most one of `sinceTime` or `sinceSeconds` may be specified"),
    ({"limitBytes": "0"}, 422, "limitBytes: Invalid value: 0: must be greater than 0"),
    ({"tailLines": "ten"}, 400, 'parsing "ten": invalid syntax'),
    ({"container": "nope"}, 400, "container nope is not valid for pod"),
    ({"previous": "true"}, 400, 'previous terminated container "catalog" in pod'),
])
async def test_bad_parameters_get_the_apiservers_answer(make: Any, params: dict[str, str],
                                                        code: int, words: str) -> None:
    c, http = await make()
    pod = first_pod(c, "catalog")["metadata"]["name"]
    r = await http.get(log_path("catalog", pod), params=params)
    assert r.status_code == code, r.text
    status = r.json()
    assert status["kind"] == "Status" and words in status["message"]


async def test_a_container_must_be_named_when_a_pod_has_two(make: Any) -> None:
    c, http = await make()
    template = first_pod(c, "catalog")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "two", "namespace": "catalog"},
           "spec": {"nodeName": template["spec"]["nodeName"], "containers": [
               {"name": "app", "image": "ghcr.io/drill/catalog:0.9.4"},
               {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}]}}
    c.state.create(PODS, pod, namespace="catalog")
    r = await http.get(log_path("catalog", "two"))
    assert r.status_code == 400
    assert r.json()["message"] == ("a container name must be specified for pod two, choose one "
                                   "of: [app proxy]")
    c.sim.advance(1)  # created, not started: the kubelet's words
    r = await http.get(log_path("catalog", "two"), params={"container": "proxy"})
    assert r.status_code == 400 and "is waiting to start: ContainerCreating" in r.json()["message"]
    c.sim.advance(10)
    r = await http.get(log_path("catalog", "two"), params={"container": "proxy"})
    assert r.status_code == 200 and 'msg="starting proxy v1.31.0"' in r.text


async def test_bad_rollout_crash_logs_a_traceback_and_exits_1(make: Any) -> None:
    c, http = await make("bad-rollout")
    pod = advance_until(c, lambda: crashed_pod(c, "checkout", "checkout:1.5.0"),
                        "a 1.5.0 pod that crashed")
    name = pod["metadata"]["name"]
    last = container_status(pod)["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("Error", 1)
    previous = await http.get(log_path("checkout", name), params={"previous": "true"})
    assert previous.status_code == 200
    text = previous.text
    assert "Traceback (most recent call last):" in text
    assert text.rstrip().endswith("checkout.settings.SettingMissing: required setting "
                                  "TAX_SERVICE_URL is not set (new in 1.5.0)")
    # crash-looping (waiting): the current log is the instance that crashed, as the kubelet has it
    current = await http.get(log_path("checkout", name))
    assert current.text == text
    # the row the control room keeps says why it crashed
    row = decode_object("pods", c.state.entry(PODS, "checkout", name).raw)
    assert isinstance(row, PodRow) and row.status == "CrashLoopBackOff"
    info = row.containers[0]
    assert (info.state, info.reason, info.last_reason, info.last_exit_code) == (
        "waiting", "CrashLoopBackOff", "Error", 1)
    assert info.restarts >= 1 and info.last_finished is not None


async def test_oom_scenario_is_oomkilled_137_without_last_words(make: Any) -> None:
    c, http = await make("oom")
    pod = advance_until(c, lambda: crashed_pod(c, "ai-ml", "mlflow:v3.4.0"),
                        "an MLflow v3.4.0 pod that was OOMKilled")
    last = container_status(pod)["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
    r = await http.get(log_path("ai-ml", pod["metadata"]["name"]), params={"previous": "true"})
    lines = r.text.splitlines()
    assert "Traceback" not in r.text
    rss = [int(m.group(1)) for line in lines if (m := re.search(r"rss_mib=(\d+)", line))]
    assert len(rss) >= 5 and rss == sorted(rss) and rss[-1] > 0.9 * 1024  # up to the limit
    row = decode_object("pods", c.state.entry(PODS, "ai-ml", pod["metadata"]["name"]).raw)
    assert isinstance(row, PodRow)
    assert (row.containers[0].last_reason, row.containers[0].last_exit_code) == (
        "OOMKilled", 137)


async def next_line(lines: AsyncIterator[str]) -> str:
    return await asyncio.wait_for(anext(lines), timeout=30)


async def test_follow_streams_new_lines_and_ends_when_the_client_closes(make: Any) -> None:
    c, http = await make()
    c.sim.advance(30)
    pod = first_pod(c, "catalog")["metadata"]["name"]
    params = {"follow": "true", "tailLines": "2", "timestamps": "true"}
    async with http.stream("GET", log_path("catalog", pod), params=params) as r:
        assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
        lines = r.aiter_lines()
        first = [await next_line(lines), await next_line(lines)]
        c.sim.advance(10)  # two more request lines (one every 5 s)
        more = [await next_line(lines), await next_line(lines)]
        assert stamps("\n".join(first + more)) == sorted(stamps("\n".join(first + more)))
        assert stamps(more[-1])[0] <= c.clock.now()
        assert c.server._watches  # noqa: SLF001 - the follow is a live stream on the server
    await await_until(lambda: not c.server._watches,  # noqa: SLF001
                      "the server to end the follow once the client closed it")


async def test_follow_ends_when_the_container_crashes(make: Any) -> None:
    c, http = await make("bad-rollout")

    def running_bad() -> dict[str, Any] | None:
        for pod in c.state.objects(PODS, "checkout"):
            cs = container_status(pod)
            if str(cs.get("image")).endswith("checkout:1.5.0") and "running" in cs.get("state", {}):
                return pod
        return None

    pod = advance_until(c, running_bad, "a 1.5.0 container running", step=0.5)
    async with http.stream("GET", log_path("checkout", pod["metadata"]["name"]),
                           params={"follow": "true"}) as r:
        c.sim.advance(5)  # it crashes: the traceback comes, then the stream ends cleanly
        text = (await asyncio.wait_for(r.aread(), timeout=30)).decode()
    assert "Traceback (most recent call last):" in text
    assert text.rstrip().endswith("(new in 1.5.0)")


async def test_follow_breaks_off_when_the_nodes_kubelet_dies(make: Any) -> None:
    c, http = await make()
    pod = first_pod(c, "catalog")
    path = log_path("catalog", pod["metadata"]["name"])
    async with http.stream("GET", path, params={"follow": "true", "tailLines": "1"}) as r:
        lines = r.aiter_lines()
        await next_line(lines)
        c.config.down_nodes.add(pod["spec"]["nodeName"])
        with pytest.raises(httpx.TransportError):  # no clean end: the body is cut off
            await asyncio.wait_for(anext(lines), timeout=30)
    r = await http.get(path)
    assert r.status_code == 500 and "10250/containerLogs/catalog/" in r.json()["message"]


async def test_a_forbidden_log_read_is_403(make: Any) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["get"], "resources": ["pods/log"],
                                          "allow": False}]})
    c, http = await make(policy=policy)
    pod = first_pod(c, "catalog")["metadata"]["name"]
    r = await http.get(log_path("catalog", pod))
    assert r.status_code == 403 and "cannot get resource \"pods/log\"" in r.json()["message"]
    assert (await http.get(f"/api/v1/namespaces/catalog/pods/{pod}")).status_code == 200


async def test_the_web_frontend_logs_escapes_and_markup_as_real_apps_do(make: Any) -> None:
    """The drill's logs are untrusted text on purpose: coloured levels and a hostile
    User-Agent (markup and an OSC 52 clipboard write) reach every client raw."""
    c, http = await make()
    c.sim.advance(60)
    pod = first_pod(c, "frontend", "web")["metadata"]["name"]
    text = (await http.get(log_path("frontend", pod), params={"tailLines": "200"})).text
    assert "\x1b[32minfo\x1b[39m" in text
    assert "[bold red]pwned[/] \x1b]52;c;" in text

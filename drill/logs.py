"""Container logs of the drill cluster: ``GET /api/v1/namespaces/NS/pods/NAME/log``.

A real API server validates the request, picks the container and asks the node's kubelet,
which reads the container's log file; the drill answers the same questions from the pod's
status, so ``kubectl logs``, ``kubectl logs -f``, ``kubectl logs --previous`` and the control
room's log screen meet the answers they would meet on a cluster:

- parameters ``container``, ``follow``, ``previous``, ``timestamps``, ``tailLines``,
  ``sinceSeconds``, ``sinceTime`` and ``limitBytes``, validated with the apiserver's words
  (422 for a negative ``tailLines``, both ``since`` forms at once...; 400 for a missing or
  unknown container);
- which container instance is read follows the kubelet (``validateContainerLogStatus``): the
  running one, else the one that last terminated; ``previous=true`` reads
  ``lastState.terminated`` and is a 400 ``previous terminated container "c" in pod "p" not
  found`` without one; a container that never started is "waiting to start";
- ``follow=true`` streams (chunked) what the container writes as scenario time passes and ends
  when that container instance stops (kubectl then returns); a pod whose node's kubelet is
  down answers 500 with the dial error, and a follow stream on it breaks off mid-stream
  (no clean end), as a real one does when the node goes away.

What the containers write is a pure function of the pod, its container status and the
scenario clock, so a replay gives the same lines. A healthy container logs its start and then
one request line every :data:`PERIOD` seconds; an image the scenario breaks logs its start and
then its last words: a Python traceback and exit code 1 (``bad_images``), or rising memory
until the kernel kills it with no last words at all (``oom_images``, OOMKilled 137). The web
frontend colours its levels with ANSI escapes and now and then logs a hostile User-Agent
(markup and an OSC 52 clipboard write): log text is untrusted, and the drill says so.
Like a kubelet's rotated log file, only the last :data:`ROTATED` lines of an instance remain.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from drill import errors
from drill.controllers.config import SimConfig
from drill.resources import BY_KEY
from drill.state import ClusterState, Obj

__all__ = ["PERIOD", "ROTATED", "DrillLogs", "LogOptions", "stamp"]

PERIOD: Final = 5.0
"""Scenario seconds between two request lines of a healthy container."""
ROTATED: Final = 2000
"""Lines of one container instance kept, like a kubelet's current (rotated) log file."""
FOLLOW_POLL: Final = 0.1
"""Real seconds between two looks at the scenario clock while following."""
_OOM_PERIOD: Final = 0.5
_TRUE = ("true", "1")

Line = tuple[datetime, str]


def stamp(moment: datetime) -> str:
    """The kubelet's ``timestamps=true`` prefix: RFC 3339 with nine fractional digits, UTC."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class LogOptions:
    """``PodLogOptions`` from the query string, validated like the apiserver does."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: datetime | None = None
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, q: Any, pod_name: str) -> LogOptions:
        def number(name: str) -> int | None:
            raw = q.get(name)
            if raw is None or raw == "":
                return None
            try:
                return int(raw)
            except ValueError:
                raise errors.bad_request(
                    f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None

        since_time = None
        if q.get("sinceTime"):
            since_time = _parse_time(q["sinceTime"])
            if since_time is None:
                raise errors.bad_request(
                    f'parsing time "{q["sinceTime"]}" as "2006-01-02T15:04:05Z07:00": cannot '
                    "parse it as RFC 3339")
        opts = cls(container=q.get("container", ""),
                   follow=q.get("follow", "") in _TRUE, previous=q.get("previous", "") in _TRUE,
                   timestamps=q.get("timestamps", "") in _TRUE, tail_lines=number("tailLines"),
                   since_seconds=number("sinceSeconds"), since_time=since_time,
                   limit_bytes=number("limitBytes"))
        causes: list[tuple[str, str]] = []
        if opts.tail_lines is not None and opts.tail_lines < 0:
            causes.append(("tailLines", f"Invalid value: {opts.tail_lines}: must be greater "
                                        "than or equal to 0"))
        if opts.limit_bytes is not None and opts.limit_bytes < 1:
            causes.append(("limitBytes", f"Invalid value: {opts.limit_bytes}: must be greater "
                                         "than 0"))
        if opts.since_seconds is not None and opts.since_time is not None:
            causes.append(("sinceSeconds", "Forbidden: at most one of `sinceTime` or "
                                           "`sinceSeconds` may be specified"))
        elif opts.since_seconds is not None and opts.since_seconds < 1:
            causes.append(("sinceSeconds", f"Invalid value: {opts.since_seconds}: must be "
                                           "greater than 0"))
        if causes:
            raise errors.invalid("PodLogOptions", "", pod_name, causes)
        return opts

    def since(self, now: datetime) -> datetime | None:
        if self.since_time is not None:
            return self.since_time
        if self.since_seconds is not None:
            return now - timedelta(seconds=self.since_seconds)
        return None


def _names(containers: list[Any]) -> list[str]:
    return [str(c.get("name", "")) for c in containers if isinstance(c, dict)]


def pick_container(pod: Obj, wanted: str) -> str:
    """The container a request reads, or the apiserver's 400 (``LogLocation``)."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    main, init = _names(spec.get("containers") or []), _names(spec.get("initContainers") or [])
    if not wanted:
        if len(main) == 1:
            return main[0]
        extra = f" or one of the init containers: [{' '.join(init)}]" if init else ""
        raise errors.bad_request(f"a container name must be specified for pod {name}, choose "
                                 f"one of: [{' '.join(main)}]{extra}")
    if wanted not in main and wanted not in init:
        raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


# ---------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class Instance:
    """One run of a container: what one log file holds."""

    container: str
    image: str
    started: datetime
    finished: datetime | None
    """None while it runs."""
    limit: str = ""
    """The container's memory limit as written (``2Gi``), for the OOM lines."""


def _status_of(pod: Obj, container: str) -> tuple[Obj | None, Obj]:
    """(container status or None, container spec)."""
    spec = pod.get("spec") or {}
    specs = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
             if isinstance(c, dict) and c.get("name") == container]
    status = pod.get("status") or {}
    found = [cs for cs in (status.get("containerStatuses") or []) +
             (status.get("initContainerStatuses") or [])
             if isinstance(cs, dict) and cs.get("name") == container]
    return (found[0] if found else None), (specs[0] if specs else {})


def instance(pod: Obj, container: str, previous: bool) -> Instance:
    """The container instance the kubelet would read, or its 400."""
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    cs, spec = _status_of(pod, container)
    image = str((cs or {}).get("image") or spec.get("image") or "")
    limit = str(((spec.get("resources") or {}).get("limits") or {}).get("memory") or "")
    state = (cs or {}).get("state") or {}
    last = ((cs or {}).get("lastState") or {}).get("terminated")
    if previous:
        if not isinstance(last, dict) or not last.get("containerID"):
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found')
        return _ended(container, image, last, limit)
    if isinstance(state.get("running"), dict):
        started = _parse_time(state["running"].get("startedAt"))
        if started is not None:
            return Instance(container, image, started, None, limit)
    if isinstance(state.get("terminated"), dict):
        return _ended(container, image, state["terminated"], limit)
    if isinstance(last, dict) and last.get("containerID"):
        return _ended(container, image, last, limit)
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
    raise errors.bad_request(
        f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _ended(container: str, image: str, term: Obj, limit: str) -> Instance:
    finished = _parse_time(term.get("finishedAt"))
    started = _parse_time(term.get("startedAt")) or finished or datetime.now(UTC)
    return Instance(container, image, started, finished or started, limit)


# ---------------------------------------------------------------------------- what it writes


def _version(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    return tail.rsplit(":", 1)[1] if ":" in tail else "latest"


def _mib(limit: str) -> int:
    """A memory limit in MiB (only the units the seed writes; 1024 when unknown)."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if limit.endswith(suffix) and limit[:-2].isdigit():
            return max(1, int(int(limit[:-2]) * factor))
    return 1024


def _startup(pod: Obj, inst: Instance) -> list[tuple[float, str]]:
    node = (pod.get("spec") or {}).get("nodeName", "")
    name, c = pod["metadata"]["name"], inst.container
    return [(0.0, f"level=info msg=\"starting {c} {_version(inst.image)}\" pod={name} "
                  f"node={node}"),
            (0.2, f"level=info msg=\"settings loaded\" file=/etc/{c}/settings.yaml"),
            (0.4, "level=info msg=\"listening\" addr=:8080")]


def _traceback(inst: Instance) -> list[str]:
    c, version = inst.container, _version(inst.image)
    return [
        f"level=error msg=\"{c} {version} could not start: unhandled exception\"",
        "Traceback (most recent call last):",
        f'  File "/app/{c}/main.py", line 31, in <module>',
        "    app = create_app(load_settings())",
        f'  File "/app/{c}/app.py", line 118, in create_app',
        "    tax = TaxClient(settings.tax_service_url)",
        f'  File "/app/{c}/settings.py", line 64, in __getattr__',
        "    raise SettingMissing(name)",
        f"{c}.settings.SettingMissing: required setting TAX_SERVICE_URL is not set "
        f"(new in {version})",
    ]


_PATHS = ("/api/v1/items", "/api/v1/cart", "/api/v1/orders", "/healthz", "/api/v1/search")
_HOSTILE_AGENT = "[bold red]pwned[/] \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"


def _request_line(pod: Obj, inst: Instance, k: int) -> str:
    h = zlib.crc32(f"{pod['metadata'].get('uid')}/{inst.container}/{inst.started}/{k}".encode())
    path = _PATHS[h % len(_PATHS)]
    code = 404 if h % 23 == 0 else 499 if h % 41 == 0 else 200
    ms = 2 + h % 90
    if inst.container == "web":  # a Node.js frontend: coloured levels, morgan's format
        if k % 37 == 17:
            return f"\x1b[33mwarn\x1b[39m: blocked bot user-agent=\"{_HOSTILE_AGENT}\""
        return f"\x1b[32minfo\x1b[39m: GET {path} {code} {ms}.{h % 10} ms - {h % 9000 + 200}"
    return (f"level=info msg=\"request\" method=GET path={path} status={code} "
            f"duration_ms={ms} host={pod['metadata']['name']}")


def lines(pod: Obj, inst: Instance, config: SimConfig, until: datetime,
          after: datetime | None = None, tail: int | None = None) -> list[Line]:
    """What the instance wrote up to ``until`` (and after ``after``), oldest first; at most
    the last ``tail`` lines (None: everything the rotated file keeps)."""
    end = until if inst.finished is None else min(until, inst.finished)
    crash = config.crash_of(inst.image)
    t0 = inst.started
    script: list[tuple[float, str]] = list(_startup(pod, inst))
    if crash is not None and crash[1] == 1:  # exits 1 with a traceback: its last words
        trace = _traceback(inst)  # written in the last moments before the exit
        script += [(crash[0] - (len(trace) - i) * 0.001, text) for i, text in enumerate(trace)]
    elif crash is not None:  # OOM: the resident set grows to the limit; the kernel has no words
        limit = _mib(inst.limit)
        steps = max(1, int((crash[0] - 1.0) / _OOM_PERIOD))
        script += [(1.0 + i * _OOM_PERIOD, (
            f"level=info msg=\"model loaded into cache\" model=recommender-v{i + 1} "
            f"rss_mib={int(limit * (0.4 + 0.58 * i / steps))} limit_mib={limit}"))
            for i in range(steps)]
    span = (end - t0).total_seconds()
    out: list[Line] = [(t0 + timedelta(seconds=off), text) for off, text in script
                       if off <= span]
    if crash is None and span >= 1.0:
        last = int((span - 1.0) // PERIOD)
        first = max(0, last - ROTATED + 1)
        if tail is not None:
            first = max(first, last - tail + 1)
        if after is not None:
            first = max(first, int((after - t0).total_seconds() - 1.0) // int(PERIOD))
        if first > 0:
            out = []  # the start was rotated away (or is not wanted)
        out += [(t0 + timedelta(seconds=1.0 + k * PERIOD), _request_line(pod, inst, k))
                for k in range(first, last + 1)]
    if after is not None:
        out = [line for line in out if line[0] > after]
    out = out[-ROTATED:]
    if tail is not None:
        out = out[-tail:] if tail > 0 else []
    return out


# ---------------------------------------------------------------------------- serving


class DrillLogs:
    """Serves the ``log`` subresource of the drill's pods (see the module docstring)."""

    def __init__(self, state: ClusterState, config: SimConfig | None = None, *,
                 clock: Callable[[], datetime] | None = None,
                 poll: float = FOLLOW_POLL) -> None:
        self.state = state
        self.config = config or SimConfig()
        self.clock = clock or state.clock
        self.poll = poll

    def _node_down(self, pod: Obj) -> str:
        """The dial error of a pod whose kubelet is dead ("" when it is alive)."""
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node and node in self.config.down_nodes:
            return f"dial tcp {node}:10250: connect: no route to host"
        return ""

    async def serve(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        meta = pod["metadata"]
        opts = LogOptions.from_query(request.query, meta["name"])
        container = pick_container(pod, opts.container)
        down = self._node_down(pod)
        if down:
            raise errors.ApiError(500, "", (
                f'Get "https://{(pod.get("spec") or {}).get("nodeName")}:10250/containerLogs/'
                f'{meta.get("namespace")}/{meta["name"]}/{container}": {down}'))
        inst = instance(pod, container, opts.previous)
        now = self.clock()
        since = opts.since(now)
        found = lines(pod, inst, self.config, now, since, opts.tail_lines)
        budget = [opts.limit_bytes]
        first = self._encode(found, opts.timestamps, budget)
        if not opts.follow or inst.finished is not None:
            return web.Response(body=first, content_type="text/plain", charset="utf-8")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            if first:
                await resp.write(first)
            if budget[0] is None or budget[0] > 0:
                await self._follow(request, resp, pod, inst, now, opts, budget)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def _follow(self, request: web.Request, resp: web.StreamResponse, pod: Obj,
                      inst: Instance, cursor: datetime, opts: LogOptions,
                      budget: list[int | None]) -> None:
        """Write what the instance logs after ``cursor`` until it stops, the client goes or
        the budget is spent; break off (no clean end) when its kubelet dies."""
        ns, name, uid = pod["metadata"].get("namespace", ""), pod["metadata"]["name"], \
            pod["metadata"].get("uid")
        pods = BY_KEY["pods"]
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(self.poll)
            now = self.clock()
            live = self.state.find(pods, ns, name)
            if live is None or live["metadata"].get("uid") != uid:
                return
            if self._node_down(live):
                if request.transport is not None:
                    request.transport.abort()  # the kubelet's connection is gone, mid-stream
                raise ConnectionResetError("the node's kubelet went away")
            end = self._same_instance_end(live, inst)
            upto = now if end is None else min(now, end)
            new = lines(live, inst, self.config, upto, cursor)
            cursor = max(cursor, upto)
            data = self._encode(new, opts.timestamps, budget)
            if data:
                await resp.write(data)
            if end is not None or (budget[0] is not None and budget[0] <= 0):
                return

    @staticmethod
    def _same_instance_end(pod: Obj, inst: Instance) -> datetime | None:
        """When the followed instance ended (None while it still runs): it is over once the
        status no longer shows it running (its ``lastState`` then carries its finish)."""
        cs, _ = _status_of(pod, inst.container)
        running = ((cs or {}).get("state") or {}).get("running") or {}
        if _parse_time(running.get("startedAt")) == inst.started:
            return None
        last = ((cs or {}).get("lastState") or {}).get("terminated") or {}
        if _parse_time(last.get("startedAt")) == inst.started:
            return _parse_time(last.get("finishedAt")) or inst.started
        return inst.started  # replaced or gone: nothing more from it

    @staticmethod
    def _encode(found: list[Line], timestamps: bool, budget: list[int | None]) -> bytes:
        text = "".join(f"{stamp(t)} {line}\n" if timestamps else f"{line}\n"
                       for t, line in found)
        data = text.encode()
        left = budget[0]
        if left is not None:
            data = data[:max(left, 0)]
            budget[0] = left - len(data)
        return data

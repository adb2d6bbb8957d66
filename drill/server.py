"""The drill cluster's Kubernetes API server (aiohttp, loopback only).

It speaks enough of the Kubernetes REST API for kubectl, the ``kubernetes`` package and our own
watch sources to treat it as a cluster: discovery, list with selectors and paging, watch with
resourceVersion, bookmarks and 410, get, create, update, three patch types, delete, ``scale``,
``status`` and ``log`` subresources, server dry-run, Table output, SelfSubjectAccessReview, and
Status errors. Lists and watches are gzip-compressed when the client asks for it.

Routing is done by hand from the path rather than with one aiohttp route per resource: the
resource table in :mod:`drill.resources` is the single description of what is served,
and the Kubernetes path grammar (``/api/v1/namespaces/{ns}/{plural}/{name}/{sub}``, where
``namespaces/{name}`` is itself a resource) does not map cleanly onto route patterns.

Over 500 lines because it is one job, the API server's routing: every handler shares the
request parsing (dry-run, selectors, paging, Table output, gzip); what a resource *does* lives
in :mod:`drill.state`, :mod:`drill.patch`, :mod:`drill.selectors` and the controllers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from drill import errors, managed, openapi, protobuf, tables
from drill.logs import DrillLogs
from drill.policy import USER, Policy
from drill.resources import (
    BY_GVR,
    VIRTUAL,
    ResourceType,
    api_group,
    api_versions,
    group_list,
    resource_list,
)
from drill.schema import MAX_DEPTH
from drill.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    check_fields,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)
from drill.state import ClusterState, Entry, Obj, WatchEvent

MAX_BODY = 3 * 1024 * 1024
SERVER_VERSION = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.5-drill", "gitCommit": "drill",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22",
    "compiler": "gc", "platform": "linux/amd64",
}
_encode = msgspec.json.encode


@dataclass
class Target:
    """A parsed resource path."""

    rt: ResourceType
    namespace: str
    name: str
    subresource: str


class DrillApiServer:
    """An aiohttp application serving a :class:`ClusterState` as a Kubernetes API."""

    def __init__(
        self,
        state: ClusterState,
        *,
        token: str | None = None,
        policy: Policy | None = None,
        bookmark_interval: float = 5.0,
        logs: DrillLogs | None = None,
    ) -> None:
        self.state = state
        self.token = token if token is not None else secrets.token_hex(16)
        self.policy = policy or Policy()
        self.bookmark_interval = bookmark_interval
        #: The ``log`` subresource (drill/logs.py); the runner hands it the scenario's faults.
        self.logs = logs or DrillLogs(state)
        #: (method, path, query) of every request, for tests that must prove what was sent.
        self.requests: list[tuple[str, str, str]] = []
        self.record_requests = False
        self.extra_routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
        self._runner: web.AppRunner | None = None
        self._watches: set[asyncio.Task[Any]] = set()
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY + 1)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening; returns the base URL (a free port when ``port`` is 0)."""
        # handler_cancellation: a client that hangs up cancels its handler, as the real
        # server's request context is cancelled, so a watch or log stream with nothing to
        # send does not linger until its timeout (writes are synchronous in the state, so a
        # cancelled write request either happened whole or not at all).
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port nowhere else
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        self.url = f"http://{host}:{bound}"
        return self.url

    @property
    def open_streams(self) -> int:
        """Watches and log streams being served now (a closed one must leave none behind)."""
        return len(self._watches)

    async def stop(self) -> None:
        for task in list(self._watches):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ entry point

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.record_requests:
            self.requests.append((request.method, request.path, request.query_string))
        try:
            return await self._dispatch(request)
        except errors.ApiError as exc:
            return _status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            return _status_response(errors.too_large(MAX_BODY))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the server must answer, never hang
            return _status_response(errors.ApiError(
                500, "InternalError", f"an error on the server ({type(exc).__name__}: {exc}) "
                "has prevented the request from succeeding"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        extra = self.extra_routes.get(path)
        if extra is not None:
            return await extra(request)
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(SERVER_VERSION)
        self._authenticate(request)
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:], path)
        if parts == ["api"]:
            return _json(api_versions())
        if parts == ["apis"]:
            return _json(group_list())
        if len(parts) == 2 and parts[0] == "api":
            return _json_or_404(resource_list("", parts[1]), path)
        if len(parts) == 2 and parts[0] == "apis":
            return _json_or_404(api_group(parts[1]), path)
        if len(parts) == 3 and parts[0] == "apis":
            return _json_or_404(resource_list(parts[1], parts[2]), path)
        target = self._parse_target(parts)
        if target is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested "
                                  "resource")
        return await self._serve(request, target)

    def _openapi(self, rest: list[str], path: str) -> web.Response:
        if not rest:
            return _json(openapi.root())
        if rest[0] == "api" and len(rest) == 2:
            return _json_or_404(openapi.gv_document("", rest[1]), path)
        if rest[0] == "apis" and len(rest) == 3:
            return _json_or_404(openapi.gv_document(rest[1], rest[2]), path)
        raise errors.ApiError(404, "NotFound", f"the server could not find the requested "
                              f"resource ({path})")

    def _authenticate(self, request: web.Request) -> None:
        """Anonymous requests are the drill operator (client-go sends no bearer token over
        plain HTTP, and the server listens on loopback only); a WRONG token is refused, so
        clients' 401 paths can be exercised."""
        header = request.headers.get("Authorization")
        if header is not None and not secrets.compare_digest(header, f"Bearer {self.token}"):
            raise errors.unauthorized()

    def _parse_target(self, parts: list[str]) -> Target | None:
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and len(rest) == 3
                                                               and rest[2] in ("status",
                                                                               "finalize")):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        rt = BY_GVR.get((group, version, rest[0]))
        if rt is None:
            return None
        if namespace and not rt.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in rt.subresources:
            return None
        return Target(rt, namespace, name, sub)

    # ------------------------------------------------------------------ verbs

    async def _serve(self, request: web.Request, t: Target) -> web.StreamResponse:
        method = request.method
        query = request.query
        watch = query.get("watch", "") in ("true", "1")
        if method == "GET":
            verb = "get" if t.name else ("watch" if watch else "list")
        elif method == "POST" and not t.name:
            verb = "create"
        elif method == "PUT" and t.name:
            verb = "update"
        elif method == "PATCH" and t.name:
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if t.name else "deletecollection"
        else:
            raise errors.method_not_allowed()
        allowed_verbs = set(t.rt.verbs)
        if t.subresource in ("status", "scale"):
            allowed_verbs = {"get", "patch", "update"}
        elif t.subresource == "log":
            allowed_verbs = {"get"}
        if verb not in allowed_verbs:
            raise errors.method_not_allowed(
                f"the server does not allow this method on the requested resource "
                f"({verb} {t.rt.plural}{'/' + t.subresource if t.subresource else ''})")
        ok, _ = self.policy.decide(verb, t.rt.group, t.rt.plural, t.subresource, t.namespace)
        if not ok:
            raise errors.forbidden(self.policy.forbidden_message(
                verb, t.rt.group, t.rt.plural, t.subresource, t.namespace, t.name))
        dry_run = _dry_run(query)
        if t.rt.key in VIRTUAL:
            return await self._access_review(request, dry_run)
        if verb == "get":
            if t.subresource == "log":
                return await self._log(request, t)
            obj = self.state.get(t.rt, t.namespace, t.name)
            if t.subresource == "scale":
                return _json(_scale_of(t.rt, obj))
            if _wants_table(request):
                return _json(tables.to_table(
                    t.rt, [obj], include_object=query.get("includeObject", "Metadata"),
                    now=self.state.clock(), resource_version=str(self.state.rv)))
            return _raw_json(self.state.entry(t.rt, t.namespace, t.name).raw)
        if verb == "list":
            return self._list(request, t)
        if verb == "watch":
            return await self._watch(request, t)
        if verb == "create":
            body = await _read_json(request)
            with self._writer(request):
                obj = self.state.create(t.rt, body, namespace=t.namespace or None,
                                        dry_run=dry_run)
            return _json(obj, status=201)
        if verb == "update":
            body = await _read_json(request)
            with self._writer(request):
                if t.subresource == "scale":
                    return _json(self._write_scale(t, body, dry_run))
                obj = self.state.update(t.rt, t.namespace, t.name, body,
                                        subresource=t.subresource, dry_run=dry_run)
            return _json(obj)
        if verb == "patch":
            raw = await _read_body(request)
            ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            with self._writer(request):
                if t.subresource == "scale":
                    scale = _scale_of(t.rt, self.state.get(t.rt, t.namespace, t.name))
                    patched = _patch_scale(scale, raw, ctype)
                    return _json(self._write_scale(t, patched, dry_run))
                obj = self.state.patch(t.rt, t.namespace, t.name, raw, ctype,
                                       subresource=t.subresource, dry_run=dry_run)
            return _json(obj)
        if verb == "delete":
            opts = await self._delete_options(request)
            obj = self.state.delete(t.rt, t.namespace, t.name, dry_run=dry_run, **opts)
            return _json(obj)
        # deletecollection
        opts = await self._delete_options(request)
        labels, fields = _selectors(query, t.rt)
        doomed = self.state.entries(t.rt, t.namespace or None, labels, fields)
        gone = []
        for e in doomed:
            m = e.obj["metadata"]
            gone.append(self.state.delete(t.rt, m.get("namespace", ""), m["name"],
                                          dry_run=dry_run, **opts))
        return _json({"apiVersion": t.rt.api_version, "kind": t.rt.list_kind,
                      "metadata": {"resourceVersion": str(self.state.rv)}, "items": gone})

    def _writer(self, request: web.Request) -> contextlib.AbstractContextManager[None]:
        """The state's writes in this block are the request's (managedFields,
        :mod:`drill.managed`); only around synchronous state calls, so no controller's write
        can fall inside."""
        return managed.acting(self.state, managed.manager_of_request(
            request.query.get("fieldManager", ""), request.headers.get("User-Agent", ""),
            request.headers.get("Content-Type", "")))

    def _write_scale(self, t: Target, scale: Any, dry_run: bool) -> Obj:
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise errors.bad_request("the body must be an autoscaling/v1 Scale object")
        # Absent is 0, as Go decodes an omitted int32 (and as this server encodes 0).
        replicas = scale["spec"].get("replicas", 0)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", t.name, [(
                "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal "
                "to 0")])
        current = self.state.get(t.rt, t.namespace, t.name)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(t.rt.plural, t.rt.group, t.name)
        new = dict(current)
        new["spec"] = dict(current["spec"], replicas=replicas)
        obj = self.state.update(t.rt, t.namespace, t.name, new, dry_run=dry_run)
        return _scale_of(t.rt, obj)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        opts: dict[str, Any] = {}
        raw = await _read_body(request)
        body: Any = {}
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise errors.bad_request(f"invalid DeleteOptions: {exc}") from exc
            if not isinstance(body, dict):
                raise errors.bad_request("DeleteOptions must be an object")
        policy = q.get("propagationPolicy") or body.get("propagationPolicy") or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"invalid propagationPolicy: {policy}")
        opts["propagation"] = policy
        grace = q.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        if grace is not None:
            try:
                opts["grace_seconds"] = int(grace)
            except (TypeError, ValueError) as exc:
                raise errors.bad_request(f"invalid gracePeriodSeconds: {grace}") from exc
        if isinstance(body.get("preconditions"), dict):
            opts["preconditions"] = body["preconditions"]
        if body.get("dryRun") not in (None, [], ["All"]):
            raise errors.bad_request(f"invalid dry run value: {body.get('dryRun')}")
        if body.get("dryRun") == ["All"]:
            opts["dry_run"] = True
        return opts

    def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        labels, fields = _selectors(q, t.rt)
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError as exc:
            raise errors.bad_request(f"invalid limit: {q.get('limit')}") from exc
        page, rv, token, remaining = self.state.list_page(
            t.rt, t.namespace or None, labels, fields, limit, q.get("continue") or None)
        if _wants_table(request):
            return _json(tables.to_table(
                t.rt, [e.obj for e in page], include_object=q.get("includeObject", "Metadata"),
                now=self.state.clock(), resource_version=str(rv), continue_token=token,
                remaining=remaining), request=request)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        head = _encode({"apiVersion": t.rt.api_version, "kind": t.rt.list_kind,
                        "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(e.raw for e in page) + b"]}"
        return _raw_json(body, request=request)

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        labels, fields = _selectors(q, t.rt)
        table = _wants_table(request)
        include = q.get("includeObject", "Metadata")
        bookmarks = q.get("allowWatchBookmarks", "") in ("true", "1")
        try:
            timeout = float(q["timeoutSeconds"]) if "timeoutSeconds" in q else 1800.0
        except ValueError as exc:
            raise errors.bad_request(f"invalid timeoutSeconds: {q['timeoutSeconds']}") from exc
        rv_param = q.get("resourceVersion", "")
        try:
            start_rv = int(rv_param) if rv_param not in ("", "0") else None
        except ValueError as exc:
            raise errors.bad_request(f"invalid resourceVersion: {rv_param}") from exc
        if start_rv is not None:
            self.state.events_after(t.rt, start_rv)  # 410 before the stream starts
        resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Cache-Control": "no-cache, private"})
        gz = _gzip_stream(request, resp)
        await resp.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._watches.add(task)
        first = True

        def frame(typ: str, obj: Obj | None, raw: bytes | None) -> bytes:
            nonlocal first
            if table and obj is not None and typ != "BOOKMARK":
                payload = _encode(tables.to_table(
                    t.rt, [obj], include_object=include, now=self.state.clock(),
                    resource_version=obj["metadata"].get("resourceVersion", ""),
                    with_columns=first))
                first = False
            else:
                payload = raw if raw is not None else _encode(obj)
            return b'{"type":"' + typ.encode() + b'","object":' + payload + b"}\n"

        async def send(data: bytes) -> None:
            if gz is not None:
                data = gz.compress(data) + gz.flush(zlib.Z_SYNC_FLUSH)
            await resp.write(data)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_sent = loop.time()
        try:
            if start_rv is None:
                cursor = self.state.rv
                initial = self.state.entries(t.rt, t.namespace or None, labels, fields)
                if initial:
                    await send(b"".join(frame("ADDED", e.obj, e.raw) for e in initial))
            else:
                cursor = start_rv
            while True:
                try:
                    events = self.state.events_after(t.rt, cursor)
                except errors.ApiError as exc:
                    await send(frame("ERROR", exc.status(), None))
                    break
                out = []
                for ev in events:
                    cursor = ev.rv
                    typ = _transition(ev, t.namespace, labels, fields)
                    if typ:
                        out.append(frame(typ, ev.entry.obj, ev.entry.raw))
                if out:
                    await send(b"".join(out))
                    last_sent = loop.time()
                    continue
                now = loop.time()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    due = last_sent + self.bookmark_interval
                    if now >= due:
                        cursor = max(cursor, self.state.rv)
                        await send(frame("BOOKMARK", {
                            "kind": t.rt.kind, "apiVersion": t.rt.api_version,
                            "metadata": {"resourceVersion": str(cursor)}}, None))
                        last_sent = now
                        continue
                    wait = min(wait, due - now)
                changed = self.state.changed(t.rt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=wait)
            if gz is not None:
                await resp.write(gz.flush())
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away between two events: nothing left to tell it
        finally:
            if task is not None:
                self._watches.discard(task)
        return resp

    async def _log(self, request: web.Request, t: Target) -> web.StreamResponse:
        pod = self.state.get(t.rt, t.namespace, t.name)
        task = asyncio.current_task()
        if task is not None:  # a follow stream is cancelled on stop, like a watch
            self._watches.add(task)
        try:
            return await self.logs.serve(request, pod)
        finally:
            if task is not None:
                self._watches.discard(task)

    async def _access_review(self, request: web.Request, dry_run: bool) -> web.StreamResponse:
        if "protobuf" in request.headers.get("Content-Type", ""):
            # client-go's typed clients (k9s) ask in protobuf; see drill/protobuf.py.
            try:
                body: Any = protobuf.decode_access_review(
                    await _read_body(request, allow_protobuf=True))
            except protobuf.ProtobufError as exc:
                raise errors.unsupported_media(
                    f"the body of the request was in an unknown format - {exc}") from exc
        else:
            body = await _read_json(request)
        if not isinstance(body, dict) or body.get("kind") not in (None,
                                                                    "SelfSubjectAccessReview"):
            raise errors.bad_request("expected a SelfSubjectAccessReview")
        spec = body.get("spec") or {}
        attrs = spec.get("resourceAttributes")
        if not isinstance(attrs, dict):
            if isinstance(spec.get("nonResourceAttributes"), dict):
                allowed, reason = True, "non-resource URLs are allowed in the drill cluster"
            else:
                raise errors.invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [
                    ("spec.resourceAttributes", "Required value")])
        else:
            allowed, reason = self.policy.decide(
                str(attrs.get("verb", "")), str(attrs.get("group", "")),
                str(attrs.get("resource", "")), str(attrs.get("subresource", "")),
                str(attrs.get("namespace", "")))
        status: dict[str, Any] = {"allowed": allowed, "reason": reason}
        if not allowed:
            status["denied"] = True
        return _json({"kind": "SelfSubjectAccessReview",
                      "apiVersion": "authorization.k8s.io/v1",
                      "metadata": {"creationTimestamp": None}, "spec": spec,
                      "status": status, "user": USER}, status=201)


# ---------------------------------------------------------------------- helpers


def _transition(ev: WatchEvent, namespace: str, labels: LabelSelector | None,
                fields: FieldSelector | None) -> str:
    """The event type a filtered watch sees: an object that starts matching is ADDED, one
    that stops matching is DELETED, as the apiserver's watch cache reports it."""
    obj = ev.entry.obj

    def matches(o: Obj | None) -> bool:
        if o is None:
            return False
        if namespace and o["metadata"].get("namespace") != namespace:
            return False
        if labels is not None and not labels.matches(o["metadata"].get("labels")):
            return False
        return fields is None or fields.matches(o)

    if ev.type == "ADDED":
        return "ADDED" if matches(obj) else ""
    if ev.type == "DELETED":
        return "DELETED" if matches(ev.prev) else ""
    now_in, was_in = matches(obj), matches(ev.prev)
    if now_in and was_in:
        return "MODIFIED"
    if now_in:
        return "ADDED"
    if was_in:
        return "DELETED"
    return ""


def _selectors(q: Any, rt: ResourceType) -> tuple[LabelSelector | None, FieldSelector | None]:
    try:
        labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        fields = None
        if q.get("fieldSelector"):
            fields = parse_field_selector(q["fieldSelector"])
            check_fields(rt.plural, fields)
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from exc
    return labels, fields


def _dry_run(q: Any) -> bool:
    values = q.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'Invalid dry run value: "{v}": valid values: "All"')
    return bool(values)


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept


def _scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of a workload, encoded as the real server encodes it:
    ``spec.replicas`` is omitempty there, so a workload scaled to 0 has ``spec: {}``;
    ``status.replicas`` is not, so it is always present."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    selector = spec.get("selector")
    if rt.kind == "ReplicationController" and isinstance(selector, dict):
        selector = {"matchLabels": selector}  # a v1 RC's selector is a plain label map
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": replicas} if replicas else {},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": selector_to_string(selector)},
    }


def _patch_scale(scale: Obj, raw: bytes, ctype: str) -> Obj:
    from drill.patch import PatchError, UnsupportedPatch, apply_patch

    try:
        out = apply_patch(scale, raw, ctype, "Scale")
    except UnsupportedPatch as exc:
        raise errors.unsupported_media(str(exc)) from exc
    except PatchError as exc:
        raise errors.bad_request(str(exc)) from exc
    if not isinstance(out, dict):
        raise errors.bad_request("the patch must leave a Scale object")
    return out


async def _read_body(request: web.Request, *, allow_protobuf: bool = False) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    ctype = request.headers.get("Content-Type", "")
    if "protobuf" in ctype and not allow_protobuf:
        raise errors.unsupported_media(
            "the body of the request was in an unknown format - the drill cluster accepts "
            "JSON only (application/vnd.kubernetes.protobuf is not supported)")
    # ``read(n)`` returns what has arrived so far (up to n), not n bytes: a body larger than
    # one network read came through cut at a random length. Read to the end, bounded.
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(256 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large(MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_json(request: web.Request) -> Any:
    raw = await _read_body(request)
    ctype = request.headers.get("Content-Type", "application/json")
    if ctype and "json" not in ctype and "yaml" not in ctype and "*" not in ctype:
        raise errors.unsupported_media(
            f"the body of the request was in an unknown format ({ctype}) - accepted media "
            "types include: application/json")
    if not raw.strip():
        raise errors.bad_request("the request body is empty")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the body of the request is not valid JSON: {exc}") from exc
    except RecursionError:
        # Python's decoder gives up near a thousand levels: the client's fault, never a 500.
        raise errors.bad_request(
            f"the body of the request is nested too deeply (the drill cluster accepts at most "
            f"{MAX_DEPTH} levels)") from None


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Go's decoder refuses them too)."""
    raise ValueError(f"{name} is not valid JSON")


GZIP_LEVEL = 1
"""The kube-apiserver's own level (``defaultGzipContentEncodingLevel = 1`` in apiserver's
responsewriters, kubernetes/kubernetes#112296: a fraction of the CPU of the default level for
sizes within 1.1-1.3x). At zlib's default of 6 the drill spent about 10 ms compressing each page
of 500 pods, more than a client spends decoding it, so a big list waited on the server."""


def _gzip_stream(request: web.Request, resp: web.StreamResponse) -> Any:
    if "gzip" not in request.headers.get("Accept-Encoding", ""):
        return None
    resp.headers["Content-Encoding"] = "gzip"
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


def _json(obj: Any, status: int = 200, request: web.Request | None = None) -> web.Response:
    return _raw_json(_encode(obj), status=status, request=request)


def _raw_json(body: bytes, status: int = 200,
              request: web.Request | None = None) -> web.Response:
    resp = web.Response(body=body, status=status, content_type="application/json")
    if request is not None and len(body) > 1024 and \
            "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.body = zlib.compress(body, GZIP_LEVEL, wbits=16 + zlib.MAX_WBITS)
        resp.headers["Content-Encoding"] = "gzip"
    return resp


def _json_or_404(obj: dict[str, Any] | None, path: str) -> web.Response:
    if obj is None:
        raise errors.ApiError(404, "NotFound", f"the server could not find the requested "
                              f"resource ({path})")
    return _json(obj)


def _status_response(exc: errors.ApiError) -> web.Response:
    return _json(exc.status(), status=exc.code)


__all__ = ["DrillApiServer", "Entry"]

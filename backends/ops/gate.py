"""The write gate: the one door every mutating request of the control room goes through.

Why one door: read-only mode and protected (production) contexts are only as strong as the
least careful call site. k9s scattered these checks over some fifteen views and leaked twice.
Here the executor of every action (Argo CD pause, rollout undo, scale, traffic shift, Helm,
Alertmanager silences) holds a :class:`WriteGate` and builds :class:`WriteRequest` values;
:meth:`WriteGate.write` is the only code that calls a sender with a write method (the
connection itself is shared for reads, so a test scans the source tree for
``.request("POST"|"PUT"|"PATCH"|"DELETE", ...)`` anywhere else).

What :meth:`WriteGate.write` does, in this order, and why the order:

1. refuse in read-only mode (:class:`RefusedError`, nothing sent; a ``refused`` journal row
   records the attempt);
2. refuse on a protected context unless the operator typed the context name
   (:class:`Confirmation`): a muscle-memory ``y`` must not scale production to zero;
3. refuse without a reason (the journal and the next on-call need to know why), and refuse
   when no journal could be opened (a write that cannot be undone exactly is not sent);
4. on a protected context, unless it is an emergency, wait a short cancel window
   (:attr:`GatePolicy.cancel_window`, 5 s by default) that the UI can cut short with
   :meth:`CancelToken.cancel` ("undo" before it happens is the cheapest undo);
5. append the journal row (who, when, context, target, exact prior state, intended change,
   reason, method and path) and wait until it is committed and fsynced: if the process dies
   after this point, the next one knows what may have changed and how to put it back. If
   the journal cannot record, nothing is sent;
6. send; record the answer (status, and the server's reason/message from a ``Status`` body);
7. when the write was accepted and a ``verify`` callable was given, read back and record
   ``verified`` / ``verify_failed`` (Argo CD silently prunes unknown fields, so "200 OK" is
   not "done").

Read-only mode means the server sees no write verb from us at all, *not even a server-side
dry-run*: :meth:`WriteGate.preview` is refused too. A dry-run still runs admission webhooks
(which may have side effects when not declared ``sideEffects: None``) and shows up in audit
logs as a patch by this user; someone who started the control room with ``--read-only`` during
an incident must be able to say "it sent nothing". The plan screen shows the plan without
server results in that mode.

The one POST allowed in read-only mode is :meth:`WriteGate.can`'s
``SelfSubjectAccessReview``: it is a question to the authorizer ("may I patch
deployments/scale here?"), a virtual resource that stores nothing and changes nothing, and it
lets the UI dim actions the operator's RBAC would refuse anyway.

Other backends: the gate is not Kubernetes-specific. It takes a :class:`Sender` (anything with
``async request(method, path, params, body, content_type) -> (status, body)``, which
:class:`~backends.kube.connection.KubeConnection` already is); the Alertmanager client gets
its own gate with ``dry_run=False, access_reviews=False`` and the same policy and journal, so
silences are refused, confirmed and journaled exactly like cluster writes.

Blocking: journal calls run in worker threads (:class:`~backends.ops.journal.Journal`);
decoding the small answers (one object, a Status, an SSAR) stays on the loop.

Over 500 lines because the gate is one job, the one door: the policy decides what it lets
through, the request and result values are its vocabulary, :class:`WriteGate` is the door;
a fifth of the length is the reasoning above, which is what a reviewer of a write path
needs next to the code.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn, Protocol, TypeAlias

from backends.config import Settings
from backends.kube.errors import api_error
from backends.kube.wire import Params
from backends.ops.journal import EntryStatus, Journal, JournalError
from backends.sanitize import clean

__all__ = [
    "DEFAULT_CANCEL_WINDOW",
    "SSAR_PATH",
    "WRITE_METHODS",
    "Access",
    "CancelToken",
    "Confirmation",
    "DryRunResult",
    "GateError",
    "GatePolicy",
    "RefusedError",
    "Sender",
    "TargetRef",
    "Verify",
    "WriteCancelled",
    "WriteGate",
    "WriteRequest",
    "WriteResult",
    "current_operator",
    "policy_for",
]

log = logging.getLogger(__name__)

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SSAR_PATH: Final = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
DEFAULT_CANCEL_WINDOW: Final = 5.0
"""Seconds a non-emergency write on a protected context waits before it is sent."""
DEFAULT_ACCESS_TTL: Final = 60.0
"""Seconds an access review answer is reused: RBAC rarely changes mid-incident, and the plan
screen asks the same questions for every step it shows."""
_SUMMARY_LIMIT: Final = 4096


# --------------------------------------------------------------------------- policy


def current_operator() -> str:
    """The OS user name, for the journal's "who". ``getpass.getuser`` reads the environment
    and at worst the passwd file (tiny, so fine at start-up); a container without a passwd
    entry still gets a stable name from the uid."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class GatePolicy:
    """What the gate enforces for one context, fixed when the context is opened."""

    context: str
    read_only: bool
    protected: bool
    """Production: typed confirmation and a cancel window before each write."""
    operator: str
    cancel_window: float = DEFAULT_CANCEL_WINDOW


def policy_for(settings: Settings, context: str, read_only_flag: bool = False,
               operator: str | None = None, *,
               cancel_window: float = DEFAULT_CANCEL_WINDOW) -> GatePolicy:
    """The policy for ``context`` from the config and the CLI.

    ``--read-only`` (``read_only_flag``) always wins: a per-context ``read_only = false`` in
    the config cannot re-arm a session the operator started read-only. ``protected`` is the
    config's production test (patterns, or ``production = true`` for the context).
    """
    return GatePolicy(
        context=context,
        read_only=read_only_flag or settings.is_read_only(context),
        protected=settings.is_production(context),
        operator=operator or current_operator(),
        cancel_window=cancel_window,
    )


# --------------------------------------------------------------------------- requests


class Sender(Protocol):
    """One backend's HTTP client as the gate needs it. Returns ``(status, body)`` for every
    answer (error statuses included) and raises when there is no answer."""

    async def request(self, method: str, path: str, params: Params | None = None,
                      body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class TargetRef:
    """What a write is about, for the journal and for access reviews. ``resource`` is the
    plural (``deployments``); ``kind`` the display kind (``Deployment``)."""

    kind: str
    namespace: str = ""
    name: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""

    def describe(self) -> str:
        """``Deployment checkout/web (scale)``."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        sub = f" ({self.subresource})" if self.subresource else ""
        return f"{self.kind} {where}{sub}".strip()


@dataclass(frozen=True, kw_only=True)
class WriteRequest:
    """One mutating HTTP request, exactly as it will be sent, plus what it is about.

    ``verb`` is the authorization verb (``patch``, ``update``, ``create``, ``delete``) used in
    access reviews and, with the subresource, as the journal's action. ``params`` must not
    carry ``dryRun``: the gate adds it in :meth:`WriteGate.preview`, and a write that is
    secretly a dry-run (or the reverse) would make the journal lie.
    """

    method: str
    path: str
    target: TargetRef
    verb: str
    params: Params | None = None
    body: bytes | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in WRITE_METHODS:
            raise ValueError(f"the write gate sends only {sorted(WRITE_METHODS)}, not "
                             f"{self.method!r}: reads go to the connection directly")
        object.__setattr__(self, "method", method)
        if self.params and "dryRun" in self.params:
            raise ValueError("dryRun is added by WriteGate.preview, never passed in params")
        if not self.verb:
            raise ValueError("a write request needs its authorization verb")

    @property
    def action(self) -> str:
        """The journal's action: ``patch scale``, ``update``, ``create``."""
        sub = self.target.subresource
        return f"{self.verb} {sub}" if sub else self.verb


@dataclass(frozen=True)
class Confirmation:
    """What the operator did on the confirm screen. ``typed_context`` is what they typed
    (None: nothing asked/typed); ``emergency`` skips the cancel window, never the typing."""

    typed_context: str | None = None
    emergency: bool = False


class CancelToken:
    """Lets the UI call off a write during its cancel window.

    The gate sets :attr:`window_opened` when the window starts (the UI shows a countdown from
    :meth:`remaining`; tests wait on it instead of sleeping) and :attr:`window_closed` when it
    ends. :meth:`cancel` returns False once the window has closed: the write is on its way
    and only a journaled undo can take it back. A token cancelled before the write is even
    attempted refuses it too.
    """

    def __init__(self) -> None:
        self._cancelled = asyncio.Event()
        self.window_opened = asyncio.Event()
        self.window_closed = asyncio.Event()
        self._deadline: float | None = None

    def cancel(self) -> bool:
        """Call the write off; True if that was still possible."""
        if self.window_closed.is_set():
            return False
        self._cancelled.set()
        return True

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        """Seconds left in an open window (0 when none is open)."""
        if self._deadline is None or self.window_closed.is_set():
            return 0.0
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    async def _hold(self, seconds: float) -> bool:
        """Open the window for ``seconds``; True when it was cancelled meanwhile."""
        self._deadline = asyncio.get_running_loop().time() + seconds
        self.window_opened.set()
        try:
            async with asyncio.timeout(seconds):
                await self._cancelled.wait()
        except TimeoutError:
            pass
        finally:
            self.window_closed.set()
        return self.cancelled


@dataclass(frozen=True)
class Access:
    """An access review answer. ``checked`` False: the question could not be asked (no
    answer, an error, a backend without access reviews); then ``allowed`` is False for
    Kubernetes gates so nothing is shown as possible on a guess, and the UI should say
    "could not check" rather than "forbidden"."""

    allowed: bool
    reason: str
    checked: bool = True


@dataclass(frozen=True)
class DryRunResult:
    """The server's answer to the request sent with ``dryRun=All``. ``object`` is the decoded
    body (the object as it would be); ``performed`` is False for backends without dry-run."""

    ok: bool
    status: int
    reason: str = ""
    message: str = ""
    object: Any = None
    performed: bool = True


@dataclass(frozen=True)
class WriteResult:
    """The outcome of :meth:`WriteGate.write`. ``ok`` is a 2xx answer; ``reason``/``message``
    the server's Status for an error answer; ``verified`` None when no verification ran.
    ``journal_error`` is set when the outcome could not be recorded (the row then stays
    ``pending``, which recovery treats as "may have applied": safe, but say so)."""

    status: int
    body: bytes
    journal_id: int
    ok: bool
    reason: str = ""
    message: str = ""
    verified: bool | None = None
    verification: str = ""
    journal_error: str = ""


Verify: TypeAlias = Callable[[], Awaitable[tuple[bool, str]]]
"""Reads the target back after an accepted write: ``(as intended?, what was seen)``."""


class GateError(Exception):
    """Base of the gate's own errors."""


class RefusedError(GateError):
    """The gate refused; nothing was sent. ``reason`` is for the operator; ``journal_id``
    the ``refused`` row recording the attempt, when one could be written."""

    def __init__(self, reason: str, journal_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.journal_id = journal_id


class WriteCancelled(RefusedError):
    """The operator called the write off in its cancel window; nothing was sent."""


# --------------------------------------------------------------------------- the gate


class WriteGate:
    """The only sender of mutations for one backend of one context (see the module doc).

    ``sender`` is kept private on purpose: code that wants to change something must come
    through :meth:`write`. ``journal`` may be None when the journal file cannot be opened:
    the control room can still be used to watch (and to ask :meth:`can` and
    :meth:`preview`), but every write is refused, because a write without a journal row
    could not be undone exactly. ``dry_run`` says the backend understands ``dryRun=All``
    (Kubernetes); ``access_reviews`` that it answers SelfSubjectAccessReviews. ``clock`` is
    the monotonic clock of the access cache (tests pass a fake one).
    """

    def __init__(
        self,
        policy: GatePolicy,
        sender: Sender,
        journal: Journal | None,
        *,
        dry_run: bool = True,
        access_reviews: bool = True,
        access_ttl: float = DEFAULT_ACCESS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._sender = sender
        self._journal = journal
        self._dry_run = dry_run
        self._access_reviews = access_reviews
        self._access_ttl = access_ttl
        self._clock = clock
        self._access: dict[tuple[str, str, str, str, str, str], tuple[float, Access]] = {}

    @property
    def policy(self) -> GatePolicy:
        """The policy in force (the UI dims write actions when ``read_only``)."""
        return self._policy

    @property
    def journal(self) -> Journal | None:
        """The journal, or None when the App could not open one (then every write is
        refused, but the control room still watches)."""
        return self._journal

    # ---------------------------------------------------------------- questions

    async def can(self, verb: str, group: str, resource: str, subresource: str = "",
                  namespace: str = "", name: str = "") -> Access:
        """May the operator's credentials ``verb`` this resource? Asks the API server with a
        SelfSubjectAccessReview (allowed in read-only mode: it changes nothing) and caches
        a definite answer for ``access_ttl`` seconds per question. Never raises for a failed
        check: that is ``Access(False, "could not check: ...", checked=False)``, not cached."""
        if not self._access_reviews:
            return Access(True, "this backend has no access reviews; the server decides",
                          checked=False)
        key = (verb, group, resource, subresource, namespace, name)
        now = self._clock()
        hit = self._access.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        attributes = {"verb": verb, "group": group, "resource": resource,
                      "subresource": subresource, "namespace": namespace, "name": name}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {k: v for k, v in attributes.items() if v
                                                  or k in ("verb", "resource")}}}
        try:
            status, body = await self._sender.request(
                "POST", SSAR_PATH, None, json.dumps(review).encode(), "application/json")
        except Exception as exc:  # noqa: BLE001 - any transport failure is "could not check"
            return Access(False, f"could not check: {clean(exc, 300)}", checked=False)
        if not 200 <= status < 300:
            err = api_error(status, body)
            return Access(False, f"could not check: {err.status} {err.reason}: {err.message}",
                          checked=False)
        access = _access_from(body)
        if access.checked:
            self._access[key] = (now + self._access_ttl, access)
        return access

    async def preview(self, req: WriteRequest) -> DryRunResult:
        """Send ``req`` with ``dryRun=All`` and return what the server would do.

        Not journaled (nothing changes). Refused in read-only mode (see the module doc: not
        even a dry-run reaches the server). Needs no typed confirmation on a protected
        context: the plan screen shows dry-run results *before* asking for one.
        """
        if self._policy.read_only:
            raise RefusedError(self._read_only_reason())
        if not self._dry_run:
            return DryRunResult(ok=True, status=0, performed=False,
                                message="this backend has no server-side dry-run")
        params: dict[str, str | int | bool | None] = dict(req.params or {})
        params["dryRun"] = "All"
        status, body = await self._sender.request(req.method, req.path, params, req.body,
                                                  req.content_type)
        obj = _decode(body)
        if 200 <= status < 300:
            return DryRunResult(ok=True, status=status, object=obj)
        err = api_error(status, body)
        return DryRunResult(ok=False, status=status, reason=err.reason, message=err.message,
                            object=obj)

    # ---------------------------------------------------------------- the write

    async def write(
        self,
        req: WriteRequest,
        *,
        prior: Mapping[str, Any],
        intent: Mapping[str, Any],
        reason: str,
        confirm: Confirmation,
        operation_id: str | None = None,
        step: str = "",
        verify: Verify | None = None,
        cancel: CancelToken | None = None,
    ) -> WriteResult:
        """Send one mutation, journaled (see the module doc for the order of checks).

        ``prior`` is the state needed to restore exactly (e.g. ``{"replicas": 3}`` or the
        whole prior ``automated`` block), ``intent`` the change, ``reason`` the operator's
        why (change or incident id). Raises :class:`RefusedError` (nothing sent),
        :class:`WriteCancelled` (nothing sent), :class:`~backends.ops.journal.JournalError`
        (the row could not be written: nothing sent), TypeError (``prior``/``intent`` is not
        JSON: nothing sent), or the sender's error when no answer
        came (the row is then ``failed`` with ``outcome_unknown``). An error *answer*
        (409, 422, 403) is returned, not raised: ``result.ok`` is False.
        """
        policy = self._policy
        op = operation_id or ""
        if policy.read_only:
            await self._refuse(req, prior, intent, reason, op, step, self._read_only_reason())
        if policy.protected:
            typed = confirm.typed_context
            if typed is None:
                await self._refuse(req, prior, intent, reason, op, step,
                                   f"context {policy.context!r} is protected (production): "
                                   "type its name to confirm; nothing was sent")
            elif typed != policy.context:
                await self._refuse(req, prior, intent, reason, op, step,
                                   f"context {policy.context!r} is protected (production) and "
                                   f"the typed name {clean(typed, 80)!r} does not match; "
                                   "nothing was sent")
        if not reason.strip():
            raise RefusedError("a reason is required for every write (change or incident id);"
                               " nothing was sent")
        if self._journal is None:
            raise RefusedError("no journal is open (see the start-up error): writes are"
                               " disabled because they could not be undone; nothing was sent")
        journal = self._journal
        token = cancel or CancelToken()
        if not token.cancelled and policy.protected and not confirm.emergency \
                and policy.cancel_window > 0:
            await token._hold(policy.cancel_window)  # noqa: SLF001 - the gate owns the window
        if token.cancelled:
            await self._refuse(req, prior, intent, reason, op, step,
                               "cancelled by the operator before sending; nothing was sent",
                               cancelled=True)

        entry_id = await journal.append(
            operator=policy.operator, context=policy.context, action=req.action,
            prior=dict(prior), intent=dict(intent), reason=reason, kind=req.target.kind,
            namespace=req.target.namespace, name=req.target.name, operation_id=op,
            step=step, method=req.method, path=req.path)

        try:
            status, body = await self._sender.request(req.method, req.path, req.params,
                                                      req.body, req.content_type)
        except Exception as exc:
            await self._record(entry_id, "failed", {"outcome_unknown": True,
                                                    "error": clean(exc, 500)})
            raise
        if 200 <= status < 300:
            journal_error = await self._record(entry_id, "done",
                                               {"status": status, **_summary(body)})
            result = WriteResult(status=status, body=body, journal_id=entry_id, ok=True,
                                 journal_error=journal_error)
        else:
            err = api_error(status, body)
            journal_error = await self._record(entry_id, "failed", {
                "status": status, "reason": err.reason, "message": err.message})
            return WriteResult(status=status, body=body, journal_id=entry_id, ok=False,
                               reason=err.reason, message=err.message,
                               journal_error=journal_error)
        if verify is None:
            return result
        try:
            good, detail = await verify()
        except Exception as exc:  # noqa: BLE001 - a failed read-back is a verify failure
            good, detail = False, f"verification could not run: {exc}"
        detail = clean(detail, 2000)
        journal_error = await self._record(entry_id, "verified" if good else "verify_failed",
                                           None, detail) or journal_error
        return WriteResult(status=status, body=body, journal_id=entry_id, ok=True,
                           verified=good, verification=detail, journal_error=journal_error)

    # ---------------------------------------------------------------- helpers

    def _read_only_reason(self) -> str:
        return (f"read-only mode: writes to context {self._policy.context!r} are disabled"
                " (--read-only or read_only in the config); nothing was sent")

    async def _refuse(self, req: WriteRequest, prior: Mapping[str, Any],
                      intent: Mapping[str, Any], reason: str, operation_id: str, step: str,
                      why: str, *, cancelled: bool = False) -> NoReturn:
        """Record a ``refused`` row (best effort: the refusal stands without it) and raise."""
        entry_id: int | None = None
        try:
            if self._journal is not None:
                entry_id = await self._journal.append(
                    operator=self._policy.operator, context=self._policy.context,
                    action=req.action, prior=dict(prior), intent=dict(intent), reason=reason,
                    kind=req.target.kind, namespace=req.target.namespace, name=req.target.name,
                    operation_id=operation_id, step=step, method=req.method, path=req.path,
                    status="refused", result={"refused": why, "cancelled": cancelled})
        except (JournalError, TypeError, ValueError) as exc:
            log.warning("could not journal a refused write: %s", exc)
        if cancelled:
            raise WriteCancelled(why, entry_id)
        raise RefusedError(why, entry_id)

    async def _record(self, entry_id: int, status: EntryStatus, result: Any,
                      verification: str = "") -> str:
        """Finish a journal row; a failure is logged and returned (the write already
        happened, so raising would make the caller believe it did not)."""
        assert self._journal is not None  # a row exists, so a journal does
        try:
            await self._journal.finish(entry_id, status, result, verification)
        except JournalError as exc:
            log.error("journal entry %s: could not record %s: %s", entry_id, status, exc)
            return str(exc)
        return ""


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _access_from(body: bytes) -> Access:
    obj = _decode(body)
    status = obj.get("status") if isinstance(obj, dict) else None
    if not isinstance(status, dict):
        return Access(False, "could not check: the access review answer has no status",
                      checked=False)
    allowed = status.get("allowed") is True
    reason = clean(status.get("reason") or "", 500)
    error = clean(status.get("evaluationError") or "", 500)
    if not reason:
        reason = "allowed" if allowed else ("denied" if status.get("denied")
                                            else "no rule allows it")
    if error:
        reason = f"{reason} ({error})"
    return Access(allowed, reason)


def _summary(body: bytes) -> dict[str, Any]:
    """What to keep of a success answer: a Kubernetes object's identity and version (the full
    object is on the cluster), or a small non-Kubernetes answer whole (Alertmanager's
    ``{"silenceID": ...}`` is needed to expire the silence later)."""
    obj = _decode(body)
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) and "kind" in obj:
        meta = obj["metadata"]
        keep = {"kind": obj.get("kind"), "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
                "generation": meta.get("generation")}
        return {k: v for k, v in keep.items() if v is not None}
    if obj is not None and len(body) <= _SUMMARY_LIMIT:
        return {"response": obj}
    return {}

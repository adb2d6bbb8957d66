"""Each container of a pod as the kubelet reports it: state, last termination, restarts.

Why its own module: kubectl's STATUS column (:func:`backends.kube.convert.pod_status`) folds
every container into one word, and "CrashLoopBackOff" does not say *why* the container died.
The engineer needs what ``kubectl describe pod`` shows per container: the last termination's
reason and exit code (``OOMKilled`` 137, ``Error`` 1) and when it happened, the restarts, the
waiting reason now. These become :class:`~backends.model.ContainerInfo` parts of the pod row.

Strings are sanitized here, like every converter's (operations.md section 10). Reason strings
are interned: 30,000 pods repeat the same handful ("Running", "CrashLoopBackOff", "Error"),
and one copy of each is enough.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from backends import model as m
from backends.kube import schema as s
from backends.sanitize import clean, plain_line

__all__ = ["container_infos"]

_MESSAGE_MAX = 1024
_NO_STATE = s.ContainerStateIn()


def _epoch(value: datetime | None) -> float | None:
    """As :func:`backends.kube.convert.epoch` (not imported: that module imports this one)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _word(text: str) -> str:
    """A short reason word, cleaned and interned (see the module docstring)."""
    return sys.intern(clean(text, 128)) if text else ""


def _info(spec: s.ContainerIn, status: s.ContainerStatusIn | None, init: bool) -> m.ContainerInfo:
    name, image = spec.name, spec.image
    if not plain_line(name + image, 512):
        name, image = clean(name, 253), clean(image, 512)
    if status is None:
        return m.ContainerInfo(name=name, init=init, image=image)
    now = status.state or _NO_STATE
    last = status.last_state.terminated if status.last_state is not None else None
    if now.running is not None and last is None:  # the common case, kept cheap
        started = now.running.started_at
        return m.ContainerInfo(name=name, init=init, image=image, ready=status.ready,
                               restarts=status.restart_count, state="running",
                               since=started.timestamp() if started is not None
                               and started.tzinfo is not None else _epoch(started))
    state: str = ""
    reason = message = ""
    exit_code: int | None = None
    since: float | None = None
    if now.running is not None:
        state, since = "running", _epoch(now.running.started_at)
    elif now.terminated is not None:
        term = now.terminated
        state, reason, message = "terminated", term.reason, term.message
        exit_code, since = term.exit_code, _epoch(term.finished_at)
    elif now.waiting is not None:
        state, reason, message = "waiting", now.waiting.reason, now.waiting.message
    return m.ContainerInfo(
        name=name,
        init=init,
        image=image,
        ready=status.ready,
        restarts=status.restart_count,
        state=state,  # type: ignore[arg-type]  # one of the literal's values, set above
        reason=_word(reason),
        message=clean(message, _MESSAGE_MAX) if message else "",
        exit_code=exit_code,
        since=since,
        last_reason=_word(last.reason) if last is not None else "",
        last_exit_code=last.exit_code if last is not None else None,
        last_signal=last.signal if last is not None else 0,
        last_message=clean(last.message, _MESSAGE_MAX) if last is not None and last.message
        else "",
        last_started=_epoch(last.started_at) if last is not None else None,
        last_finished=_epoch(last.finished_at) if last is not None else None,
    )


def _join(specs: list[s.ContainerIn] | None, statuses: list[s.ContainerStatusIn] | None,
          init: bool) -> list[m.ContainerInfo]:
    """Spec order, each with its status by name (the kubelet may list them in any order)."""
    if not specs:
        return []
    by_name = {cs.name: cs for cs in statuses or ()}
    return [_info(c, by_name.get(c.name), init) for c in specs]


def container_infos(pod: s.PodIn) -> tuple[m.ContainerInfo, ...]:
    """Init containers first, then the app containers, each in spec order."""
    spec, st = pod.spec, pod.status
    specs, statuses = spec.containers, st.container_statuses
    if not spec.init_containers and specs is not None and statuses is not None and \
            len(specs) == len(statuses) == 1 and specs[0].name == statuses[0].name:
        return (_info(specs[0], statuses[0], False),)  # most pods: one container, one status
    main = _join(specs, statuses, False)
    if not spec.init_containers:
        return tuple(main)
    return (*_join(spec.init_containers, st.init_container_statuses, True), *main)

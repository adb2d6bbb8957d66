"""The logs key: ``l`` on a pod opens its log; on a Deployment, its newest failing pod's.

Why a Deployment leads to its newest *failing* pod: during a bad rollout the Deployment row is
what turns red first, and the pod worth reading is the new one that crash-loops, not one of
the healthy old ones (k9s makes you find it by hand). Without a failing pod it is the newest
pod, and the engineer is told so. Reading needs the session's connection: before it is up the
key says so instead of doing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.binding import Binding

from backends.model import PodRow
from backends.store import Store
from tui.host import Host

if TYPE_CHECKING:
    from tui.session import Session

__all__ = ["LOG_BINDINGS", "LogActions", "pod_for_logs"]

LOG_BINDINGS = [
    Binding("l", "logs", "Logs", id="logs",
            tooltip="Pod: its container logs (follow, previous, search); Deployment: its "
            "newest failing pod's"),
]


def pod_for_logs(store: Store, kind: str | None, key: str | None,
                 now: float | None = None) -> tuple[str | None, str]:
    """(pod key or None, a word for the engineer) for the selected row."""
    if kind == "pods" and key:
        return key, ""
    if kind != "deployments" or not key:
        return None, "logs: select a pod or a Deployment"
    pods = [p for k in store.pods_of_deployment(key)
            if isinstance(p := store.get("pods", k), PodRow)]
    if not pods:
        return None, f"logs: Deployment {key} has no pods"
    problems = store.problem_pods(now=now)
    failing = [p for p in pods if p.key in problems or p.restarts]
    newest = max(failing or pods, key=lambda p: (p.created, p.key))
    if failing:
        return newest.key, ""
    return newest.key, f"no failing pod in {key}: showing its newest pod"


class LogActions:
    """Opens the logs screen for the selected row (see the module docstring)."""

    def __init__(self, host: Host, store: Store, session: Callable[[], Session | None]) -> None:
        self._host = host
        self._store = store
        self._session = session

    def open(self) -> None:
        from tui.logs_screen import LogsScreen  # at first use: not needed for the first rows

        panel = self._host.focused_panel()
        kind = panel.selected_kind if panel is not None else None
        key = panel.selected_key if panel is not None else None
        pod_key, note = pod_for_logs(self._store, kind, key)
        if pod_key is None:
            self._host.notify(note, timeout=4, markup=False)
            return
        session = self._session()
        if session is None or session.conn is None:
            self._host.notify("logs: not connected to the cluster yet", severity="warning",
                              timeout=4, markup=False)
            return
        if note:
            self._host.notify(note, timeout=4, markup=False)
        self._host.push_screen(LogsScreen(session.conn, self._store, pod_key))

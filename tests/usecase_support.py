"""Helpers of the use-case tests: a workspace on the drill whose gate records every request
it sends (with bodies), and the comparison of a dry-run with the execution that follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.config import Settings
from backends.kube.connection import KubeConnection
from backends.kube.wire import Params
from backends.ops.gate import SSAR_PATH
from backends.ops.journal import Journal
from backends.ops.plan import Plan
from backends.usecases.workspace import Workspace
from drill.runner import DrillCluster
from tests.ops_support import ARMED, gate_for, is_write

Sent = tuple[str, str, bytes | None]
"""(method, path, body) of one write a gate sent."""


@dataclass
class Recorder:
    """The gate's sender: passes everything to the connection and keeps the writes (dry-run
    or not), so bodies can be compared; the drill's own request log witnesses the rest."""

    conn: KubeConnection
    sent: list[tuple[str, str, bool, bytes | None]] = field(default_factory=list)

    async def request(self, method: str, path: str, params: Params | None = None,
                      body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        if method != "POST" or path != SSAR_PATH:
            self.sent.append((method, path, bool(params and params.get("dryRun")), body))
        return await self.conn.request(method, path, params, body, content_type)

    def take(self) -> tuple[list[Sent], list[Sent]]:
        """(dry-run writes, real writes) since the last take."""
        dry = [(m, p, b) for m, p, d, b in self.sent if d]
        real = [(m, p, b) for m, p, d, b in self.sent if not d]
        self.sent.clear()
        return dry, real


def workspace(conn: KubeConnection, journal: Journal | None, *, read_only: bool = False,
              settings: Settings = ARMED, **kw: Any) -> tuple[Workspace, Recorder]:
    recorder = Recorder(conn)
    gate = gate_for(recorder, journal, read_only=read_only, settings=settings)
    return Workspace(conn, gate, journal, settings, **kw), recorder


def listed(plan: Plan) -> list[tuple[str, str]]:
    """The writes a plan lists (what the dry-run shows), as (method, path)."""
    return [(w.request.method, w.request.path) for w in plan.writes]


def server_writes(cluster: DrillCluster) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(dry-run writes, real writes) the drill server received since the log was cleared,
    as (method, path); the log is cleared again."""
    log = [r for r in cluster.server.requests if is_write(r[0], r[1])]
    cluster.server.requests.clear()
    dry = [(m, p) for m, p, q in log if "dryRun=All" in q]
    real = [(m, p) for m, p, q in log if "dryRun" not in q]
    return dry, real


def watch(cluster: DrillCluster) -> None:
    """Start (or restart) the drill's request log."""
    cluster.server.requests.clear()
    cluster.server.record_requests = True

"""What every use case works with: one :class:`Workspace` per session, one :class:`Action` per
planned action.

Why two small values and not the App or an ``argparse.Namespace``: the keys and the pipeline
CLI must plan, preview and execute an action *identically*, so the use cases take only what
both faces have (a connection, a gate, a journal, the settings, and the App's live store when
there is one) and hand back a value both can render. A face builds its :class:`Workspace` once
(the App when it connects, the CLI per command) and never assembles planners, gates or
executors itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backends.ops.gate import Sender, WriteGate

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.connection import KubeConnection
    from backends.ops.journal import Journal
    from backends.ops.plan import Plan
    from backends.signals.alertmanager import AlertmanagerClient
    from backends.store import Store

__all__ = ["Action", "Workspace"]


@dataclass(frozen=True)
class Workspace:
    """One session's means to act.

    ``conn`` reads and (through ``gate`` only) writes the cluster; ``gate`` carries the
    session's policy (read-only, protected, cancel window, operator); ``journal`` is None when
    it could not be opened (every write is then refused by the gate, planning still works);
    ``store`` is the App's live store (None in the CLI: a use case that needs one lists the
    cluster once, see :func:`backends.usecases.breaker.plan_engage`); ``alertmanager`` the
    session's Alertmanager client, when one is configured.
    """

    conn: KubeConnection
    gate: WriteGate
    journal: Journal | None
    settings: Settings
    store: Store | None = None
    alertmanager: AlertmanagerClient | None = None

    @property
    def context(self) -> str:
        """The kube context every write of this workspace goes to."""
        return self.gate.policy.context

    def gate_on(self, sender: Sender) -> WriteGate:
        """A gate for another transport (Argo CD REST, Helm, Alertmanager) with this
        session's policy and journal, so read-only mode, protected contexts and the journal
        hold for it exactly as for the cluster. Those transports have neither server-side
        dry-run nor access reviews."""
        return WriteGate(self.gate.policy, sender, self.journal, dry_run=False,
                         access_reviews=False)


@dataclass
class Action:
    """A planned action: the plan, and the gate that previews AND sends it.

    Why the gate travels with the plan: a plan for the Argo CD REST API, Helm or Alertmanager
    must be previewed and executed through a gate on that transport; a face that picked the
    gate itself could preview on one and send on another. ``emergency`` is the use case's
    decision (the breaker's), never the face's: it skips the cancel window, never the typed
    context name. ``closer`` releases what the plan holds open (the REST client): a face
    awaits :meth:`close` when it is done with the action (executed or not).
    """

    plan: Plan
    gate: WriteGate
    emergency: bool = False
    closer: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return self.plan.title

    async def close(self) -> None:
        closer, self.closer = self.closer, None
        if closer is not None:
            await closer()

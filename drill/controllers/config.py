"""Knobs shared by the drill cluster's simulated controllers.

One mutable object, handed to every controller at construction, is how a scenario (or a test)
breaks and heals the cluster: add an image to :attr:`SimConfig.bad_images` and every container
started from it crash-loops; put a node in :attr:`SimConfig.down_nodes` and its kubelet stops.
Controllers read it on every tick instead of copying it, so a change takes effect at the next
reconcile, the way a real fault shows up without anyone restarting the control plane.

Times are scenario seconds (see :class:`~drill.controllers.core.SimClock`), short by default
so a drill shows a whole rollout in a minute; they keep Kubernetes' proportions (grace before
NotReady shorter than eviction, back-off doubling from 10 s to 5 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimConfig:
    """Faults and timings of the simulated cluster."""

    #: Images whose containers exit 1 shortly after starting (a bad rollout).
    bad_images: set[str] = field(default_factory=set)
    #: Images whose containers outgrow their memory limit and are OOMKilled (exit 137).
    oom_images: set[str] = field(default_factory=set)
    #: Nodes whose kubelet has stopped: no heartbeats, then Unknown, then pod eviction.
    down_nodes: set[str] = field(default_factory=set)
    #: Pull and create time of a container (``ContainerCreating``).
    container_create_seconds: float = 2.0
    #: From container start to passing its readiness probe.
    readiness_seconds: float = 3.0
    #: How long a container of a bad image runs before it exits 1.
    crash_after_seconds: float = 2.0
    #: How long a container of an ``oom_images`` image runs (ready after
    #: ``readiness_seconds``) before the kernel kills it.
    oom_after_seconds: float = 6.0
    #: First CrashLoopBackOff delay; doubles per restart up to ``backoff_cap`` (kubelet: 10s, 5m).
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    #: Graceful termination time of a deleted pod, capped by its grace period.
    termination_seconds: float = 2.0
    #: A node without a kubelet heartbeat for this long goes Ready=Unknown.
    node_grace_seconds: float = 20.0
    #: Pods on an unreachable node are force-deleted this long after it went Unknown.
    eviction_seconds: float = 30.0
    #: metrics-server scrape interval.
    metrics_interval: float = 15.0
    #: How often a healthy kubelet refreshes its node's condition heartbeats.
    node_status_interval: float = 40.0
    #: Delay before Argo CD's selfHeal reverts a hand edit (used by the Argo CD simulation).
    self_heal_delay: float = 5.0
    #: Seed of every pseudo-random choice (metrics random walks, interference in tests).
    seed: int = 1

    def crash_of(self, image: str) -> tuple[float, int, str] | None:
        """How a container of ``image`` dies: (seconds it runs, exit code, reason), or None
        for a healthy image. The kubelet and the drill's container logs agree through this."""
        if image in self.bad_images:
            return self.crash_after_seconds, 1, "Error"
        if image in self.oom_images:
            return self.oom_after_seconds, 137, "OOMKilled"
        return None

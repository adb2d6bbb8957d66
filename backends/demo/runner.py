"""Start and stop the drill cluster: state, seed platform, API server and its kubeconfig.

``controlroom demo --headless`` and the in-process demo of the control room both go through
:class:`DrillCluster`, so what a newcomer sees on screen is exactly what kubectl sees.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from backends.demo.policy import Policy
from backends.demo.seed import seed_objects
from backends.demo.server import DrillApiServer
from backends.demo.state import ClusterState

CONTEXT = "drill"


@dataclass
class DrillOptions:
    """What the drill cluster is started with (the CLI's ``demo`` flags)."""

    host: str = "127.0.0.1"
    port: int = 0
    policy: Policy = field(default_factory=Policy)
    bookmark_interval: float = 5.0
    window: int = 20_000
    kubeconfig: Path | None = None
    seed: bool = True


class DrillCluster:
    """The whole drill cluster, started on the running event loop."""

    def __init__(self, options: DrillOptions | None = None) -> None:
        self.options = options or DrillOptions()
        self.state = ClusterState(window=self.options.window)
        self.server = DrillApiServer(self.state, policy=self.options.policy,
                                     bookmark_interval=self.options.bookmark_interval)
        self.kubeconfig: Path | None = None
        self._tmpdir: str | None = None

    async def start(self) -> None:
        if self.options.seed:
            self.state.load(seed_objects(datetime.now(UTC)))
        await self.server.start(self.options.host, self.options.port)
        self.kubeconfig = self._write_kubeconfig()

    async def stop(self) -> None:
        await self.server.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def url(self) -> str:
        return self.server.url

    def kubeconfig_dict(self) -> dict[str, Any]:
        """A kubeconfig for the drill cluster, with a bearer token only it accepts."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.server.url}}],
            "users": [{"name": "drill-operator", "user": {"token": self.server.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT,
                                                       "user": "drill-operator",
                                                       "namespace": "default"}}],
            "current-context": CONTEXT,
            "preferences": {},
        }

    def _write_kubeconfig(self) -> Path:
        path = self.options.kubeconfig
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="controlroom-drill-")
            path = Path(self._tmpdir) / "kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(self.kubeconfig_dict(), fh, sort_keys=False)
        os.replace(tmp, path)
        return path

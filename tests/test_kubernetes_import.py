"""kubernetes.aio without the synchronous kubernetes client (backends/kube/kubernetes_aio.py).

Issue 16 (spawn to first rows under 0.6 s): the connection imports kubernetes.aio's loader and
session without running ``kubernetes/__init__.py`` (the whole synchronous client). Checked in
a fresh interpreter, because this test process may have imported ``kubernetes`` already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
import backends.kube.connection
loaded = sorted(m for m in sys.modules if m.split('.')[:2] in (['kubernetes', 'client'],
                ['kubernetes', 'config'], ['kubernetes', 'dynamic'], ['kubernetes', 'watch']))
print('sync:', loaded)
print('aio extras:', sorted(m for m in sys.modules if m.startswith(('kubernetes.aio.dynamic',
      'kubernetes.aio.watch', 'kubernetes.aio.stream', 'kubernetes.aio.leaderelection'))))
import kubernetes
print('version:', kubernetes.__version__)
from kubernetes import client
print('sync client:', client.V1Pod.__name__)
from kubernetes.aio import watch
print('aio watch:', watch.Watch.__name__)
import kubernetes.aio
print('aio version:', kubernetes.aio.__version__)
"""


def test_the_connection_imports_kubernetes_aio_without_the_sync_client() -> None:
    """The sync client and kubernetes.aio's extras are not imported by the connection, and
    whoever imports ``kubernetes`` afterwards still gets the whole package (its __init__
    runs on the first attribute it is asked for)."""
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sync: []", lines[0]
    assert lines[1] == "aio extras: []", lines[1]
    assert lines[2].startswith("version: ") and lines[2] != "version: "
    assert lines[3:] == ["sync client: V1Pod", "aio watch: Watch",
                         f"aio version: {lines[2].removeprefix('version: ')}"]

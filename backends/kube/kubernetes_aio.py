"""The few kubernetes.aio names we use, imported without the rest of the ``kubernetes`` package.

Why: ``kubernetes.aio`` is a subpackage of ``kubernetes``, so importing any of it first runs
``kubernetes/__init__.py``, which imports the whole synchronous client (``kubernetes.client``,
``config``, ``dynamic``, ``watch``, ``stream``, ``leaderelection``, ``informer``: urllib3,
requests, oauthlib, websocket, google-auth...), and ``kubernetes/aio/__init__.py`` adds its own
``dynamic``, ``watch``, ``stream`` and ``leaderelection``. We use none of them, and together
they were about 0.1-0.2 s of CPU of the control room's start, before the first rows (issue 16:
spawn to first rows under 0.6 s; ``python -X importtime -c 'import backends.kube.connection'``).

So before importing, :func:`defer_package_init` registers those two packages as real package
modules whose ``__init__`` has not run yet: their submodules import as usual (``__path__`` is
set), and the first time anything asks either package for an attribute it does not hold yet
(``kubernetes.__version__``, ``from kubernetes.aio import watch``...), the package's own
``__init__`` runs then, so every other user of the library sees the package it expects. When
``kubernetes`` was imported already (a test, the drill's tools), nothing is deferred.
"""

from __future__ import annotations

import importlib.util
import sys
import threading

__all__ = [
    "ApiClient",
    "ConfigException",
    "Configuration",
    "KubeConfigLoader",
    "KubeConfigMerger",
    "defer_package_init",
]


def defer_package_init(name: str) -> None:
    """Register package ``name`` in ``sys.modules`` without running its ``__init__`` yet.

    The module is the package's own (built from its spec, ``__path__`` and all); its
    ``__init__`` runs on the first attribute lookup the module cannot answer (PEP 562), and
    then answers it. Nothing happens if the package is imported already or cannot be found.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.Lock()  # the connection imports in a worker thread (tui/run.py)

    def run_init(attribute: str) -> object:
        with lock:
            if module.__dict__.pop("__getattr__", None) is not None:
                loader.exec_module(module)
        return getattr(module, attribute)

    module.__dict__["__getattr__"] = run_init
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


defer_package_init("kubernetes")
defer_package_init("kubernetes.aio")

from kubernetes.aio.client.api_client import ApiClient  # noqa: E402 (after the deferral)
from kubernetes.aio.client.configuration import Configuration  # noqa: E402
from kubernetes.aio.config.config_exception import ConfigException  # noqa: E402
from kubernetes.aio.config.kube_config import (  # noqa: E402
    KubeConfigLoader,
    KubeConfigMerger,
)

"""The kubeconfig, read in ONE place: which files, which context, cluster, user and namespace.

Everything in the program that needs to know what a kubeconfig says goes through
:func:`read_kubeconfigs`: the connection (:func:`select`, then kubernetes.aio's loader for the
credentials), the header before the first request (:func:`describe_context`) and the CLI's
context listing (:func:`list_contexts`). Before, the header and the pipeline CLI asked the
synchronous ``kubernetes.config`` package and a YAML check of their own, and could disagree
with the connection about the same file.

The rules are kubectl's: ``--kubeconfig``, else ``$KUBECONFIG`` (a path list; missing files
in it are skipped), else ``~/.kube/config``; for names defined in several files the first file
wins; the last file that sets ``current-context`` wins (as kubernetes.aio's merger does). A
file that is not a kubeconfig gets an error naming the file and the field, not a Python
traceback from deep inside the kubernetes package.

``KubeConfigMerger`` (kubernetes.aio) is still built here, for the credentials: it keeps each
entry's file so relative ``certificate-authority``/``tokenFile``/exec paths resolve against
the file that names them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from backends.cleartext import extension_allows
from backends.kube.errors import KubeconfigError

if TYPE_CHECKING:
    from backends.kube.kubernetes_aio import KubeConfigMerger

__all__ = [
    "KubeconfigError",
    "Selected",
    "describe_context",
    "kubeconfig_paths",
    "list_contexts",
    "read_kubeconfigs",
    "select",
]


@dataclass(frozen=True)
class Selected:
    """The validated kubeconfig: which files, which context, cluster and user."""

    paths: tuple[Path, ...]
    context: str
    cluster_name: str
    server: str
    user_name: str
    user: Mapping[str, Any]
    namespace: str
    merger: KubeConfigMerger = field(compare=False)
    allow_http_credentials: bool = False
    """The cluster entry carries :data:`backends.cleartext.ALLOW_EXTENSION` (credentials may
    go to a plain ``http://`` server)."""


def kubeconfig_paths(kubeconfig: str | None) -> list[str]:
    """``--kubeconfig``, else ``$KUBECONFIG`` (a path list), else ``~/.kube/config``."""
    if kubeconfig:
        return [kubeconfig]
    env = os.environ.get("KUBECONFIG", "")
    paths = [p for p in env.split(os.pathsep) if p]
    return paths or [str(Path("~/.kube/config"))]


def read_kubeconfigs(paths: list[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Read and check each existing file; missing files in a list are skipped (as kubectl)."""
    found: list[tuple[Path, dict[str, Any]]] = []
    for entry in paths:
        path = Path(entry).expanduser()
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KubeconfigError(f"kubeconfig {path}: cannot read it: {exc}") from exc
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" at line {mark.line + 1}, column {mark.column + 1}"
            problem = getattr(exc, "problem", None) or str(exc)
            raise KubeconfigError(
                f"kubeconfig {path} is not valid YAML{where}: {problem}"
            ) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise KubeconfigError(
                f"kubeconfig {path}: expected a mapping with clusters, contexts and users, "
                f"found a {type(doc).__name__}"
            )
        for section in ("clusters", "contexts", "users"):
            _check_section(path, doc, section)
        found.append((path, doc))
    if not found:
        raise KubeconfigError(f"no kubeconfig file found (looked for {', '.join(paths)})")
    return found


def _check_section(path: Path, doc: Mapping[str, Any], section: str) -> None:
    items = doc.get(section)
    if items is None:
        return
    if not isinstance(items, list):
        raise KubeconfigError(
            f"kubeconfig {path}: '{section}' must be a list, found a {type(items).__name__}"
        )
    inner = section[:-1]
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise KubeconfigError(f"kubeconfig {path}: {section}[{index}] has no name")
        if not isinstance(item.get(inner), dict):
            raise KubeconfigError(
                f"kubeconfig {path}: {section}[{index}] ({item['name']}) has no '{inner}' mapping"
            )


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, dict[str, Any]], ...]:
    """Entries by name per section; the first file that defines a name wins (as kubectl)."""
    merged: tuple[dict[str, dict[str, Any]], ...] = ({}, {}, {})
    for _, doc in docs:
        for table, section in zip(merged, ("clusters", "contexts", "users"), strict=True):
            for item in doc.get(section) or ():
                table.setdefault(item["name"], item[section[:-1]])
    return merged


def _current_context(docs: list[tuple[Path, dict[str, Any]]]) -> str:
    current = ""
    for _, doc in docs:  # the last file that sets it wins, as in kubernetes.aio's merger
        if "current-context" in doc:
            current = str(doc.get("current-context") or "")
    return current


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """Context names in file order and the current context (None when unset), for the CLI.

    Synchronous (the CLI calls it before the event loop starts); raises
    :class:`KubeconfigError` for a missing or malformed file.
    """
    docs = read_kubeconfigs(kubeconfig_paths(kubeconfig))
    _, contexts, _ = _merge(docs)
    return list(contexts), _current_context(docs) or None


def select(paths: list[str], context: str | None) -> Selected:
    """Validate the kubeconfig and the chosen context (runs in a worker thread)."""
    docs = read_kubeconfigs(paths)
    clusters, contexts, users = _merge(docs)
    where = ", ".join(str(p) for p, _ in docs)
    names = ", ".join(contexts) or "none"
    chosen = context or _current_context(docs)
    if not chosen:
        raise KubeconfigError(
            f"kubeconfig {where} sets no current-context and none was given; "
            f"available contexts: {names}"
        )
    ctx = contexts.get(chosen)
    if ctx is None:
        raise KubeconfigError(
            f"context {chosen!r} is not defined in kubeconfig {where}; available contexts: {names}"
        )
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigError(f"context {chosen!r} in {where} names no cluster")
    cluster = clusters.get(cluster_name)
    if cluster is None:
        raise KubeconfigError(
            f"context {chosen!r} refers to cluster {cluster_name!r}, which is not defined in {where}"
        )
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(
            f"cluster {cluster_name!r} in {where} has no usable server URL (got {server!r})"
        )
    user_name = ctx.get("user") or ""
    user: Mapping[str, Any] = {}
    if user_name:
        found = users.get(user_name)
        if found is None:
            raise KubeconfigError(
                f"context {chosen!r} refers to user {user_name!r}, which is not defined in {where}"
            )
        user = found
    namespace = ctx.get("namespace") or "default"
    # Here, not at the top: the header and the CLI read contexts (describe_context,
    # list_contexts) without importing kubernetes.aio (backends/kube/kubernetes_aio.py).
    from backends.kube.kubernetes_aio import ConfigException, KubeConfigMerger

    try:
        merger = KubeConfigMerger(os.pathsep.join(str(p) for p, _ in docs))
    except (OSError, yaml.YAMLError, ConfigException) as exc:
        raise KubeconfigError(f"kubeconfig {where}: {exc}") from exc
    return Selected(
        paths=tuple(p for p, _ in docs),
        context=chosen,
        cluster_name=cluster_name,
        server=server.rstrip("/"),
        user_name=str(user_name),
        user=user,
        namespace=str(namespace),
        merger=merger,
        allow_http_credentials=extension_allows(cluster),
    )


def describe_context(kubeconfig: str | None, context: str | None) -> tuple[str, str]:
    """(context name, cluster name) that a connection with these flags would use, read
    without connecting (the header shows them before the first request; the CLI checks the
    flags before it starts). The cluster is ``?`` when the context names none.

    Synchronous; raises :class:`KubeconfigError` for a missing or malformed file or an
    unknown context.
    """
    docs = read_kubeconfigs(kubeconfig_paths(kubeconfig))
    _, contexts, _ = _merge(docs)
    if not contexts:
        where = ", ".join(str(p) for p, _ in docs)
        raise KubeconfigError(f"{where} has no contexts")
    name = context or _current_context(docs) or None
    if name not in contexts:
        known = ", ".join(sorted(contexts))
        raise KubeconfigError(f"context {name!r} not found in the kubeconfig (known: {known})")
    cluster = contexts[name].get("cluster") or "?"
    return str(name), str(cluster)

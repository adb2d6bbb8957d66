"""What a kubeconfig says, read without connecting: the context and cluster to show in the
header before the first request, and a clear error when the file is unusable."""

from __future__ import annotations

import yaml
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import list_kube_config_contexts

from backends.kube.connection import KubeconfigError

__all__ = ["KubeconfigError", "describe_context"]


def describe_context(kubeconfig: str | None, context: str | None) -> tuple[str, str]:
    """(context name, cluster name) that a connection with these flags would use."""
    if kubeconfig is not None:
        _check_shape(kubeconfig)
    try:
        contexts, current = list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError) as exc:
        where = kubeconfig or "the default kubeconfig"
        raise KubeconfigError(f"cannot read {where}: {exc}") from exc
    if not contexts:
        raise KubeconfigError(f"{kubeconfig or 'the default kubeconfig'} has no contexts")
    by_name = {c.get("name"): c for c in contexts if isinstance(c, dict)}
    name = context or (current or {}).get("name")
    if name not in by_name:
        known = ", ".join(sorted(str(n) for n in by_name))
        raise KubeconfigError(f"context {name!r} not found in the kubeconfig (known: {known})")
    cluster = (by_name[name].get("context") or {}).get("cluster") or "?"
    return str(name), str(cluster)


def _check_shape(path: str) -> None:
    """Name the problem of a file that is not a kubeconfig at all (the kubernetes package
    answers those with unrelated Python errors)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping "
                              f"with clusters, users and contexts, got {type(data).__name__})")
    for key in ("clusters", "contexts", "users"):
        if not isinstance(data.get(key) or [], list):
            raise KubeconfigError(f"kubeconfig {path}: '{key}' must be a list")

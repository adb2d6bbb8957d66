"""The placeholder values of one row for its links out (:mod:`backends.links`).

Apart from the templates because it reads the store and the row types, which the config (and
the drill, through the config) must not import.
"""

from __future__ import annotations

from backends.model import AppRow, DeploymentRow, Row
from backends.signals.model import AlertRow
from backends.store import Store

__all__ = ["row_values"]


def row_values(store: Store, kind: str, row: Row, *, context: str, cluster: str
               ) -> dict[str, str]:
    """The placeholder values of one row ("" where the row has none), raw: :func:`fill`
    encodes them."""
    values = {"context": context, "cluster": cluster,
              "namespace": str(getattr(row, "namespace", "") or ""),
              "name": str(getattr(row, "name", "") or "")}
    if isinstance(row, AppRow):
        values["app"] = row.name
    elif isinstance(row, DeploymentRow):
        values["app"] = row.argocd_app
    elif kind == "pods":
        deployment = store.deployment_of_pod(row.key)
        owner = store.get("deployments", deployment) if deployment else None
        values["app"] = owner.argocd_app if isinstance(owner, DeploymentRow) else ""
    elif isinstance(row, AlertRow):
        labels = dict(row.labels)
        values.update(namespace=labels.get("namespace", ""),
                      name=labels.get("pod") or labels.get("deployment") or "",
                      app=labels.get("app", ""), alertname=row.alertname,
                      severity=row.severity)
    return values

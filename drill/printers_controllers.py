"""kubectl's printers for the older workload controllers: ReplicationController, DaemonSet.

Kept apart from :mod:`drill.printers` (which is near its size limit) but written the same way,
after ``printReplicationController`` and ``printDaemonSet`` in Kubernetes'
``pkg/printers/internalversion/printers.go``: every cell, wide ones included, on every row.
"""

from __future__ import annotations

from datetime import datetime

from drill.printers import (
    Cell,
    Obj,
    _containers_cells,
    _int,
    _spec,
    _status,
    _template_spec,
    age,
    format_labels,
    format_selector,
    name_of,
)


def print_replication_controller(rc: Obj, now: datetime) -> list[Cell]:
    """NAME DESIRED CURRENT READY AGE, then CONTAINERS IMAGES SELECTOR (a plain label map)."""
    spec, status = _spec(rc), _status(rc)
    names, images = _containers_cells(_template_spec(rc))
    return [name_of(rc), _int(spec.get("replicas"), 1), _int(status.get("replicas")),
            _int(status.get("readyReplicas")), age(rc, now), names, images,
            format_labels(spec.get("selector"))]


def print_daemon_set(ds: Obj, now: datetime) -> list[Cell]:
    """The counts come from status only; NODE SELECTOR is the template's ``nodeSelector``."""
    spec, status = _spec(ds), _status(ds)
    template_spec = _template_spec(ds)
    names, images = _containers_cells(template_spec)
    return [name_of(ds), _int(status.get("desiredNumberScheduled")),
            _int(status.get("currentNumberScheduled")), _int(status.get("numberReady")),
            _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable")),
            format_labels(template_spec.get("nodeSelector")), age(ds, now), names, images,
            format_selector(spec.get("selector"))]

"""Server-side Table output (``meta.k8s.io/v1`` ``Table``) for the drill cluster.

kubectl never formats ``kubectl get`` itself: it sends
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns the server
returns, hiding priority > 0 columns unless ``-o wide``. To make kubectl against the drill
cluster look exactly like kubectl against AKS, this module produces the Tables a real cluster
would:

* built-in kinds (pods, nodes, events, ...) use kubectl's printers, re-expressed in
  :mod:`drill.printers`;
* custom resources (Argo CD, Gateway API, AGC) use the ``additionalPrinterColumns`` of their
  real CRDs, evaluated like the apiextensions server does (``Name`` first, then the listed
  columns; a CRD that lists none gets a single ``Age`` date column);
* ``metrics.k8s.io`` uses metrics-server's own columns (``Name``, one per resource, ``Window``).

Row objects follow the ``includeObject`` parameter (``None``, ``Metadata`` by default, or
``Object``); kubectl needs the metadata to print NAMESPACE with ``-A`` and ``--show-labels``.

Watches (``kubectl get -w``): every watch event's object is a one-row Table, see
:func:`table_for_watch_event`. The real server sends ``columnDefinitions`` with the first event
only, to save bandwidth; kubectl reuses the last definitions it saw when a Table has none.

All functions are pure: inputs are never mutated, rows carry deep copies.

Over 500 lines because it is one job, the server's Table output, whose three sources
(printers, CRD printer columns, metrics columns) share the row and watch-event plumbing.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from drill import printers as P
from drill import printers_controllers as PC
from drill.printers import Obj, human_duration, parse_timestamp, since
from drill.resources import ResourceType

__all__ = [
    "BUILTIN",
    "CRD_COLUMNS",
    "PrinterColumn",
    "columns_for",
    "format_quantity",
    "human_duration",
    "parse_quantity",
    "parse_timestamp",
    "table_for_watch_event",
    "to_table",
]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# built-in kinds: column names, types and priorities as the real server sends them (the
# descriptions are ours; kubectl does not print them)


def column(
    name: str, ctype: str = "string", description: str = "", *, priority: int = 0, fmt: str = ""
) -> Obj:
    """One ``TableColumnDefinition``."""
    return {
        "name": name, "type": ctype, "format": fmt, "description": description,
        "priority": priority,
    }


NAME_COLUMN = column(
    "Name", description="Name must be unique within a namespace (metadata.name).", fmt="name"
)
AGE_COLUMN = column("Age", description="Time since metadata.creationTimestamp.")
_CONTAINERS = column("Containers", description="Names of each container in the template.",
                     priority=1)
_IMAGES = column("Images", description="Images referenced by each container in the template.",
                 priority=1)

_REPLICA_COLUMNS = [
    NAME_COLUMN,
    column("Desired", "integer", "Number of desired pods."),
    column("Current", "integer", "The most recently observed number of replicas."),
    column("Ready", "integer", "The number of pods with a Ready condition."),
    AGE_COLUMN, _CONTAINERS, _IMAGES,
    column("Selector", description="Label selector for pods.", priority=1),
]
"""kubectl prints ReplicaSets and ReplicationControllers with the same columns."""

BUILTIN: dict[str, tuple[list[Obj], P.Printer]] = {
    "pods": ([
        NAME_COLUMN,
        column("Ready", description="The aggregate readiness state of this pod for accepting "
               "traffic."),
        column("Status", description="The aggregate status of the containers in this pod."),
        column("Restarts", description="The number of times the containers in this pod have "
               "been restarted and when the last container in this pod has restarted."),
        AGE_COLUMN,
        column("IP", description="IP address allocated to the pod.", priority=1),
        column("Node", description="The node the pod is bound to (spec.nodeName).", priority=1),
        column("Nominated Node", description="The node preemption nominated for this pod.",
               priority=1),
        column("Readiness Gates", description="Readiness gates that are true, of all gates.",
               priority=1),
    ], P.print_pod),
    "nodes": ([
        NAME_COLUMN,
        column("Status", description="The status of the node"),
        column("Roles", description="The roles of the node"),
        AGE_COLUMN,
        column("Version", description="Kubelet version reported by the node."),
        column("Internal-IP", description="The node's first InternalIP address.", priority=1),
        column("External-IP", description="The node's first ExternalIP address.", priority=1),
        column("OS-Image", description="OS image reported by the node.", priority=1),
        column("Kernel-Version", description="Kernel version reported by the node.", priority=1),
        column("Container-Runtime", description="Container runtime version.", priority=1),
    ], P.print_node),
    "events": ([
        column("Last Seen", description="The time at which the most recent occurrence of this "
               "event was recorded."),
        column("Type", description="Type of this event (Normal, Warning)."),
        column("Reason", description="Why the transition into the object's current status."),
        column("Object", description="The object that this event is about."),
        column("Subobject", description="The field of the object the event is about.",
               priority=1),
        column("Source", description="The component reporting this event.", priority=1),
        column("Message", description="A human-readable description of the event."),
        column("First Seen", description="The time at which the event was first recorded.",
               priority=1),
        column("Count", description="The number of times this event has occurred.", priority=1),
        column("Name", description=NAME_COLUMN["description"], priority=1, fmt="name"),
    ], P.print_event),
    "namespaces": ([
        NAME_COLUMN, column("Status", description="The status of the namespace"), AGE_COLUMN,
    ], P.print_namespace),
    "services": ([
        NAME_COLUMN,
        column("Type", description="How the service is exposed."),
        column("Cluster-IP", description="The IP address of the service inside the cluster."),
        column("External-IP", description="Addresses the service is reachable at from outside."),
        column("Port(s)", description="The ports exposed by this service."),
        AGE_COLUMN,
        column("Selector", description="Labels of the pods traffic is routed to.", priority=1),
    ], P.print_service),
    "configmaps": ([
        NAME_COLUMN, column("Data", description="Number of data and binaryData keys."),
        AGE_COLUMN,
    ], P.print_configmap),
    "deployments.apps": ([
        NAME_COLUMN,
        column("Ready", description="Number of the pod with ready state"),
        column("Up-to-date", description="Total number of non-terminated pods targeted by this "
               "deployment that have the desired template spec."),
        column("Available", description="Total number of available pods targeted by this "
               "deployment."),
        AGE_COLUMN, _CONTAINERS, _IMAGES,
        column("Selector", description="Label selector for pods.", priority=1),
    ], P.print_deployment),
    "replicasets.apps": (_REPLICA_COLUMNS, P.print_replicaset),
    "replicationcontrollers": (_REPLICA_COLUMNS, PC.print_replication_controller),
    "daemonsets.apps": ([
        NAME_COLUMN,
        column("Desired", "integer", "The total number of nodes that should be running the "
               "daemon pod."),
        column("Current", "integer", "The number of nodes running at least one daemon pod."),
        column("Ready", "integer", "The number of nodes with a ready daemon pod."),
        column("Up-to-date", "integer", "The number of nodes running the updated daemon pod."),
        column("Available", "integer", "The number of nodes with an available daemon pod."),
        column("Node Selector", description="The node selector of the daemon set's pods."),
        AGE_COLUMN, _CONTAINERS, _IMAGES,
        column("Selector", description="Label selector for pods.", priority=1),
    ], PC.print_daemon_set),
}


# ---------------------------------------------------------------------------------------------
# custom resources: additionalPrinterColumns of the real CRDs


@dataclass(frozen=True)
class PrinterColumn:
    """One CRD ``additionalPrinterColumns`` entry (simple JSONPath only, like the real CRDs)."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""

    def definition(self) -> Obj:
        desc = self.description or (
            f"Custom resource definition column (in JSONPath format): {self.json_path}"
        )
        return column(self.name, self.type, desc, priority=self.priority)


_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

#: Columns of the CRDs as installed upstream (Argo CD manifests/crds, Gateway API standard
#: channel). AppProject and ApplicationLoadBalancer list none, so they get the default Age.
CRD_COLUMNS: dict[str, list[PrinterColumn]] = {
    "applications.argoproj.io": [
        PrinterColumn("Sync Status", "string", ".status.sync.status"),
        PrinterColumn("Health Status", "string", ".status.health.status"),
        PrinterColumn("Revision", "string", ".status.sync.revision", priority=10),
        PrinterColumn("Project", "string", ".spec.project", priority=10),
    ],
    "gatewayclasses.gateway.networking.k8s.io": [
        PrinterColumn("Controller", "string", ".spec.controllerName"),
        PrinterColumn("Accepted", "string", '.status.conditions[?(@.type=="Accepted")].status'),
        _AGE,
        PrinterColumn("Description", "string", ".spec.description", priority=1),
    ],
    "gateways.gateway.networking.k8s.io": [
        PrinterColumn("Class", "string", ".spec.gatewayClassName"),
        PrinterColumn("Address", "string", ".status.addresses[*].value"),
        PrinterColumn("Programmed", "string",
                      '.status.conditions[?(@.type=="Programmed")].status'),
        _AGE,
    ],
    "httproutes.gateway.networking.k8s.io": [
        PrinterColumn("Hostnames", "string", ".spec.hostnames"),
        _AGE,
    ],
}

_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_-]+)
      |\[\*\](?P<all>)
      |\[(?P<index>\d+)\]
      |\[\?\(@\.(?P<fkey>[A-Za-z0-9_-]+)==["'](?P<fval>[^"']*)["']\)\]""",
    re.VERBOSE,
)


def jsonpath_values(obj: Any, path: str) -> list[Any]:
    """Evaluate a simple JSONPath (fields, ``[*]``, ``[n]``, ``[?(@.k=="v")]``).

    Missing keys yield no value rather than an error, as the apiserver evaluates printer
    columns with missing keys allowed.
    """
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r}")
        pos = m.end()
        nxt: list[Any] = []
        for value in current:
            if m.group("field") is not None:
                if isinstance(value, dict) and m.group("field") in value:
                    nxt.append(value[m.group("field")])
            elif m.group("all") is not None:
                if isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, dict):
                    nxt.extend(value.values())
            elif m.group("index") is not None:
                i = int(m.group("index"))
                if isinstance(value, list) and i < len(value):
                    nxt.append(value[i])
            elif isinstance(value, list):
                key, wanted = m.group("fkey"), m.group("fval")
                nxt.extend(
                    v for v in value if isinstance(v, dict) and str(v.get(key)) == wanted
                )
        current = nxt
    return current


def _jsonpath_text(value: Any) -> str:
    """How kubectl's JSONPath printer renders one value: strings raw, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _crd_cell(col: PrinterColumn, obj: Obj, now: datetime) -> P.Cell:
    """One CRD cell typed like the apiextensions server types it (null when missing)."""
    values = jsonpath_values(obj, col.json_path)
    if not values or values[0] is None:
        return None
    value = values[0]
    if col.type == "string":
        return _jsonpath_text(value)
    if col.type == "date":
        if not isinstance(value, str):
            return None
        return "<invalid>" if parse_timestamp(value) is None else since(value, now)
    if col.type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if col.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if col.type == "boolean" and isinstance(value, bool):
        return value
    return None


# ---------------------------------------------------------------------------------------------
# metrics.k8s.io: metrics-server's columns, with Kubernetes quantity arithmetic

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[a-zA-Z]*)$")


def parse_quantity(text: str) -> tuple[Fraction, str]:
    """Parse a Kubernetes quantity to (exact value, format); format is ``BinarySI``,
    ``DecimalSI`` or ``DecimalExponent``. Raises ValueError on garbage."""
    m = _QUANTITY.match(text.strip())
    if m is None:
        raise ValueError(f"invalid quantity {text!r}")
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return number * 2 ** _BINARY[suffix], "BinarySI"
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    raise ValueError(f"invalid quantity suffix in {text!r}")


def format_quantity(value: Fraction, fmt: str = "DecimalSI") -> str:
    """Canonical string of a quantity, like ``resource.Quantity.String()``.

    Binary values that are whole multiples of 1024 keep a binary suffix; everything else uses
    the largest decimal suffix with an integer mantissa, rounded up to nanounits.
    """
    if fmt == "BinarySI" and not (-1024 < value < 1024) and value.denominator == 1:
        n, exp = value.numerator, 0
        while n % 1024 == 0 and exp < 60:
            n //= 1024
            exp += 10
        suffix = {0: ""} | {v: k for k, v in _BINARY.items()}
        return f"{n}{suffix[exp]}"
    if value == 0:
        return "0"
    scaled = value * 10**9
    n = scaled.numerator if scaled.denominator == 1 else math.ceil(scaled)
    exp = -9
    while n % 1000 == 0 and exp < 18:
        n //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return f"{n}e{exp}" if exp else str(n)
    return f"{n}{ {v: k for k, v in _DECIMAL.items()}[exp] }"


def _metrics_usage(obj: Obj) -> dict[str, str]:
    """Usage per resource: a node's own, or the sum over a pod's containers."""
    if "containers" not in obj:
        usage = obj.get("usage") or {}
        return {k: format_quantity(*parse_quantity(str(v))) for k, v in usage.items()}
    sums: dict[str, tuple[Fraction, str]] = {}
    for container in obj.get("containers") or []:
        for key, raw in (container.get("usage") or {}).items():
            value, fmt = parse_quantity(str(raw))
            total, first_fmt = sums.get(key, (Fraction(0), fmt))
            sums[key] = (total + value, first_fmt)
    return {k: format_quantity(v, fmt) for k, (v, fmt) in sums.items()}


def _metrics_columns(objects: list[Obj]) -> tuple[list[Obj], list[str]]:
    """metrics-server's columns: Name, one per resource of the first item, Window."""
    names = sorted(_metrics_usage(objects[0])) if objects else ["cpu", "memory"]
    cols = [column("Name", description="Name of the resource", fmt="name")]
    cols += [column(n, fmt="quantity") for n in names]
    cols.append(column("Window", fmt="duration"))
    return cols, names


# ---------------------------------------------------------------------------------------------
# Table assembly


def columns_for(rt: ResourceType, objects: list[Obj] | None = None) -> list[Obj]:
    """The ``columnDefinitions`` the server sends for a resource type.

    ``objects`` only matters for metrics, whose columns follow the resources in the first item.
    """
    if rt.key in BUILTIN:
        return copy.deepcopy(BUILTIN[rt.key][0])
    if rt.group == "metrics.k8s.io":
        return _metrics_columns(objects or [])[0]
    return [copy.deepcopy(NAME_COLUMN)] + [c.definition() for c in CRD_COLUMNS.get(rt.key, [_AGE])]


def _cells(rt: ResourceType, obj: Obj, now: datetime, metric_names: list[str]) -> list[P.Cell]:
    """The row cells of one object, by the resource type's printer."""
    if rt.key in BUILTIN:
        return BUILTIN[rt.key][1](obj, now)
    if rt.group == "metrics.k8s.io":
        usage = _metrics_usage(obj)
        return [P.name_of(obj), *(usage.get(n, "0") for n in metric_names), obj.get("window")]
    cols = CRD_COLUMNS.get(rt.key, [_AGE])
    return [P.name_of(obj), *(_crd_cell(c, obj, now) for c in cols)]


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    """The row's ``object`` for an ``includeObject`` policy (a deep copy: rows are handed out)."""
    if include_object == "Object":
        return copy.deepcopy(obj)
    if include_object == "Metadata":
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(obj.get("metadata") or {}),
        }
    return None


_reported: set[tuple[str, str, str, str]] = set()


def _meta_of(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _unreadable_row(rt: ResourceType, obj: Obj, columns: list[Obj], exc: Exception) -> Obj:
    """The row of an object the printer cannot read (a shape no write through the API can
    store): its name, ``<invalid>`` in every other column, reported once per version. kubectl
    prints it like any other row instead of the whole ``kubectl get`` failing with a 500."""
    meta = _meta_of(obj)
    key = (rt.key, str(meta.get("namespace", "")), str(meta.get("name", "")),
           str(meta.get("resourceVersion", "")))
    if key not in _reported:
        if len(_reported) > 4096:
            _reported.clear()
        _reported.add(key)
        log.warning("table of %s: cannot print %s/%s@%s: %s: %s", rt.key, *key[1:],
                    type(exc).__name__, str(exc)[:200])
    name = P.name_of(obj)
    return {"cells": [name if c.get("format") == "name" else "<invalid>" for c in columns]}


def _bare_metadata(obj: Obj) -> Obj:
    """Just enough metadata for kubectl's NAMESPACE column, from an unreadable object."""
    meta = _meta_of(obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion")
                         if isinstance(meta.get(k), str)}}


def to_table(
    rt: ResourceType,
    objects: list[Obj],
    *,
    include_object: str | None = "Metadata",
    now: datetime,
    resource_version: str,
    continue_token: str | None = None,
    remaining: int | None = None,
    with_columns: bool = True,
) -> Obj:
    """Render objects of one resource type as a ``meta.k8s.io/v1`` Table.

    ``include_object`` is the ``includeObject`` query parameter (``None``/``"None"``,
    ``"Metadata"``, ``"Object"``); any other value raises ValueError, which the server should
    answer with 400 as the real one does. ``with_columns=False`` leaves ``columnDefinitions``
    empty (``tableOptions.noHeaders``, and watch events after the first).
    """
    policy = "None" if include_object is None else include_object
    if policy not in INCLUDE_OBJECT_VALUES:
        raise ValueError(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT_VALUES)}, not {policy!r}"
        )
    metric_names = _metrics_columns(objects)[1] if rt.group == "metrics.k8s.io" else []
    rows: list[Obj] = []
    columns = columns_for(rt, objects)
    for obj in objects:
        try:
            row: Obj = {"cells": _cells(rt, obj, now, metric_names)}
            if rt.key == "pods":
                conditions = P.pod_row_conditions(obj)
                if conditions:
                    row["conditions"] = conditions
            row_object = _row_object(obj, policy)
        except Exception as exc:  # noqa: BLE001 - one unreadable object must not fail the list
            row, row_object = _unreadable_row(rt, obj, columns, exc), _bare_metadata(obj)
            if policy == "None":
                row_object = None
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    metadata: Obj = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns if with_columns else [],
        "rows": rows,
    }


def table_for_watch_event(
    rt: ResourceType,
    obj: Obj,
    *,
    now: datetime,
    include_object: str | None = "Metadata",
    first: bool = True,
) -> Obj:
    """The object of one watch event when the watch asked for Tables: a one-row Table.

    Send ``first=True`` for the first event of a watch (it carries ``columnDefinitions``) and
    ``first=False`` afterwards, as the real server does; the event envelope stays
    ``{"type": "ADDED"|"MODIFIED"|"DELETED", "object": <this table>}``. BOOKMARK and ERROR
    events are not rendered as Tables.
    """
    rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
    return to_table(rt, [obj], include_object=include_object, now=now, resource_version=rv,
                    with_columns=first)

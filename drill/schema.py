"""Structural type checks of written objects: the JSON types a real API server would enforce.

A real kube-apiserver decodes every built-in object into its Go struct, so a Node whose
``status.conditions`` is a string never reaches etcd: the write is refused with 400 BadRequest
(``Node in version "v1" cannot be handled as a Node: json: cannot unmarshal string into Go struct
field NodeStatus.status.conditions of type []v1.NodeCondition``). Custom resources are checked
by their CRD's structural schema instead and refused with 422 Invalid (``status.conditions:
Invalid value: "string": status.conditions in body must be of type array: "string"``).

The drill stores plain JSON, so without this module a hand edit could store a shape no real
cluster can hold, and every simulated controller and Table printer would have to expect it.
The tables below are deliberately bounded: they list the list/map/string/integer/boolean fields
that the drill's controllers and printers and the control room read (metadata, conditions,
containers, taints, ownerReferences, selectors, replica counts, Argo CD history and operations,
HTTPRoute rules and backendRefs), not the whole Kubernetes API. A field not listed is not
checked, as an unknown field is not by a CRD with ``x-kubernetes-preserve-unknown-fields``.

Depth is bounded too (:data:`MAX_DEPTH`): Python copies and compares objects recursively, so a
value nested a thousand levels deep, harmless to Go, would crash every controller that copies
it. No real Kubernetes object comes anywhere near the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from drill import errors
from drill.resources import ResourceType

MAX_DEPTH: Final = 100
"""Deepest nesting of objects and arrays the drill accepts (kube-apiserver's JSON decoder
allows 10000; the drill's Python controllers could not copy that)."""

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class T:
    """The expected JSON type of one field.

    ``json`` is the OpenAPI type (``string``, ``integer``, ``boolean``, ``array``,
    ``object``), or ``scalar`` for IntOrString and Quantity, or ``any``; ``go`` names the Go
    type in built-in kinds' messages; ``items`` is the element type of an array or the value
    type of a map (an ``object`` without ``fields``); ``struct`` is the Go struct name."""

    json: str
    go: str
    items: T | None = None
    fields: Mapping[str, T] = field(default_factory=dict)
    struct: str = ""
    bounds: tuple[int, int] = _INT64


S = T("string", "string")
B = T("boolean", "bool")
I32 = T("integer", "int32", bounds=_INT32)
I64 = T("integer", "int64")
TIME = T("string", "v1.Time")
SCALAR = T("scalar", "intstr.IntOrString")
QUANTITY = T("scalar", "resource.Quantity")
ANY_OBJECT = T("object", "map[string]interface {}")


def L(item: T) -> T:
    """An array of ``item``."""
    return T("array", f"[]{item.go}", items=item)


def M(value: T) -> T:
    """A map of string to ``value``."""
    return T("object", f"map[string]{value.go}", items=value)


def O(struct: str, pkg: str = "v1", **fields: T) -> T:  # noqa: E743 - reads like the table
    """A struct (an object with known fields)."""
    return T("object", f"{pkg}.{struct}", fields=fields, struct=struct)


def _with(base: T, extra: Mapping[str, T]) -> T:
    """``base`` with more fields (the replica counts shared by Deployment and ReplicaSet)."""
    return T(base.json, base.go, fields={**base.fields, **extra}, struct=base.struct)


MAP_STR = M(S)


def condition(struct: str, pkg: str = "v1") -> T:
    return O(struct, pkg, type=S, status=S, reason=S, message=S, lastTransitionTime=TIME,
             lastHeartbeatTime=TIME, lastProbeTime=TIME, lastUpdateTime=TIME,
             observedGeneration=I64)


META = O("ObjectMeta", name=S, generateName=S, namespace=S, uid=S, resourceVersion=S,
         generation=I64, creationTimestamp=TIME, deletionTimestamp=TIME,
         deletionGracePeriodSeconds=I64, labels=MAP_STR, annotations=MAP_STR,
         finalizers=L(S), ownerReferences=L(O("OwnerReference", apiVersion=S, kind=S, name=S,
                                               uid=S, controller=B, blockOwnerDeletion=B)))
_PROBE = O("Probe", httpGet=O("HTTPGetAction", path=S, port=SCALAR, host=S, scheme=S),
           tcpSocket=O("TCPSocketAction", port=SCALAR, host=S),
           initialDelaySeconds=I32, periodSeconds=I32, timeoutSeconds=I32,
           successThreshold=I32, failureThreshold=I32)
CONTAINER = O("Container", name=S, image=S, imagePullPolicy=S, command=L(S), args=L(S),
              workingDir=S, restartPolicy=S,
              ports=L(O("ContainerPort", name=S, containerPort=I32, hostPort=I32, protocol=S)),
              env=L(O("EnvVar", name=S, value=S)),
              resources=O("ResourceRequirements", requests=M(QUANTITY), limits=M(QUANTITY)),
              readinessProbe=_PROBE, livenessProbe=_PROBE, startupProbe=_PROBE)
POD_SPEC = O("PodSpec", containers=L(CONTAINER), initContainers=L(CONTAINER), nodeName=S,
             nodeSelector=MAP_STR, serviceAccountName=S, schedulerName=S, restartPolicy=S,
             terminationGracePeriodSeconds=I64, priority=I32, priorityClassName=S,
             tolerations=L(O("Toleration", key=S, operator=S, value=S, effect=S,
                                tolerationSeconds=I64)),
             readinessGates=L(O("PodReadinessGate", conditionType=S)))
_CONTAINER_STATE = O("ContainerState",
                     waiting=O("ContainerStateWaiting", reason=S, message=S),
                     running=O("ContainerStateRunning", startedAt=TIME),
                     terminated=O("ContainerStateTerminated", exitCode=I32, signal=I32,
                                  reason=S, message=S, startedAt=TIME, finishedAt=TIME,
                                  containerID=S))
_CONTAINER_STATUS = O("ContainerStatus", name=S, image=S, imageID=S, containerID=S, ready=B,
                      started=B, restartCount=I32, state=_CONTAINER_STATE,
                      lastState=_CONTAINER_STATE)
POD_STATUS = O("PodStatus", phase=S, reason=S, message=S, hostIP=S, podIP=S,
               nominatedNodeName=S, startTime=TIME, conditions=L(condition("PodCondition")),
               containerStatuses=L(_CONTAINER_STATUS),
               initContainerStatuses=L(_CONTAINER_STATUS),
               podIPs=L(O("PodIP", ip=S)), hostIPs=L(O("HostIP", ip=S)))
LABEL_SELECTOR = O("LabelSelector", matchLabels=MAP_STR, matchExpressions=L(O(
    "LabelSelectorRequirement", key=S, operator=S, values=L(S))))
POD_TEMPLATE = O("PodTemplateSpec", metadata=META, spec=POD_SPEC)
_REPLICA_COUNTS = {"replicas": I32, "readyReplicas": I32, "availableReplicas": I32,
                   "observedGeneration": I64}

#: Go struct name of the top level of each built-in kind, and its typed fields.
BUILTIN: dict[str, T] = {
    "Namespace": O("Namespace", metadata=META, spec=O("NamespaceSpec", finalizers=L(S)),
                   status=O("NamespaceStatus", phase=S,
                            conditions=L(condition("NamespaceCondition")))),
    "Node": O("Node", metadata=META,
              spec=O("NodeSpec", podCIDR=S, podCIDRs=L(S), providerID=S, unschedulable=B,
                     taints=L(O("Taint", key=S, value=S, effect=S, timeAdded=TIME))),
              status=O("NodeStatus", capacity=M(QUANTITY), allocatable=M(QUANTITY),
                       conditions=L(condition("NodeCondition")),
                       addresses=L(O("NodeAddress", type=S, address=S)),
                       nodeInfo=O("NodeSystemInfo", machineID=S, systemUUID=S, bootID=S,
                                  kernelVersion=S, osImage=S, containerRuntimeVersion=S,
                                  kubeletVersion=S, kubeProxyVersion=S, operatingSystem=S,
                                  architecture=S),
                       images=L(O("ContainerImage", names=L(S), sizeBytes=I64)))),
    "Pod": O("Pod", metadata=META, spec=POD_SPEC, status=POD_STATUS),
    "Event": O("Event", metadata=META, reason=S, message=S, type=S, count=I32,
               firstTimestamp=TIME, lastTimestamp=TIME, reportingComponent=S,
               reportingInstance=S, action=S,
               involvedObject=O("ObjectReference", kind=S, namespace=S, name=S, uid=S,
                                apiVersion=S, resourceVersion=S, fieldPath=S),
               source=O("EventSource", component=S, host=S)),
    "Service": O("Service", metadata=META,
                 spec=O("ServiceSpec", type=S, clusterIP=S, clusterIPs=L(S), selector=MAP_STR,
                        externalIPs=L(S), externalName=S,
                        ports=L(O("ServicePort", name=S, protocol=S, port=I32,
                                  targetPort=SCALAR, nodePort=I32))),
                 status=O("ServiceStatus", conditions=L(condition("Condition")),
                          loadBalancer=O("LoadBalancerStatus", ingress=L(O(
                              "LoadBalancerIngress", ip=S, hostname=S))))),
    "ConfigMap": O("ConfigMap", metadata=META, data=MAP_STR, binaryData=MAP_STR,
                   immutable=B),
    "Deployment": O("Deployment", metadata=META,
                    spec=O("DeploymentSpec", replicas=I32, selector=LABEL_SELECTOR,
                           template=POD_TEMPLATE, minReadySeconds=I32, paused=B,
                           revisionHistoryLimit=I32, progressDeadlineSeconds=I32,
                           strategy=O("DeploymentStrategy", type=S, rollingUpdate=O(
                               "RollingUpdateDeployment", maxSurge=SCALAR,
                               maxUnavailable=SCALAR))),
                    status=_with(O("DeploymentStatus", updatedReplicas=I32,
                                   unavailableReplicas=I32, collisionCount=I32,
                                   conditions=L(condition("DeploymentCondition"))),
                                 _REPLICA_COUNTS)),
    "ReplicaSet": O("ReplicaSet", metadata=META,
                    spec=O("ReplicaSetSpec", replicas=I32, minReadySeconds=I32,
                           selector=LABEL_SELECTOR, template=POD_TEMPLATE),
                    status=_with(O("ReplicaSetStatus", fullyLabeledReplicas=I32,
                                   conditions=L(condition("ReplicaSetCondition"))),
                                 _REPLICA_COUNTS)),
    "ReplicationController": O(
        "ReplicationController", metadata=META,
        spec=O("ReplicationControllerSpec", replicas=I32, minReadySeconds=I32,
               selector=MAP_STR, template=POD_TEMPLATE),
        status=_with(O("ReplicationControllerStatus", fullyLabeledReplicas=I32,
                       conditions=L(condition("ReplicationControllerCondition"))),
                     _REPLICA_COUNTS)),
    "DaemonSet": O(
        "DaemonSet", metadata=META,
        spec=O("DaemonSetSpec", selector=LABEL_SELECTOR, template=POD_TEMPLATE,
               minReadySeconds=I32, revisionHistoryLimit=I32,
               updateStrategy=O("DaemonSetUpdateStrategy", type=S, rollingUpdate=O(
                   "RollingUpdateDaemonSet", maxUnavailable=SCALAR, maxSurge=SCALAR))),
        status=O("DaemonSetStatus", currentNumberScheduled=I32, numberMisscheduled=I32,
                 desiredNumberScheduled=I32, numberReady=I32, observedGeneration=I64,
                 updatedNumberScheduled=I32, numberAvailable=I32, numberUnavailable=I32,
                 collisionCount=I32, conditions=L(condition("DaemonSetCondition")))),
    "NodeMetrics": O("NodeMetrics", "v1beta1", metadata=META, timestamp=TIME, window=S,
                     usage=M(QUANTITY)),
    "PodMetrics": O("PodMetrics", "v1beta1", metadata=META, timestamp=TIME, window=S,
                    containers=L(O("ContainerMetrics", "v1beta1", name=S,
                                   usage=M(QUANTITY)))),
}

_CR_CONDITION = condition("Condition")
_SOURCE = O("ApplicationSource", "v1alpha1", repoURL=S, path=S, targetRevision=S, chart=S,
            ref=S, name=S,
            helm=O("ApplicationSourceHelm", "v1alpha1", valueFiles=L(S), values=S,
                   releaseName=S, parameters=L(O("HelmParameter", "v1alpha1", name=S,
                                                 value=S))))
_SYNC_OPERATION = O("SyncOperation", "v1alpha1", revision=S, revisions=L(S), source=_SOURCE,
                    sources=L(_SOURCE), prune=B, dryRun=B, syncStrategy=ANY_OBJECT,
                    syncOptions=L(S), resources=L(ANY_OBJECT))
_OPERATION = O("Operation", "v1alpha1", sync=_SYNC_OPERATION,
               initiatedBy=O("OperationInitiator", "v1alpha1", username=S, automated=B),
               info=L(O("Info", "v1alpha1", name=S, value=S)), retry=ANY_OBJECT)
_PARENT_REF = O("ParentReference", group=S, kind=S, namespace=S, name=S, sectionName=S,
                port=I32)
_HEALTH = O("HealthStatus", "v1alpha1", status=S, message=S)

#: Custom resources, by kind: the typed part of their CRDs' structural schemas.
CUSTOM: dict[str, T] = {
    "Application": O(
        "Application", "v1alpha1", metadata=META, operation=_OPERATION,
        spec=O("ApplicationSpec", "v1alpha1", project=S, source=_SOURCE, sources=L(_SOURCE),
               revisionHistoryLimit=I64,
               destination=O("ApplicationDestination", "v1alpha1", server=S, namespace=S,
                             name=S),
               syncPolicy=O("SyncPolicy", "v1alpha1", syncOptions=L(S), retry=ANY_OBJECT,
                            automated=O("SyncPolicyAutomated", "v1alpha1", prune=B,
                                        selfHeal=B, allowEmpty=B, enabled=B))),
        status=O("ApplicationStatus", "v1alpha1", conditions=L(_CR_CONDITION),
                 health=_HEALTH, reconciledAt=TIME, sourceType=S,
                 sync=O("SyncStatus", "v1alpha1", status=S, revision=S, revisions=L(S),
                        comparedTo=ANY_OBJECT),
                 history=L(O("RevisionHistory", "v1alpha1", id=I64, revision=S,
                             revisions=L(S), deployedAt=TIME, deployStartedAt=TIME,
                             source=_SOURCE, sources=L(_SOURCE), initiatedBy=ANY_OBJECT)),
                 operationState=O("OperationState", "v1alpha1", phase=S, message=S,
                                  startedAt=TIME, finishedAt=TIME, retryCount=I64,
                                  operation=_OPERATION,
                                  syncResult=O("SyncOperationResult", "v1alpha1",
                                               revision=S, revisions=L(S), source=_SOURCE,
                                               resources=L(ANY_OBJECT))),
                 resources=L(O("ResourceStatus", "v1alpha1", group=S, version=S, kind=S,
                               namespace=S, name=S, status=S, requiresPruning=B,
                               health=_HEALTH)),
                 summary=O("ApplicationSummary", "v1alpha1", images=L(S),
                           externalURLs=L(S)))),
    "AppProject": O("AppProject", "v1alpha1", metadata=META, spec=O(
        "AppProjectSpec", "v1alpha1", description=S, sourceRepos=L(S),
        destinations=L(O("ApplicationDestination", "v1alpha1", server=S, namespace=S, name=S)),
        syncWindows=L(O("SyncWindow", "v1alpha1", kind=S, schedule=S, duration=S,
                        applications=L(S), namespaces=L(S), clusters=L(S), manualSync=B)))),
    "GatewayClass": O("GatewayClass", metadata=META,
                      spec=O("GatewayClassSpec", controllerName=S, description=S),
                      status=O("GatewayClassStatus", conditions=L(_CR_CONDITION))),
    "Gateway": O("Gateway", metadata=META,
                 spec=O("GatewaySpec", gatewayClassName=S,
                        addresses=L(O("GatewayAddress", type=S, value=S)),
                        listeners=L(O("Listener", name=S, hostname=S, port=I32, protocol=S,
                                      allowedRoutes=ANY_OBJECT, tls=ANY_OBJECT))),
                 status=O("GatewayStatus", conditions=L(_CR_CONDITION),
                          addresses=L(O("GatewayStatusAddress", type=S, value=S)),
                          listeners=L(O("ListenerStatus", name=S, attachedRoutes=I32,
                                        conditions=L(_CR_CONDITION),
                                        supportedKinds=L(O("RouteGroupKind", group=S,
                                                           kind=S)))))),
    "HTTPRoute": O("HTTPRoute", metadata=META,
                   spec=O("HTTPRouteSpec", parentRefs=L(_PARENT_REF), hostnames=L(S),
                          rules=L(O("HTTPRouteRule", name=S, filters=L(ANY_OBJECT),
                                    timeouts=ANY_OBJECT,
                                    matches=L(O("HTTPRouteMatch", method=S,
                                                headers=L(ANY_OBJECT),
                                                queryParams=L(ANY_OBJECT),
                                                path=O("HTTPPathMatch", type=S, value=S))),
                                    backendRefs=L(O("HTTPBackendRef", group=S, kind=S,
                                                    name=S, namespace=S, port=I32,
                                                    weight=I32, filters=L(ANY_OBJECT)))))),
                   status=O("HTTPRouteStatus", parents=L(O(
                       "RouteParentStatus", parentRef=_PARENT_REF, controllerName=S,
                       conditions=L(_CR_CONDITION))))),
    "ApplicationLoadBalancer": O("ApplicationLoadBalancer", metadata=META,
                                 spec=ANY_OBJECT,
                                 status=O("ApplicationLoadBalancerStatus",
                                          conditions=L(_CR_CONDITION))),
}


class _Mismatch(Exception):
    """A value of the wrong JSON type: ``path`` is Go's field path, ``field_path`` the API's."""

    def __init__(self, want: T, got: Any, path: list[str], struct: str, field_path: str) -> None:
        super().__init__(field_path)
        self.want, self.got, self.path, self.struct = want, got, path, struct
        self.field_path = field_path


def _json_type(value: Any) -> str:
    """The OpenAPI name of a decoded JSON value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _fits(want: T, value: Any) -> bool:
    kind = want.json
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and \
            want.bounds[0] <= value <= want.bounds[1]
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "scalar":
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return True


def _ok(want: T, value: Any) -> bool:
    """The fast pass of :func:`_walk`: only whether ``value`` fits (no paths built), since
    every write of the drill, the controllers' included, goes through this check."""
    if value is None:
        return True
    if not _fits(want, value):
        return False
    items = want.items
    if items is not None:
        if not items.fields and items.items is None and items.json in ("string", "scalar"):
            fits = _fits
            return all(v is None or fits(items, v)
                       for v in (value if want.json == "array" else value.values()))
        return all(_ok(items, v) for v in (value if want.json == "array" else value.values()))
    fields = want.fields
    if fields:
        for key, child in value.items():
            sub = fields.get(key)
            if sub is not None and child is not None and not _ok(sub, child):
                return False
    return True


def _walk(want: T, value: Any, path: list[str], struct: str, idx: str) -> None:
    """Check ``value`` against ``want``; ``path`` is Go's field path (no list indices),
    ``idx`` the API field path with indices that CRD messages name."""
    if value is None:  # null decodes to the zero value in Go, and is dropped by CRD pruning
        return
    if not _fits(want, value):
        raise _Mismatch(want, value, path, struct, idx)
    if want.items is not None:
        if want.json == "array":
            for i, item in enumerate(value):
                _walk(want.items, item, path, struct, f"{idx}[{i}]")
        else:
            for key, item in value.items():
                _walk(want.items, item, path, struct, f"{idx}[{key}]")
    elif want.fields:
        for name, sub in want.fields.items():
            child = value.get(name)
            if child is not None:
                _walk(sub, child, [*path, name], want.struct, f"{idx}.{name}" if idx else name)


def _within(value: Any, budget: int) -> bool:
    """Whether objects and arrays in ``value`` nest at most ``budget`` levels. Recursive, but
    never deeper than ``budget`` frames: it stops where the limit is crossed."""
    if budget <= 0:
        return False
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return True
    return all(_within(v, budget - 1) for v in value if isinstance(v, (dict, list)))


def _depth_exceeded(obj: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit``."""
    return not _within(obj, limit)


def check_depth(obj: Any, what: str = "the object") -> None:
    """400 BadRequest when ``obj`` nests deeper than :data:`MAX_DEPTH`."""
    if _depth_exceeded(obj, MAX_DEPTH):
        raise errors.bad_request(
            f"{what} is nested too deeply: more than {MAX_DEPTH} levels of objects and "
            "arrays (the drill cluster's limit)")


def _go_value(want: T, value: Any) -> str:
    """How Go's decoder names an unexpected JSON value: ``number 1.5`` for a number that
    does not fit an integer field, else the JSON type (``string``, ``number``, ``array``...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}" if want.json == "integer" else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_types(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Refuse ``obj`` when a typed field holds the wrong JSON type, or it nests too deeply.

    Built-in kinds: 400 BadRequest worded like the Go decoder's error; custom resources: 422
    Invalid worded like CRD schema validation."""
    check_depth(obj)
    schema = BUILTIN.get(rt.kind)
    custom = schema is None
    if custom:
        schema = CUSTOM.get(rt.kind)
    if schema is None:
        return
    if _ok(schema, obj):
        return
    try:
        _walk(schema, obj, [], schema.struct, "")
    except _Mismatch as exc:
        if custom:
            raise errors.invalid(rt.kind, rt.group, _name(obj), [(exc.field_path, _crd_message(
                exc))]) from None
        raise errors.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: '
            f"cannot unmarshal {_go_value(exc.want, exc.got)} into Go struct field "
            f"{exc.struct}.{'.'.join(exc.path)} of type {exc.want.go}") from None


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _crd_message(exc: _Mismatch) -> str:
    """The CRD schema validator's wording (kube-openapi's ``validate``)."""
    got, where = _json_type(exc.got), exc.field_path
    if exc.want.json == "integer" and got == "integer":
        return f"Invalid value: {exc.got}: {where} in body should be at most {exc.want.bounds[1]}"
    want = "integer or string" if exc.want.json == "scalar" else exc.want.json
    return f'Invalid value: "{got}": {where} in body must be of type {want}: "{got}"'

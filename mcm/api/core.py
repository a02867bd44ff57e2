"""The Kubernetes built-in kinds the controllers read, modelled as far as they read them.

Node, Pod, Secret, PersistentVolume, PersistentVolumeClaim, VolumeAttachment, PodDisruptionBudget,
Lease and Event. Each is a `KubeModel`: parsed once, frozen, with the server's JSON in ``raw``
(every field not modelled here is there). Open string sets (condition types, pod phases, taint
effects) are plain ``str`` fields, with `enum.StrEnum` classes for the values the controllers
compare against. The enums are ``str`` subclasses, so comparisons like
``condition.status == ConditionStatus.TRUE`` work either way.

Secret data is decoded from base64 at parse time and never appears in ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import types
from collections.abc import Mapping
from typing import Any

import attrs

from mcm.api.codec import (
    IntOrString,
    KubeModel,
    Model,
    boolean,
    encode_micro_time,
    field,
    int_or_string,
    integer,
    models,
    optional_integer,
    optional_model,
    optional_text,
    quantity_map,
    string_map,
    strings,
    text,
    timestamp,
)
from mcm.api.constants import MIRROR_POD_ANNOTATION
from mcm.api.meta import EMPTY, OwnerReference, thaw
from mcm.api.selector import LabelSelector

__all__ = [
    "AWSElasticBlockStoreVolumeSource",
    "AttachedVolume",
    "CSIPersistentVolumeSource",
    "ConditionStatus",
    "Event",
    "EventSource",
    "Lease",
    "LeaseSpec",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeConditionType",
    "NodeSpec",
    "NodeStatus",
    "ObjectReference",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "PersistentVolumeClaimSpec",
    "PersistentVolumeSpec",
    "Pod",
    "PodCondition",
    "PodDisruptionBudget",
    "PodDisruptionBudgetSpec",
    "PodDisruptionBudgetStatus",
    "PodPhase",
    "PodSpec",
    "PodStatus",
    "PodVolume",
    "Secret",
    "Taint",
    "TaintEffect",
    "VolumeAttachment",
    "VolumeAttachmentSource",
    "VolumeAttachmentSpec",
    "VolumeAttachmentStatus",
]


class ConditionStatus(enum.StrEnum):
    """``status`` of any condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class NodeConditionType(enum.StrEnum):
    """Node condition types MCM looks at: the kubelet's and node-problem-detector's."""

    READY = "Ready"
    MEMORY_PRESSURE = "MemoryPressure"
    DISK_PRESSURE = "DiskPressure"
    PID_PRESSURE = "PIDPressure"
    NETWORK_UNAVAILABLE = "NetworkUnavailable"
    KERNEL_DEADLOCK = "KernelDeadlock"
    READONLY_FILESYSTEM = "ReadonlyFilesystem"


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class PodPhase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


# --------------------------------------------------------------------------------------------- Node


@attrs.frozen(kw_only=True)
class Taint(Model):
    key: str = field("key", text, "")
    value: str = field("value", text, "")
    effect: str = field("effect", text, "")
    time_added: datetime.datetime | None = field("timeAdded", timestamp, None)


@attrs.frozen(kw_only=True)
class NodeCondition(Model):
    """A ``corev1.NodeCondition``; Machines mirror their Node's in ``status.conditions``."""

    type: str = field("type", text, "")
    status: str = field("status", text, "")
    last_heartbeat_time: datetime.datetime | None = field("lastHeartbeatTime", timestamp, None)
    last_transition_time: datetime.datetime | None = field("lastTransitionTime", timestamp, None)
    reason: str = field("reason", text, "")
    message: str = field("message", text, "")


@attrs.frozen(kw_only=True)
class NodeAddress(Model):
    type: str = field("type", text, "")
    address: str = field("address", text, "")


@attrs.frozen(kw_only=True)
class AttachedVolume(Model):
    name: str = field("name", text, "")
    device_path: str = field("devicePath", text, "")


@attrs.frozen(kw_only=True)
class NodeSpec(Model):
    """``corev1.NodeSpec`` (also the ``spec`` of a Machine's ``nodeTemplate``)."""

    provider_id: str = field("providerID", text, "")
    unschedulable: bool = field("unschedulable", boolean, False)
    taints: tuple[Taint, ...] = field("taints", models(Taint), ())


@attrs.frozen(kw_only=True)
class NodeStatus(Model):
    conditions: tuple[NodeCondition, ...] = field("conditions", models(NodeCondition), ())
    addresses: tuple[NodeAddress, ...] = field("addresses", models(NodeAddress), ())
    capacity: Mapping[str, str] = field("capacity", quantity_map, EMPTY)
    allocatable: Mapping[str, str] = field("allocatable", quantity_map, EMPTY)
    node_info: Mapping[str, str] = field("nodeInfo", string_map, EMPTY)
    volumes_attached: tuple[AttachedVolume, ...] = field(
        "volumesAttached", models(AttachedVolume), ()
    )
    volumes_in_use: tuple[str, ...] = field("volumesInUse", strings, ())


_NODE_SPEC = NodeSpec()
_NODE_STATUS = NodeStatus()


@attrs.frozen(kw_only=True)
class Node(KubeModel):
    API_VERSION = "v1"
    KIND = "Node"

    spec: NodeSpec = field("spec", NodeSpec.from_dict, _NODE_SPEC)
    status: NodeStatus = field("status", NodeStatus.from_dict, _NODE_STATUS)

    def condition(self, condition_type: str) -> NodeCondition | None:
        """The first condition of *condition_type*, if any."""
        for condition in self.status.conditions:
            if condition.type == condition_type:
                return condition
        return None

    def has_taint(self, key: str, effect: str | None = None) -> bool:
        """Does the node carry a taint with *key* (and *effect*, if given)?"""
        return any(
            t.key == key and (effect is None or t.effect == effect) for t in self.spec.taints
        )


# ---------------------------------------------------------------------------------------------- Pod


def _claim_name(value: Any) -> str | None:
    return optional_text(value.get("claimName")) if isinstance(value, Mapping) else None


def _encode_claim(value: str | None, previous: Any) -> dict[str, Any]:
    base: dict[str, Any] = thaw(previous) if isinstance(previous, Mapping) else {}
    return {**base, "claimName": value}


def _present(value: Any) -> bool:
    return isinstance(value, Mapping)


def _encode_empty_dir(_value: bool, previous: Any) -> dict[str, Any]:
    result: dict[str, Any] = thaw(previous) if isinstance(previous, Mapping) else {}
    return result


@attrs.frozen(kw_only=True)
class PodVolume(Model):
    """One ``spec.volumes`` entry: its name, and the two sources drain cares about."""

    name: str = field("name", text, "")
    claim_name: str | None = field("persistentVolumeClaim", _claim_name, None, encode=_encode_claim)
    """``persistentVolumeClaim.claimName``; None for volumes of other sources."""
    empty_dir: bool = field("emptyDir", _present, False, encode=_encode_empty_dir)
    """True for an ``emptyDir`` volume (local data that drain deletes)."""


@attrs.frozen(kw_only=True)
class PodSpec(Model):
    node_name: str = field("nodeName", text, "")
    volumes: tuple[PodVolume, ...] = field("volumes", models(PodVolume), ())
    termination_grace_period_seconds: int | None = field(
        "terminationGracePeriodSeconds", optional_integer, None
    )
    priority: int | None = field("priority", optional_integer, None)


@attrs.frozen(kw_only=True)
class PodCondition(Model):
    type: str = field("type", text, "")
    status: str = field("status", text, "")
    reason: str = field("reason", text, "")
    message: str = field("message", text, "")
    last_transition_time: datetime.datetime | None = field("lastTransitionTime", timestamp, None)


@attrs.frozen(kw_only=True)
class PodStatus(Model):
    phase: str = field("phase", text, "")
    conditions: tuple[PodCondition, ...] = field("conditions", models(PodCondition), ())


_POD_SPEC = PodSpec()
_POD_STATUS = PodStatus()


@attrs.frozen(kw_only=True)
class Pod(KubeModel):
    API_VERSION = "v1"
    KIND = "Pod"

    spec: PodSpec = field("spec", PodSpec.from_dict, _POD_SPEC)
    status: PodStatus = field("status", PodStatus.from_dict, _POD_STATUS)

    @property
    def is_mirror(self) -> bool:
        """A static pod's mirror (annotation ``kubernetes.io/config.mirror``): cannot be evicted."""
        return MIRROR_POD_ANNOTATION in self.metadata.annotations

    @property
    def controller_ref(self) -> OwnerReference | None:
        return self.metadata.controller_ref

    @property
    def owned_by_daemonset(self) -> bool:
        """Is the controlling owner a DaemonSet (which would recreate the pod on the node)?"""
        ref = self.metadata.controller_ref
        return ref is not None and ref.kind == "DaemonSet"

    @property
    def claim_names(self) -> tuple[str, ...]:
        """The PVC names of all ``persistentVolumeClaim`` volumes, in volume order."""
        return tuple(v.claim_name for v in self.spec.volumes if v.claim_name)


# ------------------------------------------------------------------------------------------- Secret


def _secret_data(value: Any) -> Mapping[str, bytes]:
    if not isinstance(value, Mapping) or not value:
        return EMPTY
    decoded: dict[str, bytes] = {}
    for key, encoded in value.items():
        if not isinstance(encoded, str):
            continue
        try:
            decoded[str(key)] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue  # not base64: left in raw, not offered as data
    return types.MappingProxyType(decoded)


def _encode_secret_data(value: Mapping[str, bytes], _previous: Any) -> dict[str, str]:
    return {k: base64.b64encode(v).decode("ascii") for k, v in value.items()}


@attrs.frozen(kw_only=True)
class Secret(KubeModel):
    """A Secret. ``data`` holds the decoded bytes and is left out of ``repr``, as is ``raw``."""

    API_VERSION = "v1"
    KIND = "Secret"

    type: str = field("type", text, "")
    data: Mapping[str, bytes] = field(
        "data", _secret_data, EMPTY, encode=_encode_secret_data, secret=True
    )


# ------------------------------------------------------------------------------------ Volumes


@attrs.frozen(kw_only=True)
class ObjectReference(Model):
    """``corev1.ObjectReference`` (a PV's ``claimRef``, an Event's ``involvedObject``)."""

    api_version: str = field("apiVersion", text, "")
    kind: str = field("kind", text, "")
    namespace: str = field("namespace", text, "")
    name: str = field("name", text, "")
    uid: str = field("uid", text, "")
    resource_version: str = field("resourceVersion", text, "")
    field_path: str = field("fieldPath", text, "")


@attrs.frozen(kw_only=True)
class CSIPersistentVolumeSource(Model):
    driver: str = field("driver", text, "")
    volume_handle: str = field("volumeHandle", text, "")


@attrs.frozen(kw_only=True)
class AWSElasticBlockStoreVolumeSource(Model):
    """The in-tree EBS source (``awsElasticBlockStore``), still found on old PVs."""

    volume_id: str = field("volumeID", text, "")


@attrs.frozen(kw_only=True)
class PersistentVolumeSpec(Model):
    csi: CSIPersistentVolumeSource | None = field(
        "csi", optional_model(CSIPersistentVolumeSource), None
    )
    aws_elastic_block_store: AWSElasticBlockStoreVolumeSource | None = field(
        "awsElasticBlockStore", optional_model(AWSElasticBlockStoreVolumeSource), None
    )
    claim_ref: ObjectReference | None = field("claimRef", optional_model(ObjectReference), None)
    storage_class_name: str = field("storageClassName", text, "")


@attrs.frozen(kw_only=True)
class PersistentVolume(KubeModel):
    API_VERSION = "v1"
    KIND = "PersistentVolume"

    spec: PersistentVolumeSpec = field(
        "spec", PersistentVolumeSpec.from_dict, PersistentVolumeSpec()
    )


@attrs.frozen(kw_only=True)
class PersistentVolumeClaimSpec(Model):
    volume_name: str = field("volumeName", text, "")
    storage_class_name: str = field("storageClassName", text, "")


@attrs.frozen(kw_only=True)
class PersistentVolumeClaim(KubeModel):
    API_VERSION = "v1"
    KIND = "PersistentVolumeClaim"

    spec: PersistentVolumeClaimSpec = field(
        "spec", PersistentVolumeClaimSpec.from_dict, PersistentVolumeClaimSpec()
    )

    @property
    def volume_name(self) -> str:
        """The bound PV's name (``spec.volumeName``), ``""`` while unbound."""
        return self.spec.volume_name


@attrs.frozen(kw_only=True)
class VolumeAttachmentSource(Model):
    persistent_volume_name: str | None = field("persistentVolumeName", optional_text, None)


@attrs.frozen(kw_only=True)
class VolumeAttachmentSpec(Model):
    attacher: str = field("attacher", text, "")
    node_name: str = field("nodeName", text, "")
    source: VolumeAttachmentSource = field(
        "source", VolumeAttachmentSource.from_dict, VolumeAttachmentSource()
    )


@attrs.frozen(kw_only=True)
class VolumeAttachmentStatus(Model):
    attached: bool = field("attached", boolean, False)


@attrs.frozen(kw_only=True)
class VolumeAttachment(KubeModel):
    API_VERSION = "storage.k8s.io/v1"
    KIND = "VolumeAttachment"

    spec: VolumeAttachmentSpec = field(
        "spec", VolumeAttachmentSpec.from_dict, VolumeAttachmentSpec()
    )
    status: VolumeAttachmentStatus = field(
        "status", VolumeAttachmentStatus.from_dict, VolumeAttachmentStatus()
    )


# --------------------------------------------------------------------------------------------- PDB


@attrs.frozen(kw_only=True)
class PodDisruptionBudgetSpec(Model):
    selector: LabelSelector | None = field("selector", optional_model(LabelSelector), None)
    min_available: IntOrString | None = field("minAvailable", int_or_string, None)
    max_unavailable: IntOrString | None = field("maxUnavailable", int_or_string, None)


@attrs.frozen(kw_only=True)
class PodDisruptionBudgetStatus(Model):
    disruptions_allowed: int = field("disruptionsAllowed", integer, 0)
    current_healthy: int = field("currentHealthy", integer, 0)
    desired_healthy: int = field("desiredHealthy", integer, 0)
    expected_pods: int = field("expectedPods", integer, 0)
    observed_generation: int = field("observedGeneration", integer, 0)
    disrupted_pods: Mapping[str, str] = field("disruptedPods", string_map, EMPTY)
    """Pod name -> the time its eviction was admitted (RFC 3339 strings)."""


@attrs.frozen(kw_only=True)
class PodDisruptionBudget(KubeModel):
    API_VERSION = "policy/v1"
    KIND = "PodDisruptionBudget"

    spec: PodDisruptionBudgetSpec = field(
        "spec", PodDisruptionBudgetSpec.from_dict, PodDisruptionBudgetSpec()
    )
    status: PodDisruptionBudgetStatus = field(
        "status", PodDisruptionBudgetStatus.from_dict, PodDisruptionBudgetStatus()
    )


# ------------------------------------------------------------------------------------------- Lease


@attrs.frozen(kw_only=True)
class LeaseSpec(Model):
    holder_identity: str | None = field("holderIdentity", optional_text, None)
    lease_duration_seconds: int | None = field("leaseDurationSeconds", optional_integer, None)
    acquire_time: datetime.datetime | None = field(
        "acquireTime", timestamp, None, encode=encode_micro_time
    )
    renew_time: datetime.datetime | None = field(
        "renewTime", timestamp, None, encode=encode_micro_time
    )
    lease_transitions: int | None = field("leaseTransitions", optional_integer, None)


@attrs.frozen(kw_only=True)
class Lease(KubeModel):
    API_VERSION = "coordination.k8s.io/v1"
    KIND = "Lease"

    spec: LeaseSpec = field("spec", LeaseSpec.from_dict, LeaseSpec())


# ------------------------------------------------------------------------------------------- Event


@attrs.frozen(kw_only=True)
class EventSource(Model):
    component: str = field("component", text, "")
    host: str = field("host", text, "")


@attrs.frozen(kw_only=True)
class Event(KubeModel):
    """A ``core/v1`` Event."""

    API_VERSION = "v1"
    KIND = "Event"

    involved_object: ObjectReference = field(
        "involvedObject", ObjectReference.from_dict, ObjectReference()
    )
    reason: str = field("reason", text, "")
    message: str = field("message", text, "")
    type: str = field("type", text, "")
    count: int = field("count", integer, 0)
    first_timestamp: datetime.datetime | None = field("firstTimestamp", timestamp, None)
    last_timestamp: datetime.datetime | None = field("lastTimestamp", timestamp, None)
    source: EventSource = field("source", EventSource.from_dict, EventSource())
    event_time: datetime.datetime | None = field(
        "eventTime", timestamp, None, encode=encode_micro_time
    )
    reporting_component: str = field("reportingComponent", text, "")
    reporting_instance: str = field("reportingInstance", text, "")
    action: str = field("action", text, "")

"""``Machine`` (``machine.sapcloud.io/v1alpha1``): one VM and the Node it becomes.

The types shared with MachineSets and MachineDeployments live here too: `ClassSpec`, `MachineSpec`
(with the per-machine overrides of upstream's inlined ``MachineConfiguration``),
`MachineTemplateSpec`, `LastOperation` and `MachineSummary`.

The empty phase (``""``, "not created yet") is ``None``: ``machine.status.current_status.phase is
None``. A phase string this version does not know is also ``None``; ``raw`` keeps it.

The five timeouts are kept as the Go duration strings found in the object (``"20m"``, ``None`` when
unset) and offered as float seconds through the ``*_seconds`` properties, which are ``None`` when
unset or not a valid Go duration (the caller then falls back to its flag, as upstream does for an
unset one).
"""

from __future__ import annotations

import datetime
import enum
import functools

import attrs

from mcm.api.codec import (
    KubeModel,
    Model,
    boolean,
    enum_value,
    field,
    models,
    object_meta,
    optional_boolean,
    optional_integer,
    optional_text,
    text,
    timestamp,
)
from mcm.api.constants import NODE_LABEL_KEY
from mcm.api.core import ConditionStatus, NodeAddress, NodeCondition, NodeSpec
from mcm.api.duration import parse_duration
from mcm.api.meta import ObjectMeta

__all__ = [
    "ClassSpec",
    "ConditionStatus",
    "CurrentStatus",
    "LastOperation",
    "Machine",
    "MachineOperationType",
    "MachinePhase",
    "MachineSpec",
    "MachineState",
    "MachineStatus",
    "MachineSummary",
    "MachineTemplateSpec",
    "NodeTemplateSpec",
]


class MachinePhase(enum.StrEnum):
    """``status.currentStatus.phase``. The empty phase ("being created") is None, not a member."""

    PENDING = "Pending"
    AVAILABLE = "Available"  # created, running without a target cluster (no Node to watch)
    RUNNING = "Running"
    TERMINATING = "Terminating"
    UNKNOWN = "Unknown"
    FAILED = "Failed"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    IN_PLACE_UPDATING = "InPlaceUpdating"
    IN_PLACE_UPDATE_SUCCESSFUL = "InPlaceUpdateSuccessful"
    IN_PLACE_UPDATE_FAILED = "InPlaceUpdateFailed"


class MachineState(enum.StrEnum):
    """``lastOperation.state``."""

    PROCESSING = "Processing"
    FAILED = "Failed"
    SUCCESSFUL = "Successful"


class MachineOperationType(enum.StrEnum):
    """``lastOperation.type``."""

    CREATE = "Create"
    UPDATE = "Update"  # declared upstream, never written by the controller
    IN_PLACE_UPDATE = "InPlaceUpdate"
    DRAIN_NODE = "DrainNode"
    HEALTH_CHECK = "HealthCheck"
    DELETE = "Delete"


@functools.lru_cache(maxsize=256)
def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


@attrs.frozen(kw_only=True)
class ClassSpec(Model):
    """``spec.class``: which class object describes the VM."""

    api_group: str = field("apiGroup", text, "")
    kind: str = field("kind", text, "")
    name: str = field("name", text, "")


_OBJECT_META = ObjectMeta()
_NODE_SPEC = NodeSpec()


@attrs.frozen(kw_only=True)
class NodeTemplateSpec(Model):
    """``spec.nodeTemplate``: labels, annotations and taints the controller keeps on the Node."""

    metadata: ObjectMeta = field("metadata", object_meta, _OBJECT_META)
    spec: NodeSpec = field("spec", NodeSpec.from_dict, _NODE_SPEC)


_CLASS_SPEC = ClassSpec()
_NODE_TEMPLATE = NodeTemplateSpec()


@attrs.frozen(kw_only=True)
class MachineSpec(Model):
    class_: ClassSpec = field("class", ClassSpec.from_dict, _CLASS_SPEC)
    provider_id: str = field("providerID", text, "")
    node_template: NodeTemplateSpec = field(
        "nodeTemplate", NodeTemplateSpec.from_dict, _NODE_TEMPLATE
    )
    # The inlined MachineConfiguration: per-machine overrides of the controller's flags.
    drain_timeout: str | None = field("drainTimeout", optional_text, None)
    health_timeout: str | None = field("healthTimeout", optional_text, None)
    creation_timeout: str | None = field("creationTimeout", optional_text, None)
    in_place_update_timeout: str | None = field("inPlaceUpdateTimeout", optional_text, None)
    machine_preserve_timeout: str | None = field("machinePreserveTimeout", optional_text, None)
    disable_health_timeout: bool | None = field("disableHealthTimeout", optional_boolean, None)
    max_evict_retries: int | None = field("maxEvictRetries", optional_integer, None)
    node_conditions: str | None = field("nodeConditions", optional_text, None)
    """Comma-separated node condition types that make the machine unhealthy."""

    @property
    def drain_timeout_seconds(self) -> float | None:
        return _seconds(self.drain_timeout)

    @property
    def health_timeout_seconds(self) -> float | None:
        return _seconds(self.health_timeout)

    @property
    def creation_timeout_seconds(self) -> float | None:
        return _seconds(self.creation_timeout)

    @property
    def in_place_update_timeout_seconds(self) -> float | None:
        return _seconds(self.in_place_update_timeout)

    @property
    def machine_preserve_timeout_seconds(self) -> float | None:
        return _seconds(self.machine_preserve_timeout)


@attrs.frozen(kw_only=True)
class LastOperation(Model):
    """``status.lastOperation``: what the controller did last, and how it went."""

    description: str = field("description", text, "")
    error_code: str = field("errorCode", text, "")
    """A driver code name (``"ResourceExhausted"``), or ``""``."""
    last_update_time: datetime.datetime | None = field("lastUpdateTime", timestamp, None)
    state: MachineState | None = field("state", enum_value(MachineState), None)
    type: MachineOperationType | None = field("type", enum_value(MachineOperationType), None)


@attrs.frozen(kw_only=True)
class CurrentStatus(Model):
    """``status.currentStatus``."""

    phase: MachinePhase | None = field("phase", enum_value(MachinePhase), None)
    timeout_active: bool = field("timeoutActive", boolean, False)
    last_update_time: datetime.datetime | None = field("lastUpdateTime", timestamp, None)
    """When the phase last changed: the base of the health, in-place and preservation timeouts."""
    preserve_expiry_time: datetime.datetime | None = field("preserveExpiryTime", timestamp, None)
    """Set exactly while the machine is preserved."""


_LAST_OPERATION = LastOperation()
_CURRENT_STATUS = CurrentStatus()


@attrs.frozen(kw_only=True)
class MachineStatus(Model):
    addresses: tuple[NodeAddress, ...] = field("addresses", models(NodeAddress), ())
    """Only filled when running without a target cluster."""
    conditions: tuple[NodeCondition, ...] = field("conditions", models(NodeCondition), ())
    """A copy of the Node's ``status.conditions``."""
    last_operation: LastOperation = field("lastOperation", LastOperation.from_dict, _LAST_OPERATION)
    current_status: CurrentStatus = field("currentStatus", CurrentStatus.from_dict, _CURRENT_STATUS)
    last_known_state: str = field("lastKnownState", text, "")
    """Opaque provider state returned by the driver's Create/Delete."""


_MACHINE_SPEC = MachineSpec()
_MACHINE_STATUS = MachineStatus()


@attrs.frozen(kw_only=True)
class Machine(KubeModel):
    API_VERSION = "machine.sapcloud.io/v1alpha1"
    KIND = "Machine"

    spec: MachineSpec = field("spec", MachineSpec.from_dict, _MACHINE_SPEC)
    status: MachineStatus = field("status", MachineStatus.from_dict, _MACHINE_STATUS)

    @property
    def node_name(self) -> str:
        """The ``node`` label: the Node this machine became, ``""`` before that."""
        return self.metadata.labels.get(NODE_LABEL_KEY, "")

    @property
    def phase(self) -> MachinePhase | None:
        """``status.currentStatus.phase``; None is the empty phase."""
        return self.status.current_status.phase

    def condition(self, condition_type: str) -> NodeCondition | None:
        """The first ``status.conditions`` entry of *condition_type*, if any."""
        for condition in self.status.conditions:
            if condition.type == condition_type:
                return condition
        return None


@attrs.frozen(kw_only=True)
class MachineTemplateSpec(Model):
    """``spec.template`` of MachineSets and MachineDeployments."""

    metadata: ObjectMeta = field("metadata", object_meta, _OBJECT_META)
    spec: MachineSpec = field("spec", MachineSpec.from_dict, _MACHINE_SPEC)


@attrs.frozen(kw_only=True)
class MachineSummary(Model):
    """A failed machine as MachineSet/MachineDeployment status list it (``failedMachines``)."""

    name: str = field("name", text, "")
    provider_id: str = field("providerID", text, "")
    last_operation: LastOperation = field("lastOperation", LastOperation.from_dict, _LAST_OPERATION)
    owner_ref: str = field("ownerRef", text, "")
    """The name of the machine's controller (a MachineSet)."""

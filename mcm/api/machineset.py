"""``MachineSet`` (``machine.sapcloud.io/v1alpha1``): keep ``replicas`` Machines of one template.

Field names follow the JSON mechanically; note ``status.machineSetCondition`` (singular, upstream's
spelling) is `MachineSetStatus.machine_set_condition`, a tuple of `MachineSetCondition`.
"""

from __future__ import annotations

import datetime
import enum

import attrs

from mcm.api.codec import (
    KubeModel,
    Model,
    field,
    integer,
    models,
    optional_model,
    text,
    timestamp,
)
from mcm.api.machine import ClassSpec, LastOperation, MachineSummary, MachineTemplateSpec
from mcm.api.selector import LabelSelector, LabelSelectorRequirement

__all__ = [
    "LabelSelector",
    "LabelSelectorRequirement",
    "MachineSet",
    "MachineSetCondition",
    "MachineSetConditionType",
    "MachineSetSpec",
    "MachineSetStatus",
    "MachineSummary",
]


class MachineSetConditionType(enum.StrEnum):
    REPLICA_FAILURE = "ReplicaFailure"  # creating or deleting machines failed
    FROZEN = "Frozen"  # the safety controller froze the set (replica overshoot)


@attrs.frozen(kw_only=True)
class MachineSetCondition(Model):
    type: str = field("type", text, "")
    status: str = field("status", text, "")
    last_transition_time: datetime.datetime | None = field("lastTransitionTime", timestamp, None)
    reason: str = field("reason", text, "")
    message: str = field("message", text, "")


_CLASS_SPEC = ClassSpec()
_TEMPLATE = MachineTemplateSpec()
_LAST_OPERATION = LastOperation()


@attrs.frozen(kw_only=True)
class MachineSetSpec(Model):
    replicas: int = field("replicas", integer, 0)
    selector: LabelSelector | None = field("selector", optional_model(LabelSelector), None)
    machine_class: ClassSpec = field("machineClass", ClassSpec.from_dict, _CLASS_SPEC)
    """Legacy; only used in metric labels."""
    template: MachineTemplateSpec = field("template", MachineTemplateSpec.from_dict, _TEMPLATE)
    min_ready_seconds: int = field("minReadySeconds", integer, 0)
    auto_preserve_failed_machine_max: int = field("autoPreserveFailedMachineMax", integer, 0)


@attrs.frozen(kw_only=True)
class MachineSetStatus(Model):
    replicas: int = field("replicas", integer, 0)
    fully_labeled_replicas: int = field("fullyLabeledReplicas", integer, 0)
    ready_replicas: int = field("readyReplicas", integer, 0)
    available_replicas: int = field("availableReplicas", integer, 0)
    preserved_failed_replicas: int = field("preservedFailedReplicas", integer, 0)
    observed_generation: int = field("observedGeneration", integer, 0)
    machine_set_condition: tuple[MachineSetCondition, ...] = field(
        "machineSetCondition", models(MachineSetCondition), ()
    )
    last_operation: LastOperation = field("lastOperation", LastOperation.from_dict, _LAST_OPERATION)
    failed_machines: tuple[MachineSummary, ...] = field(
        "failedMachines", models(MachineSummary), ()
    )
    auto_preserve_failed_machine_count: int = field("autoPreserveFailedMachineCount", integer, 0)

    def condition(self, condition_type: str) -> MachineSetCondition | None:
        """The ``machineSetCondition`` entry of *condition_type*, if any."""
        for condition in self.machine_set_condition:
            if condition.type == condition_type:
                return condition
        return None


_SPEC = MachineSetSpec()
_STATUS = MachineSetStatus()


@attrs.frozen(kw_only=True)
class MachineSet(KubeModel):
    API_VERSION = "machine.sapcloud.io/v1alpha1"
    KIND = "MachineSet"

    spec: MachineSetSpec = field("spec", MachineSetSpec.from_dict, _SPEC)
    status: MachineSetStatus = field("status", MachineSetStatus.from_dict, _STATUS)

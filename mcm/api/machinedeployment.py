"""``MachineDeployment`` (``machine.sapcloud.io/v1alpha1``): roll a template out over MachineSets.

``strategy.type`` and ``inPlaceUpdate.orchestrationType`` are kept as strings, not enums: there is
no defaulting upstream, and validation must be able to report the value it rejects. The enums below
name the valid values. ``maxSurge``/``maxUnavailable`` are `IntOrString` (``1`` or ``"25%"``), None
when unset.
"""

from __future__ import annotations

import datetime
import enum

import attrs

from mcm.api.codec import (
    IntOrString,
    KubeModel,
    Model,
    boolean,
    field,
    int_or_string,
    integer,
    models,
    optional_integer,
    optional_model,
    text,
    timestamp,
)
from mcm.api.machine import MachineSummary, MachineTemplateSpec
from mcm.api.selector import LabelSelector

__all__ = [
    "InPlaceUpdateMachineDeployment",
    "IntOrString",
    "MachineDeployment",
    "MachineDeploymentCondition",
    "MachineDeploymentConditionType",
    "MachineDeploymentSpec",
    "MachineDeploymentStatus",
    "MachineDeploymentStrategy",
    "MachineDeploymentStrategyType",
    "OrchestrationType",
    "RollbackConfig",
    "RollingUpdateMachineDeployment",
]


class MachineDeploymentStrategyType(enum.StrEnum):
    RECREATE = "Recreate"
    ROLLING_UPDATE = "RollingUpdate"
    IN_PLACE_UPDATE = "InPlaceUpdate"


class OrchestrationType(enum.StrEnum):
    AUTO = "Auto"  # the controller selects nodes for in-place update itself
    MANUAL = "Manual"  # an operator labels nodes selected-for-update


class MachineDeploymentConditionType(enum.StrEnum):
    AVAILABLE = "Available"  # at least replicas - maxUnavailable machines are available
    PROGRESSING = "Progressing"  # a rollout is progressing, complete, or past its deadline
    REPLICA_FAILURE = "ReplicaFailure"  # copied from a MachineSet that failed to create/delete
    FROZEN = "Frozen"  # the safety controller froze it (replica overshoot)


@attrs.frozen(kw_only=True)
class RollingUpdateMachineDeployment(Model):
    max_surge: IntOrString | None = field("maxSurge", int_or_string, None)
    max_unavailable: IntOrString | None = field("maxUnavailable", int_or_string, None)


@attrs.frozen(kw_only=True)
class InPlaceUpdateMachineDeployment(Model):
    max_surge: IntOrString | None = field("maxSurge", int_or_string, None)
    max_unavailable: IntOrString | None = field("maxUnavailable", int_or_string, None)
    orchestration_type: str = field("orchestrationType", text, "")


@attrs.frozen(kw_only=True)
class MachineDeploymentStrategy(Model):
    type: str = field("type", text, "")
    rolling_update: RollingUpdateMachineDeployment | None = field(
        "rollingUpdate", optional_model(RollingUpdateMachineDeployment), None
    )
    in_place_update: InPlaceUpdateMachineDeployment | None = field(
        "inPlaceUpdate", optional_model(InPlaceUpdateMachineDeployment), None
    )


@attrs.frozen(kw_only=True)
class RollbackConfig(Model):
    """Deprecated ``spec.rollbackTo``; revision 0 means the previous one."""

    revision: int = field("revision", integer, 0)


@attrs.frozen(kw_only=True)
class MachineDeploymentCondition(Model):
    type: str = field("type", text, "")
    status: str = field("status", text, "")
    last_update_time: datetime.datetime | None = field("lastUpdateTime", timestamp, None)
    last_transition_time: datetime.datetime | None = field("lastTransitionTime", timestamp, None)
    reason: str = field("reason", text, "")
    message: str = field("message", text, "")


_TEMPLATE = MachineTemplateSpec()
_STRATEGY = MachineDeploymentStrategy()


@attrs.frozen(kw_only=True)
class MachineDeploymentSpec(Model):
    replicas: int = field("replicas", integer, 0)
    selector: LabelSelector | None = field("selector", optional_model(LabelSelector), None)
    template: MachineTemplateSpec = field("template", MachineTemplateSpec.from_dict, _TEMPLATE)
    strategy: MachineDeploymentStrategy = field(
        "strategy", MachineDeploymentStrategy.from_dict, _STRATEGY
    )
    min_ready_seconds: int = field("minReadySeconds", integer, 0)
    revision_history_limit: int | None = field("revisionHistoryLimit", optional_integer, None)
    """None keeps every old MachineSet."""
    paused: bool = field("paused", boolean, False)
    rollback_to: RollbackConfig | None = field("rollbackTo", optional_model(RollbackConfig), None)
    progress_deadline_seconds: int | None = field("progressDeadlineSeconds", optional_integer, None)
    """None: no deadline."""
    auto_preserve_failed_machine_max: int = field("autoPreserveFailedMachineMax", integer, 0)


@attrs.frozen(kw_only=True)
class MachineDeploymentStatus(Model):
    observed_generation: int = field("observedGeneration", integer, 0)
    replicas: int = field("replicas", integer, 0)
    updated_replicas: int = field("updatedReplicas", integer, 0)
    ready_replicas: int = field("readyReplicas", integer, 0)
    available_replicas: int = field("availableReplicas", integer, 0)
    preserved_failed_replicas: int = field("preservedFailedReplicas", integer, 0)
    unavailable_replicas: int = field("unavailableReplicas", integer, 0)
    conditions: tuple[MachineDeploymentCondition, ...] = field(
        "conditions", models(MachineDeploymentCondition), ()
    )
    collision_count: int | None = field("collisionCount", optional_integer, None)
    failed_machines: tuple[MachineSummary, ...] = field(
        "failedMachines", models(MachineSummary), ()
    )

    def condition(self, condition_type: str) -> MachineDeploymentCondition | None:
        """The condition of *condition_type*, if any."""
        for condition in self.conditions:
            if condition.type == condition_type:
                return condition
        return None


_SPEC = MachineDeploymentSpec()
_STATUS = MachineDeploymentStatus()


@attrs.frozen(kw_only=True)
class MachineDeployment(KubeModel):
    API_VERSION = "machine.sapcloud.io/v1alpha1"
    KIND = "MachineDeployment"

    spec: MachineDeploymentSpec = field("spec", MachineDeploymentSpec.from_dict, _SPEC)
    status: MachineDeploymentStatus = field("status", MachineDeploymentStatus.from_dict, _STATUS)

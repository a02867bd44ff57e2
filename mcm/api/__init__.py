"""The ``machine.sapcloud.io/v1alpha1`` object model and the core kinds the controllers read.

Objects are frozen attrs classes, parsed once (``from_dict``) at the informer and never mutated:
that is how client-go's rule "you must not modify anything returned by Get or List" is enforced
here. Each keeps the server's dict, deep-frozen, as ``raw``; ``to_dict`` gives back plain JSON.
Writes are patches built by the ``*_patch`` functions, never re-serialised models.
"""

from mcm.api.codec import IntOrString, KubeModel, Model
from mcm.api.core import (
    ConditionStatus,
    Event,
    Lease,
    Node,
    NodeAddress,
    NodeCondition,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    Taint,
    VolumeAttachment,
)
from mcm.api.duration import format_duration, parse_duration
from mcm.api.machine import (
    ClassSpec,
    CurrentStatus,
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineSpec,
    MachineState,
    MachineStatus,
    MachineSummary,
    MachineTemplateSpec,
    NodeTemplateSpec,
)
from mcm.api.machineclass import MachineClass, NodeTemplate, SecretReference
from mcm.api.machinedeployment import (
    MachineDeployment,
    MachineDeploymentCondition,
    MachineDeploymentSpec,
    MachineDeploymentStatus,
    MachineDeploymentStrategy,
)
from mcm.api.machineset import (
    MachineSet,
    MachineSetCondition,
    MachineSetSpec,
    MachineSetStatus,
)
from mcm.api.meta import (
    EMPTY,
    FrozenJSON,
    GenericObject,
    KubeObject,
    ObjectKey,
    ObjectMeta,
    OwnerReference,
    format_time,
    freeze,
    parse_time,
    thaw,
)
from mcm.api.selector import LabelSelector, LabelSelectorRequirement

__all__ = [
    "EMPTY",
    "ClassSpec",
    "ConditionStatus",
    "CurrentStatus",
    "Event",
    "FrozenJSON",
    "GenericObject",
    "IntOrString",
    "KubeModel",
    "KubeObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LastOperation",
    "Lease",
    "Machine",
    "MachineClass",
    "MachineDeployment",
    "MachineDeploymentCondition",
    "MachineDeploymentSpec",
    "MachineDeploymentStatus",
    "MachineDeploymentStrategy",
    "MachineOperationType",
    "MachinePhase",
    "MachineSet",
    "MachineSetCondition",
    "MachineSetSpec",
    "MachineSetStatus",
    "MachineSpec",
    "MachineState",
    "MachineStatus",
    "MachineSummary",
    "MachineTemplateSpec",
    "Model",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeTemplate",
    "NodeTemplateSpec",
    "ObjectKey",
    "ObjectMeta",
    "OwnerReference",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "Secret",
    "SecretReference",
    "Taint",
    "VolumeAttachment",
    "format_duration",
    "format_time",
    "freeze",
    "parse_duration",
    "parse_time",
    "thaw",
]

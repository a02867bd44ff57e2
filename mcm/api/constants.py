"""Every well-known string of the Machine API: finalizers, labels, annotations, taints, condition
reasons, ``lastOperation.description`` step markers, and the reconcile retry periods.

The values are upstream's, byte for byte (gardener/machine-controller-manager at ``54caf546``):
other components (Gardener, the cluster-autoscaler, node agents) read and write the same keys, and
the deletion flow is keyed on substrings of ``lastOperation.description``. Phases, operation types
and states are enums in `mcm.api.machine`; this module holds what is not an enum there.

Durations are float seconds.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------- API group

GROUP: Final = "machine.sapcloud.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
MACHINE_CLASS_KIND: Final = "MachineClass"  # the only spec.class.kind the machine controller serves

# -------------------------------------------------------------------------------------- Finalizers

# On Machines, MachineClasses, MachineSets, MachineDeployments: held while MCM still has work to do.
MCM_FINALIZER_NAME: Final = "machine.sapcloud.io/machine-controller-manager"
# On Nodes (target cluster): the machine controller notices a Node deletion, replaces the Machine.
NODE_FINALIZER_NAME: Final = "node.machine.sapcloud.io/machine-controller"
# On Secrets referenced by a MachineClass: the provider cannot delete VMs without them.
MC_FINALIZER_NAME: Final = "machine.sapcloud.io/machine-controller"
# The name the MachineSet/MachineDeployment controllers use for the MCM finalizer (same string).
DELETE_FINALIZER_NAME: Final = MCM_FINALIZER_NAME

# ------------------------------------------------------------------------------------------ Labels

# Machine label: the Node's name, set once the VM exists (only with a target cluster).
NODE_LABEL_KEY: Final = "node"
# Machine label: the owning MachineDeployment's name (from Gardener's templates); keys permits and
# metrics.
MACHINE_DEPLOYMENT_NAME_LABEL: Final = "name"
# Machine label, parsed like Go's strconv.ParseBool: skip the normal drain and force the deletion.
FORCE_DELETION_LABEL: Final = "force-deletion"
# Machine label, must be exactly "True": force the drain of in-place updates and preservation.
FORCE_DRAIN_LABEL: Final = "force-drain"
# Node label: the Machine's name, set by the machine controller.
MACHINE_LABEL_KEY: Final = "node.gardener.cloud/machine-name"
# Node label (value "true"), set by the MachineDeployment controller: may be updated in place.
LABEL_CANDIDATE_FOR_UPDATE: Final = "node.machine.sapcloud.io/candidate-for-update"
# Node label (value "true"), set by the MachineDeployment controller: update this node now.
LABEL_SELECTED_FOR_UPDATE: Final = "node.machine.sapcloud.io/selected-for-update"
# Node (and Machine) label set by the node-side updater: UPDATE_RESULT_SUCCESSFUL or
# UPDATE_RESULT_FAILED.
LABEL_UPDATE_RESULT: Final = "node.machine.sapcloud.io/update-result"
UPDATE_RESULT_SUCCESSFUL: Final = "successful"
UPDATE_RESULT_FAILED: Final = "failed"
# MachineSet label (value "true"): the MachineSet must not create machines (in-place update).
LABEL_SCALE_UP_DISABLED: Final = "node.machine.sapcloud.io/scale-up-disabled"
# MachineSet/Machine label and selector key: hash of the template, tells MachineSets of one MCD
# apart.
DEFAULT_MACHINE_DEPLOYMENT_UNIQUE_LABEL_KEY: Final = "machine-template-hash"
# MachineSet/MachineDeployment label (value "True"), set by the safety controller on overshoot.
FREEZE_LABEL: Final = "freeze"
FREEZE_LABEL_VALUE: Final = "True"

# ------------------------------------------------------------------------------------- Annotations

# Machine annotation: deletion priority on scale-down, "1" goes first; defaults to "3".
MACHINE_PRIORITY: Final = "machinepriority.machine.sapcloud.io"
MACHINE_PRIORITY_DEFAULT: Final = "3"  # what the machine controller writes on creation
MACHINE_PRIORITY_DELETE_FIRST: Final = "1"  # what the scale-down protocol writes
# Node annotation: JSON of the Machine's nodeTemplate last synced to the Node (labels, annotations,
# taints).
LAST_APPLIED_ALT_ANNOTATION: Final = "node.machine.sapcloud.io/last-applied-anno-labels-taints"
# Node annotation: JSON ResourceList of the MachineClass virtualCapacity last synced into
# node.status.
LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION: Final = (
    "node.machine.sapcloud.io/last-applied-virtual-capacity"
)
# Node annotation (value "1"): the Node has no Machine; the machine controller leaves it alone.
NOT_MANAGED_BY_MCM: Final = "node.machine.sapcloud.io/not-managed-by-mcm"
NOT_MANAGED_BY_MCM_VALUE: Final = "1"
# Node or Machine annotation requesting preservation; values below.
PRESERVE_MACHINE_ANNOTATION_KEY: Final = "node.machine.sapcloud.io/preserve"
PRESERVE_NOW: Final = "now"  # preserve now, for machinePreserveTimeout
PRESERVE_WHEN_FAILED: Final = "when-failed"  # preserve once the machine is Failed
PRESERVE_AUTO_PRESERVED: Final = (
    "auto-preserved"  # by the MachineSet controller, on Failed machines
)
PRESERVE_FALSE: Final = "false"  # explicitly not preserved (stops an active preservation)
# Machine annotation: the Node's preserve value the machine controller last applied.
LAST_APPLIED_NODE_PRESERVE_VALUE: Final = (
    "node.machine.sapcloud.io/last-applied-node-preserve-value"
)
# MachineDeployment -> MachineSet -> Machine annotation: Go duration overriding
# spec.creationTimeout.
EFFECTIVE_CREATION_TIMEOUT: Final = "node.machine.sapcloud.io/effective-creation-timeout"
# Machine annotation: Go duration it took the Node to join, written when the machine first runs.
MACHINE_JOIN_DURATION: Final = "node.machine.sapcloud.io/machine-join-duration"
# Node annotation written by the node-side updater when an in-place update failed: the reason text.
UPDATE_FAILED_REASON: Final = "node.machine.sapcloud.io/update-failed-reason"
# Node annotation (value "true"): the cluster-autoscaler must not scale this node down.
CA_SCALE_DOWN_DISABLED: Final = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
# Node annotation (value "true"): MCM, not the user, set CA_SCALE_DOWN_DISABLED (MCM may remove it).
CA_SCALE_DOWN_DISABLED_BY_MCM: Final = "cluster-autoscaler.kubernetes.io/scale-down-disabled-by-mcm"
# MachineDeployment annotation from the cluster-autoscaler: "machine~RFC3339,..." machines to
# delete.
TRIGGER_DELETION_BY_MCM: Final = "node.machine.sapcloud.io/trigger-deletion-by-mcm"
# Machine annotation: RFC 3339 time at which the scaler marked the machine for deletion.
MARKED_FOR_DELETION_TIME: Final = "machine.sapcloud.io/marked-for-deletion-time"
# MachineDeployment (copied to MachineSet) annotation: RFC 3339 time of the scaler's last replica
# change.
LAST_DEPLOYMENT_REPLICA_CHANGE_BY_SCALER_TIME: Final = (
    "machine.sapcloud.io/last-deployment-replica-change-by-scaler-time"
)
# Pod annotation marking a static pod's mirror; drain skips those pods.
MIRROR_POD_ANNOTATION: Final = "kubernetes.io/config.mirror"
# MachineSet/MachineDeployment annotation: revision number of the template.
REVISION_ANNOTATION: Final = "deployment.kubernetes.io/revision"
# MachineSet annotation: comma list of earlier revisions this MachineSet had.
REVISION_HISTORY_ANNOTATION: Final = "deployment.kubernetes.io/revision-history"
# MachineSet annotation: the MachineDeployment's spec.replicas when the MachineSet was last scaled.
DESIRED_REPLICAS_ANNOTATION: Final = "deployment.kubernetes.io/desired-replicas"
# MachineSet annotation: spec.replicas + maxSurge of the MachineDeployment.
MAX_REPLICAS_ANNOTATION: Final = "deployment.kubernetes.io/max-replicas"
# MachineSet annotation (value "True") and Node taint key (True:PreferNoSchedule) on old
# MachineSets' nodes.
PREFER_NO_SCHEDULE_KEY: Final = "deployment.machine.sapcloud.io/prefer-no-schedule"
# kubectl's annotation; never copied from a MachineDeployment to its MachineSets.
LAST_APPLIED_CONFIGURATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
# MachineSet/MachineDeployment annotation (any value): asks the safety controller to unfreeze.
UNFREEZE_ANNOTATION: Final = "safety.machine.sapcloud.io/unfreeze"

# ------------------------------------------------------------------------------------------ Taints

# NoSchedule taint Gardener keeps on a node until its critical components run; a Pending machine
# whose node has it is not promoted to Running.
TAINT_CRITICAL_COMPONENTS_NOT_READY: Final = "node.gardener.cloud/critical-components-not-ready"
# NoSchedule taint put on a Failed, preserved node before draining it (instead of cordoning).
TAINT_PRESERVED: Final = "node.machine.sapcloud.io/preserved"

# --------------------------------------------------------------------- Node conditions and reasons

# Node condition driving in-place updates, and its reasons in the order the protocol uses them.
NODE_IN_PLACE_UPDATE: Final = "InPlaceUpdate"
REASON_CANDIDATE_FOR_UPDATE: Final = "CandidateForUpdate"
REASON_SELECTED_FOR_UPDATE: Final = "SelectedForUpdate"
REASON_DRAIN_SUCCESSFUL: Final = "DrainSuccessful"
REASON_READY_FOR_UPDATE: Final = "ReadyForUpdate"
REASON_UPDATE_SUCCESSFUL: Final = "UpdateSuccessful"
REASON_UPDATE_FAILED: Final = "UpdateFailed"
# Node condition reporting preservation; reasons and message fragments (upstream's exact texts).
NODE_PRESERVED: Final = "Preserved"
REASON_PRESERVED_BY_MCM: Final = "Preserved by MCM."
REASON_PRESERVED_BY_USER: Final = "Preserved by user."
REASON_PRESERVATION_STOPPED: Final = "Preservation stopped."
PRESERVED_NODE_DRAIN_SUCCESSFUL: Final = "Preserved node drained successfully."
PRESERVED_NODE_DRAIN_UNSUCCESSFUL: Final = "Preserved node could not be drained."
# Node condition set while the machine controller drains a node for deletion, and its reasons.
NODE_TERMINATION_CONDITION: Final = "Terminating"
REASON_NODE_UNHEALTHY: Final = "Unhealthy"
REASON_NODE_SCALE_DOWN: Final = "ScaleDown"

# ---------------------------------------------------------------------------------- Retry periods
# How long a machine reconcile waits before the next pass (seconds). Upstream's machineutils values.

CONFLICT_RETRY: Final = 0.2  # lost an optimistic-concurrency race: retry almost at once
SHORT_RETRY: Final = 5.0  # a step succeeded, or failed transiently: continue soon
MEDIUM_RETRY: Final = 180.0  # waiting for something outside our control
LONG_RETRY: Final = 600.0  # nothing to do until the next resync-ish check

# ------------------------------------------------- lastOperation.description step markers
# The deletion flow finds its next step by searching lastOperation.description for these substrings,
# so they must never change, and no other description may contain them by accident.

GET_VM_STATUS: Final = "Set machine status to termination. Now, getting VM Status"
INSTANCE_INITIALIZATION: Final = "Initialize VM Instance"
INITIATE_DRAIN: Final = "Initiate node drain"
NODE_READY_FOR_UPDATE: Final = "Node drain successful. Node is ready for update"
DEL_VOLUMES_ATTACHMENTS: Final = "Delete Volume Attachments"
INITIATE_VM_DELETION: Final = "Initiate VM deletion"
INITIATE_NODE_DELETION: Final = "Initiate node object deletion"
INITIATE_FINALIZER_REMOVAL: Final = "Initiate machine object finalizer removal"

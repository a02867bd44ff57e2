"""The deletion flow: what the termination queue does with a Machine that is being deleted.

A Machine with a ``deletionTimestamp`` lands on the termination queue, and `TerminationReconciler`
walks it through upstream's deletion state machine (``triggerDeletionFlow``), one step per pass.
The step to take is read from ``status.lastOperation.description``: each step writes a description
ending in the marker of the next one (`mcm.api.constants`), so a restarted controller resumes
where its predecessor stopped. Evaluated top to bottom on every pass:

1. The machine is in its creation flow (`MachineControllerContext.pending_creations`): wait
   (``MEDIUM_RETRY``); a VM being created is never deleted half-way.
2. The MCM finalizer is missing: nothing to do (``LONG_RETRY``).
3. The phase is not ``Terminating``: set it, with ``lastOperation`` = "getting VM status". From
   here on ``currentStatus`` is never written again, so its ``lastUpdateTime`` stays at the moment
   termination started.
4. *GetVMStatus*: find the machine's Node name (the ``node`` label; else a Node labelled
   ``node.gardener.cloud/machine-name=<machine>``; else the driver's ``get_machine_status``), label
   the machine with it, go on to the drain. Without a target cluster: straight to VM deletion.
5. *InitiateDrain*: set the Node's ``Terminating`` condition, cordon the Node and make one drain
   pass (`mcm.controller.drain`). The drain is **resumable**: while pods are terminating, volumes
   detaching or evictions refused by PodDisruptionBudgets, the step stays at *InitiateDrain*
   (describing what it waits for) and the machine is requeued after 5 s, 20 s, or when the drain
   timeout runs out, whichever is first. The drain is *forced* (every pod deleted with grace period
   0, nothing waited for, failures do not stop the deletion) when the machine carries the
   ``force-deletion`` label (Go's ``strconv.ParseBool``), when the drain timeout counted from the
   ``deletionTimestamp`` has passed, or when the machine's ``Ready`` condition has not been True
   (or ``ReadonlyFilesystem`` not False) for more than 5 minutes. A forced drain goes on to
   *DelVolumesAttachments*, a normal one straight to *InitiateVMDeletion*.
6. *DelVolumesAttachments*: delete the VolumeAttachments still bound to the Node, then move on once
   none are left (or the Node has no volumes attached, or is gone).
7. *InitiateVMDeletion*: ``Driver.delete_machine``; reactions by code as upstream's ``deleteVM``.
8. *InitiateNodeDeletion*: drop the Node's finalizer and delete the Node.
9. *InitiateFinalizerRemoval*: remove the MCM finalizer; the API server then deletes the Machine.
10. Anything else: start over at step 3.

Status writes in steps 4 to 8 are skipped when the new status is similar to the stored one
(`mcm.controller.status.write_status_unless_similar`). The MachineClass must still exist
(`mcm.controller.validation.validate_machine_class`), which is why classes carry a finalizer while
machines use them. Being frozen (§5.2) does not block deletion.

Every pass ends in a requeue on the termination queue, as upstream's: after the step's retry
period, after ``LONG_RETRY`` once the finalizer is gone (the "post-deletion reconcile"), and
failures to write are retried after ``CONFLICT_RETRY`` (409) or ``SHORT_RETRY`` (anything else).
Nothing raises into the work queue's rate limiter but a failing machine lister. A Machine that is
not being deleted is left alone (upstream would start deleting it).

Events are recorded on the Machine for each transition (module constants ``REASON_*``), only when
the status actually changed, so a drain that waits does not repeat them every pass.
"""

from __future__ import annotations

import datetime
import logging

import attrs

from mcm.api.constants import (
    CONFLICT_RETRY,
    DEL_VOLUMES_ATTACHMENTS,
    FORCE_DELETION_LABEL,
    GET_VM_STATUS,
    INITIATE_DRAIN,
    INITIATE_FINALIZER_REMOVAL,
    INITIATE_NODE_DELETION,
    INITIATE_VM_DELETION,
    LONG_RETRY,
    MACHINE_LABEL_KEY,
    MCM_FINALIZER_NAME,
    MEDIUM_RETRY,
    NODE_FINALIZER_NAME,
    NODE_LABEL_KEY,
    NODE_TERMINATION_CONDITION,
    REASON_NODE_SCALE_DOWN,
    REASON_NODE_UNHEALTHY,
    SHORT_RETRY,
)
from mcm.api.core import ConditionStatus, NodeConditionType
from mcm.api.machine import Machine, MachineOperationType, MachinePhase, MachineState
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey, format_time
from mcm.api.patches import current_status, finalizers_patch, labels_patch, last_operation
from mcm.clock import utcnow
from mcm.controller.context import MachineControllerContext
from mcm.controller.drain import (
    FORCED_DRAIN_MAX_EVICT_RETRIES,
    FORCED_DRAIN_TIMEOUT,
    POD_EVICTION_RETRY_INTERVAL,
    Drainer,
    DrainOptions,
    DrainOutcome,
    DrainStatus,
    cordon_node,
)
from mcm.controller.effective import effective_drain_timeout, effective_max_evict_retries
from mcm.controller.metrics import MachineMetrics, default_machine_metrics
from mcm.controller.runtime import Result
from mcm.controller.status import patch_machine_status, write_status_unless_similar
from mcm.controller.validation import ValidationFailure, validate_machine_class
from mcm.driver import (
    TRANSIENT_CODES,
    Code,
    DeleteMachineRequest,
    DeleteMachineResponse,
    GetMachineStatusRequest,
    MachineError,
    SecretData,
    from_error,
)
from mcm.errors import ApiError, ConflictError, NotFoundError, TransportError
from mcm.events import NORMAL, WARNING
from mcm.kube.protocol import PatchType
from mcm.kube.resources import MACHINES, NODES, VOLUME_ATTACHMENTS

__all__ = [
    "NODE_UNHEALTHY_FORCE_AFTER",
    "REASON_DELETED",
    "REASON_DRAINED",
    "REASON_DRAIN_BLOCKED",
    "REASON_DRAIN_FAILED",
    "REASON_FORCED_DRAIN",
    "REASON_NODE_DELETED",
    "REASON_TERMINATING",
    "REASON_VM_DELETED",
    "REASON_VM_DELETION_FAILED",
    "TerminationReconciler",
    "parse_go_bool",
]

logger = logging.getLogger(__name__)

# Event reasons (on the Machine).
REASON_TERMINATING = "Terminating"
"""Normal: the deletion flow started (phase set to Terminating)."""
REASON_DRAINED = "Drained"
"""Normal: the node was drained (or the drain was skipped: no node)."""
REASON_DRAIN_BLOCKED = "DrainBlocked"
"""Warning: evictions are refused by PodDisruptionBudgets; names the pods and budgets."""
REASON_DRAIN_FAILED = "DrainFailed"
"""Warning: a drain pass failed (it is retried, or the deletion goes on if forced)."""
REASON_FORCED_DRAIN = "ForcedDrain"
"""Warning: the drain is forced (label, drain timeout, or node unhealthy for 5 minutes)."""
REASON_VM_DELETED = "VMDeleted"
"""Normal: the driver deleted the VM (or found none)."""
REASON_VM_DELETION_FAILED = "VMDeletionFailed"
"""Warning: the driver failed to delete the VM."""
REASON_NODE_DELETED = "NodeDeleted"
"""Normal: the Node object was deleted (or was gone already)."""
REASON_DELETED = "Deleted"
"""Normal: the finalizer is removed; the Machine goes away."""

NODE_UNHEALTHY_FORCE_AFTER = 5 * 60.0
"""A machine whose Ready is not True (or ReadonlyFilesystem not False) this long is force-drained.
"""

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_NO_TARGET_DESCRIPTION = (
    "Running without target cluster, skipping node drain and volume attachment deletion. "
    + INITIATE_VM_DELETION
)
_SKIP_DRAIN_DESCRIPTION = "Skipping drain as nodeName is not a valid one for machine. " + (
    INITIATE_VM_DELETION
)


def parse_go_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``; `ValueError` for anything it would not accept."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


class _Requeue(Exception):  # noqa: N818 -- control flow, never leaves this module
    """End the pass now and requeue after *after* seconds (a status write failed)."""

    def __init__(self, after: float) -> None:
        super().__init__(after)
        self.after = after


@attrs.frozen(kw_only=True)
class _Request:
    """What every step of one pass needs: the machine as last read or written, its class."""

    machine: Machine
    machine_class: MachineClass
    secret: SecretData


class TerminationReconciler:
    """Reconciles the termination queue: one deletion step per pass; see the module docstring.

    Keeps a `mcm.controller.drain.Drainer` (and its in-memory eviction bookkeeping) across passes.
    """

    def __init__(
        self,
        ctx: MachineControllerContext,
        *,
        drainer: Drainer | None = None,
        metrics: MachineMetrics | None = None,  # None: the process-wide one
    ) -> None:
        self._ctx = ctx
        self._drainer = drainer if drainer is not None else Drainer(ctx)
        self._metrics = metrics if metrics is not None else default_machine_metrics()

    @property
    def drainer(self) -> Drainer:
        return self._drainer

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        machine = ctx.machines.get_by_key(key)
        if machine is None:
            logger.debug("termination of %s: machine is gone", key)
            return Result()
        if not machine.metadata.deleting:
            logger.debug("termination of %s: machine is not being deleted; nothing to do", key)
            return Result()
        logger.debug(
            "termination of %s: phase %s, last operation %r",
            key,
            machine.phase,
            machine.status.last_operation.description,
        )
        try:
            machine_class, secret = validate_machine_class(ctx, machine)
        except ValidationFailure as failure:
            logger.warning("termination of %s: cannot reconcile: %s", key, failure)
            return Result(requeue_after=failure.retry_after)
        request = _Request(machine=machine, machine_class=machine_class, secret=secret)
        try:
            after = self._step(request)
        except _Requeue as requeue:
            after = requeue.after
        if after <= 0:
            ctx.enqueue_termination(key, 0.0)  # upstream's "retry 0": again, at once
            return Result()
        return Result(requeue_after=after)

    # --- the state machine ------------------------------------------------------------------------

    def _step(self, request: _Request) -> float:
        """Take the next deletion step; returns the requeue period (0: at once)."""
        machine = request.machine
        name = machine.metadata.name
        if machine.metadata.key in self._ctx.pending_creations:
            logger.info(
                'machine "%s" is in creation flow. Deletion cannot proceed', machine.metadata.name
            )
            return MEDIUM_RETRY
        if MCM_FINALIZER_NAME not in machine.metadata.finalizers:
            logger.info('Machine "%s" is missing finalizers. Deletion cannot proceed', name)
            return LONG_RETRY
        if machine.phase is not MachinePhase.TERMINATING:
            return self._set_terminating(machine)
        description = machine.status.last_operation.description
        if GET_VM_STATUS in description:
            return self._find_node(request)
        if INITIATE_DRAIN in description:
            return self._drain_node(request)
        if DEL_VOLUMES_ATTACHMENTS in description:
            return self._delete_volume_attachments(machine)
        if INITIATE_VM_DELETION in description:
            return self._delete_vm(request)
        if INITIATE_NODE_DELETION in description:
            return self._delete_node(machine)
        if INITIATE_FINALIZER_REMOVAL in description:
            return self._remove_finalizer(machine)
        logger.warning(
            'Unable to decode deletion flow state for machine "%s". Re-initiate termination', name
        )
        return self._set_terminating(machine)

    def _set_terminating(self, machine: Machine) -> float:
        now = utcnow(self._ctx.clock)
        try:
            patch_machine_status(
                self._ctx,
                machine,
                last_operation=last_operation(
                    GET_VM_STATUS, MachineState.PROCESSING, MachineOperationType.DELETE, now=now
                ),
                current_status=current_status(MachinePhase.TERMINATING, now=now),
            )
        except ConflictError as exc:
            logger.info("machine %s: status write conflicted: %s", machine.metadata.name, exc)
            return CONFLICT_RETRY
        except (ApiError, TransportError) as exc:
            logger.warning("machine %s: status write failed: %s", machine.metadata.name, exc)
            return SHORT_RETRY
        logger.info(
            "machine %s: deletion in process; phase set to Terminating", machine.metadata.name
        )
        self._event(machine, NORMAL, REASON_TERMINATING, "Deletion started: phase Terminating")
        return SHORT_RETRY

    def _find_node(self, request: _Request) -> float:
        """Step 4 (upstream's ``updateMachineStatusAndNodeLabel``)."""
        ctx = self._ctx
        machine = request.machine
        if not ctx.has_target:
            self._write(machine, _NO_TARGET_DESCRIPTION, MachineState.PROCESSING)
            return SHORT_RETRY
        if machine.node_name:
            self._write(machine, INITIATE_DRAIN, MachineState.PROCESSING)
            return SHORT_RETRY
        node_name = self._node_labelled_for(machine)
        if node_name is None:
            try:
                response = ctx.driver.get_machine_status(
                    GetMachineStatusRequest(
                        machine=machine,
                        machine_class=request.machine_class,
                        secret=request.secret,
                    )
                )
            except Exception as exc:  # noqa: BLE001 -- a driver may raise anything; decoded below
                description, state, retry = _get_status_failure(exc)
                logger.warning(
                    "machine %s: getting VM status failed: %s", machine.metadata.name, exc
                )
                self._write(machine, description, state)
                return retry
            node_name = response.node_name
        try:
            written = ctx.control.patch(
                MACHINES,
                machine.metadata.name,
                labels_patch(set={NODE_LABEL_KEY: node_name}),
                namespace=machine.metadata.namespace,
            )
        except ConflictError:
            return CONFLICT_RETRY
        except (ApiError, TransportError) as exc:
            logger.warning(
                'machine %s: failed to set label "%s" to %r: %s',
                machine.metadata.name,
                NODE_LABEL_KEY,
                node_name,
                exc,
            )
            return SHORT_RETRY
        self._write(Machine.from_dict(written), INITIATE_DRAIN, MachineState.PROCESSING)
        return SHORT_RETRY

    def _node_labelled_for(self, machine: Machine) -> str | None:
        if self._ctx.nodes is None:
            return None
        nodes = self._ctx.nodes.list(selector={MACHINE_LABEL_KEY: machine.metadata.name})
        return nodes[0].metadata.name if nodes else None

    def _drain_node(self, request: _Request) -> float:
        """Step 5 (upstream's ``drainNode``), one drain pass at a time."""
        ctx = self._ctx
        machine = request.machine
        name = machine.metadata.name
        if not ctx.has_target:
            self._write(machine, _NO_TARGET_DESCRIPTION, MachineState.PROCESSING)
            return SHORT_RETRY
        node_name = machine.node_name
        if not node_name:
            if self._write(machine, _SKIP_DRAIN_DESCRIPTION, MachineState.PROCESSING):
                self._event(
                    machine, NORMAL, REASON_DRAINED, "Drain skipped: the machine has no node"
                )
            return SHORT_RETRY

        now = ctx.clock.now()
        drain_timeout = effective_drain_timeout(ctx, machine)
        max_evict_retries = min(
            effective_max_evict_retries(ctx, machine),
            int(drain_timeout / POD_EVICTION_RETRY_INTERVAL),
        )
        timeout = drain_timeout
        forced_because = self._unhealthy_for_long(machine, now)
        force_label = self._force_deletion_label(machine)
        assert machine.metadata.deletion_timestamp is not None  # noqa: S101 -- checked in reconcile
        deadline = machine.metadata.deletion_timestamp.timestamp() + drain_timeout
        timed_out = now > deadline
        if force_label or timed_out:
            forced_because = (
                "it carries the force-deletion label"
                if force_label
                else f"the drain timeout of {_seconds(drain_timeout)} has passed"
            )
            timeout = FORCED_DRAIN_TIMEOUT
            max_evict_retries = FORCED_DRAIN_MAX_EVICT_RETRIES
        forced = forced_because is not None
        if forced:
            # A forced drain is one pass: this is said once per deletion.
            logger.info(
                "machine %s: forcing the drain of node %s: %s", name, node_name, forced_because
            )
            self._event(
                machine,
                WARNING,
                REASON_FORCED_DRAIN,
                f"Forcing the drain of node {node_name}: {forced_because}",
            )

        try:
            self._set_node_terminating(machine, node_name)
        except (ApiError, TransportError) as exc:
            error = f'failed to create/update conditions on node "{node_name}": {exc}'
            if not forced:
                description = (
                    "Drain failed due to failure in update of node conditions - "
                    f"{error}. Will retry in next sync. {INITIATE_DRAIN}"
                )
                if self._write(machine, description, MachineState.FAILED):
                    self._event(machine, WARNING, REASON_DRAIN_FAILED, description)
                return SHORT_RETRY
            logger.warning("machine %s: %s; continuing since it's a force deletion", name, error)

        try:
            cordon_node(ctx, node_name)
        except (ApiError, TransportError) as exc:
            return self._drain_failed(machine, str(exc), forced=forced)

        outcome = self._drainer.drain(
            DrainOptions(
                node_name=node_name,
                timeout=timeout,
                max_evict_retries=max_evict_retries,
                force_delete_pods=forced,
                pv_detach_timeout=ctx.options.machine_pv_detach_timeout,
                pv_reattach_timeout=ctx.options.machine_pv_reattach_timeout,
            )
        )
        if outcome.done:
            description = (
                f"Force Drain successful. {DEL_VOLUMES_ATTACHMENTS}"
                if forced
                else f"Drain successful. {INITIATE_VM_DELETION}"
            )
            self._metrics.record_durations(machine, request.machine_class, drain=outcome.duration)
            if self._write(machine, description, MachineState.PROCESSING):
                self._event(machine, NORMAL, REASON_DRAINED, f"Node {node_name} drained")
            return SHORT_RETRY
        if outcome.status is DrainStatus.FAILED:
            return self._drain_failed(machine, outcome.error, forced=forced)
        return self._drain_waiting(machine, outcome, deadline - now)

    def _drain_failed(self, machine: Machine, error: str, *, forced: bool) -> float:
        if forced:
            description = (
                f"Drain failed due to - {error}. However, since it's a force deletion shall"
                f" continue deletion of VM. {DEL_VOLUMES_ATTACHMENTS}"
            )
            state = MachineState.PROCESSING
        else:
            description = (
                f"Drain failed due to - {error}. Will retry in next sync. {INITIATE_DRAIN}"
            )
            state = MachineState.FAILED
        if self._write(machine, description, state):
            self._event(machine, WARNING, REASON_DRAIN_FAILED, description)
        return SHORT_RETRY

    def _drain_waiting(self, machine: Machine, outcome: DrainOutcome, until_forced: float) -> float:
        """A normal drain goes on: say what it waits for, come back when something may change."""
        blocked = outcome.status is DrainStatus.BLOCKED
        verb = "blocked" if blocked else "in progress"
        description = f"Drain {verb}: {outcome.message}. {INITIATE_DRAIN}"
        previous = machine.status.last_operation.description
        written = self._write(machine, description, MachineState.PROCESSING)
        if written and blocked and outcome.blocked_message not in previous:
            # Once per set of blocked pods, not each time the pods waited for change.
            self._event(
                machine, WARNING, REASON_DRAIN_BLOCKED, f"Drain blocked: {outcome.blocked_message}"
            )
        # Come back when the drain may progress, but no later than when it is to be forced.
        after = outcome.requeue_after if outcome.requeue_after is not None else SHORT_RETRY
        return min(after, max(until_forced, 0.0) + 1.0)

    def _delete_volume_attachments(self, machine: Machine) -> float:
        """Step 6 (upstream's ``deleteNodeVolAttachments``)."""
        ctx = self._ctx
        node_name = machine.node_name
        operation_type = machine.status.last_operation.type or MachineOperationType.DELETE
        if ctx.target is None or ctx.nodes is None:
            self._write(machine, _NO_TARGET_DESCRIPTION, MachineState.PROCESSING)
            return SHORT_RETRY
        try:
            node = ctx.nodes.get(node_name) if node_name else None
        except (ApiError, TransportError) as exc:
            logger.warning(
                "machine %s: reading node %s failed: %s", machine.metadata.name, node_name, exc
            )
            return SHORT_RETRY
        if node is None:
            description = (
                f'Skipping deleteNodeVolAttachments due to - node "{node_name}" not found.'
                f" Moving to VM Deletion. {INITIATE_VM_DELETION}"
            )
            self._write(machine, description, MachineState.PROCESSING, operation_type)
            return 0.0
        if not node.status.volumes_attached:
            description = (
                f"Node Volumes for node: {node_name} are already detached."
                f" Moving to VM Deletion. {INITIATE_VM_DELETION}"
            )
            self._write(machine, description, MachineState.PROCESSING, operation_type)
            return 0.0
        live = [
            attachment
            for attachment in (ctx.volume_attachments.list() if ctx.volume_attachments else ())
            if attachment.spec.node_name == node_name and not attachment.metadata.deleting
        ]
        if live:
            failures = []
            for attachment in live:
                try:
                    ctx.target.delete(VOLUME_ATTACHMENTS, attachment.metadata.name)
                except NotFoundError:
                    pass
                except (ApiError, TransportError) as exc:
                    failures.append(f"{attachment.metadata.name}: {exc}")
            if failures:
                logger.warning(
                    "machine %s: deleting VolumeAttachments of node %s failed: %s",
                    machine.metadata.name,
                    node_name,
                    "; ".join(failures),
                )
            else:
                logger.info(
                    "machine %s: deleted %d VolumeAttachments of node %s",
                    machine.metadata.name,
                    len(live),
                    node_name,
                )
            return SHORT_RETRY
        description = (
            f"No Live VolumeAttachments for node: {node_name}."
            f" Moving to VM Deletion. {INITIATE_VM_DELETION}"
        )
        self._write(machine, description, MachineState.PROCESSING, operation_type)
        return SHORT_RETRY

    def _delete_vm(self, request: _Request) -> float:
        """Step 7 (upstream's ``deleteVM``)."""
        machine = request.machine
        response: DeleteMachineResponse | None = None
        try:
            response = self._ctx.driver.delete_machine(
                DeleteMachineRequest(
                    machine=machine, machine_class=request.machine_class, secret=request.secret
                )
            )
        except Exception as exc:  # noqa: BLE001 -- a driver may raise anything; decoded below
            decoded, ok = from_error(exc)
            if isinstance(exc, MachineError) and isinstance(exc.response, DeleteMachineResponse):
                response = exc.response
            if not ok:
                retry = LONG_RETRY
                description = (
                    f"Error occurred while decoding machine error: {exc}. {INITIATE_VM_DELETION}"
                )
                state = MachineState.FAILED
            elif decoded.code is Code.NOT_FOUND:
                retry = SHORT_RETRY
                description = f"VM not found. Continuing deletion flow. {INITIATE_NODE_DELETION}"
                state = MachineState.PROCESSING
            elif decoded.code in TRANSIENT_CODES:
                retry = SHORT_RETRY
                description = (
                    f"VM deletion failed due to - {exc}. However, will re-try in the next resync."
                    f" {INITIATE_VM_DELETION}"
                )
                state = MachineState.FAILED
            else:
                retry = LONG_RETRY
                description = (
                    f"VM deletion failed due to - {exc}. Aborting operation. {INITIATE_VM_DELETION}"
                )
                state = MachineState.FAILED
            logger.warning("machine %s: deleting the VM failed: %s", machine.metadata.name, exc)
        else:
            retry = SHORT_RETRY
            description = f"VM deletion was successful. {INITIATE_NODE_DELETION}"
            state = MachineState.PROCESSING
            logger.info("machine %s: VM deleted", machine.metadata.name)
            if machine.metadata.deletion_timestamp is not None:
                self._metrics.record_durations(
                    machine,
                    request.machine_class,
                    delete=self._ctx.clock.now() - machine.metadata.deletion_timestamp.timestamp(),
                )
        last_known_state = response.last_known_state if response is not None else ""
        written = self._write(
            machine,
            description,
            state,
            MachineOperationType.DELETE,
            last_known_state=last_known_state,
        )
        if written:
            if state is MachineState.PROCESSING:
                self._event(machine, NORMAL, REASON_VM_DELETED, description)
            else:
                self._event(machine, WARNING, REASON_VM_DELETION_FAILED, description)
        return retry

    def _delete_node(self, machine: Machine) -> float:
        """Step 8 (upstream's ``deleteNodeObject``)."""
        ctx = self._ctx
        node_name = machine.node_name
        if not node_name:
            description = (
                f'Label "{NODE_LABEL_KEY}" not present on machine "{machine.metadata.name}",'
                f" continuing deletion flow. {INITIATE_FINALIZER_REMOVAL}"
            )
            self._write(machine, description, MachineState.PROCESSING)
            return SHORT_RETRY
        gone = (
            f'No node object found for "{node_name}", continuing deletion flow.'
            f" {INITIATE_FINALIZER_REMOVAL}"
        )
        if ctx.target is None or ctx.nodes is None:
            self._write(machine, gone, MachineState.PROCESSING)
            return SHORT_RETRY
        try:
            node = ctx.nodes.get(node_name)
        except (ApiError, TransportError) as exc:
            description = (
                f'Retrieval of Node Object "{node_name}" failed due to error: {exc}, Retrying.'
                f" {INITIATE_NODE_DELETION}"
            )
            self._write(machine, description, MachineState.FAILED)
            return SHORT_RETRY
        if node is None:
            self._write(machine, gone, MachineState.PROCESSING)
            return SHORT_RETRY
        if NODE_FINALIZER_NAME in node.metadata.finalizers:
            try:
                ctx.target.patch(
                    NODES,
                    node_name,
                    finalizers_patch(
                        node.metadata.finalizers,
                        remove=[NODE_FINALIZER_NAME],
                        resource_version=node.metadata.resource_version,
                    ),
                )
            except NotFoundError:
                pass  # deleted meanwhile: the delete below says so
            except (ApiError, TransportError) as exc:
                description = (
                    f'Removal of finalizers from Node Object "{node_name}" failed due to error:'
                    f" {exc}, Retrying. {INITIATE_NODE_DELETION}"
                )
                self._write(machine, description, MachineState.FAILED)
                return SHORT_RETRY
        try:
            ctx.target.delete(NODES, node_name)
        except NotFoundError:
            description = gone
            state = MachineState.PROCESSING
        except (ApiError, TransportError) as exc:
            description = (
                f'Deletion of Node Object "{node_name}" failed due to error: {exc}.'
                f" {INITIATE_NODE_DELETION}"
            )
            state = MachineState.FAILED
        else:
            description = (
                f'Deletion of Node Object "{node_name}" is successful. {INITIATE_FINALIZER_REMOVAL}'
            )
            state = MachineState.PROCESSING
            logger.info("machine %s: node %s deleted", machine.metadata.name, node_name)
        if self._write(machine, description, state) and state is MachineState.PROCESSING:
            self._event(machine, NORMAL, REASON_NODE_DELETED, f"Node {node_name} deleted")
        return SHORT_RETRY

    def _remove_finalizer(self, machine: Machine) -> float:
        """Step 9 (upstream's ``deleteMachineFinalizers``)."""
        try:
            self._ctx.control.patch(
                MACHINES,
                machine.metadata.name,
                finalizers_patch(
                    machine.metadata.finalizers,
                    remove=[MCM_FINALIZER_NAME],
                    resource_version=machine.metadata.resource_version,
                ),
                namespace=machine.metadata.namespace,
            )
        except NotFoundError:
            return LONG_RETRY
        except ConflictError as exc:
            logger.info("machine %s: finalizer removal conflicted: %s", machine.metadata.name, exc)
            return CONFLICT_RETRY
        except (ApiError, TransportError) as exc:
            logger.warning(
                "Machine finalizer REMOVAL failed for machine %s. Retrying, error: %s",
                machine.metadata.name,
                exc,
            )
            return SHORT_RETRY
        if machine.node_name:
            self._drainer.forget(machine.node_name)
        logger.info(
            "machine %s with providerID %s and node %s deleted",
            machine.metadata.name,
            machine.spec.provider_id or "-",
            machine.node_name or "-",
        )
        self._event(machine, NORMAL, REASON_DELETED, "Machine deleted: finalizer removed")
        return LONG_RETRY

    # --- the Node side ----------------------------------------------------------------------------

    def _set_node_terminating(self, machine: Machine, node_name: str) -> None:
        """Set the Node's ``Terminating`` condition (upstream's ``UpdateNodeTerminationCondition``).

        A missing Node is fine; a Node that carries the condition as True already is left alone.
        """
        ctx = self._ctx
        if ctx.target is None or ctx.nodes is None:
            return
        if machine.phase in (None, MachinePhase.CRASH_LOOP_BACK_OFF):
            return
        node = ctx.nodes.get(node_name)
        if node is None:
            return
        existing = node.condition(NODE_TERMINATION_CONDITION)
        if existing is not None and existing.status == ConditionStatus.TRUE:
            return
        if existing is not None and machine.phase is MachinePhase.TERMINATING:
            reason, message = existing.reason, existing.message
        elif machine.phase is MachinePhase.FAILED:
            reason, message = (
                REASON_NODE_UNHEALTHY,
                "Machine Controller is terminating failed machine",
            )
        else:
            reason, message = REASON_NODE_SCALE_DOWN, "Machine Controller is scaling down machine"
        stamp = format_time(utcnow(ctx.clock))
        condition = {
            "type": NODE_TERMINATION_CONDITION,
            "status": str(ConditionStatus.TRUE),
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }
        try:
            ctx.target.patch_status(
                NODES,
                node_name,
                {"status": {"conditions": [condition]}},
                patch_type=PatchType.STRATEGIC,
            )
        except NotFoundError:
            return

    # --- helpers ----------------------------------------------------------------------------------

    def _unhealthy_for_long(self, machine: Machine, now: float) -> str | None:
        """Why the drain is forced by node health, or None (upstream's 5-minute rule)."""
        ready = machine.condition(NodeConditionType.READY)
        if (
            ready is not None
            and ready.status != ConditionStatus.TRUE
            and _since(ready.last_transition_time, now) > NODE_UNHEALTHY_FORCE_AFTER
        ):
            return "the machine is NotReady for over 5min"
        readonly = machine.condition(NodeConditionType.READONLY_FILESYSTEM)
        if (
            readonly is not None
            and readonly.status != ConditionStatus.FALSE
            and _since(readonly.last_transition_time, now) > NODE_UNHEALTHY_FORCE_AFTER
        ):
            return "the machine is in ReadonlyFilesystem for over 5min"
        return None

    @staticmethod
    def _force_deletion_label(machine: Machine) -> bool:
        value = machine.metadata.labels.get(FORCE_DELETION_LABEL)
        if value is None:
            return False
        try:
            return parse_go_bool(value)
        except ValueError:
            logger.warning(
                'machine %s: label "%s" has invalid value %r; ignoring it',
                machine.metadata.name,
                FORCE_DELETION_LABEL,
                value,
            )
            return False

    def _write(
        self,
        machine: Machine,
        description: str,
        state: MachineState,
        operation_type: MachineOperationType = MachineOperationType.DELETE,
        *,
        last_known_state: str | None = None,
    ) -> bool:
        """Write ``lastOperation`` (keeping ``currentStatus``) unless similar; True if written.

        Raises `_Requeue` when the write fails: ``CONFLICT_RETRY`` on a conflict, else
        ``SHORT_RETRY``.
        """
        status = machine.status
        try:
            written = write_status_unless_similar(
                self._ctx,
                machine,
                last_operation=last_operation(
                    description, state, operation_type, now=utcnow(self._ctx.clock)
                ),
                current_status=status.current_status,
                last_known_state=(
                    status.last_known_state if last_known_state is None else last_known_state
                ),
            )
        except ConflictError as exc:
            logger.info("machine %s: status write conflicted: %s", machine.metadata.name, exc)
            raise _Requeue(CONFLICT_RETRY) from exc
        except (ApiError, TransportError) as exc:
            logger.warning("machine %s: status write failed: %s", machine.metadata.name, exc)
            raise _Requeue(SHORT_RETRY) from exc
        if written is None:
            return False
        logger.info("machine %s: %s", machine.metadata.name, description)
        return True

    def _event(self, machine: Machine, event_type: str, reason: str, message: str) -> None:
        self._ctx.recorder.event(machine, event_type, reason, message)


def _get_status_failure(exc: Exception) -> tuple[str, MachineState, float]:
    """Description, state and retry for a failed ``get_machine_status`` (§2.3's table)."""
    decoded, ok = from_error(exc)
    if not ok:
        return (
            "Error occurred with decoding machine error status while getting VM status, aborting"
            f" without retry. {exc} {GET_VM_STATUS}",
            MachineState.FAILED,
            LONG_RETRY,
        )
    if decoded.code is Code.UNIMPLEMENTED:
        return INITIATE_DRAIN, MachineState.PROCESSING, SHORT_RETRY
    if decoded.code is Code.NOT_FOUND:
        return (
            f"VM was not found at provider. Moving forward to node drain. {INITIATE_DRAIN}",
            MachineState.PROCESSING,
            SHORT_RETRY,
        )
    if decoded.code is Code.UNINITIALIZED:
        return (
            f"VM instance was not initialized. Moving forward to node drain. {INITIATE_DRAIN}",
            MachineState.PROCESSING,
            SHORT_RETRY,
        )
    if decoded.code in TRANSIENT_CODES:
        return (
            "Error occurred with decoding machine error status while getting VM status, aborting"
            f" with retry. {GET_VM_STATUS}",
            MachineState.FAILED,
            SHORT_RETRY,
        )
    return (
        "Error occurred with decoding machine error status while getting VM status, aborting"
        f" without retry. machine code: {exc} {GET_VM_STATUS}",
        MachineState.FAILED,
        MEDIUM_RETRY,
    )


def _since(when: datetime.datetime | None, now: float) -> float:
    """Seconds from *when* to *now*; an unset time is long ago (Go's zero time)."""
    return float("inf") if when is None else now - when.timestamp()


def _seconds(value: float) -> str:
    return f"{value:g}s"

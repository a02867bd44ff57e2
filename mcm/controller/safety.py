"""The machine controller's safety nets: orphan VM collection and the API-server freeze.

**Orphan VMs** (`OrphanVMCollector`, the orphan-VM queue, upstream's
``reconcileClusterMachineSafetyOrphanVMs``). A VM can outlive its Machine: the Machine's finalizer
was removed by hand, a provider call timed out after it had created the VM, a provider found
several VMs for one Machine (``OutOfRange``). A pass asks the driver for the VMs of every
MachineClass (``ListMachines``: provider ID -> Machine name) and deletes, through the driver, each
VM whose Machine

- does not exist, or
- exists with another ``spec.providerID`` and a phase other than ``""`` and ``CrashLoopBackOff``.

A VM is kept while its Machine's creation may still be in flight: the Machine is in the creation
flow (``ctx.pending_creations``) or in phase ``""``/``CrashLoopBackOff``. Beyond upstream, a VM is
only deleted when it has been found orphaned for at least *grace_period* (`ORPHAN_VM_GRACE_PERIOD`,
5 minutes): the first pass that finds it only notes the time and requeues the check for when the
grace period ends; the pass that then finds it still orphaned deletes it. The driver contract
does not report when a VM was created, so the time since it was first seen orphaned stands in for
its age. The grace period is far longer than the machine cache lags behind the API server, so the
decision is always made on a cache that has caught up with everything done before the VM was
first listed (a creation flow that stored the provider ID, a Machine created meanwhile); it also
covers a creation still running in another process (a leader handing over).

A pass does nothing while the controller is frozen (its caches may be stale and the API servers
unreachable), nor before *machines_synced* reports the machine cache synced. A ``ListMachines``
failure ends the class loop (upstream's "first failing class aborts the pass"); a driver that
does not implement it (``Unimplemented``) has no orphan collection. Failed VM deletions are logged
and retried by the next pass. Passes run every ``--machine-safety-orphan-vms-period`` (15 minutes)
and on demand (a Machine deleted, a new ``OutOfRange``), sooner when a deadline is sooner.

Each pass then runs `annotate_nodes_unmanaged_by_mcm` (target cluster only): a Node that no
Machine claims (label ``node=<name>``) and that is older than ``--machine-creation-timeout`` loses
the Node finalizer and gets ``node.machine.sapcloud.io/not-managed-by-mcm: "1"``, so the
controller leaves it alone; a Node carrying the annotation that a Machine does claim loses it.
A Node claimed by several Machines is only logged. A young orphan Node is looked at again when it
comes of age.

**API-server freeze** (`APIServerSafetyReconciler`, the API-server safety queue, target cluster
only, upstream's ``reconcileClusterMachineSafetyAPIServer``). A probe GETs a Machine and a Node
that do not exist: NotFound means the server answered; any other error means it is down.

- not frozen, a server down: note when it was first seen down (monotonic clock); once down for
  more than ``--machine-safety-apiserver-statuscheck-timeout`` (30 s), freeze
  (``ctx.safety.frozen``: the machine reconciler then leaves non-deleting machines alone, so no
  Machine is declared Failed because its Node could not be read). Check again after a fifth of the
  timeout.
- not frozen, both up: forget when they went down (upstream keeps the first outage's start, so a
  later blip would freeze at once), check again after
  ``--machine-safety-apiserver-statuscheck-period`` (1 minute).
- frozen, both up: every Machine that is still ``Unknown`` when re-read from the API server is set
  to ``Running`` (``timeoutActive: false``, ``lastUpdateTime`` now, ``preserveExpiryTime`` kept)
  with lastOperation ``Machine Health Timeout was reset due to APIServer being unreachable``
  (Successful, HealthCheck), so the outage does not count against its health timeout; every
  Machine is enqueued after 30 s to find its real phase; then unfreeze. An API error on the way
  raises (retried with back-off) and the controller stays frozen.
- frozen, a server still down: check again after the period.

``mcm_machine_controller_frozen`` is scraped from ``ctx.safety`` by
`mcm.controller.metrics.MachineCollector`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from mcm.api.constants import (
    LONG_RETRY,
    MEDIUM_RETRY,
    NOT_MANAGED_BY_MCM,
    NOT_MANAGED_BY_MCM_VALUE,
    SHORT_RETRY,
)
from mcm.api.core import Node, Secret
from mcm.api.machine import (
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineSpec,
    MachineState,
)
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey, ObjectMeta
from mcm.api.patches import annotations_patch, current_status, last_operation
from mcm.clock import utcnow
from mcm.controller.context import MachineControllerContext
from mcm.controller.node import machines_for_node, remove_node_finalizer
from mcm.controller.runtime import Result
from mcm.controller.status import patch_machine_status
from mcm.driver import (
    Code,
    DeleteMachineRequest,
    ListMachinesRequest,
    SecretData,
    from_error,
    merge_secret_data,
)
from mcm.errors import MCMError, NotFoundError
from mcm.events import NORMAL
from mcm.kube.resources import MACHINES, NODES

__all__ = [
    "API_SERVER_PROBE_NAME",
    "HEALTH_TIMEOUT_RESET_DESCRIPTION",
    "ORPHAN_VM_GRACE_PERIOD",
    "REASON_HEALTH_TIMEOUT_RESET",
    "REASON_ORPHAN_VM_DELETED",
    "REQUEUE_AFTER_UNFREEZE",
    "SAFETY_KEY",
    "APIServerSafetyReconciler",
    "OrphanVMCollector",
    "annotate_nodes_unmanaged_by_mcm",
    "api_servers_up",
]

logger = logging.getLogger(__name__)

SAFETY_KEY = ObjectKey("", "")
"""The one key of each safety queue (upstream's ``""``); seed both queues with it."""

ORPHAN_VM_GRACE_PERIOD = 5 * 60.0
"""Seconds a VM must have been found orphaned before it is deleted."""

API_SERVER_PROBE_NAME = "dummy_name"
"""The Machine and Node the reachability probe asks for; their absence proves the server is up."""

REQUEUE_AFTER_UNFREEZE = 30.0
"""Seconds after an unfreeze at which every Machine is reconciled to find its real phase."""

HEALTH_TIMEOUT_RESET_DESCRIPTION = (
    "Machine Health Timeout was reset due to APIServer being unreachable"
)

REASON_ORPHAN_VM_DELETED = "OrphanVMDeleted"
"""MachineClass event: a VM without a Machine was deleted."""

REASON_HEALTH_TIMEOUT_RESET = "HealthTimeoutReset"
"""Machine event: an Unknown machine was set back to Running after an API-server outage."""

_MIN_DOWN_CHECK_INTERVAL = 1.0  # a zero status-check timeout must not make the check spin


# ------------------------------------------------------------------------------------ orphan VMs


def _class_secret_data(ctx: MachineControllerContext, machine_class: MachineClass) -> SecretData:
    """The merged data of the class's secrets; a missing Secret is skipped, as upstream does."""
    secrets: list[Secret | None] = [
        ctx.secrets.get_by_key(ObjectKey(ref.namespace or ctx.namespace, ref.name))
        for ref in machine_class.secret_refs
    ]
    return merge_secret_data(*secrets)


def _may_own_vm(machine: Machine, provider_id: str) -> bool:
    """Is *machine* backed by the VM *provider_id*, or still being created (phase "" or CLBO)?"""
    return machine.spec.provider_id == provider_id or machine.phase in (
        None,
        MachinePhase.CRASH_LOOP_BACK_OFF,
    )


def _earliest(*delays: float | None) -> float | None:
    given = [d for d in delays if d is not None]
    return min(given) if given else None


class OrphanVMCollector:
    """Deletes VMs that no Machine owns, and marks Nodes no Machine claims.

    See the module docstring. *machines_synced* (the machine informer's ``has_synced``) guards
    passes against an empty cache; None means always synced (unit tests).
    """

    def __init__(
        self,
        ctx: MachineControllerContext,
        *,
        machines_synced: Callable[[], bool] | None = None,
        grace_period: float = ORPHAN_VM_GRACE_PERIOD,
    ) -> None:
        self._ctx = ctx
        self._machines_synced = machines_synced
        self._grace_period = grace_period
        # Provider ID -> monotonic time the VM was first found orphaned. Only the worker of the
        # single safety key touches it, and the queue never hands one key to two workers.
        self._first_seen: dict[str, float] = {}

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        options = ctx.options
        period = options.machine_safety_orphan_vms_period
        if ctx.safety.frozen:
            logger.info("orphan VM collection: the controller is frozen; skipping this pass")
            return Result(
                requeue_after=min(period, options.machine_safety_apiserver_statuscheck_period)
            )
        if self._machines_synced is not None and not self._machines_synced():
            logger.info("orphan VM collection: machine cache not synced yet; retrying soon")
            return Result(requeue_after=SHORT_RETRY)
        sooner = _earliest(self._collect_orphan_vms(), annotate_nodes_unmanaged_by_mcm(ctx))
        return Result(requeue_after=period if sooner is None else min(period, sooner))

    def _collect_orphan_vms(self) -> float | None:
        """One pass over every class; returns how soon another pass is needed, if sooner."""
        ctx = self._ctx
        now = ctx.clock.monotonic()
        still_orphaned: set[str] = set()
        deadline: float | None = None
        for machine_class in ctx.machine_classes.list(ctx.namespace):
            try:
                secret = _class_secret_data(ctx, machine_class)
            except MCMError as error:
                logger.error(  # noqa: TRY400 -- expected; the message says it all
                    "orphan VM collection: reading the secrets of machine class %s failed;"
                    " aborting this pass: %s",
                    machine_class.metadata.name,
                    error,
                )
                return LONG_RETRY
            try:
                listed = ctx.driver.list_machines(
                    ListMachinesRequest(machine_class=machine_class, secret=secret)
                ).machine_list
            except Exception as error:  # noqa: BLE001 -- any driver failure aborts the pass
                status, decoded = from_error(error)
                if decoded and status.code is Code.UNIMPLEMENTED:
                    logger.debug("orphan VM collection: the driver cannot list VMs; skipping")
                    return None
                logger.error(  # noqa: TRY400
                    "orphan VM collection: listing the VMs of machine class %s failed;"
                    " aborting this pass: %s",
                    machine_class.metadata.name,
                    error,
                )
                return LONG_RETRY
            for provider_id, machine_name in sorted(listed.items()):
                if not self._orphaned(provider_id, machine_name):
                    continue
                first_seen = self._first_seen.setdefault(provider_id, now)
                remaining = self._grace_period - (now - first_seen)
                if remaining > 0:
                    logger.info(
                        "orphan VM collection: VM %s (machine %s) looks orphaned;"
                        " deleting it in %.0f s if it still is",
                        provider_id,
                        machine_name,
                        remaining,
                    )
                    still_orphaned.add(provider_id)
                    deadline = _earliest(deadline, remaining)
                    continue
                if not self._delete_vm(machine_class, secret, provider_id, machine_name):
                    still_orphaned.add(provider_id)
        # VMs that are gone or owned again start their grace period afresh if orphaned later.
        self._first_seen = {p: t for p, t in self._first_seen.items() if p in still_orphaned}
        return deadline

    def _orphaned(self, provider_id: str, machine_name: str) -> bool:
        ctx = self._ctx
        key = ObjectKey(ctx.namespace, machine_name)
        machine = ctx.machines.get_by_key(key)
        if machine is not None and _may_own_vm(machine, provider_id):
            return False
        if key in ctx.pending_creations:
            logger.debug("orphan VM collection: machine %s is being created; keeping", key)
            return False
        return True

    def _delete_vm(
        self,
        machine_class: MachineClass,
        secret: SecretData,
        provider_id: str,
        machine_name: str,
    ) -> bool:
        ctx = self._ctx
        stub = Machine(
            metadata=ObjectMeta(name=machine_name, namespace=machine_class.metadata.namespace),
            spec=MachineSpec(provider_id=provider_id),
        )
        try:
            ctx.driver.delete_machine(
                DeleteMachineRequest(machine=stub, machine_class=machine_class, secret=secret)
            )
        except Exception as error:  # noqa: BLE001 -- logged; the next pass tries again
            logger.error(  # noqa: TRY400
                "orphan VM collection: deleting VM %s (machine %s) failed; retrying next pass: %s",
                provider_id,
                machine_name,
                error,
            )
            return False
        logger.info(
            "orphan VM collection: deleted orphan VM %s (machine %s)", provider_id, machine_name
        )
        ctx.recorder.event(
            machine_class,
            NORMAL,
            REASON_ORPHAN_VM_DELETED,
            f'Deleted VM {provider_id}: machine "{machine_name}" does not own it',
        )
        return True


def annotate_nodes_unmanaged_by_mcm(ctx: MachineControllerContext) -> float | None:
    """Mark Nodes no Machine claims as not managed by MCM, and unmark claimed ones.

    Upstream's ``AnnotateNodesUnmanagedByMCM`` (see the module docstring). Returns how soon it
    should run again if sooner than the regular pass: ``MediumRetry`` after a failed write
    (upstream stops at the first; here the other Nodes are still handled), or when the youngest
    orphan Node becomes old enough. None without a target cluster or when nothing is pending.
    """
    if ctx.nodes is None or ctx.target is None:
        return None
    now = utcnow(ctx.clock)
    creation_timeout = ctx.options.machine_creation_timeout
    sooner: float | None = None
    for node in ctx.nodes.list():
        name = node.metadata.name
        machines = machines_for_node(ctx, name)
        annotated = NOT_MANAGED_BY_MCM in node.metadata.annotations
        if len(machines) > 1:
            logger.error(
                "node %s is claimed by %d machines (%s); leaving it alone",
                name,
                len(machines),
                ", ".join(sorted(m.metadata.name for m in machines)),
            )
            continue
        try:
            if machines:
                if annotated:
                    logger.info(
                        "node %s belongs to machine %s; removing %s",
                        name,
                        machines[0].metadata.name,
                        NOT_MANAGED_BY_MCM,
                    )
                    ctx.target.patch(NODES, name, annotations_patch(remove=[NOT_MANAGED_BY_MCM]))
                continue
            age = _age(node, now)
            if age < creation_timeout:
                logger.debug("node %s has no machine but is too young to be marked", name)
                sooner = _earliest(sooner, creation_timeout - age)
                continue
            remove_node_finalizer(ctx, node)
            if not annotated:
                logger.info("node %s has no machine; marking it %s", name, NOT_MANAGED_BY_MCM)
                ctx.target.patch(
                    NODES,
                    name,
                    annotations_patch(set={NOT_MANAGED_BY_MCM: NOT_MANAGED_BY_MCM_VALUE}),
                )
        except NotFoundError:
            continue
        except MCMError as error:
            logger.error("node %s: marking it managed or not failed: %s", name, error)  # noqa: TRY400
            sooner = _earliest(sooner, MEDIUM_RETRY)
    return sooner


def _age(node: Node, now: datetime.datetime) -> float:
    created = node.metadata.creation_timestamp
    if created is None:
        return float("inf")  # upstream's zero time: as old as can be
    return (now - created).total_seconds()


# ------------------------------------------------------------------------------ API-server freeze


def api_servers_up(ctx: MachineControllerContext) -> bool:
    """Do the control and the target API server both answer (NotFound counts as an answer)?"""
    probes = [("control", ctx.control, MACHINES, ctx.namespace)]
    if ctx.target is not None:
        probes.append(("target", ctx.target, NODES, ""))
    for which, api, resource, namespace in probes:
        try:
            api.get(resource, API_SERVER_PROBE_NAME, namespace=namespace or None)
        except NotFoundError:
            continue
        except MCMError as error:
            logger.warning("the %s API server is not reachable: %s", which, error)
            return False
    return True


class APIServerSafetyReconciler:
    """Freezes the machine controller while an API server is unreachable; see the module docs."""

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._ctx = ctx

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        if ctx.target is None:
            return Result()  # upstream runs no API-server safety without a target cluster
        timeout = ctx.options.machine_safety_apiserver_statuscheck_timeout
        period = ctx.options.machine_safety_apiserver_statuscheck_period
        up = api_servers_up(ctx)
        if ctx.safety.frozen:
            if up:
                self._unfreeze()
            return Result(requeue_after=period)
        if up:
            ctx.safety.set_down_since(None)
            return Result(requeue_after=period)
        now = ctx.clock.monotonic()
        down_since = ctx.safety.down_since
        if down_since is None:
            down_since = now
            ctx.safety.set_down_since(now)
        if now - down_since > timeout:
            logger.warning(
                "an API server has been unreachable for %.0f s (more than %.0f s):"
                " freezing the machine controller",
                now - down_since,
                timeout,
            )
            ctx.safety.set_frozen(True)
        return Result(requeue_after=max(timeout / 5, _MIN_DOWN_CHECK_INTERVAL))

    def _unfreeze(self) -> None:
        ctx = self._ctx
        for machine in ctx.machines.list(ctx.namespace):
            if machine.phase is MachinePhase.UNKNOWN:
                self._reset_health_timeout(machine.metadata.key)
            ctx.enqueue_machine(machine.metadata.key, REQUEUE_AFTER_UNFREEZE)
        ctx.safety.set_frozen(False)
        ctx.safety.set_down_since(None)
        logger.info("both API servers are reachable again: unfreezing the machine controller")

    def _reset_health_timeout(self, key: ObjectKey) -> None:
        ctx = self._ctx
        try:
            machine = Machine.from_dict(
                ctx.control.get(MACHINES, key.name, namespace=key.namespace)
            )
        except NotFoundError:
            return
        if machine.phase is not MachinePhase.UNKNOWN:
            return  # its phase moved on since the cache was read
        now = utcnow(ctx.clock)
        patch_machine_status(
            ctx,
            machine,
            current_status=current_status(
                MachinePhase.RUNNING,
                now=now,
                timeout_active=False,
                preserve_expiry_time=machine.status.current_status.preserve_expiry_time,
            ),
            last_operation=last_operation(
                HEALTH_TIMEOUT_RESET_DESCRIPTION,
                MachineState.SUCCESSFUL,
                MachineOperationType.HEALTH_CHECK,
                now=now,
            ),
        )
        logger.info(
            "machine %s: health timeout reset after the API-server outage"
            " (node %s, provider ID %s)",
            key,
            machine.node_name,
            machine.spec.provider_id,
        )
        ctx.recorder.event(
            machine,
            NORMAL,
            REASON_HEALTH_TIMEOUT_RESET,
            "Machine set back to Running: its health could not be checked while an API server"
            " was unreachable",
        )

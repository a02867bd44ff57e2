"""`MachineReconciler`: the machine queue's reconciler (creation, health, node sync).

``reconcile(key)`` is upstream's ``reconcileClusterMachineKey`` + ``reconcileClusterMachine``:

1. Read the Machine from the lister; gone: done.
2. Being deleted and not in the creation flow: hand the key to the termination queue; done.
   (Upstream first tries to add a missing finalizer, which the API server refuses on an object
   being deleted.)
3. Without the MCM finalizer ``machine.sapcloud.io/machine-controller-manager``: add it (a merge
   patch guarded by resourceVersion) and requeue after ``CONFLICT_RETRY``, giving the cache time
   to see the write (upstream returns an error to requeue through the rate limiter). A failed
   write raises: the runtime retries with back-off.
4. A pass of steps, stopping at the first that ends the pass (`mcm.controller.steps.Step`):

   - frozen controller (an API server unreachable, ``ctx.safety``): ``LONG_RETRY``;
   - `mcm.controller.validation.validate_machine`: ``LONG_RETRY`` when invalid;
   - `mcm.controller.validation.validate_machine_class`: its ``retry_after`` when it fails;
   - with a ``node`` label and a phase (only with a target cluster): the health check
     (`mcm.controller.health.HealthChecker`), the Node's machine-name label and node template
     (`mcm.controller.nodesync`);
   - (hooks for in-place updates, §7.2, and preservation, §7.1, go here; not implemented yet);
   - without provider ID, without phase, or in CrashLoopBackOff: the creation flow
     (`mcm.controller.creation.CreationFlow`);
   - else nothing to do: ``LONG_RETRY``.

   The key is requeued after the period of the step that ended the pass, or sooner when a step
   knows of a deadline (a Pending machine's creation timeout, an Unknown machine's health
   timeout). Upstream's errors that only end a pass are logged, not raised.

One reconciler serves all workers of the machine queue; it holds the per-MachineDeployment
replacement permits (`mcm.controller.health.Permits`).
"""

from __future__ import annotations

import logging

from mcm.api.constants import CONFLICT_RETRY, LONG_RETRY, MCM_FINALIZER_NAME
from mcm.api.machine import Machine, MachinePhase
from mcm.api.meta import ObjectKey
from mcm.api.patches import finalizers_patch
from mcm.controller.context import MachineControllerContext
from mcm.controller.creation import CreationFlow
from mcm.controller.health import HealthChecker, Permits
from mcm.controller.metrics import MachineMetrics, default_machine_metrics
from mcm.controller.nodesync import sync_machine_name_to_node, sync_node_templates
from mcm.controller.runtime import Result
from mcm.controller.steps import Step
from mcm.controller.validation import (
    ValidationFailure,
    validate_machine,
    validate_machine_class,
)
from mcm.kube.resources import MACHINES

__all__ = ["FROZEN_MESSAGE", "MachineReconciler"]

logger = logging.getLogger(__name__)

FROZEN_MESSAGE = "Machine controller has frozen. Retrying reconcile after resync period"


class MachineReconciler:
    """The machine queue's reconciler; see the module docstring."""

    def __init__(
        self,
        ctx: MachineControllerContext,
        *,
        permits: Permits | None = None,
        metrics: MachineMetrics | None = None,
    ) -> None:
        self._ctx = ctx
        self._metrics = metrics if metrics is not None else default_machine_metrics()
        self.permits = permits if permits is not None else Permits(ctx.clock)
        self._health = HealthChecker(ctx, permits=self.permits, metrics=self._metrics)
        self._creation = CreationFlow(ctx, metrics=self._metrics)

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        machine = ctx.machines.get_by_key(key)
        if machine is None:
            logger.debug("machine %s is gone; nothing to do", key)
            return Result()
        if machine.metadata.deleting and key not in ctx.pending_creations:
            logger.debug("machine %s is being deleted; handing it to the termination queue", key)
            ctx.enqueue_termination(key, 0.0)
            return Result()
        if MCM_FINALIZER_NAME not in machine.metadata.finalizers:
            self._add_finalizer(machine)
            return Result(requeue_after=CONFLICT_RETRY)
        step = self.reconcile_machine(machine)
        requeue_after = step.requeue_after()
        if step.done is not None:
            logger.info("machine %s: %s; again in %.1f s", key, step.done, requeue_after)
        else:
            logger.debug("machine %s: reconciled; again in %.1f s", key, requeue_after)
        return Result(requeue_after=requeue_after)

    def _add_finalizer(self, machine: Machine) -> None:
        meta = machine.metadata
        self._ctx.control.patch(
            MACHINES,
            meta.name,
            finalizers_patch(
                meta.finalizers, add=[MCM_FINALIZER_NAME], resource_version=meta.resource_version
            ),
            namespace=meta.namespace,
        )
        logger.info("machine %s: added finalizer %s", meta.key, MCM_FINALIZER_NAME)

    def reconcile_machine(self, machine: Machine) -> Step:
        """One pass of upstream's ``reconcileClusterMachine``; the requeue is the caller's."""
        ctx = self._ctx
        if ctx.safety.frozen and not machine.metadata.deleting:
            return Step(LONG_RETRY, FROZEN_MESSAGE)
        problem = validate_machine(machine)
        if problem is not None:
            return Step(LONG_RETRY, f"validation of Machine failed {problem}")
        try:
            machine_class, secret = validate_machine_class(ctx, machine)
        except ValidationFailure as failure:
            return Step(failure.retry_after, f"cannot reconcile machine: {failure}")

        deadlines: list[float | None] = []
        if ctx.has_target and machine.node_name and machine.phase is not None:
            health = self._health.check(machine, machine_class)
            if health.ends_pass:
                return health
            deadlines.append(health.recheck_after)
            for sync in (
                sync_machine_name_to_node(ctx, machine),
                sync_node_templates(ctx, machine, machine_class),
            ):
                if sync.ends_pass:
                    return _with_deadlines(sync, deadlines)
            # In-place update steps (spec §7.2: updateNodeConditionBasedOnLabel, inPlaceUpdate)
            # would run here.

        # Machine preservation (spec §7.1: manageMachinePreservation) would run here.

        if not machine.spec.provider_id or machine.phase in (
            None,
            MachinePhase.CRASH_LOOP_BACK_OFF,
        ):
            return _with_deadlines(self._creation.run(machine, machine_class, secret), deadlines)
        return _with_deadlines(Step(LONG_RETRY), deadlines)


def _with_deadlines(step: Step, deadlines: list[float | None]) -> Step:
    """*step* with the nearest of its own and *deadlines* as its ``recheck_after``."""
    known = [d for d in (step.recheck_after, *deadlines) if d is not None]
    if not known:
        return step
    return Step(step.retry_after, step.done, min(known))

"""The MachineClass reconciler: a class in use cannot be deleted.

A Machine's deletion flow needs its MachineClass (and the class's secrets) to delete the VM, so a
class must outlive every Machine that refers to it (``spec.class.kind: MachineClass``,
``spec.class.name: <class>``). The reconciler keeps that true with the MCM finalizer
``machine.sapcloud.io/machine-controller-manager`` (upstream's ``machineclass.go``):

=========================================  =====================================================
class state                                action, then requeue after
=========================================  =====================================================
not deleting, referenced by >= 1 Machine   add the finalizer if missing; enqueue every
                                           referencing Machine that is not being deleted (so
                                           machines waiting for the finalizer, or for a changed
                                           class, e.g. its virtual capacity, are reconciled);
                                           ``LongRetry`` (10 min)
deleting, still referenced                 nothing: deletion waits; ``ShortRetry`` (5 s)
not referenced (deleting or not)           remove the finalizer if present; ``LongRetry``
=========================================  =====================================================

So an unreferenced class carries no finalizer and a referenced one cannot go away. Classes are
looked up in ``ctx.namespace`` whatever the namespace of the key (upstream enqueues bare class
names from Machine events).

The finalizer list is written as a merge patch guarded by the resourceVersion the cache showed;
a conflict requeues after ``ConflictRetry``. Other API errors are logged and retried after
``ShortRetry``, as upstream re-enqueues the class after a failed pass (never through the rate
limiter).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mcm.api.constants import (
    CONFLICT_RETRY,
    LONG_RETRY,
    MACHINE_CLASS_KIND,
    MCM_FINALIZER_NAME,
    SHORT_RETRY,
)
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey
from mcm.api.patches import finalizers_patch
from mcm.controller.context import MachineControllerContext
from mcm.controller.runtime import Result
from mcm.errors import ConflictError, MCMError, NotFoundError
from mcm.kube.resources import MACHINE_CLASSES

__all__ = ["MachineClassReconciler", "machines_for_class"]

logger = logging.getLogger(__name__)


def machines_for_class(ctx: MachineControllerContext, class_name: str) -> Sequence[Machine]:
    """The Machines in ``ctx.namespace`` whose ``spec.class`` is the MachineClass *class_name*."""
    return [
        machine
        for machine in ctx.machines.list(ctx.namespace)
        if machine.spec.class_.kind == MACHINE_CLASS_KIND and machine.spec.class_.name == class_name
    ]


class MachineClassReconciler:
    """Adds and removes the MCM finalizer of a MachineClass; see the module docstring."""

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._ctx = ctx

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        machine_class = ctx.machine_classes.get(ctx.namespace, key.name)
        if machine_class is None:
            logger.debug("machine class %s: not found; nothing to do", key.name)
            return Result()
        try:
            return self._reconcile(machine_class)
        except ConflictError:
            return Result(requeue_after=CONFLICT_RETRY)
        except NotFoundError:
            return Result()
        except MCMError as error:
            logger.warning(
                "machine class %s: reconcile failed; retrying in %.0f s: %s",
                key.name,
                SHORT_RETRY,
                error,
            )
            return Result(requeue_after=SHORT_RETRY)

    def _reconcile(self, machine_class: MachineClass) -> Result:
        ctx = self._ctx
        name = machine_class.metadata.name
        machines = machines_for_class(ctx, name)
        has_finalizer = MCM_FINALIZER_NAME in machine_class.metadata.finalizers

        if machines and not machine_class.metadata.deleting:
            if not has_finalizer:
                self._patch_finalizers(machine_class, add=True)
                logger.info("machine class %s: in use; added finalizer", name)
            for machine in machines:
                if not machine.metadata.deleting:
                    ctx.enqueue_machine(machine.metadata.key, 0.0)
            return Result(requeue_after=LONG_RETRY)

        if machines:
            logger.info(
                "machine class %s: being deleted, but %d machines still refer to it;"
                " Retry as machine objects are still referring the machineclass",
                name,
                len(machines),
            )
            return Result(requeue_after=SHORT_RETRY)

        if has_finalizer:
            self._patch_finalizers(machine_class, add=False)
            logger.info("machine class %s: no longer in use; removed finalizer", name)
        return Result(requeue_after=LONG_RETRY)

    def _patch_finalizers(self, machine_class: MachineClass, *, add: bool) -> None:
        patch = finalizers_patch(
            machine_class.metadata.finalizers,
            add=(MCM_FINALIZER_NAME,) if add else (),
            remove=() if add else (MCM_FINALIZER_NAME,),
            resource_version=machine_class.metadata.resource_version,
        )
        self._ctx.control.patch(
            MACHINE_CLASSES,
            machine_class.metadata.name,
            patch,
            namespace=machine_class.metadata.namespace,
        )

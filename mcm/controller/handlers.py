"""Informer event handlers of the machine controller: which queue hears about which change.

Each ``on_*`` function takes the context and the object(s) of one informer notification and calls
the context's ``enqueue_*`` callbacks (upstream's handlers in ``machine.go``, ``node.go``,
``machineclass.go``, ``secret.go`` and ``machine_safety.go``). The ``*_event_handler`` factories
bundle them into `mcm.cache.FuncHandler` objects for the app factory to register. Handlers run on
the informer's notification thread: they only read listers and enqueue keys, with one exception
(a Node delete, below), and never raise.

**Machines** (key ``namespace/name``)

- add: a Machine being deleted goes to the termination queue, unless its creation flow is running
  (``ctx.pending_creations``); any other to the machine queue. Its MachineClass is enqueued.
- update, first rule that applies:

  1. the Machine's ``node.machine.sapcloud.io/preserve`` annotation changed: machine queue;
  2. it has that annotation and its phase changed: machine queue;
  3. ``metadata.generation`` unchanged (a status, label or annotation write, or a resync):
     ignored. The API server bumps the generation when it sets ``deletionTimestamp``, so the
     start of a deletion is not missed;
  4. otherwise as for add (termination queue when deleting and not being created).

  Independently, a ``lastOperation.description`` that newly contains ``OutOfRange`` (a provider
  found several VMs for one Machine) asks for an orphan-VM pass.
- delete: termination queue (which finds it gone and stops), its MachineClass, an orphan-VM pass.

**Nodes** (key: the node name; only with a target cluster). Nodes annotated
``node.machine.sapcloud.io/not-managed-by-mcm`` are ignored throughout.

- add: node queue.
- update: only for a Node exactly one Machine claims (label ``node=<name>``). A Node being
  deleted goes to the node queue, whose reconciler deletes the Machine. A Node without the
  machine controller's finalizer is requeued after ``MediumRetry``. The Machine is enqueued when
  an essential taint (``node.gardener.cloud/critical-components-not-ready``) was added or removed;
  when an in-place update label (candidate-for-update, selected-for-update, update-result) was
  added, or update-result changed; when the Node's conditions differ from the Machine's copy
  (type and status; reason too for ``InPlaceUpdate``) and the Machine is neither
  ``CrashLoopBackOff`` nor ``Terminating``; or when the Node's preserve annotation changed.
- delete: the Machine claiming the Node is deleted right here
  (`mcm.controller.node.delete_machine_of_node`): once the Node is gone there is no state left
  for a reconciler to find. Failures are logged. A Node protected by the finalizer never gets
  here without having gone through the node queue first.

**MachineClasses** (key ``namespace/name``): every add, update and delete enqueues the class, and
the Secrets it refers to (``secretRef``, ``credentialsSecretRef``): all of them on add and delete,
the old and new ones of a reference that changed on update.

**Secrets**: add and delete enqueue the Secret; updates are not watched.

A reference without a namespace, and a Machine's class, mean ``ctx.namespace``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from mcm.api.constants import (
    LABEL_CANDIDATE_FOR_UPDATE,
    LABEL_SELECTED_FOR_UPDATE,
    LABEL_UPDATE_RESULT,
    MACHINE_CLASS_KIND,
    MEDIUM_RETRY,
    NODE_FINALIZER_NAME,
    PRESERVE_MACHINE_ANNOTATION_KEY,
    TAINT_CRITICAL_COMPONENTS_NOT_READY,
)
from mcm.api.core import Node, Secret
from mcm.api.machine import Machine, MachinePhase
from mcm.api.machineclass import MachineClass, SecretReference
from mcm.api.meta import ObjectKey
from mcm.cache import DeletedFinalStateUnknown, FuncHandler
from mcm.controller.context import MachineControllerContext
from mcm.controller.health import node_conditions_changed
from mcm.controller.node import delete_machine_of_node, is_not_managed_by_mcm, machines_for_node
from mcm.driver import Code
from mcm.errors import MCMError

__all__ = [
    "ESSENTIAL_TAINTS",
    "IN_PLACE_UPDATE_LABELS",
    "essential_taints_changed",
    "in_place_update_labels_changed",
    "machine_class_event_handler",
    "machine_event_handler",
    "node_event_handler",
    "on_machine_add",
    "on_machine_class_add",
    "on_machine_class_delete",
    "on_machine_class_update",
    "on_machine_delete",
    "on_machine_update",
    "on_node_add",
    "on_node_delete",
    "on_node_update",
    "on_secret_add",
    "on_secret_delete",
    "secret_event_handler",
]

logger = logging.getLogger(__name__)

ESSENTIAL_TAINTS: tuple[str, ...] = (TAINT_CRITICAL_COMPONENTS_NOT_READY,)
"""Taint keys whose arrival or removal on a Node changes what its Machine's reconcile does."""

IN_PLACE_UPDATE_LABELS: tuple[str, ...] = (
    LABEL_CANDIDATE_FOR_UPDATE,
    LABEL_SELECTED_FOR_UPDATE,
    LABEL_UPDATE_RESULT,
)
"""Node labels of the in-place update protocol."""

_OUT_OF_RANGE = Code.OUT_OF_RANGE.go_name


# --------------------------------------------------------------------------------------- Machines


def _moves_to_termination(ctx: MachineControllerContext, machine: Machine) -> bool:
    """Upstream's ``shouldMachineBeMovedToTerminatingQueue``."""
    if not machine.metadata.deleting:
        return False
    if machine.metadata.key in ctx.pending_creations:
        logger.warning(
            "machine %s: being deleted, but its creation flow is running; deleting it afterwards",
            machine.metadata.key,
        )
        return False
    return True


def _route_machine(ctx: MachineControllerContext, machine: Machine) -> None:
    if _moves_to_termination(ctx, machine):
        ctx.enqueue_termination(machine.metadata.key, 0.0)
    else:
        ctx.enqueue_machine(machine.metadata.key, 0.0)


def _enqueue_class_of(ctx: MachineControllerContext, machine: Machine) -> None:
    class_spec = machine.spec.class_
    if class_spec.kind == MACHINE_CLASS_KIND and class_spec.name:
        ctx.enqueue_machine_class(ObjectKey(ctx.namespace, class_spec.name), 0.0)


def on_machine_add(ctx: MachineControllerContext, machine: Machine) -> None:
    _route_machine(ctx, machine)
    _enqueue_class_of(ctx, machine)


def on_machine_update(ctx: MachineControllerContext, old: Machine, new: Machine) -> None:
    if _newly_out_of_range(old, new):
        logger.warning(
            "machine %s: several VMs back it (%s); asking for an orphan VM collection",
            new.metadata.key,
            _OUT_OF_RANGE,
        )
        ctx.enqueue_orphan_check()

    old_preserve = old.metadata.annotations.get(PRESERVE_MACHINE_ANNOTATION_KEY)
    new_preserve = new.metadata.annotations.get(PRESERVE_MACHINE_ANNOTATION_KEY)
    if old_preserve != new_preserve or (new_preserve is not None and old.phase != new.phase):
        ctx.enqueue_machine(new.metadata.key, 0.0)
        return
    if old.metadata.generation == new.metadata.generation:
        return  # status, labels, annotations or a resync: nothing the spec asks for changed
    _route_machine(ctx, new)


def _newly_out_of_range(old: Machine, new: Machine) -> bool:
    return (
        _OUT_OF_RANGE not in old.status.last_operation.description
        and _OUT_OF_RANGE in new.status.last_operation.description
    )


def on_machine_delete(
    ctx: MachineControllerContext, obj: Machine | DeletedFinalStateUnknown[Machine]
) -> None:
    if isinstance(obj, DeletedFinalStateUnknown):
        ctx.enqueue_termination(obj.key, 0.0)
        if obj.obj is not None:
            _enqueue_class_of(ctx, obj.obj)
    else:
        ctx.enqueue_termination(obj.metadata.key, 0.0)
        _enqueue_class_of(ctx, obj)
    ctx.enqueue_orphan_check()


def machine_event_handler(ctx: MachineControllerContext) -> FuncHandler[Machine]:
    """The Machine informer's handler: machine, termination, class and orphan-VM queues."""
    return FuncHandler(
        on_add=functools.partial(on_machine_add, ctx),
        on_update=functools.partial(on_machine_update, ctx),
        on_delete=functools.partial(on_machine_delete, ctx),
    )


# ------------------------------------------------------------------------------------------ Nodes


def essential_taints_changed(
    old: Node, new: Node, taint_keys: Iterable[str] = ESSENTIAL_TAINTS
) -> bool:
    """Was a taint with one of *taint_keys* added to or removed from the Node (any effect)?"""
    old_keys = {taint.key for taint in old.spec.taints}
    new_keys = {taint.key for taint in new.spec.taints}
    return any((key in old_keys) != (key in new_keys) for key in taint_keys)


def in_place_update_labels_changed(old: Node, new: Node) -> bool:
    """Was an in-place update label added, or did ``update-result`` change (removal included)?"""
    old_labels, new_labels = old.metadata.labels, new.metadata.labels
    for key in IN_PLACE_UPDATE_LABELS:
        if key not in old_labels and key in new_labels:
            return True
        if key == LABEL_UPDATE_RESULT and old_labels.get(key, "") != new_labels.get(key, ""):
            return True
    return False


def on_node_add(ctx: MachineControllerContext, node: Node) -> None:
    if is_not_managed_by_mcm(node):
        return
    ctx.enqueue_node(node.metadata.key, 0.0)


def on_node_update(ctx: MachineControllerContext, old: Node, new: Node) -> None:
    if is_not_managed_by_mcm(new):
        return
    machines = machines_for_node(ctx, new.metadata.name)
    if len(machines) != 1:
        # None: not ours (yet). Several: the node reconciler reports it when the node is queued.
        return
    machine = machines[0]
    if new.metadata.deleting:
        ctx.enqueue_node(new.metadata.key, 0.0)  # the node reconciler deletes the machine
        return
    if NODE_FINALIZER_NAME not in new.metadata.finalizers:
        ctx.enqueue_node(new.metadata.key, MEDIUM_RETRY)
    if _node_change_concerns_machine(old, new, machine):
        ctx.enqueue_machine(machine.metadata.key, 0.0)


def _node_change_concerns_machine(old: Node, new: Node, machine: Machine) -> bool:
    if essential_taints_changed(old, new) or in_place_update_labels_changed(old, new):
        return True
    if machine.phase not in (MachinePhase.CRASH_LOOP_BACK_OFF, MachinePhase.TERMINATING) and (
        node_conditions_changed(machine.status.conditions, new.status.conditions)
    ):
        return True
    old_preserve = old.metadata.annotations.get(PRESERVE_MACHINE_ANNOTATION_KEY, "")
    return old_preserve != new.metadata.annotations.get(PRESERVE_MACHINE_ANNOTATION_KEY, "")


def on_node_delete(
    ctx: MachineControllerContext, obj: Node | DeletedFinalStateUnknown[Node]
) -> None:
    node = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
    if node is None:
        logger.debug("node deletion of %s seen without its last state; ignoring", obj.key)
        return
    if is_not_managed_by_mcm(node):
        return
    try:
        delete_machine_of_node(ctx, node.metadata.name)
    except MCMError as error:
        logger.error(  # noqa: TRY400 -- an expected failure; its message says it all
            "node %s was deleted, but deleting its machine failed: %s", node.metadata.name, error
        )


def node_event_handler(ctx: MachineControllerContext) -> FuncHandler[Node]:
    """The Node informer's handler (target cluster): node and machine queues."""
    return FuncHandler(
        on_add=functools.partial(on_node_add, ctx),
        on_update=functools.partial(on_node_update, ctx),
        on_delete=functools.partial(on_node_delete, ctx),
    )


# ---------------------------------------------------------------------------------- MachineClasses


def _secret_key(ctx: MachineControllerContext, ref: SecretReference) -> ObjectKey:
    return ObjectKey(ref.namespace or ctx.namespace, ref.name)


def _enqueue_secrets(ctx: MachineControllerContext, refs: Iterable[SecretReference]) -> None:
    for ref in refs:
        if ref.name:
            ctx.enqueue_secret(_secret_key(ctx, ref), 0.0)


def on_machine_class_add(ctx: MachineControllerContext, machine_class: MachineClass) -> None:
    ctx.enqueue_machine_class(machine_class.metadata.key, 0.0)
    _enqueue_secrets(ctx, machine_class.secret_refs)


def on_machine_class_update(
    ctx: MachineControllerContext, old: MachineClass, new: MachineClass
) -> None:
    ctx.enqueue_machine_class(new.metadata.key, 0.0)
    for before, after in (
        (old.secret_ref, new.secret_ref),
        (old.credentials_secret_ref, new.credentials_secret_ref),
    ):
        if before != after:
            _enqueue_secrets(ctx, [ref for ref in (before, after) if ref is not None])


def on_machine_class_delete(
    ctx: MachineControllerContext, obj: MachineClass | DeletedFinalStateUnknown[MachineClass]
) -> None:
    if isinstance(obj, DeletedFinalStateUnknown):
        ctx.enqueue_machine_class(obj.key, 0.0)
        if obj.obj is not None:
            _enqueue_secrets(ctx, obj.obj.secret_refs)
        return
    ctx.enqueue_machine_class(obj.metadata.key, 0.0)
    _enqueue_secrets(ctx, obj.secret_refs)


def machine_class_event_handler(ctx: MachineControllerContext) -> FuncHandler[MachineClass]:
    """The MachineClass informer's handler: class and secret queues."""
    return FuncHandler(
        on_add=functools.partial(on_machine_class_add, ctx),
        on_update=functools.partial(on_machine_class_update, ctx),
        on_delete=functools.partial(on_machine_class_delete, ctx),
    )


# ---------------------------------------------------------------------------------------- Secrets


def on_secret_add(ctx: MachineControllerContext, secret: Secret) -> None:
    ctx.enqueue_secret(secret.metadata.key, 0.0)


def on_secret_delete(
    ctx: MachineControllerContext, obj: Secret | DeletedFinalStateUnknown[Secret]
) -> None:
    key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else obj.metadata.key
    ctx.enqueue_secret(key, 0.0)


def secret_event_handler(ctx: MachineControllerContext) -> FuncHandler[Secret]:
    """The Secret informer's handler: the secret queue (adds and deletes only)."""
    return FuncHandler(
        on_add=functools.partial(on_secret_add, ctx),
        on_delete=functools.partial(on_secret_delete, ctx),
    )

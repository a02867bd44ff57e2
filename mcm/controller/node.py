"""The Node reconciler: a Node of the target cluster and the one Machine that became it.

A Machine and its Node are coupled both ways (upstream's ``node.go``):

- **Finalizer.** A Node that exactly one Machine claims (Machine label ``node=<node name>``), that
  Machine not being deleted, carries the finalizer ``node.machine.sapcloud.io/machine-controller``.
  Nobody can then make the Node vanish behind the controller's back: deleting it only sets its
  ``deletionTimestamp`` until the machine's deletion flow has drained it and removes the finalizer.
- **Delete the Node to replace the Machine.** A Node with a ``deletionTimestamp`` (or, for a Node
  that had no finalizer yet, the Node's delete event) makes the controller delete the Machine
  claiming it, unless that Machine is already being deleted. The MachineSet then creates a new one
  (``docs/faq.md``: "delete the Node to replace the machine").

Nodes annotated ``node.machine.sapcloud.io/not-managed-by-mcm`` are left alone, as are Nodes no
Machine claims. More than one Machine claiming a Node is a conflict the reconciler cannot resolve:
it raises (the key is retried with back-off), as upstream does.

`NodeReconciler` serves the node queue (keys are ``ObjectKey("", node name)``); it exists only with
a target cluster. The functions below it are shared with the event handlers
(`mcm.controller.handlers`) and the orphan-VM collector (`mcm.controller.safety`).

Writes are merge patches guarded by the resourceVersion read from the cache; a conflict requeues
the key after ``ConflictRetry`` (0.2 s). The Machine is deleted with a uid precondition, so a
Machine created later under the same name is never deleted by mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mcm.api.constants import (
    CONFLICT_RETRY,
    NODE_FINALIZER_NAME,
    NODE_LABEL_KEY,
    NOT_MANAGED_BY_MCM,
)
from mcm.api.core import Node
from mcm.api.machine import Machine
from mcm.api.meta import ObjectKey
from mcm.api.patches import finalizers_patch
from mcm.controller.context import MachineControllerContext
from mcm.controller.runtime import Result
from mcm.errors import ConflictError, MCMError, NotFoundError
from mcm.events import NORMAL
from mcm.kube.protocol import Preconditions
from mcm.kube.resources import MACHINES, NODES

__all__ = [
    "MACHINE_NODE_INDEX",
    "REASON_NODE_DELETED",
    "MachineMatchError",
    "NodeReconciler",
    "add_node_finalizer",
    "delete_machine_of_node",
    "is_not_managed_by_mcm",
    "machine_node_index",
    "machines_for_node",
    "remove_node_finalizer",
]

logger = logging.getLogger(__name__)

REASON_NODE_DELETED = "NodeDeleted"
"""Machine event: its Node is being deleted, so the Machine is deleted (and replaced)."""


class MachineMatchError(MCMError):
    """More than one Machine claims a Node (label ``node=<name>``): nothing can be decided."""


def is_not_managed_by_mcm(node: Node) -> bool:
    """Does *node* carry ``node.machine.sapcloud.io/not-managed-by-mcm`` (any value)?"""
    return NOT_MANAGED_BY_MCM in node.metadata.annotations


MACHINE_NODE_INDEX = "node"
"""The machine informer's index of Machines by their ``node`` label (see `machine_node_index`)."""


def machine_node_index(machine: Machine) -> list[str]:
    """Index function for `MACHINE_NODE_INDEX`: the node name a Machine is labelled with."""
    node_name = machine.metadata.labels.get(NODE_LABEL_KEY, "")
    return [node_name] if node_name else []


def machines_for_node(ctx: MachineControllerContext, node_name: str) -> Sequence[Machine]:
    """The Machines in ``ctx.namespace`` labelled ``node=<node_name>`` (normally none or one).

    Served by ``ctx.machines_on_node`` (an index) when the context has one, else by filtering
    the machine lister.
    """
    if not node_name:
        return ()
    if ctx.machines_on_node is not None:
        return [m for m in ctx.machines_on_node(node_name) if m.metadata.namespace == ctx.namespace]
    return ctx.machines.list(ctx.namespace, {NODE_LABEL_KEY: node_name})


def add_node_finalizer(ctx: MachineControllerContext, node: Node) -> bool:
    """Add the machine controller's finalizer to *node*; False if it was already there.

    Raises `mcm.errors.ConflictError` when *node* is stale, other API errors as they come.
    """
    if NODE_FINALIZER_NAME in node.metadata.finalizers:
        return False
    _patch_finalizers(ctx, node, add=(NODE_FINALIZER_NAME,))
    logger.info("node %s: added finalizer %s", node.metadata.name, NODE_FINALIZER_NAME)
    return True


def remove_node_finalizer(ctx: MachineControllerContext, node: Node) -> bool:
    """Remove the machine controller's finalizer from *node*; False if it was not there.

    Raises like `add_node_finalizer`; a Node that is gone meanwhile counts as done.
    """
    if NODE_FINALIZER_NAME not in node.metadata.finalizers:
        return False
    try:
        _patch_finalizers(ctx, node, remove=(NODE_FINALIZER_NAME,))
    except NotFoundError:
        return False
    logger.info("node %s: removed finalizer %s", node.metadata.name, NODE_FINALIZER_NAME)
    return True


def _patch_finalizers(
    ctx: MachineControllerContext,
    node: Node,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> None:
    if ctx.target is None:
        raise RuntimeError("node finalizers need a target cluster")
    patch = finalizers_patch(
        node.metadata.finalizers,
        add=add,
        remove=remove,
        resource_version=node.metadata.resource_version,
    )
    ctx.target.patch(NODES, node.metadata.name, patch)


def delete_machine_of_node(ctx: MachineControllerContext, node_name: str) -> Machine | None:
    """Delete the Machine claiming the Node *node_name*, unless it is already being deleted.

    Returns the Machine deleted, or None when there was nothing to do (no Machine claims the
    Node, the Machine is already deleting, or it vanished meanwhile). Raises `MachineMatchError`
    when several Machines claim the Node, and API errors other than NotFound and a failed uid
    precondition.
    """
    machines = machines_for_node(ctx, node_name)
    if not machines:
        logger.debug("node %s: no machine claims it; nothing to delete", node_name)
        return None
    if len(machines) > 1:
        raise MachineMatchError(
            f"node {node_name}: {len(machines)} machines claim it"
            f" ({', '.join(sorted(m.metadata.name for m in machines))}); not deleting any"
        )
    machine = machines[0]
    if machine.metadata.deleting:
        return None
    logger.info(
        "node %s is being deleted: deleting machine %s to replace it",
        node_name,
        machine.metadata.name,
    )
    try:
        ctx.control.delete(
            MACHINES,
            machine.metadata.name,
            namespace=machine.metadata.namespace,
            preconditions=Preconditions(uid=machine.metadata.uid or None),
        )
    except NotFoundError:
        return None
    except ConflictError:
        # The uid precondition failed: a new Machine took the name. It is not ours to delete.
        logger.info(
            "machine %s was replaced meanwhile; not deleting the new one", machine.metadata.name
        )
        return None
    ctx.recorder.event(
        machine,
        NORMAL,
        REASON_NODE_DELETED,
        f'Node "{node_name}" is being deleted; deleting machine "{machine.metadata.name}"'
        " so that it is replaced",
    )
    return machine


class NodeReconciler:
    """Keeps the Node finalizer and turns Node deletions into Machine deletions.

    One pass over ``ObjectKey("", node name)``:

    1. Node gone from the cache, annotated not-managed-by-mcm, or claimed by no Machine: done.
    2. Claimed by several Machines: raise `MachineMatchError` (retried with back-off).
    3. Node being deleted: delete its Machine (`delete_machine_of_node`); errors raise.
    4. Otherwise, if the Machine is not being deleted, add the Node finalizer.
    """

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._ctx = ctx

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        if ctx.nodes is None:
            return Result()
        node = ctx.nodes.get(key.name)
        if node is None:
            logger.debug("node %s: gone from the cache", key.name)
            return Result()
        if is_not_managed_by_mcm(node):
            logger.debug("node %s: annotated %s; skipping", key.name, NOT_MANAGED_BY_MCM)
            return Result()
        machines = machines_for_node(ctx, node.metadata.name)
        if not machines:
            logger.debug("node %s: no machine claims it; no finalizer", key.name)
            return Result()
        if len(machines) > 1:
            raise MachineMatchError(
                f"node {key.name}: {len(machines)} machines claim it"
                f" ({', '.join(sorted(m.metadata.name for m in machines))})"
            )
        if node.metadata.deleting:
            delete_machine_of_node(ctx, node.metadata.name)
            return Result()
        if machines[0].metadata.deleting:
            return Result()
        try:
            add_node_finalizer(ctx, node)
        except ConflictError:
            return Result(requeue_after=CONFLICT_RETRY)
        except NotFoundError:
            return Result()
        return Result()

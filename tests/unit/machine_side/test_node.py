"""Node reconcile and the Node/Machine coupling (§3.6): finalizer, delete-Node-replaces-Machine.

Acceptance scenario 60: deleting a Node deletes its Machine.
"""

from __future__ import annotations

import pytest

from mcm.api.constants import CONFLICT_RETRY, MCM_FINALIZER_NAME, NODE_FINALIZER_NAME
from mcm.api.core import Node
from mcm.api.machine import Machine
from mcm.api.meta import ObjectKey
from mcm.controller import handlers
from mcm.controller.node import (
    REASON_NODE_DELETED,
    MachineMatchError,
    NodeReconciler,
    delete_machine_of_node,
    machine_node_index,
    machines_for_node,
)
from mcm.controller.runtime import Result
from mcm.errors import ConflictError
from mcm.kube.resources import MACHINES, NODES
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import NAMESPACE, machine, node, parsed

NODE_KEY = ObjectKey("", "node-1")
MACHINE_KEY = ObjectKey(NAMESPACE, "machine-1")

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def node_finalizers(env: ControllerEnv) -> list[str]:
    assert env.target is not None
    stored = env.target.stored(NODES, "node-1")
    assert stored is not None
    finalizers: list[str] = stored["metadata"].get("finalizers", [])
    return finalizers


def node_writes(env: ControllerEnv) -> int:
    assert env.target is not None
    return len(env.target.actions_for(resource=NODES, reads=False))


def machine_deleting(env: ControllerEnv, name: str = "machine-1") -> bool:
    stored = env.control.stored(MACHINES, name, namespace=NAMESPACE)
    assert stored is not None
    return "deletionTimestamp" in stored["metadata"]


def test_a_node_of_exactly_one_live_machine_gets_the_node_finalizer(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(finalizers=["other/finalizer"]))
    env.control.seed(MACHINES, machine(node="node-1"))

    result = NodeReconciler(env.context).reconcile(NODE_KEY)

    assert result == Result()
    assert node_finalizers(env) == ["other/finalizer", NODE_FINALIZER_NAME]


@pytest.mark.parametrize(
    ("machines", "annotations"),
    [
        pytest.param([], None, id="no machine claims the node"),
        pytest.param(
            [machine(node="node-1", deleting=True, finalizers=[MCM_FINALIZER_NAME])],
            None,
            id="its machine is being deleted",
        ),
        pytest.param(
            [machine(node="node-1")],
            {"node.machine.sapcloud.io/not-managed-by-mcm": "1"},
            id="node not managed by MCM",
        ),
        pytest.param([machine(node="node-2")], None, id="the machine claims another node"),
    ],
)
def test_a_node_without_exactly_one_live_machine_gets_no_finalizer(
    env: ControllerEnv, machines: list[dict[str, object]], annotations: dict[str, str] | None
) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(annotations=annotations))
    env.control.seed(MACHINES, *machines)

    assert NodeReconciler(env.context).reconcile(NODE_KEY) == Result()

    assert node_writes(env) == 0


def test_a_node_that_has_the_finalizer_is_not_written(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(finalizers=[NODE_FINALIZER_NAME]))
    env.control.seed(MACHINES, machine(node="node-1"))

    NodeReconciler(env.context).reconcile(NODE_KEY)

    assert node_writes(env) == 0


def test_a_node_two_machines_claim_is_an_error(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node())
    env.control.seed(MACHINES, machine("m1", node="node-1"), machine("m2", node="node-1"))

    with pytest.raises(MachineMatchError, match="m1, m2"):
        NodeReconciler(env.context).reconcile(NODE_KEY)

    assert node_writes(env) == 0


def test_a_conflicting_finalizer_write_is_retried_quickly(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node())
    env.control.seed(MACHINES, machine(node="node-1"))
    env.target.fail_next("patch", NODES, error=ConflictError("stale", status=409))

    assert NodeReconciler(env.context).reconcile(NODE_KEY) == Result(requeue_after=CONFLICT_RETRY)


def test_a_node_gone_from_the_cache_is_nothing_to_do(env: ControllerEnv) -> None:
    assert NodeReconciler(env.context).reconcile(NODE_KEY) == Result()


def test_without_a_target_cluster_there_is_nothing_to_reconcile() -> None:
    env = ControllerEnv(target=False)
    env.control.seed(MACHINES, machine(node="node-1"))

    assert NodeReconciler(env.context).reconcile(NODE_KEY) == Result()


def test_a_node_being_deleted_deletes_its_machine(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(finalizers=[NODE_FINALIZER_NAME], deleting=True))
    env.control.seed(MACHINES, machine(node="node-1", finalizers=[MCM_FINALIZER_NAME]))

    assert NodeReconciler(env.context).reconcile(NODE_KEY) == Result()

    assert machine_deleting(env)
    assert env.recorder.reasons_for(MACHINE_KEY) == [REASON_NODE_DELETED]


def test_a_machine_already_being_deleted_is_not_deleted_again(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(finalizers=[NODE_FINALIZER_NAME], deleting=True))
    env.control.seed(
        MACHINES, machine(node="node-1", finalizers=[MCM_FINALIZER_NAME], deleting=True)
    )

    NodeReconciler(env.context).reconcile(NODE_KEY)

    assert env.control.actions_for("delete", MACHINES) == []
    assert env.recorder.events == []


def test_a_machine_replaced_under_the_same_name_is_not_deleted(env: ControllerEnv) -> None:
    env.control.seed(MACHINES, machine(node="node-1", uid="old-uid"))
    env.control.fail_next("delete", MACHINES, error=ConflictError("uid differs", status=409))

    assert delete_machine_of_node(env.context, "node-1") is None

    [delete] = env.control.actions_for("delete", MACHINES)
    assert delete.options["preconditions"].uid == "old-uid"
    assert env.recorder.events == []


@pytest.mark.parametrize(
    "node_finalizers",
    [
        pytest.param([NODE_FINALIZER_NAME], id="node with the finalizer: via the node queue"),
        pytest.param([], id="node without the finalizer: via the delete event"),
    ],
)
def test_deleting_a_node_deletes_its_machine(
    env: ControllerEnv, node_finalizers: list[str]
) -> None:
    """Scenario 60, through the informer handlers as the app wires them."""
    assert env.target is not None
    [before] = env.target.seed(NODES, node(finalizers=node_finalizers))
    env.control.seed(MACHINES, machine(node="node-1", finalizers=[MCM_FINALIZER_NAME]))

    lingering = env.target.delete(NODES, "node-1")
    if lingering is not None:  # held by the finalizer: the informer sees an update
        handlers.on_node_update(env.context, parsed(Node, before), parsed(Node, lingering))
        assert [e.key for e in env.enqueued_on("node")] == [NODE_KEY]
        NodeReconciler(env.context).reconcile(NODE_KEY)
    else:  # gone at once: the informer sees a delete
        handlers.on_node_delete(env.context, parsed(Node, before))

    assert machine_deleting(env)


def test_machines_of_a_node_come_from_the_index_when_the_context_has_one():
    env = ControllerEnv(namespace=NAMESPACE)
    indexed = Machine.from_dict(machine("m1", node="n1"))
    raw_elsewhere = machine("m2", node="n1")
    raw_elsewhere["metadata"]["namespace"] = "elsewhere"
    elsewhere = Machine.from_dict(raw_elsewhere)
    asked: list[str] = []

    def on_node(name: str) -> list[Machine]:
        asked.append(name)
        return [indexed, elsewhere]

    env.context.machines_on_node = on_node

    assert list(machines_for_node(env.context, "n1")) == [indexed]
    assert asked == ["n1"]
    assert env.control.actions == []


def test_the_node_index_files_machines_under_their_node_label():
    assert machine_node_index(Machine.from_dict(machine("m1", node="n1"))) == ["n1"]
    assert machine_node_index(Machine.from_dict(machine("m2"))) == []

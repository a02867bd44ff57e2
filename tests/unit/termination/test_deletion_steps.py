"""The deletion state machine step by step (§8 scenarios 25-27 and 32-35, upstream's
``#triggerDeletionFlow`` table), apart from the drain step (see test_deletion_drain)."""

from __future__ import annotations

import pytest

from mcm.api.constants import (
    CONFLICT_RETRY,
    DEL_VOLUMES_ATTACHMENTS,
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
    SHORT_RETRY,
)
from mcm.api.machine import MachineOperationType, MachinePhase, MachineState
from mcm.controller.runtime import Result
from mcm.driver import Code
from mcm.errors import ConflictError, ServerError
from mcm.kube.resources import MACHINE_CLASSES, MACHINES, NODES, VOLUME_ATTACHMENTS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import volume_attachment
from tests.unit.termination.builders import (
    MACHINE,
    NAMESPACE,
    NODE,
    PROVIDER_ID,
    START,
    description,
    key,
    machine,
    node,
    reconciler,
    seed_world,
    stored,
    target,
)

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


# --- guards ---------------------------------------------------------------------------------------


def test_a_machine_without_the_finalizer_is_not_processed(env):
    seed_world(env, machine(phase="Running", description="joined", finalizers=("other",)))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=LONG_RETRY)
    assert description(env) == "joined"
    assert env.control.actions_for("patch", MACHINES) == []


def test_deletion_waits_while_the_machine_is_in_its_creation_flow(env):
    seed_world(env, machine(phase="Running", description="joined"))
    env.context.pending_creations.add(key())

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=MEDIUM_RETRY)
    assert description(env) == "joined"


def test_deletion_proceeds_once_the_creation_flow_is_over(env):
    seed_world(env, machine(phase="Running", description="joined"))
    env.context.pending_creations.add(key())
    env.context.pending_creations.discard(key())

    reconciler(env).reconcile(key())

    assert description(env) == GET_VM_STATUS


def test_a_machine_that_is_not_being_deleted_is_left_alone(env):
    seed_world(env, machine(phase="Running", description="joined", deleted=None))

    result = reconciler(env).reconcile(key())

    assert result == Result()
    assert description(env) == "joined"


def test_a_machine_that_is_gone_is_done(env):
    assert reconciler(env).reconcile(key()) == Result()


def test_a_missing_machine_class_blocks_deletion(env):
    seed_world(env, machine(phase="Running", description="joined"))
    env.control.delete(MACHINE_CLASSES, "class-0", namespace=NAMESPACE)
    env.control.patch(
        MACHINE_CLASSES, "class-0", {"metadata": {"finalizers": []}}, namespace=NAMESPACE
    )

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=LONG_RETRY)
    assert description(env) == "joined"


# --- step 3: Terminating --------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["Running", "Failed", "Pending", None])
def test_a_deleted_machine_is_set_to_terminating(env, phase):
    body = machine(phase=phase, description="Machine machine-0 successfully joined the cluster")
    body["status"]["currentStatus"]["preserveExpiryTime"] = "2030-01-01T00:00:00Z"
    seed_world(env, body)

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    after = stored(env)
    assert after is not None
    assert after.phase is MachinePhase.TERMINATING
    assert after.status.current_status.last_update_time == START
    assert after.status.current_status.preserve_expiry_time is None
    operation = after.status.last_operation
    assert (operation.description, operation.state, operation.type) == (
        GET_VM_STATUS,
        MachineState.PROCESSING,
        MachineOperationType.DELETE,
    )
    assert env.recorder.reasons_for(key()) == ["Terminating"]


def test_a_conflicting_termination_write_is_retried_soon(env):
    seed_world(env, machine(phase="Running", description="joined"))
    env.control.fail_next("patch", MACHINES, error=ConflictError("stale", status=409))

    assert reconciler(env).reconcile(key()) == Result(requeue_after=CONFLICT_RETRY)


def test_an_undecodable_step_starts_termination_over(env):
    seed_world(env, machine(description="Something nobody wrote"))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == GET_VM_STATUS


# --- step 4: GetVMStatus --------------------------------------------------------------------------


def test_a_machine_with_a_node_label_goes_to_the_drain_without_asking_the_driver(env):
    seed_world(env, machine())

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == INITIATE_DRAIN
    assert env.driver.calls == ()


def test_the_node_label_is_found_on_a_node_labelled_with_the_machine(env):
    seed_world(env, machine(node_name=None), node_body=node(labels={MACHINE_LABEL_KEY: MACHINE}))

    reconciler(env).reconcile(key())

    after = stored(env)
    assert after is not None
    assert after.node_name == NODE
    assert after.status.last_operation.description == INITIATE_DRAIN
    assert env.driver.calls == ()


def test_the_node_label_comes_from_the_driver_when_no_node_names_the_machine(env):
    seed_world(env, machine(node_name=None), with_node=False)

    reconciler(env).reconcile(key())

    after = stored(env)
    assert after is not None
    assert after.node_name == NODE
    assert after.status.last_operation.description == INITIATE_DRAIN
    assert env.driver.calls_for(MACHINE) == ("get_machine_status",)


@pytest.mark.parametrize(
    ("code", "expected", "state", "retry"),
    [
        pytest.param(Code.UNIMPLEMENTED, INITIATE_DRAIN, "Processing", SHORT_RETRY, id="unimpl"),
        pytest.param(
            Code.NOT_FOUND,
            "VM was not found at provider. Moving forward to node drain. Initiate node drain",
            "Processing",
            SHORT_RETRY,
            id="not-found",
        ),
        pytest.param(
            Code.UNINITIALIZED,
            "VM instance was not initialized. Moving forward to node drain. Initiate node drain",
            "Processing",
            SHORT_RETRY,
            id="uninitialized",
        ),
        pytest.param(
            Code.UNAVAILABLE,
            "Error occurred with decoding machine error status while getting VM status, aborting"
            " with retry. " + GET_VM_STATUS,
            "Failed",
            SHORT_RETRY,
            id="transient",
        ),
        pytest.param(
            Code.INTERNAL,
            "Error occurred with decoding machine error status while getting VM status, aborting"
            " without retry. machine code: machine codes error: code = [Internal] message ="
            " [injected failure] " + GET_VM_STATUS,
            "Failed",
            MEDIUM_RETRY,
            id="other",
        ),
    ],
)
def test_get_vm_status_failures_follow_the_reaction_table(env, code, expected, state, retry):
    seed_world(env, machine(node_name=None), with_node=False)
    env.driver.fail_next("get_machine_status", code)

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=retry)
    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == expected
    assert after.status.last_operation.state == state
    assert after.node_name == ""


def test_an_undecodable_get_vm_status_error_is_retried_after_long(env, monkeypatch):
    seed_world(env, machine(node_name=None), with_node=False)

    def broken(request: object) -> object:
        raise RuntimeError("socket closed")

    monkeypatch.setattr(env.driver, "get_machine_status", broken)

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=LONG_RETRY)
    assert description(env) == (
        "Error occurred with decoding machine error status while getting VM status, aborting"
        " without retry. socket closed " + GET_VM_STATUS
    )


def test_without_a_target_cluster_the_vm_status_step_jumps_to_vm_deletion():
    env = ControllerEnv(target=False)
    seed_world(env, machine(node_name=None))

    reconciler(env).reconcile(key())

    assert description(env) == (
        "Running without target cluster, skipping node drain and volume attachment deletion. "
        + INITIATE_VM_DELETION
    )


# --- step 6: VolumeAttachments --------------------------------------------------------------------


def test_volume_attachment_step_moves_on_at_once_when_the_node_is_gone(env):
    seed_world(env, machine(description=f"Force Drain successful. {DEL_VOLUMES_ATTACHMENTS}"))
    target(env).delete(NODES, NODE)

    result = reconciler(env).reconcile(key())

    assert result == Result()
    assert env.enqueued_on("termination")[-1].delay == 0.0
    assert description(env) == (
        f'Skipping deleteNodeVolAttachments due to - node "{NODE}" not found. Moving to VM'
        f" Deletion. {INITIATE_VM_DELETION}"
    )


def test_volume_attachment_step_moves_on_when_no_volume_is_attached(env):
    seed_world(env, machine(description=f"Force Drain successful. {DEL_VOLUMES_ATTACHMENTS}"))

    result = reconciler(env).reconcile(key())

    assert result == Result()
    assert description(env) == (
        f"Node Volumes for node: {NODE} are already detached. Moving to VM Deletion."
        f" {INITIATE_VM_DELETION}"
    )


def test_live_volume_attachments_are_deleted_before_moving_on(env):
    api = target(env)
    seed_world(
        env,
        machine(description=f"Force Drain successful. {DEL_VOLUMES_ATTACHMENTS}"),
        node_body=node(volumes=["vol-1"]),
    )
    api.seed(
        VOLUME_ATTACHMENTS,
        volume_attachment("va-1", pv_name="pv-1"),
        volume_attachment("va-other", pv_name="pv-2", node_name="node-2"),
    )
    rec = reconciler(env)

    first = rec.reconcile(key())
    second = rec.reconcile(key())

    assert first == Result(requeue_after=SHORT_RETRY)
    assert [a.name for a in api.actions_for("delete", VOLUME_ATTACHMENTS)] == ["va-1"]
    assert api.stored(VOLUME_ATTACHMENTS, "va-other") is not None
    assert second == Result(requeue_after=SHORT_RETRY)
    assert description(env) == (
        f"No Live VolumeAttachments for node: {NODE}. Moving to VM Deletion. {INITIATE_VM_DELETION}"
    )


# --- step 7: VM deletion --------------------------------------------------------------------------


def test_the_vm_is_deleted(env):
    seed_world(env, machine(description=f"Drain successful. {INITIATE_VM_DELETION}"))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == f"VM deletion was successful. {INITIATE_NODE_DELETION}"
    assert env.driver.vms == {}
    assert env.driver.calls_for(MACHINE) == ("delete_machine",)
    assert "VMDeleted" in env.recorder.reasons_for(key())


@pytest.mark.parametrize(
    ("code", "expected", "state", "retry"),
    [
        pytest.param(
            Code.NOT_FOUND,
            f"VM not found. Continuing deletion flow. {INITIATE_NODE_DELETION}",
            "Processing",
            SHORT_RETRY,
            id="not-found",
        ),
        pytest.param(
            Code.DEADLINE_EXCEEDED,
            "VM deletion failed due to - machine codes error: code = [DeadlineExceeded] message ="
            " [injected failure]. However, will re-try in the next resync. " + INITIATE_VM_DELETION,
            "Failed",
            SHORT_RETRY,
            id="transient",
        ),
        pytest.param(
            Code.PERMISSION_DENIED,
            "VM deletion failed due to - machine codes error: code = [PermissionDenied] message ="
            " [injected failure]. Aborting operation. " + INITIATE_VM_DELETION,
            "Failed",
            LONG_RETRY,
            id="other",
        ),
    ],
)
def test_vm_deletion_failures_follow_the_reaction_table(env, code, expected, state, retry):
    seed_world(
        env,
        machine(description=f"Drain successful. {INITIATE_VM_DELETION}", last_known_state="s1"),
    )
    env.driver.fail_next("delete_machine", code)

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=retry)
    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == expected
    assert after.status.last_operation.state == state
    assert after.status.last_known_state == ""  # upstream clears it without a new one


def test_an_undecodable_vm_deletion_error_is_retried_after_long(env, monkeypatch):
    seed_world(env, machine(description=f"Drain successful. {INITIATE_VM_DELETION}"))

    def broken(request: object) -> object:
        raise RuntimeError("boom [a] [b] [c]")

    monkeypatch.setattr(env.driver, "delete_machine", broken)

    assert reconciler(env).reconcile(key()) == Result(requeue_after=LONG_RETRY)
    assert description(env) == (
        "Error occurred while decoding machine error: boom [a] [b] [c]. " + INITIATE_VM_DELETION
    )


# --- step 8: Node deletion ------------------------------------------------------------------------


def test_the_node_loses_its_finalizer_and_is_deleted(env):
    api = target(env)
    seed_world(
        env,
        machine(description=f"VM deletion was successful. {INITIATE_NODE_DELETION}"),
        node_body=node(finalizers=[NODE_FINALIZER_NAME]),
    )

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert api.stored(NODES, NODE) is None
    assert description(env) == (
        f'Deletion of Node Object "{NODE}" is successful. {INITIATE_FINALIZER_REMOVAL}'
    )
    assert "NodeDeleted" in env.recorder.reasons_for(key())


def test_a_node_that_is_gone_already_does_not_block_deletion(env):
    seed_world(
        env,
        machine(description=f"VM deletion was successful. {INITIATE_NODE_DELETION}"),
        with_node=False,
    )

    reconciler(env).reconcile(key())

    assert description(env) == (
        f'No node object found for "{NODE}", continuing deletion flow. {INITIATE_FINALIZER_REMOVAL}'
    )


def test_a_failing_node_deletion_is_retried(env):
    seed_world(env, machine(description=f"VM deletion was successful. {INITIATE_NODE_DELETION}"))
    target(env).fail_next("delete", NODES, error=ServerError("no", status=500))

    reconciler(env).reconcile(key())

    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == (
        f'Deletion of Node Object "{NODE}" failed due to error: no (HTTP 500).'
        f" {INITIATE_NODE_DELETION}"
    )
    assert after.status.last_operation.state == MachineState.FAILED


def test_without_a_node_label_node_deletion_is_skipped():
    env = ControllerEnv(target=False)
    seed_world(
        env,
        machine(
            node_name=None, description=f"VM deletion was successful. {INITIATE_NODE_DELETION}"
        ),
    )

    reconciler(env).reconcile(key())

    assert description(env) == (
        f'Label "node" not present on machine "{MACHINE}", continuing deletion flow.'
        f" {INITIATE_FINALIZER_REMOVAL}"
    )


# --- step 9: finalizer removal --------------------------------------------------------------------


def test_removing_the_finalizer_lets_the_machine_go(env):
    seed_world(
        env,
        machine(
            description=f'Deletion of Node Object "{NODE}" is successful.'
            f" {INITIATE_FINALIZER_REMOVAL}"
        ),
    )

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=LONG_RETRY)
    assert stored(env) is None
    assert env.recorder.reasons_for(key())[-1] == "Deleted"


def test_a_failing_finalizer_removal_is_retried_soon(env):
    seed_world(env, machine(description=INITIATE_FINALIZER_REMOVAL))
    env.control.fail_next("patch", MACHINES, error=ServerError("no", status=500))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    after = stored(env)
    assert after is not None
    assert MCM_FINALIZER_NAME in after.metadata.finalizers


# --- the similarity rule --------------------------------------------------------------------------


def test_a_status_similar_to_the_stored_one_is_not_written_again(env):
    seed_world(env, machine(description=f"VM deletion was successful. {INITIATE_NODE_DELETION}"))
    target(env).fail_next("delete", NODES, error=ServerError("no", status=500), count=2)
    rec = reconciler(env)

    rec.reconcile(key())
    rec.reconcile(key())  # fails the same way: the same description

    status_writes = env.control.actions_for("patch", MACHINES, subresource="status")
    assert len(status_writes) == 1
    assert len(target(env).actions_for("delete", NODES)) == 2


def test_the_drain_step_keeps_current_status(env):
    seed_world(env, machine())

    reconciler(env).reconcile(key())

    after = stored(env)
    assert after is not None
    assert after.phase is MachinePhase.TERMINATING
    assert after.status.current_status.last_update_time is not None
    assert after.spec.provider_id == PROVIDER_ID


def test_a_machine_whose_node_was_deleted_is_deleted_to_the_end(env):
    seed_world(env, machine(phase="Running", description="joined"), with_node=False)
    rec = reconciler(env)
    seen = []

    for _ in range(20):
        result = rec.reconcile(key())
        after = stored(env)
        if after is None:
            break
        seen.append(after.status.last_operation.description)
        assert result.requeue_after is not None
        env.clock.step(result.requeue_after)
    else:
        raise AssertionError(f"machine not deleted: {seen[-1]}")

    assert seen == [
        GET_VM_STATUS,
        INITIATE_DRAIN,
        f"Drain successful. {INITIATE_VM_DELETION}",
        f"VM deletion was successful. {INITIATE_NODE_DELETION}",
        f'No node object found for "{NODE}", continuing deletion flow.'
        f" {INITIATE_FINALIZER_REMOVAL}",
    ]
    assert env.driver.vms == {}

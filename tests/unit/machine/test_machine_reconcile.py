"""The machine queue's key reconcile (§3.2) and a machine's way from nothing to Running."""

from __future__ import annotations

from mcm.api.constants import CONFLICT_RETRY, LONG_RETRY, MCM_FINALIZER_NAME, SHORT_RETRY
from mcm.api.machine import MachinePhase
from mcm.api.meta import ObjectKey
from mcm.controller.runtime import Result
from mcm.kube import resources
from tests.unit.machine.builders import (
    env_with_class,
    healthy_conditions,
    key,
    machine,
    machine_class,
    node,
    reconciler,
    stored_machine,
    target,
)


def test_a_machine_that_is_gone_is_done() -> None:
    env = env_with_class()

    assert reconciler(env).reconcile(key("nope")) == Result()
    assert env.driver.calls == ()


def test_missing_finalizer_is_added_and_the_pass_ends() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(finalizers=()))

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == CONFLICT_RETRY
    assert stored_machine(env).metadata.finalizers == (MCM_FINALIZER_NAME,)
    assert env.driver.calls == ()


def test_deleting_machine_is_handed_to_the_termination_queue() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(deleting=True, phase="Running"))

    result = reconciler(env).reconcile(key("machine-0"))

    assert result == Result()
    assert [(e.key, e.delay) for e in env.enqueued_on("termination")] == [(key("machine-0"), 0.0)]
    assert env.enqueued_on("machine") == []
    assert env.driver.calls == ()


def test_deleting_machine_in_the_creation_flow_stays_on_the_machine_queue() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(deleting=True))
    env.context.pending_creations.add(key("machine-0"))

    reconciler(env).reconcile(key("machine-0"))

    assert env.enqueued_on("termination") == []


def test_frozen_controller_leaves_machines_alone() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine())
    env.context.safety.set_frozen(True)

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == LONG_RETRY
    assert env.driver.calls == ()


def test_invalid_machine_is_retried_after_the_long_retry() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(class_name=""))

    assert reconciler(env).reconcile(key("machine-0")).requeue_after == LONG_RETRY
    assert env.driver.calls == ()


def test_machine_of_a_missing_class_is_retried_after_the_long_retry() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(class_name="other"))

    assert reconciler(env).reconcile(key("machine-0")).requeue_after == LONG_RETRY


def test_machine_of_a_class_without_finalizer_waits_for_the_class_reconciler() -> None:
    env = env_with_class(class_body=machine_class(finalizers=()))
    env.control.seed(resources.MACHINES, machine())

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == SHORT_RETRY
    assert [e.key for e in env.enqueued_on("machineclass")] == [ObjectKey("default", "class-1")]
    assert env.driver.calls == ()


def test_failed_machine_without_provider_id_tries_creating_again() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(phase="Failed"))

    reconciler(env).reconcile(key("machine-0"))

    assert "create_machine" in env.driver.calls_for("machine-0")


def test_a_new_machine_becomes_running_once_its_node_is_ready() -> None:
    env = env_with_class()
    env.control.seed(resources.MACHINES, machine(finalizers=()))
    rec = reconciler(env)
    phases = []

    for _ in range(3):  # finalizer; create + record + initialize; Pending
        rec.reconcile(key("machine-0"))
        phases.append(stored_machine(env).phase)
    target(env).seed(resources.NODES, node("machine-0", conditions=healthy_conditions()))
    for _ in range(4):  # conditions copied + Running; machine-name label; node template; idle
        last = rec.reconcile(key("machine-0"))
        phases.append(stored_machine(env).phase)

    assert phases == [
        None,
        None,
        MachinePhase.PENDING,
        MachinePhase.RUNNING,
        MachinePhase.RUNNING,
        MachinePhase.RUNNING,
        MachinePhase.RUNNING,
    ]
    assert last.requeue_after == LONG_RETRY
    assert env.driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "initialize_machine",
        "get_machine_status",
    )
    assert env.recorder.reasons_for(key("machine-0")) == [
        "Created",
        "Initialized",
        "Pending",
        "MachineJoined",
    ]

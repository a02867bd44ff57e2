"""MachineClass reconcile: a class in use keeps its finalizer (§3.7, acceptance scenario 54)."""

from __future__ import annotations

import pytest

from mcm.api.constants import CONFLICT_RETRY, LONG_RETRY, MCM_FINALIZER_NAME, SHORT_RETRY
from mcm.api.meta import ObjectKey
from mcm.controller.machineclass import MachineClassReconciler
from mcm.controller.runtime import Result
from mcm.errors import ConflictError, ServerError
from mcm.kube.resources import MACHINE_CLASSES, MACHINES
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import CLASS, NAMESPACE, machine, machine_class

KEY = ObjectKey(NAMESPACE, CLASS)

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def stored_finalizers(env: ControllerEnv) -> list[str] | None:
    stored = env.control.stored(MACHINE_CLASSES, CLASS, namespace=NAMESPACE)
    return None if stored is None else stored["metadata"].get("finalizers", [])


def class_writes(env: ControllerEnv) -> int:
    return len(env.control.actions_for(resource=MACHINE_CLASSES, reads=False))


def test_a_class_used_by_a_machine_gets_the_finalizer_and_its_machines_are_enqueued(
    env: ControllerEnv,
) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.seed(MACHINES, machine("m1"), machine("m2", deleting=True, finalizers=["x"]))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == [MCM_FINALIZER_NAME]
    assert result == Result(requeue_after=LONG_RETRY)
    assert [e.key.name for e in env.enqueued_on("machine")] == ["m1"]  # not the deleting one


def test_an_unused_class_gets_no_finalizer(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.seed(MACHINES, machine("other", class_name="class-2"))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == []
    assert class_writes(env) == 0
    assert result == Result(requeue_after=LONG_RETRY)
    assert env.enqueued_on("machine") == []


def test_a_class_that_has_the_finalizer_and_is_used_is_not_written(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class(finalizers=[MCM_FINALIZER_NAME]))
    env.control.seed(MACHINES, machine("m1"))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert class_writes(env) == 0
    assert result == Result(requeue_after=LONG_RETRY)
    assert [e.key for e in env.enqueued_on("machine")] == [ObjectKey(NAMESPACE, "m1")]


def test_deleting_a_class_waits_while_machines_refer_to_it(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class(finalizers=[MCM_FINALIZER_NAME], deleting=True))
    env.control.seed(MACHINES, machine("m1"))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == [MCM_FINALIZER_NAME]
    assert result == Result(requeue_after=SHORT_RETRY)
    assert env.enqueued_on("machine") == []


def test_a_deleting_class_no_machine_refers_to_loses_the_finalizer_and_goes_away(
    env: ControllerEnv,
) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class(finalizers=[MCM_FINALIZER_NAME], deleting=True))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) is None
    assert result == Result(requeue_after=LONG_RETRY)


def test_an_unused_class_loses_the_finalizer_but_keeps_others(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class(finalizers=["keep/me", MCM_FINALIZER_NAME]))

    MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == ["keep/me"]


def test_a_deleting_class_without_the_finalizer_is_left_alone(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class(finalizers=["other"], deleting=True))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert class_writes(env) == 0
    assert result == Result(requeue_after=LONG_RETRY)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("AWSMachineClass", CLASS, id="another kind of class"),
        pytest.param("MachineClass", "class-2", id="another class"),
    ],
)
def test_only_machines_of_this_machine_class_count_as_users(
    env: ControllerEnv, kind: str, name: str
) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.seed(MACHINES, machine("m1", class_kind=kind, class_name=name))

    MachineClassReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == []


def test_a_missing_class_is_nothing_to_do(env: ControllerEnv) -> None:
    assert MachineClassReconciler(env.context).reconcile(KEY) == Result()


def test_a_conflicting_finalizer_write_is_retried_quickly(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.seed(MACHINES, machine("m1"))
    env.control.fail_next("patch", MACHINE_CLASSES, error=ConflictError("stale", status=409))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert result == Result(requeue_after=CONFLICT_RETRY)
    assert env.enqueued_on("machine") == []


def test_a_failing_finalizer_write_is_retried_after_the_short_period(env: ControllerEnv) -> None:
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.seed(MACHINES, machine("m1"))
    env.control.fail_next("patch", MACHINE_CLASSES, error=ServerError("boom", status=500))

    result = MachineClassReconciler(env.context).reconcile(KEY)

    assert result == Result(requeue_after=SHORT_RETRY)
    assert stored_finalizers(env) == []

"""Secret reconcile: Secrets that MachineClasses refer to keep a finalizer (§3.8, scenario 55)."""

from __future__ import annotations

import pytest

from mcm.api.constants import CONFLICT_RETRY, MC_FINALIZER_NAME
from mcm.api.meta import ObjectKey
from mcm.controller.runtime import Result
from mcm.controller.secret import SECRET_RESYNC_PERIOD, SecretReconciler
from mcm.errors import ConflictError, ServerError
from mcm.kube.resources import MACHINE_CLASSES, SECRETS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import NAMESPACE, SECRET, machine_class, secret

KEY = ObjectKey(NAMESPACE, SECRET)

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def stored_finalizers(env: ControllerEnv, name: str = SECRET) -> list[str] | None:
    stored = env.control.stored(SECRETS, name, namespace=NAMESPACE)
    return None if stored is None else stored["metadata"].get("finalizers", [])


def secret_writes(env: ControllerEnv) -> int:
    return len(env.control.actions_for(resource=SECRETS, reads=False))


@pytest.mark.parametrize(
    "referring_class",
    [
        pytest.param(machine_class(secret=SECRET), id="secretRef"),
        pytest.param(
            machine_class(secret="userdata", credentials=SECRET), id="credentialsSecretRef"
        ),
        pytest.param(
            machine_class(secret=SECRET, secret_namespace=NAMESPACE), id="secretRef with namespace"
        ),
        pytest.param(machine_class(secret=SECRET, deleting=True, finalizers=["x"]), id="deleting"),
    ],
)
def test_a_secret_a_class_refers_to_gets_the_finalizer(
    env: ControllerEnv, referring_class: dict[str, object]
) -> None:
    env.control.seed(SECRETS, secret())
    env.control.seed(MACHINE_CLASSES, referring_class)

    result = SecretReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == [MC_FINALIZER_NAME]
    assert result == Result(requeue_after=SECRET_RESYNC_PERIOD)


def test_a_secret_no_class_refers_to_loses_the_finalizer(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret(finalizers=["other/finalizer", MC_FINALIZER_NAME]))
    env.control.seed(MACHINE_CLASSES, machine_class(secret="another-secret"))

    result = SecretReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == ["other/finalizer"]
    assert result == Result(requeue_after=SECRET_RESYNC_PERIOD)


def test_a_finalizer_that_is_not_ours_is_not_removed(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret(finalizers=["other/finalizer"]))

    SecretReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == ["other/finalizer"]
    assert secret_writes(env) == 0


def test_a_secret_that_already_has_the_finalizer_is_not_written(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret(finalizers=[MC_FINALIZER_NAME]))
    env.control.seed(MACHINE_CLASSES, machine_class())

    SecretReconciler(env.context).reconcile(KEY)

    assert secret_writes(env) == 0


def test_a_reference_to_a_secret_of_the_same_name_in_another_namespace_does_not_count(
    env: ControllerEnv,
) -> None:
    env.control.seed(SECRETS, secret(finalizers=[MC_FINALIZER_NAME]))
    env.control.seed(MACHINE_CLASSES, machine_class(secret=SECRET, secret_namespace="elsewhere"))

    SecretReconciler(env.context).reconcile(KEY)

    assert stored_finalizers(env) == []


def test_secrets_outside_the_controller_namespace_are_ignored(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret(namespace="elsewhere"))
    env.control.seed(MACHINE_CLASSES, machine_class(secret=SECRET, secret_namespace="elsewhere"))

    result = SecretReconciler(env.context).reconcile(ObjectKey("elsewhere", SECRET))

    assert result == Result()
    assert env.control.actions_for(resource=SECRETS) == []


def test_a_secret_being_deleted_gets_no_new_finalizer(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret(deleting=True, finalizers=["other/finalizer"]))
    env.control.seed(MACHINE_CLASSES, machine_class())

    SecretReconciler(env.context).reconcile(KEY)

    assert secret_writes(env) == 0


def test_a_missing_secret_is_nothing_to_do(env: ControllerEnv) -> None:
    assert SecretReconciler(env.context).reconcile(KEY) == Result()


def test_a_conflicting_write_is_retried_quickly(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret())
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.fail_next("patch", SECRETS, error=ConflictError("stale", status=409))

    assert SecretReconciler(env.context).reconcile(KEY) == Result(requeue_after=CONFLICT_RETRY)


def test_a_failing_write_raises_and_still_comes_back_after_ten_minutes(env: ControllerEnv) -> None:
    env.control.seed(SECRETS, secret())
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.control.fail_next("patch", SECRETS, error=ServerError("boom", status=500))

    with pytest.raises(ServerError):
        SecretReconciler(env.context).reconcile(KEY)

    assert [(e.key, e.delay) for e in env.enqueued_on("secret")] == [(KEY, SECRET_RESYNC_PERIOD)]

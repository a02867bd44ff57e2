"""API-server reachability and the machine controller freeze (§5.2; acceptance scenario 51)."""

from __future__ import annotations

import datetime

import pytest

from mcm.api.meta import ObjectKey, format_time
from mcm.controller.runtime import Result
from mcm.controller.safety import (
    API_SERVER_PROBE_NAME,
    REASON_HEALTH_TIMEOUT_RESET,
    REQUEUE_AFTER_UNFREEZE,
    SAFETY_KEY,
    APIServerSafetyReconciler,
)
from mcm.errors import ServerError, TransportError
from mcm.kube.resources import MACHINES, NODES
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import NAMESPACE, START, machine

TIMEOUT = 30.0  # --machine-safety-apiserver-statuscheck-timeout
PERIOD = 60.0  # --machine-safety-apiserver-statuscheck-period

INACTIVE = None
STARTED = 5.0  # seconds the servers have been seen down
ELAPSED = 5 * 60.0

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def take_down(env: ControllerEnv, *, control: bool = False, target: bool = False) -> None:
    """Make the next probe of the control and/or target API server fail."""
    assert env.target is not None
    if control:
        env.control.fail_next(
            "get", MACHINES, name=API_SERVER_PROBE_NAME, error=TransportError("connection refused")
        )
    if target:
        env.target.fail_next(
            "get", NODES, name=API_SERVER_PROBE_NAME, error=ServerError("unavailable", status=503)
        )


def stored_status(env: ControllerEnv, name: str) -> dict[str, object]:
    stored = env.control.stored(MACHINES, name, namespace=NAMESPACE)
    assert stored is not None
    status: dict[str, object] = stored["status"]
    return status


@pytest.mark.parametrize(
    ("control_up", "target_up", "down_for", "pre_frozen", "post_frozen"),
    [
        # Both API servers are reachable
        pytest.param(True, True, INACTIVE, False, False, id="up-up-inactive-unfrozen"),
        pytest.param(True, True, INACTIVE, True, False, id="up-up-inactive-frozen"),
        pytest.param(True, True, STARTED, False, False, id="up-up-started-unfrozen"),
        pytest.param(True, True, STARTED, True, False, id="up-up-started-frozen"),
        pytest.param(True, True, ELAPSED, False, False, id="up-up-elapsed-unfrozen"),
        pytest.param(True, True, ELAPSED, True, False, id="up-up-elapsed-frozen"),
        # The target API server is unreachable
        pytest.param(True, False, INACTIVE, False, False, id="up-down-inactive-unfrozen"),
        pytest.param(True, False, INACTIVE, True, True, id="up-down-inactive-frozen"),
        pytest.param(True, False, STARTED, False, False, id="up-down-started-unfrozen"),
        pytest.param(True, False, STARTED, True, True, id="up-down-started-frozen"),
        pytest.param(True, False, ELAPSED, False, True, id="up-down-elapsed-unfrozen"),
        pytest.param(True, False, ELAPSED, True, True, id="up-down-elapsed-frozen"),
        # The control API server is unreachable
        pytest.param(False, True, INACTIVE, False, False, id="down-up-inactive-unfrozen"),
        pytest.param(False, True, INACTIVE, True, True, id="down-up-inactive-frozen"),
        pytest.param(False, True, STARTED, False, False, id="down-up-started-unfrozen"),
        pytest.param(False, True, STARTED, True, True, id="down-up-started-frozen"),
        pytest.param(False, True, ELAPSED, False, True, id="down-up-elapsed-unfrozen"),
        pytest.param(False, True, ELAPSED, True, True, id="down-up-elapsed-frozen"),
        # Both API servers are unreachable
        pytest.param(False, False, INACTIVE, False, False, id="down-down-inactive-unfrozen"),
        pytest.param(False, False, INACTIVE, True, True, id="down-down-inactive-frozen"),
        pytest.param(False, False, STARTED, False, False, id="down-down-started-unfrozen"),
        pytest.param(False, False, STARTED, True, True, id="down-down-started-frozen"),
        pytest.param(False, False, ELAPSED, False, True, id="down-down-elapsed-unfrozen"),
        pytest.param(False, False, ELAPSED, True, True, id="down-down-elapsed-frozen"),
    ],
)
def test_the_controller_freezes_only_after_the_timeout_and_thaws_only_when_both_are_up(  # noqa: PLR0917 -- a column each
    env: ControllerEnv,
    control_up: bool,
    target_up: bool,
    down_for: float | None,
    pre_frozen: bool,
    post_frozen: bool,
) -> None:
    """Scenario 51: control x target reachability x inactivity timer x frozen before."""
    env.control.seed(MACHINES, machine(phase="Unknown"))
    safety = env.context.safety
    if down_for is not None:
        safety.set_down_since(env.clock.monotonic() - down_for)
    safety.set_frozen(pre_frozen)
    take_down(env, control=not control_up, target=not target_up)

    APIServerSafetyReconciler(env.context).reconcile(SAFETY_KEY)

    assert safety.frozen is post_frozen


@pytest.mark.parametrize(
    ("down", "frozen", "requeue_after"),
    [
        pytest.param(False, False, PERIOD, id="up: the regular period"),
        pytest.param(True, False, TIMEOUT / 5, id="down, not frozen yet: a fifth of the timeout"),
        pytest.param(True, True, PERIOD, id="down and frozen: the regular period"),
        pytest.param(False, True, PERIOD, id="up again: the regular period"),
    ],
)
def test_the_check_comes_back_sooner_while_an_api_server_is_down_and_not_frozen(
    env: ControllerEnv, down: bool, frozen: bool, requeue_after: float
) -> None:
    env.context.safety.set_frozen(frozen)
    take_down(env, target=down)

    result = APIServerSafetyReconciler(env.context).reconcile(SAFETY_KEY)

    assert result == Result(requeue_after=requeue_after)


def test_the_freeze_unfreeze_cycle_resets_unknown_machines_to_running(env: ControllerEnv) -> None:
    expiry = START + datetime.timedelta(hours=96)
    env.control.seed(
        MACHINES,
        machine("unknown", phase="Unknown", preserve_expiry=expiry),
        machine("running", phase="Running"),
    )
    reconciler = APIServerSafetyReconciler(env.context)
    safety = env.context.safety

    # The target API server stops answering; the first check seeing it down for more than 30 s
    # freezes the controller.
    seconds_down = 0.0
    while True:
        take_down(env, target=True)
        result = reconciler.reconcile(SAFETY_KEY)
        if safety.frozen:
            break
        assert result == Result(requeue_after=TIMEOUT / 5)
        env.clock.step(TIMEOUT / 5)
        seconds_down += TIMEOUT / 5
    assert seconds_down == TIMEOUT + TIMEOUT / 5
    assert env.control.actions_for("patch", MACHINES) == []
    assert env.enqueued == []
    env.clock.step(TIMEOUT / 5)
    seconds_down += TIMEOUT / 5

    # Both answer again: Unknown machines are reset, every machine is reconciled soon, thawed.
    result = reconciler.reconcile(SAFETY_KEY)

    assert env.context.safety.frozen is False
    assert env.context.safety.down_since is None
    assert result == Result(requeue_after=PERIOD)
    status = stored_status(env, "unknown")
    assert status["currentStatus"] == {
        "phase": "Running",
        "timeoutActive": False,
        "lastUpdateTime": format_time(START + datetime.timedelta(seconds=seconds_down)),
        "preserveExpiryTime": format_time(expiry),
    }
    assert status["lastOperation"] == {
        "description": "Machine Health Timeout was reset due to APIServer being unreachable",
        "lastUpdateTime": format_time(START + datetime.timedelta(seconds=seconds_down)),
        "state": "Successful",
        "type": "HealthCheck",
    }
    assert [p.name for p in env.control.actions_for("patch", MACHINES)] == ["unknown"]
    assert sorted((e.queue, e.key.name, e.delay) for e in env.enqueued) == [
        ("machine", "running", REQUEUE_AFTER_UNFREEZE),
        ("machine", "unknown", REQUEUE_AFTER_UNFREEZE),
    ]
    assert env.recorder.reasons_for(ObjectKey(NAMESPACE, "unknown")) == [
        REASON_HEALTH_TIMEOUT_RESET
    ]


def test_an_outage_shorter_than_the_timeout_is_forgotten_once_the_servers_answer(
    env: ControllerEnv,
) -> None:
    reconciler = APIServerSafetyReconciler(env.context)
    take_down(env, control=True)
    reconciler.reconcile(SAFETY_KEY)
    env.clock.step(25)
    reconciler.reconcile(SAFETY_KEY)  # up again

    env.clock.step(3600)
    take_down(env, control=True)  # a second, brief outage an hour later
    reconciler.reconcile(SAFETY_KEY)

    assert not env.context.safety.frozen


def test_a_failed_reset_keeps_the_controller_frozen(env: ControllerEnv) -> None:
    env.control.seed(MACHINES, machine(phase="Unknown"))
    env.context.safety.set_frozen(True)
    env.control.fail_next(
        "patch", MACHINES, subresource="status", error=ServerError("boom", status=500)
    )

    with pytest.raises(ServerError):
        APIServerSafetyReconciler(env.context).reconcile(SAFETY_KEY)

    assert env.context.safety.frozen


def test_without_a_target_cluster_nothing_is_probed() -> None:
    env = ControllerEnv(target=False)

    assert APIServerSafetyReconciler(env.context).reconcile(SAFETY_KEY) == Result()
    assert env.control.actions == []

"""The drain step of the deletion flow (§8 scenarios 28-31 and 59), resumable across passes."""

from __future__ import annotations

from typing import Any

import pytest

from mcm.api.constants import (
    DEL_VOLUMES_ATTACHMENTS,
    INITIATE_DRAIN,
    INITIATE_VM_DELETION,
    NODE_TERMINATION_CONDITION,
    SHORT_RETRY,
)
from mcm.api.machine import MachineState
from mcm.controller.drain import INTERVAL, POD_EVICTION_RETRY_INTERVAL
from mcm.controller.runtime import Result
from mcm.errors import ServerError
from mcm.kube.resources import NODES, POD_DISRUPTION_BUDGETS, PODS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import World, budget, pod
from tests.unit.termination.builders import (
    NODE,
    condition,
    description,
    key,
    machine,
    reconciler,
    seed_world,
    stored,
    target,
)

pytestmark = pytest.mark.timeout(10)

HOUR = 3600.0
FORCED = f"Force Drain successful. {DEL_VOLUMES_ATTACHMENTS}"
DRAINED = f"Drain successful. {INITIATE_VM_DELETION}"


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def draining(**extra: Any) -> dict[str, Any]:
    return machine(description=INITIATE_DRAIN, **extra)


def node_condition(env: ControllerEnv) -> dict[str, str]:
    stored_node = target(env).stored(NODES, NODE)
    assert stored_node is not None
    conditions = stored_node["status"].get("conditions") or []
    return next(c for c in conditions if c["type"] == NODE_TERMINATION_CONDITION)


def test_an_empty_node_is_drained_and_marked_terminating(env):
    seed_world(env, draining())

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == DRAINED
    terminating = node_condition(env)
    assert (terminating["status"], terminating["reason"], terminating["message"]) == (
        "True",
        "ScaleDown",
        "Machine Controller is scaling down machine",
    )
    stored_node = target(env).stored(NODES, NODE)
    assert stored_node is not None
    assert stored_node["spec"]["unschedulable"] is True
    assert env.recorder.reasons_for(key()) == ["Drained"]


def test_an_existing_terminating_condition_keeps_its_reason(env):
    seed_world(env, draining())
    target(env).patch_status(
        NODES,
        NODE,
        {
            "status": {
                "conditions": [
                    {
                        "type": NODE_TERMINATION_CONDITION,
                        "status": "False",
                        "reason": "Unhealthy",
                        "message": "earlier",
                    }
                ]
            }
        },
    )

    reconciler(env).reconcile(key())

    terminating = node_condition(env)
    assert (terminating["status"], terminating["reason"]) == ("True", "Unhealthy")


def test_a_machine_without_a_node_skips_the_drain(env):
    seed_world(
        env,
        draining(node_name=None, conditions=[condition("Ready", "Unknown", since=6 * 60)]),
    )

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == (
        "Skipping drain as nodeName is not a valid one for machine. " + INITIATE_VM_DELETION
    )


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param([condition("Ready", "Unknown", since=6 * 60)], FORCED, id="not-ready-6m"),
        pytest.param(
            [condition("ReadonlyFilesystem", "True", since=6 * 60)], FORCED, id="read-only-6m"
        ),
        pytest.param(
            [
                condition("ReadonlyFilesystem", "True", since=6 * 60),
                condition("Ready", "False", since=6 * 60),
            ],
            FORCED,
            id="both-6m",
        ),
        pytest.param(
            [condition("ReadonlyFilesystem", "True", since=2 * 60)], DRAINED, id="read-only-2m"
        ),
        pytest.param(
            [condition("ReadonlyFilesystem", "False", since=6 * 60)], DRAINED, id="read-only-false"
        ),
        pytest.param([condition("Ready", "True", since=6 * 60)], DRAINED, id="ready"),
    ],
)
def test_an_unhealthy_node_is_force_drained_after_five_minutes(env, conditions, expected):
    seed_world(env, draining(conditions=conditions))

    reconciler(env).reconcile(key())

    assert description(env) == expected


@pytest.mark.parametrize("value", ["True", "true", "1", "t", "TRUE"])
def test_the_force_deletion_label_deletes_pods_at_once(env, value):
    api = target(env)
    seed_world(env, draining(labels={"force-deletion": value}))
    api.seed(PODS, pod("web-0", grace=600), pod("web-1", grace=600))
    api.seed(POD_DISRUPTION_BUDGETS, budget(allowed=0, healthy=2))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    assert description(env) == FORCED
    assert World(env).pods_on() == []
    assert api.actions_for("evict", PODS) == []
    assert {a.options["grace_period_seconds"] for a in api.actions_for("delete", PODS)} == {0}
    assert "ForcedDrain" in env.recorder.reasons_for(key())


@pytest.mark.parametrize("value", ["False", "0", "yes", ""])
def test_a_false_or_invalid_force_deletion_label_drains_normally(env, value):
    seed_world(env, draining(labels={"force-deletion": value}))
    target(env).seed(PODS, pod("web-0"))

    reconciler(env).reconcile(key())

    assert len(target(env).actions_for("evict", PODS)) == 1
    assert INITIATE_DRAIN in description(env)


def test_a_forced_drain_goes_on_even_when_the_node_cannot_be_updated(env):
    seed_world(env, draining(labels={"force-deletion": "True"}))
    target(env).fail_next("patch", NODES, error=ServerError("Failed to update node"), count=2)

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == (
        "Drain failed due to - Failed to update node (HTTP 0). However, since it's a force"
        f" deletion shall continue deletion of VM. {DEL_VOLUMES_ATTACHMENTS}"
    )
    assert after.status.last_operation.state == MachineState.PROCESSING


def test_a_failing_node_condition_update_before_the_drain_timeout_is_retried(env):
    seed_world(env, draining(deleted=3 * 60))
    target(env).fail_next("patch", NODES, error=ServerError("Failed to update node"))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == (
        "Drain failed due to failure in update of node conditions - failed to create/update"
        f' conditions on node "{NODE}": Failed to update node (HTTP 0). Will retry in next sync.'
        f" {INITIATE_DRAIN}"
    )
    assert after.status.last_operation.state == MachineState.FAILED


def test_a_failing_node_update_after_the_drain_timeout_does_not_stop_deletion(env):
    seed_world(env, draining(deleted=3 * HOUR))
    target(env).fail_next("patch", NODES, error=ServerError("Failed to update node"), count=2)

    reconciler(env).reconcile(key())

    assert description(env) == (
        "Drain failed due to - Failed to update node (HTTP 0). However, since it's a force"
        f" deletion shall continue deletion of VM. {DEL_VOLUMES_ATTACHMENTS}"
    )


# --- resumable drains ---------------------------------------------------------------------------


def test_a_drain_in_progress_is_requeued_and_finishes_when_the_pods_are_gone(env):
    seed_world(env, draining())
    target(env).seed(PODS, pod("web-0", grace=10))
    rec = reconciler(env)

    first = rec.reconcile(key())
    in_progress = description(env)
    env.clock.step(10)
    World(env).settle()
    second = rec.reconcile(key())

    assert first == Result(requeue_after=INTERVAL)
    assert in_progress == (
        f"Drain in progress: waiting for pod test/web-0 to terminate. {INITIATE_DRAIN}"
    )
    assert second == Result(requeue_after=SHORT_RETRY)
    assert description(env) == DRAINED


def test_a_drain_blocked_by_a_budget_names_pod_and_budget_once(env):
    api = target(env)
    seed_world(env, draining())
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(allowed=0, healthy=2))
    rec = reconciler(env)

    first = rec.reconcile(key())
    env.clock.step(POD_EVICTION_RETRY_INTERVAL)
    second = rec.reconcile(key())

    assert first == Result(requeue_after=POD_EVICTION_RETRY_INTERVAL)
    assert second == Result(requeue_after=POD_EVICTION_RETRY_INTERVAL)
    expected = (
        "Drain blocked: eviction of pod test/web-0 refused by PodDisruptionBudget test/web;"
        f" retrying every 20s. {INITIATE_DRAIN}"
    )
    assert description(env) == expected
    events = [e for e in env.recorder.events_for(key()) if e.reason == "DrainBlocked"]
    assert len(events) == 1
    assert "test/web-0" in events[0].message
    assert "test/web" in events[0].message
    assert len(env.control.actions_for("patch", subresource="status")) == 1
    assert len(api.actions_for("evict", PODS)) == 2


def test_a_blocked_drain_is_forced_when_the_drain_timeout_runs_out(env):
    api = target(env)
    seed_world(env, draining(deleted=2 * HOUR - 10))
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(allowed=0, healthy=2))
    rec = reconciler(env)

    blocked = rec.reconcile(key())
    assert blocked.requeue_after is not None
    env.clock.step(blocked.requeue_after)
    forced = rec.reconcile(key())

    assert blocked == Result(requeue_after=11.0)  # the timeout comes before the retry
    assert forced == Result(requeue_after=SHORT_RETRY)
    assert description(env) == FORCED
    assert World(env).pods_on() == []


def test_a_misconfigured_budget_fails_the_drain_until_it_is_forced(env):
    api = target(env)
    seed_world(env, draining())
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(expected=1, healthy=1, desired=1, allowed=0))

    result = reconciler(env).reconcile(key())

    assert result == Result(requeue_after=SHORT_RETRY)
    after = stored(env)
    assert after is not None
    assert after.status.last_operation.description == (
        'Drain failed due to - error while evicting pod "web-0": pod disruption budget test/web'
        " is misconfigured and requires zero voluntary evictions. Will retry in next sync."
        f" {INITIATE_DRAIN}"
    )
    assert after.status.last_operation.state == MachineState.FAILED
    assert "DrainFailed" in env.recorder.reasons_for(key())


def test_the_machine_max_evict_retries_bounds_refused_evictions(env):
    api = target(env)
    seed_world(env, draining(maxEvictRetries=2))
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(allowed=0, healthy=2))
    rec = reconciler(env)

    for _ in range(3):
        rec.reconcile(key())
        env.clock.step(POD_EVICTION_RETRY_INTERVAL)

    assert len(api.actions_for("evict", PODS)) == 2
    (deletion,) = api.actions_for("delete", PODS)
    assert deletion.name == "web-0"


def test_max_evict_retries_is_capped_by_the_drain_timeout(env):
    api = target(env)
    # 10m / 20s: at most 30 evictions, whatever the machine asks for.
    seed_world(env, draining(maxEvictRetries=100, drainTimeout="10m", deleted=0))
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(allowed=0, healthy=2))
    rec = reconciler(env)

    for _ in range(31):
        rec.reconcile(key())
        env.clock.step(POD_EVICTION_RETRY_INTERVAL)

    assert len(api.actions_for("evict", PODS)) == 30
    assert len(api.actions_for("delete", PODS)) == 1


def test_the_machine_drain_timeout_overrides_the_flag(env):
    seed_world(env, draining(drainTimeout="1m", deleted=2 * 60))
    target(env).seed(PODS, pod("web-0"))

    reconciler(env).reconcile(key())

    assert description(env) == FORCED


def test_a_drain_left_half_way_by_another_controller_instance_is_resumed(env):
    seed_world(
        env,
        machine(
            description="Drain blocked: eviction of pod test/web-0 refused by"
            f" PodDisruptionBudget test/web; retrying every 20s. {INITIATE_DRAIN}"
        ),
    )

    reconciler(env).reconcile(key())  # a fresh reconciler: no memory of earlier attempts

    assert description(env) == DRAINED

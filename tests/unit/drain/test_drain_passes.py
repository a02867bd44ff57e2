"""What one drain pass does, and what the next one does after it."""

from __future__ import annotations

import pytest

from mcm.api.meta import ObjectKey
from mcm.controller.drain import (
    INTERVAL,
    POD_EVICTION_RETRY_INTERVAL,
    BlockedPod,
    Drainer,
    DrainOptions,
    DrainStatus,
    cordon_node,
)
from mcm.errors import ConflictError, ServerError
from mcm.kube.resources import NODES, POD_DISRUPTION_BUDGETS, PODS, VOLUME_ATTACHMENTS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import (
    NAMESPACE,
    NODE,
    OTHER_NODE,
    World,
    attached_name,
    budget,
    node,
    pod,
    pod_with_volumes,
    target,
    volume_attachment,
)

pytestmark = pytest.mark.timeout(10)


def key(name: str) -> ObjectKey:
    return ObjectKey(NAMESPACE, name)


@pytest.fixture
def env() -> ControllerEnv:
    env = ControllerEnv()
    target(env).seed(NODES, node())
    return env


@pytest.fixture
def drainer(env: ControllerEnv) -> Drainer:
    return Drainer(env.context)


# --- which pods -----------------------------------------------------------------------------------


def test_mirror_and_daemonset_pods_stay_and_everything_else_is_evicted(env, drainer):
    api = target(env)
    api.seed(
        PODS,
        pod("mirror", mirror=True, owner=None),
        pod("daemon", owner="DaemonSet"),
        pod("local-data", empty_dir=True),
        pod("orphan", owner=None),
        pod("finished", phase="Succeeded"),
        pod("elsewhere", node_name=OTHER_NODE),
    )

    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert set(outcome.evicted) == {key("local-data"), key("orphan"), key("finished")}
    evicted = {a.name for a in api.actions_for("evict", PODS)}
    assert evicted == {"local-data", "orphan", "finished"}


def test_an_empty_node_is_drained_at_once(env, drainer):
    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert outcome.status is DrainStatus.DONE
    assert outcome.message == "node drained"


def test_evicted_pods_are_waited_for_until_the_kubelet_removes_them(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0", grace=10), pod("web-1", grace=10))
    options = DrainOptions(node_name=NODE)

    first = drainer.drain(options)
    env.clock.step(INTERVAL)
    second = drainer.drain(options)
    env.clock.step(10)
    World(env).settle()
    third = drainer.drain(options)

    assert first.status is DrainStatus.IN_PROGRESS
    assert first.requeue_after == INTERVAL
    assert set(first.evicted) == {key("web-0"), key("web-1")}
    assert second.status is DrainStatus.IN_PROGRESS
    assert second.evicted == ()  # nothing evicted twice
    assert set(second.waiting) == {key("web-0"), key("web-1")}
    assert "waiting for pods test/web-0, test/web-1 to terminate" in second.message
    assert third.status is DrainStatus.DONE
    assert len(api.actions_for("evict", PODS)) == 2


def test_a_pod_stuck_terminating_past_its_grace_period_fails_the_pass(env, drainer):
    target(env).seed(PODS, pod("web-0", grace=10))
    options = DrainOptions(node_name=NODE)
    drainer.drain(options)

    env.clock.step(10 + 30 + 1)  # no kubelet finishes it
    outcome = drainer.drain(options)

    assert outcome.status is DrainStatus.FAILED
    assert outcome.error == (
        'timeout expired while waiting for pod "web-0" terminating scheduled on node node-1'
    )


def test_the_termination_wait_is_capped_by_the_drain_timeout(env, drainer):
    target(env).seed(PODS, pod("web-0", grace=3600))
    options = DrainOptions(node_name=NODE, timeout=60)
    drainer.drain(options)

    env.clock.step(60 + 30 - 1)
    waiting = drainer.drain(options)
    env.clock.step(2)
    stuck = drainer.drain(options)

    assert waiting.status is DrainStatus.IN_PROGRESS
    assert stuck.status is DrainStatus.FAILED


# --- budgets --------------------------------------------------------------------------------------


def test_an_eviction_refused_by_a_budget_is_blocked_naming_pod_and_budget(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(healthy=2, desired=2, allowed=0, expected=3))

    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert outcome.status is DrainStatus.BLOCKED
    assert outcome.requeue_after == POD_EVICTION_RETRY_INTERVAL
    assert outcome.blocked == (BlockedPod(pod=key("web-0"), budget=key("web"), attempts=1),)
    assert outcome.budgets == (key("web"),)
    assert outcome.message == (
        "eviction of pod test/web-0 refused by PodDisruptionBudget test/web; retrying every 20s"
    )


def test_a_refused_eviction_is_retried_only_after_the_retry_interval(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(healthy=2, desired=2, allowed=0, expected=3))
    options = DrainOptions(node_name=NODE)
    drainer.drain(options)

    env.clock.step(INTERVAL)
    early = drainer.drain(options)
    env.clock.step(POD_EVICTION_RETRY_INTERVAL - INTERVAL)
    due = drainer.drain(options)

    assert early.status is DrainStatus.BLOCKED
    assert early.requeue_after == POD_EVICTION_RETRY_INTERVAL - INTERVAL
    assert due.blocked[0].attempts == 2
    assert len(api.actions_for("evict", PODS)) == 2


def test_a_pod_whose_evictions_keep_being_refused_is_deleted_after_max_evict_retries(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(healthy=2, desired=2, allowed=0, expected=3))
    options = DrainOptions(node_name=NODE, max_evict_retries=3)

    outcomes = []
    for _ in range(4):
        outcomes.append(drainer.drain(options))
        env.clock.step(POD_EVICTION_RETRY_INTERVAL)

    assert [o.status for o in outcomes] == [DrainStatus.BLOCKED] * 3 + [DrainStatus.IN_PROGRESS]
    assert outcomes[-1].deleted == (key("web-0"),)
    assert len(api.actions_for("evict", PODS)) == 3
    (deletion,) = api.actions_for("delete", PODS)
    assert deletion.options["grace_period_seconds"] == 0


def test_max_evict_retries_of_zero_deletes_at_once(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))

    outcome = drainer.drain(DrainOptions(node_name=NODE, max_evict_retries=0))

    assert outcome.deleted == (key("web-0"),)
    assert api.actions_for("evict", PODS) == []


def test_a_misconfigured_budget_fails_the_pass_naming_it(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(
        POD_DISRUPTION_BUDGETS,
        budget("strict", expected=3, healthy=3, desired=3, allowed=0, maxUnavailable=0),
    )

    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert outcome.status is DrainStatus.FAILED
    assert outcome.error == (
        'error while evicting pod "web-0": pod disruption budget test/strict is misconfigured'
        " and requires zero voluntary evictions"
    )


def test_a_misconfigured_budget_keeps_failing_the_drain_while_the_retry_waits(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(expected=1, healthy=1, desired=1, allowed=0))
    options = DrainOptions(node_name=NODE)
    first = drainer.drain(options)

    env.clock.step(INTERVAL)
    waiting = drainer.drain(options)

    assert waiting.status is DrainStatus.FAILED
    assert waiting.errors == first.errors
    assert len(api.actions_for("evict", PODS)) == 1


def test_other_eviction_errors_fail_the_pass_and_are_retried_next_pass(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.fail_next("evict", PODS, error=ServerError("etcd is sad", status=500))
    options = DrainOptions(node_name=NODE)

    failed = drainer.drain(options)
    retried = drainer.drain(options)

    assert failed.status is DrainStatus.FAILED
    assert failed.error == (
        'error when evicting pod "web-0": etcd is sad (HTTP 500) scheduled on node node-1'
    )
    assert retried.evicted == (key("web-0"),)


def test_several_errors_are_aggregated_like_go_does(env, drainer):
    api = target(env)
    api.seed(PODS, pod("a"), pod("b"))
    api.fail_next("evict", PODS, error=ServerError("boom", status=500), count=2)

    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert outcome.error.startswith("[error when evicting pod")
    assert outcome.error.count("error when evicting pod") == 2


def test_pods_without_volumes_are_evicted_in_one_pass_in_parallel(env, drainer):
    api = target(env)
    api.seed(PODS, *(pod(f"web-{i}") for i in range(25)))

    outcome = drainer.drain(DrainOptions(node_name=NODE, parallelism=4))

    assert len(outcome.evicted) == 25
    assert len(api.actions_for("evict", PODS)) == 25


def test_a_pod_replaced_under_the_same_name_is_not_touched(env, drainer):
    api = target(env)
    api.seed(PODS, pod("db-0"))
    stale = Drainer(env.context)
    # The StatefulSet recreated db-0 (a new UID) after the drain's lister read the old one.
    api.fail_next(
        "evict",
        PODS,
        error=ConflictError(
            "Precondition failed: UID in precondition: a, UID in object meta: b", status=409
        ),
    )

    outcome = stale.drain(DrainOptions(node_name=NODE))

    assert outcome.status is DrainStatus.DONE
    assert outcome.evicted == ()


def test_evictions_carry_the_pod_uid_as_precondition(env, drainer):
    api = target(env)
    (stored,) = api.seed(PODS, pod("web-0"))

    drainer.drain(DrainOptions(node_name=NODE))

    (eviction,) = api.actions_for("evict", PODS)
    assert eviction.options["preconditions"].uid == stored["metadata"]["uid"]


# --- forced drain ---------------------------------------------------------------------------------


def test_a_forced_drain_deletes_everything_in_one_pass_and_waits_for_nothing(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0", grace=600), pod("daemon", owner="DaemonSet"))
    pod_with_volumes(env, "db-0", handles=["vol-db"])
    api.seed(NODES, node(volumes=["vol-db"]))

    outcome = drainer.drain(DrainOptions(node_name=NODE, force_delete_pods=True))

    assert outcome.status is DrainStatus.DONE
    assert set(outcome.deleted) == {key("web-0"), key("db-0")}
    assert World(env).pods_on() == ["daemon"]


def test_a_failing_forced_deletion_fails_the_pass(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.fail_next("delete", PODS, error=ServerError("nope", status=500))

    outcome = drainer.drain(DrainOptions(node_name=NODE, force_delete_pods=True))

    assert outcome.status is DrainStatus.FAILED
    assert "nope" in outcome.error


# --- pods with volumes ----------------------------------------------------------------------------


def test_pods_with_volumes_go_in_descending_priority_one_at_a_time(env, drainer):
    api = target(env)
    pod_with_volumes(env, "low", handles=["vol-low"], priority=1, grace=0)
    pod_with_volumes(env, "high", handles=["vol-high"], priority=100, grace=0)
    api.seed(NODES, node(volumes=["vol-low", "vol-high"]))
    world = World(env)
    options = DrainOptions(node_name=NODE)

    first = drainer.drain(options)
    waiting = drainer.drain(options)  # volumes still attached: "low" must wait
    world.settle()
    second = drainer.drain(options)

    assert first.evicted == (key("high"),)
    assert waiting.evicted == ()
    assert waiting.volumes_of == key("high")
    assert "waiting for the volumes of pod test/high to move to another node" in waiting.message
    assert second.evicted == (key("low"),)


def test_the_next_pod_waits_for_the_volumes_to_reattach_elsewhere(env, drainer):
    api = target(env)
    pod_with_volumes(env, "a", handles=["vol-a"], priority=2, grace=0)
    pod_with_volumes(env, "b", handles=["vol-b"], priority=1, grace=0)
    api.seed(NODES, node(volumes=["vol-a", "vol-b"]))
    options = DrainOptions(node_name=NODE)
    drainer.drain(options)

    # Detached from the node, but not attached anywhere else yet.
    World(env, reattach=False).settle()
    detached = drainer.drain(options)
    api.seed(
        VOLUME_ATTACHMENTS, volume_attachment("va-new", pv_name="pv-vol-a", node_name=OTHER_NODE)
    )
    reattached = drainer.drain(options)

    assert detached.evicted == ()
    assert detached.volumes_of == key("a")
    assert reattached.evicted == (key("b"),)


def test_a_missing_reattachment_is_only_waited_for_until_the_reattach_timeout(env, drainer):
    api = target(env)
    pod_with_volumes(env, "a", handles=["vol-a"], priority=2, grace=0)
    pod_with_volumes(env, "b", handles=["vol-b"], priority=1, grace=0)
    api.seed(NODES, node(volumes=["vol-a", "vol-b"]))
    options = DrainOptions(node_name=NODE, pv_reattach_timeout=90)
    drainer.drain(options)
    World(env, reattach=False).settle()
    drainer.drain(options)  # detached now: the reattach clock starts

    env.clock.step(90)
    still = drainer.drain(options)
    env.clock.step(1)
    moved_on = drainer.drain(options)

    assert still.evicted == ()
    assert moved_on.status is not DrainStatus.FAILED
    assert moved_on.evicted == (key("b"),)


def test_volumes_that_do_not_detach_in_time_fail_the_pass_once_then_the_drain_goes_on(env, drainer):
    api = target(env)
    pod_with_volumes(env, "a", handles=["vol-a"], priority=2, grace=10)
    pod_with_volumes(env, "b", handles=["vol-b"], priority=1, grace=0)
    api.seed(NODES, node(volumes=["vol-a", "vol-b"]))
    options = DrainOptions(node_name=NODE, pv_detach_timeout=120)
    drainer.drain(options)
    api.delete(PODS, "a", namespace=NAMESPACE, grace_period_seconds=0)  # gone, volume stays

    env.clock.step(10 + 120 + 1)
    timed_out = drainer.drain(options)
    after = drainer.drain(options)

    assert timed_out.status is DrainStatus.FAILED
    assert "timeout while waiting for PVs to detach from node" in timed_out.errors
    assert timed_out.evicted == (key("b"),)  # upstream goes on with the next pod
    assert after.status is DrainStatus.IN_PROGRESS


def test_pods_with_volumes_count_as_drained_when_the_node_is_gone(env, drainer):
    api = target(env)
    pod_with_volumes(env, "db-0", handles=["vol-db"])
    api.delete(NODES, NODE)

    outcome = drainer.drain(DrainOptions(node_name=NODE))

    assert outcome.status is DrainStatus.DONE
    assert api.actions_for("evict", PODS) == []


def test_a_shared_volume_is_not_waited_for(env, drainer):
    api = target(env)
    pod_with_volumes(env, "a", handles=["shared"], grace=0)
    api.seed(PODS, pod("b", claims=["a-shared"], grace=0))
    api.seed(NODES, node(volumes=["shared"]))
    options = DrainOptions(node_name=NODE)

    first = drainer.drain(options)
    second = drainer.drain(options)  # "shared" is still attached (b uses it): no wait for it

    assert len(first.evicted) == 1
    assert len(second.evicted) == 1
    assert attached_name("shared") in World(env).attached()


def test_done_forgets_the_node_and_forget_drops_state(env, drainer):
    api = target(env)
    api.seed(PODS, pod("web-0"))
    api.seed(POD_DISRUPTION_BUDGETS, budget(healthy=2, desired=2, allowed=0, expected=3))
    drainer.drain(DrainOptions(node_name=NODE))
    assert drainer.tracked_nodes() == {NODE}

    drainer.forget(NODE)

    assert drainer.tracked_nodes() == frozenset()


# --- cordon ---------------------------------------------------------------------------------------


def test_cordon_marks_the_node_unschedulable_once(env):
    api = target(env)

    first = cordon_node(env.context, NODE)
    second = cordon_node(env.context, NODE)

    assert (first, second) == (True, False)
    stored = api.stored(NODES, NODE)
    assert stored is not None
    assert stored["spec"]["unschedulable"] is True
    assert len(api.actions_for("patch", NODES)) == 1


def test_cordon_of_a_missing_node_is_fine(env):
    target(env).delete(NODES, NODE)

    assert cordon_node(env.context, NODE) is False

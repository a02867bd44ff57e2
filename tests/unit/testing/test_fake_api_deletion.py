from typing import Any

import pytest

from mcm.api.meta import ObjectKey
from mcm.clock import FakeClock
from mcm.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
)
from mcm.kube.protocol import EventType, PatchType, Preconditions
from mcm.kube.resources import MACHINES, POD_DISRUPTION_BUDGETS, PODS
from mcm.testing import FakeApiServer

pytestmark = pytest.mark.timeout(10)

NOW = "2023-11-14T22:13:20Z"  # FakeClock(start=1_700_000_000.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def api(clock: FakeClock) -> FakeApiServer:
    return FakeApiServer(clock=clock)


def machine(**metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "m1", "namespace": "ns", **metadata}, "spec": {"class": "small"}}


def pod(
    name: str = "p1",
    *,
    node: str = "node-1",
    phase: str = "Running",
    ready: bool = True,
    labels: dict[str, str] | None = None,
    grace: int | None = None,
    finalizers: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "labels": labels or {"app": "web"}}
    if finalizers:
        metadata["finalizers"] = finalizers
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "conditions": conditions},
    }


def pdb(
    name: str = "budget",
    *,
    allowed: int = 1,
    observed: int = 1,
    selector: dict[str, Any] | None = None,
    **status: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"selector": selector if selector is not None else {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": observed, "disruptionsAllowed": allowed, **status},
    }


# --- finalizers and preconditions -----------------------------------------------------------------


def test_delete_without_finalizers_removes_the_object(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())

    result = api.delete(MACHINES, "m1", namespace="ns")

    assert result is None
    assert api.stored(MACHINES, "m1", namespace="ns") is None


def test_delete_of_a_missing_object_is_not_found(api: FakeApiServer) -> None:
    with pytest.raises(NotFoundError):
        api.delete(MACHINES, "m1", namespace="ns")


def test_delete_with_finalizers_marks_the_object_and_keeps_it(api: FakeApiServer) -> None:
    api.create(MACHINES, machine(finalizers=["machine.sapcloud.io/mcm"]))

    result = api.delete(MACHINES, "m1", namespace="ns")

    assert result is not None
    assert result["metadata"]["deletionTimestamp"] == NOW
    assert result["metadata"]["deletionGracePeriodSeconds"] == 0
    assert result["metadata"]["generation"] == 2
    assert api.get(MACHINES, "m1", namespace="ns") == result


@pytest.mark.parametrize(
    "remove",
    [
        pytest.param(
            lambda api, obj: api.update(
                MACHINES, {**obj, "metadata": {**obj["metadata"], "finalizers": []}}
            ),
            id="update",
        ),
        pytest.param(
            lambda api, obj: api.patch(
                MACHINES, "m1", {"metadata": {"finalizers": None}}, namespace="ns"
            ),
            id="merge-patch",
        ),
        pytest.param(
            lambda api, obj: api.patch(
                MACHINES,
                "m1",
                [{"op": "remove", "path": "/metadata/finalizers/0"}],
                namespace="ns",
                patch_type=PatchType.JSON,
            ),
            id="json-patch",
        ),
    ],
)
def test_removing_the_last_finalizer_of_a_deleting_object_deletes_it(
    api: FakeApiServer, remove: Any
) -> None:
    api.create(MACHINES, machine(finalizers=["f"]))
    deleting = api.delete(MACHINES, "m1", namespace="ns")
    watch = api.watch(MACHINES, namespace="ns", resource_version=api.resource_version)

    reply = remove(api, deleting)

    assert api.stored(MACHINES, "m1", namespace="ns") is None
    assert reply["metadata"]["finalizers"] == [
        "f"
    ]  # the real server answers with the last stored state
    event = next(iter(watch))
    assert event.type is EventType.DELETED
    assert event.object["metadata"]["resourceVersion"] == api.resource_version


def test_removing_one_of_two_finalizers_keeps_the_object(api: FakeApiServer) -> None:
    api.create(MACHINES, machine(finalizers=["a", "b"]))
    api.delete(MACHINES, "m1", namespace="ns")

    patched = api.patch(MACHINES, "m1", {"metadata": {"finalizers": ["b"]}}, namespace="ns")

    assert patched["metadata"]["finalizers"] == ["b"]
    assert patched["metadata"]["deletionTimestamp"] == NOW


def test_a_deleting_object_may_not_gain_finalizers(api: FakeApiServer) -> None:
    api.create(MACHINES, machine(finalizers=["a"]))
    api.delete(MACHINES, "m1", namespace="ns")

    with pytest.raises(InvalidError, match="no new finalizers"):
        api.patch(MACHINES, "m1", {"metadata": {"finalizers": ["a", "b"]}}, namespace="ns")


def test_a_second_delete_of_a_finalizing_object_changes_nothing(
    api: FakeApiServer, clock: FakeClock
) -> None:
    api.create(MACHINES, machine(finalizers=["a"]))
    first = api.delete(MACHINES, "m1", namespace="ns")
    clock.step(60)

    second = api.delete(MACHINES, "m1", namespace="ns")

    assert second == first


@pytest.mark.parametrize(
    "preconditions",
    [
        pytest.param(Preconditions(uid="other"), id="uid"),
        pytest.param(Preconditions(resource_version="99"), id="resource-version"),
    ],
)
def test_delete_preconditions_that_do_not_hold_are_conflicts(
    api: FakeApiServer, preconditions: Preconditions
) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(ConflictError, match="Precondition failed"):
        api.delete(MACHINES, "m1", namespace="ns", preconditions=preconditions)

    assert api.stored(MACHINES, "m1", namespace="ns") is not None


def test_delete_preconditions_that_hold_let_it_through(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())
    meta = created["metadata"]

    api.delete(
        MACHINES,
        "m1",
        namespace="ns",
        preconditions=Preconditions(uid=meta["uid"], resource_version=meta["resourceVersion"]),
    )

    assert api.stored(MACHINES, "m1", namespace="ns") is None


@pytest.mark.parametrize(
    ("policy", "finalizers"),
    [
        pytest.param("Foreground", ["foregroundDeletion"], id="foreground"),
        pytest.param("Orphan", ["orphan"], id="orphan"),
    ],
)
def test_foreground_and_orphan_propagation_leave_a_finalizer_for_the_absent_garbage_collector(
    api: FakeApiServer, policy: str, finalizers: list[str]
) -> None:
    api.create(MACHINES, machine())

    result = api.delete(MACHINES, "m1", namespace="ns", propagation_policy=policy)

    assert result is not None
    assert result["metadata"]["finalizers"] == finalizers


def test_background_propagation_deletes_at_once(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())

    assert api.delete(MACHINES, "m1", namespace="ns", propagation_policy="Background") is None


# --- graceful pod deletion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "grace_period_seconds"),
    [
        pytest.param(pod(node=""), None, id="unscheduled"),
        pytest.param(pod(phase="Succeeded"), None, id="succeeded"),
        pytest.param(pod(phase="Failed"), 30, id="failed-even-with-a-grace-period"),
        pytest.param(pod(grace=0), None, id="termination-grace-period-zero"),
        pytest.param(pod(), 0, id="grace-period-option-zero"),
    ],
)
def test_pods_with_no_grace_period_are_removed_at_once(
    api: FakeApiServer, body: dict[str, Any], grace_period_seconds: int | None
) -> None:
    api.seed(PODS, body)
    watch = api.watch(PODS, resource_version=api.resource_version)

    result = api.delete(PODS, "p1", namespace="ns", grace_period_seconds=grace_period_seconds)

    assert result is None
    assert api.stored(PODS, "p1", namespace="ns") is None
    events = [next(iter(watch)) for _ in range(2)]
    assert [e.type for e in events] == [EventType.MODIFIED, EventType.DELETED]
    assert events[0].object["metadata"]["deletionGracePeriodSeconds"] == 0


@pytest.mark.parametrize(
    ("body", "grace_period_seconds", "expected_grace", "deletion_timestamp"),
    [
        pytest.param(pod(), None, 30, "2023-11-14T22:13:50Z", id="default-thirty-seconds"),
        pytest.param(pod(grace=5), None, 5, "2023-11-14T22:13:25Z", id="pod-spec"),
        pytest.param(pod(grace=5), 120, 120, "2023-11-14T22:15:20Z", id="option-wins"),
    ],
)
def test_scheduled_pods_linger_for_their_grace_period(
    api: FakeApiServer,
    body: dict[str, Any],
    grace_period_seconds: int | None,
    expected_grace: int,
    deletion_timestamp: str,
) -> None:
    api.seed(PODS, body)

    result = api.delete(PODS, "p1", namespace="ns", grace_period_seconds=grace_period_seconds)

    assert result is not None
    assert result["metadata"]["deletionGracePeriodSeconds"] == expected_grace
    assert result["metadata"]["deletionTimestamp"] == deletion_timestamp
    assert api.stored(PODS, "p1", namespace="ns") == result


def test_a_lingering_pod_is_removed_by_a_delete_with_grace_zero_like_a_kubelet_does(
    api: FakeApiServer,
) -> None:
    uid = api.seed(PODS, pod())[0]["metadata"]["uid"]
    api.delete(PODS, "p1", namespace="ns")

    result = api.delete(
        PODS, "p1", namespace="ns", grace_period_seconds=0, preconditions=Preconditions(uid=uid)
    )

    assert result is None
    assert api.stored(PODS, "p1", namespace="ns") is None


def test_a_second_delete_may_only_shorten_the_grace_period(api: FakeApiServer) -> None:
    api.seed(PODS, pod())
    first = api.delete(PODS, "p1", namespace="ns")

    longer = api.delete(PODS, "p1", namespace="ns", grace_period_seconds=300)
    shorter = api.delete(PODS, "p1", namespace="ns", grace_period_seconds=10)

    assert longer == first
    assert shorter is not None
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert shorter["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:30Z"


def test_removing_finalizers_does_not_end_a_graceful_pod_deletion(api: FakeApiServer) -> None:
    api.seed(PODS, pod(finalizers=["example.com/hold"]))
    api.delete(PODS, "p1", namespace="ns")

    api.patch(PODS, "p1", {"metadata": {"finalizers": None}}, namespace="ns")

    assert api.stored(PODS, "p1", namespace="ns") is not None
    assert api.delete(PODS, "p1", namespace="ns", grace_period_seconds=0) is None


def test_a_pod_with_finalizers_deleted_with_grace_zero_waits_for_them(api: FakeApiServer) -> None:
    api.seed(PODS, pod(finalizers=["example.com/hold"]))

    result = api.delete(PODS, "p1", namespace="ns", grace_period_seconds=0)
    api.patch(PODS, "p1", {"metadata": {"finalizers": None}}, namespace="ns")

    assert result is not None
    assert api.stored(PODS, "p1", namespace="ns") is None


# --- eviction -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phase",
    [
        pytest.param("Pending", id="pending"),
        pytest.param("Succeeded", id="succeeded"),
        pytest.param("Failed", id="failed"),
    ],
)
def test_eviction_of_a_pod_that_is_not_running_ignores_budgets(
    api: FakeApiServer, phase: str
) -> None:
    api.seed(PODS, pod(phase=phase, grace=0))
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=0))

    api.evict("p1", namespace="ns")

    assert api.stored(PODS, "p1", namespace="ns") is None
    budget = api.stored(POD_DISRUPTION_BUDGETS, "budget", namespace="ns")
    assert budget is not None
    assert budget["status"]["disruptionsAllowed"] == 0


def test_eviction_blocked_by_a_budget_with_no_disruptions_allowed_is_too_many_requests(
    api: FakeApiServer,
) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=0, desiredHealthy=2, currentHealthy=2))

    with pytest.raises(TooManyRequestsError) as caught:
        api.evict("p1", namespace="ns")

    assert caught.value.status == 429
    assert (
        caught.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    )
    assert caught.value.details["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget budget needs 2 healthy pods and has 2 currently",
        }
    ]
    assert api.stored(PODS, "p1", namespace="ns") is not None


def test_eviction_is_refused_while_the_budget_is_not_yet_observed(api: FakeApiServer) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=5, observed=0))

    with pytest.raises(TooManyRequestsError) as caught:
        api.evict("p1", namespace="ns")

    assert "still being processed" in caught.value.details["causes"][0]["message"]


def test_a_freshly_created_budget_refuses_every_eviction_as_on_a_bare_api_server(
    api: FakeApiServer,
) -> None:
    api.seed(PODS, pod())
    api.create(POD_DISRUPTION_BUDGETS, pdb(allowed=5))

    with pytest.raises(TooManyRequestsError):
        api.evict("p1", namespace="ns")


def test_an_allowed_eviction_takes_a_disruption_and_deletes_the_pod(
    api: FakeApiServer,
) -> None:
    api.seed(PODS, pod(grace=0))
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=1))

    api.evict("p1", namespace="ns")

    budget = api.stored(POD_DISRUPTION_BUDGETS, "budget", namespace="ns")
    assert budget is not None
    assert budget["status"]["disruptionsAllowed"] == 0
    assert budget["status"]["disruptedPods"] == {"p1": NOW}
    assert budget["status"]["conditions"][0]["type"] == "DisruptionAllowed"
    assert budget["status"]["conditions"][0]["status"] == "False"
    assert budget["metadata"]["generation"] == 1
    assert api.stored(PODS, "p1", namespace="ns") is None


def test_an_evicted_pod_with_a_grace_period_lingers_marked_as_a_disruption_target(
    api: FakeApiServer,
) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=3))

    api.evict("p1", namespace="ns", grace_period_seconds=10)

    lingering = api.stored(PODS, "p1", namespace="ns")
    assert lingering is not None
    assert lingering["metadata"]["deletionGracePeriodSeconds"] == 10
    target = [c for c in lingering["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target[0]["reason"] == "EvictionByEvictionAPI"
    budget = api.stored(POD_DISRUPTION_BUDGETS, "budget", namespace="ns")
    assert budget is not None
    assert budget["status"]["disruptionsAllowed"] == 2


def test_evicting_a_pod_that_is_already_deleting_skips_the_budget(api: FakeApiServer) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=0))
    api.delete(PODS, "p1", namespace="ns")

    api.evict("p1", namespace="ns", grace_period_seconds=0)

    assert api.stored(PODS, "p1", namespace="ns") is None


def test_eviction_with_two_matching_budgets_is_a_server_error(api: FakeApiServer) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb("one"), pdb("two"))

    with pytest.raises(ServerError) as caught:
        api.evict("p1", namespace="ns")

    assert caught.value.status == 500
    assert "more than one PodDisruptionBudget" in caught.value.message


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param(
            pdb(allowed=0, selector={"matchLabels": {"app": "db"}}), id="selector-does-not-match"
        ),
        pytest.param(pdb(allowed=0, selector={}), id="empty-selector-matches-nothing"),
        pytest.param(
            {**pdb(allowed=0), "metadata": {"name": "b", "namespace": "other"}},
            id="other-namespace",
        ),
    ],
)
def test_eviction_without_a_matching_budget_deletes_the_pod(
    api: FakeApiServer, budget: dict[str, Any]
) -> None:
    api.seed(PODS, pod(grace=0))
    api.seed(POD_DISRUPTION_BUDGETS, budget)

    api.evict("p1", namespace="ns")

    assert api.stored(PODS, "p1", namespace="ns") is None


@pytest.mark.parametrize(
    ("budget", "allowed"),
    [
        pytest.param(
            {
                **pdb(allowed=0),
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
            },
            True,
            id="always-allow",
        ),
        pytest.param(
            pdb(allowed=0, currentHealthy=3, desiredHealthy=2), True, id="budget-is-healthy"
        ),
        pytest.param(
            pdb(allowed=0, currentHealthy=1, desiredHealthy=2), False, id="budget-is-unhealthy"
        ),
    ],
)
def test_eviction_of_an_unready_pod_follows_the_unhealthy_pod_eviction_policy(
    api: FakeApiServer, budget: dict[str, Any], allowed: bool
) -> None:
    api.seed(PODS, pod(ready=False, grace=0))
    api.seed(POD_DISRUPTION_BUDGETS, budget)

    try:
        api.evict("p1", namespace="ns")
        evicted = True
    except TooManyRequestsError:
        evicted = False

    assert evicted is allowed
    remaining = api.stored(POD_DISRUPTION_BUDGETS, budget["metadata"]["name"], namespace="ns")
    assert remaining is not None
    assert remaining["status"]["disruptionsAllowed"] == 0


def test_eviction_with_a_negative_budget_is_forbidden(api: FakeApiServer) -> None:
    api.seed(PODS, pod())
    api.seed(POD_DISRUPTION_BUDGETS, pdb(allowed=-1))

    with pytest.raises(ForbiddenError):
        api.evict("p1", namespace="ns")


def test_eviction_of_a_missing_pod_is_not_found(api: FakeApiServer) -> None:
    with pytest.raises(NotFoundError):
        api.evict("nope", namespace="ns")


def test_eviction_checks_its_preconditions(api: FakeApiServer) -> None:
    api.seed(PODS, pod(grace=0))

    with pytest.raises(ConflictError):
        api.evict("p1", namespace="ns", preconditions=Preconditions(uid="other"))


def test_eviction_is_recorded_as_an_evict_action(api: FakeApiServer) -> None:
    api.seed(PODS, pod(grace=0))

    api.evict("p1", namespace="ns", grace_period_seconds=5)

    (action,) = api.actions
    assert (action.verb, action.resource, action.subresource) == ("evict", PODS, "eviction")
    assert action.key == ObjectKey("ns", "p1")
    assert action.options == {"grace_period_seconds": 5}

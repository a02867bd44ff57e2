"""PodDisruptionBudget status as the disruption controller keeps it, and evictions against it."""

from __future__ import annotations

from typing import Any

import pytest

from mcm.api.meta import format_time
from mcm.clock import utcnow
from mcm.errors import TooManyRequestsError
from mcm.kube.resources import POD_DISRUPTION_BUDGETS, PODS
from mcm.testing import FakeApiServer
from mcm.testing.kubelet import KubeletSimulator
from tests.unit.kubelet.kubelet_builders import NAMESPACE, budget, pod, vm

pytestmark = pytest.mark.timeout(10)

NODE = vm(1).node_name


@pytest.fixture
def web(api, source, kubelet):
    """Three Running, Ready pods labelled app=web on vm(1)'s node."""
    source.add(vm(1))
    kubelet.sync_once()
    for index in range(3):
        api.create(PODS, pod(f"web-{index}", node=NODE))
    kubelet.sync_once()


def status_of(api: FakeApiServer, name: str = "web") -> dict[str, Any]:
    stored = api.stored(POD_DISRUPTION_BUDGETS, name, namespace=NAMESPACE)
    assert stored is not None
    status: dict[str, Any] = stored["status"]
    return status


def counters(status: dict[str, Any]) -> tuple[int, ...]:
    keys = ("expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed")
    return tuple(status[k] for k in keys)


@pytest.mark.usefixtures("web")
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"minAvailable": 2}, (3, 3, 2, 1), id="min-available-int"),
        pytest.param({"minAvailable": 3}, (3, 3, 3, 0), id="min-available-all"),
        pytest.param({"maxUnavailable": 1}, (3, 3, 2, 1), id="max-unavailable-int"),
        pytest.param({"maxUnavailable": 5}, (3, 3, 0, 3), id="max-unavailable-above-expected"),
        pytest.param({"minAvailable": "50%"}, (3, 3, 2, 1), id="min-available-percent-rounds-up"),
        pytest.param(
            {"maxUnavailable": "34%"}, (3, 3, 1, 2), id="max-unavailable-percent-rounds-up"
        ),
        pytest.param({}, (0, 3, 0, 0), id="neither-allows-nothing"),
    ],
)
def test_budget_status_is_computed_from_the_matching_pods(api, kubelet, spec, expected):
    api.create(POD_DISRUPTION_BUDGETS, budget(**spec))

    kubelet.sync_once()

    status = status_of(api)
    assert counters(status) == expected
    assert status["observedGeneration"] == 1
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == (
        ("True", "SufficientPods") if expected[3] else ("False", "InsufficientPods")
    )


@pytest.mark.usefixtures("web")
@pytest.mark.parametrize(
    ("selector", "expected_pods"),
    [
        pytest.param({"matchLabels": {"app": "db"}}, 0, id="no-match"),
        pytest.param({}, 3, id="empty-selects-all"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "Bogus"}]}, 0, id="invalid"),
    ],
)
def test_budget_selectors_decide_which_pods_count(api, kubelet, selector, expected_pods):
    api.create(POD_DISRUPTION_BUDGETS, budget(selector=selector, minAvailable=1))

    kubelet.sync_once()

    assert status_of(api)["expectedPods"] == expected_pods


@pytest.mark.usefixtures("web")
def test_unready_pods_are_not_healthy(api, kubelet):
    api.patch_status(
        PODS,
        "web-0",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        namespace=NAMESPACE,
    )
    api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=2))

    kubelet.sync_once()

    assert counters(status_of(api)) == (3, 2, 2, 0)


@pytest.mark.usefixtures("web")
def test_a_fresh_budget_blocks_evictions_until_its_status_is_synced(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=1))

    with pytest.raises(TooManyRequestsError):
        api.evict("web-0", namespace=NAMESPACE)
    kubelet.sync_once()
    api.evict("web-0", namespace=NAMESPACE)

    assert api.stored(PODS, "web-0", namespace=NAMESPACE)["metadata"].get("deletionTimestamp")


@pytest.mark.usefixtures("web")
def test_evictions_are_allowed_one_at_a_time_under_max_unavailable(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=1))
    kubelet.sync_once()

    api.evict("web-0", namespace=NAMESPACE)
    with pytest.raises(TooManyRequestsError):
        api.evict("web-1", namespace=NAMESPACE)
    kubelet.sync_once()  # finishes web-0's deletion, recomputes the budget
    after = dict(status_of(api))
    api.evict("web-1", namespace=NAMESPACE)

    assert api.stored(PODS, "web-0", namespace=NAMESPACE) is None
    assert counters(after) == (2, 2, 1, 1)
    assert "disruptedPods" not in after


@pytest.mark.usefixtures("web")
def test_min_available_blocks_evictions_once_the_budget_is_spent(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=2))
    kubelet.sync_once()

    api.evict("web-0", namespace=NAMESPACE)
    kubelet.sync_once()

    assert counters(status_of(api)) == (2, 2, 2, 0)
    with pytest.raises(TooManyRequestsError):
        api.evict("web-1", namespace=NAMESPACE)


@pytest.mark.usefixtures("web")
def test_a_terminating_pod_still_counts_as_expected_until_it_is_gone(api, source, clock):
    slow = KubeletSimulator(api, source, clock=clock, grace_period_cap=10.0)
    api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=1))
    slow.sync_once()

    api.evict("web-0", namespace=NAMESPACE)
    slow.sync_once()
    terminating = dict(status_of(api))
    clock.step(10.0)
    slow.sync_once()

    assert counters(terminating) == (3, 2, 2, 0)
    assert "disruptedPods" not in terminating  # pruned: the pod is terminating
    assert counters(status_of(api)) == (2, 2, 1, 1)


@pytest.mark.usefixtures("web")
def test_stale_disrupted_pods_entries_are_pruned(api, kubelet, clock):
    created = api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))
    now = format_time(utcnow(clock))
    api.patch_status(
        POD_DISRUPTION_BUDGETS,
        created["metadata"]["name"],
        {"status": {"disruptedPods": {"gone-pod": now, "web-0": now}}},
        namespace=NAMESPACE,
    )

    kubelet.sync_once()
    fresh = dict(status_of(api))
    clock.step(121.0)
    kubelet.sync_once()

    assert fresh["disruptedPods"] == {"web-0": now}
    assert fresh["currentHealthy"] == 2  # web-0's eviction was admitted: not healthy
    assert "disruptedPods" not in status_of(api)  # timed out: counted healthy again
    assert status_of(api)["currentHealthy"] == 3


@pytest.mark.usefixtures("web")
def test_a_spec_change_is_observed(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))
    kubelet.sync_once()

    api.patch(POD_DISRUPTION_BUDGETS, "web", {"spec": {"minAvailable": 3}}, namespace=NAMESPACE)
    kubelet.sync_once()

    status = status_of(api)
    assert status["observedGeneration"] == 2
    assert counters(status) == (3, 3, 3, 0)


@pytest.mark.usefixtures("web")
def test_an_unchanged_budget_is_not_written_again(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))
    kubelet.sync_once()
    api.clear_actions()

    kubelet.sync_once()

    assert api.actions_for(resource=POD_DISRUPTION_BUDGETS, reads=False) == []


@pytest.mark.usefixtures("web")
def test_a_malformed_percentage_allows_no_disruption(api, kubelet):
    api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable="lots"))

    kubelet.sync_once()

    status = status_of(api)
    assert status["disruptionsAllowed"] == 0
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "SyncFailed")

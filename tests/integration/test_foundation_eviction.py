"""Eviction against a real API server, with PodDisruptionBudget status written by hand.

There is no disruption controller on a bare kube-apiserver, so each test writes the budget's status
itself (``observedGeneration`` = ``generation``, so the server takes the numbers at face value) and
makes its pods Running and Ready through ``pods/status`` (a Pending pod bypasses every budget).
"""

from __future__ import annotations

from typing import Any

import pytest

from mcm.api import Pod, PodDisruptionBudget
from mcm.errors import NotFoundError, TooManyRequestsError
from mcm.kube.client import KubeClient
from mcm.kube.resources import POD_DISRUPTION_BUDGETS, PODS

pytestmark = pytest.mark.timeout(30)

LABELS = {"app": "guarded"}


def create_pod(api: KubeClient, namespace: str, name: str, *, running: bool = True) -> Pod:
    """A pod bound to a (non-existent) node; deleted at once when evicted (grace period 0)."""
    api.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
            "spec": {
                "nodeName": "node-a",
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "main", "image": "registry.example/app:1"}],
            },
        },
    )
    if not running:
        return Pod.from_dict(api.get(PODS, name, namespace=namespace))
    ready = [
        {"type": kind, "status": "True"}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    status = {"status": {"phase": "Running", "conditions": ready}}
    return Pod.from_dict(api.patch_status(PODS, name, status, namespace=namespace))


def create_budget(api: KubeClient, namespace: str, *, healthy: int, allowed: int) -> None:
    """A ``minAvailable: 1`` budget over the pods, with the status a controller would write."""
    created = api.create(
        POD_DISRUPTION_BUDGETS,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "budget", "namespace": namespace},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": LABELS}},
        },
    )
    status: dict[str, Any] = {
        "observedGeneration": created["metadata"]["generation"],
        "expectedPods": healthy,
        "currentHealthy": healthy,
        "desiredHealthy": 1,
        "disruptionsAllowed": allowed,
    }
    api.update_status(POD_DISRUPTION_BUDGETS, {**created, "status": status})


def budget(api: KubeClient, namespace: str) -> PodDisruptionBudget:
    return PodDisruptionBudget.from_dict(
        api.get(POD_DISRUPTION_BUDGETS, "budget", namespace=namespace)
    )


def test_evicting_a_pod_whose_budget_allows_no_disruption_is_refused_with_too_many_requests(
    api: KubeClient, namespace: str
) -> None:
    pod = create_pod(api, namespace, "web-0")
    assert pod.status.phase == "Running"
    create_budget(api, namespace, healthy=1, allowed=0)

    with pytest.raises(TooManyRequestsError) as caught:
        api.evict("web-0", namespace=namespace)

    assert "disruption budget" in caught.value.message
    assert api.get(PODS, "web-0", namespace=namespace)["metadata"]["uid"] == pod.metadata.uid


def test_an_eviction_the_budget_allows_deletes_the_pod_and_spends_the_budget(
    api: KubeClient, namespace: str
) -> None:
    create_pod(api, namespace, "web-0")
    create_pod(api, namespace, "web-1")
    create_budget(api, namespace, healthy=2, allowed=1)

    api.evict("web-0", namespace=namespace)

    with pytest.raises(NotFoundError):
        api.get(PODS, "web-0", namespace=namespace)
    spent = budget(api, namespace).status
    assert spent.disruptions_allowed == 0
    assert set(spent.disrupted_pods) == {"web-0"}
    with pytest.raises(TooManyRequestsError):  # the server itself counted the first eviction
        api.evict("web-1", namespace=namespace)


def test_a_pending_pod_is_evicted_whatever_its_budget_says(api: KubeClient, namespace: str) -> None:
    create_pod(api, namespace, "web-0", running=False)
    create_budget(api, namespace, healthy=1, allowed=0)

    api.evict("web-0", namespace=namespace)

    with pytest.raises(NotFoundError):
        api.get(PODS, "web-0", namespace=namespace)

"""Pods on the simulator's nodes run, and their graceful deletions are finished."""

from __future__ import annotations

from typing import Any

import pytest

from mcm.kube.protocol import Preconditions
from mcm.kube.resources import PODS
from mcm.testing.kubelet import KubeletSimulator
from tests.unit.kubelet.kubelet_builders import NAMESPACE, pod, vm

pytestmark = pytest.mark.timeout(10)

NODE = vm(1).node_name


@pytest.fixture
def joined(source, kubelet):
    """vm(1) has joined as a Ready node."""
    source.add(vm(1))
    kubelet.sync_once()


def pod_conditions(stored: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in stored["status"].get("conditions", [])}


@pytest.mark.usefixtures("joined")
def test_a_pending_pod_bound_to_a_ready_node_becomes_running_and_ready(api, kubelet):
    api.create(PODS, pod("web-1", node=NODE))

    kubelet.sync_once()

    stored = api.stored(PODS, "web-1", namespace=NAMESPACE)
    assert stored["status"]["phase"] == "Running"
    assert pod_conditions(stored) == {
        "PodScheduled": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }


@pytest.mark.usefixtures("joined")
@pytest.mark.parametrize(
    "placement",
    [
        pytest.param({}, id="unbound"),
        pytest.param({"node": "somebody-elses-node"}, id="other-node"),
    ],
)
def test_pods_not_bound_to_its_nodes_stay_pending(api, kubelet, placement):
    api.create(PODS, pod("web-1", **placement))

    kubelet.sync_once()

    assert api.stored(PODS, "web-1", namespace=NAMESPACE)["status"]["phase"] == "Pending"


@pytest.mark.usefixtures("joined")
def test_a_not_ready_node_starts_no_pods(api, kubelet):
    kubelet.make_not_ready(NODE)
    api.create(PODS, pod("web-1", node=NODE))

    kubelet.sync_once()

    assert api.stored(PODS, "web-1", namespace=NAMESPACE)["status"]["phase"] == "Pending"


def test_with_run_pods_off_pods_stay_pending(api, source, clock):
    kubelet = KubeletSimulator(api, source, clock=clock, run_pods=False)
    source.add(vm(1))
    kubelet.sync_once()
    api.create(PODS, pod("web-1", node=NODE))

    kubelet.sync_once()

    assert api.stored(PODS, "web-1", namespace=NAMESPACE)["status"]["phase"] == "Pending"


@pytest.mark.usefixtures("joined")
def test_a_terminating_pod_is_deleted_at_once_by_default_as_the_kubelet_does(api, kubelet):
    uid = api.create(PODS, pod("web-1", node=NODE, grace=30))["metadata"]["uid"]
    api.delete(PODS, "web-1", namespace=NAMESPACE)
    lingering = api.stored(PODS, "web-1", namespace=NAMESPACE)

    kubelet.sync_once()

    assert lingering is not None
    assert api.stored(PODS, "web-1", namespace=NAMESPACE) is None
    final = api.actions_for("delete", PODS)[-1]
    assert final.options["grace_period_seconds"] == 0
    assert final.options["preconditions"] == Preconditions(uid=uid)


@pytest.mark.parametrize(
    ("grace", "finished_after"),
    [
        pytest.param(30, 10.0, id="capped"),
        pytest.param(5, 5.0, id="grace-period-shorter-than-cap"),
    ],
)
def test_a_terminating_pod_is_finished_after_min_of_grace_period_and_cap(
    api, source, clock, grace, finished_after
):
    kubelet = KubeletSimulator(api, source, clock=clock, grace_period_cap=10.0)
    source.add(vm(1))
    kubelet.sync_once()
    api.create(PODS, pod("web-1", node=NODE, grace=grace))
    api.delete(PODS, "web-1", namespace=NAMESPACE)

    kubelet.sync_once()
    clock.step(finished_after - 0.5)
    kubelet.sync_once()
    still_there = api.stored(PODS, "web-1", namespace=NAMESPACE)
    clock.step(0.5)
    kubelet.sync_once()

    assert still_there is not None
    assert api.stored(PODS, "web-1", namespace=NAMESPACE) is None


def test_terminating_pods_on_a_node_whose_vm_is_gone_are_finished(api, source, kubelet):
    source.add(vm(1))
    kubelet.sync_once()
    api.create(PODS, pod("web-1", node=NODE))
    source.remove(vm(1).provider_id)
    kubelet.sync_once()

    api.delete(PODS, "web-1", namespace=NAMESPACE)
    kubelet.sync_once()

    assert api.stored(PODS, "web-1", namespace=NAMESPACE) is None


@pytest.mark.usefixtures("joined")
def test_pods_outside_the_simulators_namespace_are_not_touched(api, source, clock):
    kubelet = KubeletSimulator(api, source, clock=clock, namespace="mine")
    api.create(PODS, pod("web-1", node=NODE, namespace="theirs"))

    kubelet.sync_once()

    assert api.stored(PODS, "web-1", namespace="theirs")["status"]["phase"] == "Pending"

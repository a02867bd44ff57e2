"""The machine controller on a real kube-apiserver: machines join, fail, drain and go away.

Each test runs the whole app (`mcm.app.MachineControllerApp`, no leader election) in a thread
against the session's control plane, which plays both the control and the target cluster, with a
`FakeDriver` as the cloud and a `KubeletSimulator` registering the Nodes of its VMs. Machines,
classes and pods live in the test's namespace; machine (and so node) names end in the namespace's
random suffix, because Nodes are cluster-wide. Waits poll the API with a deadline.

The deletion flow moves one step per ``ShortRetry`` (5 s), as upstream's does, so the deletion
tests take about half a minute each; the one whose budget refuses an eviction waits the 20 s
eviction retry interval on top.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mcm.api.constants import MCM_FINALIZER_NAME, NODE_LABEL_KEY
from mcm.api.core import Node, Pod
from mcm.api.machine import MachinePhase
from mcm.driver import CreateMachineRequest, CreateMachineResponse
from mcm.driver.fake import FakeDriver
from mcm.errors import NotFoundError
from mcm.kube.client import KubeClient
from mcm.kube.resources import (
    EVENTS,
    MACHINE_CLASSES,
    MACHINES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SECRETS,
)
from mcm.testing.envtest import ControlPlane
from tests.unit.app.builders import (
    CLASS,
    JOIN_TIMEOUT,
    World,
    eventually,
    machine,
    machine_class,
    options,
    secret,
)

DELETION_TIMEOUT = 70.0
"""Real seconds a deletion may take: about six steps of 5 s, drain passes, one eviction retry."""

HOLD_FINALIZER = "mcm.test/hold"


@pytest.fixture
def client(control_plane: ControlPlane) -> Iterator[KubeClient]:
    """The app's own admin client: its QPS is the app's business, not the session client's."""
    with KubeClient.from_kubeconfig(
        control_plane.kubeconfig_path, qps=100, burst=200, request_timeout=5.0
    ) as client:
        yield client


def world_for(
    client: KubeClient, namespace: str, *, driver: FakeDriver | None = None, **overrides: Any
) -> World:
    world = World(client, namespace, options(namespace, **overrides))
    if driver is not None:
        world.driver = driver
    client.create(SECRETS, secret(namespace))
    client.create(MACHINE_CLASSES, machine_class(namespace))
    return world


def stop_and_clean(world: World, *node_names: str) -> None:
    try:
        world.stop()
    finally:
        world.remove_nodes(node_names)


def running_machine(world: World, name: str, **kwargs: Any) -> Node:
    """Create the Machine *name*, wait for it to be Running; its Node."""
    world.api.create(MACHINES, machine(world.namespace, name, **kwargs))
    found = world.wait_for_phase(name, MachinePhase.RUNNING, timeout=JOIN_TIMEOUT)
    return Node.from_dict(world.api.get(NODES, found.node_name))


def pod(
    namespace: str,
    name: str,
    node: str,
    *,
    labels: dict[str, str] | None = None,
    claim: str | None = None,
    finalizers: tuple[str, ...] = (),
    grace_period: int = 0,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": node,
        "terminationGracePeriodSeconds": grace_period,
        "containers": [{"name": "main", "image": "registry.example/app:1"}],
    }
    if claim is not None:
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {},
            "finalizers": list(finalizers),
        },
        "spec": spec,
    }


def pods_running(world: World, *names: str) -> bool:
    for name in names:
        found = Pod.from_dict(world.api.get(PODS, name, namespace=world.namespace))
        if found.status.phase != "Running":
            return False
    return True


def events(world: World, reason: str) -> list[dict[str, Any]]:
    listed = world.api.list(EVENTS, namespace=world.namespace).items
    return [event for event in listed if event.get("reason") == reason]


def gone(world: World, name: str) -> bool:
    return world.machine(name) is None


# ------------------------------------------------------------------------------------- tests


@pytest.mark.timeout(40)
def test_a_machine_runs_and_its_node_carries_the_machines_node_template(
    client: KubeClient, namespace: str
) -> None:
    world = world_for(client, namespace)
    name = f"a-{namespace}"
    try:
        world.start_kubelets()
        world.start_app()

        node = running_machine(
            world,
            name,
            node_labels={"worker.gardener.cloud/pool": "blue"},
            taints=[{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        )

        found = world.machine(name)
        assert found is not None
        assert found.metadata.labels[NODE_LABEL_KEY] == node.metadata.name
        assert node.spec.provider_id == found.spec.provider_id
        assert found.spec.provider_id in world.driver.vms

        def templated() -> Node | None:
            current = Node.from_dict(client.get(NODES, name))
            labelled = current.metadata.labels.get("worker.gardener.cloud/pool") == "blue"
            tainted = any(
                (t.key, t.value, t.effect) == ("dedicated", "batch", "NoSchedule")
                for t in current.spec.taints
            )
            return current if labelled and tainted else None

        eventually(templated, timeout=10.0)
    finally:
        stop_and_clean(world, name)


@pytest.mark.timeout(40)
def test_a_node_condition_fault_takes_a_machine_through_unknown_to_failed(
    client: KubeClient, namespace: str
) -> None:
    world = world_for(client, namespace, machine_health_timeout=3.0)
    name = f"b-{namespace}"
    try:
        kubelet = world.start_kubelets()
        world.start_app()
        running_machine(world, name)

        kubelet.make_not_ready(name)

        world.wait_for_phase(name, MachinePhase.UNKNOWN, timeout=10.0)
        failed = world.wait_for_phase(name, MachinePhase.FAILED, timeout=10.0)
        assert "health checks failing since last 3s" in failed.status.last_operation.description
        assert eventually(lambda: events(world, "MachineHealthCheckFailed"), timeout=5.0)
    finally:
        stop_and_clean(world, name)


@pytest.mark.timeout(90)
def test_deleting_a_machine_drains_budgeted_pods_and_pods_with_volumes_and_leaves_nothing(
    client: KubeClient, namespace: str
) -> None:
    world = world_for(
        client, namespace, machine_pv_detach_timeout=5.0, machine_pv_reattach_timeout=1.0
    )
    name = f"c-{namespace}"
    pv_name = f"pv-{namespace}"
    try:
        # Evicted pods take 2 s to terminate: meanwhile the budget allows no second eviction.
        world.start_kubelets(grace_period_cap=2.0)
        world.start_app()
        node = running_machine(world, name).metadata.name
        web = {"app": "web"}
        for replica in ("web-0", "web-1"):
            client.create(PODS, pod(namespace, replica, node, labels=web, grace_period=2))
        client.create(
            POD_DISRUPTION_BUDGETS,
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": web}},
            },
        )
        client.create(
            PERSISTENT_VOLUMES,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "csi": {"driver": "fake.csi.example", "volumeHandle": f"vol-{namespace}"},
                },
            },
        )
        client.create(
            PERSISTENT_VOLUME_CLAIMS,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "",
                    "volumeName": pv_name,
                },
            },
        )
        client.create(PODS, pod(namespace, "db-0", node, claim="data", grace_period=2))
        eventually(lambda: pods_running(world, "web-0", "web-1", "db-0"), timeout=10.0)
        eventually(
            lambda: (
                client.get(POD_DISRUPTION_BUDGETS, "web", namespace=namespace)
                .get("status", {})
                .get("disruptionsAllowed")
                == 1
            ),
            timeout=10.0,
        )

        client.delete(MACHINES, name, namespace=namespace)

        eventually(lambda: gone(world, name), timeout=DELETION_TIMEOUT, interval=0.5)
        assert world.driver.vms == {}
        assert world.node(node) is None
        assert client.list(PODS, namespace=namespace).items == []
        blocked = events(world, "DrainBlocked")
        assert blocked, "the budget let one web pod go at a time"
        assert f"PodDisruptionBudget {namespace}/web" in blocked[0]["message"]
        assert events(world, "Drained")
        assert ("get_volume_ids", "") in {(c.method, c.machine) for c in world.driver.calls}
    finally:
        stop_and_clean(world, name)
        with contextlib.suppress(NotFoundError):
            client.delete(PERSISTENT_VOLUMES, pv_name)


@pytest.mark.timeout(90)
def test_a_drain_that_outlasts_the_drain_timeout_is_forced_and_the_machine_deleted(
    client: KubeClient, namespace: str
) -> None:
    world = world_for(client, namespace, machine_drain_timeout=10.0)
    name = f"d-{namespace}"
    try:
        world.start_kubelets()
        world.start_app()
        node = running_machine(world, name).metadata.name
        # The finalizer keeps the pod terminating forever: the drain can never finish by itself.
        client.create(PODS, pod(namespace, "stuck-0", node, finalizers=(HOLD_FINALIZER,)))
        eventually(lambda: pods_running(world, "stuck-0"), timeout=10.0)

        client.delete(MACHINES, name, namespace=namespace)

        eventually(lambda: gone(world, name), timeout=DELETION_TIMEOUT, interval=0.5)
        assert world.driver.vms == {}
        assert world.node(node) is None
        forced = events(world, "ForcedDrain")
        assert forced
        assert "drain timeout of 10s has passed" in forced[0]["message"]
        stuck = Pod.from_dict(client.get(PODS, "stuck-0", namespace=namespace))
        assert stuck.metadata.deleting, "the forced drain deleted it and did not wait"
    finally:
        with contextlib.suppress(NotFoundError):
            client.patch(PODS, "stuck-0", {"metadata": {"finalizers": None}}, namespace=namespace)
        stop_and_clean(world, name)


class GatedDriver(FakeDriver):
    """A FakeDriver whose ``create_machine`` makes the VM, then waits for `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.creating = threading.Event()
        self._gate = threading.Event()

    def create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        response = super().create_machine(request)
        self.creating.set()
        self._gate.wait(30.0)
        return response

    def release(self) -> None:
        self._gate.set()


@pytest.mark.timeout(40)
def test_an_orphan_vm_is_collected_while_a_vm_still_being_created_is_left_alone(
    client: KubeClient, namespace: str
) -> None:
    driver = GatedDriver()
    world = world_for(client, namespace, driver=driver, machine_safety_orphan_vms_period=0.5)
    world.orphan_vm_grace_period = 1.0
    name = f"e-{namespace}"
    try:
        world.start_app()
        client.create(MACHINES, machine(namespace, name))
        assert driver.creating.wait(JOIN_TIMEOUT)
        (creating,) = driver.vms.values()
        ghost = driver.add_orphan_vm(f"ghost-{namespace}", machine_class=CLASS)

        eventually(lambda: ghost.provider_id not in driver.vms, timeout=10.0)
        passes = sum(1 for call in driver.calls if call.method == "list_machines")
        eventually(
            lambda: sum(1 for c in driver.calls if c.method == "list_machines") >= passes + 3,
            timeout=10.0,
        )
        assert creating.provider_id in driver.vms, "the VM in creation survived every pass"
        driver.release()

        pending = world.wait_for_phase(name, MachinePhase.PENDING, timeout=JOIN_TIMEOUT)
        assert pending.spec.provider_id == creating.provider_id
        assert creating.provider_id in driver.vms
        assert MCM_FINALIZER_NAME in pending.metadata.finalizers
        assert events(world, "OrphanVMDeleted")
    finally:
        driver.release()
        stop_and_clean(world, name)

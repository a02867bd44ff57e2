"""Nodes follow the VMs: registration after the join delay, conditions, removal."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mcm.api.constants import NODE_FINALIZER_NAME
from mcm.api.meta import parse_time
from mcm.errors import ServerError
from mcm.kube.resources import NODES
from mcm.testing.kubelet import (
    SIMULATED_BY_ANNOTATION,
    VM,
    KubeletSimulator,
    StaticVMSource,
)
from tests.unit.kubelet.kubelet_builders import conditions, vm

pytestmark = pytest.mark.timeout(10)


def stamp(value: str) -> float:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed.timestamp()


HEALTHY = {
    "MemoryPressure": "False",
    "DiskPressure": "False",
    "PIDPressure": "False",
    "Ready": "True",
}


def test_a_running_vm_joins_as_a_ready_node_with_its_provider_id(api, source, kubelet):
    machine = vm(
        1,
        labels={"node.kubernetes.io/instance-type": "m5.large"},
        addresses=[("InternalIP", "10.0.0.1")],
    )
    source.add(machine)

    kubelet.sync_once()

    node = api.stored(NODES, machine.node_name)
    assert node is not None
    assert node["spec"]["providerID"] == "aws:///eu-west-1/i-00000000000000001"
    assert conditions(node) == HEALTHY
    assert node["metadata"]["labels"] == {
        "kubernetes.io/hostname": machine.node_name,
        "node.kubernetes.io/instance-type": "m5.large",
    }
    assert node["metadata"]["annotations"][SIMULATED_BY_ANNOTATION] == "kubelet-simulator"
    assert node["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.1"}]


def test_a_vm_joins_only_after_the_join_delay_from_when_it_was_first_seen(api, source, clock):
    kubelet = KubeletSimulator(api, source, clock=clock, join_delay=30.0)
    source.add(vm(1))

    kubelet.sync_once()
    clock.step(29.0)
    kubelet.sync_once()
    before = api.stored(NODES, vm(1).node_name)
    clock.step(1.0)
    kubelet.sync_once()

    assert before is None
    assert api.stored(NODES, vm(1).node_name) is not None


def test_stopped_vms_and_vms_without_a_hostname_do_not_join(api, source, kubelet):
    source.add(vm(1, running=False))
    source.add(VM(provider_id="aws:///eu-west-1/i-2", node_name=""))

    kubelet.sync_once()

    assert api.stored_objects(NODES) == []


@pytest.mark.parametrize(
    "vanish",
    [
        pytest.param(lambda source: source.remove(vm(1).provider_id), id="vm-gone-from-source"),
        pytest.param(lambda source: source.set_running(vm(1).provider_id, False), id="vm-stopped"),
    ],
)
def test_the_node_is_removed_when_its_vm_no_longer_runs(api, source, kubelet, vanish):
    source.add(vm(1))
    source.add(vm(2))
    kubelet.sync_once()

    vanish(source)
    kubelet.sync_once()

    assert [n["metadata"]["name"] for n in api.stored_objects(NODES)] == [vm(2).node_name]


def test_a_node_held_by_the_machine_controllers_finalizer_is_deleted_once(
    api, source, kubelet, caplog
):
    source.add(vm(1))
    kubelet.sync_once()
    name = vm(1).node_name
    api.patch(NODES, name, {"metadata": {"finalizers": [NODE_FINALIZER_NAME]}})
    source.remove(vm(1).provider_id)

    with caplog.at_level(logging.INFO, logger="mcm.testing.kubelet"):
        kubelet.sync_once()
        kubelet.sync_once()

    deletes = [a for a in api.actions_for("delete", NODES) if a.name == name]
    assert len(deletes) == 1
    assert api.stored(NODES, name)["metadata"]["deletionTimestamp"]
    assert sum(f"node {name} removed" in r.getMessage() for r in caplog.records) == 1


def test_nodes_the_simulator_did_not_register_are_left_alone(api, source, kubelet):
    api.seed(NODES, {"metadata": {"name": "hand-made"}, "spec": {"providerID": "aws:///x/i-1"}})
    api.seed(NODES, {"metadata": {"name": vm(1).node_name}})
    source.add(vm(1))

    kubelet.sync_once()

    assert api.stored(NODES, "hand-made") is not None
    assert "providerID" not in api.stored(NODES, vm(1).node_name).get("spec", {})
    assert api.actions_for(resource=NODES, reads=False) == []


def test_a_new_vm_with_the_old_hostname_replaces_the_node(api, source, kubelet):
    source.add(vm(1))
    kubelet.sync_once()
    old_uid = api.stored(NODES, vm(1).node_name)["metadata"]["uid"]

    source.remove(vm(1).provider_id)
    source.add(VM(provider_id="aws:///eu-west-1/i-new", node_name=vm(1).node_name))
    kubelet.sync_once()

    node = api.stored(NODES, vm(1).node_name)
    assert node["spec"]["providerID"] == "aws:///eu-west-1/i-new"
    assert node["metadata"]["uid"] != old_uid


def test_a_failing_vm_source_changes_no_node(api, clock):
    class BrokenSource:
        def __init__(self) -> None:
            self.vms: list[VM] | None = [vm(1)]

        def list_vms(self):
            if self.vms is None:
                raise RuntimeError("EC2 is down")
            return self.vms

    broken = BrokenSource()
    kubelet = KubeletSimulator(api, broken, clock=clock)
    kubelet.sync_once()

    broken.vms = None
    kubelet.sync_once()

    assert api.stored(NODES, vm(1).node_name) is not None


def test_a_registration_that_fails_is_retried_on_the_next_pass(api, source, kubelet):
    source.add(vm(1))
    api.fail_next("create", NODES, error=ServerError("etcd timeout", status=500))

    kubelet.sync_once()
    first = api.stored(NODES, vm(1).node_name)
    kubelet.sync_once()

    assert first is None
    assert api.stored(NODES, vm(1).node_name) is not None


# --- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flip", "expected"),
    [
        pytest.param(lambda k, n: k.make_not_ready(n), {"Ready": "False"}, id="not-ready"),
        pytest.param(lambda k, n: k.set_disk_pressure(n), {"DiskPressure": "True"}, id="disk"),
        pytest.param(
            lambda k, n: k.set_readonly_filesystem(n),
            {"ReadonlyFilesystem": "True"},
            id="readonly-filesystem",
        ),
        pytest.param(
            lambda k, n: k.set_condition(n, "KernelDeadlock", "True", reason="Deadlock"),
            {"KernelDeadlock": "True"},
            id="any-condition",
        ),
    ],
)
def test_conditions_flip_on_demand_and_are_written_at_once(api, source, kubelet, flip, expected):
    source.add(vm(1))
    kubelet.sync_once()

    flip(kubelet, vm(1).node_name)

    assert conditions(api.stored(NODES, vm(1).node_name)) == {**HEALTHY, **expected}


def test_make_ready_undoes_make_not_ready_with_a_new_transition_time(api, source, kubelet, clock):
    source.add(vm(1))
    kubelet.sync_once()
    kubelet.make_not_ready(vm(1).node_name)
    clock.step(60.0)

    kubelet.make_ready(vm(1).node_name)

    node = api.stored(NODES, vm(1).node_name)
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert stamp(ready["lastTransitionTime"]) == clock.now()


def test_a_condition_set_before_the_vm_joined_is_reported_at_registration(api, source, kubelet):
    kubelet.set_disk_pressure(vm(1).node_name)
    source.add(vm(1))

    kubelet.sync_once()

    assert conditions(api.stored(NODES, vm(1).node_name))["DiskPressure"] == "True"


def test_conditions_changed_behind_the_kubelets_back_are_restored(api, source, kubelet):
    source.add(vm(1))
    kubelet.sync_once()
    api.patch_status(
        NODES,
        vm(1).node_name,
        {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
    )

    kubelet.sync_once()

    assert conditions(api.stored(NODES, vm(1).node_name)) == HEALTHY


def test_without_a_heartbeat_a_registered_node_is_not_written_again(api, source, kubelet, clock):
    source.add(vm(1))
    kubelet.sync_once()
    api.clear_actions()

    clock.step(3600.0)
    kubelet.sync_once()

    assert api.actions_for(resource=NODES, reads=False) == []


def test_the_heartbeat_refreshes_last_heartbeat_time_every_interval(api, source, clock):
    kubelet = KubeletSimulator(api, source, clock=clock, heartbeat_interval=40.0)
    source.add(vm(1))
    kubelet.sync_once()

    clock.step(39.0)
    kubelet.sync_once()
    early = api.stored(NODES, vm(1).node_name)
    clock.step(1.0)
    kubelet.sync_once()
    late = api.stored(NODES, vm(1).node_name)

    def beats(node: dict[str, Any]) -> set[float]:
        return {stamp(c["lastHeartbeatTime"]) for c in node["status"]["conditions"]}

    assert beats(early) == {clock.now() - 40.0}
    assert beats(late) == {clock.now()}


def test_the_simulator_adopts_its_own_nodes_after_a_restart(api, source, clock):
    source.add(vm(1))
    KubeletSimulator(api, source, clock=clock).sync_once()
    restarted = KubeletSimulator(api, source, clock=clock)

    source.remove(vm(1).provider_id)
    restarted.sync_once()

    assert api.stored_objects(NODES) == []


def test_simulators_with_different_names_manage_only_their_own_nodes(api, clock):
    ours, theirs = StaticVMSource([vm(1)]), StaticVMSource([vm(2)])
    KubeletSimulator(api, theirs, clock=clock, name="other").sync_once()
    kubelet = KubeletSimulator(api, ours, clock=clock)

    kubelet.sync_once()

    assert sorted(n["metadata"]["name"] for n in api.stored_objects(NODES)) == [
        vm(1).node_name,
        vm(2).node_name,
    ]

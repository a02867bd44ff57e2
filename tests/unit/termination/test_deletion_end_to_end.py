"""Deleting a Machine from start to finish, pass after pass, with kubelets simulated.

The termination reconciler is called the way the work queue would call it: again after each
``requeue_after``, with the FakeClock stepped by that much. Between passes the kubelet simulator
(`mcm.testing.kubelet`) finishes terminating pods and keeps PodDisruptionBudget status current, a
stand-in ReplicaSet starts a replacement for every evicted web pod on another node, and `World`
detaches the volumes of pods that left the node and attaches them elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mcm.api.constants import MCM_FINALIZER_NAME, NODE_FINALIZER_NAME
from mcm.controller.runtime import Result
from mcm.driver.fake import FakeDriver
from mcm.kube.resources import (
    MACHINE_CLASSES,
    MACHINES,
    NODES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SECRETS,
    VOLUME_ATTACHMENTS,
)
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.kubelet import VM, KubeletSimulator
from tests.unit.drain.builders import (
    NAMESPACE as POD_NAMESPACE,
)
from tests.unit.drain.builders import (
    OTHER_NODE,
    World,
    attached_name,
    budget,
    pod,
    pod_with_volumes,
)
from tests.unit.termination.builders import (
    CLASS,
    MACHINE,
    NAMESPACE,
    NODE,
    PROVIDER_ID,
    key,
    machine,
    machine_class,
    reconciler,
    secret,
    stored,
    target,
)

pytestmark = pytest.mark.timeout(30)

WEB = [f"web-{i}" for i in range(3)]


class Cloud:
    """The kubelet simulator's VM source: the fake driver's VMs, plus one other node."""

    def __init__(self, driver: FakeDriver) -> None:
        self._driver = driver

    def list_vms(self) -> Sequence[VM]:
        vms = [
            VM(provider_id=vm.provider_id, node_name=vm.node_name)
            for vm in self._driver.vms.values()
        ]
        return [*vms, VM(provider_id="fake:///other", node_name=OTHER_NODE)]


def build(env: ControllerEnv, *, strict_budget: bool = False, **spec: object) -> KubeletSimulator:
    """A running machine on NODE with web pods under a budget, a database pod with a volume, a
    DaemonSet pod and a mirror pod; then the Machine is deleted."""
    api = target(env)
    env.control.seed(SECRETS, secret())
    env.control.seed(MACHINE_CLASSES, machine_class())
    env.driver.add_orphan_vm(MACHINE, machine_class=CLASS, provider_id=PROVIDER_ID, node_name=NODE)
    kubelet = KubeletSimulator(api, Cloud(env.driver), clock=env.clock, grace_period_cap=10)
    kubelet.sync_once()  # both nodes register
    api.patch(NODES, NODE, {"metadata": {"finalizers": [NODE_FINALIZER_NAME]}})
    for name in WEB:
        api.create(PODS, pod(name, grace=30))
    api.create(PODS, pod("logs", owner="DaemonSet", labels={"app": "logs"}))
    api.create(PODS, pod("static", mirror=True, owner=None, labels={"app": "static"}))
    pod_with_volumes(env, "db-0", handles=["vol-db"], labels={"app": "db"}, grace=30)
    api.patch_status(
        NODES, NODE, {"status": {"volumesAttached": [{"name": attached_name("vol-db")}]}}
    )
    if strict_budget:
        api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=0))
    else:
        api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=2))
    kubelet.sync_once()  # pods run, the budget gets its status
    body = machine(phase="Running", description="Machine machine-0 successfully joined the cluster")
    body["metadata"].pop("deletionTimestamp")
    body["spec"].update(spec)
    env.control.seed(MACHINES, body)
    env.control.delete(MACHINES, MACHINE, namespace=NAMESPACE)
    return kubelet


def replace_evicted(env: ControllerEnv, replaced: set[str]) -> None:
    """The ReplicaSet: a replacement on OTHER_NODE for every web pod that left NODE."""
    api = target(env)
    on_node = {
        b["metadata"]["name"] for b in api.stored_objects(PODS) if b["spec"]["nodeName"] == NODE
    }
    for name in WEB:
        if name not in on_node and name not in replaced:
            replaced.add(name)
            api.create(PODS, pod(f"{name}-new", node_name=OTHER_NODE))


def run_deletion(env: ControllerEnv, kubelet: KubeletSimulator, *, passes: int = 2000) -> int:
    """Reconcile until the Machine is gone; returns the number of passes."""
    rec = reconciler(env)
    world = World(env)
    replaced: set[str] = set()
    for count in range(1, passes + 1):
        result = rec.reconcile(key())
        if stored(env) is None:
            return count
        if result == Result():
            assert env.enqueued_on("termination")[-1].delay == 0.0  # "again, at once"
        else:
            assert result.requeue_after is not None
            env.clock.step(result.requeue_after)
        kubelet.sync_once()
        replace_evicted(env, replaced)
        world.detach()
        kubelet.sync_once()
    raise AssertionError(f"machine still there after {passes} passes: {stored(env)}")


def test_deleting_a_machine_drains_its_node_and_leaves_nothing_behind():
    env = ControllerEnv()
    api = target(env)
    kubelet = build(env)
    deleted_at = env.clock.now()

    run_deletion(env, kubelet)

    assert env.driver.vms.get(PROVIDER_ID) is None
    assert api.stored(NODES, NODE) is None
    assert env.control.stored(MACHINES, MACHINE, namespace=NAMESPACE) is None
    # Every workload pod was evicted, web pods one at a time as the budget allowed: the refused
    # evictions were retried; the database pod went at the first try.
    evictions = [a.name for a in api.actions_for("evict", PODS)]
    assert set(evictions) == {*WEB, "db-0"}
    assert evictions.count("db-0") == 1
    assert len(evictions) > len(WEB) + 1
    reasons = env.recorder.reasons_for(key())
    assert reasons[0] == "Terminating"
    assert "DrainBlocked" in reasons
    assert "ForcedDrain" not in reasons
    assert reasons[-4:] == ["Drained", "VMDeleted", "NodeDeleted", "Deleted"]
    # The database's volume moved to the other node before the VM went.
    attachments = api.stored_objects(VOLUME_ATTACHMENTS)
    assert [a["spec"]["nodeName"] for a in attachments] == [OTHER_NODE]
    # The replacements run; the DaemonSet and mirror pods were left alone.
    remaining = {b["metadata"]["name"] for b in api.stored_objects(PODS, namespace=POD_NAMESPACE)}
    assert remaining == {"web-0-new", "web-1-new", "web-2-new", "logs", "static"}
    assert env.driver.calls_for(MACHINE) == ("delete_machine",)
    assert env.clock.now() - deleted_at < 30 * 60


def test_a_drain_that_cannot_finish_is_forced_at_the_drain_timeout():
    env = ControllerEnv()
    api = target(env)
    kubelet = build(env, strict_budget=True, drainTimeout="5m")
    deleted_at = env.clock.now()

    run_deletion(env, kubelet)

    assert env.clock.now() - deleted_at > 5 * 60
    assert env.driver.vms.get(PROVIDER_ID) is None
    assert api.stored(NODES, NODE) is None
    reasons = env.recorder.reasons_for(key())
    assert "DrainFailed" in reasons  # the budget is misconfigured: all healthy, none may go
    assert "ForcedDrain" in reasons
    forced = [a.name for a in api.actions_for("delete", PODS) if a.name in WEB]
    assert sorted(forced) == WEB
    (removal,) = [
        a.patch
        for a in env.control.actions_for("patch", MACHINES)
        if a.subresource == "" and "finalizers" in str(a.patch)
    ]
    assert MCM_FINALIZER_NAME not in str(removal)

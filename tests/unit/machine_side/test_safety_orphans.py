"""Orphan VM collection and unmanaged Nodes (§5.1; acceptance scenarios 52 and 53)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mcm.api.constants import (
    LONG_RETRY,
    MCM_FINALIZER_NAME,
    MEDIUM_RETRY,
    NODE_FINALIZER_NAME,
    NOT_MANAGED_BY_MCM,
    SHORT_RETRY,
)
from mcm.api.meta import ObjectKey
from mcm.controller.runtime import Result
from mcm.controller.safety import (
    ORPHAN_VM_GRACE_PERIOD,
    REASON_ORPHAN_VM_DELETED,
    SAFETY_KEY,
    OrphanVMCollector,
    annotate_nodes_unmanaged_by_mcm,
)
from mcm.driver import Code, DeleteMachineRequest, ListMachinesRequest
from mcm.errors import ServerError
from mcm.kube.resources import MACHINE_CLASSES, MACHINES, NODES, SECRETS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import (
    CLASS,
    NAMESPACE,
    START,
    machine,
    machine_class,
    node,
    secret,
)

PERIOD = 15 * 60.0  # --machine-safety-orphan-vms-period
GRACE = ORPHAN_VM_GRACE_PERIOD
VM = "fake:///vm-1"

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    env = ControllerEnv()
    env.control.seed(
        MACHINE_CLASSES, machine_class(credentials="creds", finalizers=[MCM_FINALIZER_NAME])
    )
    env.control.seed(SECRETS, secret(), secret("creds", data={"accessKey": b"AKIA"}))
    return env


def vms(env: ControllerEnv) -> set[str]:
    return set(env.driver.vms)


def deleted_vms(env: ControllerEnv) -> list[DeleteMachineRequest]:
    return [
        c.request
        for c in env.driver.calls
        if c.method == "delete_machine" and isinstance(c.request, DeleteMachineRequest)
    ]


def collect_twice(env: ControllerEnv, collector: OrphanVMCollector) -> tuple[Result, Result]:
    """A pass, then another once the grace period is over."""
    first = collector.reconcile(SAFETY_KEY)
    env.clock.step(GRACE)
    return first, collector.reconcile(SAFETY_KEY)


@pytest.mark.parametrize(
    ("machines", "deleted"),
    [
        pytest.param([], True, id="machine object not found: VM deleted"),
        pytest.param(
            [machine("machine-1", phase="CrashLoopBackOff")],
            False,
            id="CrashLoopBackOff machine: VM kept",
        ),
        pytest.param([machine("machine-1")], False, id="machine without phase: VM kept"),
        pytest.param(
            [machine("machine-1", phase="Running")],
            True,
            id="Running machine without provider ID: VM deleted",
        ),
        pytest.param(
            [machine("machine-1", phase="Running", provider_id="fake:///other")],
            True,
            id="Running machine with another provider ID: VM deleted",
        ),
        pytest.param(
            [machine("machine-1", phase="Running", provider_id=VM)],
            False,
            id="Running machine backed by the VM: VM kept",
        ),
        pytest.param(
            [machine("machine-1", phase="Failed", provider_id=VM)],
            False,
            id="Failed machine backed by the VM: VM kept",
        ),
    ],
)
def test_orphan_vms_are_deleted_and_owned_ones_kept(
    env: ControllerEnv, machines: Sequence[Mapping[str, Any]], deleted: bool
) -> None:
    """Scenario 52."""
    env.control.seed(MACHINES, *machines)
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)

    collect_twice(env, OrphanVMCollector(env.context))

    assert (VM not in vms(env)) is deleted


def test_an_orphan_vm_is_deleted_only_once_it_has_been_orphaned_for_the_grace_period(
    env: ControllerEnv,
) -> None:
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)
    collector = OrphanVMCollector(env.context)

    first = collector.reconcile(SAFETY_KEY)
    env.clock.step(GRACE - 1)
    second = collector.reconcile(SAFETY_KEY)

    assert vms(env) == {VM}
    assert first == Result(requeue_after=GRACE)  # the check comes back when the grace ends
    assert second == Result(requeue_after=1.0)

    env.clock.step(1)
    third = collector.reconcile(SAFETY_KEY)

    assert vms(env) == set()
    assert third == Result(requeue_after=PERIOD)
    [request] = deleted_vms(env)
    assert request.machine.metadata.name == "machine-1"
    assert request.machine.metadata.namespace == NAMESPACE
    assert request.machine.spec.provider_id == VM
    assert request.machine_class.metadata.name == CLASS
    assert env.recorder.reasons_for(ObjectKey(NAMESPACE, CLASS)) == [REASON_ORPHAN_VM_DELETED]


def test_an_orphan_vm_is_collected_while_a_vm_still_being_created_is_left_alone(
    env: ControllerEnv,
) -> None:
    # A Failed machine without provider ID re-enters the creation flow; its new VM exists before
    # the flow has stored the provider ID.
    env.control.seed(MACHINES, machine("creating", phase="Failed"))
    env.context.pending_creations.add(ObjectKey(NAMESPACE, "creating"))
    env.driver.add_orphan_vm("creating", machine_class=CLASS, provider_id="fake:///creating")
    env.driver.add_orphan_vm("gone", machine_class=CLASS, provider_id="fake:///gone")

    collect_twice(env, OrphanVMCollector(env.context))

    assert vms(env) == {"fake:///creating"}
    assert [r.machine.metadata.name for r in deleted_vms(env)] == ["gone"]


def test_a_vm_whose_machine_appears_meanwhile_is_kept_and_its_grace_starts_afresh(
    env: ControllerEnv,
) -> None:
    """The first pass read a machine cache that had not caught up: the VM was not orphaned."""
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)
    collector = OrphanVMCollector(env.context)
    collector.reconcile(SAFETY_KEY)
    env.control.seed(MACHINES, machine("machine-1", phase="Pending", provider_id=VM))

    env.clock.step(GRACE)
    collector.reconcile(SAFETY_KEY)
    assert vms(env) == {VM}

    env.control.delete(MACHINES, "machine-1", namespace=NAMESPACE)  # e.g. finalizer removed
    env.clock.step(GRACE)
    collector.reconcile(SAFETY_KEY)
    assert vms(env) == {VM}  # orphaned only since this pass

    env.clock.step(GRACE)
    collector.reconcile(SAFETY_KEY)
    assert vms(env) == set()


def test_the_driver_gets_the_classes_merged_secrets(env: ControllerEnv) -> None:
    OrphanVMCollector(env.context).reconcile(SAFETY_KEY)

    [call] = env.driver.calls
    assert isinstance(call.request, ListMachinesRequest)
    assert sorted(call.request.secret.data) == ["accessKey", "userData"]


def test_nothing_is_collected_while_the_controller_is_frozen(env: ControllerEnv) -> None:
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)
    collector = OrphanVMCollector(env.context)
    collector.reconcile(SAFETY_KEY)
    env.context.safety.set_frozen(True)
    env.driver.clear_calls()

    env.clock.step(GRACE)
    result = collector.reconcile(SAFETY_KEY)

    assert env.driver.calls == ()
    assert vms(env) == {VM}
    assert result == Result(requeue_after=60.0)  # the API-server check period


def test_nothing_is_collected_before_the_machine_cache_has_synced(env: ControllerEnv) -> None:
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)

    result = OrphanVMCollector(env.context, machines_synced=lambda: False).reconcile(SAFETY_KEY)

    assert env.driver.calls == ()
    assert result == Result(requeue_after=SHORT_RETRY)


def test_a_failing_vm_listing_aborts_the_class_loop_but_nodes_are_still_checked(
    env: ControllerEnv,
) -> None:
    assert env.target is not None
    env.control.seed(MACHINE_CLASSES, machine_class("class-2"))
    env.target.seed(NODES, node(created=START - datetime.timedelta(minutes=21)))
    env.driver.fail_next("list_machines", Code.UNAVAILABLE)

    result = OrphanVMCollector(env.context).reconcile(SAFETY_KEY)

    assert [c.method for c in env.driver.calls] == ["list_machines"]
    assert result == Result(requeue_after=LONG_RETRY)
    stored = env.target.stored(NODES, "node-1")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {NOT_MANAGED_BY_MCM: "1"}


def test_a_driver_that_cannot_list_vms_has_no_orphan_collection(env: ControllerEnv) -> None:
    env.driver.unimplemented.add("list_machines")

    result = OrphanVMCollector(env.context).reconcile(SAFETY_KEY)

    assert result == Result(requeue_after=PERIOD)


def test_a_failed_vm_deletion_is_retried_by_the_next_pass(env: ControllerEnv) -> None:
    env.driver.add_orphan_vm("machine-1", machine_class=CLASS, provider_id=VM)
    env.driver.fail_next("delete_machine", Code.INTERNAL)
    collector = OrphanVMCollector(env.context)

    _, second = collect_twice(env, collector)
    assert vms(env) == {VM}
    assert second == Result(requeue_after=PERIOD)

    collector.reconcile(SAFETY_KEY)  # the next regular pass: no new grace period
    assert vms(env) == set()


def test_vms_of_other_classes_are_not_collected_through_this_class(env: ControllerEnv) -> None:
    env.driver.add_orphan_vm("machine-1", machine_class="unknown-class", provider_id=VM)

    collect_twice(env, OrphanVMCollector(env.context))

    assert vms(env) == {VM}


# ---------------------------------------------------------------------------- unmanaged Nodes


def minutes_old(minutes: float) -> datetime.datetime:
    return START - datetime.timedelta(minutes=minutes)


def stored_node(env: ControllerEnv, name: str) -> dict[str, Any]:
    assert env.target is not None
    stored = env.target.stored(NODES, name)
    assert stored is not None
    return stored


def seed_upstream_world(env: ControllerEnv, node0: Mapping[str, Any], *, claimed: bool) -> None:
    """Upstream's fixture: node-0 under test, node-1 with one machine, node-2 with two."""
    assert env.target is not None
    machines = [
        machine("machine-1", node="node-1", phase="Running"),
        machine("machine-2", node="node-2", phase="Running"),
        machine("machine-3", node="node-2", phase="Running"),
    ]
    if claimed:
        machines.append(machine("machine-0", node="node-0", phase="Running"))
    env.control.seed(MACHINES, *machines)
    anno = {"anno1": "value1"}
    old = minutes_old(60)
    env.target.seed(
        NODES,
        node0,
        node("node-1", annotations=anno, created=old),
        node("node-2", annotations=anno, created=old),
    )


@pytest.mark.parametrize(
    ("node0", "claimed", "annotations", "finalizers"),
    [
        pytest.param(
            node("node-0", annotations={"anno1": "value1"}, created=minutes_old(21)),
            False,
            {"anno1": "value1", NOT_MANAGED_BY_MCM: "1"},
            [],
            id="orphan node older than the creation timeout (21m): annotated",
        ),
        pytest.param(
            node("node-0", annotations={"anno1": "value1"}, created=minutes_old(19)),
            False,
            {"anno1": "value1"},
            [],
            id="orphan node younger than the creation timeout (19m): left alone",
        ),
        pytest.param(
            node(
                "node-0",
                annotations={"anno1": "value1", NOT_MANAGED_BY_MCM: "1"},
                created=minutes_old(21),
            ),
            False,
            {"anno1": "value1", NOT_MANAGED_BY_MCM: "1"},
            [],
            id="already annotated",
        ),
        pytest.param(
            node(
                "node-0",
                annotations={"anno1": "value1"},
                finalizers=[NODE_FINALIZER_NAME],
                created=minutes_old(21),
            ),
            False,
            {"anno1": "value1", NOT_MANAGED_BY_MCM: "1"},
            [],
            id="orphan node annotated and its finalizer removed",
        ),
        pytest.param(
            node(
                "node-0",
                annotations={"anno1": "value1", NOT_MANAGED_BY_MCM: "1"},
                created=minutes_old(21),
            ),
            True,
            {"anno1": "value1"},
            [],
            id="node wrongly annotated while a machine claims it: annotation removed",
        ),
    ],
)
def test_nodes_no_machine_claims_are_marked_not_managed_by_mcm(
    env: ControllerEnv,
    node0: Mapping[str, Any],
    claimed: bool,
    annotations: dict[str, str],
    finalizers: list[str],
) -> None:
    """Scenario 53; node-1 (one machine) and node-2 (two machines) are never touched."""
    seed_upstream_world(env, node0, claimed=claimed)

    annotate_nodes_unmanaged_by_mcm(env.context)

    assert stored_node(env, "node-0")["metadata"].get("annotations") == annotations
    assert stored_node(env, "node-0")["metadata"].get("finalizers", []) == finalizers
    for other in ("node-1", "node-2"):
        assert stored_node(env, other)["metadata"]["annotations"] == {"anno1": "value1"}


def test_an_already_annotated_node_is_not_written(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(annotations={NOT_MANAGED_BY_MCM: "1"}, created=minutes_old(21)))

    annotate_nodes_unmanaged_by_mcm(env.context)

    assert env.target.actions_for(resource=NODES, reads=False) == []


def test_a_young_orphan_node_is_checked_again_when_it_comes_of_age(env: ControllerEnv) -> None:
    assert env.target is not None
    env.target.seed(NODES, node(created=minutes_old(19)))

    assert annotate_nodes_unmanaged_by_mcm(env.context) == pytest.approx(60.0)
    result = OrphanVMCollector(env.context).reconcile(SAFETY_KEY)
    assert result.requeue_after == pytest.approx(60.0)


def test_a_failed_node_write_retries_after_the_medium_period_and_spares_the_other_nodes(
    env: ControllerEnv,
) -> None:
    assert env.target is not None
    env.target.seed(
        NODES, node("node-a", created=minutes_old(30)), node("node-b", created=minutes_old(30))
    )
    env.target.fail_next("patch", NODES, name="node-a", error=ServerError("boom", status=500))

    assert annotate_nodes_unmanaged_by_mcm(env.context) == MEDIUM_RETRY

    assert NOT_MANAGED_BY_MCM not in stored_node(env, "node-a")["metadata"].get("annotations", {})
    assert stored_node(env, "node-b")["metadata"]["annotations"] == {NOT_MANAGED_BY_MCM: "1"}


def test_without_a_target_cluster_no_node_is_marked() -> None:
    env = ControllerEnv(target=False)

    assert annotate_nodes_unmanaged_by_mcm(env.context) is None

"""The health check (spec §3.4; acceptance scenarios 1-10)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mcm.api.constants import (
    CONFLICT_RETRY,
    LONG_RETRY,
    MACHINE_JOIN_DURATION,
    MACHINE_PRIORITY,
    SHORT_RETRY,
)
from mcm.api.core import Node
from mcm.api.machine import Machine, MachineOperationType, MachinePhase, MachineState
from mcm.controller.bootstrap import bootstrap_token_secret_name
from mcm.controller.health import (
    Permits,
    format_conditions,
    has_critical_components_not_ready_taint,
    is_healthy,
)
from mcm.controller.machine import MachineReconciler
from mcm.controller.metrics import MachineMetrics
from mcm.controller.runtime import Result
from mcm.errors import ConflictError
from mcm.kube import resources
from mcm.options import DEFAULT_NODE_CONDITIONS
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import Verb
from tests.unit.machine.builders import (
    MINUTE,
    NAMESPACE,
    ago,
    condition,
    env_with_class,
    healthy_conditions,
    key,
    machine,
    node,
    reconciler,
    stored_machine,
    taint,
    target,
)

CREATE_OP = {
    "description": "Creating machine on cloud provider",
    "state": "Processing",
    "type": "Create",
    "lastUpdateTime": ago(0),
}


def created_machine(name: str = "machine-0", **kwargs: Any) -> dict[str, Any]:
    """A machine past its creation flow: provider ID, node label, priority annotation."""
    kwargs.setdefault("provider_id", f"fake:///{name}")
    kwargs.setdefault("node", name)
    annotations = {MACHINE_PRIORITY: "3", **kwargs.pop("annotations", {})}
    return machine(name, annotations=annotations, **kwargs)


def seeded(
    machines: Sequence[dict[str, Any]], nodes: Sequence[dict[str, Any]] = (), **options: Any
) -> ControllerEnv:
    """An env with *machines* and *nodes*; nodes already carry what node sync would write."""
    env = env_with_class(**options)
    for body in machines:
        env.control.seed(resources.MACHINES, body)
    for body in nodes:
        meta = body["metadata"]
        meta["labels"].setdefault("node.gardener.cloud/machine-name", meta["name"])
        meta.setdefault("annotations", {}).setdefault(
            "node.machine.sapcloud.io/last-applied-anno-labels-taints", "{}"
        )
        target(env).seed(resources.NODES, body)
    return env


def not_ready() -> list[dict[str, Any]]:
    return [condition("Ready", "False"), condition("DiskPressure", "False")]


# ------------------------------------------------------------------------------- predicates


def _machine_with(conditions: list[dict[str, Any]]) -> Machine:
    return Machine.from_dict(machine(conditions=conditions))


@pytest.mark.parametrize(
    ("conditions", "healthy"),
    [
        pytest.param([condition("Ready", "True")], True, id="ready-true"),
        pytest.param([condition("Ready", "False")], False, id="ready-false"),
        pytest.param([condition("Ready", "Unknown")], False, id="ready-unknown"),
        pytest.param(
            [condition("Ready", "True"), condition("DiskPressure", "True")], False, id="disk-true"
        ),
        pytest.param(
            [condition("Ready", "True"), condition("DiskPressure", "Unknown")],
            False,
            id="disk-unknown",
        ),
        pytest.param(
            [condition("Ready", "True"), condition("DiskPressure", "False")], True, id="disk-false"
        ),
        pytest.param(
            [condition("Ready", "True"), condition("MemoryPressure", "True")],
            True,
            id="memory-pressure-ignored",
        ),
        pytest.param(
            [condition("Ready", "True"), condition("MemoryPressure", "Unknown")],
            True,
            id="memory-pressure-unknown-ignored",
        ),
        pytest.param(
            [condition("Ready", "True"), condition("NetworkUnavailable", "True")],
            False,
            id="network-unavailable-true",
        ),
        pytest.param(
            [condition("Ready", "True"), condition("NetworkUnavailable", "Unknown")],
            False,
            id="network-unavailable-unknown",
        ),
        pytest.param([condition("DiskPressure", "False")], True, id="no-ready-condition"),
        pytest.param([], False, id="no-conditions"),
    ],
)
def test_is_healthy_follows_ready_and_the_configured_conditions(conditions, healthy) -> None:
    assert is_healthy(_machine_with(conditions), DEFAULT_NODE_CONDITIONS) is healthy


def test_is_healthy_uses_only_the_listed_conditions() -> None:
    memory = _machine_with([condition("Ready", "True"), condition("MemoryPressure", "True")])

    assert is_healthy(memory, ("MemoryPressure",)) is False
    assert is_healthy(memory, ("memorypressure",)) is True  # case-sensitive


@pytest.mark.parametrize(
    ("taints", "present"),
    [
        pytest.param([], False, id="none"),
        pytest.param([taint("some-other-key")], False, id="unrelated"),
        pytest.param(
            [taint("node.gardener.cloud/critical-components-not-ready", "NoExecute")],
            False,
            id="gardener-key-other-effect",
        ),
        pytest.param(
            [taint("node.gardener.cloud/critical-components-not-ready")], True, id="gardener"
        ),
        pytest.param(
            [taint("a"), taint("node.gardener.cloud/critical-components-not-ready")],
            True,
            id="among-others",
        ),
    ],
)
def test_critical_components_not_ready_taint_is_detected(taints, present) -> None:
    assert has_critical_components_not_ready_taint(Node.from_dict(node(taints=taints))) is present


def test_conditions_are_formatted_like_go() -> None:
    conditions = Machine.from_dict(
        machine(conditions=[condition("Ready", "False", reason="KubeletNotReady", message="m")])
    ).status.conditions

    assert format_conditions(conditions) == (
        "[{Type:Ready Status:False LastHeartbeatTime:2023-11-14 22:13:20 +0000 UTC"
        " LastTransitionTime:2023-11-14 22:13:20 +0000 UTC Reason:KubeletNotReady Message:m}]"
    )


# ----------------------------------------------------------------------------- transitions


def test_pending_machine_is_marked_failed_when_the_creation_timeout_passed() -> None:
    registry = CollectorRegistry()
    env = seeded(
        [
            created_machine(
                phase="Pending",
                created=21 * MINUTE,
                last_update=1 * MINUTE,  # recent: the timeout counts from creation
                conditions=not_ready(),
                last_operation=CREATE_OP,
                labels={"name": "md-1"},
            )
        ],
        [node(conditions=not_ready())],
    )

    result = reconciler(env, metrics=MachineMetrics(registry)).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.FAILED
    assert stored.status.last_operation.description == (
        "Machine machine-0 failed to join the cluster in 20m0s minutes."
    )
    assert stored.status.last_operation.state is MachineState.FAILED
    assert stored.status.last_operation.type is MachineOperationType.CREATE
    assert result.requeue_after == SHORT_RETRY
    assert (
        registry.get_sample_value(
            "mcm_machine_num_failed_join_total",
            {
                "namespace": NAMESPACE,
                "machine_deployment": "md-1",
                "instance_type": "",
                "zone": "",
            },
        )
        == 1.0
    )
    assert env.recorder.reasons_for(key("machine-0")) == ["MachineJoinTimedOut"]


def test_pending_machine_within_its_creation_timeout_requeues_at_the_deadline() -> None:
    env = seeded(
        [created_machine(phase="Pending", created=15 * MINUTE, conditions=not_ready())],
        [node(conditions=not_ready())],
    )
    env.control.clear_actions()

    result = reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.PENDING
    assert result.requeue_after == pytest.approx(5 * MINUTE)
    assert env.control.actions_for(resource=resources.MACHINES, reads=False) == []


def test_pending_machine_reaching_the_deadline_fails_on_the_requeue() -> None:
    env = seeded(
        [created_machine(phase="Pending", created=15 * MINUTE, conditions=not_ready())],
        [node(conditions=not_ready())],
    )
    rec = reconciler(env)
    delay = rec.reconcile(key("machine-0")).requeue_after
    assert delay is not None

    env.clock.step(delay)
    rec.reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.FAILED


def test_pending_machine_without_node_fails_after_the_creation_timeout() -> None:
    env = seeded([created_machine(phase="Pending", created=21 * MINUTE)])

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.FAILED


def test_effective_creation_timeout_annotation_overrides_the_spec() -> None:
    env = seeded(
        [
            created_machine(
                phase="Pending",
                created=6 * MINUTE,
                conditions=not_ready(),
                annotations={"node.machine.sapcloud.io/effective-creation-timeout": "5m"},
                spec={"creationTimeout": "30m"},
            )
        ],
        [node(conditions=not_ready())],
    )

    reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.FAILED
    assert "in 5m0s minutes" in stored.status.last_operation.description


def test_unknown_machine_that_is_healthy_again_rejoins_as_running() -> None:
    env = seeded(
        [
            created_machine(
                phase="Unknown",
                conditions=healthy_conditions(),
                last_operation={"type": "HealthCheck", "state": "Processing"},
                preserve_expiry="2030-01-01T00:00:00Z",
            )
        ],
        [node()],
    )

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.RUNNING
    assert stored.status.last_operation.description == (
        "Machine machine-0 successfully re-joined the cluster"
    )
    assert stored.status.last_operation.type is MachineOperationType.HEALTH_CHECK
    assert stored.status.last_operation.state is MachineState.SUCCESSFUL
    assert stored.status.current_status.preserve_expiry_time is not None
    assert result.requeue_after == SHORT_RETRY


@pytest.mark.parametrize(
    "node_conditions",
    [
        pytest.param([condition("Ready", "Unknown")], id="kubelet-stopped-posting"),
        pytest.param(
            [condition("Ready", "True"), condition("KernelDeadlock", "True")],
            id="listed-condition-true",
        ),
    ],
)
def test_running_machine_that_turns_unhealthy_becomes_unknown(node_conditions) -> None:
    env = seeded(
        [created_machine(phase="Running", conditions=healthy_conditions())],
        [node(conditions=node_conditions)],
    )

    reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.UNKNOWN
    assert stored.status.last_operation.description.startswith(
        "Machine machine-0 is unhealthy - changing MachinePhase to Unknown."
        " Node conditions: [{Type:"
    )
    assert stored.status.last_operation.state is MachineState.PROCESSING
    assert stored.status.last_operation.type is MachineOperationType.HEALTH_CHECK
    assert [c.type for c in stored.status.conditions] == [c["type"] for c in node_conditions]


def test_running_machine_whose_node_disappears_becomes_unknown() -> None:
    env = seeded([created_machine(phase="Running", conditions=healthy_conditions())])

    reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.UNKNOWN
    assert stored.status.last_operation.description == (
        "Node object went missing. Machine machine-0 is unhealthy"
        " - changing MachinePhase to Unknown"
    )


@pytest.mark.parametrize(
    "with_node", [pytest.param(True, id="node"), pytest.param(False, id="no-node")]
)
def test_unknown_machine_past_the_health_timeout_is_marked_failed(with_node) -> None:
    env = seeded(
        [
            created_machine(
                phase="Unknown",
                last_update=11 * MINUTE,
                conditions=not_ready(),
                last_operation={"type": "HealthCheck", "state": "Processing"},
            )
        ],
        [node(conditions=not_ready())] if with_node else [],
    )

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.FAILED
    assert stored.status.last_operation.description.startswith(
        "Machine machine-0 health checks failing since last 10m0s minutes. Updating machine"
        " phase to Failed. Node Conditions: [{Type:Ready Status:False"
    )
    assert stored.status.last_operation.type is MachineOperationType.HEALTH_CHECK
    assert result.requeue_after == SHORT_RETRY
    assert env.recorder.reasons_for(key("machine-0")) == ["MachineHealthCheckFailed"]


def test_unknown_machine_with_health_timeout_disabled_stays_unknown() -> None:
    env = seeded(
        [
            created_machine(
                phase="Unknown",
                last_update=60 * MINUTE,
                conditions=not_ready(),
                spec={"disableHealthTimeout": True},
            )
        ],
        [node(conditions=not_ready())],
    )

    result = reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.UNKNOWN
    assert result.requeue_after == LONG_RETRY


def test_unknown_machine_requeues_at_its_health_deadline() -> None:
    env = seeded(
        [created_machine(phase="Unknown", last_update=4 * MINUTE, conditions=not_ready())],
        [node(conditions=not_ready())],
    )

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == pytest.approx(6 * MINUTE)


def test_health_timeout_of_the_machine_spec_overrides_the_flag() -> None:
    env = seeded(
        [
            created_machine(
                phase="Unknown",
                last_update=3 * MINUTE,
                conditions=not_ready(),
                spec={"healthTimeout": "2m"},
            )
        ],
        [node(conditions=not_ready())],
    )

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.FAILED


def test_pending_healthy_machine_with_critical_components_taint_stays_pending() -> None:
    env = seeded(
        [created_machine(phase="Pending", conditions=healthy_conditions())],
        [node(taints=[taint("node.gardener.cloud/critical-components-not-ready")])],
    )

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.PENDING


def test_pending_healthy_machine_joins_as_running() -> None:
    registry = CollectorRegistry()
    env = seeded(
        [
            created_machine(
                phase="Pending",
                created=3 * MINUTE,
                conditions=healthy_conditions(),
                last_operation=CREATE_OP,
                labels={"name": "md-1"},
            )
        ],
        [node()],
    )
    target(env).seed(
        resources.SECRETS,
        {
            "metadata": {
                "name": bootstrap_token_secret_name("machine-0"),
                "namespace": "kube-system",
            }
        },
    )

    reconciler(env, metrics=MachineMetrics(registry)).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.RUNNING
    assert stored.status.last_operation.description == (
        "Machine machine-0 successfully joined the cluster in 3m0s"
    )
    assert stored.status.last_operation.type is MachineOperationType.CREATE
    assert stored.status.last_operation.state is MachineState.SUCCESSFUL
    assert stored.metadata.annotations[MACHINE_JOIN_DURATION] == "3m0s"
    assert (
        target(env).stored(
            resources.SECRETS, bootstrap_token_secret_name("machine-0"), namespace="kube-system"
        )
        is None
    )
    assert (
        registry.get_sample_value(
            "mcm_machine_join_duration_seconds",
            {
                "namespace": NAMESPACE,
                "machine_deployment": "md-1",
                "instance_type": "",
                "zone": "",
            },
        )
        == 180.0
    )
    assert env.recorder.reasons_for(key("machine-0")) == ["MachineJoined"]


def test_unknown_healthy_machine_runs_regardless_of_the_critical_components_taint() -> None:
    env = seeded(
        [created_machine(phase="Unknown", conditions=healthy_conditions())],
        [node(taints=[taint("node.gardener.cloud/critical-components-not-ready")])],
    )

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.RUNNING


def test_changed_node_conditions_are_copied_to_the_machine() -> None:
    conditions = [*healthy_conditions(), condition("MemoryPressure", "True")]
    env = seeded(
        [created_machine(phase="Running", conditions=healthy_conditions())],
        [node(conditions=conditions)],
    )

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.RUNNING
    assert [(c.type, c.status) for c in stored.status.conditions] == [
        (c["type"], c["status"]) for c in conditions
    ]
    assert result.requeue_after == SHORT_RETRY


def test_status_conflict_requeues_after_the_conflict_retry() -> None:
    env = seeded(
        [created_machine(phase="Running", conditions=healthy_conditions())],
        [node(conditions=[condition("Ready", "False")])],
    )
    env.control.fail_next(
        Verb.PATCH, resources.MACHINES, error=ConflictError("stale"), subresource="status"
    )

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == CONFLICT_RETRY
    assert stored_machine(env).phase is MachinePhase.RUNNING


def test_infra_only_machines_get_no_health_check() -> None:
    env = env_with_class(target=False)
    env.control.seed(resources.MACHINES, created_machine(phase="Available", node=None))

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == LONG_RETRY
    assert stored_machine(env).phase is MachinePhase.AVAILABLE


# ------------------------------------------------------------------------------- in-place


def test_in_place_updating_machine_past_its_timeout_fails_the_update() -> None:
    env = seeded(
        [
            created_machine(
                phase="InPlaceUpdating", last_update=21 * MINUTE, conditions=healthy_conditions()
            )
        ],
        [node()],
    )

    reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is MachinePhase.IN_PLACE_UPDATE_FAILED
    assert stored.status.last_operation.description == (
        "Machine machine-0 failed to in-place update in 20m0s minutes."
    )


@pytest.mark.parametrize(
    ("result", "phase"),
    [
        pytest.param("successful", MachinePhase.IN_PLACE_UPDATE_SUCCESSFUL, id="successful"),
        pytest.param("failed", MachinePhase.IN_PLACE_UPDATE_FAILED, id="failed"),
    ],
)
def test_in_place_update_result_label_moves_the_phase(result, phase) -> None:
    env = seeded(
        [created_machine(phase="InPlaceUpdating", conditions=healthy_conditions())],
        [
            node(
                labels={"node.machine.sapcloud.io/update-result": result},
                annotations={"node.machine.sapcloud.io/update-failed-reason": "disk full"},
            )
        ],
    )

    reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert stored.phase is phase
    if result == "failed":
        assert stored.status.last_operation.description == (
            "Machine machine-0 failed to update dependencies: disk full"
        )


def test_in_place_update_failed_machine_past_the_health_timeout_is_failed() -> None:
    env = seeded(
        [
            created_machine(
                phase="InPlaceUpdateFailed",
                last_update=11 * MINUTE,
                conditions=healthy_conditions(),
                labels={"name": "md-1"},
            )
        ],
        [node()],
    )

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.FAILED


# ------------------------------------------------------------------------------ meltdown


def timed_out_unknown(name: str, deployment: str = "md-1") -> dict[str, Any]:
    return created_machine(
        name,
        phase="Unknown",
        last_update=11 * MINUTE,
        labels={"name": deployment},
        conditions=not_ready(),
    )


def other_machine(
    name: str, phase: str | None, deployment: str = "md-1", **kwargs: Any
) -> dict[str, Any]:
    return created_machine(
        name,
        phase=phase,
        labels={"name": deployment},
        conditions=healthy_conditions(),
        **kwargs,
    )


def test_timed_out_machines_of_different_deployments_are_both_failed() -> None:
    env = seeded([timed_out_unknown("a", "md-1"), timed_out_unknown("b", "md-2")])
    rec = reconciler(env)

    rec.reconcile(key("a"))
    rec.reconcile(key("b"))

    assert stored_machine(env, "a").phase is MachinePhase.FAILED
    assert stored_machine(env, "b").phase is MachinePhase.FAILED


@pytest.mark.parametrize(
    ("phase", "marked"),
    [
        pytest.param("Unknown", True, id="other-unknown"),
        pytest.param("Running", True, id="other-running"),
        pytest.param("Failed", False, id="other-failed"),
        pytest.param("Terminating", False, id="other-terminating"),
        pytest.param(None, False, id="other-no-phase"),
        pytest.param("Pending", False, id="other-pending"),
        pytest.param("CrashLoopBackOff", False, id="other-crash-looping"),
    ],
)
def test_meltdown_protection_allows_one_replacement_per_deployment(phase, marked) -> None:
    env = seeded([timed_out_unknown("a"), other_machine("b", phase)])

    result = reconciler(env).reconcile(key("a"))

    assert (stored_machine(env, "a").phase is MachinePhase.FAILED) is marked
    assert result.requeue_after == SHORT_RETRY
    if not marked:
        assert stored_machine(env, "a").phase is MachinePhase.UNKNOWN


def test_meltdown_protection_counts_machines_of_other_machine_sets_of_the_deployment() -> None:
    env = seeded(
        [
            timed_out_unknown("a"),
            other_machine(
                "b", "Pending", spec={"class": {"kind": "MachineClass", "name": "class-1"}}
            ),
        ]
    )
    env.control.seed(
        resources.MACHINES,
        {
            **other_machine("c", "Failed"),
            "metadata": {
                **other_machine("c", "Failed")["metadata"],
                "labels": {"name": "md-1", "machine-template-hash": "other"},
            },
        },
    )

    reconciler(env).reconcile(key("a"))

    assert stored_machine(env, "a").phase is MachinePhase.UNKNOWN


def test_preserved_failed_machines_do_not_block_a_replacement() -> None:
    env = seeded(
        [
            timed_out_unknown("a"),
            other_machine("b", "Failed", preserve_expiry="2030-01-01T00:00:00Z"),
        ]
    )

    reconciler(env).reconcile(key("a"))

    assert stored_machine(env, "a").phase is MachinePhase.FAILED


def test_second_timed_out_machine_waits_while_the_first_is_replaced() -> None:
    env = seeded([timed_out_unknown("a"), timed_out_unknown("b")])
    rec = reconciler(env)

    rec.reconcile(key("a"))
    rec.reconcile(key("b"))

    assert stored_machine(env, "a").phase is MachinePhase.FAILED
    assert stored_machine(env, "b").phase is MachinePhase.UNKNOWN


def test_a_mark_not_yet_seen_by_the_cache_still_counts() -> None:
    env = seeded([timed_out_unknown("a"), timed_out_unknown("b")])
    rec = reconciler(env)
    rec.reconcile(key("a"))
    env.control.seed(resources.MACHINES, timed_out_unknown("a"))  # the cache still says Unknown

    rec.reconcile(key("b"))

    assert stored_machine(env, "b").phase is MachinePhase.UNKNOWN


@pytest.mark.timeout(10)
def test_lock_acquisition_timeout_ends_the_pass_with_an_error() -> None:
    env = seeded([timed_out_unknown("a")])
    permits = Permits(env.clock)
    rec = MachineReconciler(
        env.context, permits=permits, metrics=MachineMetrics(CollectorRegistry())
    )
    assert permits.try_acquire("md-1", 0.0)  # someone else holds the deployment's permit
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(rec.reconcile(key("a"))))

    worker.start()
    assert env.clock.wait_for_waiters(1)
    env.clock.step(1.0)
    worker.join(5)

    assert not worker.is_alive()
    assert results[0].requeue_after == SHORT_RETRY
    assert stored_machine(env, "a").phase is MachinePhase.UNKNOWN
    permits.release("md-1")


@pytest.mark.timeout(10)
def test_a_released_permit_wakes_a_waiting_health_check() -> None:
    env = seeded([timed_out_unknown("a")])
    permits = Permits(env.clock)
    rec = MachineReconciler(
        env.context, permits=permits, metrics=MachineMetrics(CollectorRegistry())
    )
    assert permits.try_acquire("md-1", 0.0)
    worker = threading.Thread(target=lambda: rec.reconcile(key("a")))

    worker.start()
    assert env.clock.wait_for_waiters(1)
    permits.release("md-1")
    worker.join(5)

    assert stored_machine(env, "a").phase is MachinePhase.FAILED


def test_permits_unused_for_an_hour_are_forgotten() -> None:
    env = env_with_class()
    permits = Permits(env.clock)
    assert permits.try_acquire("md-1", 0.0)
    permits.release("md-1")
    permits.remember_mark("md-1", "a")

    env.clock.step(3601)
    permits.try_acquire("md-2", 0.0)

    assert permits.recent_marks("md-1") == set()
    assert not permits.held("md-1")

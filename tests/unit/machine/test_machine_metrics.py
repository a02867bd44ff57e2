"""The mcm_machine_* series (§6 metrics table)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.controller.metrics import MachineCollector, MachineMetrics, whole_seconds
from mcm.kube import resources
from tests.unit.machine.builders import (
    NAMESPACE,
    condition,
    env_with_class,
    machine,
    machine_class,
    node_template,
)


@pytest.mark.parametrize(
    ("seconds", "rounded"), [(1.4, 1.0), (1.5, 2.0), (2.5, 3.0), (0.49, 0.0), (90.0, 90.0)]
)
def test_durations_are_rounded_half_away_from_zero(seconds, rounded) -> None:
    assert whole_seconds(seconds) == rounded


def test_durations_carry_deployment_and_placement_labels() -> None:
    registry = CollectorRegistry()
    metrics = MachineMetrics(registry)
    m = Machine.from_dict(
        machine(
            labels={"name": "md-1"},
            spec={"nodeTemplate": {"metadata": {"labels": {"topology.kubernetes.io/zone": "z1"}}}},
        )
    )
    cls = MachineClass.from_dict(machine_class(node_template=node_template()))

    metrics.record_durations(m, cls, create=12.4, delete=3.0, drain=7.6)

    placed = {
        "namespace": NAMESPACE,
        "machine_deployment": "md-1",
        "instance_type": "m5.large",
        "zone": "z1",
    }
    assert registry.get_sample_value("mcm_machine_create_duration_seconds", placed) == 12.0
    assert registry.get_sample_value("mcm_machine_delete_duration_seconds", placed) == 3.0
    assert (
        registry.get_sample_value(
            "mcm_machine_drain_duration_seconds",
            {"namespace": NAMESPACE, "machine_deployment": "md-1"},
        )
        == 8.0
    )
    assert registry.get_sample_value("mcm_machine_join_duration_seconds", placed) is None


def test_machines_without_a_deployment_label_record_nothing() -> None:
    registry = CollectorRegistry()
    metrics = MachineMetrics(registry)

    metrics.record_durations(Machine.from_dict(machine()), None, create=5.0)
    metrics.increment_failed_join(Machine.from_dict(machine()), None)

    assert not [
        sample
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith("mcm_machine_")
    ]


def test_collector_reports_every_machine_at_scrape_time() -> None:
    registry = CollectorRegistry()
    env = env_with_class()
    conditions = [condition("Ready", "True"), condition("DiskPressure", "Unknown")]
    env.control.seed(
        resources.MACHINES,
        machine("a", phase="Running", provider_id="p-a", node="n-a", conditions=conditions),
        machine("b", phase="Terminating"),
        machine("c"),
    )
    env.context.safety.set_frozen(True)
    registry.register(MachineCollector(env.context, registry=registry))

    def value(metric: str, **labels: str) -> float | None:
        return registry.get_sample_value(metric, labels)

    assert value("mcm_machine_items_total") == 3.0
    assert value("mcm_machine_controller_frozen") == 1.0
    assert value("mcm_machine_current_status_phase", name="a", namespace=NAMESPACE) == 1.0
    assert value("mcm_machine_current_status_phase", name="b", namespace=NAMESPACE) == -4.0
    assert value("mcm_machine_current_status_phase", name="c", namespace=NAMESPACE) == 0.0
    assert (
        value(
            "mcm_machine_status_condition", name="a", namespace=NAMESPACE, condition="DiskPressure"
        )
        == 2.0
    )
    assert (
        value(
            "mcm_machine_info",
            name="a",
            namespace=NAMESPACE,
            createdAt="1700000000",
            spec_provider_id="p-a",
            spec_class_api_group="machine.sapcloud.io",
            spec_class_kind="MachineClass",
            spec_class_name="class-1",
            node_name="n-a",
        )
        == 1.0
    )


def test_collector_counts_a_failed_listing_as_a_scrape_failure() -> None:
    registry = CollectorRegistry()
    env = env_with_class()

    class Broken:
        def list(self, *args: object, **kwargs: object) -> list[Machine]:
            raise RuntimeError("cache not ready")

    env.context.machines = Broken()  # type: ignore[assignment]
    registry.register(MachineCollector(env.context, registry=registry))

    assert registry.get_sample_value("mcm_machine_items_total") is None
    assert (
        registry.get_sample_value(
            "mcm_misc_scrape_failure_total",
            {"kind": "Machine-count", "binary": "machine-controller-manager-provider"},
        )
        == 1.0
    )

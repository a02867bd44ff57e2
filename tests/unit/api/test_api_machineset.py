from __future__ import annotations

import datetime

import attrs

from mcm.api.machine import MachineOperationType, MachineState
from mcm.api.machineset import (
    LabelSelector,
    MachineSet,
    MachineSetCondition,
    MachineSetConditionType,
    MachineSetStatus,
)
from tests.unit.api.api_fixtures import SAMPLES, load_yaml_documents, machine_set

UTC = datetime.UTC


def test_a_machine_set_with_every_field_set_serialises_back_to_the_same_json() -> None:
    raw = machine_set()

    assert MachineSet.from_dict(raw).to_dict() == raw


def test_the_sample_machine_set_round_trips() -> None:
    (raw,) = load_yaml_documents(SAMPLES / "machine-set.yaml")

    parsed = MachineSet.from_dict(raw)

    assert parsed.to_dict() == raw
    assert parsed.spec.replicas == 3
    assert parsed.spec.template.spec.class_.name == "test-mc"


def test_machine_set_spec_fields_are_typed() -> None:
    spec = MachineSet.from_dict(machine_set()).spec

    assert spec.replicas == 3
    assert spec.selector is not None
    assert spec.selector.match_labels == {"name": "worker-a"}
    assert spec.selector.matches({"name": "worker-a", "tier": "b"})
    assert spec.machine_class.name == "test-mc"
    assert spec.template.metadata.labels == {"name": "worker-a", "tier": "a"}
    assert spec.template.metadata.annotations == {
        "node.machine.sapcloud.io/effective-creation-timeout": "30m"
    }
    assert spec.template.spec.drain_timeout_seconds == 7200.0
    assert spec.min_ready_seconds == 200
    assert spec.auto_preserve_failed_machine_max == 1


def test_machine_set_status_reads_the_machine_set_condition_list() -> None:
    status = MachineSet.from_dict(machine_set()).status

    assert status.machine_set_condition == (
        MachineSetCondition(
            type="Frozen",
            status="True",
            last_transition_time=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
            reason="OverShootingReplicaCount",
            message="too many machines",
        ),
    )
    frozen = status.condition(MachineSetConditionType.FROZEN)
    assert frozen is not None
    assert frozen.reason == "OverShootingReplicaCount"
    assert status.condition(MachineSetConditionType.REPLICA_FAILURE) is None
    assert (status.replicas, status.fully_labeled_replicas) == (3, 3)
    assert (status.ready_replicas, status.available_replicas) == (2, 2)
    assert status.preserved_failed_replicas == 1
    assert status.observed_generation == 3
    assert status.last_operation.last_update_time == datetime.datetime(2024, 5, 6, 8, tzinfo=UTC)
    assert status.auto_preserve_failed_machine_count == 1
    (failed,) = status.failed_machines
    assert failed.name == "machine-b"
    assert failed.provider_id == "aws:///eu-west-1/machine-b"
    assert failed.owner_ref == "machine-set-a"
    assert failed.last_operation.state is MachineState.FAILED
    assert failed.last_operation.type is MachineOperationType.CREATE


def test_the_controller_reference_of_a_machine_set_is_its_deployment() -> None:
    ref = MachineSet.from_dict(machine_set()).metadata.controller_ref

    assert ref is not None
    assert (ref.kind, ref.name) == ("MachineDeployment", "machine-deployment-a")


def test_a_machine_set_without_selector_has_none() -> None:
    raw = machine_set()
    del raw["spec"]["selector"]

    assert MachineSet.from_dict(raw).spec.selector is None


def test_a_new_status_serialises_under_upstreams_json_names() -> None:
    status = MachineSetStatus(
        replicas=2,
        machine_set_condition=(MachineSetCondition(type="ReplicaFailure", status="True"),),
    )

    assert status.to_dict() == {
        "replicas": 2,
        "machineSetCondition": [{"type": "ReplicaFailure", "status": "True"}],
    }


def test_an_emptied_selector_serialises_as_an_empty_object() -> None:
    parsed = MachineSet.from_dict(machine_set())

    changed = attrs.evolve(parsed, spec=attrs.evolve(parsed.spec, selector=LabelSelector()))

    assert changed.to_dict()["spec"]["selector"] == {}

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import attrs
import pytest

from mcm.api.core import ConditionStatus, NodeCondition, Taint
from mcm.api.machine import (
    ClassSpec,
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineSpec,
    MachineState,
)
from mcm.api.meta import ObjectKey, ObjectMeta, thaw
from tests.unit.api.api_fixtures import SAMPLES, load_yaml_documents, machine

UTC = datetime.UTC


def test_a_machine_with_every_field_set_serialises_back_to_the_same_json() -> None:
    raw = machine()

    parsed = Machine.from_dict(raw)

    assert parsed.to_dict() == raw
    assert json.loads(json.dumps(parsed.to_dict())) == raw


def test_the_sample_machine_round_trips() -> None:
    (raw,) = load_yaml_documents(SAMPLES / "machine.yaml")

    parsed = Machine.from_dict(raw)

    assert parsed.to_dict() == raw
    assert parsed.spec.class_ == ClassSpec(kind="MachineClass", name="test-mc")
    assert parsed.spec.creation_timeout_seconds == 1200.0


def test_machine_fields_are_typed() -> None:
    parsed = Machine.from_dict(machine())

    assert parsed.key == ObjectKey("default", "machine-a")
    assert parsed.metadata.creation_timestamp == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert parsed.node_name == "node-machine-a"
    spec = parsed.spec
    assert spec.class_.api_group == "machine.sapcloud.io"
    assert spec.provider_id == "aws:///eu-west-1/i-0abc"
    assert spec.node_template.metadata.labels == {"worker.gardener.cloud/pool": "worker-a"}
    assert spec.node_template.metadata.annotations == {"example.com/owner": "team-a"}
    assert spec.node_template.spec.taints[0] == Taint(
        key="dedicated", value="batch", effect="NoSchedule"
    )
    assert spec.node_template.spec.taints[1].time_added == datetime.datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=UTC
    )
    assert spec.disable_health_timeout is True
    assert spec.max_evict_retries == 30
    assert spec.node_conditions == "KernelDeadlock,ReadonlyFilesystem"
    status = parsed.status
    assert [a.address for a in status.addresses] == ["10.0.0.5", "ip-10-0-0-5"]
    assert status.conditions[0].status == ConditionStatus.TRUE
    assert status.last_operation == LastOperation(
        description="Creating machine on cloud provider",
        error_code="ResourceExhausted",
        last_update_time=datetime.datetime(2024, 5, 6, 8, 0, tzinfo=UTC),
        state=MachineState.PROCESSING,
        type=MachineOperationType.CREATE,
    )
    assert parsed.phase is MachinePhase.RUNNING
    assert status.current_status.timeout_active is False
    assert status.current_status.last_update_time == datetime.datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC
    )
    assert status.current_status.preserve_expiry_time == datetime.datetime(
        2024, 5, 10, 7, 8, 9, tzinfo=UTC
    )
    assert status.last_known_state == "opaque-state"


def test_durations_keep_the_go_string_and_offer_float_seconds() -> None:
    spec = Machine.from_dict(machine()).spec

    assert (spec.drain_timeout, spec.drain_timeout_seconds) == ("2h", 7200.0)
    assert (spec.health_timeout, spec.health_timeout_seconds) == ("10m", 600.0)
    assert (spec.creation_timeout, spec.creation_timeout_seconds) == ("20m", 1200.0)
    assert spec.in_place_update_timeout_seconds == 5400.0
    assert spec.machine_preserve_timeout_seconds == 345600.0


def test_an_unset_or_invalid_duration_has_no_seconds() -> None:
    spec = MachineSpec(drain_timeout="2 hours")

    assert spec.drain_timeout == "2 hours"
    assert spec.drain_timeout_seconds is None
    assert spec.health_timeout is None
    assert spec.health_timeout_seconds is None


@pytest.mark.parametrize("phase", list(MachinePhase), ids=str)
def test_every_phase_parses_to_its_enum_member(phase: MachinePhase) -> None:
    raw = machine()
    raw["status"]["currentStatus"]["phase"] = phase.value

    assert Machine.from_dict(raw).phase is phase


@pytest.mark.parametrize(
    "phase",
    [
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
        pytest.param("Exploded", id="unknown"),
    ],
)
def test_the_empty_or_an_unknown_phase_is_none_and_survives_a_round_trip(phase: str | None) -> None:
    raw = machine()
    raw["status"]["currentStatus"]["phase"] = phase

    parsed = Machine.from_dict(raw)

    assert parsed.phase is None
    assert parsed.to_dict() == raw


def test_a_machine_without_status_has_the_empty_phase() -> None:
    parsed = Machine.from_dict({"metadata": {"name": "fresh"}, "spec": {}})

    assert parsed.phase is None
    assert parsed.status.conditions == ()
    assert parsed.status.last_operation == LastOperation()


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = raw
    for key in parents:
        target = target[key]
    target[leaf] = value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("spec", "not-an-object", id="spec-string"),
        pytest.param("spec", None, id="spec-null"),
        pytest.param("status", [], id="status-list"),
        pytest.param("spec.class", ["MachineClass"], id="class-list"),
        pytest.param("spec.nodeTemplate", 5, id="node-template-number"),
        pytest.param("spec.nodeTemplate.spec.taints", {"key": "x"}, id="taints-object"),
        pytest.param("spec.nodeTemplate.spec.taints", [1, None, "x"], id="taints-not-objects"),
        pytest.param("spec.nodeTemplate.metadata", "x", id="template-metadata-string"),
        pytest.param("spec.maxEvictRetries", "ten", id="int-as-string"),
        pytest.param("spec.disableHealthTimeout", "yes", id="bool-as-string"),
        pytest.param("spec.drainTimeout", 7200, id="duration-as-number"),
        pytest.param("status.conditions", "Ready", id="conditions-string"),
        pytest.param("status.addresses", [{"address": 5}], id="address-number"),
        pytest.param("status.lastOperation.state", 3, id="state-number"),
        pytest.param("status.lastOperation.lastUpdateTime", "yesterday", id="bad-timestamp"),
        pytest.param("status.currentStatus.lastUpdateTime", 12, id="timestamp-number"),
        pytest.param("status.currentStatus", None, id="current-status-null"),
        pytest.param("metadata.labels", ["a"], id="labels-list"),
        pytest.param("metadata.creationTimestamp", {}, id="creation-timestamp-object"),
    ],
)
def test_malformed_optional_fields_parse_to_defaults_and_round_trip(path: str, value: Any) -> None:
    raw = machine()
    _set(raw, path, value)

    parsed = Machine.from_dict(raw)

    assert isinstance(parsed, Machine)
    assert parsed.to_dict() == raw


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"spec": {}}, id="no-metadata"),
        pytest.param({"metadata": None}, id="null-metadata"),
        pytest.param({"metadata": "m"}, id="string-metadata"),
        pytest.param(None, id="not-an-object"),
        pytest.param(["metadata"], id="a-list"),
    ],
)
def test_an_object_without_metadata_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match="metadata"):
        Machine.from_dict(raw)


def test_a_parsed_machine_cannot_be_changed() -> None:
    parsed = Machine.from_dict(machine())

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.spec = MachineSpec()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.status.current_status.phase = MachinePhase.FAILED  # type: ignore[misc]
    with pytest.raises(TypeError):
        parsed.raw["spec"]["x"] = 1
    with pytest.raises(TypeError):
        parsed.metadata.labels["node"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        parsed.raw["status"]["conditions"].append({})
    assert isinstance(parsed.status.conditions, tuple)
    assert isinstance(parsed.raw["metadata"]["finalizers"], tuple)


def test_changing_the_input_after_parsing_does_not_reach_the_model() -> None:
    raw = machine()
    parsed = Machine.from_dict(raw)

    raw["spec"]["providerID"] = "changed"
    raw["metadata"]["labels"]["node"] = "changed"

    assert parsed.spec.provider_id == "aws:///eu-west-1/i-0abc"
    assert parsed.raw["spec"]["providerID"] == "aws:///eu-west-1/i-0abc"
    assert parsed.to_dict() == machine()


def test_nested_models_share_the_parents_frozen_json() -> None:
    parsed = Machine.from_dict(machine())

    assert parsed.spec.raw is parsed.raw["spec"]
    assert parsed.status.current_status.raw is parsed.raw["status"]["currentStatus"]


def test_an_evolved_machine_writes_the_changes_and_keeps_unknown_fields() -> None:
    parsed = Machine.from_dict(machine())
    now = datetime.datetime(2024, 6, 1, 0, 0, tzinfo=UTC)

    changed = attrs.evolve(
        parsed,
        spec=attrs.evolve(parsed.spec, provider_id="aws:///eu-west-1/i-0def", drain_timeout=None),
        status=attrs.evolve(
            parsed.status,
            current_status=attrs.evolve(
                parsed.status.current_status, phase=MachinePhase.FAILED, last_update_time=now
            ),
        ),
    )
    out = changed.to_dict()

    expected = machine()
    expected["spec"]["providerID"] = "aws:///eu-west-1/i-0def"
    del expected["spec"]["drainTimeout"]
    expected["status"]["currentStatus"]["phase"] = "Failed"
    expected["status"]["currentStatus"]["lastUpdateTime"] = "2024-06-01T00:00:00Z"
    assert out == expected


def test_evolved_metadata_keeps_the_metadata_fields_the_model_ignores() -> None:
    parsed = Machine.from_dict(machine())

    changed = attrs.evolve(
        parsed,
        metadata=attrs.evolve(
            parsed.metadata, labels={**parsed.metadata.labels, "extra": "1"}, finalizers=()
        ),
    )
    out = changed.to_dict()

    expected = machine()
    expected["metadata"]["labels"]["extra"] = "1"
    del expected["metadata"]["finalizers"]
    assert out == expected
    assert out["metadata"]["managedFields"] == [{"manager": "kubectl", "operation": "Update"}]


def test_a_machine_built_in_code_serialises_with_api_version_and_kind() -> None:
    built = Machine(
        metadata=ObjectMeta(name="m", namespace="default", labels={"name": "pool"}),
        spec=MachineSpec(class_=ClassSpec(kind="MachineClass", name="c"), health_timeout="5m"),
    )

    assert built.to_dict() == {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": "m", "namespace": "default", "labels": {"name": "pool"}},
        "spec": {"class": {"kind": "MachineClass", "name": "c"}, "healthTimeout": "5m"},
    }
    assert Machine.from_dict(built.to_dict()) == built


def test_condition_finds_a_mirrored_node_condition_by_type() -> None:
    parsed = Machine.from_dict(machine())

    ready = parsed.condition("Ready")

    assert isinstance(ready, NodeCondition)
    assert ready.status == "True"
    assert ready.reason == "ReadyReason"
    assert parsed.condition("MemoryPressure") is None


def test_equality_compares_fields_not_raw() -> None:
    first = Machine.from_dict(machine())
    second_raw = copy.deepcopy(machine())
    second_raw["spec"]["futureSpecField"] = "different"

    assert Machine.from_dict(second_raw) == first
    assert thaw(Machine.from_dict(second_raw).raw) != thaw(first.raw)


def test_repr_leaves_out_raw() -> None:
    assert "futureSpecField" not in repr(Machine.from_dict(machine()))

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest

from mcm.api.machinedeployment import (
    MachineDeployment,
    MachineDeploymentConditionType,
    MachineDeploymentStrategyType,
    OrchestrationType,
    RollingUpdateMachineDeployment,
)
from tests.unit.api.api_fixtures import SAMPLES, load_yaml_documents, machine_deployment

UTC = datetime.UTC


def test_a_machine_deployment_with_every_field_set_serialises_back_to_the_same_json() -> None:
    raw = machine_deployment()

    assert MachineDeployment.from_dict(raw).to_dict() == raw


def test_the_sample_machine_deployment_round_trips() -> None:
    (raw,) = load_yaml_documents(SAMPLES / "machine-deployment.yaml")

    parsed = MachineDeployment.from_dict(raw)

    assert parsed.to_dict() == raw
    assert parsed.spec.strategy.type == MachineDeploymentStrategyType.ROLLING_UPDATE
    assert parsed.spec.strategy.rolling_update == RollingUpdateMachineDeployment(
        max_surge=1, max_unavailable=0
    )


def test_machine_deployment_spec_fields_are_typed() -> None:
    spec = MachineDeployment.from_dict(machine_deployment()).spec

    assert spec.replicas == 3
    assert spec.selector is not None
    assert spec.selector.match_expressions[0].values == ("a", "b")
    assert spec.template.spec.class_.kind == "MachineClass"
    assert spec.strategy.type == MachineDeploymentStrategyType.IN_PLACE_UPDATE
    assert spec.strategy.rolling_update is not None
    assert spec.strategy.rolling_update.max_surge == 1
    assert spec.strategy.rolling_update.max_unavailable == "25%"
    assert spec.strategy.in_place_update is not None
    assert spec.strategy.in_place_update.max_surge == "50%"
    assert spec.strategy.in_place_update.max_unavailable == 0
    assert spec.strategy.in_place_update.orchestration_type == OrchestrationType.MANUAL
    assert spec.min_ready_seconds == 500
    assert spec.revision_history_limit == 2
    assert spec.paused is True
    assert spec.rollback_to is not None
    assert spec.rollback_to.revision == 4
    assert spec.progress_deadline_seconds == 1200
    assert spec.auto_preserve_failed_machine_max == 2


def test_machine_deployment_status_fields_are_typed() -> None:
    status = MachineDeployment.from_dict(machine_deployment()).status

    assert status.observed_generation == 3
    assert (status.replicas, status.updated_replicas) == (4, 2)
    assert (status.ready_replicas, status.available_replicas) == (3, 3)
    assert (status.preserved_failed_replicas, status.unavailable_replicas) == (1, 1)
    assert status.collision_count == 1
    assert [m.name for m in status.failed_machines] == ["machine-c"]
    progressing = status.condition(MachineDeploymentConditionType.PROGRESSING)
    assert progressing is not None
    assert progressing.reason == "MachineSetUpdated"
    assert progressing.last_update_time == datetime.datetime(2024, 5, 6, 8, tzinfo=UTC)
    assert progressing.last_transition_time == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert status.condition(MachineDeploymentConditionType.FROZEN) is None


def test_unset_pointer_fields_are_none() -> None:
    raw = machine_deployment()
    for key in ("revisionHistoryLimit", "progressDeadlineSeconds", "rollbackTo", "selector"):
        del raw["spec"][key]
    raw["spec"]["strategy"] = {"type": "Recreate"}
    del raw["status"]["collisionCount"]

    parsed = MachineDeployment.from_dict(raw)

    assert parsed.spec.revision_history_limit is None
    assert parsed.spec.progress_deadline_seconds is None
    assert parsed.spec.rollback_to is None
    assert parsed.spec.selector is None
    assert parsed.spec.strategy.rolling_update is None
    assert parsed.spec.strategy.in_place_update is None
    assert parsed.status.collision_count is None
    assert parsed.to_dict() == raw


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(2, 2, id="int"),
        pytest.param("30%", "30%", id="percent"),
        pytest.param("3", "3", id="numeric-string-stays-a-string"),
        pytest.param(True, None, id="bool-is-not-an-int"),
        pytest.param([1], None, id="list"),
        pytest.param(None, None, id="null"),
    ],
)
def test_max_surge_is_an_int_or_a_string(value: Any, expected: int | str | None) -> None:
    raw = machine_deployment()
    raw["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = value

    parsed = MachineDeployment.from_dict(raw)

    assert parsed.spec.strategy.rolling_update is not None
    assert parsed.spec.strategy.rolling_update.max_surge == expected
    assert parsed.to_dict() == raw


def test_an_invalid_strategy_type_is_kept_for_validation_to_report() -> None:
    raw = machine_deployment()
    raw["spec"]["strategy"]["type"] = "BlueGreen"

    assert MachineDeployment.from_dict(raw).spec.strategy.type == "BlueGreen"


def test_a_changed_int_or_string_serialises_as_given() -> None:
    parsed = MachineDeployment.from_dict(machine_deployment())
    strategy = parsed.spec.strategy
    assert strategy.rolling_update is not None

    changed = attrs.evolve(
        parsed,
        spec=attrs.evolve(
            parsed.spec,
            strategy=attrs.evolve(
                strategy, rolling_update=attrs.evolve(strategy.rolling_update, max_surge="10%")
            ),
        ),
    )

    assert changed.to_dict()["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "10%",
        "maxUnavailable": "25%",
    }

"""Status similarity and status writes (§3.6 ``machineStatusUpdate``; acceptance scenario 11)."""

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest

from mcm.api.machine import (
    CurrentStatus,
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineState,
    MachineStatus,
)
from mcm.controller.status import (
    is_machine_status_similar,
    levenshtein,
    patch_machine_status,
    similarity_ratio,
    write_status_unless_similar,
)
from mcm.errors import ConflictError
from mcm.kube import resources
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine.builders import START, env_with_class, machine, stored_machine

LONG_DESCRIPTION = (
    "Cloud provider message - machine codes error: code = [Internal] message = [RequestID:"
    " 0f3a-11 failed to launch instance in subnet-1: InsufficientInstanceCapacity]"
)


def status(
    description: str = "Initiate node drain",
    *,
    age: float = 0.0,
    phase: MachinePhase = MachinePhase.TERMINATING,
) -> MachineStatus:
    stamp = START - datetime.timedelta(seconds=age)
    return MachineStatus(
        last_operation=LastOperation(
            description=description,
            last_update_time=stamp,
            state=MachineState.PROCESSING,
            type=MachineOperationType.DELETE,
        ),
        current_status=CurrentStatus(phase=phase, last_update_time=stamp),
    )


@pytest.mark.parametrize(
    ("first", "second", "similar"),
    [
        pytest.param(status(), status(), True, id="exact-match"),
        pytest.param(status(), status(age=5.0), True, id="timestamps-ignored"),
        pytest.param(status(), status(age=31 * 60.0), False, id="exact-match-older-than-30m"),
        pytest.param(
            status(LONG_DESCRIPTION),
            status(LONG_DESCRIPTION.replace("0f3a-11", "77bc-42")),
            True,
            id="long-similar-descriptions",
        ),
        pytest.param(
            status("Drain failed. Initiate node drain"),
            status("Drain failed! Initiate node drain"),
            True,
            id="short-similar-descriptions",
        ),
        pytest.param(
            status("Initiate node drain"),
            status("Initiate VM deletion"),
            False,
            id="different-descriptions",
        ),
        pytest.param(status(), status(phase=MachinePhase.FAILED), False, id="different-phase"),
    ],
)
def test_is_machine_status_similar(first, second, similar) -> None:
    assert is_machine_status_similar(first, second, now=START) is similar


def test_similarity_is_upstreams_levenshtein_ratio() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert similarity_ratio("", "") == 1.0
    assert similarity_ratio("abcd", "abce") == pytest.approx(0.75)


def test_state_counts_even_with_similar_descriptions() -> None:
    failed = status()
    failed = attrs.evolve(
        failed, last_operation=attrs.evolve(failed.last_operation, state=MachineState.FAILED)
    )

    assert is_machine_status_similar(status(), failed, now=START) is False


def _seed(env: ControllerEnv, **kwargs: Any) -> Machine:
    env.control.seed(resources.MACHINES, machine(**kwargs))
    return stored_machine(env)


def test_similar_status_is_not_written() -> None:
    env = env_with_class()
    current = _seed(
        env,
        phase="Terminating",
        last_operation={
            "description": "Initiate node drain",
            "state": "Processing",
            "type": "Delete",
            "lastUpdateTime": "2023-11-14T22:13:20Z",
        },
    )
    wanted = status()

    written = write_status_unless_similar(
        env.context,
        current,
        last_operation=wanted.last_operation,
        current_status=wanted.current_status,
        last_known_state="",
    )

    assert written is None


def test_different_status_is_written_with_the_resource_version_guard() -> None:
    env = env_with_class()
    current = _seed(env)
    wanted = status()

    written = write_status_unless_similar(
        env.context,
        current,
        last_operation=wanted.last_operation,
        current_status=wanted.current_status,
        last_known_state="kept",
    )

    assert written is not None
    assert written.phase is MachinePhase.TERMINATING
    assert written.status.last_known_state == "kept"
    assert stored_machine(env).status.last_operation.description == "Initiate node drain"


def test_status_patch_of_a_stale_machine_conflicts() -> None:
    env = env_with_class()
    stale = _seed(env)
    env.control.seed(resources.MACHINES, machine(labels={"changed": "yes"}))

    with pytest.raises(ConflictError):
        patch_machine_status(env.context, stale, last_known_state="x")

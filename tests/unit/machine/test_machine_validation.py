"""Validation of Machines and their classes, and the effective per-machine settings (§1.3, §3.2;
acceptance scenarios 12-14 and 62)."""

from __future__ import annotations

from typing import Any

import pytest

from mcm.api.constants import LONG_RETRY, SHORT_RETRY
from mcm.api.machine import Machine
from mcm.api.machineclass import NodeTemplate
from mcm.controller.effective import (
    effective_creation_timeout,
    effective_drain_timeout,
    effective_health_timeout,
    effective_in_place_update_timeout,
    effective_machine_preserve_timeout,
    effective_max_evict_retries,
    effective_node_conditions,
    health_timeout_disabled,
)
from mcm.controller.validation import (
    ValidationFailure,
    validate_machine,
    validate_machine_class,
    validate_node_template,
)
from mcm.kube import resources
from mcm.options import DEFAULT_NODE_CONDITIONS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine.builders import (
    CLASS,
    NAMESPACE,
    env_with_class,
    machine,
    machine_class,
    node_template,
    secret,
)


def parsed(**kwargs: Any) -> Machine:
    return Machine.from_dict(machine(**kwargs))


# ---------------------------------------------------------------------------- validate_machine


def test_validate_machine_accepts_a_class_reference() -> None:
    assert validate_machine(parsed()) is None


def test_validate_machine_requires_the_class_name() -> None:
    assert validate_machine(parsed(class_name="")) == (
        "spec.class.name: Required value: Name is required"
    )


def test_validate_machine_requires_the_class_kind() -> None:
    body = machine()
    body["spec"]["class"] = {"name": CLASS}

    assert validate_machine(Machine.from_dict(body)) == (
        "spec.class.kind: Required value: Kind is required"
    )


# ---------------------------------------------------------------------- validate_machine_class


def test_missing_machine_class_fails_with_the_long_retry() -> None:
    env = ControllerEnv()

    with pytest.raises(ValidationFailure) as raised:
        validate_machine_class(env.context, parsed())

    assert raised.value.retry_after == LONG_RETRY


def test_missing_secret_is_skipped() -> None:
    env = ControllerEnv()
    env.control.seed(resources.MACHINE_CLASSES, machine_class())

    machine_class_, data = validate_machine_class(env.context, parsed())

    assert machine_class_.metadata.name == CLASS
    assert dict(data.data) == {}


def test_valid_class_returns_the_merged_secret_data_credentials_last() -> None:
    env = ControllerEnv()
    env.control.seed(resources.MACHINE_CLASSES, machine_class(credentials_secret_ref="credentials"))
    env.control.seed(resources.SECRETS, secret(userData="ud", accessKey="old"))
    env.control.seed(resources.SECRETS, secret("credentials", accessKey="new"))

    _, data = validate_machine_class(env.context, parsed())

    assert dict(data.data) == {"userData": b"ud", "accessKey": b"new"}
    assert "new" not in repr(data)


def test_class_without_finalizer_fails_with_the_short_retry_and_is_enqueued() -> None:
    env = env_with_class(class_body=machine_class(finalizers=()))

    with pytest.raises(ValidationFailure) as raised:
        validate_machine_class(env.context, parsed())

    assert raised.value.retry_after == SHORT_RETRY
    assert str(raised.value) == (
        "The machine class class-1 has no finalizers set. So not reconciling the machine."
    )
    assert [e.key.name for e in env.enqueued_on("machineclass")] == [CLASS]


def test_class_with_invalid_node_template_fails_with_the_short_retry() -> None:
    env = env_with_class(class_body=machine_class(node_template=node_template(region="")))

    with pytest.raises(ValidationFailure) as raised:
        validate_machine_class(env.context, parsed())

    assert raised.value.retry_after == SHORT_RETRY


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        pytest.param(node_template(), None, id="proper"),
        pytest.param(
            node_template(capacity={"cpu": "2", "memory": "8Gi"}),
            "MachineClass NodeTemplate Capacity should mandatorily have CPU, GPU and Memory"
            " configured",
            id="missing-gpu",
        ),
        pytest.param(
            node_template(region=""),
            "MachineClass NodeTemplate Instance Type, region and zone cannot be empty",
            id="missing-region",
        ),
        pytest.param(
            node_template(instanceType=""),
            "MachineClass NodeTemplate Instance Type, region and zone cannot be empty",
            id="missing-instance-type",
        ),
    ],
)
def test_validate_node_template(template, problem) -> None:
    assert validate_node_template(NodeTemplate.from_dict(template)) == problem


def test_no_node_template_is_valid() -> None:
    assert validate_node_template(None) is None


# ----------------------------------------------------------------------------- effective values


def test_effective_values_fall_back_to_the_flags() -> None:
    env = ControllerEnv(namespace=NAMESPACE)
    plain = parsed()

    assert effective_drain_timeout(env.context, plain) == 7200.0
    assert effective_health_timeout(env.context, plain) == 600.0
    assert effective_creation_timeout(env.context, plain) == 1200.0
    assert effective_in_place_update_timeout(env.context, plain) == 1200.0
    assert effective_machine_preserve_timeout(env.context, plain) == 96 * 3600.0
    assert effective_max_evict_retries(env.context, plain) == 360
    assert effective_node_conditions(env.context, plain) == DEFAULT_NODE_CONDITIONS
    assert health_timeout_disabled(plain) is False


def test_effective_values_prefer_the_machine_spec() -> None:
    env = ControllerEnv()
    custom = parsed(
        spec={
            "drainTimeout": "5m",
            "healthTimeout": "1m30s",
            "creationTimeout": "7m",
            "inPlaceUpdateTimeout": "3m",
            "machinePreserveTimeout": "1h",
            "maxEvictRetries": 0,
            "nodeConditions": "ReadonlyFilesystem, MemoryPressure",
            "disableHealthTimeout": True,
        }
    )

    assert effective_drain_timeout(env.context, custom) == 300.0
    assert effective_health_timeout(env.context, custom) == 90.0
    assert effective_creation_timeout(env.context, custom) == 420.0
    assert effective_in_place_update_timeout(env.context, custom) == 180.0
    assert effective_machine_preserve_timeout(env.context, custom) == 3600.0
    assert effective_max_evict_retries(env.context, custom) == 0
    assert effective_node_conditions(env.context, custom) == (
        "ReadonlyFilesystem",
        "MemoryPressure",
    )
    assert health_timeout_disabled(custom) is True


@pytest.mark.parametrize(
    ("annotation", "spec", "expected"),
    [
        pytest.param("5m", "30m", 300.0, id="annotation-wins"),
        pytest.param(None, "30m", 1800.0, id="spec-without-annotation"),
        pytest.param("soon", "30m", 1800.0, id="unparseable-annotation-ignored"),
        pytest.param("soon", None, 1200.0, id="unparseable-annotation-then-flag"),
    ],
)
def test_effective_creation_timeout_annotation_overrides_the_spec(
    annotation, spec, expected
) -> None:
    env = ControllerEnv()
    annotations = (
        {"node.machine.sapcloud.io/effective-creation-timeout": annotation} if annotation else {}
    )
    custom = parsed(
        annotations=annotations, spec={"creationTimeout": spec} if spec is not None else {}
    )

    assert effective_creation_timeout(env.context, custom) == expected

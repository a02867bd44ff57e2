from __future__ import annotations

import attrs
import pytest

from mcm.api.machineclass import MachineClass, NodeTemplate, SecretReference
from mcm.api.meta import ObjectKey
from tests.unit.api.api_fixtures import SAMPLES, load_yaml_documents, machine_class


def test_a_machine_class_with_every_field_set_serialises_back_to_the_same_json() -> None:
    raw = machine_class()

    assert MachineClass.from_dict(raw).to_dict() == raw


def test_the_sample_aws_machine_class_round_trips() -> None:
    (raw,) = load_yaml_documents(SAMPLES / "machine-class.yaml")

    parsed = MachineClass.from_dict(raw)

    assert parsed.to_dict() == raw
    assert parsed.provider == "AWS"
    assert parsed.provider_spec["machineType"] == "m5.large"
    assert parsed.provider_spec["networkInterfaces"][0]["securityGroupIDs"] == (
        "sg-0123456789abcdef0",
    )


def test_machine_class_fields_are_typed() -> None:
    parsed = MachineClass.from_dict(machine_class())

    assert parsed.node_template == NodeTemplate(
        capacity={"cpu": "2", "gpu": "0", "memory": "8Gi"},
        virtual_capacity={"example.com/dongle": "1"},
        instance_type="m5.large",
        region="eu-west-1",
        zone="eu-west-1a",
        architecture="arm64",
    )
    assert parsed.secret_ref == SecretReference(name="test-userdata", namespace="default")
    assert parsed.credentials_secret_ref is not None
    assert parsed.credentials_secret_ref.key == ObjectKey("default", "test-credentials")
    assert [r.name for r in parsed.secret_refs] == ["test-userdata", "test-credentials"]


def test_integer_quantities_read_as_strings_but_stay_integers_on_the_wire() -> None:
    parsed = MachineClass.from_dict(machine_class())

    assert parsed.node_template is not None
    assert parsed.node_template.capacity["cpu"] == "2"
    assert parsed.to_dict()["nodeTemplate"]["capacity"]["cpu"] == 2


def test_the_provider_spec_is_a_read_only_mapping() -> None:
    parsed = MachineClass.from_dict(machine_class())

    with pytest.raises(TypeError):
        parsed.provider_spec["ami"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        parsed.provider_spec["tags"]["new"] = "1"


def test_a_class_without_optional_parts_has_none_for_them() -> None:
    parsed = MachineClass.from_dict({"metadata": {"name": "bare"}, "providerSpec": {}})

    assert parsed.node_template is None
    assert parsed.secret_ref is None
    assert parsed.credentials_secret_ref is None
    assert parsed.secret_refs == ()
    assert parsed.node_template is None


def test_a_replaced_provider_spec_is_written_as_plain_json() -> None:
    parsed = MachineClass.from_dict(machine_class())

    changed = attrs.evolve(parsed, provider_spec={"ami": "ami-new", "blockDevices": [{"x": 1}]})

    assert changed.to_dict()["providerSpec"] == {"ami": "ami-new", "blockDevices": [{"x": 1}]}

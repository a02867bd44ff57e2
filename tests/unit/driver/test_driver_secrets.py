from __future__ import annotations

import base64

import pytest

from mcm.api.core import Secret
from mcm.driver import CreateMachineRequest, SecretData, merge_secret_data
from tests.unit.driver.driver_fixtures import machine, machine_class


def secret(name: str, **data: str) -> Secret:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return Secret.from_dict({"metadata": {"name": name, "namespace": "shoot"}, "data": encoded})


def test_secret_data_repr_shows_keys_but_never_values() -> None:
    data = SecretData({"userData": b"s3cr3t-script", "providerSecretAccessKey": b"wJalrXUtnFEMI"})

    shown = [repr(data), str(data), f"{data}"]

    for text in shown:
        assert "s3cr3t" not in text
        assert "wJalr" not in text
        assert "providerSecretAccessKey" in text


def test_a_request_repr_does_not_leak_the_secret() -> None:
    request = CreateMachineRequest(
        machine=machine(),
        machine_class=machine_class(),
        secret=SecretData({"userData": b"s3cr3t-script"}),
    )

    assert "s3cr3t" not in repr(request)


def test_secret_data_is_read_only_and_a_copy_of_its_input() -> None:
    source = {"userData": b"a"}
    data = SecretData(source)
    source["userData"] = b"changed"

    assert data.data["userData"] == b"a"
    with pytest.raises(TypeError):
        data.data["userData"] = b"b"  # type: ignore[index]


def test_merge_overlays_credentials_on_the_secret_ref_later_keys_win() -> None:
    secret_ref = secret("userdata", userData="#!/bin/sh", region="eu-west-1")
    credentials = secret("credentials", region="us-east-1", providerAccessKeyId="AKID")

    merged = merge_secret_data(secret_ref, credentials)

    assert dict(merged.data) == {
        "userData": b"#!/bin/sh",
        "region": b"us-east-1",
        "providerAccessKeyId": b"AKID",
    }


def test_merge_order_decides_which_value_wins() -> None:
    first = secret("a", key="first")
    second = secret("b", key="second")

    assert merge_secret_data(second, first).data["key"] == b"first"


def test_merge_skips_missing_secrets_and_accepts_plain_mappings() -> None:
    merged = merge_secret_data(None, {"userData": b"x"}, None, SecretData({"token": b"t"}))

    assert dict(merged.data) == {"userData": b"x", "token": b"t"}


def test_merge_of_nothing_is_empty() -> None:
    assert merge_secret_data() == SecretData({})
    assert merge_secret_data(None, None).data == {}

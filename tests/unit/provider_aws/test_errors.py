"""EC2 error codes as machine codes (upstream's codes.go/utils.go, plus throttling)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from mcm.driver.codes import Code, from_error
from mcm_provider_aws.errors import (
    RESOURCE_EXHAUSTED_CODES,
    api_error_code,
    aws_error_code,
    create_error_code,
    is_throttling,
    machine_error,
    redact,
    terminate_error_code,
)


def client_error(code: str, operation: str = "RunInstances", message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("aws_code", "expected"),
    [
        pytest.param("InsufficientCapacity", Code.RESOURCE_EXHAUSTED, id="InsufficientCapacity"),
        pytest.param(
            "InsufficientAddressCapacity", Code.RESOURCE_EXHAUSTED, id="InsufficientAddress"
        ),
        pytest.param(
            "InsufficientInstanceCapacity", Code.RESOURCE_EXHAUSTED, id="InsufficientInstance"
        ),
        pytest.param(
            "InsufficientVolumeCapacity", Code.RESOURCE_EXHAUSTED, id="InsufficientVolume"
        ),
        pytest.param("InstanceLimitExceeded", Code.RESOURCE_EXHAUSTED, id="InstanceLimit"),
        pytest.param("VcpuLimitExceeded", Code.RESOURCE_EXHAUSTED, id="VcpuLimit"),
        pytest.param("VolumeLimitExceeded", Code.RESOURCE_EXHAUSTED, id="VolumeLimit"),
        pytest.param("MaxIOPSLimitExceeded", Code.RESOURCE_EXHAUSTED, id="MaxIOPSLimit"),
        pytest.param("RouteLimitExceeded", Code.RESOURCE_EXHAUSTED, id="RouteLimit"),
        pytest.param("Unsupported", Code.RESOURCE_EXHAUSTED, id="Unsupported"),
        pytest.param("RequestLimitExceeded", Code.UNAVAILABLE, id="RequestLimitExceeded"),
        pytest.param("Throttling", Code.UNAVAILABLE, id="Throttling"),
        pytest.param("ServiceUnavailable", Code.UNAVAILABLE, id="ServiceUnavailable"),
        pytest.param("InternalError", Code.UNAVAILABLE, id="InternalError"),
        pytest.param("InvalidParameterValue", Code.INTERNAL, id="InvalidParameterValue"),
        pytest.param("InvalidAMIID.NotFound", Code.INTERNAL, id="unknown-ami-is-internal"),
        pytest.param("UnauthorizedOperation", Code.INTERNAL, id="UnauthorizedOperation"),
        pytest.param("InvalidInstanceID.NotFound", Code.INTERNAL, id="not-found-on-create"),
    ],
)
def test_create_errors_map_to_upstreams_codes_plus_transient_ones(aws_code, expected):
    assert create_error_code(client_error(aws_code)) is expected


def test_the_resource_exhausted_list_is_upstreams_ten_codes():
    assert len(RESOURCE_EXHAUSTED_CODES) == 10


@pytest.mark.parametrize(
    ("aws_code", "expected"),
    [
        pytest.param("InvalidInstanceID.NotFound", Code.NOT_FOUND, id="gone"),
        pytest.param("RequestLimitExceeded", Code.UNAVAILABLE, id="throttled"),
        pytest.param("InsufficientInstanceCapacity", Code.INTERNAL, id="capacity-is-create-only"),
        pytest.param("UnauthorizedOperation", Code.INTERNAL, id="denied"),
    ],
)
def test_terminate_errors_map_not_found_to_not_found(aws_code, expected):
    assert terminate_error_code(client_error(aws_code, "TerminateInstances")) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(
            EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com"),
            Code.UNAVAILABLE,
            id="connection-refused",
        ),
        pytest.param(
            ReadTimeoutError(endpoint_url="https://ec2.eu-west-1.amazonaws.com"),
            Code.UNAVAILABLE,
            id="read-timeout",
        ),
        pytest.param(NoCredentialsError(), Code.INTERNAL, id="no-credentials"),
        pytest.param(RuntimeError("bug"), Code.INTERNAL, id="plain-exception"),
    ],
)
def test_errors_without_an_aws_code(exc, expected):
    assert aws_error_code(exc) == ""
    assert api_error_code(exc) is expected
    assert create_error_code(exc) is expected


def test_throttling_is_recognised_by_code():
    assert is_throttling(client_error("RequestLimitExceeded"))
    assert not is_throttling(client_error("InsufficientInstanceCapacity"))
    assert not is_throttling(RuntimeError("RequestLimitExceeded"))


def test_a_machine_error_keeps_the_aws_text_and_decodes_to_its_code():
    exc = client_error("InsufficientInstanceCapacity", message="no m5.large in eu-west-1a")

    error = machine_error(Code.RESOURCE_EXHAUSTED, exc)

    decoded, ok = from_error(RuntimeError(str(error)))
    assert ok
    assert decoded.code is Code.RESOURCE_EXHAUSTED
    assert decoded.message == (
        "An error occurred (InsufficientInstanceCapacity) when calling the RunInstances "
        "operation: no m5.large in eu-west-1a"
    )


def test_a_machine_error_never_carries_the_secrets_it_was_given():
    exc = client_error("AuthFailure", message="key AKIAEXAMPLE1234 with secret s3cr3t-value bad")

    error = machine_error(Code.INTERNAL, exc, secrets=["AKIAEXAMPLE1234", "s3cr3t-value"])

    assert "AKIAEXAMPLE1234" not in str(error)
    assert "s3cr3t-value" not in str(error)
    assert "key *** with secret *** bad" in str(error)


@pytest.mark.parametrize(
    ("message", "secrets", "expected"),
    [
        pytest.param("token abcdef", ["abcdef"], "token ***", id="one"),
        pytest.param("abcdefgh and abcd", ["abcd", "abcdefgh"], "*** and ***", id="longest-first"),
        pytest.param("a to b", ["to", ""], "a to b", id="too-short-to-redact"),
        pytest.param("nothing", [], "nothing", id="no-secrets"),
    ],
)
def test_redact(message, secrets, expected):
    assert redact(message, secrets) == expected

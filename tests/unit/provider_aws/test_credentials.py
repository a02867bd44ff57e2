"""Credentials from the secret, boto3 sessions and EC2 clients; web identity against moto's STS."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from moto import mock_aws

from mcm.clock import FakeClock
from mcm.driver import Code, MachineError, SecretData
from mcm_provider_aws.credentials import (
    DEFAULT_CLIENT_CONFIG,
    Credentials,
    CredentialsMode,
    credentials_from_secret,
    new_ec2_client,
    new_session,
    user_data,
)

pytestmark = pytest.mark.timeout(30)

REGION = "eu-west-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/machine-controller"
ACCESS_KEY_ID = "AKIAEXAMPLEKEYID0001"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STATIC = Credentials(
    mode=CredentialsMode.STATIC, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY
)


@pytest.fixture(autouse=True)
def isolated_aws_environment(monkeypatch, tmp_path):
    """No credentials, config, endpoints or instance metadata from the machine running the tests."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_ENDPOINT_URL_STS",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("header.payload.signature")
    return path


def web_identity(token_file: Path) -> Credentials:
    return Credentials(
        mode=CredentialsMode.WEB_IDENTITY,
        web_identity_token_file=str(token_file),
        role_arn=ROLE_ARN,
    )


# ------------------------------------------------------------------------------- reading the secret


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"providerAccessKeyId": b"id", "providerSecretAccessKey": b"key"},
            Credentials(mode=CredentialsMode.STATIC, access_key_id="id", secret_access_key="key"),
            id="provider keys",
        ),
        pytest.param(
            {"accessKeyID": b"id", "secretAccessKey": b"key"},
            Credentials(mode=CredentialsMode.STATIC, access_key_id="id", secret_access_key="key"),
            id="alternative keys",
        ),
        pytest.param(
            {
                "providerAccessKeyId": b"id1",
                "accessKeyID": b"id2",
                "providerSecretAccessKey": b"key1",
                "secretAccessKey": b"key2",
            },
            Credentials(mode=CredentialsMode.STATIC, access_key_id="id1", secret_access_key="key1"),
            id="provider keys win over alternative ones",
        ),
        pytest.param(
            {
                "providerAccessKeyId": b" \tid\n",
                "secretAccessKey": "\u00a0key \r\n".encode(),
            },
            Credentials(mode=CredentialsMode.STATIC, access_key_id="id", secret_access_key="key"),
            id="values are trimmed",
        ),
        pytest.param(
            {"providerAccessKeyId": b"\x1fid", "providerSecretAccessKey": b"key"},
            Credentials(
                mode=CredentialsMode.STATIC, access_key_id="\x1fid", secret_access_key="key"
            ),
            id="trimming is Go's: unit separators stay",
        ),
        pytest.param(
            {"providerAccessKeyId": b"", "accessKeyID": b"id", "secretAccessKey": b"key"},
            Credentials(mode=CredentialsMode.DEFAULT_CHAIN),
            id="the first present key wins even when empty: default chain",
        ),
        pytest.param(
            {"providerAccessKeyId": b"id"},
            Credentials(mode=CredentialsMode.DEFAULT_CHAIN),
            id="no secret key: default chain",
        ),
        pytest.param({}, Credentials(mode=CredentialsMode.DEFAULT_CHAIN), id="empty secret"),
        pytest.param(
            {
                "workloadIdentityTokenFile": b"/var/run/secrets/token",
                "roleARN": ROLE_ARN.encode(),
                "providerAccessKeyId": b"id",
                "providerSecretAccessKey": b"key",
            },
            Credentials(
                mode=CredentialsMode.WEB_IDENTITY,
                web_identity_token_file="/var/run/secrets/token",
                role_arn=ROLE_ARN,
            ),
            id="workload identity wins over static keys",
        ),
        pytest.param(
            {"workloadIdentityTokenFile": b""},
            Credentials(mode=CredentialsMode.WEB_IDENTITY),
            id="workload identity as soon as the token file key is present",
        ),
    ],
)
def test_credentials_are_read_from_the_secret_as_upstream_does(data, expected):
    assert credentials_from_secret(SecretData(data)) == expected


def test_user_data_is_the_raw_bytes():
    assert (
        user_data(SecretData({"userData": b"#cloud-config\n\x00\xff"}))
        == b"#cloud-config\n\x00\xff"
    )


def test_missing_user_data_is_an_internal_error():
    with pytest.raises(MachineError) as caught:
        user_data(SecretData({"providerAccessKeyId": b"id"}))

    assert caught.value.code is Code.INTERNAL
    assert caught.value.message == "userData doesn't exist"


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(STATIC, id="static"),
        pytest.param(
            Credentials(
                mode=CredentialsMode.WEB_IDENTITY,
                web_identity_token_file="/token",
                role_arn=ROLE_ARN,
                access_key_id=ACCESS_KEY_ID,
                secret_access_key=SECRET_ACCESS_KEY,
            ),
            id="web identity",
        ),
    ],
)
def test_repr_and_str_never_show_the_keys(credentials):
    texts = [repr(credentials), str(credentials), f"{credentials}", repr([credentials])]

    for text in texts:
        assert ACCESS_KEY_ID not in text
        assert SECRET_ACCESS_KEY not in text
        assert credentials.mode.value in text


def test_web_identity_repr_names_the_role_and_token_file():
    text = repr(
        Credentials(mode=CredentialsMode.WEB_IDENTITY, web_identity_token_file="/t", role_arn="r")
    )

    assert text == "Credentials(mode=web-identity, role_arn='r', web_identity_token_file='/t')"


# -------------------------------------------------------------------------------- sessions, clients


def test_a_static_session_uses_the_secrets_keys():
    session = new_session(STATIC, REGION)

    frozen = session.get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
    )
    assert session.region_name == REGION


def test_the_default_chain_session_reads_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")

    session = new_session(Credentials(mode=CredentialsMode.DEFAULT_CHAIN), REGION)

    assert session.get_credentials().get_frozen_credentials().access_key == "from-env"


def test_ec2_clients_retry_like_the_go_sdk_by_default():
    client = new_ec2_client(STATIC, REGION)

    assert client.meta.region_name == REGION
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert DEFAULT_CLIENT_CONFIG.retries == {"mode": "standard", "total_max_attempts": 3}


@pytest.mark.parametrize(
    ("environment", "endpoint_url", "expected"),
    [
        pytest.param({}, None, "https://ec2.eu-west-1.amazonaws.com", id="botocore default"),
        pytest.param(
            {"AWS_ENDPOINT_URL_EC2": "http://ec2.test:5000"},
            None,
            "http://ec2.test:5000",
            id="AWS_ENDPOINT_URL_EC2",
        ),
        pytest.param(
            {"AWS_ENDPOINT_URL": "http://all.test:5000"},
            None,
            "http://all.test:5000",
            id="AWS_ENDPOINT_URL",
        ),
        pytest.param(
            {"AWS_ENDPOINT_URL": "http://all.test:5000", "AWS_ENDPOINT_URL_EC2": "http://ec2.test"},
            None,
            "http://ec2.test",
            id="the service-specific variable wins",
        ),
        pytest.param(
            {"AWS_ENDPOINT_URL_EC2": "http://ec2.test:5000"},
            "http://flag.test:6000",
            "http://flag.test:6000",
            id="an explicit endpoint wins over the environment",
        ),
    ],
)
def test_the_ec2_endpoint_follows_environment_and_explicit_override(
    monkeypatch, environment, endpoint_url, expected
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    client = new_ec2_client(STATIC, REGION, endpoint_url=endpoint_url)

    assert client.meta.endpoint_url == expected


def test_building_clients_logs_no_secrets(caplog):
    caplog.set_level(logging.DEBUG)

    new_ec2_client(STATIC, REGION).describe_regions  # noqa: B018 -- building is enough

    assert "static" in caplog.text
    assert ACCESS_KEY_ID not in caplog.text
    assert SECRET_ACCESS_KEY not in caplog.text


# --------------------------------------------------------------------- workload identity with moto


def test_web_identity_assumes_the_role_with_the_token_from_the_file(token_file):
    with mock_aws():
        session = new_session(web_identity(token_file), REGION)

        identity = session.client("sts", region_name=REGION).get_caller_identity()
        frozen = session.get_credentials().get_frozen_credentials()

    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/machine-controller/")
    assert frozen.access_key.startswith("ASIA")
    assert frozen.token


def test_web_identity_ec2_clients_work_against_moto(token_file):
    with mock_aws():
        client = new_ec2_client(web_identity(token_file), REGION)

        regions = client.describe_regions()["Regions"]

    assert REGION in {region["RegionName"] for region in regions}


def test_web_identity_is_refreshed_before_expiry(token_file):
    clock = FakeClock(start=time.time())
    with mock_aws():
        credentials = new_session(web_identity(token_file), REGION, clock=clock).get_credentials()
        first = credentials.get_frozen_credentials()
        clock.step(60.0)
        still = credentials.get_frozen_credentials()

        clock.step(2850.0)  # moto's credentials last an hour; botocore renews 15 minutes before
        renewed = credentials.get_frozen_credentials()

    assert still.access_key == first.access_key
    assert renewed.access_key != first.access_key


def test_web_identity_reads_the_token_file_again_on_refresh(token_file):
    clock = FakeClock(start=time.time())
    with mock_aws():
        credentials = new_session(web_identity(token_file), REGION, clock=clock).get_credentials()
        credentials.get_frozen_credentials()
        token_file.unlink()

        clock.step(3300.0)  # within 10 minutes of expiry: the refresh is mandatory
        with pytest.raises(FileNotFoundError) as caught:
            credentials.get_frozen_credentials()

    assert str(token_file) in str(caught.value)

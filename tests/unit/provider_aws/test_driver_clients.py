"""EC2Clients: one cached client per region and credentials, throttled and counted per action."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from mcm.clock import FakeClock
from mcm_provider_aws.credentials import Credentials, CredentialsMode
from mcm_provider_aws.ec2 import EC2Clients, credentials_fingerprint
from mcm_provider_aws.metrics import AWSMetrics
from mcm_provider_aws.testing import EC2Endpoint
from mcm_provider_aws.throttle import Rate, Throttle

pytestmark = pytest.mark.timeout(60)

REGION = "eu-west-1"
KEYS = Credentials(
    mode=CredentialsMode.STATIC,
    access_key_id="AKIATESTEXAMPLE00001",
    secret_access_key="secret-access-key-for-tests-0001",
)
OTHER_KEYS = Credentials(
    mode=CredentialsMode.STATIC,
    access_key_id="AKIATESTEXAMPLE00002",
    secret_access_key="secret-access-key-for-tests-0002",
)


class SteppingClock(FakeClock):
    """A fake clock whose `sleep` returns at once, moving time forward and recording the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.step(seconds)


@pytest.fixture(scope="module")
def shared_endpoint() -> Iterator[EC2Endpoint]:
    with EC2Endpoint(region=REGION) as endpoint:
        yield endpoint


@pytest.fixture
def endpoint(shared_endpoint: EC2Endpoint) -> EC2Endpoint:
    shared_endpoint.reset()
    return shared_endpoint


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- the cache ------------------------------------------------------------------------------------


def test_clients_are_cached_per_region_and_credentials(clock):
    clients = EC2Clients(endpoint_url="http://127.0.0.1:1", clock=clock)

    first = clients.client(KEYS, REGION)
    again = clients.client(KEYS, REGION)
    other_region = clients.client(KEYS, "us-east-1")
    other_keys = clients.client(OTHER_KEYS, REGION)

    assert again is first
    assert other_region is not first
    assert other_keys is not first
    assert (clients.cache_hits, clients.cache_misses) == (1, 3)


def test_a_cached_client_is_rebuilt_after_its_ttl(clock):
    clients = EC2Clients(endpoint_url="http://127.0.0.1:1", clock=clock, cache_ttl=600.0)
    first = clients.client(KEYS, REGION)

    clock.step(599.0)
    before_expiry = clients.client(KEYS, REGION)
    clock.step(2.0)
    after_expiry = clients.client(KEYS, REGION)

    assert before_expiry is first
    assert after_expiry is not first


def test_the_cache_key_holds_a_fingerprint_not_the_secret(clock):
    clients = EC2Clients(endpoint_url="http://127.0.0.1:1", clock=clock)

    key = clients.key(KEYS, REGION)

    assert key.fingerprint == credentials_fingerprint(KEYS)
    assert key.fingerprint != credentials_fingerprint(OTHER_KEYS)
    assert KEYS.secret_access_key not in repr(key)
    assert KEYS.access_key_id not in repr(key)
    assert len(key.fingerprint) == 16


def test_clients_retry_in_standard_mode_with_three_attempts(clock):
    client: Any = EC2Clients(endpoint_url="http://127.0.0.1:1", clock=clock).client(KEYS, REGION)

    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}


# --- endpoints ------------------------------------------------------------------------------------


def test_the_endpoint_comes_from_aws_endpoint_url_ec2_without_a_flag(monkeypatch, clock):
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:4566")

    client: Any = EC2Clients(clock=clock).client(KEYS, REGION)

    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_the_endpoint_flag_wins_over_the_environment(monkeypatch, clock):
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:4566")

    client: Any = EC2Clients(endpoint_url="http://127.0.0.1:5123", clock=clock).client(KEYS, REGION)

    assert client.meta.endpoint_url == "http://127.0.0.1:5123"


# --- throttling and counting ----------------------------------------------------------------------


def test_calls_beyond_the_burst_wait_on_the_clock_for_their_actions_bucket(
    endpoint, clock, registry
):
    clients = EC2Clients(
        endpoint_url=endpoint.url,
        throttle=Throttle(describe=Rate(1.0, 2)),
        metrics=AWSMetrics(registry, clock=clock),
        clock=clock,
    )
    client = clients.client(KEYS, REGION)

    for _ in range(4):
        client.describe_instances()
    client.describe_images(Owners=["self"])

    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]
    assert sample(registry, "mcm_aws_ec2_client_throttled_total", action="DescribeInstances") == 2
    assert sample(
        registry, "mcm_aws_ec2_client_throttle_seconds_total", action="DescribeInstances"
    ) == pytest.approx(2.0)
    assert sample(registry, "mcm_aws_ec2_client_throttled_total", action="DescribeImages") == 0


def test_the_buckets_outlive_a_rebuilt_client(endpoint, clock):
    clients = EC2Clients(
        endpoint_url=endpoint.url,
        throttle=Throttle(describe=Rate(0.001, 1)),
        clock=clock,
        cache_ttl=10.0,
    )
    clients.client(KEYS, REGION).describe_instances()
    clock.step(11.0)  # the client expires; its bucket has not refilled

    clients.client(KEYS, REGION).describe_instances()

    assert clients.cache_misses == 2
    assert len(clock.sleeps) == 1


def test_a_disabled_throttle_never_waits(endpoint, clock):
    clients = EC2Clients(endpoint_url=endpoint.url, throttle=Throttle(enabled=False), clock=clock)
    client = clients.client(KEYS, REGION)

    for _ in range(10):
        client.describe_instances()

    assert clock.sleeps == []


def test_requests_and_errors_are_counted_per_action(endpoint, clock, registry):
    clients = EC2Clients(
        endpoint_url=endpoint.url, metrics=AWSMetrics(registry, clock=clock), clock=clock
    )
    client = clients.client(KEYS, REGION)
    endpoint.front.fail_next("TerminateInstances", "UnauthorizedOperation", status=403)

    client.describe_instances()
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        client.terminate_instances(InstanceIds=["i-0123456789abcdef0"])

    assert sample(registry, "mcm_aws_ec2_calls_total", action="DescribeInstances") == 1
    assert sample(registry, "mcm_aws_ec2_calls_total", action="TerminateInstances") == 1
    assert (
        sample(
            registry,
            "mcm_aws_ec2_errors_total",
            action="TerminateInstances",
            code="UnauthorizedOperation",
        )
        == 1
    )
    assert sample(registry, "mcm_aws_ec2_throttled_total", action="TerminateInstances") == 0

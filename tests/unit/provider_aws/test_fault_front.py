"""The EC2 fault front: faults, latency, throttling and counts, in front of an in-process moto."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from mcm_provider_aws.testing import ActionCounts, EC2Endpoint, FaultFront
from mcm_provider_aws.testing.fault_front import HeldCall

pytestmark = pytest.mark.timeout(30)


class FakeTime:
    """A monotonic clock for the token buckets that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="module")
def sleeps() -> list[float]:
    return []


@pytest.fixture(scope="module")
def shared_endpoint(fake_time: FakeTime, sleeps: list[float]) -> Iterator[EC2Endpoint]:
    with EC2Endpoint(sleep=sleeps.append, monotonic=fake_time) as endpoint:
        yield endpoint


@pytest.fixture
def endpoint(shared_endpoint: EC2Endpoint, sleeps: list[float]) -> EC2Endpoint:
    shared_endpoint.reset()
    sleeps.clear()
    return shared_endpoint


@pytest.fixture(scope="module")
def shared_client(shared_endpoint: EC2Endpoint) -> Any:
    return shared_endpoint.client()


@pytest.fixture
def ec2(endpoint: EC2Endpoint, shared_client: Any) -> Any:
    """A client of the front, no retries; the endpoint was reset for this test."""
    return shared_client


@pytest.fixture(scope="module")
def ami(shared_endpoint: EC2Endpoint) -> str:
    """One of moto's built-in images (they survive resets; listing them takes a second)."""
    images = shared_endpoint.client(direct=True).describe_images()["Images"]
    image: str = images[0]["ImageId"]
    return image


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = exc.value.response["Error"]["Code"]
    return code


def run_one(ec2: Any, ami: str, instance_type: str = "m5.large", **kwargs: Any) -> str:
    reply = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType=instance_type, **kwargs
    )
    instance_id: str = reply["Instances"][0]["InstanceId"]
    return instance_id


def instance_ids(endpoint: EC2Endpoint, region: str | None = None) -> list[str]:
    """Every instance moto holds in *region*, read past the front."""
    reservations = endpoint.client(region, direct=True).describe_instances()["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def front_client(url: str, *, region: str = "eu-west-1", max_attempts: int = 1) -> Any:
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )


class Call:
    """One client call on a thread of its own, so that a test can hold its answer."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 10.0) -> Call:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the call did not return"
        return self


# --- passthrough ----------------------------------------------------------------------------------


def test_run_and_describe_instances_pass_through_to_moto(endpoint, ec2, ami):
    instance_id = run_one(ec2, ami)

    described = ec2.describe_instances(InstanceIds=[instance_id])

    instance = described["Reservations"][0]["Instances"][0]
    assert instance["InstanceId"] == instance_id
    assert instance["State"]["Name"] == "running"
    assert endpoint.counts() == {
        "RunInstances": ActionCounts(total=1),
        "DescribeInstances": ActionCounts(total=1),
    }


def test_moto_errors_reach_the_client_and_count_as_failed(endpoint, ec2):
    with pytest.raises(ClientError) as raised:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])

    assert error_code(raised) == "InvalidInstanceID.NotFound"
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=1, failed=1)


def test_direct_clients_and_moto_api_calls_are_not_counted(endpoint, ami):
    endpoint.client(direct=True).describe_instances()
    endpoint.front.fail_next("DescribeInstances", "Unavailable")

    endpoint.client(direct=True).describe_instances()
    endpoint.moto.reset()

    assert endpoint.counts() == {}


# --- faults ---------------------------------------------------------------------------------------


def test_an_injected_fault_fails_the_next_call_with_its_code_then_calls_succeed(endpoint, ec2, ami):
    endpoint.front.fail_next(
        "RunInstances",
        "InsufficientInstanceCapacity",
        message="We currently do not have sufficient m5.large capacity",
    )

    with pytest.raises(ClientError) as raised:
        run_one(ec2, ami)
    run_one(ec2, ami)

    assert error_code(raised) == "InsufficientInstanceCapacity"
    assert raised.value.response["Error"]["Message"].startswith("We currently do not have")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=2, failed=1, injected=1)
    assert len(ec2.describe_instances()["Reservations"]) == 1  # moto never saw the failed call


def test_a_fault_with_a_count_fails_that_many_calls(endpoint, ec2):
    endpoint.front.fail_next("DescribeInstances", "InvalidInstanceID.NotFound", count=2)

    outcomes = []
    for _ in range(3):
        try:
            ec2.describe_instances()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    assert outcomes == ["InvalidInstanceID.NotFound", "InvalidInstanceID.NotFound", "ok"]


def test_a_fault_with_a_match_fails_only_matching_calls(endpoint, ec2, ami):
    endpoint.front.fail_next(
        "RunInstances",
        "InsufficientInstanceCapacity",
        count=None,
        match={"InstanceType": "p5.48xlarge"},
    )

    run_one(ec2, ami, "m5.large")
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            run_one(ec2, ami, "p5.48xlarge")
        assert error_code(raised) == "InsufficientInstanceCapacity"
    endpoint.front.clear_faults("RunInstances")
    run_one(ec2, ami, "p5.48xlarge")

    assert endpoint.counts()["RunInstances"] == ActionCounts(total=4, failed=2, injected=2)


def test_faults_of_one_action_do_not_touch_another(endpoint, ec2, ami):
    endpoint.front.fail_next("TerminateInstances", "UnauthorizedOperation", status=403)

    instance_id = run_one(ec2, ami)
    with pytest.raises(ClientError) as raised:
        ec2.terminate_instances(InstanceIds=[instance_id])

    assert error_code(raised) == "UnauthorizedOperation"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_fault_messages_are_escaped_into_the_xml(endpoint, ec2):
    endpoint.front.fail_next("DescribeInstances", "Boom", message="a < b & c > d")

    with pytest.raises(ClientError) as raised:
        ec2.describe_instances()

    assert raised.value.response["Error"]["Message"] == "a < b & c > d"


def test_a_fault_needs_a_positive_count(endpoint):
    with pytest.raises(ValueError, match="positive"):
        endpoint.front.fail_next("RunInstances", "X", count=0)


# --- latency --------------------------------------------------------------------------------------


def test_latency_is_injected_through_the_sleep_for_the_configured_action(endpoint, ec2, sleeps):
    endpoint.front.set_latency(0.25, action="DescribeInstances")

    ec2.describe_instances()
    ec2.describe_availability_zones()

    assert sleeps == [0.25]


def test_latency_for_all_actions_applies_to_faulted_calls_too(endpoint, ec2, sleeps):
    endpoint.front.set_latency(0.5)
    endpoint.front.fail_next("DescribeInstances", "Unavailable")

    with pytest.raises(ClientError):
        ec2.describe_instances()
    ec2.describe_availability_zones()
    endpoint.front.set_latency(0)
    ec2.describe_availability_zones()

    assert sleeps == [0.5, 0.5]


# --- throttling -----------------------------------------------------------------------------------


def test_throttling_allows_a_burst_then_answers_request_limit_exceeded(endpoint, ec2, fake_time):
    endpoint.front.throttle(1.0, burst=2, action="DescribeInstances")

    ec2.describe_instances()
    ec2.describe_instances()
    with pytest.raises(ClientError) as raised:
        ec2.describe_instances()
    fake_time.now += 1.0
    ec2.describe_instances()

    assert error_code(raised) == "RequestLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=4, throttled=1)


def test_a_bucket_for_all_actions_is_shared_by_them(endpoint, ec2, fake_time):
    endpoint.front.throttle(0.5, burst=1)  # a token every 2 s

    ec2.describe_instances()
    with pytest.raises(ClientError) as raised:
        ec2.describe_availability_zones()
    fake_time.now += 2.0
    ec2.describe_availability_zones()

    assert error_code(raised) == "RequestLimitExceeded"


def test_throttled_calls_do_not_consume_injected_faults(endpoint, ec2, fake_time):
    endpoint.front.throttle(1.0, burst=0, action="DescribeInstances")
    endpoint.front.fail_next("DescribeInstances", "Unavailable")

    with pytest.raises(ClientError) as throttled:
        ec2.describe_instances()
    endpoint.front.clear_throttle("DescribeInstances")
    with pytest.raises(ClientError) as faulted:
        ec2.describe_instances()

    assert [error_code(throttled), error_code(faulted)] == ["RequestLimitExceeded", "Unavailable"]


# --- client tokens -------------------------------------------------------------------------------


def test_a_repeated_client_token_returns_the_first_calls_instance_and_launches_nothing(
    endpoint, ec2, ami
):
    first = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", ClientToken="mcm-uid-1"
    )

    again = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", ClientToken="mcm-uid-1"
    )

    assert again["ReservationId"] == first["ReservationId"]
    assert again["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
    assert instance_ids(endpoint) == [first["Instances"][0]["InstanceId"]]
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=2, replayed=1)


def test_a_client_token_repeated_with_other_parameters_is_an_idempotent_parameter_mismatch(
    endpoint, ec2, ami
):
    run_one(ec2, ami, "m5.large", ClientToken="mcm-uid-2")

    with pytest.raises(ClientError) as raised:
        run_one(ec2, ami, "m5.xlarge", ClientToken="mcm-uid-2")

    assert error_code(raised) == "IdempotentParameterMismatch"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(instance_ids(endpoint)) == 1
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=2, failed=1)


def test_client_tokens_are_remembered_per_region(endpoint, ami):
    west = front_client(endpoint.url, region="eu-west-1")
    east = front_client(endpoint.url, region="us-east-1")
    east_ami = endpoint.client("us-east-1", direct=True).describe_images()["Images"][0]["ImageId"]

    in_west = run_one(west, ami, ClientToken="mcm-uid-3")
    in_east = run_one(east, east_ami, ClientToken="mcm-uid-3")

    assert in_west != in_east
    assert instance_ids(endpoint, "us-east-1") == [in_east]


def test_calls_without_a_client_token_and_failed_calls_are_not_remembered(endpoint, ec2, ami):
    endpoint.front.fail_next("RunInstances", "InsufficientInstanceCapacity")
    with pytest.raises(ClientError):
        run_one(ec2, ami, ClientToken="mcm-uid-4")

    run_one(ec2, ami, ClientToken="mcm-uid-4")
    run_one(ec2, ami)  # botocore makes up a fresh token for each call
    run_one(ec2, ami)

    assert len(instance_ids(endpoint)) == 3
    assert endpoint.counts()["RunInstances"].replayed == 0


def test_reset_forgets_client_tokens(endpoint, ec2, ami):
    run_one(ec2, ami, ClientToken="mcm-uid-5")

    endpoint.reset()
    launched = run_one(ec2, ami, ClientToken="mcm-uid-5")

    assert instance_ids(endpoint) == [launched]


def test_without_client_token_emulation_a_repeat_launches_a_second_instance(endpoint, ami):
    with FaultFront(endpoint.moto_url, client_tokens=False) as front:
        ec2 = front_client(front.url)

        first = run_one(ec2, ami, ClientToken="mcm-uid-6")
        second = run_one(ec2, ami, ClientToken="mcm-uid-6")

    assert first != second
    assert front.counts()["RunInstances"] == ActionCounts(total=2)


# --- held answers ---------------------------------------------------------------------------------


def test_a_held_answer_is_delivered_only_when_released(endpoint, ec2, ami):
    held = endpoint.front.hold_next("RunInstances")

    call = Call(lambda: run_one(ec2, ami))
    assert held.wait(10.0)
    launched = instance_ids(endpoint)  # the upstream acted ...
    assert held.held
    assert not call.done  # ... and the caller has not heard of it
    held.release()

    assert call.join().result == launched[0]
    assert not held.held


def test_a_dropped_answer_is_a_lost_response_and_the_retry_gets_the_same_instance(endpoint, ami):
    ec2 = front_client(endpoint.url, max_attempts=2)
    held = endpoint.front.hold_next("RunInstances")

    call = Call(lambda: run_one(ec2, ami, ClientToken="mcm-uid-7"))
    assert held.wait(10.0)
    held.drop()

    assert call.join().error is None
    assert instance_ids(endpoint) == [call.result]
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=2, replayed=1)


def test_without_retries_a_dropped_answer_is_a_connection_error(endpoint, ec2, ami):
    held = endpoint.front.hold_next("RunInstances")

    call = Call(lambda: run_one(ec2, ami))
    assert held.wait(10.0)
    held.drop()

    assert isinstance(call.join().error, ConnectionClosedError)
    assert len(instance_ids(endpoint)) == 1


def test_a_hold_with_a_match_holds_only_the_matching_call(endpoint, ec2, ami):
    held = endpoint.front.hold_next("RunInstances", match={"InstanceType": "p5.48xlarge"})

    run_one(ec2, ami, "m5.large")  # answered at once
    call = Call(lambda: run_one(ec2, ami, "p5.48xlarge"))
    assert held.wait(10.0)
    held.release()

    assert call.join().error is None


def test_throttled_and_faulted_calls_do_not_take_a_hold(endpoint, ec2, ami):
    held = endpoint.front.hold_next("RunInstances")
    endpoint.front.fail_next("RunInstances", "InsufficientInstanceCapacity")

    with pytest.raises(ClientError):
        run_one(ec2, ami)

    assert not held.wait(0.0)
    held.release()
    run_one(ec2, ami)


def test_reset_drops_held_answers(endpoint, ec2, ami):
    held = endpoint.front.hold_next("DescribeInstances")
    call = Call(ec2.describe_instances)
    assert held.wait(10.0)

    endpoint.front.reset()

    assert isinstance(call.join().error, ConnectionClosedError)


def test_a_held_call_decided_in_advance_passes_without_waiting(endpoint, ec2):
    held = endpoint.front.hold_next("DescribeInstances")
    held.release()

    ec2.describe_instances()

    assert isinstance(held, HeldCall)
    assert held.wait(0.0)


def test_stopping_the_front_drops_held_answers(endpoint, ami):
    front = FaultFront(endpoint.moto_url)
    front.start()
    held = front.hold_next("DescribeInstances")
    call = Call(front_client(front.url).describe_instances)
    assert held.wait(10.0)

    front.stop()

    assert isinstance(call.join().error, ConnectionClosedError)


# --- counts and reset -----------------------------------------------------------------------------


def test_reset_forgets_faults_latency_buckets_and_counts(endpoint, ec2, sleeps):
    endpoint.front.fail_next("DescribeInstances", "Unavailable")
    endpoint.front.set_latency(1.0)
    endpoint.front.throttle(0.0, burst=0)
    endpoint.front.reset()

    ec2.describe_instances()

    assert sleeps == []
    assert endpoint.front.calls("DescribeInstances") == 1
    assert endpoint.counts() == {"DescribeInstances": ActionCounts(total=1)}


def test_endpoint_reset_empties_moto(endpoint, ec2, ami):
    run_one(ec2, ami)

    endpoint.reset()

    assert ec2.describe_instances()["Reservations"] == []


def test_the_front_relays_non_ec2_requests_unchanged():
    with FaultFront("http://127.0.0.1:9") as front:  # nothing listens on the discard port
        host, port = front.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/moto-api/")
        status = connection.getresponse().status
        connection.close()

    assert status == 502
    assert front.counts() == {}


def test_the_upstream_must_be_an_http_url():
    with pytest.raises(ValueError, match="http://"):
        FaultFront("ftp://example.com")

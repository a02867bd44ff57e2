"""Client-side token buckets per EC2 action, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from mcm.clock import FakeClock
from mcm.tokenbucket import TokenBucket
from mcm_provider_aws.throttle import (
    DEFAULT_DESCRIBE_RATE,
    DEFAULT_MUTATING_RATE,
    DEFAULT_RUN_INSTANCES_RATE,
    ActionThrottler,
    Rate,
    Throttle,
    parse_action_rates,
    parse_rate,
)

pytestmark = pytest.mark.timeout(10)


def test_the_defaults_are_awss_published_buckets():
    assert Rate(2.0, 5) == DEFAULT_RUN_INSTANCES_RATE
    assert Rate(5.0, 50) == DEFAULT_MUTATING_RATE
    assert Rate(20.0, 100) == DEFAULT_DESCRIBE_RATE


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        pytest.param("RunInstances", DEFAULT_RUN_INSTANCES_RATE, id="run-instances"),
        pytest.param("TerminateInstances", DEFAULT_MUTATING_RATE, id="terminate-is-mutating"),
        pytest.param(
            "ModifyNetworkInterfaceAttribute", DEFAULT_MUTATING_RATE, id="modify-is-mutating"
        ),
        pytest.param("DescribeInstances", DEFAULT_DESCRIBE_RATE, id="describe"),
        pytest.param("DescribeImages", DEFAULT_DESCRIBE_RATE, id="describe-images"),
    ],
)
def test_actions_fall_into_awss_categories(action, expected):
    assert Throttle().rate_for(action) == expected


def test_a_per_action_override_wins_and_disabling_turns_everything_off():
    throttle = Throttle(actions={"DescribeInstances": Rate(1.0, 1)})

    assert throttle.rate_for("DescribeInstances") == Rate(1.0, 1)
    assert throttle.rate_for("DescribeImages") == DEFAULT_DESCRIBE_RATE
    assert Throttle(enabled=False).rate_for("RunInstances") is None


def test_a_bucket_allows_its_burst_then_spaces_callers_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(2.0, 5, clock=clock)

    burst = [bucket.reserve() for _ in range(5)]
    queued = [bucket.reserve(), bucket.reserve()]

    assert burst == [0.0] * 5
    assert queued == pytest.approx([0.5, 1.0])
    clock.step(1.0)
    assert bucket.reserve() == pytest.approx(0.5)  # the two queued callers used that second


def test_a_bucket_refills_up_to_its_burst_only():
    clock = FakeClock()
    bucket = TokenBucket(2.0, 5, clock=clock)
    for _ in range(5):
        bucket.reserve()

    clock.step(3600.0)

    assert bucket.tokens == pytest.approx(5.0)


def test_the_throttler_sleeps_on_its_clock_and_keeps_one_bucket_per_action():
    clock = FakeClock()
    throttler = ActionThrottler(Throttle(run_instances=Rate(1.0, 1)), clock=clock)
    assert throttler.acquire("RunInstances") == 0.0
    waited: list[float] = []
    caller = threading.Thread(target=lambda: waited.append(throttler.acquire("RunInstances")))

    caller.start()
    assert clock.wait_for_waiters(1)
    assert throttler.acquire("DescribeInstances") == 0.0  # another action, another bucket
    clock.step(1.0)
    caller.join(5.0)

    assert waited == [pytest.approx(1.0)]
    assert throttler.bucket("RunInstances") is throttler.bucket("RunInstances")


def test_a_disabled_throttle_never_waits():
    throttler = ActionThrottler(Throttle(enabled=False), clock=FakeClock())

    assert [throttler.reserve("RunInstances") for _ in range(100)] == [0.0] * 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2:5", Rate(2.0, 5), id="integer-rate"),
        pytest.param(" 0.5:1 ", Rate(0.5, 1), id="fractional-rate"),
    ],
)
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2", id="no-burst"),
        pytest.param("x:5", id="not-a-number"),
        pytest.param("0:5", id="zero-rate"),
        pytest.param("2:0", id="zero-burst"),
    ],
)
def test_parse_rate_rejects_nonsense(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_parse_action_rates():
    assert parse_action_rates("RunInstances=1:3, DescribeInstances=10:50,") == {
        "RunInstances": Rate(1.0, 3),
        "DescribeInstances": Rate(10.0, 50),
    }
    with pytest.raises(ValueError, match="Action"):
        parse_action_rates("RunInstances")

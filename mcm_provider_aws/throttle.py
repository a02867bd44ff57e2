"""Client-side token buckets for EC2 calls, so the driver throttles itself before AWS does.

EC2 rate-limits every account and region with a token bucket per API action (the "request token
bucket" of AWS's EC2 API documentation): a call takes a token, a bucket holds at most *burst*
tokens and refills at *rate* per second, and a call that finds the bucket empty is answered
``RequestLimitExceeded``. A controller that scales a machine deployment from 0 to 300 sends a burst
of RunInstances and DescribeInstances calls; letting AWS refuse them costs a round trip, a back-off
and, for other clients of the same account (the cloud controller, the CSI driver), refused calls
of their own. So the driver spaces its calls with the same buckets on its side:

* `Throttle` is the configuration (the CLI fills it from flags): one `Rate` for RunInstances, one
  for the other mutating actions, one for Describe* calls, and per-action overrides. The defaults
  are AWS's published buckets: RunInstances 2/s with a burst of 5, other mutating actions 5/s with
  a burst of 50, non-mutating actions 20/s with a burst of 100.
* Each bucket is an `mcm.tokenbucket.TokenBucket`. A caller *reserves* a token and sleeps until it
  is due, on the injected `Clock`; reservations may drive the bucket below zero, so concurrent
  callers are served in the order they arrived and none is starved (Go's ``rate.Limiter.Reserve``).
* `ActionThrottler` holds one bucket per action for one scope (the driver keeps one per region and
  credentials, the scope of AWS's own buckets) and blocks in `ActionThrottler.acquire`.

Durations are float seconds. Everything here is thread-safe.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Mapping
from typing import Final

import attrs

from mcm.clock import Clock, RealClock
from mcm.tokenbucket import TokenBucket

__all__ = [
    "DEFAULT_DESCRIBE_RATE",
    "DEFAULT_MUTATING_RATE",
    "DEFAULT_RUN_INSTANCES_RATE",
    "ActionThrottler",
    "Rate",
    "Throttle",
    "parse_action_rates",
    "parse_rate",
]


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


def _at_least_one(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value!r}")


@attrs.frozen
class Rate:
    """A token bucket's shape: *per_second* tokens refill each second, at most *burst* held."""

    per_second: float = attrs.field(validator=_positive)
    burst: int = attrs.field(validator=_at_least_one)

    def __str__(self) -> str:
        return f"{self.per_second:g}:{self.burst}"


DEFAULT_RUN_INSTANCES_RATE: Final = Rate(2.0, 5)
"""AWS's RunInstances bucket: the action that creates resources is limited hardest."""
DEFAULT_MUTATING_RATE: Final = Rate(5.0, 50)
"""AWS's bucket for the other mutating actions (TerminateInstances, ModifyNetworkInterface…)."""
DEFAULT_DESCRIBE_RATE: Final = Rate(20.0, 100)
"""AWS's bucket for non-mutating actions (Describe*)."""

_NON_MUTATING_PREFIXES = ("Describe", "Get", "List")


def _frozen_rates(value: Mapping[str, Rate]) -> Mapping[str, Rate]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Throttle:
    """How fast the driver may call each EC2 action (per region and credentials)."""

    enabled: bool = True
    """False: no client-side throttling at all (AWS's own throttling and botocore's retries
    remain)."""
    run_instances: Rate = DEFAULT_RUN_INSTANCES_RATE
    """RunInstances."""
    mutating: Rate = DEFAULT_MUTATING_RATE
    """Every other action that is not a Describe/Get/List."""
    describe: Rate = DEFAULT_DESCRIBE_RATE
    """Describe*, Get* and List* actions."""
    actions: Mapping[str, Rate] = attrs.field(factory=dict, converter=_frozen_rates)
    """Per-action overrides by EC2 action name (``"DescribeInstances"``); they win over the
    categories above."""

    def rate_for(self, action: str) -> Rate | None:
        """The bucket shape of *action*; None when throttling is disabled."""
        if not self.enabled:
            return None
        override = self.actions.get(action)
        if override is not None:
            return override
        if action == "RunInstances":
            return self.run_instances
        if action.startswith(_NON_MUTATING_PREFIXES):
            return self.describe
        return self.mutating


def parse_rate(text: str) -> Rate:
    """``"2:5"`` (per second, burst) as a `Rate`; ``"0.5:1"`` is one call every two seconds."""
    per_second, separator, burst = text.strip().partition(":")
    if not separator:
        raise ValueError(f"a rate is '<per second>:<burst>', not {text!r}")
    try:
        return Rate(float(per_second), int(burst))
    except ValueError as error:
        raise ValueError(f"invalid rate {text!r}: {error}") from None


def parse_action_rates(text: str) -> dict[str, Rate]:
    """``"RunInstances=1:3,DescribeInstances=10:50"`` as per-action `Rate` overrides."""
    rates: dict[str, Rate] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        action, separator, rate = item.partition("=")
        if not separator or not action.strip():
            raise ValueError(f"an action rate is '<Action>=<per second>:<burst>', not {item!r}")
        rates[action.strip()] = parse_rate(rate)
    return rates


class ActionThrottler:
    """One `TokenBucket` per EC2 action, shaped by a `Throttle`."""

    def __init__(self, throttle: Throttle, *, clock: Clock | None = None) -> None:
        self.throttle = throttle
        self._clock: Clock = clock if clock is not None else RealClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket | None] = {}

    def bucket(self, action: str) -> TokenBucket | None:
        """The bucket of *action* (made on first use); None when it is not throttled."""
        with self._lock:
            if action not in self._buckets:
                rate = self.throttle.rate_for(action)
                self._buckets[action] = (
                    TokenBucket(rate.per_second, rate.burst, clock=self._clock)
                    if rate is not None
                    else None
                )
            return self._buckets[action]

    def reserve(self, action: str) -> float:
        """Take a token of *action*; the seconds to wait before calling (no waiting here)."""
        bucket = self.bucket(action)
        return bucket.reserve() if bucket is not None else 0.0

    def acquire(self, action: str) -> float:
        """Block (on the clock) until *action* may be called; return the seconds waited."""
        delay = self.reserve(action)
        if delay > 0:
            self._clock.sleep(delay)
        return delay

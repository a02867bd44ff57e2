"""``/healthz`` of an elected `MachineControllerApp` fails for a leader stuck without renewals.

The app runs in a thread against a `FakeApiServer`, on a `FakeClock` that only the test moves. A
stuck leader is one whose renewal hangs (a request that never returns): its renew loop cannot
notice the renew deadline, so only the health check can tell. Real-time waits are bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mcm.app import LEADER_ELECTION_HEALTH_CHECK, LEADER_ELECTION_HEALTH_TOLERANCE
from mcm.clock import FakeClock
from mcm.kube.protocol import JSON
from mcm.kube.resources import LEASES, Resource
from mcm.testing.fake_api import FakeApiServer
from tests.unit.app.builders import World, election, eventually, http_get, options

pytestmark = pytest.mark.timeout(30)

NAMESPACE = "default"
LEASE_DURATION = 15.0
HANG_LIMIT = 10.0
"""Real seconds a hung lease update waits at most (the test releases it when it ends)."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hang() -> threading.Event:
    """Cleared: lease updates hang. Set: they go through."""
    return threading.Event()


@pytest.fixture
def api(clock: FakeClock, hang: threading.Event, monkeypatch: pytest.MonkeyPatch) -> FakeApiServer:
    """A FakeApiServer whose lease updates (renewals) hang until *hang* is set."""
    api = FakeApiServer(clock=clock)
    update = api.update

    def hanging_update(resource: Resource, body: JSON, **kwargs: Any) -> JSON:
        if resource == LEASES:
            hang.wait(HANG_LIMIT)
        return update(resource, body, **kwargs)

    monkeypatch.setattr(api, "update", hanging_update)
    return api


@pytest.fixture
def world(api: FakeApiServer, hang: threading.Event) -> Iterator[World]:
    timing = election(lease_duration=LEASE_DURATION, renew_deadline=10.0, retry_period=2.0)
    world = World(api, NAMESPACE, options(NAMESPACE, leader_election=timing))
    try:
        yield world
    finally:
        hang.set()
        world.stop()


def start_leader(world: World, clock: FakeClock) -> str:
    """Start a replica that acquires the (new) Lease, wait until it leads; the server's URL.

    Acquiring creates the Lease, which does not hang; its first renewal does."""
    world.start_app(clock=clock, identity="replica-a")
    eventually(lambda: world.app.leading, timeout=5.0)
    return world.app.server.url


def test_a_fresh_leader_is_healthy(world: World, clock: FakeClock) -> None:
    url = start_leader(world, clock)

    answer = http_get(url + "/healthz?verbose")

    assert answer == (
        200,
        f"[+]machine-controller ok\n[+]{LEADER_ELECTION_HEALTH_CHECK} ok\nok\n",
    )


def test_a_leader_whose_renewal_hangs_fails_healthz_once_the_lease_is_past_tolerance(
    world: World, clock: FakeClock
) -> None:
    url = start_leader(world, clock)

    clock.step(LEASE_DURATION + LEADER_ELECTION_HEALTH_TOLERANCE)
    at_the_limit = http_get(url + "/healthz")
    clock.step(1.0)
    stuck = http_get(url + "/healthz")

    assert at_the_limit == (200, "ok\n")
    assert stuck == (500, f"[-]{LEADER_ELECTION_HEALTH_CHECK} failed\ncheck failed\n")
    assert world.app.leading

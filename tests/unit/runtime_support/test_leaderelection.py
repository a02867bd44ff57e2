"""Leader election on a Lease: one step at a time, then the loop, then two threads racing."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from mcm.api.meta import parse_time
from mcm.clock import FakeClock
from mcm.errors import ServerError
from mcm.kube.protocol import JSON
from mcm.kube.resources import LEASES, Resource
from mcm.leaderelection import LeaderElectionRecord, LeaderElector
from mcm.testing import FakeApiServer, Verb

NAMESPACE = "default"
NAME = "machine-controller"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class SteppingClock(FakeClock):
    """A FakeClock whose timed waits pass at once, by stepping it: one thread drives a whole
    election loop deterministically."""

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if event.is_set() or timeout is None:
            return super().wait(event, timeout)
        self.step(timeout)
        return event.is_set()


class HookedApiServer(FakeApiServer):
    """A FakeApiServer that runs a test's hook just before a write goes through."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before_update: Callable[[], object] | None = None  # one-shot
        self.before_create: Callable[[], object] | None = None  # one-shot
        self.after_update: Callable[[JSON], object] | None = None  # every successful update

    def update(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        hook, self.before_update = self.before_update, None
        if hook is not None:
            hook()
        result = super().update(resource, body, namespace=namespace, subresource=subresource)
        if self.after_update is not None:
            self.after_update(result)
        return result

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        hook, self.before_create = self.before_create, None
        if hook is not None:
            hook()
        return super().create(resource, body, namespace=namespace)


class Callbacks:
    """Records what an elector tells its owner, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.lost_seen = threading.Event()

    def on_started_leading(self, lost: threading.Event) -> None:
        self.events.append("started")
        self.started.set()
        if lost.wait(10):
            self.events.append("lost")
            self.lost_seen.set()

    def on_stopped_leading(self) -> None:
        self.events.append("stopped")
        self.stopped.set()

    def on_new_leader(self, identity: str) -> None:
        self.events.append(f"leader={identity}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> HookedApiServer:
    return HookedApiServer(clock=clock)


@pytest.fixture
def make_elector(api: HookedApiServer, clock: FakeClock) -> Callable[..., LeaderElector]:
    def make(identity: str, *, callbacks: Callbacks | None = None, **kwargs: Any) -> LeaderElector:
        callbacks = callbacks or Callbacks()
        server = kwargs.pop("api", api)
        options: dict[str, Any] = {
            "namespace": NAMESPACE,
            "name": NAME,
            "identity": identity,
            "clock": clock,
            "on_started_leading": callbacks.on_started_leading,
            "on_stopped_leading": callbacks.on_stopped_leading,
            "on_new_leader": callbacks.on_new_leader,
        }
        options.update(kwargs)
        return LeaderElector(server, **options)

    return make


def lease_record(api: FakeApiServer) -> LeaderElectionRecord:
    lease = api.stored(LEASES, NAME, namespace=NAMESPACE)
    assert lease is not None
    return LeaderElectionRecord.from_lease(lease)


# --- one step at a time -----------------------------------------------------------------------


def test_a_lone_candidate_creates_the_lease_and_leads(api, make_elector, clock):
    elector = make_elector("a")

    acquired = elector.try_acquire_or_renew()

    assert acquired
    assert elector.is_leader()
    assert elector.leader == "a"
    record = lease_record(api)
    assert record.holder_identity == "a"
    assert record.lease_duration_seconds == 15
    assert record.leader_transitions == 0
    assert record.acquire_time == record.renew_time
    assert record.renew_time is not None
    assert record.renew_time.timestamp() == pytest.approx(clock.now())


def test_the_lease_is_written_the_way_client_go_writes_it(api, make_elector):
    make_elector("a", lease_duration=15.9).try_acquire_or_renew()

    lease = api.stored(LEASES, NAME, namespace=NAMESPACE)

    assert lease is not None
    assert lease["apiVersion"] == "coordination.k8s.io/v1"
    assert lease["kind"] == "Lease"
    spec = lease["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15  # whole seconds, truncated as in Go
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"])
    assert MICRO_TIME.match(spec["renewTime"])


def test_the_leader_renews_without_reading_the_lease_first(api, make_elector, clock):
    elector = make_elector("a")
    elector.try_acquire_or_renew()
    acquired_at = lease_record(api).acquire_time
    api.clear_actions()
    clock.step(2)

    renewed = elector.try_acquire_or_renew()

    assert renewed
    assert [a.verb for a in api.actions] == [Verb.UPDATE]
    record = lease_record(api)
    assert record.acquire_time == acquired_at
    assert record.renew_time is not None
    assert record.renew_time.timestamp() == pytest.approx(clock.now())


def test_a_second_candidate_waits_while_the_leader_renews(api, make_elector, clock):
    leader, follower = make_elector("a"), make_elector("b")
    leader.try_acquire_or_renew()

    outcomes = []
    for _ in range(10):  # 30 s in all, twice the lease duration
        outcomes.append(follower.try_acquire_or_renew())
        clock.step(3)
        assert leader.try_acquire_or_renew()

    assert outcomes == [False] * 10
    assert not follower.is_leader()
    assert follower.leader == "a"
    assert lease_record(api).holder_identity == "a"


@pytest.mark.parametrize(
    ("elapsed", "taken_over"),
    [
        pytest.param(14.0, False, id="before-the-lease-duration"),
        pytest.param(15.0, True, id="at-the-lease-duration-as-client-go"),
        pytest.param(15.5, True, id="past-the-lease-duration"),
    ],
)
def test_a_follower_takes_over_once_the_leader_stops_renewing(
    api, make_elector, clock, elapsed, taken_over
):
    leader, follower = make_elector("a"), make_elector("b")
    leader.try_acquire_or_renew()
    follower.try_acquire_or_renew()  # the follower first sees the record now
    clock.step(elapsed)

    acquired = follower.try_acquire_or_renew()

    assert acquired is taken_over
    record = lease_record(api)
    if taken_over:
        assert record.holder_identity == "b"
        assert record.leader_transitions == 1
        assert record.acquire_time is not None
        assert record.acquire_time.timestamp() == pytest.approx(clock.now())
    else:
        assert record.holder_identity == "a"


def test_expiry_is_measured_from_the_followers_own_observation_not_the_renew_time(
    api, make_elector, clock
):
    # A record renewed "long ago" by the remote clock is still fresh to a candidate that has only
    # just seen it: clocks on different machines are not compared.
    api.seed(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {
                "holderIdentity": "gone",
                "leaseDurationSeconds": 15,
                "acquireTime": "2001-01-01T00:00:00.000000Z",
                "renewTime": "2001-01-01T00:00:00.000000Z",
                "leaseTransitions": 4,
            },
        },
    )
    candidate = make_elector("b")

    first = candidate.try_acquire_or_renew()
    clock.step(10)
    second = candidate.try_acquire_or_renew()
    clock.step(6)
    third = candidate.try_acquire_or_renew()

    assert (first, second, third) == (False, False, True)
    assert lease_record(api).leader_transitions == 5


def test_a_follower_that_sees_the_record_change_restarts_its_wait(api, make_elector, clock):
    leader, follower = make_elector("a"), make_elector("b")
    leader.try_acquire_or_renew()
    follower.try_acquire_or_renew()
    clock.step(10)
    leader.try_acquire_or_renew()  # the last renewal the leader makes
    clock.step(6)  # 16 s since the follower's first look, 6 s since the renewal

    seen_change = follower.try_acquire_or_renew()
    clock.step(14)
    still_waiting = follower.try_acquire_or_renew()
    clock.step(2)
    expired = follower.try_acquire_or_renew()

    assert (seen_change, still_waiting, expired) == (False, False, True)


def test_a_released_lease_is_taken_over_at_once(api, make_elector):
    leader, follower = make_elector("a"), make_elector("b")
    leader.try_acquire_or_renew()
    follower.try_acquire_or_renew()

    released = leader.release()
    acquired = follower.try_acquire_or_renew()

    assert released
    assert not leader.is_leader()
    assert acquired
    record = lease_record(api)
    assert record.holder_identity == "b"
    assert record.leader_transitions == 1


def test_releasing_empties_the_holder_and_shortens_the_lease(api, make_elector):
    leader = make_elector("a")
    leader.try_acquire_or_renew()

    leader.release()

    spec = api.stored(LEASES, NAME, namespace=NAMESPACE)["spec"]
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["renewTime"])


def test_release_leaves_a_lease_someone_else_took_alone(api, make_elector, clock):
    old, new = make_elector("a"), make_elector("b")
    old.try_acquire_or_renew()
    new.try_acquire_or_renew()
    clock.step(16)
    new.try_acquire_or_renew()  # "a" was stuck; "b" took over

    released = old.release()

    assert released
    assert lease_record(api).holder_identity == "b"
    assert not old.is_leader()


def test_a_follower_has_nothing_to_release(api, make_elector):
    make_elector("a").try_acquire_or_renew()
    follower = make_elector("b")
    follower.try_acquire_or_renew()
    api.clear_actions()

    assert follower.release()
    assert api.actions == []


def test_two_candidates_racing_for_an_expired_lease_yield_one_leader(api, make_elector, clock):
    make_elector("a").try_acquire_or_renew()
    b, c = make_elector("b"), make_elector("c")
    b.try_acquire_or_renew()
    c.try_acquire_or_renew()
    clock.step(16)
    c_result: list[bool] = []
    # "b" has read the expired lease; "c" reads it too and writes before "b" does.
    api.before_update = lambda: c_result.append(c.try_acquire_or_renew())

    b_result = b.try_acquire_or_renew()

    assert (b_result, c_result) == (False, [True])
    assert not b.is_leader()
    assert c.is_leader()
    assert lease_record(api).holder_identity == "c"
    assert lease_record(api).leader_transitions == 1


def test_two_candidates_racing_to_create_the_lease_yield_one_leader(api, make_elector):
    a, b = make_elector("a"), make_elector("b")
    b_result: list[bool] = []
    api.before_create = lambda: b_result.append(b.try_acquire_or_renew())

    a_result = a.try_acquire_or_renew()

    assert (a_result, b_result) == (False, [True])
    assert lease_record(api).holder_identity == "b"
    assert not a.is_leader()


def test_a_leader_whose_lease_was_taken_steps_down_on_its_next_attempt(api, make_elector, clock):
    stuck, other = make_elector("a"), make_elector("b")
    stuck.try_acquire_or_renew()
    other.try_acquire_or_renew()
    clock.step(16)
    other.try_acquire_or_renew()
    clock.step(1)

    renewed = stuck.try_acquire_or_renew()  # fast path conflicts; the lease is held by "b"

    assert not renewed
    assert not stuck.is_leader()
    assert stuck.leader == "b"
    assert lease_record(api).holder_identity == "b"


@pytest.mark.parametrize("verb", ["get", "create"])
def test_api_errors_count_as_a_failed_attempt(api, make_elector, verb):
    elector = make_elector("a")
    api.fail_next(verb, LEASES, error=ServerError("etcd is down", status=500))

    acquired = elector.try_acquire_or_renew()

    assert not acquired
    assert not elector.is_leader()
    assert elector.try_acquire_or_renew()


@pytest.mark.parametrize(
    ("timing", "message"),
    [
        pytest.param({"lease_duration": 10.0}, "lease_duration", id="lease-not-above-deadline"),
        pytest.param({"retry_period": 9.0}, "renew_deadline", id="deadline-below-jittered-retry"),
        pytest.param({"retry_period": 0.0}, "retry_period", id="no-retry-period"),
        pytest.param({"identity": ""}, "identity", id="no-identity"),
    ],
)
def test_inconsistent_settings_are_refused(make_elector, timing, message):
    with pytest.raises(ValueError, match=message):
        make_elector(timing.pop("identity", "a"), **timing)


def test_check_reports_a_leader_that_stopped_renewing(make_elector, clock):
    leader, follower = make_elector("a"), make_elector("b")
    leader.try_acquire_or_renew()
    follower.try_acquire_or_renew()

    fresh = leader.check(tolerance=5)
    clock.step(21)
    stale = leader.check(tolerance=5)

    assert (fresh, stale) == (True, False)
    assert follower.check(tolerance=5)


# --- the loop, driven by a stepping clock -------------------------------------------------------


@pytest.fixture
def stepping_clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def stepping_api(stepping_clock: SteppingClock) -> HookedApiServer:
    return HookedApiServer(clock=stepping_clock)


def stop_after_updates(api: HookedApiServer, stop: threading.Event, count: int) -> list[JSON]:
    """Set *stop* once *count* updates went through; returns the leases they wrote."""
    written: list[JSON] = []

    def after(lease: JSON) -> None:
        written.append(lease)
        if len(written) >= count:
            stop.set()

    api.after_update = after
    return written


@pytest.mark.timeout(10)
def test_run_leads_until_stopped_then_releases_the_lease(
    stepping_api, stepping_clock, make_elector
):
    callbacks = Callbacks()
    elector = make_elector("a", callbacks=callbacks, api=stepping_api, clock=stepping_clock)
    stop = threading.Event()
    written = stop_after_updates(stepping_api, stop, 3)  # three renewals, then the release

    elector.run(stop)

    assert callbacks.events == ["leader=a", "started", "lost", "stopped"]
    assert [w["spec"]["holderIdentity"] for w in written] == ["a", "a", "a", ""]
    assert lease_record(stepping_api).holder_identity == ""
    assert not elector.is_leader()


@pytest.mark.timeout(10)
def test_run_without_release_on_cancel_leaves_the_lease_held(
    stepping_api, stepping_clock, make_elector
):
    callbacks = Callbacks()
    elector = make_elector(
        "a", callbacks=callbacks, api=stepping_api, clock=stepping_clock, release_on_cancel=False
    )
    stop = threading.Event()
    stop_after_updates(stepping_api, stop, 2)

    elector.run(stop)

    assert callbacks.stopped.is_set()
    assert lease_record(stepping_api).holder_identity == "a"


@pytest.mark.timeout(10)
def test_run_stops_leading_when_no_renewal_succeeds_within_the_deadline(
    stepping_api, stepping_clock, make_elector
):
    callbacks = Callbacks()
    outage = ServerError("etcd is down", status=500)
    start_outage_at: list[float] = []

    def on_new_leader(identity: str) -> None:
        callbacks.on_new_leader(identity)
        start_outage_at.append(stepping_clock.monotonic())
        stepping_api.fail_next("update", LEASES, error=outage, count=1000)
        stepping_api.fail_next("get", LEASES, error=outage, count=1000)

    elector = make_elector(
        "a",
        callbacks=callbacks,
        api=stepping_api,
        clock=stepping_clock,
        on_new_leader=on_new_leader,
    )

    elector.run(threading.Event())

    assert callbacks.events == ["leader=a", "started", "lost", "stopped"]
    given_up_after = stepping_clock.monotonic() - start_outage_at[0]
    # The first renewal is attempted right after acquiring and the deadline runs from there. Others
    # may take over 15 s after the last successful write: this leader has given up before that.
    assert given_up_after == pytest.approx(10.0)
    assert given_up_after < 15.0


@pytest.mark.timeout(10)
def test_a_renewal_outage_shorter_than_the_deadline_keeps_leadership(
    stepping_api, stepping_clock, make_elector
):
    callbacks = Callbacks()
    outage = ServerError("etcd is down", status=500)
    stop = threading.Event()
    writes: list[list[JSON]] = []

    def on_new_leader(identity: str) -> None:
        # Three renewal attempts fail (6 s), the fourth succeeds.
        stepping_api.fail_next("update", LEASES, error=outage, count=3)
        stepping_api.fail_next("get", LEASES, error=outage, count=3)
        writes.append(stop_after_updates(stepping_api, stop, 2))

    elector = make_elector(
        "a",
        callbacks=callbacks,
        api=stepping_api,
        clock=stepping_clock,
        on_new_leader=on_new_leader,
    )

    elector.run(stop)

    assert callbacks.events == ["started", "lost", "stopped"]
    # Two renewals after the outage, then the release on stop: leadership was never given up.
    assert [w["spec"]["holderIdentity"] for w in writes[0]] == ["a", "a", ""]


@pytest.mark.timeout(10)
def test_run_stopped_before_acquiring_calls_no_callbacks(
    stepping_api, stepping_clock, make_elector
):
    make_elector("a", api=stepping_api, clock=stepping_clock).try_acquire_or_renew()
    callbacks = Callbacks()
    follower = make_elector("b", callbacks=callbacks, api=stepping_api, clock=stepping_clock)
    stop = threading.Event()
    stop.set()

    follower.run(stop)

    assert callbacks.events == []


# --- real threads ---------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_two_threaded_candidates_hand_over_when_the_leader_stops(api, clock, make_elector):
    first_callbacks, second_callbacks = Callbacks(), Callbacks()
    first = make_elector("a", callbacks=first_callbacks)
    second = make_elector("b", callbacks=second_callbacks)
    stop_first, stop_second = threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=first.run, args=(stop_first,), daemon=True),
        threading.Thread(target=second.run, args=(stop_second,), daemon=True),
    ]

    threads[0].start()
    assert first_callbacks.started.wait(5)
    threads[1].start()
    assert clock.wait_for_waiters(2)  # the leader between renewals, the follower between tries
    assert not second.is_leader()
    stop_first.set()
    threads[0].join(5)
    assert clock.wait_for_waiters(1)
    clock.step(5)  # past the follower's longest jittered retry period
    handed_over = second_callbacks.started.wait(5)
    stop_second.set()
    threads[1].join(5)

    assert not threads[0].is_alive()
    assert not threads[1].is_alive()
    assert handed_over
    assert first_callbacks.events[-2:] == ["lost", "stopped"]
    assert second_callbacks.stopped.is_set()
    assert lease_record(api).holder_identity == ""
    assert lease_record(api).leader_transitions == 1
    acquired = parse_time(api.stored(LEASES, NAME, namespace=NAMESPACE)["spec"]["acquireTime"])
    assert acquired is not None

"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``tools/leaderelection``.

Several replicas of a controller run; one leads and does the work, the others wait to take over.
`LeaderElector` keeps client-go's protocol, so a Python replica and a Go replica (or ``kubectl get
lease``) read the same record:

- **The record** lives in the Lease's ``spec``: ``holderIdentity``, ``leaseDurationSeconds``,
  ``acquireTime``, ``renewTime`` (``MicroTime``, ``2006-01-02T15:04:05.000000Z``) and
  ``leaseTransitions``. `LeaderElectionRecord` is its parsed form.
- **Acquiring.** A candidate creates the Lease if there is none. Otherwise it may take the Lease
  over when the holder is empty (a released Lease) or when the record has not changed for
  ``leaseDurationSeconds``. That age is measured from the moment *this* candidate last saw the
  record change, on its own monotonic clock; the timestamps in the record are never compared with
  local time, so clock skew between machines does not matter. A candidate that cannot acquire
  retries every *retry_period*, jittered up to 1.2 times more, as ``wait.JitterUntil`` does.
- **Optimistic concurrency.** Every write is an ``update`` carrying the ``resourceVersion`` last
  read (or written), so when two candidates race for an expired Lease the API server lets exactly
  one write through and the other gets a conflict and stays a follower.
- **Renewing.** The leader rewrites ``renewTime`` every *retry_period*. When no renewal succeeds
  within *renew_deadline* it stops leading. *lease_duration* must exceed *renew_deadline*, so a
  leader gives up before anyone else may take over.
- **Stopping.** `LeaderElector.run` blocks until its stop event is set or leadership is lost.
  Leading work runs in a thread of its own (``on_started_leading(lost)``); *lost* is set when
  leadership ends, for whatever reason. Before the Lease is released, `run` waits (at most
  *lease_duration* seconds of real time) for that work to return, so the next leader does not
  overlap with it. With *release_on_cancel* (client-go's ``ReleaseOnCancel``) the Lease is then
  released (holder ``""``, ``leaseDurationSeconds: 1``) so another candidate takes over at once
  rather than after a full lease duration. ``on_stopped_leading`` is called last.

Differences from client-go, on purpose: ``on_stopped_leading`` is called only when this candidate
did lead (client-go also calls it when stopped before acquiring); ``on_new_leader`` is called
synchronously from the election thread and never with an empty identity; release re-reads the Lease
and leaves it alone when someone else holds it.

The steps are public for tests: `LeaderElector.try_acquire_or_renew` makes one attempt and
`LeaderElector.release` one release, so a test drives an election deterministically with a
`mcm.clock.FakeClock` and no threads. Durations are float seconds.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from mcm.api.meta import parse_time
from mcm.clock import Clock, RealClock, utcnow
from mcm.errors import ConflictError, MCMError, NotFoundError
from mcm.kube.protocol import JSON, Api
from mcm.kube.resources import LEASES

logger = logging.getLogger(__name__)

LEASES_RESOURCE_LOCK = "leases"
"""The only ``--leader-elect-resource-lock`` client-go still supports."""

DEFAULT_LEASE_DURATION = 15.0
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0

JITTER_FACTOR = 1.2
"""A candidate waits between *retry_period* and ``(1 + JITTER_FACTOR) * retry_period`` between
attempts to acquire (client-go's ``JitterFactor``)."""

MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""``metav1.MicroTime`` on the wire: RFC 3339 in UTC with exactly six fractional digits."""

_RELEASE_ATTEMPTS = 3  # a renewal in flight may bump the resourceVersion under a release


def format_micro_time(value: datetime.datetime) -> str:
    """Format as ``metav1.MicroTime`` does (``2006-01-02T15:04:05.000000Z``)."""
    return value.astimezone(datetime.UTC).strftime(MICRO_TIME_FORMAT)


@attrs.frozen(kw_only=True)
class LeaderElectionRecord:
    """The election state kept in a Lease's ``spec`` (client-go's ``LeaderElectionRecord``)."""

    holder_identity: str = ""
    """Who holds the lease; ``""`` when nobody does (a released lease)."""
    lease_duration_seconds: int = 0
    """How long others must see the record unchanged before they may take over."""
    acquire_time: datetime.datetime | None = None
    """When the current holder acquired the lease."""
    renew_time: datetime.datetime | None = None
    """When the current holder last renewed it (informational: expiry is measured locally)."""
    leader_transitions: int = 0
    """How many times the lease changed hands."""

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaderElectionRecord:
        """Read the record from a Lease object; missing fields read as zero values."""
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=spec.get("holderIdentity") or "",
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_lease_spec(self) -> JSON:
        """The Lease ``spec`` that stores this record (every field written, as client-go does)."""
        spec: JSON = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.leader_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


class LeaderElector:
    """One candidate in the election for the Lease *namespace*/*name*; see the module docstring.

    *on_started_leading* is called in a new thread once this candidate leads, with an event that is
    set when leadership ends; it should return soon after. *on_stopped_leading* is called once
    leadership has ended (lost or stopped). *on_new_leader* is told each newly observed holder,
    this candidate included.
    """

    def __init__(
        self,
        api: Api,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = DEFAULT_LEASE_DURATION,
        renew_deadline: float = DEFAULT_RENEW_DEADLINE,
        retry_period: float = DEFAULT_RETRY_PERIOD,
        clock: Clock | None = None,
        on_started_leading: Callable[[threading.Event], object],
        on_stopped_leading: Callable[[], object],
        on_new_leader: Callable[[str], object] | None = None,
        release_on_cancel: bool = True,
    ) -> None:
        # client-go's NewLeaderElector checks, in its order.
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * JITTER_FACTOR")
        if retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")
        if not identity:
            raise ValueError("the identity of a leader election candidate must not be empty")
        if not name or not namespace:
            raise ValueError("the lease needs a name and a namespace")
        self._api = api
        self._namespace = namespace
        self._name = name
        self._identity = identity
        self._lease_duration = lease_duration
        self._renew_deadline = renew_deadline
        self._retry_period = retry_period
        self._clock: Clock = clock if clock is not None else RealClock()
        self._on_started_leading = on_started_leading
        self._on_stopped_leading = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._release_on_cancel = release_on_cancel

        self._lock = threading.Lock()
        # The record as last seen (read or written) and when, on the monotonic clock.
        self._observed = LeaderElectionRecord()
        self._observed_at = float("-inf")
        self._lease: JSON | None = None  # the Lease as last read or written: its resourceVersion
        self._reported_leader = ""

    def __repr__(self) -> str:
        return f"<LeaderElector {self.description} identity={self._identity!r}>"

    @property
    def description(self) -> str:
        """``namespace/name`` of the Lease, for logs."""
        return f"{self._namespace}/{self._name}"

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def leader(self) -> str:
        """The holder last observed; ``""`` if none was seen yet (client-go's ``GetLeader``)."""
        with self._lock:
            return self._observed.holder_identity

    def is_leader(self) -> bool:
        """Whether the last observed holder is this candidate."""
        with self._lock:
            return self._observed.holder_identity == self._identity

    def check(self, tolerance: float = 0.0) -> bool:
        """A health check (client-go's ``Check``): False when this candidate believes it leads but
        has not renewed for longer than *lease_duration* + *tolerance* (a stuck leader), and logs
        why, as the check's caller (`mcm.server.Server`) serves only its name."""
        with self._lock:
            if self._observed.holder_identity != self._identity:
                return True
            age = self._clock.monotonic() - self._observed_at
        if age <= self._lease_duration + tolerance:
            return True
        logger.warning(
            "Failed election to renew leadership on lease %s: last renewed %.1fs ago (limit %.1fs)",
            self.description,
            age,
            self._lease_duration + tolerance,
        )
        return False

    # --- the election loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Campaign until *stop* is set; lead until *stop* is set or leadership is lost."""
        if not self._acquire(stop):
            return
        lost = threading.Event()
        leading = threading.Thread(
            target=self._lead, args=(lost,), name=f"leading-{self._name}", daemon=True
        )
        leading.start()
        try:
            self._renew(stop)
        finally:
            lost.set()
            leading.join(self._lease_duration)
            if leading.is_alive():
                logger.warning(
                    "Leading work for lease %s did not stop within %.0fs; not waiting for it",
                    self.description,
                    self._lease_duration,
                )
            if self._release_on_cancel:
                self.release()
            self._on_stopped_leading()

    def _acquire(self, stop: threading.Event) -> bool:
        logger.info("Attempting to acquire leader lease %s as %s", self.description, self._identity)
        while not stop.is_set():
            acquired = self.try_acquire_or_renew()
            self._maybe_report_transition()
            if acquired:
                logger.info("Successfully acquired lease %s", self.description)
                return True
            logger.debug("Failed to acquire lease %s", self.description)
            self._clock.wait(stop, _jittered(self._retry_period))
        return False

    def _renew(self, stop: threading.Event) -> None:
        while not stop.is_set():
            renewed = self._renew_within_deadline(stop)
            self._maybe_report_transition()
            if stop.is_set():
                logger.info("Stopping leadership of lease %s", self.description)
                return
            if not renewed:
                logger.warning(
                    "Failed to renew lease %s within %.1fs; leadership lost",
                    self.description,
                    self._renew_deadline,
                )
                return
            logger.debug("Successfully renewed lease %s", self.description)
            self._clock.wait(stop, self._retry_period)

    def _renew_within_deadline(self, stop: threading.Event) -> bool:
        """Try every *retry_period* until one renewal succeeds or *renew_deadline* has passed."""
        started = self._clock.monotonic()
        while not stop.is_set():
            if self.try_acquire_or_renew():
                return True
            if self._clock.wait(stop, self._retry_period):
                return False
            if self._clock.monotonic() - started >= self._renew_deadline:
                return False
        return False

    def _lead(self, lost: threading.Event) -> None:
        try:
            self._on_started_leading(lost)
        except Exception:
            logger.exception("Leading work for lease %s failed", self.description)

    def _maybe_report_transition(self) -> None:
        with self._lock:
            holder = self._observed.holder_identity
            if holder == self._reported_leader:
                return
            self._reported_leader = holder
        if not holder:
            return
        logger.info("New leader of lease %s: %s", self.description, holder)
        if self._on_new_leader is not None:
            try:
                self._on_new_leader(holder)
            except Exception:
                logger.exception("on_new_leader for lease %s failed", self.description)

    # --- one step ---------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt to acquire the lease, or to renew it when this candidate leads.

        True when this candidate holds the lease afterwards. API errors are logged and count as a
        failed attempt.
        """
        now = utcnow(self._clock)
        desired = LeaderElectionRecord(
            holder_identity=self._identity,
            lease_duration_seconds=int(self._lease_duration),
            acquire_time=now,
            renew_time=now,
        )

        # 1. The leader's fast path: update the lease as last written, without reading it first.
        if self.is_leader() and self._lease_valid() and self._lease is not None:
            with self._lock:
                observed = self._observed
            record = attrs.evolve(
                desired,
                acquire_time=observed.acquire_time,
                leader_transitions=observed.leader_transitions,
            )
            try:
                self._update(record)
            except MCMError as exc:
                logger.info(
                    "Failed to update lease %s optimistically, falling back to slow path: %s",
                    self.description,
                    exc,
                )
            else:
                self._observe(record)
                return True

        # 2. Read the lease, or create it.
        try:
            lease = self._api.get(LEASES, self._name, namespace=self._namespace)
        except NotFoundError:
            try:
                self._create(desired)
            except MCMError as exc:
                logger.error("Error initially creating lease %s: %s", self.description, exc)  # noqa: TRY400
                return False
            self._observe(desired)
            return True
        except MCMError as exc:
            logger.error("Error retrieving lease %s: %s", self.description, exc)  # noqa: TRY400
            return False
        self._lease = lease
        current = LeaderElectionRecord.from_lease(lease)

        # 3. Restart the expiry clock when the record changed since we last looked.
        with self._lock:
            if current != self._observed:
                self._observed = current
                self._observed_at = self._clock.monotonic()
        if current.holder_identity and self._lease_valid() and not self.is_leader():
            logger.debug(
                "Lease %s is held by %s and has not yet expired",
                self.description,
                current.holder_identity,
            )
            return False

        # 4. Take it over (or renew it on the slow path).
        if self.is_leader():
            record = attrs.evolve(
                desired,
                acquire_time=current.acquire_time,
                leader_transitions=current.leader_transitions,
            )
        else:
            record = attrs.evolve(desired, leader_transitions=current.leader_transitions + 1)
        try:
            self._update(record)
        except MCMError as exc:
            logger.error("Failed to update lease %s: %s", self.description, exc)  # noqa: TRY400
            return False
        self._observe(record)
        return True

    def release(self) -> bool:
        """Give the lease up if this candidate holds it: holder ``""``, ``leaseDurationSeconds: 1``.

        True when the lease is not (or no longer) held by this candidate afterwards.
        """
        if not self.is_leader():
            return True
        for _ in range(_RELEASE_ATTEMPTS):
            try:
                lease = self._api.get(LEASES, self._name, namespace=self._namespace)
            except MCMError as exc:
                logger.error("Error retrieving lease %s to release it: %s", self.description, exc)  # noqa: TRY400
                return False
            self._lease = lease
            current = LeaderElectionRecord.from_lease(lease)
            if current.holder_identity != self._identity:
                self._observe(current)
                return True
            now = utcnow(self._clock)
            record = LeaderElectionRecord(
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                leader_transitions=current.leader_transitions,
            )
            try:
                self._update(record)
            except ConflictError:
                logger.debug("Conflict releasing lease %s; retrying", self.description)
                continue
            except MCMError as exc:
                logger.error("Failed to release lease %s: %s", self.description, exc)  # noqa: TRY400
                return False
            self._observe(record)
            logger.info("Released lease %s", self.description)
            return True
        logger.error("Failed to release lease %s: it kept changing", self.description)
        return False

    # --- helpers ----------------------------------------------------------------------------------

    def _lease_valid(self) -> bool:
        """Whether the observed record is younger than its own lease duration."""
        with self._lock:
            expires = self._observed_at + self._observed.lease_duration_seconds
        return expires > self._clock.monotonic()

    def _observe(self, record: LeaderElectionRecord) -> None:
        with self._lock:
            self._observed = record
            self._observed_at = self._clock.monotonic()

    def _create(self, record: LeaderElectionRecord) -> None:
        body: JSON = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": record.to_lease_spec(),
        }
        self._lease = self._api.create(LEASES, body, namespace=self._namespace)

    def _update(self, record: LeaderElectionRecord) -> None:
        """Replace the lease's spec; the resourceVersion last seen makes it a conditional write."""
        if self._lease is None:
            raise RuntimeError("the lease must be read or created before it is updated")
        body = {**self._lease, "spec": record.to_lease_spec()}
        self._lease = self._api.update(LEASES, body, namespace=self._namespace)


def _jittered(period: float) -> float:
    """``wait.Jitter(period, JITTER_FACTOR)``: spread candidates' retries apart."""
    return period * (1.0 + random.random() * JITTER_FACTOR)  # noqa: S311 - not cryptographic

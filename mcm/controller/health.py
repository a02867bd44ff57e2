"""The health check of a created machine: its Node's conditions decide its phase.

`HealthChecker.check` is upstream's ``reconcileMachineHealth``. It runs on every machine pass once
the machine has a ``node`` label and a phase (so never in infra-only mode), and moves the phase:

==========================  ===============================================  ======================
from                        when                                             to
==========================  ===============================================  ======================
any but Running (and not    the Node is healthy (`is_healthy`), and not      Running
InPlaceUpdating/-Failed)    (Pending and the Node carries the
                            ``critical-components-not-ready`` taint)
Running                     the Node is unhealthy, or gone (and the          Unknown
                            machine had conditions)
Pending                     creation timeout passed since creationTimestamp  Failed
Unknown, InPlaceUpdateFailed  health timeout passed since lastUpdateTime     Failed (rate-limited,
                            (unless ``disableHealthTimeout``)                see below)
InPlaceUpdating             in-place timeout passed since lastUpdateTime     InPlaceUpdateFailed
InPlaceUpdating/-Failed     the Node's ``update-result`` label               InPlaceUpdateSuccessful
                                                                             / InPlaceUpdateFailed
==========================  ===============================================  ======================

The machine's ``status.conditions`` follow the Node's whenever a type, a status, or (for
``InPlaceUpdate``) a reason changed, and ``preserveExpiryTime`` survives every transition. A
machine that first becomes Running after creation gets ``lastOperation`` "Machine <m> successfully
joined the cluster in <d>", its bootstrap token Secret is deleted, the join duration is recorded as
a metric and in the annotation ``node.machine.sapcloud.io/machine-join-duration``.

**Deadlines.** When a timeout has not passed yet the returned `Step` carries ``recheck_after``, the
time left until it does; the machine pass requeues no later than that. Upstream polls every minute
instead; Node changes are watched, so only the deadline needs a timer.

**Meltdown protection.** Marking an Unknown machine Failed makes the MachineSet controller replace
it. So that a zone outage does not replace a whole MachineDeployment at once, at most one machine
per MachineDeployment (the Machine's ``name`` label) may be "in replacement": a machine of that
deployment counts when its phase is neither Unknown nor Running and it is not preserved, and a
Terminating one counts twice. `Permits` serializes that check-and-mark per deployment in this
process: one permit per key, acquired within `LOCK_ACQUIRE_TIMEOUT` clock-seconds or the pass ends
with "timedout waiting to acquire lock for machine ...". Upstream, after marking, polls its cache
until it shows the machine Failed (and sleeps 10 s if it does not) before releasing the permit, so
that the next check sees the mark. Here the permit remembers the machines it let be marked for
`RECENT_MARK_GRACE` seconds, and counts them as in replacement while the cache still shows them
Unknown or Running. The machine being checked never counts itself (upstream counts an
``InPlaceUpdateFailed`` machine against itself, so such a machine could never be marked Failed).
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterable, Sequence

import attrs

from mcm.api.constants import (
    CONFLICT_RETRY,
    LABEL_UPDATE_RESULT,
    LONG_RETRY,
    MACHINE_DEPLOYMENT_NAME_LABEL,
    MACHINE_JOIN_DURATION,
    NODE_IN_PLACE_UPDATE,
    SHORT_RETRY,
    TAINT_CRITICAL_COMPONENTS_NOT_READY,
    UPDATE_FAILED_REASON,
    UPDATE_RESULT_FAILED,
    UPDATE_RESULT_SUCCESSFUL,
)
from mcm.api.core import ConditionStatus, Node, NodeCondition, NodeConditionType, TaintEffect
from mcm.api.duration import format_duration
from mcm.api.machine import (
    CurrentStatus,
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineState,
)
from mcm.api.machineclass import MachineClass
from mcm.api.patches import annotations_patch, current_status, last_operation
from mcm.clock import Clock, utcnow
from mcm.controller.bootstrap import delete_bootstrap_token
from mcm.controller.context import MachineControllerContext
from mcm.controller.effective import (
    effective_creation_timeout,
    effective_health_timeout,
    effective_in_place_update_timeout,
    effective_node_conditions,
    health_timeout_disabled,
)
from mcm.controller.metrics import MachineMetrics
from mcm.controller.status import patch_machine_status
from mcm.controller.steps import Step
from mcm.errors import ApiError, ConflictError
from mcm.events import NORMAL, WARNING
from mcm.kube.resources import MACHINES

__all__ = [
    "LOCK_ACQUIRE_TIMEOUT",
    "MAX_REPLACEMENTS",
    "PERMIT_STALE_AFTER",
    "REASON_HEALTH_CHECK_FAILED",
    "REASON_JOINED",
    "REASON_JOIN_TIMED_OUT",
    "REASON_REJOINED",
    "REASON_UNHEALTHY",
    "RECENT_MARK_GRACE",
    "HealthChecker",
    "Permits",
    "format_conditions",
    "has_critical_components_not_ready_taint",
    "is_healthy",
    "node_conditions_changed",
]

logger = logging.getLogger(__name__)

MAX_REPLACEMENTS = 1
"""Machines of one MachineDeployment that may be in replacement at once (upstream's constant)."""
LOCK_ACQUIRE_TIMEOUT = 1.0
"""How long (clock seconds) a health check waits for its deployment's permit."""
PERMIT_STALE_AFTER = 3600.0
"""A permit unused for this long (and not held) is forgotten (upstream's janitor, lazily)."""
RECENT_MARK_GRACE = 10.0
"""How long a machine marked Failed counts as in replacement even if the cache lags."""

# Event reasons (on the Machine).
REASON_JOINED = "MachineJoined"
REASON_REJOINED = "MachineRejoined"
REASON_UNHEALTHY = "MachineUnhealthy"
REASON_JOIN_TIMED_OUT = "MachineJoinTimedOut"
REASON_HEALTH_CHECK_FAILED = "MachineHealthCheckFailed"
REASON_IN_PLACE_UPDATE = "MachineInPlaceUpdate"

_PHASE_UPDATED = "machine creation is successful. Machine Phase/Conditions have been UPDATED"
_EPOCH = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)


# ------------------------------------------------------------------------------ health predicates


def is_healthy(machine: Machine, node_conditions: Iterable[str]) -> bool:
    """Upstream's ``isHealthy`` on the machine's (copied) conditions.

    Healthy: at least one condition; every ``Ready`` condition ``True``; every condition whose type
    is in *node_conditions* ``False`` (``Unknown`` counts as unhealthy). Other types are ignored,
    and a missing ``Ready`` condition alone does not make the machine unhealthy.
    """
    conditions = machine.status.conditions
    if not conditions:
        return False
    watched = set(node_conditions)
    for condition in conditions:
        if condition.type == NodeConditionType.READY and condition.status != ConditionStatus.TRUE:
            return False
        if condition.type in watched and condition.status != ConditionStatus.FALSE:
            return False
    return True


def has_critical_components_not_ready_taint(node: Node) -> bool:
    """Does *node* carry ``node.gardener.cloud/critical-components-not-ready:NoSchedule``?"""
    return node.has_taint(TAINT_CRITICAL_COMPONENTS_NOT_READY, TaintEffect.NO_SCHEDULE)


def node_conditions_changed(old: Sequence[NodeCondition], new: Sequence[NodeCondition]) -> bool:
    """Upstream's ``nodeConditionsHaveChanged``: a type added or removed, a status changed, or the
    reason of the ``InPlaceUpdate`` condition changed."""
    before = {condition.type: condition for condition in old}
    after = {condition.type: condition for condition in new}
    if before.keys() != after.keys():
        return True
    for type_, condition in after.items():
        previous = before[type_]
        if previous.status != condition.status:
            return True
        if type_ == NODE_IN_PLACE_UPDATE and previous.reason != condition.reason:
            return True
    return False


def _go_time(value: datetime.datetime | None) -> str:
    """Go's ``time.Time.String()`` of a UTC time (the zero time for None)."""
    stamp = (value or _EPOCH).astimezone(datetime.UTC)
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + " +0000 UTC"


def format_conditions(conditions: Sequence[NodeCondition]) -> str:
    """*conditions* as Go's ``%+v`` prints a ``[]corev1.NodeCondition`` (used in descriptions)."""
    items = (
        f"{{Type:{c.type} Status:{c.status}"
        f" LastHeartbeatTime:{_go_time(c.last_heartbeat_time)}"
        f" LastTransitionTime:{_go_time(c.last_transition_time)}"
        f" Reason:{c.reason} Message:{c.message}}}"
        for c in conditions
    )
    return "[" + " ".join(items) + "]"


# ------------------------------------------------------------------------------------- permits


@attrs.define
class _Permit:
    held: bool = False
    last_used: float = 0.0
    released: threading.Event = attrs.field(factory=threading.Event)
    recent_marks: dict[str, float] = attrs.field(factory=dict)


class Permits:
    """One permit per key (a MachineDeployment name), acquired with a bounded wait on a clock.

    Upstream's ``permits.PermitGiver`` with one permit per key; stale keys (unused for
    `PERMIT_STALE_AFTER` and not held) are dropped on the next acquire instead of by a janitor
    goroutine. The permit also remembers recently marked machines (`remember_mark`,
    `recent_marks`), see the module docstring.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._permits: dict[str, _Permit] = {}

    def try_acquire(self, key: str, timeout: float) -> bool:
        """Take *key*'s permit, waiting at most *timeout* clock-seconds; False on timeout."""
        deadline = self._clock.monotonic() + timeout
        while True:
            with self._lock:
                now = self._clock.monotonic()
                self._drop_stale(now)
                permit = self._permits.setdefault(key, _Permit(last_used=now))
                if not permit.held:
                    permit.held = True
                    permit.last_used = now
                    return True
                released = permit.released
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return False
            self._clock.wait(released, remaining)

    def release(self, key: str) -> None:
        """Give *key*'s permit back and wake the waiters; releasing a free permit is a no-op."""
        with self._lock:
            permit = self._permits.get(key)
            if permit is None or not permit.held:
                return
            permit.held = False
            permit.last_used = self._clock.monotonic()
            permit.released.set()
            permit.released = threading.Event()

    def held(self, key: str) -> bool:
        with self._lock:
            permit = self._permits.get(key)
            return permit is not None and permit.held

    def remember_mark(self, key: str, machine_name: str) -> None:
        """Note that *machine_name* of *key* was just marked Failed."""
        with self._lock:
            permit = self._permits.setdefault(key, _Permit(last_used=self._clock.monotonic()))
            permit.recent_marks[machine_name] = self._clock.monotonic()

    def recent_marks(self, key: str) -> set[str]:
        """Machines of *key* marked Failed less than `RECENT_MARK_GRACE` seconds ago."""
        with self._lock:
            permit = self._permits.get(key)
            if permit is None:
                return set()
            now = self._clock.monotonic()
            for name, when in list(permit.recent_marks.items()):
                if now - when > RECENT_MARK_GRACE:
                    del permit.recent_marks[name]
            return set(permit.recent_marks)

    def forget_mark(self, key: str, machine_name: str) -> None:
        """The cache shows *machine_name*'s mark (or its deletion): stop counting it here."""
        with self._lock:
            permit = self._permits.get(key)
            if permit is not None:
                permit.recent_marks.pop(machine_name, None)

    def _drop_stale(self, now: float) -> None:
        for key, permit in list(self._permits.items()):
            if not permit.held and now - permit.last_used > PERMIT_STALE_AFTER:
                del self._permits[key]


# ------------------------------------------------------------------------------- health check


@attrs.frozen
class _Change:
    """The status a health pass wants to write."""

    current_status: CurrentStatus | None = None
    last_operation: LastOperation | None = None
    event: tuple[str, str, str] | None = None  # type, reason, message
    join_duration: float | None = None


class HealthChecker:
    """Upstream's ``reconcileMachineHealth``; see the module docstring."""

    def __init__(
        self, ctx: MachineControllerContext, *, permits: Permits, metrics: MachineMetrics
    ) -> None:
        self._ctx = ctx
        self._permits = permits
        self._metrics = metrics

    def check(self, machine: Machine, machine_class: MachineClass | None) -> Step:
        """One health pass over *machine* (which has a ``node`` label and a phase)."""
        ctx = self._ctx
        assert ctx.nodes is not None, "health checks need a target cluster"  # noqa: S101
        now = utcnow(ctx.clock)
        phase = machine.phase
        try:
            node = ctx.nodes.get(machine.node_name)
        except ApiError as error:
            logger.warning("machine %s: reading its node failed: %s", machine.metadata.name, error)
            return Step(SHORT_RETRY, f"could not fetch node object for machine: {error}")

        conditions = machine.status.conditions
        new_conditions: tuple[NodeCondition, ...] | None = None
        change = _Change()
        if node is None:
            if conditions and phase is MachinePhase.RUNNING:
                change = self._node_missing(machine, now)
        else:
            if node_conditions_changed(conditions, node.status.conditions):
                new_conditions = node.status.conditions
                conditions = new_conditions
            if phase not in (MachinePhase.IN_PLACE_UPDATING, MachinePhase.IN_PLACE_UPDATE_FAILED):
                change = self._evaluate(machine, node, conditions, now)

        recheck_after: float | None = None
        if change == _Change() and new_conditions is None:
            if phase in (MachinePhase.IN_PLACE_UPDATING, MachinePhase.IN_PLACE_UPDATE_FAILED):
                change = self._in_place_result(machine, node, now)
            if change == _Change() and phase in _TIMED_PHASES:
                timed_out, remaining = self._timeout(machine, now)
                if timed_out:
                    if phase in (MachinePhase.UNKNOWN, MachinePhase.IN_PLACE_UPDATE_FAILED):
                        if not health_timeout_disabled(machine):
                            return self._try_mark_failed(machine, now)
                    else:
                        change = self._timed_out(machine, machine_class, now)
                elif remaining is not None:
                    recheck_after = remaining

        if change == _Change() and new_conditions is None:
            return Step(LONG_RETRY, recheck_after=recheck_after)
        return self._write(machine, machine_class, change, new_conditions)

    # --- transitions ------------------------------------------------------------------------

    def _node_missing(self, machine: Machine, now: datetime.datetime) -> _Change:
        name = machine.metadata.name
        description = (
            f"Node object went missing. Machine {name} is unhealthy"
            " - changing MachinePhase to Unknown"
        )
        logger.warning("%s", description)
        return _Change(
            current_status=current_status(
                MachinePhase.UNKNOWN,
                now=now,
                preserve_expiry_time=machine.status.current_status.preserve_expiry_time,
            ),
            last_operation=last_operation(
                description, MachineState.PROCESSING, MachineOperationType.HEALTH_CHECK, now=now
            ),
            event=(WARNING, REASON_UNHEALTHY, description),
        )

    def _evaluate(
        self,
        machine: Machine,
        node: Node,
        conditions: Sequence[NodeCondition],
        now: datetime.datetime,
    ) -> _Change:
        name = machine.metadata.name
        phase = machine.phase
        expiry = machine.status.current_status.preserve_expiry_time
        probe = attrs.evolve(
            machine, status=attrs.evolve(machine.status, conditions=tuple(conditions))
        )
        if is_healthy(probe, effective_node_conditions(self._ctx, machine)):
            if phase is MachinePhase.RUNNING:
                return _Change()
            if phase is MachinePhase.PENDING and has_critical_components_not_ready_taint(node):
                logger.debug(
                    "machine %s: node %s still has taint %s; staying Pending",
                    name,
                    node.metadata.name,
                    TAINT_CRITICAL_COMPONENTS_NOT_READY,
                )
                return _Change()
            previous = machine.status.last_operation
            join_duration: float | None = None
            if (
                previous.type is MachineOperationType.CREATE
                and previous.state is not MachineState.SUCCESSFUL
            ):
                created = machine.metadata.creation_timestamp or now
                join_duration = (now - created).total_seconds()
                description = (
                    f"Machine {name} successfully joined the cluster in"
                    f" {format_duration(join_duration)}"
                )
                operation_type = MachineOperationType.CREATE
                reason = REASON_JOINED
            else:
                description = f"Machine {name} successfully re-joined the cluster"
                operation_type = MachineOperationType.HEALTH_CHECK
                reason = REASON_REJOINED
            logger.info("%s (node %s)", description, node.metadata.name)
            return _Change(
                current_status=current_status(
                    MachinePhase.RUNNING, now=now, preserve_expiry_time=expiry
                ),
                last_operation=last_operation(
                    description, MachineState.SUCCESSFUL, operation_type, now=now
                ),
                event=(NORMAL, reason, description),
                join_duration=join_duration,
            )
        if phase is not MachinePhase.RUNNING:
            return _Change()
        description = (
            f"Machine {name} is unhealthy - changing MachinePhase to Unknown."
            f" Node conditions: {format_conditions(conditions)}"
        )
        logger.warning("%s", description)
        return _Change(
            current_status=current_status(
                MachinePhase.UNKNOWN, now=now, preserve_expiry_time=expiry
            ),
            last_operation=last_operation(
                description, MachineState.PROCESSING, MachineOperationType.HEALTH_CHECK, now=now
            ),
            event=(WARNING, REASON_UNHEALTHY, description),
        )

    def _in_place_result(
        self, machine: Machine, node: Node | None, now: datetime.datetime
    ) -> _Change:
        if node is None or LABEL_UPDATE_RESULT not in node.metadata.labels:
            return _Change()
        name = machine.metadata.name
        result = node.metadata.labels[LABEL_UPDATE_RESULT]
        if (
            result == UPDATE_RESULT_SUCCESSFUL
            and machine.phase is not MachinePhase.IN_PLACE_UPDATE_SUCCESSFUL
        ):
            description = f"Machine {name} successfully updated dependencies"
            return _Change(
                current_status=current_status(MachinePhase.IN_PLACE_UPDATE_SUCCESSFUL, now=now),
                last_operation=last_operation(
                    description,
                    MachineState.SUCCESSFUL,
                    MachineOperationType.IN_PLACE_UPDATE,
                    now=now,
                ),
                event=(NORMAL, REASON_IN_PLACE_UPDATE, description),
            )
        if (
            result == UPDATE_RESULT_FAILED
            and machine.phase is not MachinePhase.IN_PLACE_UPDATE_FAILED
        ):
            reason = node.metadata.annotations.get(UPDATE_FAILED_REASON, "")
            description = f"Machine {name} failed to update dependencies: {reason}"
            return _Change(
                current_status=current_status(MachinePhase.IN_PLACE_UPDATE_FAILED, now=now),
                last_operation=last_operation(
                    description, MachineState.FAILED, MachineOperationType.IN_PLACE_UPDATE, now=now
                ),
                event=(WARNING, REASON_IN_PLACE_UPDATE, description),
            )
        return _Change()

    def _timeout_of(self, machine: Machine) -> tuple[float, datetime.datetime | None]:
        """(timeout, start) of the phase's clock: creation for Pending, else lastUpdateTime."""
        if machine.phase is MachinePhase.PENDING:
            return effective_creation_timeout(self._ctx, machine), (
                machine.metadata.creation_timestamp
            )
        start = machine.status.current_status.last_update_time
        if machine.phase is MachinePhase.IN_PLACE_UPDATING:
            return effective_in_place_update_timeout(self._ctx, machine), start
        return effective_health_timeout(self._ctx, machine), start

    def _timeout(self, machine: Machine, now: datetime.datetime) -> tuple[bool, float | None]:
        """(timed out?, seconds left). At the deadline itself the timeout has passed."""
        timeout, start = self._timeout_of(machine)
        elapsed = (now - (start or _EPOCH)).total_seconds()
        if elapsed >= timeout:
            return True, None
        return False, timeout - elapsed

    def _timed_out(
        self, machine: Machine, machine_class: MachineClass | None, now: datetime.datetime
    ) -> _Change:
        name = machine.metadata.name
        timeout, _ = self._timeout_of(machine)
        if machine.phase is MachinePhase.IN_PLACE_UPDATING:
            description = (
                f"Machine {name} failed to in-place update in {format_duration(timeout)} minutes."
            )
            logger.error("%s", description)
            return _Change(
                current_status=current_status(MachinePhase.IN_PLACE_UPDATE_FAILED, now=now),
                last_operation=last_operation(
                    description, MachineState.FAILED, MachineOperationType.IN_PLACE_UPDATE, now=now
                ),
                event=(WARNING, REASON_IN_PLACE_UPDATE, description),
            )
        # Pending
        description = (
            f"Machine {name} failed to join the cluster in {format_duration(timeout)} minutes."
        )
        logger.error("%s", description)
        self._metrics.increment_failed_join(machine, machine_class)
        return _Change(
            current_status=current_status(
                MachinePhase.FAILED,
                now=now,
                preserve_expiry_time=machine.status.current_status.preserve_expiry_time,
            ),
            last_operation=LastOperation(
                description=description,
                state=MachineState.FAILED,
                type=machine.status.last_operation.type,
                last_update_time=now,
            ),
            event=(WARNING, REASON_JOIN_TIMED_OUT, description),
        )

    # --- meltdown protection ----------------------------------------------------------------

    def _try_mark_failed(self, machine: Machine, now: datetime.datetime) -> Step:
        name = machine.metadata.name
        deployment = machine.metadata.labels.get(MACHINE_DEPLOYMENT_NAME_LABEL, "")
        if not self._permits.try_acquire(deployment, LOCK_ACQUIRE_TIMEOUT):
            logger.warning("timed out waiting for the replacement permit of machine %s", name)
            return Step(SHORT_RETRY, f'timedout waiting to acquire lock for machine "{name}"')
        try:
            if not self._can_mark_failed(machine, deployment):
                return Step(
                    SHORT_RETRY,
                    f'machine "{name}" couldn\'t be marked FAILED,'
                    " other machines are getting replaced",
                )
            timeout, _ = self._timeout_of(machine)
            description = (
                f"Machine {name} health checks failing since last {format_duration(timeout)}"
                " minutes. Updating machine phase to Failed. Node Conditions:"
                f" {format_conditions(machine.status.conditions)}"
            )
            logger.error("%s", description)
            try:
                patch_machine_status(
                    self._ctx,
                    machine,
                    current_status=current_status(
                        MachinePhase.FAILED,
                        now=now,
                        preserve_expiry_time=machine.status.current_status.preserve_expiry_time,
                    ),
                    last_operation=LastOperation(
                        description=description,
                        state=MachineState.FAILED,
                        type=machine.status.last_operation.type,
                        last_update_time=now,
                    ),
                )
            except ApiError as error:
                logger.warning("machine %s: marking it Failed failed: %s", name, error)
                return Step(SHORT_RETRY, f"update failed for machine {name!r}: {error}")
            self._permits.remember_mark(deployment, name)
            self._ctx.recorder.event(machine, WARNING, REASON_HEALTH_CHECK_FAILED, description)
            return Step(SHORT_RETRY, f"machine {name!r} marked Failed")
        finally:
            self._permits.release(deployment)

    def _can_mark_failed(self, machine: Machine, deployment: str) -> bool:
        """Upstream's ``canMarkMachineFailed`` (without counting *machine* itself)."""
        if deployment:
            others = self._ctx.machines.list(
                machine.metadata.namespace, {MACHINE_DEPLOYMENT_NAME_LABEL: deployment}
            )
        else:
            others = []
        recent = self._permits.recent_marks(deployment)
        listed = {other.metadata.name for other in others}
        for gone in recent - listed:
            self._permits.forget_mark(deployment, gone)
        in_progress = 0
        for other in others:
            other_name = other.metadata.name
            if other_name == machine.metadata.name:
                continue
            phase = other.phase
            if phase in (MachinePhase.UNKNOWN, MachinePhase.RUNNING):
                if other_name in recent:
                    in_progress += 1  # marked Failed by us; the cache has not caught up yet
                continue
            if other_name in recent:
                self._permits.forget_mark(deployment, other_name)
            if other.status.current_status.preserve_expiry_time is None:
                in_progress += 1
            if phase is MachinePhase.TERMINATING:
                in_progress += 1
        logger.debug(
            "machine %s: %d machines of deployment %r in replacement",
            machine.metadata.name,
            in_progress,
            deployment,
        )
        return in_progress < MAX_REPLACEMENTS

    # --- writing ----------------------------------------------------------------------------

    def _write(
        self,
        machine: Machine,
        machine_class: MachineClass | None,
        change: _Change,
        conditions: Sequence[NodeCondition] | None,
    ) -> Step:
        ctx = self._ctx
        name = machine.metadata.name
        try:
            patch_machine_status(
                ctx,
                machine,
                current_status=change.current_status,
                last_operation=change.last_operation,
                conditions=conditions,
            )
        except ConflictError as error:
            return Step(
                CONFLICT_RETRY, f"update of phase/conditions of {name!r} conflicted: {error}"
            )
        except ApiError as error:
            logger.warning("machine %s: updating phase/conditions failed: %s", name, error)
            return Step(SHORT_RETRY, f"update of phase/conditions of {name!r} failed: {error}")
        if change.event is not None:
            ctx.recorder.event(machine, *change.event)
        if change.join_duration is not None:
            self._joined(machine, machine_class, change.join_duration)
        return Step(SHORT_RETRY, _PHASE_UPDATED)

    def _joined(
        self, machine: Machine, machine_class: MachineClass | None, join_duration: float
    ) -> None:
        """After the first Running: drop the bootstrap token, record the join duration."""
        ctx = self._ctx
        name = machine.metadata.name
        delete_bootstrap_token(ctx, name)
        self._metrics.record_durations(machine, machine_class, join=join_duration)
        try:
            ctx.control.patch(
                MACHINES,
                name,
                annotations_patch(set={MACHINE_JOIN_DURATION: format_duration(join_duration)}),
                namespace=machine.metadata.namespace,
            )
        except ApiError as error:
            logger.warning(
                "machine %s: writing the join-duration annotation failed: %s", name, error
            )


_TIMED_PHASES = (
    MachinePhase.PENDING,
    MachinePhase.UNKNOWN,
    MachinePhase.IN_PLACE_UPDATING,
    MachinePhase.IN_PLACE_UPDATE_FAILED,
)

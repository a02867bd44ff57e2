"""Draining a node, one non-blocking pass at a time.

Before a machine's VM is deleted its Node is drained: every pod on it is evicted (or deleted), so
that workloads move elsewhere in an orderly way, PodDisruptionBudgets permitting. Upstream's drain
(``pkg/util/provider/drain``) runs as one blocking call that may take up to the drain timeout (two
hours by default), sleeping between eviction retries and polling for pods to terminate and volumes
to detach. Here a drain is **resumable**: `Drainer.drain` makes one pass over the node and returns a
`DrainOutcome` at once, and the caller (the termination reconciler) requeues the machine to make the
next pass. A pass never sleeps and never waits for anything; what upstream waits for becomes a
check at the start of a later pass. What a pass promises:

- **Which pods.** Every pod bound to the node (``spec.nodeName``) except mirror pods (annotation
  ``kubernetes.io/config.mirror``) and pods whose controlling owner is a DaemonSet. Pods with
  ``emptyDir`` volumes, finished pods and pods without a controller are drained too (upstream's
  options ``deleteLocalData``, ``ignorePodsWithoutControllers``, ``ignoreDaemonsets``). The drain
  does not cordon: callers cordon (`cordon_node`) or taint the node first.
- **Forced drain** (``force_delete_pods``): every pod is deleted with a grace period of 0, in
  parallel, and nothing is waited for. The outcome is `DrainStatus.DONE` unless a deletion failed.
- **Pods without persistent volumes** are evicted in parallel (a bounded thread pool, at most
  ``parallelism`` API calls at once). An evicted pod is *waited for*: the pass reports it as
  in progress until it is gone (the kubelet finishes a graceful deletion), and as failed once it
  has been terminating for longer than its grace period (capped at the drain timeout) plus 30 s.
- **Pods with persistent volumes** (any ``persistentVolumeClaim`` volume) are handled serially, in
  descending ``spec.priority``: one pod is evicted, and the next only once the first one's volumes
  have detached from the node (``node.status.volumesAttached``, within the pod's grace period plus
  ``pv_detach_timeout``) and attached to another node (VolumeAttachments, within
  ``pv_reattach_timeout``; running out of that is only a warning). Only volumes the driver
  recognises (`mcm.driver.Driver.get_volume_ids`) and that no other pod on the node uses are
  tracked. If the Node object is gone, pods with volumes count as drained (upstream's "fast track").
- **PodDisruptionBudgets.** An eviction refused with 429 is retried no sooner than
  `POD_EVICTION_RETRY_INTERVAL` later; the pod is reported *blocked*, with the budget that guards
  it. A refusal by a *misconfigured* budget (`is_misconfigured_pdb`: all its pods healthy and still
  no disruption allowed) is reported as a failure naming the budget. After ``max_evict_retries``
  refused or failed evictions of a pod, it is deleted instead.
- **Never hangs.** A pass makes a bounded number of API calls and returns. The drain as a whole is
  bounded by the caller, which switches to a forced drain once its drain timeout has passed.

**Where attempts are counted.** The retry bookkeeping (refusals per pod, when the next eviction of a
pod is due, the pod with volumes whose detachment is awaited) lives in memory, in the `Drainer`,
keyed by node name and pod UID. A pod's attempts are forgotten when it is gone, and a node's state
when a drain ends (`DrainStatus.DONE`, a forced pass, or `Drainer.forget`). After a restart the
count starts again from zero, which can only delay the fall-back to deletion; the drain timeout
still bounds the whole drain. Counting real attempts (rather than deriving them from time) keeps
``maxEvictRetries`` exact however often the machine is requeued by events.

Deletions and evictions carry the pod's UID as a precondition, so a pod that was replaced under the
same name (a StatefulSet pod rescheduled elsewhere) is never touched; a precondition failure counts
as "gone". Durations are float seconds; time comes from the context's clock.
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import threading
from collections.abc import Iterable, Sequence

import attrs

from mcm.api.core import Node, PersistentVolumeSpec, Pod, PodDisruptionBudget
from mcm.api.meta import ObjectKey
from mcm.controller.context import MachineControllerContext
from mcm.driver import GetVolumeIDsRequest
from mcm.errors import (
    ApiError,
    ConflictError,
    NotFoundError,
    TooManyRequestsError,
    TransportError,
)
from mcm.kube.protocol import Api, Preconditions
from mcm.kube.resources import NODES, PODS

__all__ = [
    "DEFAULT_MACHINE_DRAIN_TIMEOUT",
    "DEFAULT_MAX_EVICT_RETRIES",
    "DEFAULT_PARALLELISM",
    "FORCED_DRAIN_MAX_EVICT_RETRIES",
    "FORCED_DRAIN_TIMEOUT",
    "INTERVAL",
    "POD_EVICTION_RETRY_INTERVAL",
    "POD_TERMINATION_BUFFER",
    "BlockedPod",
    "DrainOptions",
    "DrainOutcome",
    "DrainStatus",
    "Drainer",
    "PodVolumeInfo",
    "VolumeInfo",
    "aggregate_errors",
    "cordon_node",
    "is_misconfigured_pdb",
    "pdb_for_pod",
    "pod_volume_infos",
    "pods_to_drain",
]

logger = logging.getLogger(__name__)

DEFAULT_MACHINE_DRAIN_TIMEOUT = 2 * 60 * 60.0
"""Upstream's ``DefaultMachineDrainTimeout`` (2h), the ``--machine-drain-timeout`` default."""
INTERVAL = 5.0
"""How soon to look again at pods that are terminating or volumes that are detaching."""
POD_EVICTION_RETRY_INTERVAL = 20.0
"""How long after a refused eviction the pod is tried again."""
DEFAULT_MAX_EVICT_RETRIES = int(DEFAULT_MACHINE_DRAIN_TIMEOUT / POD_EVICTION_RETRY_INTERVAL)
"""360: refused evictions of one pod before it is deleted instead."""
POD_TERMINATION_BUFFER = 30.0
"""Slack after a pod's grace period before its termination counts as stuck (upstream's
``bufferPeriod``)."""
FORCED_DRAIN_TIMEOUT = 60.0
"""The drain timeout callers use for a forced drain (upstream sets 1m)."""
FORCED_DRAIN_MAX_EVICT_RETRIES = 1
"""The eviction retries callers use for a forced drain (a forced drain deletes anyway)."""
DEFAULT_PARALLELISM = 10
"""At most this many evictions or deletions of one pass are in flight at once."""

_MAX_NAMED = 10
"""At most this many pods are named in an outcome's message; the rest are counted."""


class DrainStatus(enum.StrEnum):
    """How a drain pass ended."""

    DONE = "Done"
    """No pod is left to drain (or a forced pass deleted them all): the node is drained."""
    IN_PROGRESS = "InProgress"
    """Pods are terminating or volumes detaching; look again after ``requeue_after``."""
    BLOCKED = "Blocked"
    """Evictions were refused by PodDisruptionBudgets; they are retried after ``requeue_after``."""
    FAILED = "Failed"
    """Something went wrong (see ``errors``); the drain may be retried."""


@attrs.frozen(kw_only=True)
class BlockedPod:
    """A pod whose eviction was refused (HTTP 429), and the budget that guards it, if known."""

    pod: ObjectKey
    budget: ObjectKey | None
    attempts: int
    """Refused or failed evictions of this pod so far."""

    def __str__(self) -> str:
        guard = f" (PodDisruptionBudget {self.budget})" if self.budget else ""
        return f"{self.pod}{guard}"


@attrs.frozen(kw_only=True)
class DrainOutcome:
    """The result of one drain pass."""

    status: DrainStatus
    requeue_after: float | None = None
    """When the next pass is useful (seconds), for IN_PROGRESS and BLOCKED; None otherwise."""
    waiting: tuple[ObjectKey, ...] = ()
    """Pods evicted or deleted and still terminating."""
    volumes_of: ObjectKey | None = None
    """The pod with volumes evicted last, while its volumes are detaching or reattaching."""
    blocked: tuple[BlockedPod, ...] = ()
    errors: tuple[str, ...] = ()
    evicted: tuple[ObjectKey, ...] = ()
    """Pods evicted by this pass."""
    deleted: tuple[ObjectKey, ...] = ()
    """Pods deleted by this pass (forced drain, or after too many refused evictions)."""
    duration: float = 0.0
    """Seconds since this `Drainer` first made a pass over the node (0 for a single pass)."""

    @property
    def done(self) -> bool:
        return self.status is DrainStatus.DONE

    @property
    def budgets(self) -> tuple[ObjectKey, ...]:
        """The PodDisruptionBudgets blocking evictions, sorted, without repeats."""
        return tuple(sorted({b.budget for b in self.blocked if b.budget is not None}, key=str))

    @property
    def error(self) -> str:
        """The errors as one message, the way Go's ``utilerrors.NewAggregate`` prints them."""
        return aggregate_errors(self.errors)

    @property
    def blocked_message(self) -> str:
        """Which pods are blocked by which budgets, in words; ``""`` if none is."""
        if not self.blocked:
            return ""
        budgets = ", ".join(str(b) for b in self.budgets) or "unknown"
        return (
            f"eviction of {_named(str(b.pod) for b in self.blocked)} refused by"
            f" PodDisruptionBudget {budgets}; retrying every {POD_EVICTION_RETRY_INTERVAL:.0f}s"
        )

    @property
    def message(self) -> str:
        """What happened, in words fit for ``lastOperation.description`` and events."""
        if self.status is DrainStatus.DONE:
            return "node drained"
        if self.status is DrainStatus.FAILED:
            return self.error
        parts = [self.blocked_message] if self.blocked else []
        if self.waiting:
            parts.append(f"waiting for {_named(str(k) for k in self.waiting)} to terminate")
        if self.volumes_of is not None:
            parts.append(
                f"waiting for the volumes of pod {self.volumes_of} to move to another node"
            )
        return "; ".join(parts)


@attrs.frozen(kw_only=True)
class DrainOptions:
    """How to drain one node (upstream's ``drain.Options``, the fields a caller chooses)."""

    node_name: str
    timeout: float = DEFAULT_MACHINE_DRAIN_TIMEOUT
    """Caps how long one pod may take to terminate (with `POD_TERMINATION_BUFFER` on top)."""
    max_evict_retries: int = DEFAULT_MAX_EVICT_RETRIES
    """Refused or failed evictions of one pod before it is deleted instead."""
    force_delete_pods: bool = False
    """Delete every pod with grace period 0 at once, waiting for nothing."""
    evict: bool = True
    """Use the Eviction API (False: delete pods, as upstream does without eviction support)."""
    pv_detach_timeout: float = 120.0
    """``--machine-pv-detach-timeout``: on top of a pod's grace period."""
    pv_reattach_timeout: float = 90.0
    """``--machine-pv-reattach-timeout``."""
    parallelism: int = DEFAULT_PARALLELISM


@attrs.frozen(kw_only=True)
class VolumeInfo:
    """A PersistentVolume a pod uses, and the provider's ID for it."""

    persistent_volume_name: str
    volume_id: str


@attrs.frozen(kw_only=True)
class PodVolumeInfo:
    """The volumes of one pod whose detachment drain waits for."""

    volumes: tuple[VolumeInfo, ...] = ()

    @property
    def persistent_volume_names(self) -> tuple[str, ...]:
        return tuple(v.persistent_volume_name for v in self.volumes)

    @property
    def volume_ids(self) -> tuple[str, ...]:
        return tuple(v.volume_id for v in self.volumes)


# ------------------------------------------------------------------------------- building blocks


def aggregate_errors(errors: Sequence[str]) -> str:
    """One message for *errors*: ``""``, the only one, or ``[a, b]`` as Go's aggregate prints."""
    if not errors:
        return ""
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


def pods_to_drain(pods: Iterable[Pod], node_name: str) -> list[Pod]:
    """The pods on *node_name* that a drain evicts: all but mirror and DaemonSet pods."""
    selected = []
    for pod in pods:
        if pod.spec.node_name != node_name or pod.is_mirror:
            continue
        if pod.owned_by_daemonset:
            logger.debug(
                "drain of %s: ignoring DaemonSet-managed pod %s", node_name, pod.metadata.key
            )
            continue
        selected.append(pod)
    return selected


def is_misconfigured_pdb(pdb: PodDisruptionBudget) -> bool:
    """Does *pdb* forbid every voluntary eviction although all its pods are healthy?

    Only a budget the disruption controller has caught up with (``observedGeneration``) counts,
    with pods, all of them healthy, none being disrupted right now, and no disruption allowed.
    """
    status = pdb.status
    if pdb.metadata.generation != status.observed_generation:
        return False
    return (
        status.expected_pods > 0
        and status.current_healthy >= status.expected_pods
        and not status.disrupted_pods
        and status.disruptions_allowed == 0
    )


def pdb_for_pod(budgets: Iterable[PodDisruptionBudget], pod: Pod) -> PodDisruptionBudget | None:
    """The budget guarding *pod*: the first of its namespace whose selector matches it.

    A budget with a missing or empty selector guards nothing (client-go's
    ``GetPodPodDisruptionBudgets``).
    """
    matching = [
        pdb
        for pdb in budgets
        if pdb.metadata.namespace == pod.metadata.namespace
        and pdb.spec.selector is not None
        and not pdb.spec.selector.empty
        and pdb.spec.selector.matches(pod.metadata.labels)
    ]
    if len(matching) > 1:
        logger.warning(
            "pod %s matches %d PodDisruptionBudgets; using %s",
            pod.metadata.key,
            len(matching),
            matching[0].metadata.key,
        )
    return matching[0] if matching else None


def cordon_node(ctx: MachineControllerContext, node_name: str) -> bool:
    """Mark *node_name* unschedulable; True if this call cordoned it.

    A missing Node is fine (deletion may start before the Node registers) and so is one that is
    cordoned already. Other API errors are raised.
    """
    target = _target(ctx)
    node = ctx.nodes.get(node_name) if ctx.nodes is not None else None
    if node is None:
        logger.info("cordon: node %s not found; nothing to cordon", node_name)
        return False
    if node.spec.unschedulable:
        return False
    try:
        target.patch(NODES, node_name, {"spec": {"unschedulable": True}})
    except NotFoundError:
        return False
    logger.info("cordoned node %s", node_name)
    return True


def pod_volume_infos(
    ctx: MachineControllerContext, pods: Sequence[Pod]
) -> dict[ObjectKey, PodVolumeInfo]:
    """The volumes drain tracks for each of *pods* (upstream's ``getPodVolumeInfos``).

    A pod's PVCs lead to PV names (a missing PVC, or an unbound one, is skipped). PVs used by more
    than one of *pods* are dropped ("shared"). Each remaining PV's spec goes to the driver's
    ``get_volume_ids``; a PV that is missing, that the driver fails on, or for which it returns no
    ID is not tracked (it belongs to another provider, or is NFS and the like).
    """
    names = _exclusive_volume_names(ctx, pods)
    return {key: _volume_info(ctx, pv_names) for key, pv_names in names.items()}


def _exclusive_volume_names(
    ctx: MachineControllerContext, pods: Sequence[Pod]
) -> dict[ObjectKey, tuple[str, ...]]:
    by_pod = {pod.metadata.key: _persistent_volume_names(ctx, pod) for pod in pods}
    users: dict[str, int] = {}
    for pv_names in by_pod.values():
        for name in pv_names:
            users[name] = users.get(name, 0) + 1
    return {
        key: tuple(name for name in pv_names if users[name] == 1)
        for key, pv_names in by_pod.items()
    }


def _persistent_volume_names(ctx: MachineControllerContext, pod: Pod) -> tuple[str, ...]:
    if ctx.persistent_volume_claims is None:
        return ()
    names = []
    for claim in pod.claim_names:
        try:
            pvc = ctx.persistent_volume_claims.get(pod.metadata.namespace, claim)
        except (ApiError, TransportError) as exc:
            logger.warning(
                "drain: reading PVC %s/%s failed: %s", pod.metadata.namespace, claim, exc
            )
            continue
        if pvc is not None and pvc.volume_name:
            names.append(pvc.volume_name)
    return tuple(names)


def _volume_info(ctx: MachineControllerContext, pv_names: Sequence[str]) -> PodVolumeInfo:
    volumes = []
    for pv_name in pv_names:
        spec = _pv_spec(ctx, pv_name)
        if spec is None:
            continue
        try:
            response = ctx.driver.get_volume_ids(GetVolumeIDsRequest(pv_specs=(spec,)))
        except Exception as exc:  # noqa: BLE001 -- any driver failure: the volume is not tracked
            logger.warning("drain: driver found no volume ID for PV %s: %s", pv_name, exc)
            continue
        if response.volume_ids:
            volumes.append(
                VolumeInfo(persistent_volume_name=pv_name, volume_id=response.volume_ids[0])
            )
        else:
            logger.debug("drain: PV %s is not the provider's; not tracking it", pv_name)
    return PodVolumeInfo(volumes=tuple(volumes))


def _pv_spec(ctx: MachineControllerContext, pv_name: str) -> PersistentVolumeSpec | None:
    if ctx.persistent_volumes is None:
        return None
    try:
        pv = ctx.persistent_volumes.get(pv_name)
    except (ApiError, TransportError) as exc:
        logger.warning("drain: reading PV %s failed: %s", pv_name, exc)
        return None
    return None if pv is None else pv.spec


# ----------------------------------------------------------------------------- in-memory state


@attrs.frozen(kw_only=True)
class _Attempts:
    """Refused or failed evictions of one pod, and when the next one is due (clock seconds)."""

    count: int
    retry_at: float
    budget: ObjectKey | None = None
    misconfigured: str | None = None
    """The error to report until the retry, when a misconfigured budget refused the eviction."""


@attrs.frozen(kw_only=True)
class _VolumeWait:
    """The pod with volumes evicted last, whose volumes the serial drain waits for."""

    pod: ObjectKey
    volumes: PodVolumeInfo
    detach_deadline: float
    reattach_deadline: float | None = None
    """Set once the volumes have detached."""


@attrs.define
class _NodeState:
    started_at: float
    """Clock seconds of the first pass over the node."""
    attempts: dict[str, _Attempts] = attrs.field(factory=dict)
    """By pod UID."""
    volume_wait: _VolumeWait | None = None


@attrs.define
class _Pass:
    """What one pass found; turned into a `DrainOutcome` at the end."""

    now: float
    waiting: list[ObjectKey] = attrs.field(factory=list)
    volumes_of: ObjectKey | None = None
    blocked: list[BlockedPod] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    evicted: list[ObjectKey] = attrs.field(factory=list)
    deleted: list[ObjectKey] = attrs.field(factory=list)
    due: list[float] = attrs.field(factory=list)

    def outcome(self, started_at: float) -> DrainOutcome:
        if self.errors:
            status = DrainStatus.FAILED
            requeue_after = None
        elif self.blocked or self.waiting or self.volumes_of is not None:
            status = DrainStatus.BLOCKED if self.blocked else DrainStatus.IN_PROGRESS
            requeue_after = max(min(self.due, default=INTERVAL) - self.now, 0.0) or INTERVAL
        else:
            status = DrainStatus.DONE
            requeue_after = None
        return DrainOutcome(
            status=status,
            requeue_after=requeue_after,
            waiting=tuple(self.waiting),
            volumes_of=self.volumes_of,
            blocked=tuple(self.blocked),
            errors=tuple(self.errors),
            evicted=tuple(self.evicted),
            deleted=tuple(self.deleted),
            duration=self.now - started_at,
        )


class _Action(enum.Enum):
    EVICTED = enum.auto()
    DELETED = enum.auto()
    GONE = enum.auto()
    REFUSED = enum.auto()
    FAILED = enum.auto()


@attrs.frozen
class _Done:
    action: _Action
    error: str = ""


# ----------------------------------------------------------------------------------- the drainer


class Drainer:
    """Drains nodes of the context's target cluster, one pass per `drain` call.

    Keeps the per-node retry bookkeeping described in the module docstring; one instance serves
    any number of nodes from any number of threads, as long as one node is drained by one thread
    at a time (the work queue guarantees it for a machine's node).
    """

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._nodes: dict[str, _NodeState] = {}

    def forget(self, node_name: str) -> None:
        """Drop what is remembered about draining *node_name* (attempts, awaited volumes)."""
        with self._lock:
            self._nodes.pop(node_name, None)

    def tracked_nodes(self) -> frozenset[str]:
        """The nodes some drain state is kept for (for tests and debugging)."""
        with self._lock:
            return frozenset(self._nodes)

    def drain(self, options: DrainOptions) -> DrainOutcome:
        """Make one pass over *options.node_name*; never blocks for longer than its API calls."""
        ctx = self._ctx
        node_name = options.node_name
        if ctx.pods is None:
            raise ValueError("drain needs a target cluster (no pod lister)")
        pods = pods_to_drain(ctx.pods.list(), node_name)
        state = self._state(node_name, ctx.clock.now())
        present = {pod.metadata.uid for pod in pods}
        state.attempts = {uid: a for uid, a in state.attempts.items() if uid in present}
        work = _Pass(now=ctx.clock.now())
        if options.force_delete_pods:
            self._forced(pods, options, work)
            self.forget(node_name)
            outcome = work.outcome(state.started_at)
        else:
            with_volumes = [pod for pod in pods if pod.claim_names]
            without_volumes = [pod for pod in pods if not pod.claim_names]
            self._drain_without_volumes(without_volumes, state, options, work)
            self._drain_with_volumes(with_volumes, state, options, work)
            outcome = work.outcome(state.started_at)
            if outcome.done:
                self.forget(node_name)
        logger.info(
            "drain of %s: %s (%d pods left; evicted %d, deleted %d)%s",
            node_name,
            outcome.status,
            len(pods) - len(outcome.evicted) - len(outcome.deleted),
            len(outcome.evicted),
            len(outcome.deleted),
            f": {outcome.message}" if not outcome.done else "",
        )
        return outcome

    # --- strategies -------------------------------------------------------------------------------

    def _forced(self, pods: Sequence[Pod], options: DrainOptions, work: _Pass) -> None:
        results = self._run([(pod, False) for pod in pods], options.parallelism)
        for pod, done in zip(pods, results, strict=True):
            if done.action is _Action.DELETED:
                work.deleted.append(pod.metadata.key)
            elif done.action is not _Action.GONE:
                work.errors.append(_evict_error(pod, done.error, options.node_name))

    def _drain_without_volumes(
        self, pods: Sequence[Pod], state: _NodeState, options: DrainOptions, work: _Pass
    ) -> None:
        todo: list[tuple[Pod, bool]] = []
        for pod in pods:
            if pod.metadata.deleting:
                self._await_termination(pod, options, work)
                continue
            attempts = state.attempts.get(pod.metadata.uid)
            if attempts is not None and attempts.retry_at > work.now:
                _not_due(pod, attempts, work)
                continue
            todo.append((pod, self._may_evict(attempts, options)))
        results = self._run(todo, options.parallelism)
        for (pod, _evict), done in zip(todo, results, strict=True):
            self._record(pod, done, state, options, work)

    def _drain_with_volumes(
        self, pods: Sequence[Pod], state: _NodeState, options: DrainOptions, work: _Pass
    ) -> None:
        if not pods and state.volume_wait is None:
            return
        ctx = self._ctx
        node = ctx.nodes.get(options.node_name) if ctx.nodes is not None else None
        if node is None:
            # Upstream's "fast track": with the Node gone there is nothing to wait for.
            logger.info(
                "drain of %s: node is gone; counting %d pods with volumes as drained",
                options.node_name,
                len(pods),
            )
            state.volume_wait = None
            return
        if state.volume_wait is not None and not self._volumes_settled(node, state, options, work):
            return  # serial: the next pod waits for this one's volumes
        ordered = sorted(
            pods, key=lambda p: (-(p.spec.priority or 0), p.metadata.namespace, p.metadata.name)
        )
        for pod in ordered:
            if pod.metadata.deleting:
                self._await_termination(pod, options, work)
                continue
            attempts = state.attempts.get(pod.metadata.uid)
            if attempts is not None and attempts.retry_at > work.now:
                _not_due(pod, attempts, work)
                continue
            done = self._run([(pod, self._may_evict(attempts, options))], 1)[0]
            self._record(pod, done, state, options, work)
            if done.action in (_Action.EVICTED, _Action.DELETED):
                exclusive = _exclusive_volume_names(ctx, pods).get(pod.metadata.key, ())
                grace = float(pod.spec.termination_grace_period_seconds or 0)
                state.volume_wait = _VolumeWait(
                    pod=pod.metadata.key,
                    volumes=_volume_info(ctx, exclusive),
                    detach_deadline=work.now + grace + options.pv_detach_timeout,
                )
                logger.info(
                    "drain of %s: waiting for volumes %s of pod %s to detach",
                    options.node_name,
                    ", ".join(state.volume_wait.volumes.volume_ids) or "(none tracked)",
                    pod.metadata.key,
                )
                return

    # --- steps ------------------------------------------------------------------------------------

    def _volumes_settled(
        self, node: Node, state: _NodeState, options: DrainOptions, work: _Pass
    ) -> bool:
        """Have the awaited volumes detached and reattached (or timed out)? Updates *state*."""
        wait = state.volume_wait
        assert wait is not None  # noqa: S101 -- checked by the caller
        if wait.reattach_deadline is None:
            attached = [v.name for v in node.status.volumes_attached]
            still = [vid for vid in wait.volumes.volume_ids if any(vid in n for n in attached)]
            if still:
                if work.now > wait.detach_deadline:
                    logger.warning(
                        "drain of %s: volumes %s of pod %s did not detach in time",
                        options.node_name,
                        ", ".join(still),
                        wait.pod,
                    )
                    work.errors.append("timeout while waiting for PVs to detach from node")
                    state.volume_wait = None
                    return True
                work.volumes_of = wait.pod
                work.due.append(work.now + INTERVAL)
                return False
            wait = attrs.evolve(wait, reattach_deadline=work.now + options.pv_reattach_timeout)
            state.volume_wait = wait
            logger.info("drain of %s: volumes of pod %s detached", options.node_name, wait.pod)
        if self._reattached(wait, options.node_name):
            state.volume_wait = None
            return True
        assert wait.reattach_deadline is not None  # noqa: S101 -- set above
        if work.now > wait.reattach_deadline:
            logger.warning(
                "drain of %s: timeout occurred while waiting for PVs %s to reattach to a"
                " different node",
                options.node_name,
                ", ".join(wait.volumes.persistent_volume_names),
            )
            state.volume_wait = None
            return True
        work.volumes_of = wait.pod
        work.due.append(min(work.now + INTERVAL, wait.reattach_deadline + 1.0))
        return False

    def _reattached(self, wait: _VolumeWait, node_name: str) -> bool:
        pending = set(wait.volumes.persistent_volume_names)
        if not pending:
            return True
        lister = self._ctx.volume_attachments
        if lister is None:
            return False  # no VolumeAttachments to watch: wait out the reattach timeout
        for attachment in lister.list():
            pv_name = attachment.spec.source.persistent_volume_name
            if (
                pv_name in pending
                and attachment.status.attached
                and attachment.spec.node_name != node_name
            ):
                pending.discard(pv_name)
        return not pending

    def _await_termination(self, pod: Pod, options: DrainOptions, work: _Pass) -> None:
        """*pod* is terminating: wait for it, unless it is stuck past its grace period + 30 s."""
        meta = pod.metadata
        assert meta.deletion_timestamp is not None  # noqa: S101 -- only called for such pods
        grace = float(meta.deletion_grace_period_seconds or 0)
        requested = meta.deletion_timestamp.timestamp() - grace
        deadline = requested + min(grace, options.timeout) + POD_TERMINATION_BUFFER
        if work.now > deadline:
            work.errors.append(
                f'timeout expired while waiting for pod "{meta.name}" terminating'
                f" scheduled on node {options.node_name}"
            )
            return
        work.waiting.append(meta.key)
        work.due.append(work.now + INTERVAL)

    def _record(
        self, pod: Pod, done: _Done, state: _NodeState, options: DrainOptions, work: _Pass
    ) -> None:
        key = pod.metadata.key
        uid = pod.metadata.uid
        previous = state.attempts.get(uid)
        count = (previous.count if previous is not None else 0) + 1
        if done.action is _Action.EVICTED:
            work.evicted.append(key)
            work.waiting.append(key)
            work.due.append(work.now + INTERVAL)
        elif done.action is _Action.DELETED:
            work.deleted.append(key)
            work.waiting.append(key)
            work.due.append(work.now + INTERVAL)
        elif done.action is _Action.REFUSED:
            budgets = self._ctx.pod_disruption_budgets
            pdb = pdb_for_pod(budgets.list(pod.metadata.namespace), pod) if budgets else None
            budget = pdb.metadata.key if pdb is not None else None
            retry_at = work.now + POD_EVICTION_RETRY_INTERVAL
            misconfigured = None
            if pdb is not None and is_misconfigured_pdb(pdb):
                misconfigured = (
                    f'error while evicting pod "{pod.metadata.name}": pod disruption budget'
                    f" {pdb.metadata.namespace}/{pdb.metadata.name} is misconfigured and"
                    " requires zero voluntary evictions"
                )
            attempts = _Attempts(
                count=count, retry_at=retry_at, budget=budget, misconfigured=misconfigured
            )
            state.attempts[uid] = attempts
            if misconfigured is not None:
                work.errors.append(misconfigured)
                return
            logger.info(
                "drain of %s: eviction of %s refused (attempt %d of %d)%s; retrying in %.0fs",
                options.node_name,
                key,
                count,
                options.max_evict_retries,
                f" by PodDisruptionBudget {budget}" if budget else "",
                POD_EVICTION_RETRY_INTERVAL,
            )
            work.blocked.append(_blocked(pod, attempts))
            work.due.append(retry_at)
        elif done.action is _Action.FAILED:
            state.attempts[uid] = _Attempts(
                count=count, retry_at=work.now, budget=previous.budget if previous else None
            )
            work.errors.append(_evict_error(pod, done.error, options.node_name))

    @staticmethod
    def _may_evict(attempts: _Attempts | None, options: DrainOptions) -> bool:
        count = attempts.count if attempts is not None else 0
        return options.evict and count < options.max_evict_retries

    # --- API calls --------------------------------------------------------------------------------

    def _run(self, work: Sequence[tuple[Pod, bool]], parallelism: int) -> list[_Done]:
        """Evict (True) or delete (False) each pod; at most *parallelism* calls at a time."""
        if len(work) <= 1 or parallelism <= 1:
            return [self._act(pod, evict) for pod, evict in work]
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(parallelism, len(work)), thread_name_prefix="drain"
        ) as pool:
            return list(pool.map(lambda item: self._act(*item), work))

    def _act(self, pod: Pod, evict: bool) -> _Done:
        target = _target(self._ctx)
        meta = pod.metadata
        preconditions = Preconditions(uid=meta.uid) if meta.uid else None
        try:
            if evict:
                target.evict(meta.name, namespace=meta.namespace, preconditions=preconditions)
            else:
                target.delete(
                    PODS,
                    meta.name,
                    namespace=meta.namespace,
                    grace_period_seconds=0,
                    preconditions=preconditions,
                )
        except (NotFoundError, ConflictError):
            # Gone already, or replaced by a pod of the same name (the UID precondition failed).
            return _Done(_Action.GONE)
        except TooManyRequestsError as exc:
            return _Done(_Action.REFUSED if evict else _Action.FAILED, str(exc))
        except (ApiError, TransportError) as exc:
            return _Done(_Action.FAILED, str(exc))
        logger.debug("%s pod %s", "evicted" if evict else "deleted", meta.key)
        return _Done(_Action.EVICTED if evict else _Action.DELETED)

    def _state(self, node_name: str, now: float) -> _NodeState:
        with self._lock:
            state = self._nodes.get(node_name)
            if state is None:
                state = self._nodes[node_name] = _NodeState(started_at=now)
            return state


# --------------------------------------------------------------------------------------- helpers


def _target(ctx: MachineControllerContext) -> Api:
    if ctx.target is None:
        raise ValueError("drain needs a target cluster")
    return ctx.target


def _not_due(pod: Pod, attempts: _Attempts, work: _Pass) -> None:
    """*pod* waits for its next eviction attempt: still blocked, or still failing."""
    if attempts.misconfigured is not None:
        work.errors.append(attempts.misconfigured)
    else:
        work.blocked.append(_blocked(pod, attempts))
        work.due.append(attempts.retry_at)


def _blocked(pod: Pod, attempts: _Attempts) -> BlockedPod:
    return BlockedPod(pod=pod.metadata.key, budget=attempts.budget, attempts=attempts.count)


def _evict_error(pod: Pod, error: str, node_name: str) -> str:
    return f'error when evicting pod "{pod.metadata.name}": {error} scheduled on node {node_name}'


def _named(names: Iterable[str]) -> str:
    """``pod(s) a, b`` with at most `_MAX_NAMED` names, the rest counted."""
    listed = sorted(set(names))
    shown = ", ".join(listed[:_MAX_NAMED])
    more = len(listed) - _MAX_NAMED
    suffix = f" and {more} more" if more > 0 else ""
    return f"{'pod' if len(listed) == 1 else 'pods'} {shown}{suffix}"

"""`KubeletSimulator`: the node-side half of a cluster, for API servers that have no kubelets.

On a bare kube-apiserver (or `mcm.testing.FakeApiServer`) nothing registers Nodes, nothing runs
pods, nothing finishes a graceful pod deletion and nothing computes PodDisruptionBudget status. The
simulator plays those parts for the VMs of a `VMSource` (a static list in tests, EC2 through moto
in integration tests and the demo, the fake driver's VMs later), so that the machine controller
sees its Machines' Nodes join and drain tests see pods go away. What it promises, per pass:

- **Nodes follow the VMs.** Every running VM with a node name gets a Node (``spec.providerID`` =
  the VM's, labels ``kubernetes.io/hostname`` plus the VM's, its addresses) with the kubelet's
  conditions: ``Ready=True`` and ``MemoryPressure``/``DiskPressure``/``PIDPressure=False``. A VM
  joins *join_delay* seconds after the simulator first saw it running, measured on the injected
  clock. A Node whose VM stopped running or left the source is deleted, once: a Node that already
  has a ``deletionTimestamp`` (one the machine controller's finalizer holds back) is left to its
  finalizers, as a kubelet would leave it. The simulator marks the Nodes it creates with the
  `SIMULATED_BY_ANNOTATION` annotation and never touches any other Node, so a Node a test created
  itself is left alone. A failing VM source changes no Node.
- **Conditions are the simulator's to set.** `KubeletSimulator.set_condition` (and the shorthands
  `make_not_ready`, `make_ready`, `set_disk_pressure`, `set_readonly_filesystem`) change what the
  kubelet reports and write it at once when the Node exists; otherwise it is reported from
  registration on. A later pass restores the reported conditions if someone else changed them. With
  *heartbeat_interval* set, ``lastHeartbeatTime`` is refreshed that often; without it (the default)
  a registered Node is written only when its conditions change, which keeps watch streams quiet.
- **Pods on its nodes run and terminate.** A pod bound (``spec.nodeName``) to one of its Ready
  nodes that is still ``Pending`` is made ``Running`` with ``PodScheduled``, ``Initialized``,
  ``ContainersReady`` and ``Ready`` true, through the status subresource (*run_pods*). A pod bound
  to any node of its VMs that has a ``deletionTimestamp`` is deleted for good, as the kubelet's
  status manager does (``gracePeriodSeconds=0`` and a ``uid`` precondition; NotFound and Conflict
  mean someone else finished it), ``min(deletionGracePeriodSeconds, grace_period_cap)`` seconds
  after the simulator first saw it terminating; the default cap of 0 finishes it at once.
- **PodDisruptionBudget status is kept current**, as kube-controller-manager's disruption
  controller would (test-infra spec §5, option A), so that evictions are admitted or refused as on
  a real cluster: ``expectedPods`` is every pod the selector matches (a nil or malformed selector
  matches none, an empty one all in the namespace); ``currentHealthy`` those that are Ready, not
  terminating and not in ``disruptedPods``; ``desiredHealthy`` is ``minAvailable``, or
  ``expectedPods - maxUnavailable`` (percentages scaled against ``expectedPods``, rounding up);
  ``disruptionsAllowed`` is ``max(0, currentHealthy - desiredHealthy)`` (0 when nothing is
  expected); ``disruptedPods`` keeps only entries whose pod still exists, is not terminating and
  was admitted less than `DISRUPTION_TIMEOUT` ago; ``observedGeneration`` and the
  ``DisruptionAllowed`` condition follow. The status is replaced (``update_status``), so stale
  ``disruptedPods`` entries really go away, and only when it changed. Unlike option A's sketch, a
  terminating pod still counts in ``expectedPods`` until it is gone, as it does for the real
  controller (through the pod list or the owner's scale): one eviction at a time per budget.

`KubeletSimulator.sync_once` runs one pass synchronously against fresh lists from the API; unit
tests call it with a `mcm.clock.FakeClock` and need no threads. `KubeletSimulator.run` runs passes
until *stop* is set: it watches pods, PodDisruptionBudgets and Nodes through informers (a pass
follows every change), and polls the VM source every *poll_interval* seconds on the injected clock,
the source being an outside system without a watch. Passes are serialised; every method may be
called from any thread.

The simulator needs only `mcm.kube.protocol.Api`; `VMSource` is the one seam to the VM side.
Durations are float seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from mcm.api.core import Node, Pod, PodDisruptionBudget
from mcm.api.meta import EMPTY, format_time, parse_time, thaw
from mcm.cache.factory import wait_for_cache_sync
from mcm.cache.informer import FuncHandler, SharedIndexInformer
from mcm.clock import Clock, RealClock, utcnow
from mcm.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError, TransportError
from mcm.kube.protocol import JSON, Api, Preconditions
from mcm.kube.resources import NODES, POD_DISRUPTION_BUDGETS, PODS

logger = logging.getLogger(__name__)

SIMULATED_BY_ANNOTATION = "mcm.testing/simulated-by"
"""Set on every Node the simulator registers, to the simulator's *name*; it manages only these."""

HOSTNAME_LABEL = "kubernetes.io/hostname"

DISRUPTION_TIMEOUT = 120.0
"""How long a ``disruptedPods`` entry waits for its pod to go (the disruption controller's
``DeletionTimeout``); after that the pod counts as healthy again."""

READY = "Ready"
MEMORY_PRESSURE = "MemoryPressure"
DISK_PRESSURE = "DiskPressure"
PID_PRESSURE = "PIDPressure"
READONLY_FILESYSTEM = "ReadonlyFilesystem"

_HEALTHY_CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    (MEMORY_PRESSURE, "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
    (DISK_PRESSURE, "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    (PID_PRESSURE, "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    (READY, "True", "KubeletReady", "kubelet is posting ready status"),
)
"""The conditions a healthy kubelet reports, in its order: (type, status, reason, message)."""

_RUNNING_POD_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


def _frozen_labels(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value)) if value else EMPTY


def _address_pairs(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(kind), str(address)) for kind, address in value)


@attrs.frozen(kw_only=True)
class VM:
    """A virtual machine as the simulator needs to know it."""

    provider_id: str
    """What the Node's ``spec.providerID`` will say (``aws:///eu-west-1/i-0abc...``)."""
    node_name: str
    """The Node's name: the VM's hostname (on EC2 its ``PrivateDnsName``); empty = cannot join."""
    running: bool = True
    labels: Mapping[str, str] = attrs.field(default=EMPTY, converter=_frozen_labels)
    """Extra Node labels (instance type, zone ...)."""
    addresses: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_address_pairs)
    """``status.addresses`` as (type, address) pairs: ``("InternalIP", "10.0.0.4")``."""


class VMSource(Protocol):
    """Where VMs come from. Called from the simulator's thread, once per poll."""

    def list_vms(self) -> Sequence[VM]: ...


class StaticVMSource:
    """A `VMSource` that a test edits by hand. Thread-safe."""

    def __init__(self, vms: Iterable[VM] = ()) -> None:
        self._lock = threading.Lock()
        self._vms: dict[str, VM] = {vm.provider_id: vm for vm in vms}

    def list_vms(self) -> Sequence[VM]:
        with self._lock:
            return list(self._vms.values())

    def add(self, vm: VM) -> None:
        """Add *vm*, or replace the VM with its providerID."""
        with self._lock:
            self._vms[vm.provider_id] = vm

    def remove(self, provider_id: str) -> None:
        """Forget the VM (as if it was terminated and is no longer listed); unknown ids are fine."""
        with self._lock:
            self._vms.pop(provider_id, None)

    def set_running(self, provider_id: str, running: bool) -> None:
        """Start or stop the VM with *provider_id* (`KeyError` if unknown)."""
        with self._lock:
            self._vms[provider_id] = attrs.evolve(self._vms[provider_id], running=running)


class _View(Protocol):
    """Where a pass reads the cluster: fresh lists (`sync_once`) or informer caches (`run`)."""

    def nodes(self) -> Sequence[Node]: ...

    def pods(self) -> Sequence[Pod]: ...

    def budgets(self) -> Sequence[PodDisruptionBudget]: ...


@attrs.frozen
class _ApiView:
    api: Api
    namespace: str | None

    def nodes(self) -> Sequence[Node]:
        return [Node.from_dict(raw) for raw in self.api.list(NODES).items]

    def pods(self) -> Sequence[Pod]:
        return [Pod.from_dict(raw) for raw in self.api.list(PODS, namespace=self.namespace).items]

    def budgets(self) -> Sequence[PodDisruptionBudget]:
        return [
            PodDisruptionBudget.from_dict(raw)
            for raw in self.api.list(POD_DISRUPTION_BUDGETS, namespace=self.namespace).items
        ]


@attrs.frozen
class _CacheView:
    node_informer: SharedIndexInformer[Node]
    pod_informer: SharedIndexInformer[Pod]
    budget_informer: SharedIndexInformer[PodDisruptionBudget]

    def nodes(self) -> Sequence[Node]:
        return self.node_informer.lister.list()

    def pods(self) -> Sequence[Pod]:
        return self.pod_informer.lister.list()

    def budgets(self) -> Sequence[PodDisruptionBudget]:
        return self.budget_informer.lister.list()


class KubeletSimulator:
    """Kubelets (and the disruption controller) for the VMs of a `VMSource`; see the module docs."""

    def __init__(
        self,
        api: Api,
        source: VMSource,
        *,
        clock: Clock | None = None,  # FakeClock in tests
        join_delay: float = 0.0,
        poll_interval: float = 1.0,
        namespace: str | None = None,  # pods and budgets of this namespace only; None = all
        grace_period_cap: float = 0.0,
        run_pods: bool = True,
        heartbeat_interval: float | None = None,
        name: str = "kubelet-simulator",
    ) -> None:
        self._api = api
        self._source = source
        self._clock: Clock = clock if clock is not None else RealClock()
        self._join_delay = join_delay
        self._poll_interval = poll_interval
        self._namespace = namespace
        self._grace_period_cap = grace_period_cap
        self._run_pods = run_pods
        self._heartbeat_interval = heartbeat_interval
        self.name = name
        # One pass at a time; `set_condition` from a test thread waits for a running pass.
        self._lock = threading.RLock()
        self._first_seen: dict[str, float] = {}  # providerID -> monotonic time first seen running
        self._vm_nodes: set[str] = set()  # every node name a VM of the source ever had
        self._registered: set[str] = set()  # Nodes of ours that exist, as far as we know
        self._removed: set[str] = set()  # uids of Nodes we deleted that may still be listed
        # node name -> condition type -> the condition as reported (JSON, with timestamps)
        self._conditions: dict[str, dict[str, JSON]] = {}
        self._last_heartbeat: dict[str, float] = {}  # node name -> monotonic time
        self._terminating: dict[str, float] = {}  # pod uid -> monotonic time first seen deleting
        self._finished: set[str] = set()  # pod uids we deleted for good
        self._started: set[str] = set()  # pod uids we made Running

    # --- conditions -------------------------------------------------------------------------------

    def set_condition(
        self,
        node_name: str,
        condition_type: str,
        status: str,
        *,
        reason: str = "",
        message: str = "",
    ) -> None:
        """Report *condition_type* = *status* ("True", "False", "Unknown") for *node_name*."""
        with self._lock:
            conditions = self._conditions_of(node_name)
            now = self._timestamp()
            old = conditions.get(condition_type)
            transition = (
                old["lastTransitionTime"]
                if old is not None and old.get("status") == status and "lastTransitionTime" in old
                else now
            )
            conditions[condition_type] = {
                "type": condition_type,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": transition,
                "reason": reason,
                "message": message,
            }
            if node_name in self._registered:
                self._write_conditions(node_name)

    def make_ready(self, node_name: str) -> None:
        self.set_condition(
            node_name,
            READY,
            "True",
            reason="KubeletReady",
            message="kubelet is posting ready status",
        )

    def make_not_ready(self, node_name: str) -> None:
        self.set_condition(
            node_name,
            READY,
            "False",
            reason="KubeletNotReady",
            message="container runtime network not ready",
        )

    def set_disk_pressure(self, node_name: str, pressure: bool = True) -> None:
        if pressure:
            self.set_condition(
                node_name,
                DISK_PRESSURE,
                "True",
                reason="KubeletHasDiskPressure",
                message="kubelet has disk pressure",
            )
        else:
            self.set_condition(
                node_name,
                DISK_PRESSURE,
                "False",
                reason="KubeletHasNoDiskPressure",
                message="kubelet has no disk pressure",
            )

    def set_readonly_filesystem(self, node_name: str, readonly: bool = True) -> None:
        """The condition node-problem-detector reports (``ReadonlyFilesystem``)."""
        if readonly:
            self.set_condition(
                node_name,
                READONLY_FILESYSTEM,
                "True",
                reason="FilesystemIsReadOnly",
                message="Filesystem is read-only",
            )
        else:
            self.set_condition(
                node_name,
                READONLY_FILESYSTEM,
                "False",
                reason="FilesystemIsNotReadOnly",
                message="Filesystem is not read-only",
            )

    # --- running ----------------------------------------------------------------------------------

    def sync_once(self) -> None:
        """One full pass (nodes from VMs, pods, budget status) against fresh lists from the API."""
        self._sync(_ApiView(self._api, self._namespace))

    def run(self, stop: threading.Event) -> None:
        """Run passes until *stop* is set: after every watched change, and every *poll_interval*."""
        wake = threading.Event()  # a change was seen, or it is time to stop
        halt = threading.Event()  # stops the informers: set once *stop* is, or when `run` ends

        def poke(*_: object) -> None:
            wake.set()

        view = _CacheView(
            SharedIndexInformer(self._api, NODES, Node.from_dict, clock=self._clock),
            SharedIndexInformer(
                self._api, PODS, Pod.from_dict, namespace=self._namespace, clock=self._clock
            ),
            SharedIndexInformer(
                self._api,
                POD_DISRUPTION_BUDGETS,
                PodDisruptionBudget.from_dict,
                namespace=self._namespace,
                clock=self._clock,
            ),
        )
        informers: list[SharedIndexInformer[Any]] = [
            view.node_informer,
            view.pod_informer,
            view.budget_informer,
        ]
        handler: FuncHandler[Any] = FuncHandler(on_add=poke, on_update=poke, on_delete=poke)
        for informer in informers:
            informer.add_event_handler(handler)
        threads = [
            threading.Thread(
                target=informer.run, args=(halt,), name=f"{self.name} {informer.name}", daemon=True
            )
            for informer in informers
        ]
        threading.Thread(
            target=_relay, args=(stop, halt, wake), name=f"{self.name} stop", daemon=True
        ).start()
        logger.info("%s: starting", self.name)
        try:
            for thread in threads:
                thread.start()
            if not wait_for_cache_sync(halt, *(i.has_synced for i in informers)):
                return
            while not halt.is_set():
                wake.clear()
                due: float | None = None
                try:
                    due = self._sync(view)
                except Exception:  # the next pass may fare better; keep the kubelets alive
                    logger.exception("%s: pass failed", self.name)
                timeout = self._poll_interval
                if due is not None:
                    timeout = min(timeout, max(0.0, due - self._clock.monotonic()))
                self._clock.wait(wake, timeout)
        finally:
            halt.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join()
            logger.info("%s: stopped", self.name)

    # --- one pass ---------------------------------------------------------------------------------

    def _sync(self, view: _View) -> float | None:
        """One pass; returns when (monotonic) the earliest pending timed step is due, if any."""
        with self._lock:
            due: list[float] = []
            self._sync_nodes(view, due)
            self._sync_pods(view, due)
            self._sync_budgets(view)
            return min(due, default=None)

    def _sync_nodes(self, view: _View, due: list[float]) -> None:
        try:
            vms = list(self._source.list_vms())
        except Exception:  # an outside system: whatever it raises, leave the Nodes as they are
            logger.exception("%s: listing VMs failed", self.name)
            return
        now = self._clock.monotonic()
        running = {vm.node_name: vm for vm in vms if vm.running and vm.node_name}
        running_ids = {vm.provider_id for vm in running.values()}
        for provider_id in list(self._first_seen):
            if provider_id not in running_ids:
                del self._first_seen[provider_id]
        self._vm_nodes.update(running)
        nodes = {node.metadata.name: node for node in view.nodes()}
        self._removed.intersection_update(node.metadata.uid for node in nodes.values())
        for name, node in list(nodes.items()):
            if not self._owns(node):
                continue
            vm = running.get(name)
            if vm is None or node.spec.provider_id != vm.provider_id:  # gone, or replaced
                # Deleted already, by us or by others (finalizers may hold it): once is enough.
                if not node.metadata.deleting and node.metadata.uid not in self._removed:
                    self._remove_node(node)
                del nodes[name]
        for name, vm in running.items():
            seen = self._first_seen.setdefault(vm.provider_id, now)
            existing = nodes.get(name)
            if existing is not None:
                if self._owns(existing):
                    self._refresh_node(existing, now, due)
                continue  # otherwise somebody else's Node: not ours to manage
            joins_at = seen + self._join_delay
            if now < joins_at:
                due.append(joins_at)
            else:
                self._register_node(vm, now)

    def _sync_pods(self, view: _View, due: list[float]) -> None:
        now = self._clock.monotonic()
        owned = self._vm_nodes | self._registered
        seen: set[str] = set()
        for pod in view.pods():
            node_name = pod.spec.node_name
            uid = pod.metadata.uid
            if not node_name or node_name not in owned:
                continue
            seen.add(uid)
            if pod.metadata.deleting:
                if uid in self._finished:
                    continue
                first = self._terminating.setdefault(uid, now)
                grace = float(pod.metadata.deletion_grace_period_seconds or 0)
                finish_at = first + min(grace, self._grace_period_cap)
                if now < finish_at:
                    due.append(finish_at)
                else:
                    self._finish_pod(pod)
            elif (
                self._run_pods
                and pod.status.phase in ("", "Pending")
                and uid not in self._started
                and self._node_ready(node_name)
            ):
                self._start_pod(pod)
        for uids in (self._started, self._finished):
            uids.intersection_update(seen)
        for uid in list(self._terminating):
            if uid not in seen:
                del self._terminating[uid]

    def _sync_budgets(self, view: _View) -> None:
        pods_by_namespace: dict[str, list[Pod]] = {}
        for pod in view.pods():
            pods_by_namespace.setdefault(pod.metadata.namespace, []).append(pod)
        now = self._clock.now()
        for pdb in view.budgets():
            namespace = pdb.metadata.namespace
            old: JSON = thaw(pdb.raw.get("status") or {})
            new = self._budget_status(pdb, pods_by_namespace.get(namespace, ()), now, old)
            if _normalised(new) == _normalised(old):
                continue
            body: JSON = thaw(pdb.raw)
            body["status"] = new
            try:
                self._api.update_status(POD_DISRUPTION_BUDGETS, body, namespace=namespace)
            except (ConflictError, NotFoundError) as exc:  # a newer version will bring a new pass
                logger.debug("%s: budget %s not updated: %s", self.name, pdb.metadata.key, exc)
            except (ApiError, TransportError) as exc:
                logger.warning("%s: budget %s not updated: %s", self.name, pdb.metadata.key, exc)
            else:
                logger.debug(
                    "%s: budget %s: %d of %d healthy, %d disruptions allowed",
                    self.name,
                    pdb.metadata.key,
                    new.get("currentHealthy", 0),
                    new.get("desiredHealthy", 0),
                    new.get("disruptionsAllowed", 0),
                )

    # --- nodes ------------------------------------------------------------------------------------

    def _owns(self, node: Node) -> bool:
        return node.metadata.annotations.get(SIMULATED_BY_ANNOTATION) == self.name

    def _conditions_of(self, node_name: str) -> dict[str, JSON]:
        """The conditions reported for *node_name*, starting from a healthy kubelet's."""
        conditions = self._conditions.get(node_name)
        if conditions is None:
            now = self._timestamp()
            conditions = {
                kind: {
                    "type": kind,
                    "status": status,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
                for kind, status, reason, message in _HEALTHY_CONDITIONS
            }
            self._conditions[node_name] = conditions
        return conditions

    def _node_ready(self, node_name: str) -> bool:
        if node_name not in self._registered:
            return False
        ready = self._conditions_of(node_name).get(READY)
        return ready is not None and ready.get("status") == "True"

    def _register_node(self, vm: VM, now: float) -> None:
        name = vm.node_name
        conditions = list(self._conditions_of(name).values())
        body: JSON = {
            "apiVersion": NODES.api_version,
            "kind": NODES.kind,
            "metadata": {
                "name": name,
                "labels": {HOSTNAME_LABEL: name, **vm.labels},
                "annotations": {SIMULATED_BY_ANNOTATION: self.name},
            },
            "spec": {"providerID": vm.provider_id},
            "status": {
                "conditions": conditions,
                "addresses": [{"type": kind, "address": addr} for kind, addr in vm.addresses],
            },
        }
        try:
            created = self._api.create(NODES, body)
        except AlreadyExistsError:  # our cache lags; the next pass sees it
            logger.debug("%s: node %s exists already", self.name, name)
            return
        except (ApiError, TransportError) as exc:
            logger.warning("%s: registering node %s failed: %s", self.name, name, exc)
            return
        self._registered.add(name)
        self._last_heartbeat[name] = now
        logger.info("%s: node %s registered (%s)", self.name, name, vm.provider_id)
        if _condition_keys(Node.from_dict(created)) != _condition_keys_of(conditions):
            # An API server whose node strategy drops status on create: report it separately.
            self._write_conditions(name)

    def _refresh_node(self, node: Node, now: float, due: list[float]) -> None:
        name = node.metadata.name
        self._registered.add(name)
        if name not in self._conditions:  # adopted after a restart: go on from what it says
            self._conditions[name] = {c.type: thaw(c.raw) for c in node.status.conditions}
        conditions = self._conditions_of(name)
        stale = _condition_keys(node) != _condition_keys_of(conditions.values())
        if self._heartbeat_interval is not None:
            beat = self._last_heartbeat.setdefault(name, now)
            if now - beat >= self._heartbeat_interval:
                stamp = self._timestamp()
                for condition in conditions.values():
                    condition["lastHeartbeatTime"] = stamp
                stale = True
            else:
                due.append(beat + self._heartbeat_interval)
        if stale:
            self._write_conditions(name)

    def _write_conditions(self, node_name: str) -> None:
        conditions = list(self._conditions_of(node_name).values())
        try:
            self._api.patch_status(NODES, node_name, {"status": {"conditions": conditions}})
        except NotFoundError:
            self._registered.discard(node_name)
            logger.debug("%s: node %s is gone", self.name, node_name)
            return
        except (ApiError, TransportError) as exc:
            logger.warning("%s: node %s status not written: %s", self.name, node_name, exc)
            return
        self._last_heartbeat[node_name] = self._clock.monotonic()

    def _remove_node(self, node: Node) -> None:
        node_name = node.metadata.name
        try:
            self._api.delete(NODES, node_name)
        except NotFoundError:
            pass
        except (ApiError, TransportError) as exc:
            logger.warning("%s: deleting node %s failed: %s", self.name, node_name, exc)
            return
        logger.info("%s: node %s removed: its VM is gone", self.name, node_name)
        self._removed.add(node.metadata.uid)
        self._registered.discard(node_name)
        self._conditions.pop(node_name, None)
        self._last_heartbeat.pop(node_name, None)

    # --- pods -------------------------------------------------------------------------------------

    def _finish_pod(self, pod: Pod) -> None:
        meta = pod.metadata
        try:
            self._api.delete(
                PODS,
                meta.name,
                namespace=meta.namespace,
                grace_period_seconds=0,
                preconditions=Preconditions(uid=meta.uid),
            )
        except (NotFoundError, ConflictError):  # gone, or a new pod took the name
            pass
        except (ApiError, TransportError) as exc:
            logger.warning("%s: finishing pod %s failed: %s", self.name, meta.key, exc)
            return
        logger.debug("%s: pod %s terminated", self.name, meta.key)
        self._finished.add(meta.uid)

    def _start_pod(self, pod: Pod) -> None:
        meta = pod.metadata
        now = self._timestamp()
        status = {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": now}
                for kind in _RUNNING_POD_CONDITIONS
            ],
        }
        try:
            self._api.patch_status(PODS, meta.name, {"status": status}, namespace=meta.namespace)
        except NotFoundError:
            return
        except (ApiError, TransportError) as exc:
            logger.warning("%s: starting pod %s failed: %s", self.name, meta.key, exc)
            return
        self._started.add(meta.uid)

    # --- budgets ----------------------------------------------------------------------------------

    def _budget_status(
        self, pdb: PodDisruptionBudget, pods: Iterable[Pod], now: float, old: JSON
    ) -> JSON:
        """The status the disruption controller would write for *pdb* (``trySync``)."""
        generation = pdb.metadata.generation
        selector = pdb.spec.selector
        matching = (
            []
            if selector is None or not selector.valid
            else [p for p in pods if selector.matches(p.metadata.labels)]
        )
        try:
            expected, desired = _expected_and_desired(pdb, len(matching))
        except ValueError as exc:  # the controller's failSafe: no disruptions, say why
            failed: JSON = dict(old)
            failed["disruptionsAllowed"] = 0
            failed["conditions"] = _budget_conditions(
                old,
                ("False", "SyncFailed", str(exc)),
                int(old.get("observedGeneration") or 0),
                self._timestamp(),
            )
            return failed
        by_name = {p.metadata.name: p for p in matching}
        disrupted: dict[str, str] = {}
        for pod_name, admitted in pdb.status.disrupted_pods.items():
            pod = by_name.get(pod_name)
            admitted_at = parse_time(admitted)
            if pod is None or pod.metadata.deleting or admitted_at is None:
                continue
            if admitted_at.timestamp() + DISRUPTION_TIMEOUT < now:
                continue  # the eviction was admitted long ago and the pod is still there
            disrupted[pod_name] = admitted
        healthy = sum(
            1
            for p in matching
            if not p.metadata.deleting and p.metadata.name not in disrupted and _pod_ready(p)
        )
        allowed = healthy - desired if expected > 0 else 0
        allowed = max(allowed, 0)
        status: JSON = {
            "observedGeneration": generation,
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        condition = (
            ("True", "SufficientPods", "") if allowed > 0 else ("False", "InsufficientPods", "")
        )
        status["conditions"] = _budget_conditions(old, condition, generation, self._timestamp())
        return status

    def _timestamp(self) -> str:
        return format_time(utcnow(self._clock))


def _relay(stop: threading.Event, halt: threading.Event, wake: threading.Event) -> None:
    """Pass *stop* on to the informers (*halt*) and the pass loop (*wake*: `Clock.wait` watches
    one event)."""
    stop.wait()
    halt.set()
    wake.set()


def _expected_and_desired(pdb: PodDisruptionBudget, matching: int) -> tuple[int, int]:
    """(expectedPods, desiredHealthy) for a budget over *matching* pods (``getExpectedPodCount``).

    `ValueError` for a percentage that does not parse."""
    spec = pdb.spec
    if spec.max_unavailable is not None:
        unavailable = _scaled(spec.max_unavailable, matching)
        return matching, max(matching - unavailable, 0)
    if spec.min_available is not None:
        return matching, _scaled(spec.min_available, matching)
    return 0, 0  # neither is set: nothing is expected, nothing may be disrupted


def _scaled(value: int | str, total: int) -> int:
    """``intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)``."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
    return math.ceil(percent * total / 100)


def _budget_conditions(
    old: Mapping[str, Any], condition: tuple[str, str, str], generation: int, now: str
) -> list[JSON]:
    """``status.conditions`` with ``DisruptionAllowed`` = *condition* (status, reason, message);
    other conditions are kept, and so is the transition time when the status did not change."""
    status, reason, message = condition
    kept: list[JSON] = []
    transition = now
    for existing in old.get("conditions") or ():
        if existing.get("type") != "DisruptionAllowed":
            kept.append(existing)
        elif existing.get("status") == status and existing.get("lastTransitionTime"):
            transition = existing["lastTransitionTime"]
    kept.append(
        {
            "type": "DisruptionAllowed",
            "status": status,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }
    )
    return kept


def _normalised(status: Mapping[str, Any]) -> JSON:
    """*status* without empty optional fields, for comparing what was read with what would be
    written."""
    return {k: v for k, v in status.items() if v not in (None, {}, [])}


def _pod_ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def _condition_keys(node: Node) -> set[tuple[str, str, str, str]]:
    return {(c.type, c.status, c.reason, c.message) for c in node.status.conditions}


def _condition_keys_of(conditions: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {
        (c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", ""))
        for c in conditions
    }

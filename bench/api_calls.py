"""Kubernetes API calls and driver calls per machine, over a Machine's whole life.

The machine controller's reconcilers (`mcm.controller`: machine, termination, node, machine class,
secret and orphan-VM) run against a `mcm.testing.controller_env.ControllerEnv` (two
`mcm.testing.FakeApiServer` instances, a `mcm.driver.fake.FakeDriver`, a `mcm.events.FakeRecorder`
and a `mcm.clock.FakeClock` on which sleeping moves time), wired as `mcm.app` wires them but
without threads, so that every run makes exactly the same calls. Any other `mcm.driver.Driver` can
take the fake driver's place (`bench.ec2_calls` runs the AWS one).

- **Listers read informer caches.** Each watched resource has a watch on its fake server whose
  events are applied to an `mcm.cache.Indexer` (parsed once with the model's ``from_dict``) and
  handed to the controller's real event handlers (`mcm.controller.handlers`), after every
  reconcile. The listers the reconcilers get are `mcm.cache.Lister` objects over those indexers,
  as in production, so lister reads never reach a server. Opening the watches (one list and one
  watch per resource, per process, in production) is not counted.
- **Queues are delaying queues on the fake clock**: a key waits until its ``requeue_after`` (or an
  enqueue's delay); an earlier request wins, as `mcm.workqueue.DelayingQueue.add_after` does; a
  reconcile that raises is retried after client-go's per-key exponential back-off. When nothing is
  due, the clock jumps to the next deadline. The orphan-VM queue starts with its key, as in the app.
- **The world**: the user creates N Machines of one MachineClass (its Secret carries ``userData``),
  each VM's Node joins, Ready, ``--join-delay`` seconds after the driver created the VM (the
  kubelet's registration), and later the user deletes every Machine. Nodes carry no pods, so the
  drain evicts nothing. These writes are the world's, not the controller's, and are not counted.

Counted, per phase, are the requests the controller sent to either fake server (each fake records
every request as an `mcm.testing.fake_api.Action`; the actions are collected after every
controller step and after every world step, and only the former are kept), the driver calls
(`FakeDriver.calls`) and the Kubernetes Events recorded (each is one more write, a create or a
patch, made asynchronously by `mcm.events.EventRecorder`). Phases:

- ``setup``: the MachineClass and its Secret appear (per class, not per machine);
- ``create``: from N new Machines until all are ``Running`` and nothing is due for a minute (the
  follow-up syncs of a new Node's labels belong to its creation);
- ``steady``: ``--steady-hours`` of simulated time with every machine Running (periodic checks);
- ``delete``: from deleting all N until they are gone.

Not run: the API-server safety probe (two GETs per ``--machine-safety-apiserver-statuscheck-period``
per process, whatever the number of machines). The orphan-VM pass is run (its ``list_machines``
calls show among the driver calls), but it is per class, not per machine: per machine it shrinks as
N grows. "sim ms/machine" is the wall time of the controller's steps (reconciles, handlers and the
fake servers' work for them) per machine: if it grows with N, something scales worse than O(1) per
machine.

Run: ``python -m bench.api_calls [--n 1,10,100] [--steady-hours 1] [--join-delay 60]``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import functools
import heapq
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs
from prometheus_client import CollectorRegistry

from bench import objects
from bench.report import Cell, Report, Table, emit, int_list, parser
from mcm.api import (
    KubeObject,
    Machine,
    MachineClass,
    MachinePhase,
    Node,
    ObjectKey,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    VolumeAttachment,
)
from mcm.cache import FuncHandler, Indexer, Lister
from mcm.clock import FakeClock, utcnow
from mcm.controller.context import Enqueue, MachineControllerContext
from mcm.controller.handlers import (
    machine_class_event_handler,
    machine_event_handler,
    node_event_handler,
    secret_event_handler,
)
from mcm.controller.machine import MachineReconciler
from mcm.controller.machineclass import MachineClassReconciler
from mcm.controller.metrics import MachineMetrics
from mcm.controller.node import NodeReconciler
from mcm.controller.runtime import Reconciler
from mcm.controller.safety import SAFETY_KEY, OrphanVMCollector
from mcm.controller.secret import SecretReconciler
from mcm.controller.termination import TerminationReconciler
from mcm.driver import (
    CreateMachineRequest,
    CreateMachineResponse,
    DeleteMachineRequest,
    DeleteMachineResponse,
    Driver,
    GenerateMachineClassForMigrationRequest,
    GenerateMachineClassForMigrationResponse,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
    GetVolumeIDsRequest,
    GetVolumeIDsResponse,
    InitializeMachineRequest,
    InitializeMachineResponse,
    ListMachinesRequest,
    ListMachinesResponse,
)
from mcm.driver.fake import FakeDriver
from mcm.kube.protocol import EventType
from mcm.kube.resources import (
    MACHINE_CLASSES,
    MACHINES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SECRETS,
    VOLUME_ATTACHMENTS,
    Resource,
)
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import Action, FakeApiServer
from mcm.workqueue import ItemExponentialFailureRateLimiter

NAME = "api-calls"
CLASS_NAME = "shoot--core--prod-worker-a-z1-2f1b4"
SECRET_NAME = "shoot--core--prod-worker-a-z1-2f1b4"  # noqa: S105 -- a name
USER_DATA = "#!/bin/bash\n# join with <<BOOTSTRAP_TOKEN>> as <<MACHINE_NAME>>\necho booting\n"
PHASES = ("setup", "create", "steady", "delete")
SETTLE = 60.0
"""The create phase ends once every machine is Running and nothing is due for this long."""
MAX_STEPS_PER_MACHINE = 500
"""A phase that needs more loop iterations than this per machine (plus a margin) is stuck."""

PER_MACHINE_COLUMNS = (
    "machines",
    "phase",
    "reconciles/machine",
    "API writes/machine",
    "API reads/machine",
    "driver calls/machine",
    "events/machine",
    "sim ms/machine",
)
CALL_COLUMNS = ("phase", "cluster", "verb", "resource", "subresource", "calls", "per machine")
DRIVER_COLUMNS = ("phase", "method", "calls", "per machine")

T = TypeVar("T", bound=KubeObject)


# --- the world's side: a driver whose VMs join as Nodes -------------------------------------------


class SteppingClock(FakeClock):
    """A FakeClock on which sleeping moves time: the simulation has no other thread to do it."""

    def sleep(self, seconds: float) -> None:
        self.step(max(0.0, seconds))


class RecordingDriver:
    """Any `Driver`, its calls counted per method, and each new VM remembered for its Node."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self.calls: collections.Counter[str] = collections.Counter()
        self.created: collections.deque[CreateMachineResponse] = collections.deque()
        self._known: set[str] = set()

    def create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        self.calls["create_machine"] += 1
        response = self._driver.create_machine(request)
        if response.provider_id not in self._known:
            self._known.add(response.provider_id)
            self.created.append(response)
        return response

    def initialize_machine(self, request: InitializeMachineRequest) -> InitializeMachineResponse:
        self.calls["initialize_machine"] += 1
        return self._driver.initialize_machine(request)

    def delete_machine(self, request: DeleteMachineRequest) -> DeleteMachineResponse:
        self.calls["delete_machine"] += 1
        return self._driver.delete_machine(request)

    def get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
        self.calls["get_machine_status"] += 1
        return self._driver.get_machine_status(request)

    def list_machines(self, request: ListMachinesRequest) -> ListMachinesResponse:
        self.calls["list_machines"] += 1
        return self._driver.list_machines(request)

    def get_volume_ids(self, request: GetVolumeIDsRequest) -> GetVolumeIDsResponse:
        self.calls["get_volume_ids"] += 1
        return self._driver.get_volume_ids(request)

    def generate_machine_class_for_migration(
        self, request: GenerateMachineClassForMigrationRequest
    ) -> GenerateMachineClassForMigrationResponse:
        self.calls["generate_machine_class_for_migration"] += 1
        return self._driver.generate_machine_class_for_migration(request)


def new_machine(index: int) -> dict[str, Any]:
    """A Machine as a MachineSet creates it: no provider ID, node, finalizer or status yet."""
    body = objects.machine(index)
    meta = body["metadata"]
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key)
    meta.pop("finalizers")
    meta.pop("annotations")
    meta["labels"].pop("node")
    body["spec"].pop("providerID")
    body["spec"]["class"]["name"] = CLASS_NAME
    body.pop("status")
    return body


def joined_node(index: int, name: str, provider_id: str, now: str) -> dict[str, Any]:
    """The Node a kubelet registers for a VM: Ready, heartbeat *now*, nothing MCM adds."""
    body = objects.node(index)
    meta = body["metadata"]
    for key in ("resourceVersion", "uid", "creationTimestamp", "finalizers", "managedFields"):
        meta.pop(key)
    meta["name"] = name
    meta["labels"]["kubernetes.io/hostname"] = name
    meta["labels"].pop("node.gardener.cloud/machine-name")
    body["spec"]["providerID"] = provider_id
    for condition in body["status"]["conditions"]:
        condition["lastHeartbeatTime"] = now
        condition["lastTransitionTime"] = now
    return body


# --- the controller's side: informers and queues without threads ----------------------------------


class SyncInformer(Generic[T]):
    """One watched resource: watch events applied to an Indexer and handed to a handler, on demand.

    What `mcm.cache.SharedIndexInformer` does, minus the threads: `pump` delivers every event the
    server has sent so far, in order.
    """

    def __init__(
        self,
        api: FakeApiServer,
        resource: Resource,
        transform: Callable[[Mapping[str, Any]], T],
        *,
        namespace: str | None,
    ) -> None:
        self._stream = api.watch(resource, namespace=namespace if resource.namespaced else None)
        self._events = iter(self._stream)
        self._transform = transform
        self.indexer: Indexer[T] = Indexer()
        self.lister = Lister(self.indexer)
        self.handler: FuncHandler[T] | None = None

    def pump(self) -> int:
        """Apply and deliver every pending event; returns how many there were."""
        count = 0
        while self._stream.pending:
            event = next(self._events)
            count += 1
            obj = self._transform(event.object)
            key = obj.metadata.key
            old = self.indexer.get_by_key(key)
            if event.type is EventType.DELETED:
                self.indexer.delete_by_key(key)
                if self.handler is not None:
                    self.handler.on_delete(obj)
                continue
            self.indexer.update(obj)
            if self.handler is None:
                continue
            if old is None:
                self.handler.on_add(obj)
            elif old.metadata.resource_version != obj.metadata.resource_version:
                self.handler.on_update(old, obj)
        return count

    def close(self) -> None:
        self._stream.close()


class DelayingQueues:
    """One delaying queue per controller, on the fake clock; see the module docstring."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._due: dict[tuple[str, ObjectKey], float] = {}
        self._heap: list[tuple[float, int, str, ObjectKey]] = []
        self._order = itertools.count()
        self._limiters: dict[str, ItemExponentialFailureRateLimiter[ObjectKey]] = {}

    def enqueue(self, queue: str) -> Enqueue:
        def add(key: ObjectKey, delay: float) -> None:
            self.add_after(queue, key, delay)

        return add

    def add_after(self, queue: str, key: ObjectKey, delay: float) -> None:
        due = self._clock.monotonic() + max(0.0, delay)
        current = self._due.get((queue, key))
        if current is not None and current <= due:
            return  # an earlier request wins
        self._due[(queue, key)] = due
        heapq.heappush(self._heap, (due, next(self._order), queue, key))

    def retry(self, queue: str, key: ObjectKey) -> None:
        """A failed reconcile: back off per key (5 ms doubling, as client-go's default)."""
        limiter = self._limiters.setdefault(
            queue, ItemExponentialFailureRateLimiter(base_delay=0.005, max_delay=1000.0)
        )
        self.add_after(queue, key, limiter.when(key))

    def forget(self, queue: str, key: ObjectKey) -> None:
        limiter = self._limiters.get(queue)
        if limiter is not None:
            limiter.forget(key)

    def pop_due(self) -> list[tuple[str, ObjectKey]]:
        """Every key due now, oldest deadline first."""
        now = self._clock.monotonic()
        due: list[tuple[str, ObjectKey]] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, queue, key = heapq.heappop(self._heap)
            if self._due.get((queue, key)) == when:
                del self._due[(queue, key)]
                due.append((queue, key))
        return due

    def next_due(self) -> float | None:
        while (
            self._heap and self._due.get((self._heap[0][2], self._heap[0][3])) != self._heap[0][0]
        ):
            heapq.heappop(self._heap)  # superseded by an earlier request
        return self._heap[0][0] if self._heap else None


# --- counting -------------------------------------------------------------------------------------


@attrs.define
class PhaseCounts:
    """What the controller did during one phase."""

    api: collections.Counter[tuple[str, str, str, str]] = attrs.field(factory=collections.Counter)
    """(cluster, verb, resource, subresource) -> requests."""
    driver: collections.Counter[str] = attrs.field(factory=collections.Counter)
    external: collections.Counter[str] = attrs.field(factory=collections.Counter)
    """Calls the driver made to its cloud, by action, when the run can count them."""
    reconciles: collections.Counter[str] = attrs.field(factory=collections.Counter)
    failures: int = 0
    events: int = 0
    seconds: float = 0.0

    @property
    def writes(self) -> int:
        return sum(count for (_, verb, _, _), count in self.api.items() if verb not in _READS)

    @property
    def reads(self) -> int:
        return sum(count for (_, verb, _, _), count in self.api.items() if verb in _READS)


_READS = frozenset({"get", "list", "watch"})


@attrs.frozen(kw_only=True)
class Lifecycle:
    """The counts of every phase of one run with *machines* machines."""

    machines: int
    phases: Mapping[str, PhaseCounts]


# --- the simulation -------------------------------------------------------------------------------


class Simulation:
    """The controller and its world for one run; see the module docstring."""

    def __init__(
        self,
        *,
        join_delay: float,
        clock: FakeClock | None = None,
        driver: Driver | None = None,  # None: a FakeDriver
        external_calls: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._external_calls = external_calls
        self.clock = clock if clock is not None else SteppingClock()
        self.fake_driver = FakeDriver(clock=self.clock)
        self.driver = RecordingDriver(driver if driver is not None else self.fake_driver)
        self.env = ControllerEnv(
            namespace=objects.NAMESPACE, clock=self.clock, driver=self.fake_driver
        )
        self.control = self.env.control
        target = self.env.target
        if target is None:
            raise AssertionError("ControllerEnv without a target cluster")
        self.target = target
        self._join_delay = join_delay
        self._joins: list[tuple[float, int, CreateMachineResponse]] = []
        self._node_numbers = itertools.count()
        self.queues = DelayingQueues(self.clock)
        namespace = objects.NAMESPACE
        self.machines = SyncInformer(self.control, MACHINES, Machine.from_dict, namespace=namespace)
        self.classes = SyncInformer(
            self.control, MACHINE_CLASSES, MachineClass.from_dict, namespace=namespace
        )
        self.secrets = SyncInformer(self.control, SECRETS, Secret.from_dict, namespace=namespace)
        self.nodes = SyncInformer(self.target, NODES, Node.from_dict, namespace=None)
        pods = SyncInformer(self.target, PODS, Pod.from_dict, namespace=None)
        claims = SyncInformer(
            self.target, PERSISTENT_VOLUME_CLAIMS, PersistentVolumeClaim.from_dict, namespace=None
        )
        volumes = SyncInformer(
            self.target, PERSISTENT_VOLUMES, PersistentVolume.from_dict, namespace=None
        )
        attachments = SyncInformer(
            self.target, VOLUME_ATTACHMENTS, VolumeAttachment.from_dict, namespace=None
        )
        budgets = SyncInformer(
            self.target, POD_DISRUPTION_BUDGETS, PodDisruptionBudget.from_dict, namespace=None
        )
        self._informers: tuple[SyncInformer[Any], ...] = (
            self.machines,
            self.classes,
            self.secrets,
            self.nodes,
            pods,
            claims,
            volumes,
            attachments,
            budgets,
        )
        self.ctx: MachineControllerContext = attrs.evolve(
            self.env.context,
            driver=self.driver,
            machines=self.machines.lister,
            machine_classes=self.classes.lister,
            secrets=self.secrets.lister,
            nodes=self.nodes.lister,
            pods=pods.lister,
            persistent_volume_claims=claims.lister,
            persistent_volumes=volumes.lister,
            volume_attachments=attachments.lister,
            pod_disruption_budgets=budgets.lister,
            enqueue_machine=self.queues.enqueue("machine"),
            enqueue_termination=self.queues.enqueue("termination"),
            enqueue_machine_class=self.queues.enqueue("machineclass"),
            enqueue_secret=self.queues.enqueue("secret"),
            enqueue_node=self.queues.enqueue("node"),
            enqueue_orphan_check=lambda: self.queues.add_after("orphans", SAFETY_KEY, 0.0),
        )
        self.machines.handler = machine_event_handler(self.ctx)
        self.classes.handler = machine_class_event_handler(self.ctx)
        self.secrets.handler = secret_event_handler(self.ctx)
        self.nodes.handler = node_event_handler(self.ctx)
        metrics = MachineMetrics(CollectorRegistry())
        self.reconcilers: dict[str, Reconciler] = {
            "machine": MachineReconciler(self.ctx, metrics=metrics),
            "termination": TerminationReconciler(self.ctx, metrics=metrics),
            "machineclass": MachineClassReconciler(self.ctx),
            "secret": SecretReconciler(self.ctx),
            "node": NodeReconciler(self.ctx),
            "orphans": OrphanVMCollector(self.ctx),
        }
        self.queues.add_after("orphans", SAFETY_KEY, 0.0)  # the app starts the pass at once
        self._take_actions()  # opening the watches: the informers' list + watch, per process
        self.counts = PhaseCounts()

    # --- running phases -------------------------------------------------------------------------

    def phase(
        self, setup: Callable[[], None], done: Callable[[], bool], *, budget: int
    ) -> PhaseCounts:
        """Run *setup* (the world's doing), then the controller until *done*; count its calls."""
        self.counts = counts = PhaseCounts()
        driver_calls = collections.Counter(self.driver.calls)
        external = collections.Counter(self._external())
        events = len(self.env.recorder.events)
        self._world(setup)
        self._controller(self._pump)
        for _ in range(budget):
            if done():
                break
            batch = self.queues.pop_due()
            if not batch:
                self._advance()
                continue
            for queue, key in batch:
                self._controller(functools.partial(self._reconcile, queue, key))
                self._controller(self._pump)
                self._world(self._register_nodes)
                self._controller(self._pump)
        else:
            raise AssertionError(f"phase not done after {budget} steps")
        counts.driver = self.driver.calls - driver_calls
        counts.external = collections.Counter(self._external()) - external
        counts.events = len(self.env.recorder.events) - events
        return counts

    def quiet(self, within: float) -> bool:
        """Nothing is due within *within* seconds: only periodic checks remain scheduled."""
        due = self.queues.next_due()
        return due is None or due - self.clock.monotonic() >= within

    def _external(self) -> Mapping[str, int]:
        return self._external_calls() if self._external_calls is not None else {}

    def _advance(self) -> None:
        """Nothing is due: jump the clock to the next deadline (a queue's or a Node's join)."""
        deadlines = [d for d in (self.queues.next_due(), self._next_join()) if d is not None]
        if not deadlines:
            raise AssertionError("nothing left to do, and the phase is not done")
        self.clock.step(max(0.0, min(deadlines) - self.clock.monotonic()))
        self._world(self._register_nodes)
        self._controller(self._pump)

    def _reconcile(self, queue: str, key: ObjectKey) -> None:
        self.counts.reconciles[queue] += 1
        try:
            result = self.reconcilers[queue].reconcile(key)
        except Exception:  # noqa: BLE001 -- the runtime retries any failure with back-off
            self.counts.failures += 1
            self.queues.retry(queue, key)
            return
        self.queues.forget(queue, key)
        if result.requeue_after is not None:
            self.queues.add_after(queue, key, result.requeue_after)

    def _pump(self) -> None:
        while sum(informer.pump() for informer in self._informers):
            pass

    # --- the world ------------------------------------------------------------------------------

    def _register_nodes(self) -> None:
        """VMs created since the last call join after the join delay; due ones join now."""
        now = self.clock.monotonic()
        while self.driver.created:
            vm = self.driver.created.popleft()
            heapq.heappush(self._joins, (now + self._join_delay, next(self._node_numbers), vm))
        timestamp = _timestamp(self.clock)
        while self._joins and self._joins[0][0] <= now:
            _, number, vm = heapq.heappop(self._joins)
            self.target.create(NODES, joined_node(number, vm.node_name, vm.provider_id, timestamp))

    def _next_join(self) -> float | None:
        return self._joins[0][0] if self._joins else None

    # --- attribution ----------------------------------------------------------------------------

    def _controller(self, step: Callable[[], None]) -> None:
        started = time.perf_counter()
        step()
        self.counts.seconds += time.perf_counter() - started
        for cluster, action in self._take_actions():
            self.counts.api[
                (cluster, str(action.verb), action.resource.plural, action.subresource)
            ] += 1

    def _world(self, step: Callable[[], None]) -> None:
        step()
        self._take_actions()

    def _take_actions(self) -> Iterator[tuple[str, Action]]:
        taken: list[tuple[str, Action]] = []
        for cluster, api in (("control", self.control), ("target", self.target)):
            taken.extend((cluster, action) for action in api.actions)
            api.clear_actions()
        return iter(taken)

    def close(self) -> None:
        for informer in self._informers:
            informer.close()


def _timestamp(clock: FakeClock) -> str:
    return utcnow(clock).strftime("%Y-%m-%dT%H:%M:%SZ")


def lifecycle(
    n: int,
    *,
    steady_hours: float = 1.0,
    join_delay: float = 60.0,
    driver: Driver | None = None,  # None: a FakeDriver
    clock: FakeClock | None = None,  # the driver's, if it has one
    machine_class: Mapping[str, Any] | None = None,  # None: `objects.machine_class`
    secret_data: Mapping[str, str] | None = None,  # base64 values; None: just userData
    external_calls: Callable[[], Mapping[str, int]] | None = None,  # counters of cloud calls
    vms_left: Callable[[], int] | None = None,  # None: the FakeDriver's VMs
) -> Lifecycle:
    """Run setup, create, steady and delete with *n* machines; the counts of each phase.

    The MachineClass must be named `CLASS_NAME` and refer to the Secret `SECRET_NAME`.
    """
    sim = Simulation(
        join_delay=join_delay, clock=clock, driver=driver, external_calls=external_calls
    )
    budget = MAX_STEPS_PER_MACHINE * n + 1000
    control = sim.control
    namespace = objects.NAMESPACE
    phases: dict[str, PhaseCounts] = {}
    try:

        def setup() -> None:
            data = dict(secret_data or {"userData": _base64(USER_DATA)})
            control.create(SECRETS, objects.secret(SECRET_NAME, data=data), namespace=namespace)
            body = machine_class or objects.machine_class(CLASS_NAME, secret_name=SECRET_NAME)
            control.create(MACHINE_CLASSES, body, namespace=namespace)

        def secret_ready() -> bool:  # the secret reconciler protects a class's secret
            secret = sim.secrets.lister.get(namespace, SECRET_NAME)
            return secret is not None and bool(secret.metadata.finalizers)

        phases["setup"] = sim.phase(setup, secret_ready, budget=budget)

        def create() -> None:
            for index in range(n):
                control.create(MACHINES, new_machine(index), namespace=namespace)

        def all_running() -> bool:
            machines = sim.machines.lister.list()
            return len(machines) == n and all(m.phase is MachinePhase.RUNNING for m in machines)

        def settled() -> bool:  # follow-up syncs (the Node's labels) belong to the creation
            return all_running() and sim.quiet(SETTLE)

        phases["create"] = sim.phase(create, settled, budget=budget)

        until = sim.clock.monotonic() + steady_hours * 3600

        def steady_over() -> bool:
            return sim.clock.monotonic() >= until

        phases["steady"] = sim.phase(lambda: None, steady_over, budget=budget)
        if not all_running():
            raise AssertionError("machines left Running during the steady phase")

        def delete() -> None:
            for index in range(n):
                control.delete(MACHINES, objects.machine_name(index), namespace=namespace)

        def all_gone() -> bool:
            return not sim.machines.lister.list() and not sim.nodes.lister.list()

        phases["delete"] = sim.phase(delete, all_gone, budget=budget)
        left = vms_left() if vms_left is not None else len(sim.fake_driver.vms)
        if left:
            raise AssertionError(f"{left} VMs left after deleting every machine")
    finally:
        sim.close()
    return Lifecycle(machines=n, phases=phases)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- the report -----------------------------------------------------------------------------------


def run(
    *, n: Sequence[int] = (1, 10, 100), steady_hours: float = 1.0, join_delay: float = 60.0
) -> Report:
    runs = [lifecycle(size, steady_hours=steady_hours, join_delay=join_delay) for size in n]
    per_machine: list[tuple[Cell, ...]] = []
    for result in runs:
        for phase in PHASES[1:]:
            counts = result.phases[phase]
            size = result.machines
            per_machine.append(
                (
                    size,
                    phase,
                    round(sum(counts.reconciles.values()) / size, 2),
                    round(counts.writes / size, 2),
                    round(counts.reads / size, 2),
                    round(sum(counts.driver.values()) / size, 2),
                    round(counts.events / size, 2),
                    counts.seconds / size * 1e3,
                )
            )
    largest = runs[-1]
    calls: list[tuple[Cell, ...]] = []
    driver: list[tuple[Cell, ...]] = []
    for phase in PHASES:
        counts = largest.phases[phase]
        for (cluster, verb, resource, subresource), count in sorted(counts.api.items()):
            calls.append(
                (
                    phase,
                    cluster,
                    verb,
                    resource,
                    subresource or "-",
                    count,
                    round(count / largest.machines, 2),
                )
            )
        for method, count in sorted(counts.driver.items()):
            driver.append((phase, method, count, round(count / largest.machines, 2)))
    ratios = {}
    smallest = runs[0]
    for phase in ("create", "delete"):
        first = smallest.phases[phase]
        last = largest.phases[phase]
        ratios[f"{phase}: API writes/machine at n={largest.machines} vs n={smallest.machines}"] = (
            round((last.writes / largest.machines) / (first.writes / smallest.machines), 2)
            if first.writes
            else 0.0
        )
    return Report(
        name=NAME,
        params={
            "n": ",".join(map(str, n)),
            "steady_hours": steady_hours,
            "join_delay": join_delay,
        },
        tables=(
            Table(title="per machine", columns=PER_MACHINE_COLUMNS, rows=tuple(per_machine)),
            Table(
                title=f"API calls by request (n={largest.machines})",
                columns=CALL_COLUMNS,
                rows=tuple(calls),
            ),
            Table(
                title=f"driver calls (n={largest.machines})",
                columns=DRIVER_COLUMNS,
                rows=tuple(driver),
            ),
        ),
        ratios=ratios,
        notes=(
            "listers read informer caches: only requests the reconcilers and handlers sent count",
            "per process, not counted: one list + one watch per resource (re-opened every"
            " 5-10 min), and the API-server safety probe (2 GETs a minute)",
            "events/machine: Kubernetes Events recorded; each is one more write (create or patch)",
            "steady: per machine over the whole steady phase (steady_hours of simulated time)",
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    report = run(n=args.n, steady_hours=args.steady_hours, join_delay=args.join_delay)
    emit(report, json_path=args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    result = parser(__doc__)
    result.add_argument(
        "--n", type=int_list, default=(1, 10, 100), help="machines per run (1,10,100)"
    )
    result.add_argument(
        "--steady-hours", type=float, default=1.0, help="simulated hours all Running (1)"
    )
    result.add_argument(
        "--join-delay", type=float, default=60.0, help="seconds from VM to Ready Node (60)"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())

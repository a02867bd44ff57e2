"""The machine controller as one blocking call: what a provider's ``main`` runs.

A provider package (``mcm_provider_aws``, a third party's) implements `mcm.driver.Driver` and hands
it, with the parsed flags, to `run_machine_controller` (upstream's ``app.Run`` in
``pkg/util/provider/app``). Everything else is here: the clients, the informers, the seven
controllers, the HTTP endpoint, leader election and an orderly shutdown. `MachineControllerApp`
is the same thing as an object, for callers that want to look inside while it runs (tests).

**Startup**, in this order:

1. The options are validated (`mcm.options.ControllerOptions.validate`); any problem is a
   `StartupError` listing them all.
2. Clients: the control cluster from ``--control-kubeconfig`` (empty: the target's), the target
   cluster from ``--target-kubeconfig`` (``none``: no target cluster, machines only), each
   throttled by ``--kube-api-qps``/``--kube-api-burst``, with user agent ``machine-controller``;
   leader election gets a client of its own (``machine-leader-election``), so that a busy
   controller never starves the lease renewals. Tests inject ready-made `mcm.kube.protocol.Api`
   objects instead; an injected control API also serves as the target and the election API.
3. The control cluster must serve Machines: a list of ``machines.machine.sapcloud.io`` in
   ``--namespace`` is retried for up to `STARTUP_TIMEOUT` seconds while the server is unreachable;
   a missing CRD (404) or a refusal fails the start at once (`StartupError`).
4. The HTTP server starts on ``--address:--port``: ``/metrics`` (the Prometheus registry, by
   default the process-wide one, with upstream's ``mcm_machine_*`` series), ``/healthz`` (``200``
   while the process runs, ``500`` once the controllers have begun shutting down) and ``/readyz``
   (also ``500`` until this replica leads and its informer caches have synced). With leader
   election, ``/healthz`` also fails (check ``leaderElection``) while this replica believes it
   leads but has not renewed its Lease for the lease duration plus
   `LEADER_ELECTION_HEALTH_TOLERANCE` (client-go's ``HealthzAdaptor``): a stuck leader gets
   restarted by its liveness probe instead of blocking every other replica.
5. With ``--leader-elect`` (the default) the replica campaigns for the Lease ``machine-controller``
   in ``--namespace`` (`mcm.leaderelection.LeaderElector`; identity: host name, ``_`` and a random
   UUID) and runs the controllers only while it leads. Without it, the controllers run at once.

**While leading.** One `mcm.cache.SharedInformerFactory` per cluster, resyncing every
``--min-resync-period``: Machines, MachineClasses and Secrets in ``--namespace`` of the control
cluster; Nodes, Pods, PersistentVolumeClaims, PersistentVolumes, VolumeAttachments and
PodDisruptionBudgets of the whole target cluster. Their listers and the queues below make the
`mcm.controller.context.MachineControllerContext` every reconciler shares. Once every cache has
synced, ``--concurrent-syncs`` workers start per queue, each queue named as upstream's (its
``workqueue_*`` metrics carry the name) and dropping a key after `DEFAULT_MAX_RETRIES` failures:

- ``machine``: `mcm.controller.machine.MachineReconciler` (creation, health, node sync);
- ``machinetermination``: `mcm.controller.termination.TerminationReconciler` (deletion, drain);
- ``machineclass``: `mcm.controller.machineclass.MachineClassReconciler`;
- ``secret``: `mcm.controller.secret.SecretReconciler`;
- ``node`` (target cluster only): `mcm.controller.node.NodeReconciler`;
- ``machinesafetyorphanvms``: `mcm.controller.safety.OrphanVMCollector`;
- ``machinesafetyapiserver`` (target cluster only):
  `mcm.controller.safety.APIServerSafetyReconciler`.

The informers' handlers are those of `mcm.controller.handlers`. Both safety queues start with their
single key (`mcm.controller.safety.SAFETY_KEY`); the orphan collector asks to be run again every
``--machine-safety-orphan-vms-period`` through its own ``requeue_after``, and deletes a VM once it
has been found orphaned for *orphan_vm_grace_period* seconds (5 minutes; not a flag). Kubernetes
Events about Machines and MachineClasses are written to the control cluster
(`mcm.events.EventRecorder`, as component ``machine-controller``). The scrape-time machine series
(`mcm.controller.metrics.MachineCollector`) are registered while leading.

**Shutdown.** Setting *stop* (or SIGTERM/SIGINT, see `install_signal_handlers`) marks the process
unhealthy, shuts the queues down (workers finish the keys already queued, for at most
*shutdown_timeout* seconds per controller), stops the informers and the event writer, releases the
Lease so that another replica takes over at once, stops the HTTP server and returns.

**Losing leadership** (the Lease could not be renewed within ``--leader-elect-renew-deadline``)
stops the controllers the same way, and then `run_machine_controller` raises
`LeadershipLostError`. Upstream exits the process (``klog.Fatalf``); a provider's ``main`` that
lets the exception escape exits non-zero, its pod restarts and campaigns again, which is the same
outcome without killing a process that embeds the controller.

Durations are float seconds.
"""

from __future__ import annotations

import functools
import logging
import signal
import socket
import threading
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from mcm.api.core import (
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    VolumeAttachment,
)
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey
from mcm.cache import SharedIndexInformer, SharedInformerFactory, wait_for_cache_sync
from mcm.clock import Clock, RealClock
from mcm.controller.context import Enqueue, MachineControllerContext
from mcm.controller.handlers import (
    machine_class_event_handler,
    machine_event_handler,
    node_event_handler,
    secret_event_handler,
)
from mcm.controller.machine import MachineReconciler
from mcm.controller.machineclass import MachineClassReconciler
from mcm.controller.metrics import MachineCollector, MachineMetrics, default_machine_metrics
from mcm.controller.node import MACHINE_NODE_INDEX, NodeReconciler, machine_node_index
from mcm.controller.runtime import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_SHUTDOWN_TIMEOUT,
    Controller,
    ControllerMetrics,
    Reconciler,
    default_controller_metrics,
)
from mcm.controller.safety import (
    ORPHAN_VM_GRACE_PERIOD,
    SAFETY_KEY,
    APIServerSafetyReconciler,
    OrphanVMCollector,
)
from mcm.controller.secret import SecretReconciler
from mcm.controller.termination import TerminationReconciler
from mcm.driver import Driver
from mcm.errors import ForbiddenError, MCMError, NotFoundError, UnauthorizedError
from mcm.events import EventRecorder
from mcm.kube.client import KubeClient, client_from_flag
from mcm.kube.protocol import Api
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
)
from mcm.leaderelection import LeaderElector
from mcm.options import MachineControllerOptions
from mcm.server import Server
from mcm.workqueue import (
    MetricsProvider,
    PrometheusMetricsProvider,
    RateLimitingQueue,
    default_controller_rate_limiter,
    default_metrics_provider,
)

__all__ = [
    "CONTROLLER_USER_AGENT",
    "EVENT_COMPONENT",
    "LEADER_ELECTION_HEALTH_CHECK",
    "LEADER_ELECTION_HEALTH_TOLERANCE",
    "LEADER_ELECTION_USER_AGENT",
    "QUEUE_MACHINE",
    "QUEUE_MACHINE_CLASS",
    "QUEUE_NODE",
    "QUEUE_SAFETY_API_SERVER",
    "QUEUE_SAFETY_ORPHAN_VMS",
    "QUEUE_SECRET",
    "QUEUE_TERMINATION",
    "STARTUP_TIMEOUT",
    "LeadershipLostError",
    "MachineControllerApp",
    "StartupError",
    "install_signal_handlers",
    "run_machine_controller",
]

logger = logging.getLogger(__name__)

CONTROLLER_USER_AGENT = "machine-controller"
"""The user agent of the controllers' requests (upstream's)."""
LEADER_ELECTION_USER_AGENT = "machine-leader-election"
"""The user agent of the lease requests (upstream's)."""
EVENT_COMPONENT = "machine-controller"
"""``source.component`` of the Events the controller writes."""
LEADER_ELECTION_HEALTH_CHECK = "leaderElection"
"""The name of the stuck-leader check in ``/healthz`` (client-go's ``HealthzAdaptor.Name``)."""
LEADER_ELECTION_HEALTH_TOLERANCE = 20.0
"""How long past its lease duration a leader may go without renewing before ``/healthz`` fails
(kube-controller-manager's ``leaderElectionHealthzAdaptorTimeout``)."""

QUEUE_MACHINE = "machine"
QUEUE_TERMINATION = "machinetermination"
QUEUE_MACHINE_CLASS = "machineclass"
QUEUE_SECRET = "secret"  # noqa: S105 -- a queue name, not a password
QUEUE_NODE = "node"
QUEUE_SAFETY_ORPHAN_VMS = "machinesafetyorphanvms"
QUEUE_SAFETY_API_SERVER = "machinesafetyapiserver"

STARTUP_TIMEOUT = 10.0
"""How long the control cluster may stay unreachable at startup (upstream polls ``/healthz`` every
second for ten seconds)."""
STARTUP_RETRY_INTERVAL = 1.0

INFORMER_STOP_TIMEOUT = 10.0
"""Real seconds to wait for the informers' threads after stop (their watches close promptly)."""
EVENT_WRITER_STOP_TIMEOUT = 10.0
"""Real seconds to wait for the event writer to write what is queued after stop."""

_STOP_RELAY_INTERVAL = 0.1  # how often the stop relay checks whether the app ended on its own


class StartupError(MCMError):
    """The controller cannot start: invalid options, or a control cluster without Machines."""


class LeadershipLostError(MCMError):
    """This replica lost the leader lease; the controllers were stopped. Exit and start over."""


# ------------------------------------------------------------------------------------ signals


def install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """Set *stop* on the first SIGTERM or SIGINT; a second one gets the default behaviour.

    Call from the main thread (Python delivers signals there only). Returns a function that puts
    the previous handlers back.
    """
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: types.FrameType | None) -> None:
        logger.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()
        # A second ^C (or SIGTERM) is not ignored while the shutdown takes its time.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for signum in previous:
        signal.signal(signum, handle)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


# ------------------------------------------------------------------------------------ metrics


class _MachineSeries(Collector):
    """One app's `MachineCollector` and its scrape-failure counter, as one registrable unit.

    `MachineCollector` registers its counter in the registry it is given, which can happen once
    per registry. Keeping that counter in a registry of its own lets an app register its series
    when it starts leading and unregister them when it stops, and lets several apps (replicas in
    one test process) share a registry.
    """

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._own = CollectorRegistry(auto_describe=False)
        self._machines = MachineCollector(ctx, registry=self._own)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # known at scrape time only, as MachineCollector's

    def collect(self) -> Iterator[Metric]:
        yield from self._machines.collect()
        yield from self._own.collect()


@attrs.frozen
class _Metrics:
    """Where the app records: the process-wide series, or those of a registry of its own."""

    controllers: ControllerMetrics
    machines: MachineMetrics
    queues: MetricsProvider

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None) -> _Metrics:
        if registry is None:
            return cls(
                default_controller_metrics(), default_machine_metrics(), default_metrics_provider()
            )
        return cls(
            ControllerMetrics(registry),
            MachineMetrics(registry),
            PrometheusMetricsProvider(registry),
        )


# ---------------------------------------------------------------------------------------- app


@attrs.frozen
class _Informers:
    """The informers of one leadership term; the target's are None without a target cluster."""

    factories: tuple[SharedInformerFactory, ...]
    machines: SharedIndexInformer[Machine]
    machine_classes: SharedIndexInformer[MachineClass]
    secrets: SharedIndexInformer[Secret]
    nodes: SharedIndexInformer[Node] | None = None
    pods: SharedIndexInformer[Pod] | None = None
    persistent_volume_claims: SharedIndexInformer[PersistentVolumeClaim] | None = None
    persistent_volumes: SharedIndexInformer[PersistentVolume] | None = None
    volume_attachments: SharedIndexInformer[VolumeAttachment] | None = None
    pod_disruption_budgets: SharedIndexInformer[PodDisruptionBudget] | None = None

    @property
    def all(self) -> list[SharedIndexInformer[Any]]:
        informers: list[SharedIndexInformer[Any] | None] = [
            self.machines,
            self.machine_classes,
            self.secrets,
            self.nodes,
            self.pods,
            self.persistent_volume_claims,
            self.persistent_volumes,
            self.volume_attachments,
            self.pod_disruption_budgets,
        ]
        return [informer for informer in informers if informer is not None]


class MachineControllerApp:
    """The machine controller of one provider; see the module docstring.

    Construction validates the options and builds the clients (`StartupError`,
    `mcm.kube.config.ConfigError`); `run` does the rest and blocks. An app runs once.
    """

    def __init__(
        self,
        driver: Driver,
        options: MachineControllerOptions,
        *,
        control_api: Api | None = None,  # tests: an Api for the control (and target) cluster
        target_api: Api | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,  # None: prometheus_client.REGISTRY
        identity: str | None = None,  # None: host name + "_" + a random UUID
        orphan_vm_grace_period: float = ORPHAN_VM_GRACE_PERIOD,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        problems = options.validate()
        if problems:
            raise StartupError("invalid options:\n  " + "\n  ".join(problems))
        self._driver = driver
        self._options = options
        self._clock: Clock = clock if clock is not None else RealClock()
        self._metrics = _Metrics.for_registry(registry)
        self._registry = registry if registry is not None else prometheus_client.REGISTRY
        self._orphan_vm_grace_period = orphan_vm_grace_period
        self._shutdown_timeout = shutdown_timeout
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        """This replica's name in the leader lease."""

        self._owned_clients: list[KubeClient] = []
        try:
            self._control, self._target, self._election_api = self._clients(control_api, target_api)
        except BaseException:
            self._close_clients()
            raise

        self._server = Server(address=options.address, port=options.port, registry=self._registry)
        self._shutting_down = threading.Event()
        self._synced = threading.Event()
        self._leading = threading.Event()
        self._server.add_health_check("machine-controller", self._healthy)
        self._server.add_readiness_check("informers-synced", self._synced.is_set)
        self._halt = threading.Event()  # stops everything: *stop*, or a failure of the app itself
        self._failure: BaseException | None = None
        self._context: MachineControllerContext | None = None
        self._started = False

    def _clients(
        self, control_api: Api | None, target_api: Api | None
    ) -> tuple[Api, Api | None, Api]:
        """(control, target, leader election) APIs: injected ones, or clients from the flags."""
        options = self._options
        if control_api is not None:
            target = (target_api or control_api) if options.has_target_cluster else None
            return control_api, target, control_api
        control = self._client(options.effective_control_kubeconfig, CONTROLLER_USER_AGENT)
        target = None
        if options.has_target_cluster:
            target = target_api or self._client(options.target_kubeconfig, CONTROLLER_USER_AGENT)
        election = control
        if options.leader_election.leader_elect:
            election = self._client(
                options.effective_control_kubeconfig, LEADER_ELECTION_USER_AGENT
            )
        return control, target, election

    def _close_clients(self) -> None:
        for client in self._owned_clients:
            client.close()

    def _client(self, flag: str, user_agent: str) -> KubeClient:
        client = client_from_flag(
            flag,
            qps=self._options.kube_api_qps,
            burst=self._options.kube_api_burst,
            user_agent=user_agent,
            clock=self._clock,
        )
        self._owned_clients.append(client)
        return client

    # --- what a caller may look at --------------------------------------------------------------

    @property
    def server(self) -> Server:
        """The HTTP server (``server.url`` once started; port 0 binds an ephemeral port)."""
        return self._server

    @property
    def leading(self) -> bool:
        """Whether this replica runs the controllers right now (always, without leader election,
        once started)."""
        return self._leading.is_set()

    @property
    def synced(self) -> bool:
        """Whether the informer caches of the current leadership term have synced."""
        return self._synced.is_set()

    @property
    def context(self) -> MachineControllerContext | None:
        """The reconcilers' shared context while leading (the latest one after), else None."""
        return self._context

    def _healthy(self) -> bool:
        return not self._shutting_down.is_set()

    # --- running --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run until *stop* is set; see the module docstring. Blocks.

        Raises `StartupError` when the control cluster is unusable, `LeadershipLostError` after
        losing the lease, and whatever made the controllers fail to start.
        """
        if self._started:
            raise RuntimeError("a MachineControllerApp runs once; build another")
        self._started = True
        threading.Thread(
            target=self._relay_stop, args=(stop,), name="machine-controller-stop", daemon=True
        ).start()
        lost = False
        try:
            self._check_control_cluster()
            if self._halt.is_set():
                return
            self._server.start()
            try:
                if self._options.leader_election.leader_elect:
                    lost = not self._run_elected()
                else:
                    self._lead(self._halt)
            finally:
                self._shutting_down.set()
                self._server.stop()
        finally:
            self._halt.set()
            self._close_clients()
        if self._failure is not None:
            raise self._failure
        if lost:
            raise LeadershipLostError(
                f"lost the leader lease {self._options.lease_namespace}/"
                f"{self._options.leader_election.resource_name} as {self.identity};"
                " controllers stopped"
            )
        logger.info("machine controller stopped")

    def _relay_stop(self, stop: threading.Event) -> None:
        """Pass *stop* on to ``_halt``; ends by itself once the app has ended."""
        while not self._halt.is_set():
            if stop.wait(_STOP_RELAY_INTERVAL):
                self._halt.set()

    def _check_control_cluster(self) -> None:
        """Upstream's startup checks: the control cluster answers, and serves Machines."""
        namespace = self._options.namespace
        deadline = self._clock.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                self._control.list(MACHINES, namespace=namespace, limit=1)
            except NotFoundError:
                raise StartupError(
                    f"the control cluster does not serve {MACHINES.api_version}"
                    f" {MACHINES.plural}; install the machine CRDs"
                ) from None
            except (ForbiddenError, UnauthorizedError) as exc:
                raise StartupError(
                    f"may not list {MACHINES.plural} in namespace {namespace!r} of the control"
                    f" cluster: {exc}"
                ) from None
            except MCMError as exc:
                if self._clock.monotonic() >= deadline:
                    raise StartupError(
                        f"the control cluster did not answer within {STARTUP_TIMEOUT:.0f}s: {exc}"
                    ) from None
                logger.info("waiting for the control cluster: %s", exc)
                if self._clock.wait(self._halt, STARTUP_RETRY_INTERVAL):
                    return
            else:
                return

    def _run_elected(self) -> bool:
        """Campaign, lead while elected; False if leadership was lost rather than given up."""
        election = self._options.leader_election
        elector = LeaderElector(
            self._election_api,
            namespace=self._options.lease_namespace,
            name=election.resource_name,
            identity=self.identity,
            lease_duration=election.lease_duration,
            renew_deadline=election.renew_deadline,
            retry_period=election.retry_period,
            clock=self._clock,
            on_started_leading=self._lead,
            on_stopped_leading=lambda: logger.info("stopped leading as %s", self.identity),
            on_new_leader=self._report_leader,
        )
        self._server.add_health_check(
            LEADER_ELECTION_HEALTH_CHECK,
            functools.partial(elector.check, LEADER_ELECTION_HEALTH_TOLERANCE),
        )
        try:
            elector.run(self._halt)
        finally:
            self._server.remove_check(LEADER_ELECTION_HEALTH_CHECK)
        return self._halt.is_set()

    def _report_leader(self, identity: str) -> None:
        if identity != self.identity:
            logger.info("the machine controller leader is %s; waiting", identity)

    def _lead(self, lost: threading.Event) -> None:
        """Run the controllers until *lost* is set, then shut them down (one leadership term)."""
        logger.info(
            "starting the machine controller as %s (namespace %s, %s)",
            self.identity,
            self._options.namespace,
            "with a target cluster" if self._target is not None else "without a target cluster",
        )
        try:
            informers = self._informers()
            ctx, queues = self._wire(informers)
            controllers = self._controllers(ctx, informers, queues)
        except Exception as exc:
            logger.exception("the machine controller failed to start")
            self._failure = exc
            self._halt.set()
            return
        self._context = ctx
        self._leading.set()
        recorder = ctx.recorder
        assert isinstance(recorder, EventRecorder)  # noqa: S101 -- built by _wire
        writer = threading.Thread(
            target=recorder.run, args=(lost,), name="event-recorder", daemon=True
        )
        writer.start()
        for factory in informers.factories:
            factory.start(lost)
        series = _MachineSeries(ctx)
        threads: list[threading.Thread] = []
        try:
            if not wait_for_cache_sync(lost, *(i.has_synced for i in informers.all)):
                logger.info("stopped before the informer caches synced")
                return
            self._synced.set()
            logger.info("informer caches synced; starting %d controllers", len(controllers))
            self._registry.register(series)
            queues[QUEUE_SAFETY_ORPHAN_VMS].add(SAFETY_KEY)
            if QUEUE_SAFETY_API_SERVER in queues:
                queues[QUEUE_SAFETY_API_SERVER].add(SAFETY_KEY)
            for controller in controllers:
                thread = threading.Thread(
                    target=controller.run,
                    args=(lost,),
                    name=f"controller {controller.name}",
                    daemon=True,
                )
                thread.start()
                threads.append(thread)
            lost.wait()
        finally:
            self._shutting_down.set()
            logger.info("shutting the machine controller down")
            for queue in queues.values():
                queue.shut_down()  # queues whose controller never started too
            for thread in threads:
                thread.join()
            for factory in informers.factories:
                if not factory.join(INFORMER_STOP_TIMEOUT):
                    logger.warning(
                        "some informers did not stop within %.0fs", INFORMER_STOP_TIMEOUT
                    )
            writer.join(EVENT_WRITER_STOP_TIMEOUT)
            if self._synced.is_set():
                self._registry.unregister(series)
            self._synced.clear()
            self._leading.clear()

    # --- wiring ---------------------------------------------------------------------------------

    def _informers(self) -> _Informers:
        options = self._options
        control = SharedInformerFactory(
            self._control,
            namespace=options.namespace,
            resync_period=options.min_resync_period,
            clock=self._clock,
        )
        machines = control.informer_for(MACHINES, Machine.from_dict)
        machines.add_indexers({MACHINE_NODE_INDEX: machine_node_index})
        machine_classes = control.informer_for(MACHINE_CLASSES, MachineClass.from_dict)
        secrets = control.informer_for(SECRETS, Secret.from_dict)
        if self._target is None:
            return _Informers((control,), machines, machine_classes, secrets)
        target = SharedInformerFactory(
            self._target, resync_period=options.min_resync_period, clock=self._clock
        )
        return _Informers(
            (control, target),
            machines,
            machine_classes,
            secrets,
            nodes=target.informer_for(NODES, Node.from_dict),
            pods=target.informer_for(PODS, Pod.from_dict),
            persistent_volume_claims=target.informer_for(
                PERSISTENT_VOLUME_CLAIMS, PersistentVolumeClaim.from_dict
            ),
            persistent_volumes=target.informer_for(PERSISTENT_VOLUMES, PersistentVolume.from_dict),
            volume_attachments=target.informer_for(VOLUME_ATTACHMENTS, VolumeAttachment.from_dict),
            pod_disruption_budgets=target.informer_for(
                POD_DISRUPTION_BUDGETS, PodDisruptionBudget.from_dict
            ),
        )

    def _wire(
        self, informers: _Informers
    ) -> tuple[MachineControllerContext, dict[str, RateLimitingQueue[ObjectKey]]]:
        """The queues, and the context whose listers and enqueue functions reach them."""
        names = [
            QUEUE_MACHINE,
            QUEUE_TERMINATION,
            QUEUE_MACHINE_CLASS,
            QUEUE_SECRET,
            QUEUE_SAFETY_ORPHAN_VMS,
        ]
        if self._target is not None:
            names += [QUEUE_NODE, QUEUE_SAFETY_API_SERVER]
        queues: dict[str, RateLimitingQueue[ObjectKey]] = {
            name: RateLimitingQueue(
                default_controller_rate_limiter(self._clock),
                name=name,
                clock=self._clock,
                metrics_provider=self._metrics.queues,
            )
            for name in names
        }
        orphans = queues[QUEUE_SAFETY_ORPHAN_VMS]

        def lister(informer: SharedIndexInformer[Any] | None) -> Any:
            return informer.lister if informer is not None else None

        ctx = MachineControllerContext(
            control=self._control,
            target=self._target,
            namespace=self._options.namespace,
            driver=self._driver,
            options=self._options,
            clock=self._clock,
            recorder=EventRecorder(
                self._control,
                component=EVENT_COMPONENT,
                host=socket.gethostname(),
                clock=self._clock,
            ),
            machines=informers.machines.lister,
            machines_on_node=functools.partial(
                informers.machines.lister.by_index, MACHINE_NODE_INDEX
            ),
            machine_classes=informers.machine_classes.lister,
            secrets=informers.secrets.lister,
            nodes=lister(informers.nodes),
            pods=lister(informers.pods),
            persistent_volume_claims=lister(informers.persistent_volume_claims),
            persistent_volumes=lister(informers.persistent_volumes),
            volume_attachments=lister(informers.volume_attachments),
            pod_disruption_budgets=lister(informers.pod_disruption_budgets),
            enqueue_machine=_enqueue(queues[QUEUE_MACHINE]),
            enqueue_termination=_enqueue(queues[QUEUE_TERMINATION]),
            enqueue_machine_class=_enqueue(queues[QUEUE_MACHINE_CLASS]),
            enqueue_secret=_enqueue(queues[QUEUE_SECRET]),
            enqueue_node=_enqueue(queues[QUEUE_NODE]) if QUEUE_NODE in queues else _drop,
            enqueue_orphan_check=lambda: orphans.add(SAFETY_KEY),
        )
        informers.machines.add_event_handler(machine_event_handler(ctx))
        informers.machine_classes.add_event_handler(machine_class_event_handler(ctx))
        informers.secrets.add_event_handler(secret_event_handler(ctx))
        if informers.nodes is not None:
            informers.nodes.add_event_handler(node_event_handler(ctx))
        return ctx, queues

    def _controllers(
        self,
        ctx: MachineControllerContext,
        informers: _Informers,
        queues: dict[str, RateLimitingQueue[ObjectKey]],
    ) -> list[Controller]:
        reconcilers: dict[str, Reconciler] = {
            QUEUE_SECRET: SecretReconciler(ctx),
            QUEUE_MACHINE_CLASS: MachineClassReconciler(ctx),
            QUEUE_MACHINE: MachineReconciler(ctx, metrics=self._metrics.machines),
            QUEUE_TERMINATION: TerminationReconciler(ctx, metrics=self._metrics.machines),
            QUEUE_SAFETY_ORPHAN_VMS: OrphanVMCollector(
                ctx,
                machines_synced=informers.machines.has_synced,
                grace_period=self._orphan_vm_grace_period,
            ),
        }
        if self._target is not None:
            reconcilers[QUEUE_NODE] = NodeReconciler(ctx)
            reconcilers[QUEUE_SAFETY_API_SERVER] = APIServerSafetyReconciler(ctx)
        return [
            Controller(
                name,
                reconciler,
                queue=queues[name],
                workers=self._options.concurrent_syncs,
                max_retries=DEFAULT_MAX_RETRIES,
                clock=self._clock,
                metrics=self._metrics.controllers,
                shutdown_timeout=self._shutdown_timeout,
            )
            for name, reconciler in reconcilers.items()
        ]


def _enqueue(queue: RateLimitingQueue[ObjectKey]) -> Enqueue:
    def enqueue(key: ObjectKey, delay: float) -> None:
        if delay > 0:
            queue.add_after(key, delay)
        else:
            queue.add(key)

    return enqueue


def _drop(_key: ObjectKey, _delay: float) -> None:
    return None


def run_machine_controller(
    driver: Driver,
    options: MachineControllerOptions,
    *,
    stop: threading.Event | None = None,
    control_api: Api | None = None,
    target_api: Api | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    identity: str | None = None,
    orphan_vm_grace_period: float = ORPHAN_VM_GRACE_PERIOD,
) -> None:
    """Run the machine controller for *driver* until *stop* is set; see the module docstring.

    Without *stop*, the call runs until SIGTERM or SIGINT when called from the main thread (it
    installs `install_signal_handlers` and restores the previous handlers when it returns), and
    forever otherwise. A caller that passes *stop* handles signals itself.

    Raises `StartupError`, `mcm.kube.config.ConfigError` (unusable kubeconfig) or
    `LeadershipLostError`; returns after an orderly shutdown.
    """
    app = MachineControllerApp(
        driver,
        options,
        control_api=control_api,
        target_api=target_api,
        clock=clock,
        registry=registry,
        identity=identity,
        orphan_vm_grace_period=orphan_vm_grace_period,
    )
    restore: Callable[[], None] | None = None
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            restore = install_signal_handlers(stop)
    try:
        app.run(stop)
    finally:
        if restore is not None:
            restore()

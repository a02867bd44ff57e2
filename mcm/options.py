"""Settings of the two binaries, one frozen object each, with upstream's names and defaults.

`MachineControllerOptions` holds every flag of a provider's ``machine-controller`` (upstream
``pkg/util/provider/app/options``) and `MachineControllerManagerOptions` every flag of the
``machine-controller-manager`` (``cmd/machine-controller-manager/app/options``). Each field is the
flag's name in snake case (``--machine-creation-timeout`` is ``machine_creation_timeout``) and
defaults to upstream's default, so ``MachineControllerOptions()`` is the binary run without flags.
The flags that both binaries share live in `ControllerOptions`; the leader election and logging
flags are grouped in `LeaderElectionOptions` and `LoggingOptions`.

Durations are float seconds (the command line takes Go's notation, see `mcm.cli`). Lists that
upstream passes as comma-separated strings are parsed once into tuples.

Construction validates nothing, so tests can ask for port 0 and other values upstream refuses;
`ControllerOptions.validate` applies upstream's checks (``Validate()``) and returns every problem at
once, as upstream aggregates them.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

import attrs

TARGET_KUBECONFIG_DISABLED = "none"
"""``--target-kubeconfig`` value meaning "no target cluster": machines only, no nodes."""

DEFAULT_NODE_CONDITIONS: tuple[str, ...] = (
    "KernelDeadlock",
    "ReadonlyFilesystem",
    "DiskPressure",
    "NetworkUnavailable",
)
"""Node conditions that make a machine unhealthy when True (``--node-conditions``)."""

MACHINE_CONTROLLER_LOCK_NAME = "machine-controller"
"""The Lease a provider's machine controllers elect their leader on."""

MACHINE_CONTROLLER_MANAGER_LOCK_NAME = "machine-controller-manager"
"""The Lease the machine-controller-manager replicas elect their leader on."""

_MINUTE = 60.0
_HOUR = 60 * _MINUTE


def _tuple_of_str(value: str | Sequence[str]) -> tuple[str, ...]:
    """A comma-separated string or a sequence, as a tuple without blanks."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item.strip())


@attrs.frozen(kw_only=True)
class LeaderElectionOptions:
    """The ``--leader-elect*`` flags (upstream ``leaderelectionconfig.BindFlags``)."""

    leader_elect: bool = True
    """``--leader-elect``: run only while holding the leader lease; enable for several
    replicas."""
    lease_duration: float = 15.0
    """``--leader-elect-lease-duration``: how long followers wait, after last seeing the lease
    renewed, before they may take it over."""
    renew_deadline: float = 10.0
    """``--leader-elect-renew-deadline``: how long the leader keeps trying to renew before it
    stops leading. Must be shorter than the lease duration."""
    retry_period: float = 2.0
    """``--leader-elect-retry-period``: the pause between attempts to acquire or renew."""
    resource_lock: str = "leases"
    """``--leader-elect-resource-lock``: the lock's kind; only ``leases`` is supported, as in
    client-go since v0.28."""
    resource_name: str = MACHINE_CONTROLLER_LOCK_NAME
    """The Lease's name. Not a flag upstream: fixed per binary."""
    resource_namespace: str = ""
    """The Lease's namespace; ``""`` means the binary's ``--namespace``, as upstream. Not a flag."""

    def problems(self) -> list[str]:
        """What client-go would refuse about these settings (only when electing)."""
        if not self.leader_elect:
            return []
        problems = []
        if self.resource_lock != "leases":
            problems.append(
                f"leader election resource lock {self.resource_lock!r} is not supported;"
                " use 'leases'"
            )
        if self.lease_duration <= self.renew_deadline:
            problems.append(
                "leader election lease duration must be greater than the renew deadline"
            )
        if self.renew_deadline <= 1.2 * self.retry_period:
            problems.append(
                "leader election renew deadline must be greater than 1.2 times the retry period"
            )
        if self.retry_period <= 0:
            problems.append("leader election retry period must be greater than zero")
        return problems


@attrs.frozen(kw_only=True)
class LoggingOptions:
    """The logging flags of ``k8s.io/component-base/logs`` (``--v``, ``--vmodule``,
    ``--log-flush-frequency``)."""

    verbosity: int = 0
    """``--v`` / ``-v``: klog verbosity. 0 logs INFO and above; 1-3 add the levels just below
    INFO; 4 adds DEBUG; higher numbers go below DEBUG (`level`)."""
    vmodule: tuple[tuple[str, int], ...] = ()
    """``--vmodule``: ``pattern=N`` pairs. Here a pattern is a logger name (``mcm.cache``), and N
    a verbosity for that logger and its children."""
    log_flush_frequency: float = 5.0
    """``--log-flush-frequency``: accepted for compatibility; Python's handlers flush every
    record."""

    @property
    def level(self) -> int:
        """The `logging` level for `verbosity`."""
        return verbosity_level(self.verbosity)


def verbosity_level(verbosity: int) -> int:
    """The `logging` level that shows what klog shows at ``-v=verbosity``.

    0 is INFO; 1-3 are the levels just below INFO (19, 18, 17), for ``V(1)``-``V(3)`` chatter
    logged with ``logger.log``; 4 is DEBUG; each step above 4 goes one level further down, never
    reaching NOTSET (which would mean "inherit").
    """
    if verbosity <= 0:
        return logging.INFO
    if verbosity < 4:
        return logging.INFO - verbosity
    return max(1, logging.DEBUG - (verbosity - 4))


@attrs.frozen(kw_only=True)
class ControllerOptions:
    """The flags both binaries have. The subclasses give `port`, `concurrent_syncs` and
    `leader_election` their own defaults."""

    port: int
    """``--port``: the HTTP server's port (metrics, health)."""
    concurrent_syncs: int
    """``--concurrent-syncs``: workers per queue."""
    leader_election: LeaderElectionOptions
    """The ``--leader-elect*`` flags."""
    address: str = "0.0.0.0"  # noqa: S104 - upstream's default: serve metrics on all interfaces
    """``--address``: the IP the HTTP server (metrics, health) binds."""
    cloud_provider: str = ""
    """``--cloud-provider``: unused, kept for compatibility."""
    min_resync_period: float = 12 * _HOUR
    """``--min-resync-period``: the informers' resync period."""
    profiling: bool = False
    """``--profiling``: upstream serves ``/debug/pprof``; accepted, nothing is served here."""
    contention_profiling: bool = False
    """``--contention-profiling``: upstream's lock contention profiling; needs ``--profiling``."""
    target_kubeconfig: str = ""
    """``--target-kubeconfig``: the cluster the machines join as nodes. ``""`` means in-cluster
    config (falling back to ``$KUBECONFIG``); ``none`` means no target cluster at all."""
    control_kubeconfig: str = ""
    """``--control-kubeconfig``: the cluster holding the Machine objects. ``""`` means the same as
    the target; ``inClusterConfig`` means the pod's service account. Required when the target is
    ``none``."""
    namespace: str = "default"
    """``--namespace``: the control-cluster namespace watched for machine objects, classes and
    secrets, and where the leader lease lives."""
    kube_api_content_type: str = "application/vnd.kubernetes.protobuf"
    """``--kube-api-content-type``: validated but not applied (upstream too); JSON is used."""
    kube_api_qps: float = 20.0
    """``--kube-api-qps``: requests per second to each API server (control and target)."""
    kube_api_burst: int = 30
    """``--kube-api-burst``: the burst above that rate."""
    controller_start_interval: float = 0.0
    """``--controller-start-interval``: unused, kept for compatibility."""
    logging: LoggingOptions = attrs.field(factory=LoggingOptions)
    """``--v``, ``--vmodule``, ``--log-flush-frequency``."""

    @property
    def has_target_cluster(self) -> bool:
        """False for ``--target-kubeconfig=none``: machines are managed without their nodes."""
        return self.target_kubeconfig != TARGET_KUBECONFIG_DISABLED

    @property
    def lease_namespace(self) -> str:
        """Where the leader lease lives: its own namespace if set, else `namespace`."""
        return self.leader_election.resource_namespace or self.namespace

    @property
    def effective_control_kubeconfig(self) -> str:
        """The control kubeconfig, ``""`` resolved to the target's, as upstream does."""
        return self.control_kubeconfig or self.target_kubeconfig

    def validate(self) -> list[str]:
        """Every problem upstream's ``Validate()`` reports, in its order; empty when all is well."""
        problems = []
        if not 1 <= self.port <= 65535:
            problems.append(f"invalid port number provided: got {self.port}")
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            problems.append(f"invalid IP address provided: got {self.address!r}")
        if self.concurrent_syncs <= 0:
            problems.append(
                f"concurrent syncs should be greater than zero: got {self.concurrent_syncs}"
            )
        _non_negative(problems, "min resync period", self.min_resync_period)
        if self.contention_profiling and not self.profiling:
            problems.append("contention-profiling cannot be enabled without enabling profiling")
        if not _is_media_type(self.kube_api_content_type):
            problems.append(
                f"kube api content type cannot be parsed: {self.kube_api_content_type!r}"
            )
        if self.kube_api_qps <= 0:
            problems.append(f"kube api qps should be greater than zero: got {self.kube_api_qps}")
        if self.kube_api_burst < 0:
            problems.append(
                f"kube api burst should not be a negative value: got {self.kube_api_burst}"
            )
        _non_negative(problems, "controller start interval", self.controller_start_interval)
        problems.extend(self._own_problems())
        if not self.control_kubeconfig and not self.has_target_cluster:
            problems.append(
                "--control-kubeconfig cannot be empty if"
                f" --target-kubeconfig={TARGET_KUBECONFIG_DISABLED} is specified"
            )
        problems.extend(self.leader_election.problems())
        return problems

    def _own_problems(self) -> list[str]:
        """The checks of one binary's own flags."""
        return []


@attrs.frozen(kw_only=True)
class MachineControllerOptions(ControllerOptions):
    """Every flag of a provider's ``machine-controller`` binary, with upstream's defaults."""

    port: int = 10259
    """``--port``: the HTTP server's port (metrics, health)."""
    concurrent_syncs: int = 50
    """``--concurrent-syncs``: workers per queue (machines, classes, nodes, secrets)."""
    machine_creation_timeout: float = 20 * _MINUTE
    """``--machine-creation-timeout``: how long a new machine may take to join as a Ready node
    before it is declared Failed."""
    machine_health_timeout: float = 10 * _MINUTE
    """``--machine-health-timeout``: how long a joined machine may stay unhealthy before it is
    declared Failed."""
    machine_drain_timeout: float = 2 * _HOUR
    """``--machine-drain-timeout``: how long draining may take before the machine is deleted
    anyway (forced drain)."""
    machine_inplace_update_timeout: float = 20 * _MINUTE
    """``--machine-inplace-update-timeout``: how long an in-place update may take before the
    machine is declared Failed."""
    machine_max_evict_retries: int = 360
    """``--machine-max-evict-retries``: evictions tried per pod before it is deleted instead
    (the drain timeout over the 20 s retry interval)."""
    machine_pv_detach_timeout: float = 2 * _MINUTE
    """``--machine-pv-detach-timeout``: how long to wait for a drained pod's volumes to detach."""
    machine_pv_reattach_timeout: float = 90.0
    """``--machine-pv-reattach-timeout``: how long to wait for those volumes to attach
    elsewhere."""
    machine_safety_apiserver_statuscheck_timeout: float = 30.0
    """``--machine-safety-apiserver-statuscheck-timeout``: how long an API server may be
    unreachable before the machine controller freezes itself."""
    machine_safety_apiserver_statuscheck_period: float = 1 * _MINUTE
    """``--machine-safety-apiserver-statuscheck-period``: how often API server reachability is
    checked while healthy. Must not be shorter than the timeout."""
    machine_safety_orphan_vms_period: float = 15 * _MINUTE
    """``--machine-safety-orphan-vms-period``: how often VMs without a Machine are collected."""
    machine_preserve_timeout: float = 96 * _HOUR
    """``--machine-preserve-timeout``: how long a machine annotated for preservation is kept."""
    node_conditions: tuple[str, ...] = attrs.field(
        default=DEFAULT_NODE_CONDITIONS, converter=_tuple_of_str
    )
    """``--node-conditions``: node conditions (case-sensitive) that, True for longer than the
    health timeout, make a machine Failed. The flag takes them comma-separated."""
    bootstrap_token_auth_extra_groups: str = ""
    """``--bootstrap-token-auth-extra-groups``: comma-separated groups written verbatim into the
    bootstrap token secret's ``auth-extra-groups``."""
    resource_exhausted_retry: float = 10 * _MINUTE
    """``--resource-exhausted-retry``: the requeue delay after a ResourceExhausted creation
    error; 0 means the default (`effective_resource_exhausted_retry`)."""
    leader_election: LeaderElectionOptions = attrs.field(factory=LeaderElectionOptions)
    """The ``--leader-elect*`` flags; the lock is the Lease ``machine-controller``."""

    @property
    def effective_resource_exhausted_retry(self) -> float:
        """`resource_exhausted_retry`, with 0 read as upstream's long retry (10 minutes)."""
        return self.resource_exhausted_retry or 10 * _MINUTE

    def _own_problems(self) -> list[str]:
        problems: list[str] = []
        _non_negative(problems, "machine creation timeout", self.machine_creation_timeout)
        _non_negative(problems, "machine health timeout", self.machine_health_timeout)
        _non_negative(problems, "machine drain timeout", self.machine_drain_timeout)
        _non_negative(
            problems, "machine in-place update timeout", self.machine_inplace_update_timeout
        )
        if self.machine_max_evict_retries < 0:
            problems.append(
                "max evict retries should not be a negative value:"
                f" got {self.machine_max_evict_retries}"
            )
        _non_negative(problems, "machine PV detach timeout", self.machine_pv_detach_timeout)
        _non_negative(problems, "machine PV reattach timeout", self.machine_pv_reattach_timeout)
        _non_negative(
            problems,
            "machine safety APIServer status check timeout",
            self.machine_safety_apiserver_statuscheck_timeout,
        )
        _non_negative(
            problems, "machine safety orphan VMs period", self.machine_safety_orphan_vms_period
        )
        _non_negative(
            problems,
            "machine safety APIServer status check period",
            self.machine_safety_apiserver_statuscheck_period,
        )
        if (
            self.machine_safety_apiserver_statuscheck_period
            < self.machine_safety_apiserver_statuscheck_timeout
        ):
            problems.append(
                "machine safety APIServer status check period should not be less than"
                " APIServer status check timeout"
            )
        _non_negative(problems, "machine preserve timeout", self.machine_preserve_timeout)
        _non_negative(problems, "resource exhausted retry duration", self.resource_exhausted_retry)
        return problems


@attrs.frozen(kw_only=True)
class MachineControllerManagerOptions(ControllerOptions):
    """Every flag of the ``machine-controller-manager`` binary, with upstream's defaults."""

    port: int = 10258
    """``--port``: the HTTP server's port (metrics, health)."""
    concurrent_syncs: int = 10
    """``--concurrent-syncs``: workers for each of the MachineSet, MachineDeployment and safety
    queues."""
    safety_up: int = 2
    """``--safety-up``: machines a MachineSet may have beyond desired (+ surge) before it is
    frozen."""
    safety_down: int = 1
    """``--safety-down``: how far below that upper limit the count must fall to unfreeze."""
    machine_safety_overshooting_period: float = 1 * _MINUTE
    """``--machine-safety-overshooting-period``: how often the overshoot check runs."""
    autoscaler_scaledown_annotation_during_rollout: bool = True
    """``--autoscaler-scaledown-annotation-during-rollout``: mark nodes of a rolling
    MachineDeployment with the cluster-autoscaler's scale-down-disabled annotation."""
    leader_election: LeaderElectionOptions = attrs.field(
        factory=lambda: LeaderElectionOptions(resource_name=MACHINE_CONTROLLER_MANAGER_LOCK_NAME)
    )
    """The ``--leader-elect*`` flags; the lock is the Lease ``machine-controller-manager``."""

    def _own_problems(self) -> list[str]:
        problems = []
        if self.safety_up < 0:
            problems.append(f"safety up should be a non negative value: got {self.safety_up}")
        if self.safety_down < 0:
            problems.append(f"safety down should be a non negative value: got {self.safety_down}")
        _non_negative(
            problems, "machine safety overshooting period", self.machine_safety_overshooting_period
        )
        return problems


def _non_negative(problems: list[str], what: str, seconds: float) -> None:
    if seconds < 0:
        problems.append(f"{what} should be a non-negative value: got {seconds}s")


def _is_media_type(value: str) -> bool:
    """Roughly Go's ``mime.ParseMediaType``: ``type/subtype`` with optional ``; key=value``."""
    media, _, params = value.partition(";")
    kind, slash, subtype = media.strip().partition("/")
    if not (slash and _is_token(kind) and _is_token(subtype)):
        return False
    for param in params.split(";") if params.strip() else ():
        key, equals, val = param.strip().partition("=")
        if not (equals and _is_token(key) and val.strip()):
            return False
    return True


def _is_token(text: str) -> bool:
    separators = set('()<>@,;:\\"/[]?= \t')
    return bool(text) and all(33 <= ord(c) < 127 and c not in separators for c in text)

"""Command-line flags of the two binaries, as click options that build `mcm.options` objects.

The flags are upstream's, name for name and default for default, so deployment manifests written
for the Go binaries work unchanged:

- Durations take Go's notation (``90s``, ``20m``, ``1h30m``, ``1.5h``) through `GoDuration`,
  which wraps `mcm.api.duration.parse_duration`; anything Go would refuse is a usage error naming
  the flag.
- Booleans behave as pflag's: ``--leader-elect`` alone means true, ``--leader-elect=false`` (or
  ``=0``, ``=f`` ...) false.
- ``--v``/``-v`` is klog's verbosity, mapped onto `logging` levels by
  `mcm.options.verbosity_level`; `configure_logging` applies it (and ``--vmodule``).

`machine_controller_options` decorates a provider's command: the command gets every flag of
upstream's provider ``machine-controller`` and receives one validated
`mcm.options.MachineControllerOptions` as its ``options`` argument, next to the provider's own
flags. `machine_controller_manager_options` does the same for the ``machine-controller-manager``.
`build_machine_controller_options` and `build_machine_controller_manager_options` turn the parsed
values (click's parameter names) into the options object and apply upstream's validation; a
problem is a `click.UsageError` listing every problem at once.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from mcm.api.duration import format_duration, parse_duration
from mcm.options import (
    DEFAULT_NODE_CONDITIONS,
    MACHINE_CONTROLLER_LOCK_NAME,
    MACHINE_CONTROLLER_MANAGER_LOCK_NAME,
    TARGET_KUBECONFIG_DISABLED,
    ControllerOptions,
    LeaderElectionOptions,
    LoggingOptions,
    MachineControllerManagerOptions,
    MachineControllerOptions,
    verbosity_level,
)

R = TypeVar("R")
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class GoDuration(click.ParamType[float, Any]):
    """A Go duration string (``20m``, ``1h30m``, ``90s``) as float seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return parse_duration(value)
        except (ValueError, TypeError) as exc:
            self.fail(
                f"{value!r} is not a duration ({exc}); write it the Go way, like 90s, 20m or 1h30m",
                param,
                ctx,
            )


class IPAddress(click.ParamType[str, Any]):
    """An IPv4 or IPv6 address, as pflag's ``IPVar`` checks it."""

    name = "ip"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return str(ipaddress.ip_address(str(value)))
        except ValueError:
            self.fail(f"{value!r} is not an IP address", param, ctx)


class VModule(click.ParamType[tuple[tuple[str, int], ...], Any]):
    """``pattern=N,...`` as a tuple of ``(pattern, N)``; here a pattern is a logger name."""

    name = "pattern=N,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[tuple[str, int], ...]:
        if isinstance(value, tuple):
            return value
        pairs: list[tuple[str, int]] = []
        for item in str(value).split(","):
            if not item.strip():
                continue
            pattern, equals, level = item.partition("=")
            try:
                verbosity = int(level)
            except ValueError:
                verbosity = -1
            if not equals or not pattern.strip() or verbosity < 0:
                self.fail(f"{item!r} is not of the form pattern=N", param, ctx)
            pairs.append((pattern.strip(), verbosity))
        return tuple(pairs)


GO_DURATION = GoDuration()
IP_ADDRESS = IPAddress()
VMODULE = VModule()


def _duration(flag: str, default: float, help: str) -> Decorator:
    return click.option(
        flag, type=GO_DURATION, default=default, show_default=format_duration(default), help=help
    )


def _bool(flag: str, default: bool, help: str) -> Decorator:
    """A pflag-style boolean: ``--flag`` alone is true, ``--flag=false`` works."""
    return click.option(
        flag,
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=default,
        show_default=str(default).lower(),
        metavar="[=BOOL]",
        help=help,
    )


def _common_flags(*, port: int, concurrent_syncs: int) -> list[Decorator]:
    """The flags both binaries have; *port* and *concurrent_syncs* defaults differ."""
    defaults = MachineControllerOptions()
    return [
        click.option(
            "--port",
            type=int,
            default=port,
            show_default=True,
            help="Port of the HTTP server (metrics, health checks).",
        ),
        click.option(
            "--address",
            type=IP_ADDRESS,
            default=defaults.address,
            show_default=True,
            help="IP address the HTTP server binds (0.0.0.0 for all interfaces).",
        ),
        click.option("--cloud-provider", default="", help="Unused; accepted for compatibility."),
        click.option(
            "--concurrent-syncs",
            type=int,
            default=concurrent_syncs,
            show_default=True,
            help="Workers per queue.",
        ),
        _duration(
            "--min-resync-period", defaults.min_resync_period, "Resync period of the informers."
        ),
        _bool("--profiling", False, "Accepted for compatibility; no profiling endpoints."),
        _bool("--contention-profiling", False, "Accepted for compatibility; needs --profiling."),
        click.option(
            "--target-kubeconfig",
            default="",
            help="Kubeconfig of the cluster the machines join as nodes; empty for in-cluster"
            f" config, {TARGET_KUBECONFIG_DISABLED!r} for no target cluster.",
        ),
        click.option(
            "--control-kubeconfig",
            default="",
            help="Kubeconfig of the cluster holding the machine objects; 'inClusterConfig' for"
            " the pod's service account; empty for the same as --target-kubeconfig.",
        ),
        click.option(
            "--namespace",
            default=defaults.namespace,
            show_default=True,
            help="Control-cluster namespace of the machine objects, their secrets and the"
            " leader lease.",
        ),
        click.option(
            "--kube-api-content-type",
            default=defaults.kube_api_content_type,
            show_default=True,
            help="Validated but not applied; requests use JSON.",
        ),
        click.option(
            "--kube-api-qps",
            type=float,
            default=defaults.kube_api_qps,
            show_default=True,
            help="Requests per second to each API server.",
        ),
        click.option(
            "--kube-api-burst",
            type=int,
            default=defaults.kube_api_burst,
            show_default=True,
            help="Burst of requests above --kube-api-qps.",
        ),
        _duration(
            "--controller-start-interval",
            defaults.controller_start_interval,
            "Unused; accepted for compatibility.",
        ),
    ]


def _machine_controller_flags() -> list[Decorator]:
    d = MachineControllerOptions()
    return [
        *_common_flags(port=d.port, concurrent_syncs=d.concurrent_syncs),
        _duration(
            "--machine-creation-timeout",
            d.machine_creation_timeout,
            "How long a new machine may take to join as a Ready node before it is Failed.",
        ),
        _duration(
            "--machine-health-timeout",
            d.machine_health_timeout,
            "How long a machine may stay unhealthy before it is Failed.",
        ),
        _duration(
            "--machine-drain-timeout",
            d.machine_drain_timeout,
            "How long a drain may take before the machine is deleted anyway.",
        ),
        _duration(
            "--machine-inplace-update-timeout",
            d.machine_inplace_update_timeout,
            "How long an in-place update may take before the machine is Failed.",
        ),
        click.option(
            "--machine-max-evict-retries",
            type=int,
            default=d.machine_max_evict_retries,
            show_default=True,
            help="Evictions tried per pod during a drain before the pod is deleted instead.",
        ),
        _duration(
            "--machine-pv-detach-timeout",
            d.machine_pv_detach_timeout,
            "How long to wait for a drained pod's volumes to detach.",
        ),
        _duration(
            "--machine-pv-reattach-timeout",
            d.machine_pv_reattach_timeout,
            "How long to wait for those volumes to attach elsewhere.",
        ),
        _duration(
            "--machine-safety-apiserver-statuscheck-timeout",
            d.machine_safety_apiserver_statuscheck_timeout,
            "How long an API server may be unreachable before the controller freezes.",
        ),
        _duration(
            "--machine-safety-apiserver-statuscheck-period",
            d.machine_safety_apiserver_statuscheck_period,
            "How often API server reachability is checked.",
        ),
        _duration(
            "--machine-safety-orphan-vms-period",
            d.machine_safety_orphan_vms_period,
            "How often VMs without a machine object are collected.",
        ),
        _duration(
            "--machine-preserve-timeout",
            d.machine_preserve_timeout,
            "How long a machine annotated for preservation is kept.",
        ),
        click.option(
            "--node-conditions",
            default=",".join(DEFAULT_NODE_CONDITIONS),
            show_default=True,
            help="Comma-separated node conditions that, True for longer than the health"
            " timeout, make a machine Failed.",
        ),
        click.option(
            "--bootstrap-token-auth-extra-groups",
            default="",
            help="Comma-separated groups for the bootstrap token's auth-extra-groups.",
        ),
        _duration(
            "--resource-exhausted-retry",
            d.resource_exhausted_retry,
            "Requeue delay after a ResourceExhausted creation error; 0 means the default.",
        ),
        *_logging_flags(),
        *_leader_election_flags(),
    ]


def _machine_controller_manager_flags() -> list[Decorator]:
    d = MachineControllerManagerOptions()
    return [
        *_common_flags(port=d.port, concurrent_syncs=d.concurrent_syncs),
        click.option(
            "--safety-up",
            type=int,
            default=d.safety_up,
            show_default=True,
            help="Machines a MachineSet may have beyond its desired (and surge) count before"
            " it is frozen.",
        ),
        click.option(
            "--safety-down",
            type=int,
            default=d.safety_down,
            show_default=True,
            help="How far below that limit the count must fall to unfreeze.",
        ),
        _duration(
            "--machine-safety-overshooting-period",
            d.machine_safety_overshooting_period,
            "How often machine sets are checked for overshooting.",
        ),
        _bool(
            "--autoscaler-scaledown-annotation-during-rollout",
            d.autoscaler_scaledown_annotation_during_rollout,
            "Disable cluster-autoscaler scale-down of nodes during a rollout.",
        ),
        *_logging_flags(),
        *_leader_election_flags(),
    ]


def _logging_flags() -> list[Decorator]:
    d = LoggingOptions()
    return [
        click.option(
            "-v",
            "--v",
            "v",
            type=int,
            default=d.verbosity,
            show_default=True,
            help="Log verbosity: 0 is INFO, 4 and above DEBUG.",
        ),
        click.option(
            "--vmodule",
            type=VMODULE,
            default="",
            help="Per-logger verbosity, as logger=N pairs separated by commas.",
        ),
        _duration(
            "--log-flush-frequency",
            d.log_flush_frequency,
            "Accepted for compatibility; every record is flushed.",
        ),
    ]


def _leader_election_flags() -> list[Decorator]:
    d = LeaderElectionOptions()
    return [
        _bool(
            "--leader-elect",
            d.leader_elect,
            "Run only while holding the leader lease; enable when running several replicas.",
        ),
        _duration(
            "--leader-elect-lease-duration",
            d.lease_duration,
            "How long followers wait after the last renewal they saw before taking over.",
        ),
        _duration(
            "--leader-elect-renew-deadline",
            d.renew_deadline,
            "How long the leader tries to renew before it stops leading.",
        ),
        _duration(
            "--leader-elect-retry-period",
            d.retry_period,
            "Pause between attempts to acquire or renew the lease.",
        ),
        click.option(
            "--leader-elect-resource-lock",
            default=d.resource_lock,
            show_default=True,
            help="Kind of lock object; only 'leases' is supported.",
        ),
    ]


# --- building the options -------------------------------------------------------------------------


def build_machine_controller_options(**values: Any) -> MachineControllerOptions:
    """`MachineControllerOptions` from parsed flag values (click's names, e.g.
    ``machine_creation_timeout``, ``leader_elect``, ``v``); absent ones keep their defaults.

    Raises `click.UsageError` listing every problem upstream's validation finds.
    """
    leader_election = _leader_election(values, MACHINE_CONTROLLER_LOCK_NAME)
    logging_options = _logging(values)
    options = MachineControllerOptions(
        leader_election=leader_election, logging=logging_options, **values
    )
    return _validated(options)


def build_machine_controller_manager_options(**values: Any) -> MachineControllerManagerOptions:
    """`MachineControllerManagerOptions` from parsed flag values; see
    `build_machine_controller_options`."""
    leader_election = _leader_election(values, MACHINE_CONTROLLER_MANAGER_LOCK_NAME)
    logging_options = _logging(values)
    options = MachineControllerManagerOptions(
        leader_election=leader_election, logging=logging_options, **values
    )
    return _validated(options)


def _leader_election(values: dict[str, Any], lock_name: str) -> LeaderElectionOptions:
    d = LeaderElectionOptions()
    return LeaderElectionOptions(
        leader_elect=values.pop("leader_elect", d.leader_elect),
        lease_duration=values.pop("leader_elect_lease_duration", d.lease_duration),
        renew_deadline=values.pop("leader_elect_renew_deadline", d.renew_deadline),
        retry_period=values.pop("leader_elect_retry_period", d.retry_period),
        resource_lock=values.pop("leader_elect_resource_lock", d.resource_lock),
        resource_name=lock_name,
    )


def _logging(values: dict[str, Any]) -> LoggingOptions:
    d = LoggingOptions()
    vmodule = values.pop("vmodule", d.vmodule)
    return LoggingOptions(
        verbosity=values.pop("v", d.verbosity),
        vmodule=VMODULE.convert(vmodule, None, None) if isinstance(vmodule, str) else vmodule,
        log_flush_frequency=values.pop("log_flush_frequency", d.log_flush_frequency),
    )


_O = TypeVar("_O", bound=ControllerOptions)


def _validated(options: _O) -> _O:
    problems = options.validate()
    if problems:
        raise click.UsageError("invalid flags:\n  " + "\n  ".join(problems))
    return options


# --- decorators -----------------------------------------------------------------------------------


def machine_controller_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give a click command every flag of a provider's ``machine-controller``.

    Apply it below ``@click.command()``; the command receives ``options``, a validated
    `MachineControllerOptions`, plus its own parameters::

        @click.command()
        @machine_controller_options
        @click.option("--provider-flag")
        def main(options: MachineControllerOptions, provider_flag: str) -> None: ...
    """
    return _with_flags(command, _machine_controller_flags(), build_machine_controller_options)


def machine_controller_manager_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give a click command every flag of the ``machine-controller-manager``; it receives
    ``options``, a validated `MachineControllerManagerOptions`."""
    return _with_flags(
        command, _machine_controller_manager_flags(), build_machine_controller_manager_options
    )


def _with_flags(
    command: Callable[..., R],
    flags: list[Decorator],
    build: Callable[..., ControllerOptions],
) -> Callable[..., R]:
    probe: Any = lambda: None  # noqa: E731 - collects the flags' parameter names
    for flag in flags:
        probe = flag(probe)
    names = [param.name for param in probe.__click_params__]

    @functools.wraps(command)
    def with_options(*args: Any, **kwargs: Any) -> R:
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        return command(*args, options=build(**values), **kwargs)

    decorated: Any = with_options
    for flag in reversed(flags):
        decorated = flag(decorated)
    return decorated  # type: ignore[no-any-return]


# --- logging --------------------------------------------------------------------------------------


def configure_logging(options: LoggingOptions, *, stream: IO[str] | None = None) -> None:
    """Set the root logger to ``--v``'s level (with one stream handler, stderr by default) and
    each ``--vmodule`` logger to its own level."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(options.level)
    for name, verbosity in options.vmodule:
        logging.getLogger(name).setLevel(verbosity_level(verbosity))

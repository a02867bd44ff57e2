"""The machine controller's ``mcm_machine_*`` Prometheus series (upstream's provider metrics).

Two kinds, as upstream has them:

**Durations and counters, set as things happen** (`MachineMetrics`):

=============================================  =======  ===========================================
series                                         type     set when
=============================================  =======  ===========================================
``mcm_machine_create_duration_seconds``        gauge    CreateMachine succeeded (now - creation)
``mcm_machine_initialize_duration_seconds``    gauge    InitializeMachine succeeded (call time)
``mcm_machine_join_duration_seconds``          gauge    the machine first became Running
``mcm_machine_drain_duration_seconds``         gauge    the deletion flow drained the node
``mcm_machine_delete_duration_seconds``        gauge    the VM was deleted (now - deletion start)
``mcm_machine_num_failed_join``                counter  a Pending machine hit its creation timeout
=============================================  =======  ===========================================

They are labelled ``namespace`` and ``machine_deployment`` (the Machine's ``name`` label);
all but the drain gauge also ``instance_type`` (the class's ``nodeTemplate.instanceType``) and
``zone`` (the Machine's ``spec.nodeTemplate`` label ``topology.kubernetes.io/zone``). A Machine
without a ``name`` label records nothing. Upstream adds the two placement labels only when the
class has a nodeTemplate, and otherwise calls the 4-label vectors with 2 labels (a panic in Go);
here they are then empty strings. Values are whole seconds, rounded half away from zero as Go's
``Duration.Round``; a zero duration is not recorded (upstream's "unset").

**Scraped from the lister** (`MachineCollector`, registered by the app):
``mcm_machine_items_total``, ``mcm_machine_current_status_phase`` (Terminating -4, Failed -3,
CrashLoopBackOff -2, Unknown -1, Pending 0, Running 1, anything else 0),
``mcm_machine_controller_frozen``, ``mcm_machine_info`` and ``mcm_machine_status_condition``
(True 1, False 0, Unknown 2), plus ``mcm_misc_scrape_failure_total{kind="Machine-count"}`` when
listing fails. Upstream keeps ``info``/``status_condition`` in gauge vectors that are never
pruned, so deleted machines linger in them; here every scrape reports exactly the machines that
exist.

`default_machine_metrics` gives the process-wide `MachineMetrics` on the default registry; tests
build their own on a fresh ``CollectorRegistry``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mcm.api.constants import MACHINE_DEPLOYMENT_NAME_LABEL, NODE_LABEL_KEY
from mcm.api.machine import Machine, MachinePhase
from mcm.api.machineclass import MachineClass
from mcm.controller.context import MachineControllerContext

__all__ = [
    "ZONE_LABEL",
    "MachineCollector",
    "MachineMetrics",
    "default_machine_metrics",
    "phase_value",
    "whole_seconds",
]

logger = logging.getLogger(__name__)

ZONE_LABEL = "topology.kubernetes.io/zone"
"""The nodeTemplate label whose value becomes the ``zone`` metric label."""

_PLACED = ["namespace", "machine_deployment", "instance_type", "zone"]
_DEPLOYMENT = ["namespace", "machine_deployment"]

_PHASE_VALUES = {
    MachinePhase.TERMINATING: -4.0,
    MachinePhase.FAILED: -3.0,
    MachinePhase.CRASH_LOOP_BACK_OFF: -2.0,
    MachinePhase.UNKNOWN: -1.0,
    MachinePhase.PENDING: 0.0,
    MachinePhase.RUNNING: 1.0,
}
_BINARY = "machine-controller-manager-provider"  # upstream's constant label on scrape failures
_CONDITION_VALUES = {"True": 1.0, "False": 0.0, "Unknown": 2.0}


def whole_seconds(seconds: float) -> float:
    """*seconds* rounded to a whole second, halves away from zero (Go's ``Round(time.Second)``)."""
    return math.copysign(math.floor(abs(seconds) + 0.5), seconds)


def phase_value(phase: MachinePhase | None) -> float:
    """The ``mcm_machine_current_status_phase`` value of *phase*."""
    return _PHASE_VALUES.get(phase, 0.0) if phase is not None else 0.0


class MachineMetrics:
    """The duration gauges and the failed-join counter; see the module docstring."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.create_duration = prometheus_client.Gauge(
            "mcm_machine_create_duration_seconds",
            "Duration in seconds to create a Machine of a MachineDeployment.",
            _PLACED,
            registry=registry,
        )
        self.initialize_duration = prometheus_client.Gauge(
            "mcm_machine_initialize_duration_seconds",
            "Duration in seconds to initialize a Machine of a MachineDeployment.",
            _PLACED,
            registry=registry,
        )
        self.join_duration = prometheus_client.Gauge(
            "mcm_machine_join_duration_seconds",
            "Duration in seconds for a Machine of a MachineDeployment to join the cluster",
            _PLACED,
            registry=registry,
        )
        self.drain_duration = prometheus_client.Gauge(
            "mcm_machine_drain_duration_seconds",
            "Duration in seconds to drain a Machine of a MachineDeployment.",
            _DEPLOYMENT,
            registry=registry,
        )
        self.delete_duration = prometheus_client.Gauge(
            "mcm_machine_delete_duration_seconds",
            "Duration in seconds to delete a Machine of a MachineDeployment.",
            _PLACED,
            registry=registry,
        )
        self.num_failed_join = prometheus_client.Counter(
            "mcm_machine_num_failed_join",
            "Number of Machines of a MachineDeployment that failed to join the cluster.",
            _PLACED,
            registry=registry,
        )

    def record_durations(
        self,
        machine: Machine,
        machine_class: MachineClass | None,
        *,
        create: float = 0.0,
        initialize: float = 0.0,
        join: float = 0.0,
        drain: float = 0.0,
        delete: float = 0.0,
    ) -> None:
        """Set the gauges of the non-zero durations given (seconds) for *machine*'s deployment."""
        labels = _placed_labels(machine, machine_class)
        if labels is None:
            return
        for gauge, value in (
            (self.create_duration, create),
            (self.initialize_duration, initialize),
            (self.join_duration, join),
            (self.delete_duration, delete),
        ):
            if value:
                gauge.labels(*labels).set(whole_seconds(value))
        if drain:
            self.drain_duration.labels(*labels[:2]).set(whole_seconds(drain))

    def increment_failed_join(self, machine: Machine, machine_class: MachineClass | None) -> None:
        """Count one machine of *machine*'s deployment that did not join in time."""
        labels = _placed_labels(machine, machine_class)
        if labels is not None:
            self.num_failed_join.labels(*labels).inc()


def _placed_labels(
    machine: Machine, machine_class: MachineClass | None
) -> tuple[str, str, str, str] | None:
    deployment = machine.metadata.labels.get(MACHINE_DEPLOYMENT_NAME_LABEL, "")
    if not deployment:
        logger.debug(
            "machine %s has no %r label naming its MachineDeployment; no duration metrics",
            machine.metadata.name,
            MACHINE_DEPLOYMENT_NAME_LABEL,
        )
        return None
    instance_type = zone = ""
    if machine_class is not None and machine_class.node_template is not None:
        instance_type = machine_class.node_template.instance_type
        zone = machine.spec.node_template.metadata.labels.get(ZONE_LABEL, "")
    return (machine.metadata.namespace, deployment, instance_type, zone)


_default: MachineMetrics | None = None
_default_lock = threading.Lock()


def default_machine_metrics() -> MachineMetrics:
    """The process-wide `MachineMetrics` on ``prometheus_client.REGISTRY``, made on first use."""
    global _default  # noqa: PLW0603 -- one registration per process is the point
    with _default_lock:
        if _default is None:
            _default = MachineMetrics(prometheus_client.REGISTRY)
        return _default


class MachineCollector(Collector):
    """Scrape-time machine series read from ``ctx.machines``; see the module docstring.

    Register one per process: ``registry.register(MachineCollector(ctx, registry=registry))``.
    """

    def __init__(
        self, ctx: MachineControllerContext, *, registry: CollectorRegistry | None = None
    ) -> None:
        self._ctx = ctx
        self._scrape_failures = prometheus_client.Counter(
            "mcm_misc_scrape_failure_total",
            "Total count of scrape failures.",
            ["kind", "binary"],
            registry=registry if registry is not None else prometheus_client.REGISTRY,
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # series are only known at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        frozen = GaugeMetricFamily(
            "mcm_machine_controller_frozen",
            "Frozen status of the machine controller manager.",
            value=1.0 if self._ctx.safety.frozen else 0.0,
        )
        try:
            machines = self._ctx.machines.list(self._ctx.namespace)
        except Exception:  # a scrape must not fail because a list did
            logger.warning("listing machines for metrics failed", exc_info=True)
            self._scrape_failures.labels("Machine-count", _BINARY).inc()
            yield frozen
            return
        info = GaugeMetricFamily(
            "mcm_machine_info",
            "Information of the Machines currently managed by the mcm.",
            labels=[
                "name",
                "namespace",
                "createdAt",
                "spec_provider_id",
                "spec_class_api_group",
                "spec_class_kind",
                "spec_class_name",
                "node_name",
            ],
        )
        conditions = GaugeMetricFamily(
            "mcm_machine_status_condition",
            "Information of the mcm managed Machines' status conditions.",
            labels=["name", "namespace", "condition"],
        )
        phases = GaugeMetricFamily(
            "mcm_machine_current_status_phase",
            "Current status phase of the Machines currently managed by the mcm.",
            labels=["name", "namespace"],
        )
        for machine in machines:
            meta = machine.metadata
            created = meta.creation_timestamp
            info.add_metric(
                [
                    meta.name,
                    meta.namespace,
                    str(int(created.timestamp())) if created is not None else "",
                    machine.spec.provider_id,
                    machine.spec.class_.api_group,
                    machine.spec.class_.kind,
                    machine.spec.class_.name,
                    meta.labels.get(NODE_LABEL_KEY, ""),
                ],
                1.0,
            )
            for condition in machine.status.conditions:
                conditions.add_metric(
                    [meta.name, meta.namespace, condition.type],
                    _CONDITION_VALUES.get(condition.status, 0.0),
                )
            phases.add_metric([meta.name, meta.namespace], phase_value(machine.phase))
        yield GaugeMetricFamily(
            "mcm_machine_items_total",
            "Count of machines currently managed by the mcm.",
            value=float(len(machines)),
        )
        yield phases
        yield info
        yield conditions
        yield frozen

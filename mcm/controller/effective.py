"""The per-machine settings in force: a Machine's own override, else the controller's flag.

A Machine may override five timeouts, the eviction retry count and the list of node conditions that
make it unhealthy (upstream's inlined ``MachineConfiguration``). Each getter here returns what
applies to one machine, in float seconds for durations, exactly as upstream's ``getEffective*``
helpers choose it:

- an override that is set on the Machine wins; an unset one falls back to the flag in
  ``ctx.options``;
- the creation timeout has one more source in front: the annotation
  ``node.machine.sapcloud.io/effective-creation-timeout`` (a Go duration, copied by the MachineSet
  controller from its MachineDeployment). An annotation that does not parse is logged and ignored.

A duration field holding text that is not a Go duration is treated as unset (the API server would
have refused it upstream, where the field is a typed ``metav1.Duration``).
"""

from __future__ import annotations

import logging

from mcm.api.constants import EFFECTIVE_CREATION_TIMEOUT
from mcm.api.duration import parse_duration
from mcm.api.machine import Machine
from mcm.controller.context import MachineControllerContext

__all__ = [
    "effective_creation_timeout",
    "effective_drain_timeout",
    "effective_health_timeout",
    "effective_in_place_update_timeout",
    "effective_machine_preserve_timeout",
    "effective_max_evict_retries",
    "effective_node_conditions",
    "health_timeout_disabled",
]

logger = logging.getLogger(__name__)


def effective_drain_timeout(ctx: MachineControllerContext, machine: Machine) -> float:
    """``spec.drainTimeout``, else ``--machine-drain-timeout`` (seconds)."""
    value = machine.spec.drain_timeout_seconds
    return ctx.options.machine_drain_timeout if value is None else value


def effective_health_timeout(ctx: MachineControllerContext, machine: Machine) -> float:
    """``spec.healthTimeout``, else ``--machine-health-timeout`` (seconds)."""
    value = machine.spec.health_timeout_seconds
    return ctx.options.machine_health_timeout if value is None else value


def effective_creation_timeout(ctx: MachineControllerContext, machine: Machine) -> float:
    """The effective-creation-timeout annotation, else ``spec.creationTimeout``, else the flag."""
    annotated = machine.metadata.annotations.get(EFFECTIVE_CREATION_TIMEOUT)
    if annotated is not None:
        try:
            return parse_duration(annotated)
        except ValueError:
            logger.warning(
                "machine %s: ignoring annotation %s=%r, not a duration",
                machine.metadata.name,
                EFFECTIVE_CREATION_TIMEOUT,
                annotated,
            )
    value = machine.spec.creation_timeout_seconds
    return ctx.options.machine_creation_timeout if value is None else value


def effective_in_place_update_timeout(ctx: MachineControllerContext, machine: Machine) -> float:
    """``spec.inPlaceUpdateTimeout``, else ``--machine-inplace-update-timeout`` (seconds)."""
    value = machine.spec.in_place_update_timeout_seconds
    return ctx.options.machine_inplace_update_timeout if value is None else value


def effective_machine_preserve_timeout(ctx: MachineControllerContext, machine: Machine) -> float:
    """``spec.machinePreserveTimeout``, else ``--machine-preserve-timeout`` (seconds)."""
    value = machine.spec.machine_preserve_timeout_seconds
    return ctx.options.machine_preserve_timeout if value is None else value


def effective_max_evict_retries(ctx: MachineControllerContext, machine: Machine) -> int:
    """``spec.maxEvictRetries`` (0 is a valid override), else ``--machine-max-evict-retries``."""
    value = machine.spec.max_evict_retries
    return ctx.options.machine_max_evict_retries if value is None else value


def effective_node_conditions(ctx: MachineControllerContext, machine: Machine) -> tuple[str, ...]:
    """The condition types that make the machine unhealthy unless False.

    ``spec.nodeConditions`` (comma-separated, case-sensitive; blanks around names are dropped),
    else ``--node-conditions``. An empty override means "none".
    """
    value = machine.spec.node_conditions
    if value is None:
        return ctx.options.node_conditions
    return tuple(name.strip() for name in value.split(",") if name.strip())


def health_timeout_disabled(machine: Machine) -> bool:
    """``spec.disableHealthTimeout``: an unhealthy machine is then never marked Failed."""
    return bool(machine.spec.disable_health_timeout)

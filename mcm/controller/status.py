"""Writing a Machine's status, and upstream's rule for when a status write can be skipped.

Every status write of the machine controller goes through `patch_machine_status`: a JSON merge
patch on the ``status`` subresource (`mcm.api.patches.machine_status_patch`) that carries the
``metadata.resourceVersion`` the caller read, so it fails with `mcm.errors.ConflictError` when the
Machine changed meanwhile, exactly as upstream's full ``UpdateStatus`` does. The machine queue and
the termination queue may hold the same key at the same time; the precondition is what keeps their
writes from overwriting each other. The written Machine is returned, parsed, so a flow that writes
twice in one pass continues from the server's copy.

`write_status_unless_similar` is upstream's ``machineStatusUpdate``, used by the deletion flow and
the creation-error handler: it does not write when the new ``lastOperation``/``currentStatus`` are
"similar" (`is_machine_status_similar`) to the stored ones, so a provider error repeating with a
different request ID every five seconds does not produce a write (and a watch event) each time.

`is_machine_status_similar` is upstream's ``isMachineStatusSimilar``:

- if either status's ``lastOperation.lastUpdateTime`` is more than 30 minutes old (or unset), the
  statuses are *not* similar, so a stale status is refreshed at least that often;
- descriptions whose Levenshtein similarity ``1 - distance / average length`` exceeds 0.75 count
  as equal (computed on UTF-8 bytes, as Go does on strings);
- timestamps are ignored; everything else in ``lastOperation`` and ``currentStatus`` (including
  ``preserveExpiryTime``) must be equal. ``lastKnownState``, ``conditions`` and ``addresses`` are
  not compared.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

import attrs

from mcm.api.core import NodeAddress, NodeCondition
from mcm.api.machine import CurrentStatus, LastOperation, Machine, MachineStatus
from mcm.api.patches import machine_status_patch
from mcm.clock import utcnow
from mcm.controller.context import MachineControllerContext
from mcm.kube.resources import MACHINES

__all__ = [
    "SIMILAR_DESCRIPTION_RATIO",
    "SIMILAR_STATUS_MAX_AGE",
    "is_machine_status_similar",
    "levenshtein",
    "patch_machine_status",
    "similarity_ratio",
    "write_status_unless_similar",
]

logger = logging.getLogger(__name__)

SIMILAR_STATUS_MAX_AGE = 30 * 60.0
"""A status whose lastOperation is older than this (seconds) is always rewritten."""

SIMILAR_DESCRIPTION_RATIO = 0.75
"""Descriptions more similar than this (see `similarity_ratio`) count as the same."""


def levenshtein(a: str, b: str) -> int:
    """The edit distance between the UTF-8 bytes of *a* and *b* (upstream's ``Levenshtein``)."""
    left, right = a.encode(), b.encode()
    if len(left) < len(right):
        left, right = right, left
    previous = list(range(len(right) + 1))
    for i, lc in enumerate(left, start=1):
        current = [i]
        for j, rc in enumerate(right, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (lc != rc)))
        previous = current
    return previous[-1]


def similarity_ratio(a: str, b: str) -> float:
    """``1 - levenshtein(a, b) / average byte length``; two empty strings are identical (1.0)."""
    average = (len(a.encode()) + len(b.encode())) / 2
    if average == 0:
        return 1.0
    return 1.0 - levenshtein(a, b) / average


def is_machine_status_similar(
    first: MachineStatus, second: MachineStatus, *, now: datetime.datetime
) -> bool:
    """Upstream's ``isMachineStatusSimilar``; see the module docstring."""
    oldest = now - datetime.timedelta(seconds=SIMILAR_STATUS_MAX_AGE)
    for status in (first, second):
        stamp = status.last_operation.last_update_time
        if stamp is None or stamp < oldest:
            return False
    a_op, b_op = first.last_operation, second.last_operation
    if similarity_ratio(a_op.description, b_op.description) > SIMILAR_DESCRIPTION_RATIO:
        a_op = attrs.evolve(a_op, description="")
        b_op = attrs.evolve(b_op, description="")
    a_op = attrs.evolve(a_op, last_update_time=None)
    b_op = attrs.evolve(b_op, last_update_time=None)
    a_cs = attrs.evolve(first.current_status, last_update_time=None)
    b_cs = attrs.evolve(second.current_status, last_update_time=None)
    return a_op == b_op and a_cs == b_cs


def patch_machine_status(
    ctx: MachineControllerContext,
    machine: Machine,
    *,
    current_status: CurrentStatus | None = None,
    last_operation: LastOperation | None = None,
    last_known_state: str | None = None,
    conditions: Sequence[NodeCondition] | None = None,
    addresses: Sequence[NodeAddress] | None = None,
) -> Machine:
    """Write the given parts of *machine*'s status; returns the Machine as written.

    Guarded by *machine*'s resourceVersion: raises `mcm.errors.ConflictError` if the stored
    Machine is newer, and any other `mcm.errors.ApiError` as it comes.
    """
    patch = machine_status_patch(
        current_status=current_status,
        last_operation=last_operation,
        last_known_state=last_known_state,
        conditions=conditions,
        addresses=addresses,
    )
    if machine.metadata.resource_version:
        patch["metadata"] = {"resourceVersion": machine.metadata.resource_version}
    written = ctx.control.patch_status(
        MACHINES, machine.metadata.name, patch, namespace=machine.metadata.namespace
    )
    return Machine.from_dict(written)


def write_status_unless_similar(
    ctx: MachineControllerContext,
    machine: Machine,
    *,
    last_operation: LastOperation,
    current_status: CurrentStatus,
    last_known_state: str,
) -> Machine | None:
    """Upstream's ``machineStatusUpdate``: write all three parts unless similar to what is stored.

    Returns the written Machine, or None when the write was skipped. Errors as
    `patch_machine_status`.
    """
    wanted = attrs.evolve(
        machine.status,
        last_operation=last_operation,
        current_status=current_status,
        last_known_state=last_known_state,
    )
    if is_machine_status_similar(wanted, machine.status, now=utcnow(ctx.clock)):
        logger.debug("machine %s: status unchanged (similar); not writing", machine.metadata.name)
        return None
    return patch_machine_status(
        ctx,
        machine,
        last_operation=last_operation,
        current_status=current_status,
        last_known_state=last_known_state,
    )

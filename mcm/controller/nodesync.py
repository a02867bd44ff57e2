"""Keeping a machine's Node in line with the Machine: its name label and its node template.

Two steps of every machine pass once the machine has a Node (upstream's ``syncMachineNameToNode``
and ``syncNodeTemplates``). Both skip quietly when the Node does not exist (yet).

`sync_machine_name_to_node` labels the Node ``node.gardener.cloud/machine-name=<machine>``.

`sync_node_templates` applies the Machine's ``spec.nodeTemplate`` to the Node: its labels,
annotations and taints, and the MachineClass's ``nodeTemplate.virtualCapacity`` into the Node's
``status.capacity``. The template always wins over manual edits of the keys it names; keys it does
not name are left alone, except those it applied before and no longer names, which are removed.
"What was applied before" is remembered on the Node in two annotations:
``node.machine.sapcloud.io/last-applied-anno-labels-taints`` (the JSON of the Machine's
``nodeTemplate``) and ``node.machine.sapcloud.io/last-applied-virtual-capacity`` (a JSON resource
list). The pure functions `sync_string_map`, `sync_taints` and `sync_virtual_capacity` compute the
new values:

- labels and annotations: delete the last-applied keys the template lacks; set every template key
  whose Node value differs or is missing;
- taints, identified by ``(key, effect)``: delete last-applied pairs the template lacks; add or
  replace template taints that differ in any field. The Node's order is kept, new taints go last;
- virtual capacity: delete previously applied resources no longer wanted; set wanted quantities
  that differ (quantities compare by value, ``1Gi`` equals ``1024Mi``).

Writes are merge patches carrying the Node's resourceVersion (a taint list is replaced whole, so a
concurrent taint change must not be overwritten): the capacity on the ``status`` subresource
first, then labels, annotations and taints. A successful write ends the pass
("machine ALTs have been reconciled") so the next pass starts from the written Node.
"""

from __future__ import annotations

import decimal
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mcm.api.constants import (
    CONFLICT_RETRY,
    LAST_APPLIED_ALT_ANNOTATION,
    LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION,
    LONG_RETRY,
    MACHINE_LABEL_KEY,
    SHORT_RETRY,
)
from mcm.api.core import Node, Taint
from mcm.api.machine import Machine, NodeTemplateSpec
from mcm.api.machineclass import MachineClass
from mcm.api.meta import thaw
from mcm.api.patches import labels_patch
from mcm.controller.context import MachineControllerContext
from mcm.controller.steps import Step
from mcm.errors import ApiError, ConflictError
from mcm.kube.resources import NODES

__all__ = [
    "ALTS_RECONCILED",
    "quantities_equal",
    "sync_machine_name_to_node",
    "sync_node_templates",
    "sync_string_map",
    "sync_taints",
    "sync_virtual_capacity",
]

logger = logging.getLogger(__name__)

ALTS_RECONCILED = "machine ALTs have been reconciled"


# ----------------------------------------------------------------------------------- quantities

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(.*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _quantity_value(text: str) -> decimal.Decimal | None:
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    number, suffix = decimal.Decimal(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix[:1] in ("e", "E"):
        try:
            return number.scaleb(int(suffix[1:]))
        except ValueError:
            return None
    return None


def quantities_equal(a: str, b: str) -> bool:
    """Do two Kubernetes quantities denote the same amount? Unparseable ones compare as text."""
    value_a, value_b = _quantity_value(a), _quantity_value(b)
    if value_a is None or value_b is None:
        return a == b
    return value_a == value_b


# ------------------------------------------------------------------------------- pure syncing


def sync_string_map(
    desired: Mapping[str, str], current: Mapping[str, str], last_applied: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str | None]]:
    """(new map, changes) for labels or annotations; changes map key -> value or None (delete).

    Upstream counts a last-applied key the template dropped as a change even when the Node no
    longer has it; here only real changes are reported.
    """
    result = dict(current)
    changes: dict[str, str | None] = {}
    for key in last_applied:
        if key not in desired and key in result:
            del result[key]
            changes[key] = None
    for key, value in desired.items():
        if result.get(key) != value:
            result[key] = value
            changes[key] = value
    return result, changes


def sync_taints(
    desired: Sequence[Taint], current: Sequence[Taint], last_applied: Sequence[Taint]
) -> tuple[tuple[Taint, ...], bool]:
    """(new taints, changed?) keyed by ``(key, effect)``; see the module docstring."""
    wanted = {(t.key, t.effect): t for t in desired}
    dropped = {(t.key, t.effect) for t in last_applied} - wanted.keys()
    result: list[Taint] = []
    seen: set[tuple[str, str]] = set()
    changed = False
    for taint in current:
        pair = (taint.key, taint.effect)
        if pair in dropped:
            changed = True
            continue
        if pair in wanted:
            if pair in seen:
                changed = True
                continue  # a duplicate (key, effect) on the node collapses into the template's
            seen.add(pair)
            if wanted[pair] != taint:
                changed = True
            result.append(wanted[pair])
            continue
        result.append(taint)
    for pair, taint in wanted.items():
        if pair not in seen:
            result.append(taint)
            changed = True
    return tuple(result), changed


def sync_virtual_capacity(
    desired: Mapping[str, str], capacity: Mapping[str, str], last_applied: Mapping[str, str]
) -> dict[str, str | None]:
    """The changes to ``status.capacity``: resource -> quantity, or None to remove it."""
    changes: dict[str, str | None] = {}
    for resource in last_applied:
        if resource not in desired and resource in capacity:
            changes[resource] = None
    for resource, quantity in desired.items():
        present = capacity.get(resource)
        if present is None or not quantities_equal(present, quantity):
            changes[resource] = quantity
    return changes


# -------------------------------------------------------------------------------------- steps


def _node_of(ctx: MachineControllerContext, machine: Machine) -> Node | Step | None:
    """The machine's Node, None if it does not exist, or a Step when it cannot be read."""
    assert ctx.nodes is not None, "node sync needs a target cluster"  # noqa: S101
    try:
        return ctx.nodes.get(machine.node_name)
    except ApiError as error:
        logger.warning(
            "machine %s: reading node %s: %s", machine.metadata.name, machine.node_name, error
        )
        return Step(SHORT_RETRY, f"could not fetch node object: {error}")


def _failed_write(machine: Machine, what: str, error: ApiError) -> Step:
    logger.warning("machine %s: %s failed: %s", machine.metadata.name, what, error)
    retry = CONFLICT_RETRY if isinstance(error, ConflictError) else SHORT_RETRY
    return Step(retry, f"{what} failed: {error}")


def sync_machine_name_to_node(ctx: MachineControllerContext, machine: Machine) -> Step:
    """Label the machine's Node with ``node.gardener.cloud/machine-name=<machine>``."""
    assert ctx.target is not None  # noqa: S101
    node = _node_of(ctx, machine)
    if isinstance(node, Step):
        return node
    if node is None or node.metadata.labels.get(MACHINE_LABEL_KEY) == machine.metadata.name:
        return Step(LONG_RETRY)
    try:
        ctx.target.patch(
            NODES, node.metadata.name, labels_patch(set={MACHINE_LABEL_KEY: machine.metadata.name})
        )
    except ApiError as error:
        return _failed_write(machine, f"labelling node {node.metadata.name}", error)
    logger.info("labelled node %s with machine %s", node.metadata.name, machine.metadata.name)
    return Step(LONG_RETRY)


def _last_applied(node: Node) -> tuple[NodeTemplateSpec, dict[str, str]]:
    """The last-applied template and virtual capacity; `ValueError` if unparseable."""
    annotations = node.metadata.annotations
    template = NodeTemplateSpec()
    capacity: dict[str, str] = {}
    text = annotations.get(LAST_APPLIED_ALT_ANNOTATION)
    if text is not None:
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError(f"{LAST_APPLIED_ALT_ANNOTATION} is not a JSON object")
        template = NodeTemplateSpec.from_dict(parsed)
    text = annotations.get(LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION)
    if text is not None:
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError(f"{LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION} is not a JSON object")
        capacity = {str(k): str(v) for k, v in parsed.items()}
    return template, capacity


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def sync_node_templates(
    ctx: MachineControllerContext, machine: Machine, machine_class: MachineClass | None
) -> Step:
    """Apply the machine's node template and the class's virtual capacity to its Node."""
    assert ctx.target is not None  # noqa: S101
    node = _node_of(ctx, machine)
    if isinstance(node, Step):
        return node
    if node is None:
        return Step(LONG_RETRY)
    try:
        last_template, last_capacity = _last_applied(node)
    except ValueError as error:
        logger.warning(
            "node %s: last-applied annotations unreadable: %s", node.metadata.name, error
        )
        return Step(SHORT_RETRY, f"reading last-applied annotations of node failed: {error}")

    template = machine.spec.node_template
    annotations_missing = not node.metadata.annotations
    _, label_changes = sync_string_map(
        template.metadata.labels, node.metadata.labels, last_template.metadata.labels
    )
    _, annotation_changes = sync_string_map(
        template.metadata.annotations,
        node.metadata.annotations,
        last_template.metadata.annotations,
    )
    taints, taints_changed = sync_taints(
        template.spec.taints, node.spec.taints, last_template.spec.taints
    )
    desired_capacity: Mapping[str, str] = {}
    capacity_changes: dict[str, str | None] = {}
    if machine_class is not None and machine_class.node_template is not None:
        desired_capacity = machine_class.node_template.virtual_capacity
        capacity_changes = sync_virtual_capacity(
            desired_capacity, node.status.capacity, last_capacity
        )
    template_changed = bool(label_changes or annotation_changes or taints_changed)
    if not (annotations_missing or template_changed or capacity_changes):
        return Step(LONG_RETRY)

    name = node.metadata.name
    resource_version = node.metadata.resource_version
    metadata: dict[str, Any] = {}
    annotations: dict[str, str | None] = dict(annotation_changes)
    if annotations_missing or template_changed:
        annotations[LAST_APPLIED_ALT_ANNOTATION] = _json(thaw(template.raw) or {})
    if capacity_changes:
        try:
            written = ctx.target.patch_status(
                NODES,
                name,
                {
                    "metadata": {"resourceVersion": resource_version},
                    "status": {"capacity": capacity_changes},
                },
            )
        except ApiError as error:
            return _failed_write(machine, f"updating capacity of node {name}", error)
        resource_version = Node.from_dict(written).metadata.resource_version
        if desired_capacity:
            annotations[LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION] = _json(dict(desired_capacity))
        elif LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION in node.metadata.annotations:
            annotations[LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION] = None
    metadata["resourceVersion"] = resource_version
    if label_changes:
        metadata["labels"] = label_changes
    if annotations:
        metadata["annotations"] = annotations
    patch: dict[str, Any] = {"metadata": metadata}
    if taints_changed:
        patch["spec"] = {"taints": [taint.to_dict() for taint in taints]}
    try:
        ctx.target.patch(NODES, name, patch)
    except ApiError as error:
        return _failed_write(machine, f"updating node {name}", error)
    logger.info(
        "node %s of machine %s: applied node template (labels %s, annotations %s, taints %s,"
        " virtual capacity %s)",
        name,
        machine.metadata.name,
        bool(label_changes),
        bool(annotation_changes),
        taints_changed,
        bool(capacity_changes),
    )
    return Step(SHORT_RETRY, ALTS_RECONCILED)

"""Node sync: machine-name label, node template, virtual capacity (§3.5; scenarios 36-39)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcm.api.constants import (
    CONFLICT_RETRY,
    LAST_APPLIED_ALT_ANNOTATION,
    LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION,
    LONG_RETRY,
    MACHINE_LABEL_KEY,
    SHORT_RETRY,
)
from mcm.api.core import Node, Taint
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.controller.nodesync import (
    ALTS_RECONCILED,
    quantities_equal,
    sync_machine_name_to_node,
    sync_node_templates,
    sync_string_map,
    sync_taints,
    sync_virtual_capacity,
)
from mcm.errors import ConflictError
from mcm.kube import resources
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import Verb
from tests.unit.machine.builders import (
    env_with_class,
    machine,
    machine_class,
    node,
    node_template,
    stored_node,
    taint,
    target,
)

# ------------------------------------------------------------------------- labels/annotations


@pytest.mark.parametrize(
    ("desired", "current", "last", "expected", "changes"),
    [
        pytest.param(
            {"a": "1"}, {"a": "1"}, {"a": "1"}, {"a": "1"}, {}, id="unchanged"
        ),
        pytest.param(
            {"a": "2"}, {"a": "1"}, {"a": "1"}, {"a": "2"}, {"a": "2"}, id="value-updated"
        ),
        pytest.param(
            {"a": "1", "b": "2"}, {"a": "1"}, {"a": "1"}, {"a": "1", "b": "2"}, {"b": "2"},
            id="key-added",
        ),
        pytest.param(
            {"a": "1"}, {"a": "1", "b": "2"}, {"a": "1", "b": "2"}, {"a": "1"}, {"b": None},
            id="key-deleted-from-machine",
        ),
        pytest.param(
            {"a": "1"}, {"a": "manual"}, {"a": "1"}, {"a": "1"}, {"a": "1"},
            id="manual-change-overwritten",
        ),
        pytest.param(
            {"a": "1"}, {"a": "1", "extra": "x"}, {"a": "1"}, {"a": "1", "extra": "x"}, {},
            id="extra-node-keys-kept",
        ),
        pytest.param(
            {"a": "1", "b": "2"}, {"a": "1"}, {"a": "1", "b": "2"}, {"a": "1", "b": "2"},
            {"b": "2"}, id="manually-deleted-key-restored",
        ),
    ],
)  # fmt: skip
def test_sync_labels_and_annotations(desired, current, last, expected, changes) -> None:
    result, computed = sync_string_map(desired, current, last)

    assert result == expected
    assert computed == changes


# ------------------------------------------------------------------------------------- taints


def taints(*specs: tuple[str, ...]) -> tuple[Taint, ...]:
    return tuple(Taint.from_dict(taint(*spec)) for spec in specs)


@pytest.mark.parametrize(
    ("desired", "current", "last", "expected", "changed"),
    [
        pytest.param(
            taints(("a", "NoSchedule")), taints(("a", "NoSchedule")), taints(("a", "NoSchedule")),
            taints(("a", "NoSchedule")), False, id="unchanged",
        ),
        pytest.param(
            taints(("a", "NoSchedule", "v2")), taints(("a", "NoSchedule", "v1")),
            taints(("a", "NoSchedule", "v1")), taints(("a", "NoSchedule", "v2")), True,
            id="value-updated",
        ),
        pytest.param(
            taints(("a", "NoSchedule"), ("b", "NoExecute")), taints(("a", "NoSchedule")),
            taints(("a", "NoSchedule")), taints(("a", "NoSchedule"), ("b", "NoExecute")), True,
            id="taint-added",
        ),
        pytest.param(
            taints(), taints(("a", "NoSchedule")), taints(("a", "NoSchedule")), taints(), True,
            id="taint-deleted-from-machine",
        ),
        pytest.param(
            taints(("a", "NoSchedule")), taints(("a", "NoSchedule"), ("user", "NoSchedule")),
            taints(("a", "NoSchedule")), taints(("a", "NoSchedule"), ("user", "NoSchedule")),
            False, id="extra-node-taints-kept",
        ),
        pytest.param(
            taints(("a", "NoSchedule")), taints(), taints(("a", "NoSchedule")),
            taints(("a", "NoSchedule")), True, id="manually-deleted-taint-restored",
        ),
        pytest.param(
            taints(("a", "NoSchedule", "v"), ("a", "NoExecute", "v")),
            taints(("a", "NoSchedule", "v")), taints(("a", "NoSchedule", "v")),
            taints(("a", "NoSchedule", "v"), ("a", "NoExecute", "v")), True,
            id="same-key-different-effect-added",
        ),
        pytest.param(
            taints(("a", "NoSchedule", "v")),
            taints(("a", "NoSchedule", "v"), ("a", "NoExecute", "v")),
            taints(("a", "NoSchedule", "v"), ("a", "NoExecute", "v")),
            taints(("a", "NoSchedule", "v")), True, id="same-key-different-effect-removed",
        ),
    ],
)  # fmt: skip
def test_sync_taints(desired, current, last, expected, changed) -> None:
    result, computed = sync_taints(desired, current, last)

    assert result == expected
    assert computed is changed


# ---------------------------------------------------------------------------- virtual capacity


@pytest.mark.parametrize(
    ("desired", "capacity", "last", "changes"),
    [
        pytest.param({"hc/x": "1"}, {"cpu": "2", "hc/x": "1"}, {"hc/x": "1"}, {}, id="unchanged"),
        pytest.param(
            {"hc/x": "2"}, {"hc/x": "1"}, {"hc/x": "1"}, {"hc/x": "2"}, id="value-changed"
        ),
        pytest.param({"hc/x": "1", "hc/y": "3"}, {"hc/x": "1"}, {"hc/x": "1"}, {"hc/y": "3"},
                     id="keys-added"),
        pytest.param({}, {"cpu": "2", "hc/x": "1"}, {"hc/x": "1"}, {"hc/x": None},
                     id="keys-deleted"),
        pytest.param({"hc/x": "1Gi"}, {"hc/x": "1024Mi"}, {"hc/x": "1Gi"}, {},
                     id="equal-quantities-differently-written"),
    ],
)  # fmt: skip
def test_sync_virtual_capacity(desired, capacity, last, changes) -> None:
    assert sync_virtual_capacity(desired, capacity, last) == changes


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1", "1000m", True),
        ("1Gi", "1073741824", True),
        ("1k", "1000", True),
        ("1e3", "1k", True),
        ("2", "1", False),
        ("junk", "junk", True),
        ("junk", "1", False),
    ],
)
def test_quantities_compare_by_value(a, b, equal) -> None:
    assert quantities_equal(a, b) is equal


# -------------------------------------------------------------------------------- node writes


TEMPLATE = {
    "metadata": {"labels": {"role": "worker"}, "annotations": {"team": "a"}},
    "spec": {"taints": [taint("dedicated", "NoSchedule", "gpu")]},
}


def world(
    template: dict[str, Any] | None = None,
    *,
    node_body: dict[str, Any] | None = None,
    class_body: dict[str, Any] | None = None,
    with_node: bool = True,
) -> tuple[ControllerEnv, Machine, MachineClass]:
    env = env_with_class(class_body=class_body)
    spec = {"nodeTemplate": template} if template is not None else {}
    body = machine(provider_id="fake:///m", node="machine-0", phase="Running", spec=spec)
    env.control.seed(resources.MACHINES, body)
    if with_node:
        target(env).seed(resources.NODES, node_body or node("machine-0"))
    cls = MachineClass.from_dict(class_body or machine_class())
    return env, Machine.from_dict(body), cls


def test_changed_template_updates_the_node_and_records_the_last_applied_template() -> None:
    env, m, cls = world(TEMPLATE)

    step = sync_node_templates(env.context, m, cls)

    stored = Node.from_dict(stored_node(env))
    assert step.retry_after == SHORT_RETRY
    assert step.done == ALTS_RECONCILED
    assert stored.metadata.labels["role"] == "worker"
    assert stored.metadata.annotations["team"] == "a"
    assert [(t.key, t.value, t.effect) for t in stored.spec.taints] == [
        ("dedicated", "gpu", "NoSchedule")
    ]
    assert json.loads(stored.metadata.annotations[LAST_APPLIED_ALT_ANNOTATION]) == TEMPLATE


def test_unchanged_template_does_not_touch_the_node() -> None:
    env, m, cls = world(TEMPLATE)
    sync_node_templates(env.context, m, cls)
    target(env).clear_actions()

    step = sync_node_templates(env.context, m, cls)

    assert step.retry_after == LONG_RETRY
    assert step.done is None
    assert target(env).actions_for(resource=resources.NODES, reads=False) == []


def test_template_key_removed_from_the_machine_is_removed_from_the_node() -> None:
    env, m, cls = world(TEMPLATE)
    sync_node_templates(env.context, m, cls)
    smaller: dict[str, Any] = {"metadata": {"labels": {}}, "spec": {}}
    body = machine(provider_id="fake:///m", node="machine-0", spec={"nodeTemplate": smaller})

    sync_node_templates(env.context, Machine.from_dict(body), cls)

    stored = Node.from_dict(stored_node(env))
    assert "role" not in stored.metadata.labels
    assert "team" not in stored.metadata.annotations
    assert stored.spec.taints == ()


def test_missing_node_is_skipped() -> None:
    env, m, cls = world(TEMPLATE, with_node=False)

    assert sync_node_templates(env.context, m, cls).retry_after == LONG_RETRY
    assert sync_machine_name_to_node(env.context, m).retry_after == LONG_RETRY


def test_multiple_taints_with_the_same_key_and_value_but_different_effects_are_kept() -> None:
    template = {
        "spec": {
            "taints": [taint("k", "NoSchedule", "v"), taint("k", "NoExecute", "v")],
        }
    }
    env, m, cls = world(template)

    sync_node_templates(env.context, m, cls)

    stored = Node.from_dict(stored_node(env))
    assert sorted((t.key, t.effect) for t in stored.spec.taints) == [
        ("k", "NoExecute"),
        ("k", "NoSchedule"),
    ]


def test_node_without_annotations_gets_the_last_applied_annotation() -> None:
    env, m, cls = world(None)

    step = sync_node_templates(env.context, m, cls)

    assert step.done == ALTS_RECONCILED
    assert LAST_APPLIED_ALT_ANNOTATION in stored_node(env)["metadata"]["annotations"]


def test_unparseable_last_applied_annotation_retries_soon() -> None:
    env, m, cls = world(
        TEMPLATE, node_body=node("machine-0", annotations={LAST_APPLIED_ALT_ANNOTATION: "{nope"})
    )

    step = sync_node_templates(env.context, m, cls)

    assert step.retry_after == SHORT_RETRY
    assert step.ends_pass


def test_virtual_capacity_is_synced_into_the_node_status() -> None:
    class_body = machine_class(node_template=node_template(virtualCapacity={"hc.io/slots": "4"}))
    env, m, cls = world(
        None,
        class_body=class_body,
        node_body=node("machine-0", annotations={}, capacity={"cpu": "2"}),
    )

    sync_node_templates(env.context, m, cls)

    stored = stored_node(env)
    assert stored["status"]["capacity"] == {"cpu": "2", "hc.io/slots": "4"}
    assert json.loads(
        stored["metadata"]["annotations"][LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION]
    ) == {"hc.io/slots": "4"}
    status_writes = target(env).actions_for(Verb.PATCH, resources.NODES, subresource="status")
    assert len(status_writes) == 1


def test_virtual_capacity_removed_from_the_class_is_removed_from_the_node() -> None:
    class_body = machine_class(node_template=node_template())
    env, m, cls = world(
        None,
        class_body=class_body,
        node_body=node(
            "machine-0",
            annotations={
                LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION: '{"hc.io/slots":"4"}',
                LAST_APPLIED_ALT_ANNOTATION: "{}",
            },
            capacity={"cpu": "2", "hc.io/slots": "4"},
        ),
    )

    sync_node_templates(env.context, m, cls)

    stored = stored_node(env)
    assert stored["status"]["capacity"] == {"cpu": "2"}
    assert LAST_APPLIED_VIRTUAL_CAPACITY_ANNOTATION not in stored["metadata"]["annotations"]


def test_node_write_conflict_retries_after_the_conflict_retry() -> None:
    env, m, cls = world(TEMPLATE)
    target(env).fail_next(Verb.PATCH, resources.NODES, error=ConflictError("stale"))

    step = sync_node_templates(env.context, m, cls)

    assert step.retry_after == CONFLICT_RETRY


def test_machine_name_label_is_put_on_the_node() -> None:
    env, m, _ = world(None)

    step = sync_machine_name_to_node(env.context, m)

    assert step.retry_after == LONG_RETRY
    assert not step.ends_pass
    assert stored_node(env)["metadata"]["labels"][MACHINE_LABEL_KEY] == "machine-0"


def test_machine_name_label_write_failure_ends_the_pass() -> None:
    env, m, _ = world(None)
    target(env).fail_next(Verb.PATCH, resources.NODES, error=ConflictError("stale"))

    step = sync_machine_name_to_node(env.context, m)

    assert step.retry_after == CONFLICT_RETRY
    assert step.ends_pass

"""Informer event routing of the machine controller (§3.1); safety triggers (scenario 50)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mcm.api.constants import (
    LABEL_CANDIDATE_FOR_UPDATE,
    LABEL_SELECTED_FOR_UPDATE,
    LABEL_UPDATE_RESULT,
    MEDIUM_RETRY,
    NODE_FINALIZER_NAME,
    NOT_MANAGED_BY_MCM,
    PRESERVE_MACHINE_ANNOTATION_KEY,
    TAINT_CRITICAL_COMPONENTS_NOT_READY,
)
from mcm.api.core import Node, NodeCondition, Secret
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey
from mcm.cache import DeletedFinalStateUnknown
from mcm.controller import handlers, health
from mcm.kube.resources import MACHINES
from mcm.testing.controller_env import ControllerEnv
from tests.unit.machine_side.builders import (
    CLASS,
    NAMESPACE,
    SECRET,
    condition,
    machine,
    machine_class,
    node,
    parsed,
    secret,
    taint,
)

MACHINE_KEY = ObjectKey(NAMESPACE, "machine-1")
NODE_KEY = ObjectKey("", "node-1")
CLASS_KEY = ObjectKey(NAMESPACE, CLASS)
SECRET_KEY = ObjectKey(NAMESPACE, SECRET)

OUT_OF_RANGE = (
    "Cloud provider message - machine codes error: code = [OutOfRange] message = [AWS plugin is"
    " returning multiple VM instances backing this machine object. IDs for all backing VMs -"
    " [i-1234abcd i-5678efgh]]"
)
NOT_FOUND = OUT_OF_RANGE.replace("OutOfRange", "NotFound")

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def env() -> ControllerEnv:
    return ControllerEnv()


def m(**kwargs: Any) -> Machine:
    return parsed(Machine, machine(**kwargs))


def routed(env: ControllerEnv) -> list[tuple[str, ObjectKey, float]]:
    return [(e.queue, e.key, e.delay) for e in env.enqueued]


# --------------------------------------------------------------------------------------- Machines


def test_an_added_machine_goes_to_the_machine_queue_and_its_class_to_the_class_queue(
    env: ControllerEnv,
) -> None:
    handlers.on_machine_add(env.context, m())

    assert routed(env) == [("machine", MACHINE_KEY, 0.0), ("machineclass", CLASS_KEY, 0.0)]


def test_an_added_machine_being_deleted_goes_to_the_termination_queue(env: ControllerEnv) -> None:
    handlers.on_machine_add(env.context, m(deleting=True, finalizers=["f"]))

    assert [e.queue for e in env.enqueued] == ["termination", "machineclass"]


def test_a_deleting_machine_in_its_creation_flow_stays_on_the_machine_queue(
    env: ControllerEnv,
) -> None:
    env.context.pending_creations.add(MACHINE_KEY)

    handlers.on_machine_add(env.context, m(deleting=True, finalizers=["f"]))

    assert [e.queue for e in env.enqueued] == ["machine", "machineclass"]


def test_an_added_machine_of_another_class_kind_enqueues_no_class(env: ControllerEnv) -> None:
    handlers.on_machine_add(env.context, m(class_kind="AWSMachineClass"))

    assert [e.queue for e in env.enqueued] == ["machine"]


@pytest.mark.parametrize(
    ("old", "new", "queue"),
    [
        pytest.param(
            {"generation": 1},
            {"generation": 1, "phase": "Running", "labels": {"a": "b"}},
            None,
            id="status and labels only: ignored",
        ),
        pytest.param({"generation": 1}, {"generation": 2}, "machine", id="spec changed"),
        pytest.param(
            {"generation": 1},
            {"generation": 2, "deleting": True, "finalizers": ["f"]},
            "termination",
            id="deletion started",
        ),
        pytest.param(
            {"generation": 1},
            {"generation": 1, "annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "now"}},
            "machine",
            id="preserve annotation added",
        ),
        pytest.param(
            {"generation": 1, "annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "now"}},
            {"generation": 1, "annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "false"}},
            "machine",
            id="preserve annotation changed",
        ),
        pytest.param(
            {
                "generation": 1,
                "phase": "Running",
                "annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "when-failed"},
            },
            {
                "generation": 1,
                "phase": "Failed",
                "annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "when-failed"},
            },
            "machine",
            id="phase changed on a preserve-annotated machine",
        ),
        pytest.param(
            {"generation": 1, "phase": "Running"},
            {"generation": 1, "phase": "Failed"},
            None,
            id="phase changed without preserve annotation: ignored",
        ),
    ],
)
def test_machine_updates_are_routed_by_what_changed(
    env: ControllerEnv, old: dict[str, Any], new: dict[str, Any], queue: str | None
) -> None:
    handlers.on_machine_update(env.context, m(**old), m(**new))

    assert [e.queue for e in env.enqueued] == ([queue] if queue else [])
    assert env.orphan_checks == 0


def test_a_deleted_machine_goes_to_the_termination_queue_and_triggers_an_orphan_check(
    env: ControllerEnv,
) -> None:
    """Scenario 50: the delete event enqueues the orphan-VM key."""
    handlers.on_machine_delete(env.context, m())

    assert routed(env) == [("termination", MACHINE_KEY, 0.0), ("machineclass", CLASS_KEY, 0.0)]
    assert env.orphan_checks == 1


@pytest.mark.parametrize(
    "last_state",
    [pytest.param(True, id="with last state"), pytest.param(False, id="last state unknown")],
)
def test_a_missed_machine_deletion_is_handled_like_a_deletion(
    env: ControllerEnv, last_state: bool
) -> None:
    tombstone = DeletedFinalStateUnknown(MACHINE_KEY, m() if last_state else None)

    handlers.on_machine_delete(env.context, tombstone)

    assert routed(env)[0] == ("termination", MACHINE_KEY, 0.0)
    assert ("machineclass" in [e.queue for e in env.enqueued]) is last_state
    assert env.orphan_checks == 1


@pytest.mark.parametrize(
    ("old_description", "new_description", "orphan_check"),
    [
        pytest.param("", "", False, id="no OutOfRange"),
        pytest.param("", NOT_FOUND, False, id="another error code"),
        pytest.param("", OUT_OF_RANGE, True, id="OutOfRange newly in the description"),
        pytest.param(
            OUT_OF_RANGE, "Machine abc successfully joined the cluster", False, id="OutOfRange gone"
        ),
        pytest.param(OUT_OF_RANGE, OUT_OF_RANGE, False, id="OutOfRange already there"),
    ],
)
def test_a_new_out_of_range_description_triggers_an_orphan_check(
    env: ControllerEnv, old_description: str, new_description: str, orphan_check: bool
) -> None:
    """Scenario 50: only a description that newly contains OutOfRange asks for a collection."""
    handlers.on_machine_update(
        env.context, m(description=old_description), m(description=new_description)
    )

    assert env.orphan_checks == (1 if orphan_check else 0)


# ------------------------------------------------------------------------------------------ Nodes


def n(**kwargs: Any) -> Node:
    return parsed(Node, node(**kwargs))


READY = condition("Ready", "True")
NOT_READY = condition("Ready", "False")


@pytest.fixture
def claimed(env: ControllerEnv) -> ControllerEnv:
    """One Running machine claiming node-1, with the node's conditions already copied."""
    env.control.seed(MACHINES, machine(node="node-1", phase="Running", conditions=[READY]))
    return env


def test_an_added_node_goes_to_the_node_queue(env: ControllerEnv) -> None:
    handlers.on_node_add(env.context, n())

    assert routed(env) == [("node", NODE_KEY, 0.0)]


def test_nodes_not_managed_by_mcm_are_ignored(claimed: ControllerEnv) -> None:
    ignored = {NOT_MANAGED_BY_MCM: "1"}
    handlers.on_node_add(claimed.context, n(annotations=ignored))
    handlers.on_node_update(
        claimed.context, n(), n(annotations=ignored, deleting=True, conditions=[NOT_READY])
    )
    handlers.on_node_delete(claimed.context, n(annotations=ignored))

    assert claimed.enqueued == []
    assert claimed.control.actions_for("delete", MACHINES) == []


def test_a_node_update_without_its_finalizer_requeues_the_node_later(
    claimed: ControllerEnv,
) -> None:
    handlers.on_node_update(claimed.context, n(conditions=[READY]), n(conditions=[READY]))

    assert routed(claimed) == [("node", NODE_KEY, MEDIUM_RETRY)]


def test_a_node_being_deleted_is_sent_to_the_node_queue_only(claimed: ControllerEnv) -> None:
    handlers.on_node_update(
        claimed.context,
        n(finalizers=[NODE_FINALIZER_NAME]),
        n(finalizers=[NODE_FINALIZER_NAME], deleting=True, conditions=[NOT_READY]),
    )

    assert routed(claimed) == [("node", NODE_KEY, 0.0)]


def test_updates_of_a_node_no_single_machine_claims_are_ignored(env: ControllerEnv) -> None:
    env.control.seed(MACHINES, machine("m1", node="node-1"), machine("m2", node="node-1"))
    handlers.on_node_update(env.context, n(), n(conditions=[NOT_READY], deleting=True))
    handlers.on_node_update(env.context, n(name="node-2"), n(name="node-2", deleting=True))

    assert env.enqueued == []


FIN = {"finalizers": [NODE_FINALIZER_NAME], "conditions": [READY]}


@pytest.mark.parametrize(
    ("old", "new", "enqueued"),
    [
        pytest.param({}, {}, False, id="nothing changed"),
        pytest.param(
            {},
            {"taints": [taint(TAINT_CRITICAL_COMPONENTS_NOT_READY)]},
            True,
            id="essential taint added",
        ),
        pytest.param(
            {"taints": [taint(TAINT_CRITICAL_COMPONENTS_NOT_READY)]},
            {},
            True,
            id="essential taint removed",
        ),
        pytest.param(
            {"taints": [taint(TAINT_CRITICAL_COMPONENTS_NOT_READY)]},
            {"taints": [taint(TAINT_CRITICAL_COMPONENTS_NOT_READY, "NoExecute")]},
            False,
            id="essential taint changed effect only",
        ),
        pytest.param({}, {"taints": [taint("other")]}, False, id="other taint added"),
        pytest.param(
            {}, {"labels": {LABEL_CANDIDATE_FOR_UPDATE: "true"}}, True, id="candidate label added"
        ),
        pytest.param(
            {}, {"labels": {LABEL_SELECTED_FOR_UPDATE: "true"}}, True, id="selected label added"
        ),
        pytest.param(
            {"labels": {LABEL_SELECTED_FOR_UPDATE: "true"}},
            {},
            False,
            id="selected label removed",
        ),
        pytest.param(
            {"labels": {LABEL_UPDATE_RESULT: "failed"}},
            {"labels": {LABEL_UPDATE_RESULT: "successful"}},
            True,
            id="update result changed",
        ),
        pytest.param(
            {"labels": {LABEL_UPDATE_RESULT: "failed"}},
            {"labels": {LABEL_UPDATE_RESULT: "failed"}},
            False,
            id="update result unchanged",
        ),
        pytest.param(
            {}, {"conditions": [NOT_READY]}, True, id="conditions differ from the machine's"
        ),
        pytest.param(
            {},
            {"conditions": [READY, condition("DiskPressure", "False")]},
            True,
            id="condition added",
        ),
        pytest.param(
            {},
            {"annotations": {PRESERVE_MACHINE_ANNOTATION_KEY: "now"}},
            True,
            id="preserve annotation added",
        ),
    ],
)
def test_node_updates_enqueue_the_machine_when_they_matter_to_it(
    claimed: ControllerEnv, old: dict[str, Any], new: dict[str, Any], enqueued: bool
) -> None:
    handlers.on_node_update(claimed.context, n(**{**FIN, **old}), n(**{**FIN, **new}))

    assert routed(claimed) == ([("machine", MACHINE_KEY, 0.0)] if enqueued else [])


@pytest.mark.parametrize("phase", ["CrashLoopBackOff", "Terminating"])
def test_condition_changes_do_not_enqueue_crash_looping_or_terminating_machines(
    env: ControllerEnv, phase: str
) -> None:
    env.control.seed(MACHINES, machine(node="node-1", phase=phase, conditions=[READY]))

    handlers.on_node_update(env.context, n(**FIN), n(**{**FIN, "conditions": [NOT_READY]}))

    assert env.enqueued == []


@pytest.mark.parametrize(
    ("machine_conditions", "node_conditions", "changed"),
    [
        pytest.param([], [], False, id="both empty"),
        pytest.param([READY], [READY], False, id="equal"),
        pytest.param(
            [condition("Ready", "True", reason="a")],
            [condition("Ready", "True", reason="b")],
            False,
            id="reason differs",
        ),
        pytest.param([READY], [NOT_READY], True, id="status differs"),
        pytest.param([READY], [], True, id="condition removed"),
        pytest.param(
            [condition("InPlaceUpdate", "True", reason="CandidateForUpdate")],
            [condition("InPlaceUpdate", "True", reason="SelectedForUpdate")],
            True,
            id="in-place reason differs",
        ),
    ],
)
def test_node_conditions_changed_compares_type_status_and_in_place_reason(
    machine_conditions: list[Mapping[str, Any]],
    node_conditions: list[Mapping[str, Any]],
    changed: bool,
) -> None:
    old = [NodeCondition.from_dict(c) for c in machine_conditions]
    new = [NodeCondition.from_dict(c) for c in node_conditions]

    assert health.node_conditions_changed(old, new) is changed


def test_a_node_deletion_seen_only_as_a_tombstone_without_state_is_ignored(
    claimed: ControllerEnv,
) -> None:
    handlers.on_node_delete(claimed.context, DeletedFinalStateUnknown(NODE_KEY, None))

    assert claimed.control.actions_for("delete", MACHINES) == []


def test_a_failed_machine_deletion_on_a_node_delete_event_is_only_logged(
    env: ControllerEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env.control.seed(MACHINES, machine("m1", node="node-1"), machine("m2", node="node-1"))

    handlers.on_node_delete(env.context, n())

    assert "deleting its machine failed" in caplog.text
    assert env.control.actions_for("delete", MACHINES) == []


# --------------------------------------------------------------------------- classes and secrets


def mc(**kwargs: Any) -> MachineClass:
    return parsed(MachineClass, machine_class(**kwargs))


def test_an_added_class_enqueues_itself_and_both_its_secrets(env: ControllerEnv) -> None:
    handlers.on_machine_class_add(env.context, mc(credentials="creds"))

    assert routed(env) == [
        ("machineclass", CLASS_KEY, 0.0),
        ("secret", SECRET_KEY, 0.0),
        ("secret", ObjectKey(NAMESPACE, "creds"), 0.0),
    ]


def test_a_class_with_only_a_credentials_secret_enqueues_it(env: ControllerEnv) -> None:
    handlers.on_machine_class_add(env.context, mc(secret=None, credentials="creds"))

    assert ("secret", ObjectKey(NAMESPACE, "creds"), 0.0) in routed(env)


@pytest.mark.parametrize(
    ("old", "new", "secrets"),
    [
        pytest.param({}, {}, [], id="refs unchanged"),
        pytest.param({}, {"secret": "new"}, [SECRET, "new"], id="secretRef changed"),
        pytest.param({"secret": None}, {}, [SECRET], id="secretRef added"),
        pytest.param({}, {"credentials": "creds"}, ["creds"], id="credentials ref added"),
        pytest.param({"credentials": "creds"}, {}, ["creds"], id="credentials ref removed"),
    ],
)
def test_a_class_update_enqueues_the_secrets_whose_references_changed(
    env: ControllerEnv, old: dict[str, Any], new: dict[str, Any], secrets: list[str]
) -> None:
    handlers.on_machine_class_update(env.context, mc(**old), mc(**new))

    assert [e.key for e in env.enqueued_on("machineclass")] == [CLASS_KEY]
    assert [e.key.name for e in env.enqueued_on("secret")] == secrets


def test_a_deleted_class_enqueues_itself_and_its_secrets(env: ControllerEnv) -> None:
    handlers.on_machine_class_delete(env.context, mc())
    handlers.on_machine_class_delete(env.context, DeletedFinalStateUnknown(CLASS_KEY, mc()))
    handlers.on_machine_class_delete(env.context, DeletedFinalStateUnknown(CLASS_KEY, None))

    assert [e.queue for e in env.enqueued] == [
        "machineclass",
        "secret",
        "machineclass",
        "secret",
        "machineclass",
    ]


def test_secret_adds_and_deletes_enqueue_the_secret(env: ControllerEnv) -> None:
    handlers.on_secret_add(env.context, parsed(Secret, secret()))
    handlers.on_secret_delete(env.context, DeletedFinalStateUnknown(SECRET_KEY, None))

    assert routed(env) == [("secret", SECRET_KEY, 0.0), ("secret", SECRET_KEY, 0.0)]


def test_the_handler_factories_route_informer_notifications(env: ControllerEnv) -> None:
    handlers.machine_event_handler(env.context).on_delete(m())
    handlers.node_event_handler(env.context).on_add(n())
    handlers.machine_class_event_handler(env.context).on_add(mc(secret=None))
    secret_handler = handlers.secret_event_handler(env.context)
    secret_handler.on_delete(DeletedFinalStateUnknown(SECRET_KEY, None))
    secret_handler.on_update(mc(), mc())  # type: ignore[arg-type]  # updates are not watched

    assert [e.queue for e in env.enqueued] == [
        "termination",
        "machineclass",
        "node",
        "machineclass",
        "secret",
    ]
    assert env.orphan_checks == 1

from __future__ import annotations

import datetime
from typing import Any

import pytest

from mcm.api.core import NodeAddress, NodeCondition
from mcm.api.machine import (
    CurrentStatus,
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineState,
)
from mcm.api.machineset import MachineSet, MachineSetCondition, MachineSetStatus
from mcm.api.meta import OwnerReference
from mcm.api.patches import (
    annotations_patch,
    create_merge_patch,
    current_status,
    finalizers_patch,
    json_pointer,
    labels_patch,
    last_operation,
    machine_status_patch,
    merge_patches,
    op_add,
    op_remove,
    op_replace,
    op_test,
    owner_reference,
    owner_references_patch,
    status_replace_patch,
)
from tests.unit.api.api_fixtures import machine, machine_set

NOW = datetime.datetime(2024, 6, 1, 12, 30, 45, 999999, tzinfo=datetime.UTC)


def test_last_operation_builds_a_stamped_operation() -> None:
    operation = last_operation(
        "Cloud provider message - boom",
        MachineState.FAILED,
        MachineOperationType.CREATE,
        now=NOW,
        error_code="ResourceExhausted",
    )

    assert operation == LastOperation(
        description="Cloud provider message - boom",
        error_code="ResourceExhausted",
        last_update_time=NOW,
        state=MachineState.FAILED,
        type=MachineOperationType.CREATE,
    )


def test_current_status_builds_a_phase_entered_now() -> None:
    assert current_status(MachinePhase.PENDING, now=NOW, timeout_active=True) == CurrentStatus(
        phase=MachinePhase.PENDING, timeout_active=True, last_update_time=NOW
    )


def test_machine_status_patch_replaces_current_status_and_last_operation_whole() -> None:
    patch = machine_status_patch(
        current_status=current_status(MachinePhase.PENDING, now=NOW, timeout_active=True),
        last_operation=last_operation(
            "Creating machine on cloud provider",
            MachineState.PROCESSING,
            MachineOperationType.CREATE,
            now=NOW,
        ),
    )

    assert patch == {
        "status": {
            "currentStatus": {
                "phase": "Pending",
                "timeoutActive": True,
                "lastUpdateTime": "2024-06-01T12:30:45Z",
                "preserveExpiryTime": None,
            },
            "lastOperation": {
                "description": "Creating machine on cloud provider",
                "errorCode": None,
                "lastUpdateTime": "2024-06-01T12:30:45Z",
                "state": "Processing",
                "type": "Create",
            },
        }
    }
    assert type(patch["status"]["currentStatus"]["phase"]) is str


def test_machine_status_patch_keeps_a_preserve_expiry_time_that_is_given() -> None:
    expiry = datetime.datetime(2024, 6, 5, tzinfo=datetime.UTC)

    patch = machine_status_patch(
        current_status=current_status(MachinePhase.FAILED, now=NOW, preserve_expiry_time=expiry)
    )

    assert patch == {
        "status": {
            "currentStatus": {
                "phase": "Failed",
                "timeoutActive": False,
                "lastUpdateTime": "2024-06-01T12:30:45Z",
                "preserveExpiryTime": "2024-06-05T00:00:00Z",
            }
        }
    }


def test_machine_status_patch_writes_conditions_addresses_and_state_only_when_given() -> None:
    condition = NodeCondition(type="Ready", status="True", reason="KubeletReady")

    patch = machine_status_patch(
        conditions=[condition],
        addresses=[NodeAddress(type="Hostname", address="m-1")],
        last_known_state="",
    )

    assert patch == {
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "Hostname", "address": "m-1"}],
            "lastKnownState": None,
        }
    }
    assert machine_status_patch(last_known_state="s") == {"status": {"lastKnownState": "s"}}
    assert machine_status_patch(conditions=()) == {"status": {"conditions": []}}
    assert machine_status_patch() == {"status": {}}


def test_machine_status_patch_copies_node_conditions_verbatim() -> None:
    node_conditions = Machine.from_dict(machine()).status.conditions

    patch = machine_status_patch(conditions=node_conditions)

    assert patch["status"]["conditions"] == machine()["status"]["conditions"]


def test_an_empty_phase_is_written_as_null() -> None:
    patch = machine_status_patch(current_status=CurrentStatus())

    assert patch["status"]["currentStatus"] == {
        "phase": None,
        "timeoutActive": False,
        "lastUpdateTime": None,
        "preserveExpiryTime": None,
    }


def test_labels_patch_sets_and_removes_labels() -> None:
    patch = labels_patch(set={"node": "node-a"}, remove=["force-deletion"])

    assert patch == {"metadata": {"labels": {"node": "node-a", "force-deletion": None}}}


def test_annotations_patch_sets_and_removes_annotations() -> None:
    patch = annotations_patch(
        set={"machinepriority.machine.sapcloud.io": "3"},
        remove=("node.machine.sapcloud.io/preserve",),
    )

    assert patch == {
        "metadata": {
            "annotations": {
                "machinepriority.machine.sapcloud.io": "3",
                "node.machine.sapcloud.io/preserve": None,
            }
        }
    }


def test_a_key_both_set_and_removed_is_refused() -> None:
    with pytest.raises(ValueError, match="both set and removed"):
        labels_patch(set={"a": "1"}, remove=["a"])


def test_finalizers_patch_adds_at_the_end_and_carries_the_resource_version() -> None:
    patch = finalizers_patch(
        ["other/finalizer"],
        add=["machine.sapcloud.io/machine-controller-manager"],
        resource_version="42",
    )

    assert patch == {
        "metadata": {
            "finalizers": ["other/finalizer", "machine.sapcloud.io/machine-controller-manager"],
            "resourceVersion": "42",
        }
    }


def test_finalizers_patch_removes_keeping_the_order_of_the_rest() -> None:
    patch = finalizers_patch(
        ["a", "machine.sapcloud.io/machine-controller-manager", "b"],
        remove=["machine.sapcloud.io/machine-controller-manager"],
        resource_version="7",
    )

    assert patch == {"metadata": {"finalizers": ["a", "b"], "resourceVersion": "7"}}


def test_finalizers_patch_does_not_duplicate_and_can_empty_the_list() -> None:
    assert finalizers_patch(["a"], add=["a"], resource_version="1") == {
        "metadata": {"finalizers": ["a"], "resourceVersion": "1"}
    }
    assert finalizers_patch(["a"], remove=["a"], resource_version="") == {
        "metadata": {"finalizers": []}
    }


def test_owner_reference_points_at_the_object_as_a_controller() -> None:
    owner = MachineSet.from_dict(machine_set())

    assert owner_reference(owner) == {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineSet",
        "name": "machine-set-a",
        "uid": "uid-machine-set-a",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert (
        owner_reference(owner, controller=False, block_owner_deletion=False)["controller"] is False
    )


def test_owner_references_patch_adopts_and_releases() -> None:
    owner = MachineSet.from_dict(machine_set())
    existing = [OwnerReference(api_version="v1", kind="Other", name="o", uid="uid-o")]

    adopt = owner_references_patch(
        existing, add=owner_reference(owner), uid="uid-machine", resource_version="9"
    )
    release = owner_references_patch(
        [*existing, OwnerReference.from_dict(owner_reference(owner))],
        remove_uid="uid-machine-set-a",
        uid="uid-machine",
        resource_version="10",
    )

    assert adopt == {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "uid-o"},
                owner_reference(owner),
            ],
            "uid": "uid-machine",
            "resourceVersion": "9",
        }
    }
    assert release == {
        "metadata": {
            "ownerReferences": [{"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "uid-o"}],
            "uid": "uid-machine",
            "resourceVersion": "10",
        }
    }


@pytest.mark.parametrize(
    ("original", "modified", "patch"),
    [
        pytest.param({"a": 1}, {"a": 1}, {}, id="equal"),
        pytest.param({"a": 1}, {"a": 2}, {"a": 2}, id="changed-scalar"),
        pytest.param({"a": 1, "b": 2}, {"a": 1}, {"b": None}, id="removed-key"),
        pytest.param({}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="added-object"),
        pytest.param(
            {"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {"a": {"c": 3}}, id="nested-diff"
        ),
        pytest.param({"a": [1, 2]}, {"a": [1]}, {"a": [1]}, id="lists-replaced-whole"),
        pytest.param({"a": {"b": 1}}, {"a": 5}, {"a": 5}, id="object-to-scalar"),
        pytest.param({"a": 1}, {"a": True}, {"a": True}, id="int-to-bool-differs"),
    ],
)
def test_create_merge_patch_diffs_json_documents(
    original: dict[str, Any], modified: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert create_merge_patch(original, modified) == patch


def test_status_replace_patch_nulls_what_the_new_status_lacks() -> None:
    current = MachineSet.from_dict(machine_set())
    new_status = MachineSetStatus(
        replicas=3,
        fully_labeled_replicas=3,
        ready_replicas=3,
        available_replicas=3,
        observed_generation=4,
        machine_set_condition=(MachineSetCondition(type="Frozen", status="True"),),
    )

    patch = status_replace_patch(current, new_status)

    assert patch == {
        "status": {
            "readyReplicas": 3,
            "availableReplicas": 3,
            "preservedFailedReplicas": None,
            "observedGeneration": 4,
            "machineSetCondition": [{"type": "Frozen", "status": "True"}],
            "lastOperation": None,
            "failedMachines": None,
            "autoPreserveFailedMachineCount": None,
        }
    }


def test_merge_patches_combines_labels_and_annotations() -> None:
    combined = merge_patches(
        labels_patch(set={"a": "1"}),
        annotations_patch(set={"b": "2"}),
        labels_patch(remove=["c"]),
    )

    assert combined == {"metadata": {"labels": {"a": "1", "c": None}, "annotations": {"b": "2"}}}


def test_json_patch_operations_escape_keys() -> None:
    path = json_pointer("metadata", "annotations", "node.machine.sapcloud.io/preserve")

    assert path == "/metadata/annotations/node.machine.sapcloud.io~1preserve"
    assert json_pointer("a~b", 0) == "/a~0b/0"
    assert [
        op_test("/metadata/resourceVersion", "5"),
        op_add(path, "now"),
        op_replace("/spec/replicas", 2),
        op_remove(path),
    ] == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
        {"op": "add", "path": path, "value": "now"},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "remove", "path": path},
    ]

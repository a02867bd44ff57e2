from typing import Any

import pytest

from mcm.kube.protocol import PatchType
from mcm.testing.patching import (
    MalformedPatchError,
    PatchError,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# --- RFC 7386 merge patch (examples from the RFC's appendix) --------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace-value"),
        pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add-key"),
        pytest.param({"a": "b"}, {"a": None}, {}, id="null-deletes"),
        pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="null-deletes-one"),
        pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="list-replaced-by-scalar"),
        pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="scalar-replaced-by-list"),
        pytest.param(
            {"a": {"b": "c"}},
            {"a": {"b": "d", "c": None}},
            {"a": {"b": "d"}},
            id="nested-merge",
        ),
        pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="lists-are-replaced"),
        pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
        pytest.param(
            {}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="nulls-in-new-objects"
        ),
    ],
)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_leaves_its_arguments_alone() -> None:
    target = {"a": {"b": 1}}
    patch = {"a": {"c": 2}}

    result = merge_patch(target, patch)
    result["a"]["d"] = 3

    assert target == {"a": {"b": 1}}
    assert patch == {"a": {"c": 2}}


# --- RFC 6902 JSON patch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            [{"op": "add", "path": "/b", "value": 2}], {"a": [1, 2], "b": 2}, id="add-key"
        ),
        pytest.param(
            [{"op": "add", "path": "/a/1", "value": 9}], {"a": [1, 9, 2]}, id="add-inserts-in-list"
        ),
        pytest.param(
            [{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3]}, id="add-appends"
        ),
        pytest.param([{"op": "remove", "path": "/a/0"}], {"a": [2]}, id="remove-list-item"),
        pytest.param([{"op": "replace", "path": "/a", "value": "x"}], {"a": "x"}, id="replace"),
        pytest.param(
            [{"op": "move", "from": "/a", "path": "/b"}], {"b": [1, 2]}, id="move-renames"
        ),
        pytest.param(
            [{"op": "copy", "from": "/a/0", "path": "/c"}], {"a": [1, 2], "c": 1}, id="copy"
        ),
        pytest.param(
            [{"op": "test", "path": "/a/1", "value": 2}], {"a": [1, 2]}, id="test-that-holds"
        ),
        pytest.param(
            [{"op": "add", "path": "/x~1y~0z", "value": 1}],
            {"a": [1, 2], "x/y~z": 1},
            id="pointer-escapes",
        ),
    ],
)
def test_json_patch_operations_follow_rfc_6902(
    operations: list[dict[str, Any]], expected: Any
) -> None:
    assert json_patch({"a": [1, 2]}, operations) == expected


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param([{"op": "test", "path": "/a", "value": [1]}], id="test-that-fails"),
        pytest.param([{"op": "test", "path": "/t", "value": 1}], id="true-is-not-one"),
        pytest.param([{"op": "remove", "path": "/missing"}], id="remove-missing"),
        pytest.param([{"op": "replace", "path": "/missing", "value": 1}], id="replace-missing"),
        pytest.param([{"op": "add", "path": "/a/5", "value": 1}], id="index-out-of-range"),
        pytest.param([{"op": "add", "path": "/a/01", "value": 1}], id="leading-zero-index"),
        pytest.param([{"op": "add", "path": "/no/such", "value": 1}], id="missing-parent"),
        pytest.param([{"op": "move", "from": "/a", "path": "/a/0"}], id="move-into-itself"),
    ],
)
def test_json_patch_failures_raise_patch_error(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": [1, 2], "t": True}, operations)


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param([{"op": "frobnicate", "path": "/a"}], id="unknown-op"),
        pytest.param([{"op": "add", "path": "/a"}], id="add-without-value"),
        pytest.param([{"op": "add", "path": "a", "value": 1}], id="path-not-a-pointer"),
        pytest.param(["add"], id="operation-not-an-object"),
    ],
)
def test_malformed_json_patches_raise_malformed_patch_error(operations: list[Any]) -> None:
    with pytest.raises(MalformedPatchError):
        json_patch({"a": 1}, operations)


def test_a_failing_json_patch_changes_nothing() -> None:
    target = {"a": 1}

    with pytest.raises(PatchError):
        json_patch(
            target, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/c"}]
        )

    assert target == {"a": 1}


# --- strategic merge patch (approximated) ---------------------------------------------------------


def test_strategic_merge_patch_merges_conditions_by_type() -> None:
    target = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "Starting"},
                {"type": "MemoryPressure", "status": "False"},
            ]
        }
    }
    patch = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": None},
                {"type": "DiskPressure", "status": "False"},
            ]
        }
    }

    result = strategic_merge_patch(target, patch)

    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "MemoryPressure", "status": "False"},
        {"type": "DiskPressure", "status": "False"},
    ]


def test_strategic_merge_patch_deletes_list_elements_by_merge_key() -> None:
    target = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b"}]}}
    patch = {"spec": {"taints": [{"key": "a", "$patch": "delete"}]}}

    result = strategic_merge_patch(target, patch)

    assert result == {"spec": {"taints": [{"key": "b"}]}}


def test_strategic_merge_patch_replace_directive_replaces_a_list() -> None:
    target = {"metadata": {"ownerReferences": [{"uid": "1"}, {"uid": "2"}]}}
    patch = {"metadata": {"ownerReferences": [{"$patch": "replace"}, {"uid": "3"}]}}

    result = strategic_merge_patch(target, patch)

    assert result == {"metadata": {"ownerReferences": [{"uid": "3"}]}}


def test_strategic_merge_patch_merges_finalizers_as_a_set() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}

    added = strategic_merge_patch(target, {"metadata": {"finalizers": ["b", "c"]}})
    removed = strategic_merge_patch(
        target, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )

    assert added == {"metadata": {"finalizers": ["a", "b", "c"]}}
    assert removed == {"metadata": {"finalizers": ["b"]}}


def test_strategic_merge_patch_replaces_lists_without_a_merge_key() -> None:
    target = {"spec": {"tolerations": [{"key": "a"}], "args": ["x"]}}

    result = strategic_merge_patch(target, {"spec": {"tolerations": [{"key": "b"}], "args": ["y"]}})

    assert result == {"spec": {"tolerations": [{"key": "b"}], "args": ["y"]}}


def test_strategic_merge_patch_honours_map_directives() -> None:
    target = {"spec": {"a": 1, "b": 2}, "metadata": {"labels": {"x": "1"}}}
    patch = {
        "spec": {"$retainKeys": ["b", "c"], "c": 3},
        "metadata": {"labels": {"$patch": "replace", "y": "2"}},
    }

    result = strategic_merge_patch(target, patch)

    assert result == {"spec": {"b": 2, "c": 3}, "metadata": {"labels": {"y": "2"}}}


@pytest.mark.parametrize(
    ("patch_type", "patch"),
    [
        pytest.param(PatchType.MERGE, [{"op": "add"}], id="merge-patch-as-a-list"),
        pytest.param(PatchType.STRATEGIC, [], id="strategic-patch-as-a-list"),
        pytest.param(PatchType.JSON, {"op": "add"}, id="json-patch-as-an-object"),
    ],
)
def test_apply_patch_rejects_a_patch_of_the_wrong_shape(patch_type: PatchType, patch: Any) -> None:
    with pytest.raises(MalformedPatchError):
        apply_patch({"a": 1}, patch, patch_type)


def test_apply_patch_refuses_a_result_that_is_not_an_object() -> None:
    with pytest.raises(PatchError):
        apply_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], PatchType.JSON)

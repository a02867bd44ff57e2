"""Writes, as patches built from typed values. Every builder returns plain JSON.

JSON merge patches (RFC 7386, `mcm.kube.protocol.PatchType.MERGE`) are the default:

- `machine_status_patch` for the Machine ``status`` subresource. Each part given *replaces* its
  counterpart: ``currentStatus`` and ``lastOperation`` are sent with every key, unset ones as
  ``null``, so the result is what upstream's full ``UpdateStatus`` writes (for example, moving to
  Pending drops ``preserveExpiryTime``). Lists (``conditions``, ``addresses``) are replaced whole by
  merge-patch rules.
- `labels_patch` / `annotations_patch` set keys and remove keys (``null``); other keys are
  untouched.
- `finalizers_patch` and `owner_references_patch` replace a whole list, so they carry
  ``metadata.resourceVersion``: the server rejects the patch with 409 Conflict if the object changed
  since it was read (optimistic concurrency; re-read and retry).
- `create_merge_patch` diffs two JSON documents into the merge patch turning one into the other
  (Go's ``jsonpatch.CreateMergePatch``), and `status_replace_patch` uses it to replace a whole
  ``status``.

JSON patch (RFC 6902) operations are offered for the rare exact edit: `op_test`, `op_add`,
`op_replace`, `op_remove`, with `json_pointer` escaping keys such as
``node.machine.sapcloud.io/preserve``.

Timestamps are written with `mcm.api.meta.format_time` (RFC 3339, whole seconds, ``Z``); callers
pass the clock's time (`mcm.clock.utcnow`), never ``datetime.now()``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mcm.api.codec import KubeModel, Model
from mcm.api.core import NodeAddress, NodeCondition
from mcm.api.machine import (
    CurrentStatus,
    LastOperation,
    MachineOperationType,
    MachinePhase,
    MachineState,
)
from mcm.api.meta import OwnerReference, format_time, thaw

__all__ = [
    "annotations_patch",
    "create_merge_patch",
    "current_status",
    "finalizers_patch",
    "json_pointer",
    "labels_patch",
    "last_operation",
    "machine_status_patch",
    "merge_patches",
    "op_add",
    "op_remove",
    "op_replace",
    "op_test",
    "owner_reference",
    "owner_references_patch",
    "status_replace_patch",
]


# ------------------------------------------------------------------------------- Machine status


def last_operation(
    description: str,
    state: MachineState,
    operation_type: MachineOperationType,
    *,
    now: datetime.datetime,
    error_code: str = "",
) -> LastOperation:
    """A `LastOperation` stamped *now*; *error_code* is a driver code name (``Internal``...)."""
    return LastOperation(
        description=description,
        error_code=error_code,
        last_update_time=now,
        state=state,
        type=operation_type,
    )


def current_status(
    phase: MachinePhase | None,
    *,
    now: datetime.datetime,
    timeout_active: bool = False,
    preserve_expiry_time: datetime.datetime | None = None,
) -> CurrentStatus:
    """A `CurrentStatus` entering *phase* at *now*."""
    return CurrentStatus(
        phase=phase,
        timeout_active=timeout_active,
        last_update_time=now,
        preserve_expiry_time=preserve_expiry_time,
    )


def _time(value: datetime.datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _value(value: str | None) -> str | None:
    """``""`` becomes null (Go's ``omitempty`` drops it on a full write), enums plain strings."""
    return str(value) if value else None


def _last_operation_json(operation: LastOperation) -> dict[str, Any]:
    return {
        "description": _value(operation.description),
        "errorCode": _value(operation.error_code),
        "lastUpdateTime": _time(operation.last_update_time),
        "state": _value(operation.state),
        "type": _value(operation.type),
    }


def _current_status_json(status: CurrentStatus) -> dict[str, Any]:
    return {
        "phase": _value(status.phase),
        "timeoutActive": status.timeout_active,
        "lastUpdateTime": _time(status.last_update_time),
        "preserveExpiryTime": _time(status.preserve_expiry_time),
    }


def machine_status_patch(
    *,
    current_status: CurrentStatus | None = None,
    last_operation: LastOperation | None = None,
    last_known_state: str | None = None,
    conditions: Sequence[NodeCondition] | None = None,
    addresses: Sequence[NodeAddress] | None = None,
) -> dict[str, Any]:
    """A merge patch for a Machine's ``status`` subresource with only the parts given.

    ``last_known_state=""`` clears the field; ``conditions=()`` empties the list.
    """
    status: dict[str, Any] = {}
    if current_status is not None:
        status["currentStatus"] = _current_status_json(current_status)
    if last_operation is not None:
        status["lastOperation"] = _last_operation_json(last_operation)
    if last_known_state is not None:
        status["lastKnownState"] = last_known_state or None
    if conditions is not None:
        status["conditions"] = [c.to_dict() for c in conditions]
    if addresses is not None:
        status["addresses"] = [a.to_dict() for a in addresses]
    return {"status": status}


def status_replace_patch(obj: KubeModel, status: Model) -> dict[str, Any]:
    """A merge patch replacing *obj*'s whole ``status`` with *status* (keys it lacks become null).

    This is upstream's ``UpdateStatus`` as a patch, for MachineSet and MachineDeployment status
    writes.
    """
    before = obj.raw.get("status")
    return create_merge_patch(
        {"status": thaw(before) if isinstance(before, Mapping) else {}},
        {"status": status.to_dict()},
    )


# ------------------------------------------------------------------------------------- Metadata


def _string_map_patch(
    field_name: str, set_: Mapping[str, str] | None, remove: Iterable[str]
) -> dict[str, Any]:
    changes: dict[str, str | None] = dict(set_ or {})
    for key in remove:
        if key in changes:
            raise ValueError(f"{field_name}: {key!r} is both set and removed")
        changes[key] = None
    return {"metadata": {field_name: changes}}


def labels_patch(
    *, set: Mapping[str, str] | None = None, remove: Iterable[str] = ()
) -> dict[str, Any]:
    """Merge patch setting labels *set* and deleting labels *remove* (absent ones are no-ops)."""
    return _string_map_patch("labels", set, remove)


def annotations_patch(
    *, set: Mapping[str, str] | None = None, remove: Iterable[str] = ()
) -> dict[str, Any]:
    """Merge patch setting annotations *set* and deleting annotations *remove*."""
    return _string_map_patch("annotations", set, remove)


def finalizers_patch(
    current: Sequence[str],
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    resource_version: str,
) -> dict[str, Any]:
    """Merge patch replacing ``metadata.finalizers``, guarded by *resource_version*.

    The new list is *current* in its order minus *remove*, then each of *add* not yet present. An
    empty *resource_version* (an object that never came from a server) sends no precondition.
    """
    removed = set(remove)
    finalizers = [f for f in current if f not in removed]
    for name in add:
        if name not in finalizers:
            finalizers.append(name)
    metadata: dict[str, Any] = {"finalizers": finalizers}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {"metadata": metadata}


def owner_reference(
    obj: KubeModel, *, controller: bool = True, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """An ``ownerReferences`` entry for *obj* (defaults as Go's ``metav1.NewControllerRef``)."""
    return {
        "apiVersion": obj.API_VERSION,
        "kind": obj.KIND,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def owner_references_patch(
    current: Sequence[OwnerReference],
    *,
    add: Mapping[str, Any] | None = None,
    remove_uid: str = "",
    uid: str,
    resource_version: str,
) -> dict[str, Any]:
    """Merge patch replacing ``metadata.ownerReferences``: adopt (*add*) or release (*remove_uid*).

    An existing reference with the same uid as *add* is replaced. The patch also carries the
    object's own *uid* and *resource_version*, so it fails if the object was replaced or changed
    meanwhile.
    """
    drop = {remove_uid} if remove_uid else set()
    if add is not None:
        drop.add(str(add.get("uid", "")))
    references = [ref.to_dict() for ref in current if ref.uid not in drop]
    if add is not None:
        references.append(dict(add))
    metadata: dict[str, Any] = {"ownerReferences": references, "uid": uid}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {"metadata": metadata}


# ---------------------------------------------------------------------------- Merge patch tools

_MISSING: Any = object()


def create_merge_patch(original: Mapping[str, Any], modified: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns *original* into *modified* (both plain JSON objects).

    Keys only in *original* become null, objects are diffed recursively, anything else that differs
    (lists included) is replaced. Equal documents give ``{}``.
    """
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, after in modified.items():
        before = original.get(key, _MISSING)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            nested = create_merge_patch(before, after)
            if nested:
                patch[key] = nested
        elif before is _MISSING or before != after or type(before) is not type(after):
            patch[key] = thaw(after)
    return patch


def merge_patches(*patches: Mapping[str, Any]) -> dict[str, Any]:
    """Combine merge patches into one (later ones win), e.g. a labels and an annotations patch."""
    result: dict[str, Any] = {}
    for patch in patches:
        for key, value in patch.items():
            current = result.get(key)
            if isinstance(current, dict) and isinstance(value, Mapping):
                result[key] = merge_patches(current, value)
            else:
                result[key] = thaw(value)
    return result


# ---------------------------------------------------------------------------------- JSON patch


def json_pointer(*segments: str | int) -> str:
    """An RFC 6901 pointer: ``json_pointer("metadata", "annotations", "a/b")`` is
    ``/metadata/annotations/a~1b``."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def op_test(path: str, value: Any) -> dict[str, Any]:
    """Fail the whole JSON patch unless *path* holds *value*."""
    return {"op": "test", "path": path, "value": thaw(value)}


def op_add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": thaw(value)}


def op_replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": thaw(value)}


def op_remove(path: str) -> dict[str, Any]:
    return {"op": "remove", "path": path}

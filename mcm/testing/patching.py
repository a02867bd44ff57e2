"""The three patch flavours the API server accepts, applied to plain JSON.

- `merge_patch` is RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes a key,
  anything else (lists included) replaces.
- `json_patch` is RFC 6902 JSON patch: a list of ``add``, ``remove``, ``replace``, ``move``,
  ``copy`` and ``test`` operations on RFC 6901 pointers, applied in order, all or nothing.
- `strategic_merge_patch` **approximates** Kubernetes' strategic merge patch. The real one reads
  each field's ``patchStrategy`` and ``patchMergeKey`` from the Go types; this one knows a fixed
  table keyed by field name alone, wherever the field appears (`MERGE_KEYS`): lists of objects under
  those names merge element by element on the key (``conditions`` by ``type``, ``taints`` by
  ``key``, ``ownerReferences`` by ``uid``, ``containers`` by ``name`` ...), and primitive lists
  under `SET_LISTS` (``finalizers``) merge as ordered sets. Every other list is replaced, as in a
  merge patch. The directives ``$patch: delete`` and ``$patch: replace`` (on list elements and
  maps), ``$deleteFromPrimitiveList/<field>`` and ``$retainKeys`` are honoured;
  ``$setElementOrder/<field>`` is accepted and ignored. The real server refuses strategic merge
  patches on custom resources (415); the fake API server does too, so this module is only consulted
  for built-in kinds.

Nothing here mutates its arguments: each function returns a new document. Failures raise
`PatchError` (the patch cannot be applied: a missing path, a failed ``test``) or its subclass
`MalformedPatchError` (the patch itself is not well formed); the fake API server answers them with
422 and 400, as the real one does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mcm.api.meta import thaw
from mcm.kube.protocol import PatchType

MERGE_KEYS: Mapping[str, str] = {
    "conditions": "type",
    "taints": "key",
    "ownerReferences": "uid",
    "addresses": "type",
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
}
"""List fields whose elements a strategic merge patch merges by the named key (by name only)."""

SET_LISTS: frozenset[str] = frozenset({"finalizers"})
"""Primitive lists a strategic merge patch merges as ordered sets (``patchStrategy: merge``)."""

_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"


class PatchError(ValueError):
    """The patch could not be applied to the document (answered with 422)."""


class MalformedPatchError(PatchError):
    """The patch is not a well-formed patch of its type (answered with 400)."""


def apply_patch(
    target: Mapping[str, Any],
    patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    patch_type: PatchType,
) -> dict[str, Any]:
    """Apply *patch* of *patch_type* to *target*; the result must still be a JSON object."""
    result: Any
    if patch_type is PatchType.JSON:
        operations: Any = patch  # callers may pass anything: check what arrived
        if isinstance(operations, Mapping | str | bytes) or not isinstance(operations, Sequence):
            raise MalformedPatchError("a JSON patch must be a list of operations")
        result = json_patch(target, operations)
    else:
        if not isinstance(patch, Mapping):
            raise MalformedPatchError(f"a {patch_type.name.lower()} patch must be a JSON object")
        if patch_type is PatchType.STRATEGIC:
            result = strategic_merge_patch(target, patch)
        else:
            result = merge_patch(target, patch)
    if not isinstance(result, dict):
        raise PatchError("the patched document is not a JSON object")
    return result


# --- RFC 7386 -------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge, ``None`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return thaw(patch)
    result: dict[str, Any] = thaw(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 -------------------------------------------------------------------------------------


def json_patch(target: Any, operations: Sequence[Mapping[str, Any]]) -> Any:
    """Apply RFC 6902 *operations* in order; any failure leaves *target* untouched and raises."""
    document: Any = thaw(target)
    for index, operation in enumerate(operations):
        if not isinstance(operation, Mapping):
            raise MalformedPatchError(f"operation {index} is not a JSON object")
        document = _apply_operation(document, operation, index)
    return document


def _apply_operation(document: Any, operation: Mapping[str, Any], index: int) -> Any:
    op = operation.get("op")
    path = _pointer(operation, "path", index)
    if op == "add":
        return _add(document, path, thaw(_required(operation, "value", index)))
    if op == "remove":
        document, _ = _remove(document, path)
        return document
    if op == "replace":
        value = thaw(_required(operation, "value", index))
        document, _ = _remove(document, path)
        return _add(document, path, value)
    if op == "move":
        source = _pointer(operation, "from", index)
        if path[: len(source)] == source and len(path) > len(source):
            raise PatchError(f"operation {index}: cannot move {_format(source)} into itself")
        document, value = _remove(document, source)
        return _add(document, path, value)
    if op == "copy":
        source = _pointer(operation, "from", index)
        return _add(document, path, thaw(_get(document, source)))
    if op == "test":
        expected = _required(operation, "value", index)
        actual = _get(document, path)
        if not _json_equal(actual, expected):
            raise PatchError(
                f"operation {index}: test failed: {_format(path)} is {actual!r}, not {expected!r}"
            )
        return document
    raise MalformedPatchError(f"operation {index}: unknown op {op!r}")


def _required(operation: Mapping[str, Any], field: str, index: int) -> Any:
    if field not in operation:
        raise MalformedPatchError(f"operation {index} ({operation.get('op')}) has no {field!r}")
    return operation[field]


def _pointer(operation: Mapping[str, Any], field: str, index: int) -> list[str]:
    raw = _required(operation, field, index)
    if not isinstance(raw, str) or (raw and not raw.startswith("/")):
        raise MalformedPatchError(f"operation {index}: {field} {raw!r} is not a JSON pointer")
    if not raw:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in raw[1:].split("/")]


def _format(path: Sequence[str]) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path) if path else '""'


def _list_index(container: list[Any], part: str, path: Sequence[str], *, for_add: bool) -> int:
    if for_add and part == "-":
        return len(container)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchError(f"{_format(path)}: {part!r} is not a list index")
    index = int(part)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise PatchError(f"{_format(path)}: index {index} is out of range")
    return index


def _parent(document: Any, path: Sequence[str]) -> Any:
    parent = _get(document, path[:-1])
    if not isinstance(parent, dict | list):
        raise PatchError(f"{_format(path)}: the parent is not an object or a list")
    return parent


def _get(document: Any, path: Sequence[str]) -> Any:
    value = document
    for depth, token in enumerate(path):
        if isinstance(value, dict):
            if token not in value:
                raise PatchError(f"{_format(path[: depth + 1])} does not exist")
            value = value[token]
        elif isinstance(value, list):
            value = value[_list_index(value, token, path[: depth + 1], for_add=False)]
        else:
            raise PatchError(f"{_format(path[: depth + 1])} does not exist")
    return value


def _add(document: Any, path: Sequence[str], value: Any) -> Any:
    if not path:
        return value
    parent = _parent(document, path)
    if isinstance(parent, dict):
        parent[path[-1]] = value
    else:
        parent.insert(_list_index(parent, path[-1], path, for_add=True), value)
    return document


def _remove(document: Any, path: Sequence[str]) -> tuple[Any, Any]:
    if not path:
        return None, document
    parent = _parent(document, path)
    if isinstance(parent, dict):
        if path[-1] not in parent:
            raise PatchError(f"{_format(path)} does not exist")
        return document, parent.pop(path[-1])
    return document, parent.pop(_list_index(parent, path[-1], path, for_add=False))


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike ``==``, ``true`` is not ``1`` and ``1`` equals ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


# --- strategic merge patch (approximated) ---------------------------------------------------------


def strategic_merge_patch(target: Any, patch: Mapping[str, Any]) -> Any:
    """Apply a strategic merge patch, approximated as the module docstring describes."""
    merged = _smp_map(target if isinstance(target, Mapping) else {}, patch)
    return {} if merged is None else merged


def _smp_map(original: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any] | None:
    """Merge *patch* into a copy of *original*; None when the patch deletes the whole map."""
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: thaw(v) for k, v in patch.items() if k != "$patch"}
    if directive is not None:
        raise MalformedPatchError(f"unknown $patch directive {directive!r}")
    result: dict[str, Any] = thaw(original)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            field = key[len(_DELETE_FROM_PRIMITIVE_LIST) :]
            if not isinstance(value, list):
                raise MalformedPatchError(f"{key} must be a list")
            kept = [item for item in result.get(field) or () if item not in value]
            if field in result:
                result[field] = kept
    for key, value in patch.items():
        if key.startswith(("$", _SET_ELEMENT_ORDER)):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in SET_LISTS:
            existing = list(result.get(key) or ())
            result[key] = existing + [item for item in value if item not in existing]
        elif (
            isinstance(value, list)
            and key in MERGE_KEYS
            and all(isinstance(v, Mapping) for v in value)
        ):
            current = result.get(key)
            result[key] = _smp_list(
                current if isinstance(current, list) else [], value, MERGE_KEYS[key]
            )
        elif isinstance(value, Mapping):
            current = result.get(key)
            merged = _smp_map(current if isinstance(current, Mapping) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = thaw(value)
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise MalformedPatchError("$retainKeys must be a list")
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(original: list[Any], patch: Sequence[Mapping[str, Any]], merge_key: str) -> list[Any]:
    if any(element.get("$patch") == "replace" for element in patch):
        return [thaw(e) for e in patch if e.get("$patch") != "replace"]
    result = [thaw(e) for e in original]
    for element in patch:
        key = element.get(merge_key)
        position = next(
            (i for i, e in enumerate(result) if isinstance(e, Mapping) and e.get(merge_key) == key),
            None,
        )
        if element.get("$patch") == "delete":
            if key is None:
                raise MalformedPatchError(
                    f"a $patch: delete element has no merge key {merge_key!r}"
                )
            result = [e for e in result if not (isinstance(e, Mapping) and e.get(merge_key) == key)]
        elif position is None or key is None:
            merged = _smp_map({}, element)
            if merged is not None:
                result.append(merged)
        else:
            merged = _smp_map(result[position], element)
            if merged is None:
                del result[position]
            else:
                result[position] = merged
    return result

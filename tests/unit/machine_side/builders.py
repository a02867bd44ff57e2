"""Raw objects for the machine-side reconciler tests: Machines, Nodes, classes, Secrets.

Each builder returns the JSON an API server would store, ready for ``env.control.seed`` /
``env.target.seed``; `parsed` turns one into the model an informer would hand out.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from mcm.api.codec import KubeModel
from mcm.api.meta import format_time

NAMESPACE = "default"
CLASS = "class-1"
SECRET = "secret-1"
START = datetime.datetime.fromtimestamp(1_700_000_000.0, tz=datetime.UTC)
"""The FakeClock's default wall time."""

M = TypeVar("M", bound=KubeModel)


def parsed(model: type[M], raw: Mapping[str, Any]) -> M:
    return model.from_dict(raw)


def _meta(
    name: str,
    *,
    namespace: str | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
    finalizers: Iterable[str],
    deleting: bool,
    created: datetime.datetime | None,
    generation: int | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if finalizers:
        meta["finalizers"] = list(finalizers)
    if deleting:
        meta["deletionTimestamp"] = format_time(START)
    if created is not None:
        meta["creationTimestamp"] = format_time(created)
    if generation is not None:
        meta["generation"] = generation
    if uid is not None:
        meta["uid"] = uid
    return meta


def machine(
    name: str = "machine-1",
    *,
    node: str = "",
    phase: str | None = None,
    provider_id: str = "",
    class_name: str = CLASS,
    class_kind: str = "MachineClass",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: Iterable[str] = (),
    deleting: bool = False,
    description: str = "",
    conditions: Iterable[Mapping[str, Any]] = (),
    generation: int | None = None,
    uid: str | None = None,
    preserve_expiry: datetime.datetime | None = None,
) -> dict[str, Any]:
    all_labels = dict(labels or {})
    if node:
        all_labels["node"] = node
    status: dict[str, Any] = {}
    if phase is not None or preserve_expiry is not None:
        current: dict[str, Any] = {"lastUpdateTime": format_time(START)}
        if phase is not None:
            current["phase"] = phase
        if preserve_expiry is not None:
            current["preserveExpiryTime"] = format_time(preserve_expiry)
        status["currentStatus"] = current
    if description:
        status["lastOperation"] = {"description": description}
    if conditions:
        status["conditions"] = [dict(c) for c in conditions]
    spec: dict[str, Any] = {"class": {"kind": class_kind, "name": class_name}}
    if provider_id:
        spec["providerID"] = provider_id
    obj: dict[str, Any] = {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": _meta(
            name,
            namespace=NAMESPACE,
            labels=all_labels,
            annotations=annotations,
            finalizers=finalizers,
            deleting=deleting,
            created=None,
            generation=generation,
            uid=uid,
        ),
        "spec": spec,
    }
    if status:
        obj["status"] = status
    return obj


def condition(type_: str, status: str, *, reason: str = "") -> dict[str, Any]:
    result = {"type": type_, "status": status}
    if reason:
        result["reason"] = reason
    return result


def taint(key: str, effect: str = "NoSchedule") -> dict[str, Any]:
    return {"key": key, "effect": effect}


def node(
    name: str = "node-1",
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: Iterable[str] = (),
    deleting: bool = False,
    created: datetime.datetime | None = None,
    taints: Iterable[Mapping[str, Any]] = (),
    conditions: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(
            name,
            namespace=None,
            labels=labels,
            annotations=annotations,
            finalizers=finalizers,
            deleting=deleting,
            created=created,
        ),
    }
    if taints:
        obj["spec"] = {"taints": [dict(t) for t in taints]}
    if conditions:
        obj["status"] = {"conditions": [dict(c) for c in conditions]}
    return obj


def machine_class(
    name: str = CLASS,
    *,
    secret: str | None = SECRET,
    secret_namespace: str | None = None,
    credentials: str | None = None,
    finalizers: Iterable[str] = (),
    deleting: bool = False,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineClass",
        "metadata": _meta(
            name,
            namespace=NAMESPACE,
            labels=None,
            annotations=None,
            finalizers=finalizers,
            deleting=deleting,
            created=None,
        ),
        "providerSpec": {"instanceType": "m5.large"},
    }
    if secret is not None:
        ref = {"name": secret}
        if secret_namespace is not None:
            ref["namespace"] = secret_namespace
        obj["secretRef"] = ref
    if credentials is not None:
        obj["credentialsSecretRef"] = {"name": credentials, "namespace": NAMESPACE}
    return obj


def secret(
    name: str = SECRET,
    *,
    namespace: str = NAMESPACE,
    data: Mapping[str, bytes] | None = None,
    finalizers: Iterable[str] = (),
    deleting: bool = False,
) -> dict[str, Any]:
    values = {"userData": b"#!/bin/sh\necho hello"} if data is None else data
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            name,
            namespace=namespace,
            labels=None,
            annotations=None,
            finalizers=finalizers,
            deleting=deleting,
            created=None,
        ),
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in values.items()},
    }

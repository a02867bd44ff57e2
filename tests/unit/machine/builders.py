"""Builders for the machine-reconcile tests: raw Machines, Nodes, classes and Secrets, and an env.

Builders return the JSON an API server would store (for ``env.control.seed`` /
``env.target.seed``). Times are given as seconds before the FakeClock's start (`START`), which is
also "now" until a test steps the clock.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from mcm.api.constants import MCM_FINALIZER_NAME
from mcm.api.machine import Machine
from mcm.api.meta import ObjectKey, format_time
from mcm.controller.health import Permits
from mcm.controller.machine import MachineReconciler
from mcm.controller.metrics import MachineMetrics
from mcm.kube import resources
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import FakeApiServer

NAMESPACE = "default"
CLASS = "class-1"
SECRET = "secret-1"
USER_DATA = "#!/bin/bash\ntoken=<<BOOTSTRAP_TOKEN>>\nname=<<MACHINE_NAME>>\n"
START = datetime.datetime.fromtimestamp(1_700_000_000.0, tz=datetime.UTC)
"""The FakeClock's default wall time."""
MINUTE = 60.0


def ago(seconds: float) -> str:
    """The timestamp *seconds* before `START`."""
    return format_time(START - datetime.timedelta(seconds=seconds))


def key(name: str) -> ObjectKey:
    return ObjectKey(NAMESPACE, name)


def condition(
    type_: str, status: str, *, since: float = 0.0, reason: str = "", message: str = ""
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": ago(0),
        "lastTransitionTime": ago(since),
        "reason": reason,
        "message": message,
    }


def healthy_conditions() -> list[dict[str, Any]]:
    return [
        condition("Ready", "True"),
        condition("DiskPressure", "False"),
        condition("MemoryPressure", "False"),
        condition("NetworkUnavailable", "False"),
    ]


def machine(
    name: str = "machine-0",
    *,
    phase: str | None = None,
    provider_id: str = "",
    node: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: Iterable[str] = (MCM_FINALIZER_NAME,),
    created: float = 0.0,
    last_update: float | None = None,
    conditions: Sequence[Mapping[str, Any]] = (),
    last_operation: Mapping[str, Any] | None = None,
    last_known_state: str = "",
    addresses: Sequence[Mapping[str, str]] = (),
    preserve_expiry: str | None = None,
    deleting: bool = False,
    class_name: str = CLASS,
    spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Machine *created* seconds before START; phase None is the empty phase."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "creationTimestamp": ago(created),
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
        "finalizers": list(finalizers),
    }
    if node is not None:
        meta["labels"]["node"] = node
    if deleting:
        meta["deletionTimestamp"] = ago(0)
    status: dict[str, Any] = {}
    if phase is not None:
        current: dict[str, Any] = {
            "phase": phase,
            "lastUpdateTime": ago(created if last_update is None else last_update),
        }
        if preserve_expiry is not None:
            current["preserveExpiryTime"] = preserve_expiry
        status["currentStatus"] = current
    if conditions:
        status["conditions"] = [dict(c) for c in conditions]
    if last_operation is not None:
        status["lastOperation"] = dict(last_operation)
    if last_known_state:
        status["lastKnownState"] = last_known_state
    if addresses:
        status["addresses"] = [dict(a) for a in addresses]
    body_spec: dict[str, Any] = {
        "class": {"apiGroup": "machine.sapcloud.io", "kind": "MachineClass", "name": class_name}
    }
    if provider_id:
        body_spec["providerID"] = provider_id
    body_spec.update(spec or {})
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": meta,
        "spec": body_spec,
        "status": status,
    }


def machine_class(
    name: str = CLASS,
    *,
    finalizers: Iterable[str] = (MCM_FINALIZER_NAME,),
    node_template: Mapping[str, Any] | None = None,
    secret_ref: str | None = SECRET,
    credentials_secret_ref: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineClass",
        "metadata": {"name": name, "namespace": NAMESPACE, "finalizers": list(finalizers)},
        "providerSpec": {"ami": "ami-123"},
        "provider": "FakeProvider",
    }
    if secret_ref is not None:
        body["secretRef"] = {"name": secret_ref, "namespace": NAMESPACE}
    if credentials_secret_ref is not None:
        body["credentialsSecretRef"] = {"name": credentials_secret_ref, "namespace": NAMESPACE}
    if node_template is not None:
        body["nodeTemplate"] = dict(node_template)
    return body


def node_template(**overrides: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "capacity": {"cpu": "2", "gpu": "0", "memory": "8Gi"},
        "instanceType": "m5.large",
        "region": "eu-west-1",
        "zone": "eu-west-1a",
    }
    template.update(overrides)
    return template


def secret(name: str = SECRET, **data: str) -> dict[str, Any]:
    values = data or {"userData": USER_DATA}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def node(
    name: str = "machine-0",
    *,
    conditions: Sequence[Mapping[str, Any]] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, Any]] = (),
    capacity: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels or {})}
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": {"taints": [dict(t) for t in taints]} if taints else {},
        "status": {
            "conditions": [
                dict(c) for c in (healthy_conditions() if conditions is None else conditions)
            ]
        },
    }
    if capacity is not None:
        body["status"]["capacity"] = dict(capacity)
    return body


def taint(key_: str, effect: str = "NoSchedule", value: str = "") -> dict[str, Any]:
    body = {"key": key_, "effect": effect}
    if value:
        body["value"] = value
    return body


def env_with_class(
    *,
    target: bool = True,
    class_body: Mapping[str, Any] | None = None,
    secret_body: Mapping[str, Any] | None = None,
    **options: Any,
) -> ControllerEnv:
    """A ControllerEnv with the default MachineClass and its Secret seeded."""
    env = ControllerEnv(target=target, **options)
    env.control.seed(resources.MACHINE_CLASSES, class_body or machine_class())
    env.control.seed(resources.SECRETS, secret_body or secret())
    return env


def reconciler(env: ControllerEnv, *, metrics: MachineMetrics | None = None) -> MachineReconciler:
    return MachineReconciler(
        env.context,
        permits=Permits(env.clock),
        metrics=metrics or MachineMetrics(CollectorRegistry()),
    )


def target(env: ControllerEnv) -> FakeApiServer:
    """The env's target cluster (the tests using it build envs with one)."""
    assert env.target is not None
    return env.target


def stored_machine(env: ControllerEnv, name: str = "machine-0") -> Machine:
    raw = env.control.stored(resources.MACHINES, name, namespace=NAMESPACE)
    assert raw is not None, f"machine {name} is gone"
    return Machine.from_dict(raw)


def stored_node(env: ControllerEnv, name: str = "machine-0") -> dict[str, Any]:
    assert env.target is not None
    raw = env.target.stored(resources.NODES, name)
    assert raw is not None, f"node {name} is gone"
    return raw

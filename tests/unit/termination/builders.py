"""Builders for the deletion-flow tests: a Machine being deleted, its class, secret, Node and VM.

Builders return the JSON an API server would store (for ``env.control.seed`` /
``env.target.seed``). Times are seconds before the FakeClock's start (`START`), which is "now"
until a test steps the clock.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from mcm.api.constants import GET_VM_STATUS, MCM_FINALIZER_NAME
from mcm.api.machine import Machine
from mcm.api.meta import ObjectKey
from mcm.controller.metrics import MachineMetrics
from mcm.controller.termination import TerminationReconciler
from mcm.kube import resources
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import NODE, START, ago, node, target

__all__ = [
    "CLASS",
    "MACHINE",
    "NAMESPACE",
    "NODE",
    "PROVIDER_ID",
    "SECRET",
    "START",
    "ago",
    "condition",
    "description",
    "key",
    "machine",
    "machine_class",
    "node",
    "reconciler",
    "secret",
    "seed_world",
    "stored",
    "target",
]

NAMESPACE = "default"
MACHINE = "machine-0"
CLASS = "class-0"
SECRET = "secret-0"
PROVIDER_ID = f"fake:///{MACHINE}"
KEY = ObjectKey(NAMESPACE, MACHINE)


def key(name: str = MACHINE) -> ObjectKey:
    return ObjectKey(NAMESPACE, name)


def condition(type_: str, status: str, *, since: float = 0.0) -> dict[str, Any]:
    """A node condition as a Machine mirrors it, last changed *since* seconds before START."""
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": ago(0),
        "lastTransitionTime": ago(since),
    }


def machine(
    name: str = MACHINE,
    *,
    phase: str | None = "Terminating",
    description: str = GET_VM_STATUS,
    state: str = "Processing",
    operation: str = "Delete",
    node_name: str | None = NODE,
    finalizers: Sequence[str] = (MCM_FINALIZER_NAME,),
    deleted: float | None = 60.0,
    labels: dict[str, str] | None = None,
    conditions: Sequence[dict[str, Any]] = (),
    provider_id: str = PROVIDER_ID,
    last_known_state: str = "",
    **spec: Any,
) -> dict[str, Any]:
    """A Machine of class `CLASS`, deleted *deleted* seconds before START (None: not deleted)."""
    all_labels = dict(labels or {})
    if node_name is not None:
        all_labels["node"] = node_name
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "labels": all_labels,
        "finalizers": list(finalizers),
        "creationTimestamp": ago(3600),
    }
    if deleted is not None:
        metadata["deletionTimestamp"] = ago(deleted)
    status: dict[str, Any] = {
        "conditions": list(conditions),
        "lastOperation": {
            "description": description,
            "state": state,
            "type": operation,
            "lastUpdateTime": ago(10),
        },
        "currentStatus": {"lastUpdateTime": ago(deleted or 0)},
    }
    if phase is not None:
        status["currentStatus"]["phase"] = phase
    if last_known_state:
        status["lastKnownState"] = last_known_state
    return {
        "metadata": metadata,
        "spec": {
            "class": {"kind": "MachineClass", "name": CLASS},
            "providerID": provider_id,
            **spec,
        },
        "status": status,
    }


def machine_class(name: str = CLASS) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "finalizers": [MCM_FINALIZER_NAME]},
        "providerSpec": {"region": "eu-west-1"},
        "secretRef": {"name": SECRET, "namespace": NAMESPACE},
    }


def secret() -> dict[str, Any]:
    return {
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "data": {"userData": base64.b64encode(b"#!/bin/bash").decode()},
    }


def seed_world(
    env: ControllerEnv,
    body: dict[str, Any],
    *,
    with_node: bool = True,
    with_vm: bool = True,
    node_body: dict[str, Any] | None = None,
) -> None:
    """Seed the class, its secret, the machine *body*, its Node and its VM."""
    env.control.seed(resources.MACHINE_CLASSES, machine_class())
    env.control.seed(resources.SECRETS, secret())
    env.control.seed(resources.MACHINES, body)
    if with_node and env.target is not None:
        env.target.seed(resources.NODES, node_body or node())
    if with_vm:
        env.driver.add_orphan_vm(
            body["metadata"]["name"], machine_class=CLASS, provider_id=PROVIDER_ID, node_name=NODE
        )


def stored(env: ControllerEnv, name: str = MACHINE) -> Machine | None:
    raw = env.control.stored(resources.MACHINES, name, namespace=NAMESPACE)
    return None if raw is None else Machine.from_dict(raw)


def description(env: ControllerEnv, name: str = MACHINE) -> str:
    found = stored(env, name)
    assert found is not None, f"machine {name} is gone"
    return found.status.last_operation.description


def reconciler(env: ControllerEnv) -> TerminationReconciler:
    return TerminationReconciler(env.context, metrics=MachineMetrics(CollectorRegistry()))

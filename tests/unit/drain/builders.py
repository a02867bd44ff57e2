"""Builders for the drain tests: Nodes, pods, volumes, budgets, and a small attach/detach world.

Builders return the JSON an API server would store, for ``env.target.seed``. `World` plays the
node-side parts a drain waits for, one `World.settle` call per drain pass: a kubelet that finishes
terminating pods once their grace period is over, the attach/detach controller that detaches the
volumes of pods that left the node and attaches them to `OTHER_NODE`, and a ReplicaSet that starts
a replacement for every evicted pod on `OTHER_NODE` (so that budgets allow the next eviction).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from mcm.api.constants import MIRROR_POD_ANNOTATION
from mcm.api.meta import format_time, parse_time
from mcm.kube.resources import (
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PODS,
    VOLUME_ATTACHMENTS,
)
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import FakeApiServer

NODE = "node-1"
OTHER_NODE = "node-2"
NAMESPACE = "test"
CSI_DRIVER = "ebs.csi.aws.com"
START = datetime.datetime.fromtimestamp(1_700_000_000.0, tz=datetime.UTC)
"""The FakeClock's default wall time."""


def ago(seconds: float) -> str:
    """The timestamp *seconds* before `START`."""
    return format_time(START - datetime.timedelta(seconds=seconds))


def attached_name(handle: str) -> str:
    """How ``node.status.volumesAttached`` names a CSI volume."""
    return f"kubernetes.io/csi/{CSI_DRIVER}^{handle}"


def node(
    name: str = NODE,
    *,
    volumes: Iterable[str] = (),
    unschedulable: bool = False,
    finalizers: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    conditions: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A Node with the CSI volume handles *volumes* attached."""
    return {
        "metadata": {"name": name, "labels": labels or {}, "finalizers": list(finalizers)},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {
            "conditions": list(conditions),
            "volumesAttached": [
                {"name": attached_name(h), "devicePath": f"/dev/{h}"} for h in volumes
            ],
        },
    }


def pod(
    name: str,
    *,
    node_name: str = NODE,
    namespace: str = NAMESPACE,
    labels: dict[str, str] | None = None,
    claims: Sequence[str] = (),
    grace: int | None = 30,
    priority: int | None = 0,
    owner: str | None = "ReplicaSet",
    mirror: bool = False,
    empty_dir: bool = False,
    phase: str = "Running",
    ready: bool = True,
) -> dict[str, Any]:
    """A running pod bound to *node_name*, controlled by a *owner* (None: no controller)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels if labels is not None else {"app": "web"},
    }
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner,
                "name": f"{owner.lower()}-1",
                "uid": f"uid-{owner.lower()}-1",
                "controller": True,
            }
        ]
    if mirror:
        metadata["annotations"] = {MIRROR_POD_ANNOTATION: "hash"}
    volumes: list[dict[str, Any]] = [
        {"name": f"data-{index}", "persistentVolumeClaim": {"claimName": claim}}
        for index, claim in enumerate(claims)
    ]
    if empty_dir:
        volumes.append({"name": "scratch", "emptyDir": {}})
    spec: dict[str, Any] = {
        "nodeName": node_name,
        "containers": [{"name": "app", "image": "app"}],
        "volumes": volumes,
    }
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    if priority is not None:
        spec["priority"] = priority
    return {
        "metadata": metadata,
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pvc(name: str, *, volume: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A claim bound to the PV *volume* (``""``: unbound)."""
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"volumeName": volume} if volume else {},
    }


def pv(name: str, *, handle: str | None = None, nfs: bool = False) -> dict[str, Any]:
    """A CSI PV of the provider (handle defaults to ``<name>-id``), or an NFS one."""
    if nfs:
        return {"metadata": {"name": name}, "spec": {"nfs": {"server": "nfs", "path": "/x"}}}
    return {
        "metadata": {"name": name},
        "spec": {"csi": {"driver": CSI_DRIVER, "volumeHandle": handle or f"{name}-id"}},
    }


def volume_attachment(
    name: str, *, pv_name: str, node_name: str = NODE, attached: bool = True
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "attacher": CSI_DRIVER,
            "nodeName": node_name,
            "source": {"persistentVolumeName": pv_name},
        },
        "status": {"attached": attached},
    }


def budget(
    name: str = "web",
    *,
    namespace: str = NAMESPACE,
    match: dict[str, str] | None = None,
    expected: int = 3,
    healthy: int = 3,
    desired: int = 2,
    allowed: int = 1,
    generation: int = 1,
    observed: int = 1,
    disrupted: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A PodDisruptionBudget over app=web (or *match*) with the status given."""
    status: dict[str, Any] = {
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "observedGeneration": observed,
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return {
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {"selector": {"matchLabels": match or {"app": "web"}}, **spec},
        "status": status,
    }


def pod_with_volumes(
    env: ControllerEnv, name: str, *, handles: Sequence[str], attachments: bool = True, **extra: Any
) -> dict[str, Any]:
    """Seed a pod with one PVC/PV per handle (PV ``pv-<handle>``), attached to `NODE`."""
    api = target(env)
    claims = []
    for handle in handles:
        claim = f"{name}-{handle}"
        api.seed(PERSISTENT_VOLUME_CLAIMS, pvc(claim, volume=f"pv-{handle}"))
        api.seed(PERSISTENT_VOLUMES, pv(f"pv-{handle}", handle=handle))
        if attachments:
            api.seed(
                VOLUME_ATTACHMENTS, volume_attachment(f"va-{handle}-{NODE}", pv_name=f"pv-{handle}")
            )
        claims.append(claim)
    body = pod(name, claims=claims, **extra)
    api.seed(PODS, body)
    return body


class World:
    """The node side of a drain for `ControllerEnv` tests; see the module docstring."""

    def __init__(self, env: ControllerEnv, *, reattach: bool = True) -> None:
        self.env = env
        self.api = target(env)
        self.reattach = reattach

    def settle(self) -> None:
        """Finish pods whose grace period is over, then detach and reattach their volumes."""
        now = self.env.clock.now()
        for body in self.api.stored_objects(PODS):
            meta = body["metadata"]
            stamp = parse_time(meta.get("deletionTimestamp"))
            if stamp is not None and stamp.timestamp() <= now:
                self.api.delete(
                    PODS, meta["name"], namespace=meta["namespace"], grace_period_seconds=0
                )
        self.detach()

    def pods_on(self, node_name: str = NODE) -> list[str]:
        """The names of the pods bound to *node_name*, terminating ones included."""
        return sorted(
            b["metadata"]["name"]
            for b in self.api.stored_objects(PODS)
            if b["spec"].get("nodeName") == node_name
        )

    def attached(self) -> list[str]:
        """The names in `NODE`'s ``status.volumesAttached``."""
        stored = self.api.stored(NODES, NODE) or {}
        return [v["name"] for v in stored.get("status", {}).get("volumesAttached") or ()]

    def _handle_of(self, pv_name: str) -> str:
        pv_body = self.api.stored(PERSISTENT_VOLUMES, pv_name) or {}
        handle: str = pv_body.get("spec", {}).get("csi", {}).get("volumeHandle", "")
        return handle

    def _handles_in_use(self) -> set[str]:
        handles = set()
        for body in self.api.stored_objects(PODS):
            if body["spec"].get("nodeName") != NODE:
                continue
            for volume in body["spec"].get("volumes") or ():
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if not claim:
                    continue
                namespace = body["metadata"]["namespace"]
                stored = self.api.stored(PERSISTENT_VOLUME_CLAIMS, claim, namespace=namespace)
                pv_name = (stored or {}).get("spec", {}).get("volumeName")
                if pv_name:
                    handles.add(self._handle_of(pv_name))
        return handles

    def detach(self) -> None:
        """Detach the volumes no pod on `NODE` uses any more; attach them to `OTHER_NODE`."""
        if self.api.stored(NODES, NODE) is None:
            return
        in_use = {attached_name(h) for h in self._handles_in_use()}
        attached = self.attached()
        kept = [name for name in attached if name in in_use]
        if len(kept) == len(attached):
            return
        self.api.patch_status(
            NODES,
            NODE,
            {"status": {"volumesAttached": [{"name": n, "devicePath": "/dev/x"} for n in kept]}},
        )
        if not self.reattach:
            return
        gone = set(attached) - set(kept)
        for va in self.api.stored_objects(VOLUME_ATTACHMENTS):
            pv_name = va["spec"]["source"]["persistentVolumeName"]
            handle = self._handle_of(pv_name)
            if va["spec"]["nodeName"] == NODE and attached_name(handle) in gone:
                self.api.delete(VOLUME_ATTACHMENTS, va["metadata"]["name"])
                self.api.seed(
                    VOLUME_ATTACHMENTS,
                    volume_attachment(
                        f"va-{handle}-{OTHER_NODE}", pv_name=pv_name, node_name=OTHER_NODE
                    ),
                )


def target(env: ControllerEnv) -> FakeApiServer:
    """The env's target cluster (drain tests always have one)."""
    assert env.target is not None
    return env.target

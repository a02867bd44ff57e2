"""Objects the kubelet simulator tests build: VMs, pods, budgets."""

from __future__ import annotations

from typing import Any

from mcm.testing.kubelet import VM

NAMESPACE = "default"


def vm(index: int = 1, *, running: bool = True, **extra: Any) -> VM:
    """A VM named like EC2 names them: node ``ip-10-0-0-<index>``, providerID with region."""
    return VM(
        provider_id=f"aws:///eu-west-1/i-{index:017x}",
        node_name=f"ip-10-0-0-{index}.eu-west-1.compute.internal",
        running=running,
        **extra,
    )


def pod(
    name: str,
    *,
    node: str | None = None,
    labels: dict[str, str] | None = None,
    grace: int | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "app"}]}
    if node is not None:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "web"}},
        "spec": spec,
    }


def budget(
    name: str = "web",
    *,
    namespace: str = NAMESPACE,
    selector: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A PodDisruptionBudget over app=web unless *selector* says otherwise."""
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}} if selector is None else selector,
            **spec,
        },
    }


def conditions(node: dict[str, Any]) -> dict[str, str]:
    """A Node's conditions as {type: status}."""
    return {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}

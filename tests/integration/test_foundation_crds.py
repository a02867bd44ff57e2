"""The CRDs in kubernetes/crds are served, and the samples in kubernetes/machine_objects fit them.

A sample "applies unchanged" when the server stores every field it wrote: a structural schema
silently prunes fields it does not know, so a create that succeeds is not enough. Each stored
object must also survive a round trip through its `mcm.api` model byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcm.api import Machine, MachineClass, MachineDeployment, MachineSet, Secret
from mcm.kube.client import KubeClient
from mcm.kube.resources import (
    CUSTOM_RESOURCE_DEFINITIONS,
    MACHINE_CLASSES,
    MACHINE_DEPLOYMENTS,
    MACHINE_SETS,
    MACHINES,
    SECRETS,
    Resource,
)
from mcm.testing.envtest import ControlPlane
from tests.integration.conftest import SAMPLES_DIR, crd_files

pytestmark = pytest.mark.timeout(30)

KINDS: Mapping[str, tuple[Resource, Callable[[Mapping[str, Any]], Any]]] = {
    "Machine": (MACHINES, Machine.from_dict),
    "MachineClass": (MACHINE_CLASSES, MachineClass.from_dict),
    "MachineSet": (MACHINE_SETS, MachineSet.from_dict),
    "MachineDeployment": (MACHINE_DEPLOYMENTS, MachineDeployment.from_dict),
    "Secret": (SECRETS, Secret.from_dict),
}


def documents(paths: list[Path]) -> list[Any]:
    return [
        pytest.param(doc, id=f"{path.stem}:{doc['metadata']['name']}")
        for path in paths
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def missing_fields(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Paths of *sent* that *stored* lacks or holds differently."""
    if isinstance(sent, Mapping):
        if not isinstance(stored, Mapping):
            return [path or "."]
        return [
            missing
            for key, value in sent.items()
            for missing in missing_fields(value, stored.get(key), f"{path}.{key}")
        ]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [
            missing
            for i, (a, b) in enumerate(zip(sent, stored, strict=True))
            for missing in missing_fields(a, b, f"{path}[{i}]")
        ]
    return [] if sent == stored else [path]


@pytest.mark.parametrize("crd", documents(crd_files()))
def test_each_crd_is_established_and_discoverable(
    control_plane: ControlPlane, api: KubeClient, crd: dict[str, Any]
) -> None:
    stored = api.get(CUSTOM_RESOURCE_DEFINITIONS, crd["metadata"]["name"])
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    spec = crd["spec"]
    for version in spec["versions"]:
        status, discovery = control_plane.request("GET", f"/apis/{spec['group']}/{version['name']}")
        assert status == 200
        served = {r["name"] for r in discovery["resources"]}
        plural = spec["names"]["plural"]
        assert plural in served
        for subresource in version.get("subresources") or {}:
            assert f"{plural}/{subresource}" in served


def test_installing_a_crd_that_exists_updates_it_in_place(
    control_plane: ControlPlane, api: KubeClient
) -> None:
    path = crd_files()[0]
    (original,) = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    name = original["metadata"]["name"]
    changed = {**original, "metadata": {**original["metadata"], "labels": {"changed": "yes"}}}

    try:
        assert control_plane.install_crds([changed]) == [name]
        assert api.get(CUSTOM_RESOURCE_DEFINITIONS, name)["metadata"]["labels"] == {
            "changed": "yes"
        }
    finally:
        control_plane.install_crds([path])

    assert "labels" not in api.get(CUSTOM_RESOURCE_DEFINITIONS, name)["metadata"]


@pytest.mark.parametrize("sample", documents(sorted(SAMPLES_DIR.glob("*.yaml"))))
def test_each_sample_object_applies_unchanged_and_round_trips_through_its_model(
    api: KubeClient, sample: dict[str, Any]
) -> None:
    resource, parse = KINDS[sample["kind"]]
    name, namespace = sample["metadata"]["name"], sample["metadata"]["namespace"]

    stored = api.create(resource, sample)
    try:
        assert missing_fields(sample, stored) == []
        assert parse(stored).to_dict() == stored
    finally:
        api.delete(resource, name, namespace=namespace)

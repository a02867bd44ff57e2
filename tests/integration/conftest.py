"""Fixtures for the integration tests: one real control plane per session, a namespace per test.

Every test under ``tests/integration`` is marked ``integration``. The control plane needs
kube-apiserver and etcd (``KUBEBUILDER_ASSETS="$(bash hack/envtest.sh)"``); without them the tests
fail with a message saying so. They are never skipped: CI must not pass without having run them.

The session's kube-apiserver runs with ``--watch-cache-sizes=configmaps#0``: ConfigMaps (which mcm
never uses) are watched straight from etcd, so `ControlPlane.compact_etcd` expires their
resourceVersions, which is how the watch-expiry tests force a ``410 Gone``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from mcm.kube.client import KubeClient
from mcm.kube.resources import NAMESPACES
from mcm.testing.envtest import ControlPlane, ControlPlaneError

HERE = Path(__file__).parent
REPO = HERE.parent.parent
CRD_DIR = REPO / "kubernetes" / "crds"
SAMPLES_DIR = REPO / "kubernetes" / "machine_objects"

UNCACHED_ARGS = {"watch-cache-sizes": ["configmaps#0"]}
"""kube-apiserver flags of the session's control plane: ConfigMap watches bypass the watch cache."""


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def crd_files() -> list[Path]:
    return sorted(CRD_DIR.glob("*.yaml"))


def start_control_plane(
    *, extra_apiserver_args: Mapping[str, Sequence[str]] | None = None
) -> ControlPlane:
    """A started `ControlPlane`, or a test failure (never a skip) saying what is missing."""
    try:
        plane = ControlPlane(extra_apiserver_args=extra_apiserver_args)
    except ControlPlaneError as exc:
        pytest.fail(f"integration tests need kube-apiserver and etcd: {exc}", pytrace=False)
    return plane.start()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = start_control_plane(extra_apiserver_args=UNCACHED_ARGS)
    try:
        if crd_files():
            plane.install_crds(crd_files())
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> Iterator[KubeClient]:
    """An admin client; throttled far above what the tests need, so it never slows them."""
    with KubeClient.from_kubeconfig(control_plane.kubeconfig_path, qps=500, burst=500) as client:
        yield client


@pytest.fixture
def namespace(api: KubeClient) -> str:
    """A fresh namespace. Left behind: without a namespace controller it could never go away."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name

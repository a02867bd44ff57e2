"""Fixtures for the KubeClient tests; the doubles themselves live in `kube_http_fakes`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcm.kube.client import KubeClient
from tests.unit.kube.kube_http_fakes import PKI, TOKEN, FakeAPIServer, make_pki, write_kubeconfig


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake server is local: keep any proxy in the environment out of the way."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def apiserver() -> Iterator[FakeAPIServer]:
    server = FakeAPIServer()
    yield server
    server.close()


@pytest.fixture
def token() -> str:
    """The bearer token in the default kubeconfig."""
    return TOKEN


@pytest.fixture
def make_kubeconfig(tmp_path: Path) -> Callable[..., Path]:
    """`write_kubeconfig` into the test's temporary directory."""

    def make(server: str, **kwargs: Any) -> Path:
        return write_kubeconfig(tmp_path, server, **kwargs)

    return make


@pytest.fixture
def kubeconfig(tmp_path: Path, apiserver: FakeAPIServer) -> Path:
    return write_kubeconfig(tmp_path, apiserver.url)


@pytest.fixture
def client(kubeconfig: Path) -> Iterator[KubeClient]:
    """A client for the fake server, unthrottled (throttling has its own tests)."""
    with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        yield kube


@pytest.fixture(scope="session")
def pki() -> PKI:
    return make_pki()


@pytest.fixture
def tls_apiserver(tmp_path: Path, pki: PKI) -> Iterator[FakeAPIServer]:
    server = FakeAPIServer(tls=pki.server_context(tmp_path))
    yield server
    server.close()

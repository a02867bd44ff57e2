"""`mcm.testing.envtest.ControlPlane` itself: what it starts, what it serves, what it leaves behind.

The lifecycle tests start control planes of their own, so that stopping (or killing) one does not
touch the session's.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mcm.errors import ForbiddenError, GoneError, TransportError
from mcm.kube.client import KubeClient
from mcm.kube.resources import MACHINES, NAMESPACES, Resource
from mcm.testing import envtest
from mcm.testing.envtest import BinaryNotFoundError, ControlPlane

pytestmark = pytest.mark.timeout(60)

CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
)
EXIT_WAIT = 15.0
"""Seconds a process may take to disappear after it was told to (or its parent died)."""


# ----------------------------------------------------------------------------- what it serves


def test_the_api_server_is_ready_and_its_certificate_verifies_only_with_the_minted_ca(
    control_plane: ControlPlane,
) -> None:
    status, version = control_plane.request("GET", "/version")
    assert status == 200
    assert version["major"] == "1"
    assert control_plane.request("GET", "/readyz")[1] == "ok"

    untrusting = ssl.create_default_context()  # the system's CAs only
    port = int(control_plane.server_url.rsplit(":", 1)[1])
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        untrusting.wrap_socket(sock, server_hostname="localhost")


def test_the_admin_kubeconfig_is_a_cluster_admin(control_plane: ControlPlane) -> None:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig_path) as admin:
        assert admin.get(NAMESPACES, "default")["metadata"]["name"] == "default"
        assert admin.get(NAMESPACES, "kube-system")["metadata"]["name"] == "kube-system"


def test_a_user_minted_by_add_user_gets_exactly_what_rbac_grants(
    control_plane: ControlPlane, api: KubeClient, namespace: str
) -> None:
    path = control_plane.add_user(f"reader-{namespace}", ["readers-" + namespace])
    with KubeClient.from_kubeconfig(path) as reader:
        with pytest.raises(ForbiddenError):
            reader.list(NAMESPACES)

        api.create(
            CLUSTER_ROLES,
            {
                "metadata": {"name": f"read-{namespace}"},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
            },
        )
        api.create(
            CLUSTER_ROLE_BINDINGS,
            {
                "metadata": {"name": f"read-{namespace}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"read-{namespace}",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "readers-" + namespace,
                    }
                ],
            },
        )

        # RBAC reads its objects through an informer: allow it a moment to see the binding.
        deadline = time.monotonic() + 10
        while True:
            try:
                names = {n["metadata"]["name"] for n in reader.list(NAMESPACES).items}
                break
            except ForbiddenError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert namespace in names
        with pytest.raises(ForbiddenError):
            reader.get(NAMESPACES, namespace)  # "get" was not granted


@pytest.mark.timeout(30)
def test_a_paused_api_server_answers_nothing_until_it_is_resumed(
    control_plane: ControlPlane,
) -> None:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig_path, request_timeout=0.5) as client:
        with control_plane.paused():
            paused = control_plane.is_paused
            with pytest.raises(TransportError):
                client.get(NAMESPACES, "default")
        resumed = not control_plane.is_paused

        assert paused
        assert resumed
        assert client.get(NAMESPACES, "default")["metadata"]["name"] == "default"


def test_compacting_etcd_expires_watches_served_by_etcd_but_not_those_of_the_watch_cache(
    control_plane: ControlPlane, api: KubeClient, namespace: str
) -> None:
    # The session's server watches ConfigMaps straight from etcd; Machines from its watch cache.
    def body(resource: Resource, name: str) -> dict[str, Any]:
        return {
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {"name": name, "namespace": namespace},
        }

    def first_watched(resource: Resource, resource_version: str) -> str:
        """The name in the first event of a watch from *resource_version*."""
        stream = api.watch(
            resource,
            namespace=namespace,
            resource_version=resource_version,
            timeout_seconds=5,
            allow_watch_bookmarks=False,
        )
        try:
            return str(next(iter(stream)).object["metadata"]["name"])
        finally:
            stream.close()

    old = {
        r: api.create(r, body(r, "old"))["metadata"]["resourceVersion"]
        for r in (CONFIG_MAPS, MACHINES)
    }
    for resource in (CONFIG_MAPS, MACHINES):
        api.create(resource, body(resource, "new"))
    assert first_watched(CONFIG_MAPS, old[CONFIG_MAPS]) == "new"

    revision = control_plane.compact_etcd()

    assert revision >= int(old[MACHINES])
    with pytest.raises(GoneError):
        first_watched(CONFIG_MAPS, old[CONFIG_MAPS])
    assert first_watched(MACHINES, old[MACHINES]) == "new"
    assert control_plane.compact_etcd() == revision  # nothing new: compacting again is a no-op


# ------------------------------------------------------------------------------ binaries


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        pytest.param({}, "make envtest", id="nothing-set"),
        pytest.param({"KUBEBUILDER_ASSETS": "/nonexistent"}, "/nonexistent", id="empty-assets"),
        pytest.param(
            {"KUBEBUILDER_ASSETS": "/nonexistent", "TEST_ASSET_KUBE_APISERVER": "/bin/nope"},
            "TEST_ASSET_KUBE_APISERVER",
            id="bad-override",
        ),
    ],
)
def test_missing_binaries_raise_an_error_that_says_what_to_do(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(BinaryNotFoundError, match=named):
        ControlPlane(environ=environ)


def test_a_binary_named_by_its_test_asset_variable_wins_over_kubebuilder_assets(
    tmp_path: Path,
) -> None:
    etcd = tmp_path / "my-etcd"
    etcd.write_text("#!/bin/sh\n")
    etcd.chmod(0o755)

    found = envtest.find_binary(
        "etcd", environ={"KUBEBUILDER_ASSETS": "/nonexistent", "TEST_ASSET_ETCD": str(etcd)}
    )

    assert found == etcd


# ----------------------------------------------------------------------------- lifecycle


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every process `mcm.testing.envtest` starts during the test, failed attempts included."""
    processes: list[subprocess.Popen[bytes]] = []
    popen = envtest._popen

    def recording(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
        process = popen(args, log_path)
        processes.append(process)
        return process

    monkeypatch.setattr(envtest, "_popen", recording)
    return processes


def assert_nothing_left(
    pids: Sequence[int], ports: Sequence[int], workdir: Path | None = None
) -> None:
    for pid in pids:
        assert not running(pid), f"process {pid} outlived its control plane"
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As a server binds (SO_REUSEADDR: closed connections may linger in TIME_WAIT); this
            # raises only if something still listens there.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
    if workdir is not None:
        assert not workdir.exists()


def running(pid: int) -> bool:
    """Is *pid* a live process (not gone, not a zombie)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Block until *pid* (any process, not only a child) has exited; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


@pytest.mark.parametrize("body_raises", [False, True], ids=["returned", "raised"])
def test_stopping_leaves_no_process_no_port_and_no_directory_behind(
    started: list[subprocess.Popen[bytes]], body_raises: bool
) -> None:
    plane = ControlPlane()
    with contextlib.suppress(RuntimeError), plane:
        workdir, ports = plane.workdir, plane.ports
        client = KubeClient.from_kubeconfig(plane.kubeconfig_path)
        stream = client.watch(NAMESPACES, timeout_seconds=60)  # open watches must not delay stop
        assert client.get(NAMESPACES, "default")
        stopping = time.monotonic()
        if body_raises:
            raise RuntimeError("the test body failed")

    assert time.monotonic() - stopping < EXIT_WAIT
    assert [p.returncode is not None for p in started] == [True, True]
    assert_nothing_left([p.pid for p in started], ports, workdir)
    assert not plane.running
    plane.stop()  # again: a no-op
    stream.close()
    client.close()


def test_a_start_that_loses_a_port_race_is_retried_and_leaves_nothing_behind(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    free_ports = envtest._free_ports
    calls: list[int] = []

    def racing(count: int) -> list[int]:
        ports = free_ports(count)
        calls.append(count)
        if len(calls) == 1:
            ports[1] = taken  # etcd's client port: etcd exits at once
        return ports

    monkeypatch.setattr(envtest, "_free_ports", racing)

    try:
        with ControlPlane() as plane:
            assert plane.request("GET", "/readyz")[1] == "ok"
            ports = plane.ports
    finally:
        squatter.close()

    assert len(calls) == 2
    assert taken not in ports
    assert len(started) == 3  # the first attempt's etcd, then etcd and kube-apiserver
    assert_nothing_left([p.pid for p in started], ports)


CHILD = """
import json, sys
from mcm.testing.envtest import ControlPlane
plane = ControlPlane().start()
print(json.dumps({"pids": plane.pids, "ports": plane.ports, "workdir": str(plane.workdir)}))
sys.stdout.flush()
sys.stdin.read()  # until killed
"""


def test_the_control_plane_dies_with_the_process_that_started_it() -> None:
    workdir = ""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    ) as child:
        try:
            assert child.stdout is not None
            started = json.loads(child.stdout.readline())
            workdir = started["workdir"]
            assert all(running(pid) for pid in started["pids"])

            child.kill()  # no atexit, no finally: only PR_SET_PDEATHSIG can clean up
            child.wait(EXIT_WAIT)

            assert all(wait_for_exit(pid, EXIT_WAIT) for pid in started["pids"])
            assert_nothing_left(started["pids"], started["ports"])
        finally:
            child.kill()
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)  # the one thing a killed owner leaves

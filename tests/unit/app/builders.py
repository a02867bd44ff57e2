"""Builders and a harness for running the whole machine controller, in memory or on envtest.

Objects are the JSON a client sends to ``create``. `World` runs a `MachineControllerApp` with a
`FakeDriver` and, with a target cluster, a `KubeletSimulator` that registers the Nodes of the
driver's VMs, each in a thread of its own, against any `mcm.kube.protocol.Api`: a
`mcm.testing.FakeApiServer` in unit tests, a `KubeClient` on a real kube-apiserver in the
integration tests. Tests poll the API with `eventually` (a real-time deadline) for what the
controller is expected to do.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
from prometheus_client import CollectorRegistry

from mcm.api.constants import NODE_FINALIZER_NAME
from mcm.api.machine import Machine, MachinePhase
from mcm.app import MachineControllerApp
from mcm.driver.fake import FakeDriver
from mcm.errors import MCMError, NotFoundError
from mcm.kube.protocol import Api
from mcm.kube.resources import MACHINES, NODES
from mcm.options import LeaderElectionOptions, MachineControllerOptions
from mcm.testing.kubelet import KubeletSimulator
from mcm.testing.vm_sources import FakeDriverVMSource

CLASS = "fake-class"
SECRET = "fake-secret"
USER_DATA = "#!/bin/sh\necho join <<BOOTSTRAP_TOKEN>> as <<MACHINE_NAME>>\n"
JOIN_TIMEOUT = 15.0
"""Real seconds a test waits for a machine to become Running."""

V = TypeVar("V")


# ------------------------------------------------------------------------------------ objects


def secret(namespace: str, name: str = SECRET, **data: str) -> dict[str, Any]:
    values = data or {"userData": USER_DATA}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def machine_class(
    namespace: str, name: str = CLASS, *, secret_name: str = SECRET
) -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineClass",
        "metadata": {"name": name, "namespace": namespace},
        "provider": "FakeProvider",
        "providerSpec": {"image": "fake-image-1"},
        "secretRef": {"name": secret_name, "namespace": namespace},
    }


def machine(
    namespace: str,
    name: str,
    *,
    class_name: str = CLASS,
    labels: Mapping[str, str] | None = None,
    node_labels: Mapping[str, str] | None = None,
    taints: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A Machine of *class_name*; *node_labels* and *taints* go into its ``nodeTemplate``."""
    spec: dict[str, Any] = {
        "class": {"apiGroup": "machine.sapcloud.io", "kind": "MachineClass", "name": class_name}
    }
    if node_labels or taints:
        spec["nodeTemplate"] = {
            "metadata": {"labels": dict(node_labels or {})},
            "spec": {"taints": [dict(t) for t in taints]},
        }
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": spec,
    }


# ------------------------------------------------------------------------------------ waiting


def eventually(check: Callable[[], V | None], *, timeout: float, interval: float = 0.1) -> V:
    """*check*'s first truthy result, polling in real time for at most *timeout* seconds.

    API errors count as "not yet" (the server may be paused or restarting). Fails the test with
    the last result (or error) when time runs out.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except MCMError as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f}s; last seen: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port that was free a moment ago (the app's options refuse port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET, error statuses included; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- our server
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()
    except OSError as error:  # refused: the server is not (or no longer) listening
        return 0, str(error)


def options(namespace: str, **overrides: Any) -> MachineControllerOptions:
    """Options for a test: one cluster for both roles, no leader election, few workers."""
    base = MachineControllerOptions(
        namespace=namespace,
        address="127.0.0.1",
        port=free_port(),
        concurrent_syncs=3,
        target_kubeconfig="",
        control_kubeconfig="injected",
        leader_election=LeaderElectionOptions(leader_elect=False),
    )
    return attrs.evolve(base, **overrides)


def election(
    *, lease_duration: float = 2.0, renew_deadline: float = 1.5, retry_period: float = 0.25
) -> LeaderElectionOptions:
    """Leader election with durations short enough for a test."""
    return LeaderElectionOptions(
        leader_elect=True,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
    )


# ------------------------------------------------------------------------------------ harness


class AppThread:
    """A `MachineControllerApp` running in a thread, with its own stop event."""

    def __init__(self, app: MachineControllerApp) -> None:
        self.app = app
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="app-under-test", daemon=True)

    def _run(self) -> None:
        try:
            self.app.run(self.stop_event)
        except BaseException as exc:  # handed to the test
            self.error = exc

    def start(self) -> AppThread:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        """Wait for the app to return; fails the test if it does not within *timeout*."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the app did not return within {timeout:.0f}s")

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        self.join(timeout)


@attrs.define
class World:
    """A machine controller, its fake cloud and (with a target) the kubelets of its VMs."""

    api: Api
    namespace: str
    options: MachineControllerOptions
    driver: FakeDriver = attrs.field(factory=FakeDriver)
    registry: CollectorRegistry = attrs.field(factory=CollectorRegistry)
    orphan_vm_grace_period: float = 0.0
    kubelet: KubeletSimulator | None = None
    apps: list[AppThread] = attrs.field(factory=list)
    _kubelet_stop: threading.Event = attrs.field(factory=threading.Event)
    _kubelet_thread: threading.Thread | None = None

    def start_kubelets(
        self, *, poll_interval: float = 0.2, grace_period_cap: float = 0.0
    ) -> KubeletSimulator:
        """Nodes for the driver's VMs, pods of this namespace run, budgets kept current.

        A deleted pod terminates after its grace period, at most *grace_period_cap* seconds.
        """
        self.kubelet = KubeletSimulator(
            self.api,
            FakeDriverVMSource(self.driver),
            poll_interval=poll_interval,
            grace_period_cap=grace_period_cap,
            namespace=self.namespace,
            name=f"kubelets-{self.namespace}",
        )
        self._kubelet_thread = threading.Thread(
            target=self.kubelet.run, args=(self._kubelet_stop,), name="kubelets", daemon=True
        )
        self._kubelet_thread.start()
        return self.kubelet

    def start_app(self, **overrides: Any) -> AppThread:
        """Another replica of the controller; *overrides* are `MachineControllerApp` keywords."""
        kwargs: dict[str, Any] = {
            "control_api": self.api,
            "registry": self.registry if not self.apps else CollectorRegistry(),
            "orphan_vm_grace_period": self.orphan_vm_grace_period,
            "shutdown_timeout": 5.0,
        }
        kwargs.update(overrides)
        # Each replica serves metrics on a port of its own.
        options = attrs.evolve(kwargs.pop("options", self.options), port=free_port())
        running = AppThread(MachineControllerApp(self.driver, options, **kwargs)).start()
        self.apps.append(running)
        return running

    @property
    def app(self) -> MachineControllerApp:
        return self.apps[0].app

    def stop(self) -> None:
        """Stop every replica, then the kubelets; raise what a replica raised."""
        for running in self.apps:
            running.stop_event.set()
        for running in self.apps:
            running.join(20.0)
        self._kubelet_stop.set()
        if self._kubelet_thread is not None:
            self._kubelet_thread.join(10.0)
        errors = [running.error for running in self.apps if running.error is not None]
        if errors:
            raise errors[0]

    # --- reading ----------------------------------------------------------------------------------

    def machine(self, name: str) -> Machine | None:
        try:
            return Machine.from_dict(self.api.get(MACHINES, name, namespace=self.namespace))
        except NotFoundError:
            return None

    def phase_of(self, name: str) -> MachinePhase | None:
        found = self.machine(name)
        return found.phase if found is not None else None

    def wait_for_phase(self, name: str, phase: MachinePhase, *, timeout: float) -> Machine:
        def reached() -> Machine | None:
            found = self.machine(name)
            return found if found is not None and found.phase is phase else None

        return eventually(reached, timeout=timeout)

    def node(self, name: str) -> dict[str, Any] | None:
        try:
            return self.api.get(NODES, name)
        except NotFoundError:
            return None

    def remove_nodes(self, names: Iterable[str]) -> None:
        """Delete Nodes left behind (cluster-scoped: they would outlive the test's namespace)."""
        for name in names:
            with contextlib.suppress(NotFoundError):
                node = self.api.get(NODES, name)
                finalizers = [
                    f for f in node["metadata"].get("finalizers") or () if f != NODE_FINALIZER_NAME
                ]
                self.api.patch(NODES, name, {"metadata": {"finalizers": finalizers or None}})
                self.api.delete(NODES, name)


@contextlib.contextmanager
def running_world(world: World) -> Iterator[World]:
    """Stops *world* at the end, whatever happened."""
    try:
        yield world
    finally:
        world.stop()

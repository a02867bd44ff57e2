"""`MachineControllerApp` wired end to end on in-memory API servers: start, reconcile, stop.

Each test runs the real app (informers, queues, workers, HTTP server, leader election) in a thread
against a `FakeApiServer`, with real time and bounded waits.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mcm.api.machine import MachinePhase
from mcm.app import (
    LeadershipLostError,
    MachineControllerApp,
    StartupError,
    install_signal_handlers,
    run_machine_controller,
)
from mcm.driver.fake import FakeDriver
from mcm.errors import NotFoundError
from mcm.kube.resources import LEASES, MACHINE_CLASSES, MACHINES, SECRETS
from mcm.leaderelection import LeaderElectionRecord
from mcm.options import MACHINE_CONTROLLER_LOCK_NAME
from mcm.testing.fake_api import FakeApiServer
from tests.unit.app.builders import (
    JOIN_TIMEOUT,
    World,
    election,
    eventually,
    http_get,
    machine,
    machine_class,
    options,
    secret,
)

pytestmark = pytest.mark.timeout(30)

NAMESPACE = "default"


@pytest.fixture
def world() -> Iterator[World]:
    world = World(FakeApiServer(), NAMESPACE, options(NAMESPACE))
    try:
        yield world
    finally:
        world.stop()


def seed_class(world: World) -> None:
    world.api.create(SECRETS, secret(NAMESPACE))
    world.api.create(MACHINE_CLASSES, machine_class(NAMESPACE))


def lease(world: World) -> LeaderElectionRecord:
    raw = world.api.get(LEASES, MACHINE_CONTROLLER_LOCK_NAME, namespace=NAMESPACE)
    return LeaderElectionRecord.from_lease(raw)


def metric_value(body: str, series: str) -> float | None:
    found = re.search(rf"^{re.escape(series)} (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else None


# ------------------------------------------------------------------------------------ running


def test_a_machine_is_created_and_runs_once_its_node_joins(world: World) -> None:
    world.start_kubelets()
    world.start_app()
    seed_class(world)

    world.api.create(MACHINES, machine(NAMESPACE, "machine-a"))

    running = world.wait_for_phase("machine-a", MachinePhase.RUNNING, timeout=JOIN_TIMEOUT)
    assert running.spec.provider_id in world.driver.vms
    assert running.node_name == "machine-a"
    assert world.driver.calls_for("machine-a")[:3] == (
        "get_machine_status",
        "create_machine",
        "initialize_machine",
    )


def test_without_a_target_cluster_a_machine_becomes_available_and_no_node_queue_runs() -> None:
    world = World(
        FakeApiServer(),
        NAMESPACE,
        options(NAMESPACE, target_kubeconfig="none", control_kubeconfig="injected"),
    )
    try:
        world.start_app()
        seed_class(world)

        world.api.create(MACHINES, machine(NAMESPACE, "machine-a"))

        available = world.wait_for_phase("machine-a", MachinePhase.AVAILABLE, timeout=JOIN_TIMEOUT)
        assert available.status.addresses
        context = world.app.context
        assert context is not None
        assert context.target is None
        assert context.nodes is None
        _, body = http_get(world.app.server.url + "/metrics")
        assert 'workqueue_adds_total{name="machine"}' in body
        assert 'name="node"' not in body
        assert 'name="machinesafetyapiserver"' not in body
    finally:
        world.stop()


def test_the_metrics_endpoint_serves_upstreams_machine_series_and_the_named_queues(
    world: World,
) -> None:
    world.start_app()
    seed_class(world)
    world.api.create(MACHINES, machine(NAMESPACE, "machine-a"))
    world.wait_for_phase("machine-a", MachinePhase.PENDING, timeout=JOIN_TIMEOUT)

    status, body = http_get(world.app.server.url + "/metrics")

    assert status == 200
    assert metric_value(body, "mcm_machine_items_total") == 1.0
    assert metric_value(body, "mcm_machine_controller_frozen") == 0.0
    assert (
        metric_value(body, 'mcm_machine_current_status_phase{name="machine-a",namespace="default"}')
        == 0.0
    )
    for queue in (
        "machine",
        "machinetermination",
        "machineclass",
        "secret",
        "node",
        "machinesafetyorphanvms",
        "machinesafetyapiserver",
    ):
        assert f'workqueue_depth{{name="{queue}"}}' in body, queue


def test_health_endpoints_answer_while_running_and_fail_after_shutdown(world: World) -> None:
    running = world.start_app()
    eventually(lambda: world.app.synced, timeout=5.0)
    url = world.app.server.url

    assert http_get(url + "/healthz") == (200, "ok\n")
    assert http_get(url + "/readyz")[0] == 200
    running.stop(10.0)

    assert world.app.server.run_checks(ready=True) == [
        ("machine-controller", False),
        ("informers-synced", False),
    ]


def test_the_orphan_vm_pass_runs_at_start_and_then_every_period() -> None:
    world = World(
        FakeApiServer(), NAMESPACE, options(NAMESPACE, machine_safety_orphan_vms_period=0.2)
    )
    try:
        world.api.create(MACHINE_CLASSES, machine_class(NAMESPACE))
        world.start_app()

        eventually(
            lambda: sum(1 for c in world.driver.calls if c.method == "list_machines") >= 3,
            timeout=5.0,
        )
    finally:
        world.stop()


# ------------------------------------------------------------------------------------ failing


def test_invalid_options_are_refused_with_every_problem_before_anything_starts() -> None:
    bad = options(NAMESPACE, concurrent_syncs=0, machine_health_timeout=-1.0)

    with pytest.raises(StartupError) as raised:
        MachineControllerApp(FakeDriver(), bad, control_api=FakeApiServer())

    assert "concurrent syncs should be greater than zero" in str(raised.value)
    assert "machine health timeout" in str(raised.value)


def test_a_control_cluster_without_the_machine_crds_fails_the_start(world: World) -> None:
    assert isinstance(world.api, FakeApiServer)
    world.api.fail_next(
        "list", MACHINES, error=NotFoundError("the server could not find it", status=404)
    )
    running = world.start_app()

    running.join(5.0)

    assert isinstance(running.error, StartupError)
    assert "install the machine CRDs" in str(running.error)
    world.apps.clear()  # nothing left to stop


def test_a_failure_to_build_the_controllers_is_raised_and_the_lease_released(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("reconciler bug")

    monkeypatch.setattr("mcm.app.MachineReconciler", broken)
    running = world.start_app(options=options(NAMESPACE, leader_election=election()))

    running.join(10.0)

    assert isinstance(running.error, RuntimeError)
    assert lease(world).holder_identity == ""
    world.apps.clear()


# ------------------------------------------------------------------------------------ leading


def test_the_leader_lease_is_held_while_running_and_released_on_stop(world: World) -> None:
    running = world.start_app(
        options=options(NAMESPACE, leader_election=election()), identity="replica-a"
    )
    eventually(lambda: world.app.leading, timeout=5.0)

    assert lease(world).holder_identity == "replica-a"
    running.stop(10.0)

    assert lease(world).holder_identity == ""
    assert not world.app.leading


def test_losing_the_lease_stops_the_controllers_and_raises_leadership_lost(world: World) -> None:
    running = world.start_app(
        options=options(NAMESPACE, leader_election=election()), identity="replica-a"
    )
    eventually(lambda: world.app.synced, timeout=5.0)

    stolen = world.api.get(LEASES, MACHINE_CONTROLLER_LOCK_NAME, namespace=NAMESPACE)
    stolen["spec"] = {**stolen["spec"], "holderIdentity": "thief", "leaseDurationSeconds": 60}
    world.api.update(LEASES, stolen, namespace=NAMESPACE)
    running.join(10.0)

    assert isinstance(running.error, LeadershipLostError)
    assert "replica-a" in str(running.error)
    assert not world.app.leading
    assert world.app.server.run_checks() == [("machine-controller", False)]
    assert lease(world).holder_identity == "thief"
    world.apps.clear()


# ------------------------------------------------------------------------------------ signals


def test_the_first_sigterm_sets_stop_and_the_previous_handlers_come_back() -> None:
    assert threading.current_thread() is threading.main_thread()
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = install_signal_handlers(stop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)

        assert stop.wait(5.0)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        restore()

    assert signal.getsignal(signal.SIGTERM) == before


def serve_once_on_the_default_registry() -> None:
    """Run `run_machine_controller` until it is ready and serves metrics, then stop it."""
    settings = options(NAMESPACE)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_machine_controller(FakeDriver(), settings, stop=stop, control_api=FakeApiServer())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    try:
        eventually(lambda: http_get(url + "/readyz")[0] == 200, timeout=5.0)
        _, body = http_get(url + "/metrics")
        assert metric_value(body, "mcm_machine_controller_frozen") == 0.0
    finally:
        stop.set()
        thread.join(10.0)
    assert not thread.is_alive()
    assert errors == []


def test_run_machine_controller_runs_twice_in_one_process_on_the_default_registry() -> None:
    serve_once_on_the_default_registry()

    serve_once_on_the_default_registry()

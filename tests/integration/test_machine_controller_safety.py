"""The machine controller's safety nets on a real kube-apiserver: freezing, leader election.

As in ``test_machine_controller_lifecycle.py``, the whole app runs in threads against the
session's control plane (control and target cluster at once) with a `FakeDriver` and simulated
kubelets. The freeze test stops the session's kube-apiserver for a few seconds (SIGSTOP) and always
thaws it again.
"""

from __future__ import annotations

import re

import pytest

from mcm.api.machine import MachinePhase
from mcm.kube.client import KubeClient
from mcm.kube.resources import LEASES, MACHINE_CLASSES, MACHINES, SECRETS
from mcm.leaderelection import LeaderElectionRecord
from mcm.options import MACHINE_CONTROLLER_LOCK_NAME
from mcm.testing.envtest import ControlPlane
from tests.unit.app.builders import (
    JOIN_TIMEOUT,
    AppThread,
    World,
    election,
    eventually,
    http_get,
    machine,
    machine_class,
    options,
    secret,
)

FROZEN = re.compile(r"^mcm_machine_controller_frozen (?P<value>[0-9.]+)$", re.MULTILINE)


def frozen_metric(world: World) -> float | None:
    """``mcm_machine_controller_frozen`` as the app's /metrics endpoint serves it."""
    status, body = http_get(world.app.server.url + "/metrics")
    found = FROZEN.search(body) if status == 200 else None
    return float(found.group("value")) if found else None


@pytest.mark.timeout(60)
def test_an_unreachable_api_server_freezes_the_controller_until_it_answers_again(
    control_plane: ControlPlane, namespace: str
) -> None:
    # Requests must fail fast while the server is stopped: 1 s instead of 30 s.
    with KubeClient.from_kubeconfig(
        control_plane.kubeconfig_path, qps=100, burst=200, request_timeout=1.0
    ) as client:
        world = World(
            client,
            namespace,
            options(
                namespace,
                machine_safety_apiserver_statuscheck_timeout=2.0,
                machine_safety_apiserver_statuscheck_period=2.0,
            ),
        )
        try:
            world.start_app()
            eventually(lambda: world.app.synced, timeout=10.0)
            assert frozen_metric(world) == 0.0

            with control_plane.paused():
                eventually(lambda: frozen_metric(world) == 1.0, timeout=20.0, interval=0.25)
                context = world.app.context
                assert context is not None
                assert context.safety.frozen

            eventually(lambda: frozen_metric(world) == 0.0, timeout=20.0, interval=0.25)
            assert not context.safety.frozen
        finally:
            world.stop()


def lease_holder(client: KubeClient, namespace: str) -> LeaderElectionRecord:
    lease = client.get(LEASES, MACHINE_CONTROLLER_LOCK_NAME, namespace=namespace)
    return LeaderElectionRecord.from_lease(lease)


def the_leader(replicas: list[AppThread]) -> AppThread | None:
    leading = [replica for replica in replicas if replica.app.leading]
    assert len(leading) <= 1, "two replicas lead at once"
    return leading[0] if leading else None


@pytest.mark.timeout(60)
def test_two_replicas_elect_one_leader_and_the_other_takes_over_when_it_stops(
    control_plane: ControlPlane, namespace: str
) -> None:
    with KubeClient.from_kubeconfig(
        control_plane.kubeconfig_path, qps=100, burst=200, request_timeout=5.0
    ) as client:
        client.create(SECRETS, secret(namespace))
        client.create(MACHINE_CLASSES, machine_class(namespace))
        world = World(client, namespace, options(namespace, leader_election=election()))
        first, second = f"f-{namespace}", f"g-{namespace}"
        try:
            world.start_kubelets()
            replicas = [
                world.start_app(identity="replica-a"),
                world.start_app(identity="replica-b"),
            ]

            leader = eventually(lambda: the_leader(replicas), timeout=10.0)
            follower = next(replica for replica in replicas if replica is not leader)
            assert lease_holder(client, namespace).holder_identity == leader.app.identity
            client.create(MACHINES, machine(namespace, first))
            world.wait_for_phase(first, MachinePhase.RUNNING, timeout=JOIN_TIMEOUT)
            assert not follower.app.leading
            transitions = lease_holder(client, namespace).leader_transitions

            leader.stop(15.0)

            eventually(lambda: the_leader(replicas) is follower, timeout=10.0)
            record = lease_holder(client, namespace)
            assert record.holder_identity == follower.app.identity
            assert record.leader_transitions == transitions + 1
            client.create(MACHINES, machine(namespace, second))
            world.wait_for_phase(second, MachinePhase.RUNNING, timeout=JOIN_TIMEOUT)
        finally:
            try:
                world.stop()
            finally:
                world.remove_nodes([first, second])

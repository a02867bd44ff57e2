"""`KubeletSimulator.run`: the threaded loop reacts to watched changes and polls the VM source."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mcm.kube.resources import NODES, POD_DISRUPTION_BUDGETS, PODS
from mcm.testing.kubelet import KubeletSimulator
from tests.unit.kubelet.kubelet_builders import NAMESPACE, budget, pod, vm

pytestmark = pytest.mark.timeout(20)


def eventually(
    check: Callable[[], bool], *, timeout: float = 5.0, step: Callable[[], None] = lambda: None
) -> bool:
    """Poll *check* (in real time, at most *timeout*), calling *step* between tries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        step()
        time.sleep(0.005)
    return check()


@pytest.fixture
def running(api, source, clock) -> Iterator[KubeletSimulator]:
    kubelet = KubeletSimulator(api, source, clock=clock, poll_interval=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=kubelet.run, args=(stop,), daemon=True)
    source.add(vm(1))
    thread.start()
    yield kubelet
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()


def test_the_running_simulator_registers_runs_finishes_and_budgets(api, source, clock, running):
    node = vm(1).node_name
    assert eventually(lambda: api.stored(NODES, node) is not None)

    api.create(PODS, pod("web-0", node=node))
    api.create(PODS, pod("web-1", node=node))
    assert eventually(
        lambda: all(
            api.stored(PODS, name, namespace=NAMESPACE)["status"]["phase"] == "Running"
            for name in ("web-0", "web-1")
        )
    )
    api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=1))
    assert eventually(
        lambda: (
            api.stored(POD_DISRUPTION_BUDGETS, "web", namespace=NAMESPACE)["status"].get(
                "disruptionsAllowed"
            )
            == 1
        )
    )

    api.evict("web-0", namespace=NAMESPACE)
    assert eventually(lambda: api.stored(PODS, "web-0", namespace=NAMESPACE) is None)
    assert eventually(
        lambda: (
            api.stored(POD_DISRUPTION_BUDGETS, "web", namespace=NAMESPACE)["status"].get(
                "expectedPods"
            )
            == 1
        )
    )

    source.remove(vm(1).provider_id)  # the VM source is polled, not watched: time must pass
    assert eventually(lambda: api.stored(NODES, node) is None, step=lambda: clock.step(1.0))


def test_the_running_simulator_survives_broken_watches(api, source, clock, running):
    node = vm(1).node_name
    assert eventually(lambda: api.stored(NODES, node) is not None)
    assert api.wait_for_watchers(PODS, 1)

    api.drop_watches()
    api.create(PODS, pod("web-0", node=node))

    assert eventually(
        lambda: api.stored(PODS, "web-0", namespace=NAMESPACE)["status"]["phase"] == "Running",
        step=lambda: clock.step(1.0),  # the reflectors back off on the clock before watching again
    )

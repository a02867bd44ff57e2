"""Upstream's RunDrain table (§8 scenario 56), adapted to the resumable drain.

Each scenario seeds a node with pods of the kinds upstream's ``drain_test.go`` uses (no volume,
exclusive volumes, shared volumes, both), then repeats drain passes, letting `World` play the
kubelet and the attach/detach controller between passes and stepping the FakeClock by what each
pass asks.
The drain must end `DONE` with every pod gone, having evicted (or deleted) each pod exactly once,
and never run two pods with volumes at the same time.
"""

from __future__ import annotations

import attrs
import pytest

from mcm.controller.drain import INTERVAL, Drainer, DrainOptions, DrainOutcome, DrainStatus
from mcm.errors import TooManyRequestsError
from mcm.kube.resources import NODES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import (
    NODE,
    World,
    node,
    pod,
    pod_with_volumes,
    pv,
    pvc,
    target,
)

pytestmark = pytest.mark.timeout(20)


@attrs.frozen(kw_only=True)
class Setup:
    without_volume: int = 0
    exclusive: int = 0
    shared: int = 0
    exclusive_and_shared: int = 0
    volumes_per_pod: int = 1
    attachments: bool = False
    evict: bool = True
    force: bool = False
    grace: int = 5
    evict_fails: bool = False


def seed(env: ControllerEnv, setup: Setup) -> int:
    """Seed the pods of *setup* on NODE; returns how many there are."""
    api = target(env)
    handles: list[str] = []
    for index in range(setup.without_volume):
        api.seed(PODS, pod(f"nopv-{index}", grace=setup.grace))
    for index in range(setup.exclusive):
        own = [f"ex{index}-{v}" for v in range(setup.volumes_per_pod)]
        handles += own
        pod_with_volumes(
            env, f"expv-{index}", handles=own, attachments=setup.attachments, grace=setup.grace
        )
    for index in range(setup.shared):
        # Two pods per shared volume: upstream's "only shared" pods.
        shared = f"sh{index // 2}"
        if index % 2 == 0:
            handles.append(shared)
            pod_with_volumes(env, f"shpv-{index}", handles=[shared], grace=setup.grace)
        else:
            api.seed(PODS, pod(f"shpv-{index}", claims=[f"shpv-{index - 1}-{shared}"]))
    for index in range(setup.exclusive_and_shared):
        own = [f"exsh{index}-{v}" for v in range(setup.volumes_per_pod)]
        handles += own
        body = pod_with_volumes(
            env, f"exshpv-{index}", handles=own, attachments=setup.attachments, grace=setup.grace
        )
        # ... plus a claim shared with the pod next to it.
        shared_claim = f"exsh-shared-{index // 2}"
        shared_pv = f"pv-shared-{index // 2}"
        if index % 2 == 0:
            handles.append(f"shared-{index // 2}")
            api.seed(PERSISTENT_VOLUME_CLAIMS, pvc(shared_claim, volume=shared_pv))
            api.seed(PERSISTENT_VOLUMES, pv(shared_pv, handle=f"shared-{index // 2}"))
        body["spec"]["volumes"].append(
            {"name": "shared", "persistentVolumeClaim": {"claimName": shared_claim}}
        )
        api.seed(PODS, body)
    api.seed(NODES, node(volumes=handles))
    return setup.without_volume + setup.exclusive + setup.shared + setup.exclusive_and_shared


def drain_to_the_end(
    env: ControllerEnv, drainer: Drainer, options: DrainOptions, *, passes: int = 200
) -> list[DrainOutcome]:
    world = World(env)
    outcomes: list[DrainOutcome] = []
    for _ in range(passes):
        outcome = drainer.drain(options)
        outcomes.append(outcome)
        if outcome.status in (DrainStatus.DONE, DrainStatus.FAILED):
            return outcomes
        env.clock.step(outcome.requeue_after or INTERVAL)
        world.settle()
    raise AssertionError(f"drain did not end in {passes} passes: {outcomes[-1]}")


SCENARIOS = [
    pytest.param(Setup(without_volume=10, evict=False), id="no-eviction-pods-without-volume"),
    pytest.param(Setup(without_volume=10), id="eviction-pods-without-volume"),
    pytest.param(Setup(exclusive=2, evict=False), id="no-eviction-exclusive-volumes"),
    pytest.param(Setup(exclusive=2), id="eviction-exclusive-volumes"),
    pytest.param(
        Setup(exclusive=2, attachments=True), id="eviction-exclusive-volumes-with-attachments"
    ),
    pytest.param(
        Setup(exclusive=2, volumes_per_pod=2, attachments=True),
        id="eviction-two-exclusive-volumes-with-attachments",
    ),
    pytest.param(Setup(shared=2, evict=False), id="no-eviction-shared-volumes"),
    pytest.param(Setup(shared=2), id="eviction-shared-volumes"),
    pytest.param(
        Setup(exclusive_and_shared=2, evict=False), id="no-eviction-exclusive-and-shared-volumes"
    ),
    pytest.param(Setup(exclusive_and_shared=2), id="eviction-exclusive-and-shared-volumes"),
    pytest.param(
        Setup(without_volume=10, exclusive=2, evict=False), id="no-eviction-with-and-without"
    ),
    pytest.param(Setup(without_volume=10, exclusive=2), id="eviction-with-and-without"),
    pytest.param(
        Setup(without_volume=10, exclusive=2, evict=False, force=True),
        id="forced-no-eviction-with-and-without",
    ),
    pytest.param(Setup(without_volume=10, exclusive=2, force=True), id="forced-with-and-without"),
    pytest.param(
        Setup(without_volume=10, exclusive=2, force=True, evict_fails=True),
        id="forced-when-eviction-fails",
    ),
    pytest.param(
        Setup(without_volume=10, exclusive=2, grace=120), id="long-termination-grace-period"
    ),
]


@pytest.mark.parametrize("setup", SCENARIOS)
def test_a_drain_ends_with_every_pod_gone(setup: Setup):
    env = ControllerEnv()
    api = target(env)
    total = seed(env, setup)
    if setup.evict_fails:
        api.fail_next("evict", PODS, error=TooManyRequestsError("refused", status=429), count=100)
    drainer = Drainer(env.context)
    options = DrainOptions(
        node_name=NODE, evict=setup.evict, force_delete_pods=setup.force, max_evict_retries=3
    )

    outcomes = drain_to_the_end(env, drainer, options)

    assert outcomes[-1].status is DrainStatus.DONE, outcomes[-1]
    assert World(env).pods_on(NODE) == []
    evictions = api.actions_for("evict", PODS)
    deletions = [a for a in api.actions_for("delete", PODS) if a.options.get("preconditions")]
    if setup.force:
        assert len(outcomes) == 1  # one pass: delete everything, wait for nothing
        assert evictions == []
        assert len(deletions) == total
        assert {a.options["grace_period_seconds"] for a in deletions} == {0}
    elif setup.evict:
        assert len(evictions) == total
        assert deletions == []
    else:
        assert evictions == []
        assert len(deletions) == total
    assert drainer.tracked_nodes() == frozenset()


@pytest.mark.parametrize("setup", [s for s in SCENARIOS if not str(s.id).startswith("forced")])
def test_pods_with_volumes_are_drained_one_at_a_time(setup: Setup):
    env = ControllerEnv()
    seed(env, setup)
    drainer = Drainer(env.context)
    options = DrainOptions(node_name=NODE, evict=setup.evict)
    world = World(env)

    for _ in range(200):
        outcome = drainer.drain(options)
        acted = outcome.evicted + outcome.deleted
        volume_pods = {key.name for key in acted if not key.name.startswith("nopv")}
        # At most one pod with volumes is evicted per pass, and only once the previous one's
        # volumes moved: never two of them terminating at once.
        assert len(volume_pods) <= 1
        terminating = {
            b["metadata"]["name"]
            for b in target(env).stored_objects(PODS)
            if not b["metadata"]["name"].startswith("nopv")
            and b["metadata"].get("deletionTimestamp")
        }
        assert len(terminating) <= 1
        if outcome.done:
            break
        env.clock.step(outcome.requeue_after or INTERVAL)
        world.settle()
    else:
        raise AssertionError("drain did not end")


def test_a_long_grace_period_is_waited_for_and_not_reported_as_stuck():
    env = ControllerEnv()
    seed(env, Setup(without_volume=3, grace=120))
    started = env.clock.now()

    outcomes = drain_to_the_end(env, Drainer(env.context), DrainOptions(node_name=NODE))

    assert outcomes[-1].done
    assert env.clock.now() - started >= 120
    assert all(o.status is not DrainStatus.FAILED for o in outcomes)

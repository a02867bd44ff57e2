"""SharedInformerFactory: sharing per collection, start, and waiting for caches to sync."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mcm.api.meta import GenericObject
from mcm.cache import SharedInformerFactory, wait_for_cache_sync
from mcm.errors import ServerError
from mcm.kube.resources import NODES, Resource
from tests.unit.cache.cache_doubles import WAIT, RecordingClock, ScriptedApi, raw

pytestmark = pytest.mark.timeout(20)

THINGS = Resource("example.com", "v1", "things", "Thing")


class Other(GenericObject):
    pass


@pytest.fixture
def factory(api: ScriptedApi, clock: RecordingClock) -> SharedInformerFactory:
    return SharedInformerFactory(api, namespace="default", clock=clock)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_one_informer_is_shared_per_resource_namespace_and_selector(
    factory: SharedInformerFactory,
) -> None:
    first = factory.informer_for(THINGS, GenericObject.from_dict)

    again = factory.informer_for(THINGS, GenericObject.from_dict, namespace="default")
    elsewhere = factory.informer_for(THINGS, GenericObject.from_dict, namespace="other")
    everywhere = factory.informer_for(THINGS, GenericObject.from_dict, namespace=None)
    selected = factory.informer_for(THINGS, GenericObject.from_dict, label_selector="app=web")

    assert again is first
    assert len({id(i) for i in (first, elsewhere, everywhere, selected)}) == 4
    assert first.namespace == "default"
    assert everywhere.namespace is None


def test_cluster_scoped_resources_ignore_the_namespace(factory: SharedInformerFactory) -> None:
    nodes = factory.informer_for(NODES, GenericObject.from_dict)

    assert factory.informer_for(NODES, GenericObject.from_dict, namespace="x") is nodes
    assert nodes.namespace is None


def test_asking_for_the_same_informer_with_another_transform_is_an_error(
    factory: SharedInformerFactory,
) -> None:
    factory.informer_for(THINGS, GenericObject.from_dict)

    with pytest.raises(ValueError, match="transform"):
        factory.informer_for(THINGS, Other.from_dict)


def test_start_runs_every_informer_and_wait_for_cache_sync_reports_per_resource(
    api: ScriptedApi, factory: SharedInformerFactory, stop: threading.Event
) -> None:
    api.seed(raw("a", 5))
    things = factory.informer_for(THINGS, GenericObject.from_dict)
    nodes = factory.informer_for(NODES, GenericObject.from_dict)

    factory.start(stop)
    factory.start(stop)  # a second start must not run an informer twice
    synced = factory.wait_for_cache_sync(stop, timeout=WAIT)

    assert synced == {THINGS: True, NODES: True}
    assert things.started
    assert nodes.started
    assert [o.metadata.name for o in things.lister.list()] == ["a"]
    stop.set()
    assert factory.join(WAIT)


def test_informers_requested_after_start_start_with_the_next_start(
    api: ScriptedApi, factory: SharedInformerFactory, stop: threading.Event
) -> None:
    factory.informer_for(THINGS, GenericObject.from_dict)
    factory.start(stop)
    late = factory.informer_for(NODES, GenericObject.from_dict)
    assert not late.started

    factory.start(stop)

    assert factory.wait_for_cache_sync(stop, timeout=WAIT) == {THINGS: True, NODES: True}
    stop.set()
    assert factory.join(WAIT)


def test_wait_for_cache_sync_reports_an_informer_that_cannot_list(
    api: ScriptedApi, factory: SharedInformerFactory, stop: threading.Event
) -> None:
    api.list_results.append(ServerError("boom", status=500))
    factory.informer_for(THINGS, GenericObject.from_dict)
    factory.start(stop)
    api.wait_for_list(1)

    synced = factory.wait_for_cache_sync(stop, timeout=0.05)

    assert synced == {THINGS: False}
    stop.set()
    assert factory.join(WAIT)


@pytest.mark.parametrize(
    ("states", "stopped", "expected"),
    [
        pytest.param([True, True], False, True, id="all-synced"),
        pytest.param([], False, True, id="nothing-to-wait-for"),
        pytest.param([True, False], True, False, id="stopped-first"),
    ],
)
def test_wait_for_cache_sync_is_true_only_when_every_cache_synced(
    states: list[bool], stopped: bool, expected: bool
) -> None:
    stop = threading.Event()
    if stopped:
        stop.set()

    result = wait_for_cache_sync(stop, *(lambda s=s: s for s in states), timeout=WAIT)

    assert result is expected


def test_wait_for_cache_sync_gives_up_after_the_timeout() -> None:
    assert wait_for_cache_sync(threading.Event(), lambda: False, timeout=0.05) is False


def test_wait_for_cache_sync_polls_until_a_cache_syncs() -> None:
    calls: list[None] = []

    def synced_on_the_third_look() -> bool:
        calls.append(None)
        return len(calls) >= 3

    result = wait_for_cache_sync(threading.Event(), synced_on_the_third_look, timeout=WAIT)

    assert result is True
    assert len(calls) == 3

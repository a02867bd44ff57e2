"""Informers against a real API server: initial sync, live changes, and recovery from a lost watch.

The recovery tests open a gap in the informer's view with `GatedKubeClient` (its watch is cut and
held back), change objects during the gap, make the informer's resourceVersion expire on the server,
then let it reconnect. The informer must be told exactly what changed: no lost and no phantom
events, and deletions it missed reported as `DeletedFinalStateUnknown`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from mcm.api import GenericObject, Machine
from mcm.api.meta import KubeObject
from mcm.cache import (
    Backoff,
    DeletedFinalStateUnknown,
    SharedIndexInformer,
    SharedInformerFactory,
    wait_for_cache_sync,
)
from mcm.kube.client import KubeClient
from mcm.kube.protocol import Api
from mcm.kube.resources import MACHINES, NAMESPACES, Resource
from mcm.testing.envtest import ControlPlane
from tests.integration.conftest import crd_files, start_control_plane
from tests.integration.gated_api import GatedKubeClient
from tests.integration.recording import WAIT, RecordingHandler

pytestmark = pytest.mark.timeout(60)

CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")


def machine(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": MACHINES.api_version,
        "kind": MACHINES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"class": {"kind": "MachineClass", "name": "test-mc"}},
    }


def config_map(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": "1"},
    }


def server_versions(api: Api, resource: Resource, namespace: str) -> dict[str, str]:
    listed = api.list(resource, namespace=namespace)
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in listed.items}


def test_an_informer_lists_existing_machines_then_sees_every_add_update_and_delete(
    api: KubeClient, namespace: str
) -> None:
    first = api.create(MACHINES, machine("m-a", namespace))
    second = api.create(MACHINES, machine("m-b", namespace))
    factory = SharedInformerFactory(api, namespace=namespace)
    informer = factory.informer_for(MACHINES, Machine.from_dict)
    handler: RecordingHandler[Machine] = RecordingHandler()
    informer.add_event_handler(handler)
    stop = threading.Event()

    factory.start(stop)
    try:
        assert factory.wait_for_cache_sync(stop, timeout=WAIT) == {MACHINES: True}
        initial = handler.wait_for_events(2)
        added = api.create(MACHINES, machine("m-c", namespace))
        patched = api.patch(
            MACHINES, "m-a", {"spec": {"providerID": "aws:///eu-west-1a/i-1"}}, namespace=namespace
        )
        api.delete(MACHINES, "m-b", namespace=namespace)
        events = handler.wait_for_events(5)
    finally:
        stop.set()
    assert factory.join(WAIT)

    assert sorted(initial) == [
        ("add", "m-a", first["metadata"]["resourceVersion"]),
        ("add", "m-b", second["metadata"]["resourceVersion"]),
    ]
    changes = events[2:]
    assert changes[:2] == [
        ("add", "m-c", added["metadata"]["resourceVersion"]),
        (
            "update",
            "m-a",
            first["metadata"]["resourceVersion"],
            patched["metadata"]["resourceVersion"],
        ),
    ]
    assert changes[2][:2] == ("delete", "m-b")
    cached = informer.lister.get(namespace, "m-a")
    assert isinstance(cached, Machine)
    assert cached.spec.provider_id == "aws:///eu-west-1a/i-1"
    assert informer.lister.get(namespace, "m-b") is None
    assert {m.metadata.name for m in informer.lister.list(namespace)} == {"m-a", "m-c"}


def test_an_informer_delivers_nothing_after_it_is_stopped(api: KubeClient, namespace: str) -> None:
    informer = SharedIndexInformer(api, MACHINES, Machine.from_dict, namespace=namespace)
    handler: RecordingHandler[Machine] = RecordingHandler()
    informer.add_event_handler(handler)
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), daemon=True)
    thread.start()
    assert wait_for_cache_sync(stop, informer.has_synced, timeout=WAIT)

    stop.set()
    thread.join(WAIT)
    api.create(MACHINES, machine("late", namespace))

    assert not thread.is_alive()
    assert handler.events == []


# ------------------------------------------------------------------------------ watch expiry


class Gap:
    """Objects changed while the informer could not see: what each should be reported as."""

    KEPT = "kept"  # untouched: no event at all
    CHANGED = "changed"  # updated: one update, old -> new
    REMOVED = "removed"  # deleted: DeletedFinalStateUnknown carrying the last known state
    ADDED = "added"  # created: one add
    FLEETING = "fleeting"  # created and deleted: never reported
    SENTINEL = "sentinel"  # created after the informer caught up: the last event there may be


def run_gap(
    *,
    plane: ControlPlane,
    admin: Api,
    resource: Resource,
    transform: Callable[[Mapping[str, Any]], KubeObject],
    make: Callable[[str, str], dict[str, Any]],
    change: Mapping[str, Any],
    namespace: str,
    expire: Callable[[], object],
) -> tuple[RecordingHandler[KubeObject], GatedKubeClient, dict[str, Any]]:
    """Seed, sync an informer, cut its watch, change things, *expire*, reconnect; report.

    Once the informer has caught up, one more object (`Gap.SENTINEL`) is created and waited for:
    events come in order, so a phantom event the relist might cause would show up before it.
    Returns the handler (with the events since the initial sync), the gated client and the seeded
    objects by name.
    """
    seeded = {
        name: admin.create(resource, make(name, namespace))
        for name in (Gap.KEPT, Gap.CHANGED, Gap.REMOVED)
    }
    client = GatedKubeClient.from_kubeconfig(plane.kubeconfig_path, qps=500, burst=500)
    # Quick retries: what is under test is what the informer reports, not how long it waits.
    informer = SharedIndexInformer(
        client, resource, transform, namespace=namespace, backoff=Backoff(initial=0.05, cap=0.5)
    )
    handler: RecordingHandler[KubeObject] = RecordingHandler()
    informer.add_event_handler(handler)
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        handler.wait_for_events(3)
        handler.clear()

        client.hold()  # the watch is cut; nothing from here on reaches the informer
        admin.patch(resource, Gap.CHANGED, change, namespace=namespace)
        admin.delete(resource, Gap.REMOVED, namespace=namespace)
        admin.create(resource, make(Gap.ADDED, namespace))
        admin.create(resource, make(Gap.FLEETING, namespace))
        admin.delete(resource, Gap.FLEETING, namespace=namespace)
        expire()
        final = server_versions(admin, resource, namespace)
        client.release()

        handler.wait_until(lambda h: h.versions() == final, "the informer to catch up")
        sentinel = admin.create(resource, make(Gap.SENTINEL, namespace))
        final[Gap.SENTINEL] = sentinel["metadata"]["resourceVersion"]
        handler.wait_until(lambda h: h.versions() == final, "the sentinel")
        cached = informer.lister.list(namespace)  # the cache agrees with the handler
        assert {o.metadata.name: o.metadata.resource_version for o in cached} == final
    finally:
        client.release()
        stop.set()
        thread.join(WAIT)
        client.close()
    assert not thread.is_alive()
    return handler, client, seeded


def assert_reported_exactly_the_gap(
    handler: RecordingHandler[KubeObject], client: GatedKubeClient, seeded: dict[str, Any]
) -> None:
    assert client.gone_errors() >= 1, f"no 410 happened: {client.errors}"
    assert "" in client.list_versions[1:], "no consistent relist after the 410"
    *relisted, last = [(event[0], event[1]) for event in handler.events]
    assert sorted(relisted) == [
        ("add", Gap.ADDED),
        ("delete-unknown", Gap.REMOVED),
        ("update", Gap.CHANGED),
    ]
    assert last == ("add", Gap.SENTINEL)
    (update,) = [e for e in handler.events if e[0] == "update"]
    assert update[2] == seeded[Gap.CHANGED]["metadata"]["resourceVersion"]
    (tombstone,) = handler.tombstones
    assert isinstance(tombstone, DeletedFinalStateUnknown)
    assert tombstone.obj is not None
    assert tombstone.obj.metadata.uid == seeded[Gap.REMOVED]["metadata"]["uid"]
    assert (
        tombstone.obj.metadata.resource_version
        == (seeded[Gap.REMOVED]["metadata"]["resourceVersion"])
    )


def test_after_etcd_compaction_expires_its_watch_an_informer_relists_and_reports_only_real_changes(
    control_plane: ControlPlane, api: KubeClient, namespace: str
) -> None:
    # ConfigMaps bypass the watch cache on the session's server (see conftest), so compacting etcd
    # is what makes the informer's resourceVersion expire.
    handler, client, seeded = run_gap(
        plane=control_plane,
        admin=api,
        resource=CONFIG_MAPS,
        transform=GenericObject.from_dict,
        make=config_map,
        change={"data": {"value": "2"}},
        namespace=namespace,
        expire=control_plane.compact_etcd,
    )

    assert_reported_exactly_the_gap(handler, client, seeded)


@pytest.fixture(scope="module")
def restartable_plane() -> Iterator[ControlPlane]:
    """A control plane of its own: restarting the session's would disturb other tests."""
    plane = start_control_plane()
    try:
        plane.install_crds(crd_files())
        yield plane
    finally:
        plane.stop()


def test_after_an_api_server_restart_expires_its_watch_an_informer_relists_machines(
    restartable_plane: ControlPlane,
) -> None:
    # Machines are served from the watch cache, which a new kube-apiserver fills afresh: the
    # informer's resourceVersion predates it, so its re-watch is answered 410 (after 429s while the
    # cache initialises).
    with KubeClient.from_kubeconfig(restartable_plane.kubeconfig_path) as admin:
        admin.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gap"}}
        )
        handler, client, seeded = run_gap(
            plane=restartable_plane,
            admin=admin,
            resource=MACHINES,
            transform=Machine.from_dict,
            make=machine,
            change={"spec": {"providerID": "aws:///eu-west-1a/i-2"}},
            namespace="gap",
            expire=restartable_plane.restart_apiserver,
        )

    assert_reported_exactly_the_gap(handler, client, seeded)
    changed = next(obj for key, obj in handler.state.items() if key.name == Gap.CHANGED)
    assert isinstance(changed, Machine)
    assert changed.spec.provider_id == "aws:///eu-west-1a/i-2"

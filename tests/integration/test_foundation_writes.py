"""Writes against a real API server: optimistic concurrency, the status subresource, finalizers.

These pin down the server behaviour the controllers rely on, through `KubeClient` and the patch
builders of `mcm.api.patches`, so that the in-memory fake can be held to the same rules.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from mcm.api import Machine, MachinePhase
from mcm.api.patches import current_status, finalizers_patch, labels_patch, machine_status_patch
from mcm.errors import AlreadyExistsError, ConflictError, NotFoundError
from mcm.kube.client import KubeClient
from mcm.kube.protocol import Preconditions
from mcm.kube.resources import MACHINES

pytestmark = pytest.mark.timeout(30)

FINALIZER = "machine.sapcloud.io/machine-controller"
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def machine(name: str, namespace: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": MACHINES.api_version,
        "kind": MACHINES.kind,
        "metadata": {"name": name, "namespace": namespace, **metadata},
        "spec": {"class": {"kind": "MachineClass", "name": "test-mc"}},
    }


def test_creating_a_machine_that_exists_raises_already_exists(
    api: KubeClient, namespace: str
) -> None:
    api.create(MACHINES, machine("m", namespace))

    with pytest.raises(AlreadyExistsError):
        api.create(MACHINES, machine("m", namespace))


def test_an_update_based_on_a_stale_resource_version_is_rejected_with_conflict(
    api: KubeClient, namespace: str
) -> None:
    stale = api.create(MACHINES, machine("m", namespace))
    api.patch(MACHINES, "m", labels_patch(set={"touched": "yes"}), namespace=namespace)
    stale["spec"]["providerID"] = "aws:///eu-west-1a/i-1"

    with pytest.raises(ConflictError) as caught:
        api.update(MACHINES, stale)

    assert not isinstance(caught.value, AlreadyExistsError)
    assert "providerID" not in api.get(MACHINES, "m", namespace=namespace)["spec"]


def test_a_delete_whose_uid_precondition_does_not_hold_is_rejected_with_conflict(
    api: KubeClient, namespace: str
) -> None:
    api.create(MACHINES, machine("m", namespace))

    with pytest.raises(ConflictError):
        api.delete(MACHINES, "m", namespace=namespace, preconditions=Preconditions(uid="other"))

    assert api.get(MACHINES, "m", namespace=namespace)["metadata"]["name"] == "m"


STATUS = {"currentStatus": {"phase": "Running"}, "lastKnownState": "i-1"}


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda api, obj: api.update(MACHINES, {**obj, "status": STATUS}), id="update"),
        pytest.param(
            lambda api, obj: api.patch(
                MACHINES, "m", {"status": STATUS}, namespace=obj["metadata"]["namespace"]
            ),
            id="merge-patch",
        ),
    ],
)
def test_a_status_written_through_the_main_resource_is_ignored(
    api: KubeClient, namespace: str, write: Any
) -> None:
    created = api.create(MACHINES, machine("m", namespace))

    written = write(api, created)

    assert "status" not in written or not written["status"]
    assert not api.get(MACHINES, "m", namespace=namespace).get("status")


def test_update_status_writes_the_status_and_ignores_the_spec(
    api: KubeClient, namespace: str
) -> None:
    created = api.create(MACHINES, machine("m", namespace))
    body = {**created, "status": STATUS, "spec": {**created["spec"], "providerID": "ignored"}}

    written = api.update_status(MACHINES, body)

    assert written["status"] == STATUS
    stored = api.get(MACHINES, "m", namespace=namespace)
    assert stored["status"] == STATUS
    assert "providerID" not in stored["spec"]


def test_a_machine_status_patch_round_trips_through_the_status_subresource(
    api: KubeClient, namespace: str
) -> None:
    api.create(MACHINES, machine("m", namespace))
    patch = machine_status_patch(
        current_status=current_status(MachinePhase.PENDING, now=NOW), last_known_state="i-2"
    )

    written = Machine.from_dict(api.patch_status(MACHINES, "m", patch, namespace=namespace))

    assert written.phase is MachinePhase.PENDING
    assert written.status.current_status.last_update_time == NOW
    assert written.status.last_known_state == "i-2"


def test_the_generation_moves_with_spec_changes_only(api: KubeClient, namespace: str) -> None:
    created = api.create(MACHINES, machine("m", namespace))
    generations = [created["metadata"]["generation"]]

    writes: list[Callable[[], dict[str, Any]]] = [
        lambda: api.patch(MACHINES, "m", labels_patch(set={"a": "b"}), namespace=namespace),
        lambda: api.patch_status(MACHINES, "m", {"status": STATUS}, namespace=namespace),
        lambda: api.patch(MACHINES, "m", {"spec": {"providerID": "p"}}, namespace=namespace),
    ]
    generations += [write()["metadata"]["generation"] for write in writes]

    assert generations == [1, 1, 1, 2]


def test_a_finalizer_holds_a_deleted_machine_until_it_is_removed(
    api: KubeClient, namespace: str
) -> None:
    api.create(MACHINES, machine("m", namespace, finalizers=[FINALIZER]))

    lingering = api.delete(MACHINES, "m", namespace=namespace)
    assert lingering is not None
    terminating = Machine.from_dict(api.get(MACHINES, "m", namespace=namespace))
    assert terminating.metadata.deleting
    assert terminating.metadata.finalizers == (FINALIZER,)

    with pytest.raises(ConflictError):  # the patch carries a resourceVersion precondition
        api.patch(
            MACHINES,
            "m",
            finalizers_patch([FINALIZER], remove=[FINALIZER], resource_version="1"),
            namespace=namespace,
        )
    api.patch(
        MACHINES,
        "m",
        finalizers_patch(
            terminating.metadata.finalizers,
            remove=[FINALIZER],
            resource_version=terminating.metadata.resource_version,
        ),
        namespace=namespace,
    )

    with pytest.raises(NotFoundError):
        api.get(MACHINES, "m", namespace=namespace)


def test_deleting_a_machine_without_finalizers_removes_it_at_once(
    api: KubeClient, namespace: str
) -> None:
    api.create(MACHINES, machine("m", namespace))

    assert api.delete(MACHINES, "m", namespace=namespace) is None

    with pytest.raises(NotFoundError):
        api.get(MACHINES, "m", namespace=namespace)

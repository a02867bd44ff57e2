import threading
from typing import Any

import pytest

from mcm.clock import FakeClock
from mcm.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    ServerError,
    TransportError,
)
from mcm.kube.protocol import Api, PatchType
from mcm.kube.resources import MACHINE_CLASSES, MACHINES, NODES, PODS, SECRETS, Resource
from mcm.testing import Action, FakeApiServer, Verb

pytestmark = pytest.mark.timeout(10)

THINGS = Resource("example.com", "v1", "things", "Thing")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def api(clock: FakeClock) -> FakeApiServer:
    return FakeApiServer(clock=clock)


def machine(name: str = "m1", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"class": "small", **spec}}


def test_fake_api_server_satisfies_the_api_protocol() -> None:
    api: Api = FakeApiServer()

    assert api is not None


def test_create_fills_in_what_the_server_owns(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())

    meta = created["metadata"]
    assert created["apiVersion"] == "machine.sapcloud.io/v1alpha1"
    assert created["kind"] == "Machine"
    assert meta["namespace"] == "ns"
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == api.resource_version == "1"


def test_every_effective_write_bumps_the_global_resource_version(api: FakeApiServer) -> None:
    versions = [api.create(MACHINES, machine())["metadata"]["resourceVersion"]]
    versions.append(api.create(NODES, {"metadata": {"name": "n1"}})["metadata"]["resourceVersion"])
    versions.append(
        api.patch(MACHINES, "m1", {"spec": {"class": "big"}}, namespace="ns")["metadata"][
            "resourceVersion"
        ]
    )
    versions.append(
        api.patch_status(MACHINES, "m1", {"status": {"phase": "Running"}}, namespace="ns")[
            "metadata"
        ]["resourceVersion"]
    )
    current = api.get(MACHINES, "m1", namespace="ns")
    versions.append(api.update(MACHINES, current)["metadata"]["resourceVersion"])
    api.delete(NODES, "n1")

    assert versions == ["1", "2", "3", "4", "4"]
    assert api.resource_version == "5"


def test_a_write_that_changes_nothing_stores_nothing(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())

    patched = api.patch(MACHINES, "m1", {"spec": {"class": "small"}}, namespace="ns")

    assert patched == created
    assert api.resource_version == "1"


def test_create_with_a_taken_name_is_already_exists(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(AlreadyExistsError) as caught:
        api.create(MACHINES, machine())

    assert caught.value.status == 409
    assert caught.value.message == 'machines.machine.sapcloud.io "m1" already exists'


def test_create_with_generate_name_appends_five_random_characters(api: FakeApiServer) -> None:
    body = {"metadata": {"generateName": "worker-", "namespace": "ns"}}

    names = {api.create(MACHINES, body)["metadata"]["name"] for _ in range(20)}

    assert len(names) == 20
    for name in names:
        assert name.startswith("worker-")
        assert len(name) == len("worker-") + 5


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param({"metadata": {"namespace": "ns"}}, InvalidError, id="no-name"),
        pytest.param(
            {"metadata": {"name": "m", "namespace": "ns", "resourceVersion": "3"}},
            ServerError,
            id="resource-version-set",
        ),
        pytest.param(
            {"kind": "Node", "metadata": {"name": "m", "namespace": "ns"}},
            BadRequestError,
            id="wrong-kind",
        ),
    ],
)
def test_create_refuses_bodies_the_server_would_refuse(
    api: FakeApiServer, body: dict[str, Any], error: type[ApiError]
) -> None:
    with pytest.raises(error):
        api.create(MACHINES, body)

    assert api.stored_objects(MACHINES) == []


def test_the_namespace_argument_and_the_body_must_agree(api: FakeApiServer) -> None:
    with pytest.raises(BadRequestError):
        api.create(MACHINES, machine(), namespace="other")

    created = api.create(MACHINES, {"metadata": {"name": "m2"}}, namespace="ns")

    assert created["metadata"]["namespace"] == "ns"


def test_cluster_scoped_objects_ignore_namespaces(api: FakeApiServer) -> None:
    created = api.create(NODES, {"metadata": {"name": "n1", "namespace": "ignored"}})

    assert "namespace" not in created["metadata"]
    assert api.get(NODES, "n1", namespace="whatever")["metadata"]["name"] == "n1"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda api: api.get(MACHINES, "m1"), id="get"),
        pytest.param(lambda api: api.create(MACHINES, {"metadata": {"name": "m2"}}), id="create"),
        pytest.param(lambda api: api.update(MACHINES, {"metadata": {"name": "m1"}}), id="update"),
        pytest.param(
            lambda api: api.update(MACHINES, {"metadata": {}}, namespace="ns"), id="no-name"
        ),
        pytest.param(lambda api: api.patch(MACHINES, "m1", {}), id="patch"),
        pytest.param(lambda api: api.delete(MACHINES, "m1"), id="delete"),
        pytest.param(lambda api: api.evict("p1", namespace=""), id="evict"),
    ],
)
def test_a_namespaced_request_without_a_namespace_is_the_callers_bug(
    api: FakeApiServer, call: Any
) -> None:
    api.create(MACHINES, machine())
    api.clear_actions()

    with pytest.raises(ValueError, match=r"namespace|name"):
        call(api)

    assert api.actions == []


def test_get_of_a_missing_object_is_not_found(api: FakeApiServer) -> None:
    with pytest.raises(NotFoundError) as caught:
        api.get(MACHINES, "nope", namespace="ns")

    assert caught.value.message == 'machines.machine.sapcloud.io "nope" not found'
    assert caught.value.details == {
        "name": "nope",
        "group": "machine.sapcloud.io",
        "kind": "machines",
    }


def test_update_with_a_stale_resource_version_is_a_conflict(api: FakeApiServer) -> None:
    stale = api.create(MACHINES, machine())
    api.patch(MACHINES, "m1", {"spec": {"class": "big"}}, namespace="ns")
    stale["spec"]["class"] = "huge"

    with pytest.raises(ConflictError) as caught:
        api.update(MACHINES, stale)

    assert "the object has been modified" in caught.value.message
    assert api.get(MACHINES, "m1", namespace="ns")["spec"]["class"] == "big"


def test_update_of_a_custom_resource_without_resource_version_is_invalid(
    api: FakeApiServer,
) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(InvalidError) as caught:
        api.update(MACHINES, machine(size="big"))

    assert "must be specified for an update" in caught.value.message


def test_update_of_a_builtin_kind_without_resource_version_is_unconditional(
    api: FakeApiServer,
) -> None:
    api.create(SECRETS, {"metadata": {"name": "s", "namespace": "ns"}, "data": {"a": "MQ=="}})

    updated = api.update(SECRETS, {"metadata": {"name": "s", "namespace": "ns"}, "data": {}})

    assert updated["data"] == {}


def test_update_naming_another_uid_is_a_conflict(api: FakeApiServer) -> None:
    current = api.create(MACHINES, machine())
    current["metadata"]["uid"] = "someone-else"

    with pytest.raises(ConflictError, match="Precondition failed: UID"):
        api.update(MACHINES, current)


def test_update_keeps_server_owned_metadata(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())
    body = api.get(MACHINES, "m1", namespace="ns")
    body["metadata"].update(
        creationTimestamp="1999-01-01T00:00:00Z",
        generation=42,
        deletionTimestamp="1999-01-01T00:00:00Z",
    )

    updated = api.update(MACHINES, body)

    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert updated["metadata"]["generation"] == 1
    assert "deletionTimestamp" not in updated["metadata"]


@pytest.mark.parametrize(
    ("write", "generation"),
    [
        pytest.param(
            lambda api: api.patch(MACHINES, "m1", {"spec": {"class": "big"}}, namespace="ns"),
            2,
            id="spec-change",
        ),
        pytest.param(
            lambda api: api.patch(MACHINES, "m1", {"extra": {"x": 1}}, namespace="ns"),
            2,
            id="other-top-level-field",
        ),
        pytest.param(
            lambda api: api.patch(
                MACHINES, "m1", {"metadata": {"labels": {"a": "b"}}}, namespace="ns"
            ),
            1,
            id="labels-only",
        ),
        pytest.param(
            lambda api: api.patch_status(
                MACHINES, "m1", {"status": {"phase": "Running"}}, namespace="ns"
            ),
            1,
            id="status-write",
        ),
    ],
)
def test_generation_counts_spec_changes_only(
    api: FakeApiServer, write: Any, generation: int
) -> None:
    api.create(MACHINES, machine())

    result = write(api)

    assert result["metadata"]["generation"] == generation


def test_a_resource_without_status_subresource_counts_status_as_spec(api: FakeApiServer) -> None:
    api.create(MACHINE_CLASSES, {"metadata": {"name": "c", "namespace": "ns"}, "status": {"a": 1}})

    patched = api.patch(MACHINE_CLASSES, "c", {"status": {"a": 2}}, namespace="ns")

    assert patched["status"] == {"a": 2}
    assert patched["metadata"]["generation"] == 2


def test_writes_to_the_main_resource_keep_the_stored_status(api: FakeApiServer) -> None:
    api.seed(MACHINES, {**machine(), "status": {"phase": "Running"}})
    body = api.get(MACHINES, "m1", namespace="ns")
    body["status"] = {"phase": "Failed"}
    body["spec"]["class"] = "big"

    updated = api.update(MACHINES, body)
    patched = api.patch(MACHINES, "m1", {"status": {"phase": "Failed"}}, namespace="ns")

    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["class"] == "big"
    assert patched["status"] == {"phase": "Running"}


def test_status_writes_change_only_status(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    body = api.get(MACHINES, "m1", namespace="ns")
    body["status"] = {"phase": "Running"}
    body["spec"]["class"] = "big"
    body["metadata"]["labels"] = {"a": "b"}

    updated = api.update_status(MACHINES, body)
    patched = api.patch_status(
        MACHINES,
        "m1",
        {"spec": {"class": "huge"}, "status": {"lastOperation": {"state": "Done"}}},
        namespace="ns",
    )

    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["class"] == "small"
    assert "labels" not in updated["metadata"]
    assert patched["status"] == {"phase": "Running", "lastOperation": {"state": "Done"}}
    assert patched["spec"]["class"] == "small"


def test_status_verbs_on_a_resource_without_status_subresource_are_not_found(
    api: FakeApiServer,
) -> None:
    api.create(MACHINE_CLASSES, {"metadata": {"name": "c", "namespace": "ns"}})

    with pytest.raises(NotFoundError):
        api.patch_status(MACHINE_CLASSES, "c", {"status": {"a": 1}}, namespace="ns")


def test_status_subresources_are_configurable() -> None:
    api = FakeApiServer(status_subresources=[THINGS])
    api.create(THINGS, {"metadata": {"name": "t", "namespace": "ns"}})

    patched = api.patch_status(THINGS, "t", {"status": {"ok": True}}, namespace="ns")

    assert patched["status"] == {"ok": True}
    with pytest.raises(NotFoundError):
        api.patch_status(MACHINES, "m", {"status": {}}, namespace="ns")


@pytest.mark.parametrize(
    ("resource", "status", "expected"),
    [
        pytest.param(MACHINES, {"phase": "Running"}, None, id="custom-resource-drops-status"),
        pytest.param(PODS, {"phase": "Running"}, {"phase": "Pending"}, id="pods-start-pending"),
        pytest.param(
            NODES, {"capacity": {"cpu": "2"}}, {"capacity": {"cpu": "2"}}, id="nodes-keep-status"
        ),
        pytest.param(MACHINE_CLASSES, {"x": 1}, {"x": 1}, id="no-status-subresource-keeps-it"),
    ],
)
def test_create_resets_status_as_the_real_strategies_do(
    api: FakeApiServer, resource: Resource, status: dict[str, Any], expected: Any
) -> None:
    created = api.create(resource, {"metadata": {"name": "x", "namespace": "ns"}, "status": status})

    assert created.get("status") == expected


def test_patch_without_resource_version_is_unconditional(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    api.patch(MACHINES, "m1", {"spec": {"class": "big"}}, namespace="ns")

    patched = api.patch(MACHINES, "m1", {"spec": {"class": "huge"}}, namespace="ns")

    assert patched["spec"]["class"] == "huge"


def test_patch_carrying_a_stale_resource_version_is_a_conflict(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())
    api.patch(MACHINES, "m1", {"spec": {"class": "big"}}, namespace="ns")
    stale = created["metadata"]["resourceVersion"]

    with pytest.raises(ConflictError):
        api.patch(
            MACHINES,
            "m1",
            {"metadata": {"resourceVersion": stale, "finalizers": ["x"]}},
            namespace="ns",
        )


def test_patch_carrying_the_current_resource_version_applies(api: FakeApiServer) -> None:
    current = api.create(MACHINES, machine())["metadata"]["resourceVersion"]

    patched = api.patch(
        MACHINES,
        "m1",
        {"metadata": {"resourceVersion": current, "finalizers": ["x"]}},
        namespace="ns",
    )

    assert patched["metadata"]["finalizers"] == ["x"]
    assert int(patched["metadata"]["resourceVersion"]) > int(current)


def test_strategic_merge_patch_merges_pod_conditions_by_type(api: FakeApiServer) -> None:
    api.create(PODS, {"metadata": {"name": "p", "namespace": "ns"}})
    api.patch_status(
        PODS,
        "p",
        {"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}},
        namespace="ns",
    )

    patched = api.patch_status(
        PODS,
        "p",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        namespace="ns",
        patch_type=PatchType.STRATEGIC,
    )

    assert [c["type"] for c in patched["status"]["conditions"]] == ["PodScheduled", "Ready"]


def test_strategic_merge_patch_on_a_custom_resource_is_unsupported(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(ApiError) as caught:
        api.patch(MACHINES, "m1", {"spec": {}}, namespace="ns", patch_type=PatchType.STRATEGIC)

    assert caught.value.status == 415


def test_json_patch_can_guard_a_write_with_a_test_operation(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    guarded = [
        {"op": "test", "path": "/spec/class", "value": "big"},
        {"op": "replace", "path": "/spec/class", "value": "huge"},
    ]

    with pytest.raises(InvalidError):
        api.patch(MACHINES, "m1", guarded, namespace="ns", patch_type=PatchType.JSON)

    assert api.get(MACHINES, "m1", namespace="ns")["spec"]["class"] == "small"


@pytest.mark.parametrize(
    ("patch", "patch_type"),
    [
        pytest.param([{"op": "jump", "path": "/a"}], PatchType.JSON, id="unknown-json-op"),
        pytest.param({"op": "add"}, PatchType.JSON, id="json-patch-not-a-list"),
        pytest.param({"metadata": {"name": "renamed"}}, PatchType.MERGE, id="rename"),
    ],
)
def test_malformed_patches_are_bad_requests(
    api: FakeApiServer, patch: Any, patch_type: PatchType
) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(BadRequestError):
        api.patch(MACHINES, "m1", patch, namespace="ns", patch_type=patch_type)


def test_patch_of_a_missing_object_is_not_found(api: FakeApiServer) -> None:
    with pytest.raises(NotFoundError):
        api.patch(MACHINES, "nope", {"spec": {}}, namespace="ns")


def test_list_is_sorted_and_carries_the_current_resource_version(api: FakeApiServer) -> None:
    api.create(MACHINES, {"metadata": {"name": "b", "namespace": "ns2"}})
    api.create(MACHINES, {"metadata": {"name": "c", "namespace": "ns1"}})
    api.create(MACHINES, {"metadata": {"name": "a", "namespace": "ns2"}})
    api.create(NODES, {"metadata": {"name": "n"}})

    listed = api.list(MACHINES)

    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed.items] == [
        ("ns1", "c"),
        ("ns2", "a"),
        ("ns2", "b"),
    ]
    assert listed.resource_version == "4"
    assert listed.continue_token == ""


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        pytest.param({}, ["a", "b", "c", "d"], id="everything"),
        pytest.param({"namespace": "ns1"}, ["a", "b", "c"], id="namespace"),
        pytest.param({"label_selector": "role=worker"}, ["a", "d"], id="label-equals"),
        pytest.param({"label_selector": "role notin (worker)"}, ["b", "c"], id="label-notin"),
        pytest.param({"label_selector": "!role"}, ["c"], id="label-does-not-exist"),
        pytest.param({"field_selector": "spec.nodeName=n1"}, ["a", "b"], id="field-equals"),
        pytest.param({"field_selector": "spec.nodeName!=n1"}, ["c", "d"], id="field-not-equals"),
        pytest.param({"field_selector": "metadata.name=c"}, ["c"], id="field-name"),
        pytest.param(
            {
                "namespace": "ns1",
                "label_selector": "role",
                "field_selector": "status.phase=Pending",
            },
            ["a", "b"],
            id="all-together",
        ),
    ],
)
def test_list_filters_by_namespace_and_selectors(
    api: FakeApiServer, kwargs: dict[str, Any], names: list[str]
) -> None:
    for name, namespace, role, node in [
        ("a", "ns1", "worker", "n1"),
        ("b", "ns1", "master", "n1"),
        ("c", "ns1", None, ""),
        ("d", "ns2", "worker", "n2"),
    ]:
        labels = {"role": role} if role else {}
        api.create(
            PODS,
            {
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"nodeName": node},
            },
        )

    listed = api.list(PODS, **kwargs)

    assert [o["metadata"]["name"] for o in listed.items] == names


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"label_selector": "a in (b"}, id="label-selector"),
        pytest.param({"field_selector": "spec.nodeName"}, id="field-selector"),
        pytest.param({"resource_version": "abc"}, id="resource-version"),
    ],
)
def test_list_with_malformed_parameters_is_a_bad_request(
    api: FakeApiServer, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(BadRequestError):
        api.list(PODS, **kwargs)


def test_list_pages_through_a_snapshot_with_limit_and_continue(api: FakeApiServer) -> None:
    for name in "abcde":
        api.create(MACHINES, {"metadata": {"name": name, "namespace": "ns"}})

    first = api.list(MACHINES, limit=2)
    api.create(MACHINES, {"metadata": {"name": "aa", "namespace": "ns"}})
    api.delete(MACHINES, "e", namespace="ns")
    second = api.list(MACHINES, limit=2, continue_token=first.continue_token)
    third = api.list(MACHINES, limit=2, continue_token=second.continue_token)

    pages = [[o["metadata"]["name"] for o in page.items] for page in (first, second, third)]
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    assert first.resource_version == second.resource_version == third.resource_version == "5"
    assert third.continue_token == ""


def test_a_continue_token_after_compaction_is_gone(api: FakeApiServer) -> None:
    for name in "abc":
        api.create(MACHINES, {"metadata": {"name": name, "namespace": "ns"}})
    first = api.list(MACHINES, limit=1)

    api.compact()

    with pytest.raises(GoneError):
        api.list(MACHINES, limit=1, continue_token=first.continue_token)


def test_list_with_a_resource_version_newer_than_the_server_is_too_large(
    api: FakeApiServer,
) -> None:
    api.create(MACHINES, machine())

    with pytest.raises(ServerError) as caught:
        api.list(MACHINES, resource_version="99")

    assert caught.value.status == 504
    assert api.list(MACHINES, resource_version="1").resource_version == "1"


def test_returned_objects_are_the_callers_own_copies(api: FakeApiServer) -> None:
    body = machine()
    created = api.create(MACHINES, body)
    body["spec"]["class"] = "mutated-body"
    created["spec"]["class"] = "mutated-result"
    api.get(MACHINES, "m1", namespace="ns")["spec"]["class"] = "mutated-get"
    api.list(MACHINES).items[0]["spec"]["class"] = "mutated-list"

    assert api.get(MACHINES, "m1", namespace="ns")["spec"]["class"] == "small"


def test_every_request_is_recorded_as_an_action(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    api.get(MACHINES, "m1", namespace="ns")
    api.list(MACHINES, label_selector="a=b")
    api.patch_status(MACHINES, "m1", {"status": {"phase": "Running"}}, namespace="ns")
    api.watch(MACHINES, namespace="ns").close()
    with pytest.raises(NotFoundError):
        api.delete(MACHINES, "nope", namespace="ns")

    assert [(a.verb, a.name, a.subresource) for a in api.actions] == [
        (Verb.CREATE, "m1", ""),
        (Verb.GET, "m1", ""),
        (Verb.LIST, "", ""),
        (Verb.PATCH, "m1", "status"),
        (Verb.WATCH, "", ""),
        (Verb.DELETE, "nope", ""),
    ]
    assert api.actions[0].body == machine()
    assert api.actions[2].options == {"label_selector": "a=b"}
    assert api.actions[3] == Action(
        verb=Verb.PATCH,
        resource=MACHINES,
        namespace="ns",
        name="m1",
        subresource="status",
        patch={"status": {"phase": "Running"}},
        patch_type=PatchType.MERGE,
    )


def test_actions_for_filters_by_verb_resource_and_reads(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    api.create(NODES, {"metadata": {"name": "n"}})
    api.list(MACHINES)
    api.patch(MACHINES, "m1", {"spec": {"a": 1}}, namespace="ns")
    api.patch_status(MACHINES, "m1", {"status": {"a": 1}}, namespace="ns")

    writes = api.actions_for(reads=False)
    machine_patches = api.actions_for("patch", MACHINES)
    status_patches = api.actions_for(Verb.PATCH, subresource="status")

    assert [a.verb for a in writes] == ["create", "create", "patch", "patch"]
    assert len(machine_patches) == 2
    assert [a.key for a in status_patches] == [machine_patches[1].key]
    api.clear_actions()
    assert api.actions == []


def test_fail_next_raises_the_given_error_count_times(api: FakeApiServer) -> None:
    api.create(MACHINES, machine())
    api.fail_next("patch", MACHINES, error=ServerError("boom", status=500), count=2)

    outcomes = []
    for _ in range(3):
        try:
            api.patch(MACHINES, "m1", {"spec": {"a": 1}}, namespace="ns")
            outcomes.append("ok")
        except ServerError:
            outcomes.append("failed")

    assert outcomes == ["failed", "failed", "ok"]
    assert len(api.actions_for("patch")) == 3


@pytest.mark.parametrize(
    ("kwargs", "fails"),
    [
        pytest.param({}, True, id="any-resource"),
        pytest.param({"resource": NODES}, False, id="other-resource"),
        pytest.param({"name": "m2"}, False, id="other-name"),
        pytest.param({"subresource": "status"}, False, id="other-subresource"),
        pytest.param({"resource": MACHINES, "name": "m1", "subresource": ""}, True, id="exact"),
    ],
)
def test_fail_next_matches_only_the_requests_it_names(
    api: FakeApiServer, kwargs: dict[str, Any], fails: bool
) -> None:
    api.create(MACHINES, machine())
    api.fail_next("get", error=TransportError("connection refused"), **kwargs)

    try:
        api.get(MACHINES, "m1", namespace="ns")
        failed = False
    except TransportError:
        failed = True

    assert failed is fails


def test_seed_stores_objects_as_given_and_records_no_action(api: FakeApiServer) -> None:
    seeded = api.seed(
        MACHINES,
        {**machine(), "status": {"phase": "Running"}},
        {"metadata": {"name": "m2", "namespace": "ns", "uid": "fixed", "finalizers": ["f"]}},
    )

    assert seeded[0]["status"] == {"phase": "Running"}
    assert seeded[1]["metadata"]["uid"] == "fixed"
    assert [o["metadata"]["resourceVersion"] for o in seeded] == ["1", "2"]
    assert api.actions == []
    assert api.stored(MACHINES, "m2", namespace="ns") == seeded[1]
    assert api.stored(MACHINES, "nope", namespace="ns") is None


def test_seed_replaces_an_existing_object_keeping_its_uid(api: FakeApiServer) -> None:
    created = api.create(MACHINES, machine())

    seeded = api.seed(MACHINES, {**machine(), "status": {"phase": "Failed"}})

    assert seeded[0]["metadata"]["uid"] == created["metadata"]["uid"]
    assert seeded[0]["status"] == {"phase": "Failed"}


@pytest.mark.timeout(20)
def test_concurrent_creates_get_distinct_resource_versions(api: FakeApiServer) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def create_many(prefix: str) -> None:
        for index in range(50):
            created = api.create(
                MACHINES, {"metadata": {"name": f"{prefix}-{index}", "namespace": "ns"}}
            )
            with lock:
                results.append(created["metadata"]["resourceVersion"])

    threads = [threading.Thread(target=create_many, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(int(rv) for rv in results) == list(range(1, 201))
    assert len(api.list(MACHINES).items) == 200

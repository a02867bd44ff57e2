"""KubeClient verbs against a fake API server: paths, parameters, headers, bodies, errors."""

from __future__ import annotations

import logging
import socket
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from mcm import errors
from mcm.clock import FakeClock
from mcm.kube.client import KubeClient
from mcm.kube.protocol import Api, PatchType, Preconditions
from mcm.kube.resources import (
    CUSTOM_RESOURCE_DEFINITIONS,
    MACHINES,
    NODES,
    PODS,
    Resource,
)
from tests.unit.kube.kube_http_fakes import BOUND, FakeAPIServer


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def test_the_client_implements_the_api_protocol(client: KubeClient) -> None:
    api: Api = client

    assert api is client


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        pytest.param(PODS, "ns1", "/api/v1/namespaces/ns1/pods/obj", id="namespaced-core"),
        pytest.param(NODES, None, "/api/v1/nodes/obj", id="cluster-core"),
        pytest.param(
            MACHINES,
            "shoot--a",
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/shoot--a/machines/obj",
            id="namespaced-custom",
        ),
        pytest.param(
            CUSTOM_RESOURCE_DEFINITIONS,
            "ignored",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/obj",
            id="cluster-custom",
        ),
    ],
)
def test_get_requests_the_object_path_and_returns_the_servers_json(
    client: KubeClient,
    apiserver: FakeAPIServer,
    resource: Resource,
    namespace: str | None,
    path: str,
) -> None:
    apiserver.reply("GET", path, body={"kind": resource.kind, "metadata": {"name": "obj"}})

    got = client.get(resource, "obj", namespace=namespace)

    assert got == {"kind": resource.kind, "metadata": {"name": "obj"}}
    assert [(r.method, r.path) for r in apiserver.requests] == [("GET", path)]


def test_requests_carry_the_token_the_user_agent_and_accept_json(
    client: KubeClient, apiserver: FakeAPIServer, token: str
) -> None:
    apiserver.reply("GET", "/api/v1/nodes/n1", body={"metadata": {"name": "n1"}})

    client.get(NODES, "n1")

    headers = apiserver.requests[0].headers
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["user-agent"].startswith("machine-controller-manager/")
    assert headers["accept"] == "application/json"


def test_a_custom_user_agent_is_sent(kubeconfig: Path, apiserver: FakeAPIServer) -> None:
    apiserver.reply("GET", "/api/v1/nodes/n1", body={})

    with KubeClient.from_kubeconfig(kubeconfig, qps=0, user_agent="machine-controller/v9") as kube:
        kube.get(NODES, "n1")

    assert apiserver.requests[0].headers["user-agent"] == "machine-controller/v9"


def test_a_namespaced_get_without_a_namespace_is_refused_before_any_request(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    with pytest.raises(ValueError, match="namespace"):
        client.get(PODS, "p1")

    assert apiserver.requests == []


def test_list_sends_selectors_and_paging_and_fills_in_kind_and_api_version(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    path = "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines"
    apiserver.reply(
        "GET",
        path,
        body={
            "kind": "MachineList",
            "apiVersion": "machine.sapcloud.io/v1alpha1",
            "metadata": {"resourceVersion": "42", "continue": "next-page"},
            "items": [{"metadata": {"name": "m1"}}, {"metadata": {"name": "m2"}}],
        },
    )

    result = client.list(
        MACHINES,
        namespace="ns1",
        label_selector="app=web,tier!=db",
        field_selector="metadata.name=m1",
        resource_version="0",
        limit=2,
        continue_token="this-page",
    )

    assert [item["metadata"]["name"] for item in result.items] == ["m1", "m2"]
    assert all(item["kind"] == "Machine" for item in result.items)
    assert all(item["apiVersion"] == "machine.sapcloud.io/v1alpha1" for item in result.items)
    assert (result.resource_version, result.continue_token) == ("42", "next-page")
    request = apiserver.requests[0]
    assert request.path == path
    assert {name: request.param(name) for name in request.query} == {
        "labelSelector": "app=web,tier!=db",
        "fieldSelector": "metadata.name=m1",
        "resourceVersion": "0",
        "limit": "2",
        "continue": "this-page",
    }


def test_list_without_a_namespace_covers_all_namespaces_and_sends_no_parameters(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply(
        "GET",
        "/api/v1/pods",
        body={"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}},
    )

    result = client.list(PODS)

    assert (list(result.items), result.resource_version, result.continue_token) == ([], "7", "")
    assert apiserver.requests[0].query == {}


def test_list_keeps_a_kind_the_server_did_send(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply(
        "GET",
        "/api/v1/nodes",
        body={
            "metadata": {"resourceVersion": "1"},
            "items": [{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n"}}, {}],
        },
    )

    items = client.list(NODES).items

    assert [(i["kind"], i["apiVersion"]) for i in items] == [("Node", "v1"), ("Node", "v1")]


def test_create_posts_json_to_the_namespace_of_the_body(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    body = {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"generateName": "m-", "namespace": "ns1"},
        "spec": {"class": {"name": "c"}},
    }
    created = {**body, "metadata": {"name": "m-x1z", "namespace": "ns1", "resourceVersion": "5"}}
    apiserver.reply(
        "POST",
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines",
        201,
        body=created,
    )

    result = client.create(MACHINES, body)

    assert result == created
    request = apiserver.requests[0]
    assert request.json() == body
    assert request.headers["content-type"] == "application/json"


def test_create_of_a_frozen_body_sends_the_same_json(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    frozen = types.MappingProxyType(
        {"metadata": types.MappingProxyType({"name": "n1", "labels": {"a": "b"}}), "x": (1, 2)}
    )
    apiserver.reply("POST", "/api/v1/nodes", 201, body={})

    client.create(NODES, frozen)

    assert apiserver.requests[0].json() == {
        "metadata": {"name": "n1", "labels": {"a": "b"}},
        "x": [1, 2],
    }


def test_an_explicit_namespace_wins_over_the_bodys(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply("POST", "/api/v1/namespaces/explicit/pods", 201, body={})

    client.create(PODS, {"metadata": {"name": "p", "namespace": "other"}}, namespace="explicit")

    assert apiserver.requests[0].path == "/api/v1/namespaces/explicit/pods"


@pytest.mark.parametrize(
    ("call", "path"),
    [
        pytest.param(
            "update", "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines/m1", id="update"
        ),
        pytest.param(
            "update_status",
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines/m1/status",
            id="update-status",
        ),
    ],
)
def test_update_puts_the_whole_object_to_its_path(
    client: KubeClient, apiserver: FakeAPIServer, call: str, path: str
) -> None:
    body = {"metadata": {"name": "m1", "namespace": "ns1", "resourceVersion": "9"}, "spec": {}}
    apiserver.reply(
        "PUT", path, body={**body, "metadata": {**body["metadata"], "resourceVersion": "10"}}
    )

    result = getattr(client, call)(MACHINES, body)

    assert result["metadata"]["resourceVersion"] == "10"
    assert apiserver.requests[0].method == "PUT"
    assert apiserver.requests[0].json() == body


def test_update_without_a_name_is_refused(client: KubeClient) -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        client.update(NODES, {"metadata": {}})


@pytest.mark.parametrize(
    ("patch_type", "patch"),
    [
        pytest.param(PatchType.MERGE, {"metadata": {"labels": {"a": "b"}}}, id="merge"),
        pytest.param(
            PatchType.JSON,
            [{"op": "replace", "path": "/spec/unschedulable", "value": True}],
            id="json",
        ),
        pytest.param(PatchType.STRATEGIC, {"spec": {"unschedulable": True}}, id="strategic"),
    ],
)
def test_patch_sends_the_content_type_of_its_patch_type(
    client: KubeClient, apiserver: FakeAPIServer, patch_type: PatchType, patch: Any
) -> None:
    apiserver.reply("PATCH", "/api/v1/nodes/n1", body={"metadata": {"name": "n1"}})

    result = client.patch(NODES, "n1", patch, patch_type=patch_type)

    assert result == {"metadata": {"name": "n1"}}
    request = apiserver.requests[0]
    assert request.headers["content-type"] == patch_type.value
    assert request.json() == patch


def test_patch_status_patches_the_status_subresource(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    path = "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines/m1/status"
    apiserver.reply("PATCH", path, body={"status": {"phase": "Running"}})

    client.patch_status(MACHINES, "m1", {"status": {"phase": "Running"}}, namespace="ns1")

    assert (apiserver.requests[0].path, apiserver.requests[0].json()) == (
        path,
        {"status": {"phase": "Running"}},
    )


@pytest.mark.parametrize(
    ("patch_type", "patch"),
    [
        pytest.param(PatchType.JSON, {"a": 1}, id="json-patch-given-an-object"),
        pytest.param(PatchType.MERGE, [{"op": "remove", "path": "/a"}], id="merge-given-a-list"),
    ],
)
def test_a_patch_of_the_wrong_shape_for_its_type_is_refused(
    client: KubeClient, apiserver: FakeAPIServer, patch_type: PatchType, patch: Any
) -> None:
    with pytest.raises(TypeError):
        client.patch(NODES, "n1", patch, patch_type=patch_type)

    assert apiserver.requests == []


def test_delete_sends_delete_options_and_returns_an_object_that_lingers(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    lingering = {"metadata": {"name": "m1", "deletionTimestamp": "2024-01-01T00:00:00Z"}}
    apiserver.reply(
        "DELETE", "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines/m1", body=lingering
    )

    result = client.delete(
        MACHINES,
        "m1",
        namespace="ns1",
        preconditions=Preconditions(uid="u-1", resource_version="77"),
        propagation_policy="Foreground",
        grace_period_seconds=0,
    )

    assert result == lingering
    assert apiserver.requests[0].json() == {
        "preconditions": {"uid": "u-1", "resourceVersion": "77"},
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
    }


def test_delete_returns_none_when_the_server_answers_with_a_status(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply(
        "DELETE",
        "/api/v1/nodes/n1",
        body={"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": "n1"}},
    )

    result = client.delete(NODES, "n1")

    assert result is None
    assert apiserver.requests[0].body == b""


def test_evict_posts_a_policy_v1_eviction_with_its_delete_options(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply(
        "POST",
        "/api/v1/namespaces/ns1/pods/p1/eviction",
        201,
        body={"kind": "Status", "status": "Success"},
    )

    client.evict(
        "p1", namespace="ns1", grace_period_seconds=30, preconditions=Preconditions(uid="u-9")
    )

    assert apiserver.requests[0].json() == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p1", "namespace": "ns1"},
        "deleteOptions": {"preconditions": {"uid": "u-9"}, "gracePeriodSeconds": 30},
    }


def test_an_eviction_a_disruption_budget_refuses_is_too_many_requests(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    message = "Cannot evict pod as it would violate the pod's disruption budget."
    apiserver.reply(
        "POST",
        "/api/v1/namespaces/ns1/pods/p1/eviction",
        429,
        body=_status(429, "TooManyRequests", message),
        headers={"Retry-After": "10"},
    )

    with pytest.raises(errors.TooManyRequestsError) as caught:
        client.evict("p1", namespace="ns1")

    assert (caught.value.message, caught.value.retry_after) == (message, 10.0)


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        pytest.param(400, "BadRequest", errors.BadRequestError, id="400"),
        pytest.param(401, "Unauthorized", errors.UnauthorizedError, id="401"),
        pytest.param(403, "Forbidden", errors.ForbiddenError, id="403"),
        pytest.param(404, "NotFound", errors.NotFoundError, id="404"),
        pytest.param(409, "Conflict", errors.ConflictError, id="409-conflict"),
        pytest.param(409, "AlreadyExists", errors.AlreadyExistsError, id="409-already-exists"),
        pytest.param(410, "Expired", errors.GoneError, id="410"),
        pytest.param(422, "Invalid", errors.InvalidError, id="422"),
        pytest.param(429, "TooManyRequests", errors.TooManyRequestsError, id="429"),
        pytest.param(500, "InternalError", errors.ServerError, id="500"),
        pytest.param(503, "ServiceUnavailable", errors.ServerError, id="503"),
    ],
)
def test_error_answers_raise_the_matching_error_with_the_servers_message(
    client: KubeClient,
    apiserver: FakeAPIServer,
    status: int,
    reason: str,
    error: type[errors.ApiError],
) -> None:
    message = f'machines "m1" went wrong: {reason}'
    apiserver.reply(
        "PUT",
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines/m1",
        status,
        body=_status(status, reason, message),
    )

    with pytest.raises(errors.ApiError) as caught:
        client.update(MACHINES, {"metadata": {"name": "m1", "namespace": "ns1"}})

    assert type(caught.value) is error
    assert (caught.value.status, caught.value.reason, caught.value.message) == (
        status,
        reason,
        message,
    )
    assert caught.value.retry_after is None


def test_an_invalid_error_carries_the_causes(client: KubeClient, apiserver: FakeAPIServer) -> None:
    details = {"name": "m1", "causes": [{"field": "spec.class", "reason": "FieldValueRequired"}]}
    apiserver.reply(
        "POST",
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines",
        422,
        body={**_status(422, "Invalid", "Machine is invalid"), "details": details},
    )

    with pytest.raises(errors.InvalidError) as caught:
        client.create(MACHINES, {"metadata": {"name": "m1"}}, namespace="ns1")

    assert caught.value.details == details


def test_a_non_json_error_body_becomes_the_message(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply("GET", "/api/v1/nodes/n1", 503, body=b"upstream connect error\n")

    with pytest.raises(errors.ServerError, match="upstream connect error"):
        client.get(NODES, "n1")


def test_a_retry_after_date_is_turned_into_seconds_from_the_clocks_now(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    apiserver.reply(
        "GET",
        "/api/v1/nodes/n1",
        429,
        body=_status(429, "TooManyRequests", "slow down"),
        # 1_700_000_030 seconds since the epoch
        headers={"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"},
    )

    with (
        KubeClient.from_kubeconfig(kubeconfig, qps=0, clock=clock) as kube,
        pytest.raises(errors.TooManyRequestsError) as caught,
    ):
        kube.get(NODES, "n1")

    assert caught.value.retry_after == pytest.approx(30.0)


def test_a_refused_connection_is_a_transport_error(
    make_kubeconfig: Any,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = make_kubeconfig(f"http://127.0.0.1:{port}")

    with (
        KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube,
        pytest.raises(errors.TransportError),
    ):
        kube.get(NODES, "n1")


@pytest.mark.timeout(15)
def test_a_server_that_does_not_answer_in_time_is_a_transport_error(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    def silent(handler: Any) -> None:
        apiserver.released.wait(BOUND)

    apiserver.script("GET", "/api/v1/nodes/n1", silent)

    with (
        KubeClient.from_kubeconfig(kubeconfig, qps=0, request_timeout=0.3) as kube,
        pytest.raises(errors.TransportError),
    ):
        kube.get(NODES, "n1")


def test_invalid_json_in_a_success_answer_is_a_transport_error(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.reply("GET", "/api/v1/nodes/n1", body=b"{not json")

    with pytest.raises(errors.TransportError, match="invalid JSON"):
        client.get(NODES, "n1")


def test_the_token_appears_in_no_repr_log_or_error(
    kubeconfig: Path,
    apiserver: FakeAPIServer,
    token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apiserver.reply("GET", "/api/v1/nodes/n1", body={})
    caplog.set_level(logging.DEBUG)

    with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        kube.get(NODES, "n1")
        with pytest.raises(errors.NotFoundError) as caught:
            kube.get(NODES, "missing")
        text = repr(kube)

    assert apiserver.requests[0].headers["authorization"] == f"Bearer {token}"
    assert token not in text
    assert token not in str(caught.value)
    assert caplog.records  # debug logging was on, and said something
    assert token not in caplog.text


@pytest.mark.timeout(15)
def test_every_request_waits_for_a_token_from_the_rate_limiter(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    clock = FakeClock()
    apiserver.reply("GET", "/api/v1/nodes/n1", body={})
    kube = KubeClient.from_kubeconfig(kubeconfig, qps=2.0, burst=1, clock=clock)
    second = threading.Thread(target=kube.get, args=(NODES, "n1"))

    kube.get(NODES, "n1")
    second.start()
    parked = clock.wait_for_waiters(1, timeout=BOUND)
    requests_while_parked = len(apiserver.requests)
    clock.step(0.5)
    second.join(BOUND)
    kube.close()

    assert parked
    assert requests_while_parked == 1
    assert not second.is_alive()
    assert len(apiserver.requests) == 2

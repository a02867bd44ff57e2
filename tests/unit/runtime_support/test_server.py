"""The metrics and health endpoint, over real HTTP on the loopback interface."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator

import attrs
import pytest
from prometheus_client import CollectorRegistry, Counter

from mcm.server import Server

pytestmark = pytest.mark.timeout(20)


@attrs.frozen
class Reply:
    status: int
    content_type: str
    body: str


def request(server: Server, path: str, *, method: str = "GET", accept: str = "") -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        headers = {"Accept": accept} if accept else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return Reply(
            response.status, response.getheader("Content-Type") or "", response.read().decode()
        )
    finally:
        connection.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("mcm_test_requests", "Requests seen by the test", registry=registry).inc(3)
    return registry


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[Server]:
    server = Server(address="127.0.0.1", port=0, registry=registry)
    server.start()
    yield server
    server.stop()


def test_port_zero_binds_an_ephemeral_port(server):
    assert server.port != 0
    assert server.address == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_metrics_are_the_registrys_prometheus_exposition(server):
    reply = request(server, "/metrics")

    assert reply.status == 200
    assert reply.content_type.startswith("text/plain")
    assert "mcm_test_requests_total 3.0" in reply.body


def test_metrics_speak_openmetrics_to_a_scraper_that_asks(server):
    reply = request(server, "/metrics", accept="application/openmetrics-text; version=1.0.0")

    assert reply.content_type.startswith("application/openmetrics-text")
    assert reply.body.rstrip().endswith("# EOF")


def test_the_default_registry_is_served_when_none_is_given():
    server = Server(address="127.0.0.1", port=0)
    server.start()
    try:
        reply = request(server, "/metrics")
    finally:
        server.stop()

    assert reply.status == 200
    assert "python_info" in reply.body or "process_" in reply.body


def test_healthz_is_ok_without_checks(server):
    reply = request(server, "/healthz")

    assert (reply.status, reply.body) == (200, "ok\n")


def test_healthz_is_ok_when_every_check_passes(server):
    server.add_health_check("apiserver", lambda: True)
    server.add_health_check("leader-election", lambda: True)

    reply = request(server, "/healthz")

    assert (reply.status, reply.body) == (200, "ok\n")


def test_healthz_names_the_failing_checks_only(server):
    server.add_health_check("apiserver", lambda: False)
    server.add_health_check("informers", lambda: True)

    reply = request(server, "/healthz")

    assert reply.status == 500
    assert "[-]apiserver failed" in reply.body
    assert "informers" not in reply.body


def test_a_check_that_raises_fails_without_leaking_its_message(server):
    def broken() -> bool:
        raise RuntimeError("token=s3cr3t")

    server.add_health_check("cloud", broken)

    reply = request(server, "/healthz")

    assert reply.status == 500
    assert "[-]cloud failed" in reply.body
    assert "s3cr3t" not in reply.body


def test_verbose_lists_every_check(server):
    server.add_health_check("apiserver", lambda: True)
    server.add_health_check("informers", lambda: False)

    reply = request(server, "/healthz?verbose")

    assert reply.status == 500
    assert reply.body.splitlines() == ["[+]apiserver ok", "[-]informers failed", "check failed"]


def test_readyz_adds_the_readiness_checks_to_the_health_checks(server):
    server.add_health_check("apiserver", lambda: True)
    server.add_readiness_check("caches-synced", lambda: False)

    health, readiness = request(server, "/healthz"), request(server, "/readyz")

    assert health.status == 200
    assert readiness.status == 500
    assert "[-]caches-synced failed" in readiness.body


def test_a_check_turning_healthy_is_seen_on_the_next_request(server):
    healthy = threading.Event()
    server.add_health_check("controller", healthy.is_set)

    before = request(server, "/healthz").status
    healthy.set()
    after = request(server, "/healthz").status

    assert (before, after) == (500, 200)


def test_a_removed_check_no_longer_counts(server):
    server.add_health_check("controller", lambda: False)
    server.remove_check("controller")

    assert request(server, "/healthz").status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/nowhere", 404, id="unknown-path"),
        pytest.param("POST", "/healthz", 405, id="post"),
        pytest.param("DELETE", "/metrics", 405, id="delete"),
    ],
)
def test_other_requests_are_refused(server, method, path, status):
    assert request(server, path, method=method).status == status


def test_head_answers_without_a_body(server):
    reply = request(server, "/healthz", method="HEAD")

    assert (reply.status, reply.body) == (200, "")


def test_starting_twice_is_an_error(server):
    with pytest.raises(RuntimeError):
        server.start()


def test_run_serves_until_stopped_then_frees_the_port():
    server = Server(address="127.0.0.1", port=0)
    stop = threading.Event()
    started = threading.Event()
    original_start = server.start

    def start() -> None:
        original_start()
        started.set()

    server.start = start  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, args=(stop,), daemon=True)
    thread.start()
    assert started.wait(5)
    port = server.port
    served = request(server, "/healthz").status

    stop.set()
    thread.join(5)

    assert served == 200
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_an_address_in_use_is_an_error_at_start(server):
    clash = Server(address="127.0.0.1", port=server.port)

    with pytest.raises(OSError, match="in use"):
        clash.start()


def test_ipv6_loopback_is_served():
    server = Server(address="::1", port=0)
    server.start()
    try:
        connection = http.client.HTTPConnection("::1", server.port, timeout=5)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
    finally:
        server.stop()

    assert status == 200
    assert server.url.startswith("http://[::1]:")

"""The controllers' own HTTP endpoint: Prometheus metrics and health checks.

Upstream's binaries serve ``/metrics`` and ``/healthz`` on ``--address:--port`` (10258 for the
machine-controller-manager, 10259 for a provider's machine controller). `Server` does the same on
the standard library's threading HTTP server, in a thread of its own:

- ``/metrics``: the Prometheus exposition of a ``prometheus_client`` registry (the process-wide
  ``REGISTRY`` unless another is given), in the text or OpenMetrics format the scraper asks for.
- ``/healthz``: ``200 ok`` when every health check passes; otherwise ``500`` and one line per
  failing check, ``[-]<name> failed``. ``/readyz`` answers the same way for the health checks plus
  the readiness checks. With ``?verbose`` every check is listed, ``[+]<name> ok`` for those that
  pass, as kube-apiserver lists them.

A check is a callable registered under a name (`Server.add_health_check`,
`Server.add_readiness_check`), for instance "the API server answers" or "this replica's leader
lease is fresh" (`mcm.leaderelection.LeaderElector.check`). It passes by returning True; returning
False or raising fails it. The reason for a failure is logged, never served: a check's exception
could carry more than a scraper should see. Checks run on every request, in the request's thread,
so they must be quick.

Only ``GET`` and ``HEAD`` are served; anything else is ``405``, unknown paths ``404``. Port 0 binds
an ephemeral port (tests); `Server.port` tells which one after `Server.start`.
"""

from __future__ import annotations

import http
import http.server
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, exposition

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], bool]
"""A named probe: True when healthy; False or an exception when not."""


class Server:
    """``/metrics``, ``/healthz`` and ``/readyz`` on *address*:*port*; see the module docstring."""

    def __init__(
        self,
        *,
        address: str,
        port: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._address = address
        self._port = port
        self._registry = registry if registry is not None else prometheus_client.REGISTRY
        self._lock = threading.Lock()
        self._health_checks: dict[str, HealthCheck] = {}
        self._readiness_checks: dict[str, HealthCheck] = {}
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Server {self.url}>"

    @property
    def address(self) -> str:
        """The bound address once started, else the configured one."""
        if self._httpd is not None:
            return str(self._httpd.server_address[0])
        return self._address

    @property
    def port(self) -> int:
        """The bound port once started (the ephemeral one for port 0), else the configured one."""
        if self._httpd is not None:
            return int(self._httpd.server_address[1])
        return self._port

    @property
    def url(self) -> str:
        """``http://address:port``, IPv6 addresses in brackets."""
        host = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def registry(self) -> CollectorRegistry:
        return self._registry

    # --- checks -----------------------------------------------------------------------------------

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """Register (or replace) a check served by ``/healthz`` and ``/readyz``."""
        with self._lock:
            self._health_checks[name] = check

    def add_readiness_check(self, name: str, check: HealthCheck) -> None:
        """Register (or replace) a check served by ``/readyz`` only."""
        with self._lock:
            self._readiness_checks[name] = check

    def remove_check(self, name: str) -> None:
        """Forget the health or readiness check called *name*, if there is one."""
        with self._lock:
            self._health_checks.pop(name, None)
            self._readiness_checks.pop(name, None)

    def run_checks(self, *, ready: bool = False) -> list[tuple[str, bool]]:
        """Run the health checks (and, with *ready*, the readiness checks): ``(name, passed)``."""
        with self._lock:
            checks = list(self._health_checks.items())
            if ready:
                checks += self._readiness_checks.items()
        return [(name, _passes(name, check)) for name, check in checks]

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a background thread; `OSError` if the address cannot be bound."""
        if self._httpd is not None:
            raise RuntimeError("the server is already started")
        server_class = _IPv6Server if ":" in self._address else _IPv4Server
        httpd = server_class((self._address, self._port), _handler_for(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
        )
        self._thread.start()
        logger.info("Serving metrics and health checks on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the serving thread. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = None
        self._thread = None
        logger.info("Stopped serving on %s:%d", self._address, self._port)

    def run(self, stop: threading.Event) -> None:
        """Serve until *stop* is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    # --- handling ---------------------------------------------------------------------------------

    def _respond(self, path: str, query: str, accept: str) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` for a GET of *path*."""
        if path == "/metrics":
            encoder, content_type = exposition.choose_encoder(accept)
            return http.HTTPStatus.OK, content_type, encoder(self._registry)
        if path in ("/healthz", "/readyz"):
            results = self.run_checks(ready=path == "/readyz")
            verbose = "verbose" in urllib.parse.parse_qs(query, keep_blank_values=True)
            return _health_report(results, verbose=verbose)
        return http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"404 page not found\n"


class _IPv4Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _IPv6Server(_IPv4Server):
    address_family = socket.AF_INET6


def _passes(name: str, check: HealthCheck) -> bool:
    try:
        return bool(check())
    except Exception:
        logger.warning("Health check %s failed", name, exc_info=True)
        return False


def _health_report(results: list[tuple[str, bool]], *, verbose: bool) -> tuple[int, str, bytes]:
    healthy = all(passed for _, passed in results)
    lines = [
        f"[+]{name} ok" if passed else f"[-]{name} failed"
        for name, passed in results
        if verbose or not passed
    ]
    if healthy:
        body = "\n".join([*lines, "ok"]) if verbose else "ok"
        status = http.HTTPStatus.OK
    else:
        body = "\n".join([*lines, "check failed"])
        status = http.HTTPStatus.INTERNAL_SERVER_ERROR
    return status, "text/plain; charset=utf-8", (body + "\n").encode()


def _handler_for(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mcm"

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_POST(self) -> None:
            self._refuse()

        def do_PUT(self) -> None:
            self._refuse()

        def do_PATCH(self) -> None:
            self._refuse()

        def do_DELETE(self) -> None:
            self._refuse()

        def _serve(self, *, send_body: bool) -> None:
            url = urllib.parse.urlsplit(self.path)
            try:
                status, content_type, body = server._respond(
                    url.path, url.query, self.headers.get("Accept", "")
                )
            except Exception:
                logger.exception("Serving %s failed", url.path)
                status, content_type = http.HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain"
                body = b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _refuse(self) -> None:
            body = b"method not allowed\n"
            self.send_response(http.HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return Handler

"""`MotoServer`: moto's server mode on a free loopback port, in this process or in a child.

In this process (the default) it is moto's ``ThreadedMotoServer``: fast to start, the right
choice for tests (its per-request log, werkzeug's, is quieted to warnings unless the ``werkzeug``
logger was configured). As a child process (``in_process=False``, ``python -m moto.server``)
moto does not compete for this process's GIL, which matters for benchmarks of the controllers
that call it. Either way the server holds one global, account-wide state: `MotoServer.reset`
(moto's ``POST /moto-api/reset``) empties it, so tests that share a server stay independent.

moto is imported only when an in-process server starts.
"""

from __future__ import annotations

import http.client
import logging
import socket
import subprocess
import sys
import time
from types import TracebackType
from typing import Any, Self

logger = logging.getLogger(__name__)

RESET_PATH = "/moto-api/reset"


class MotoServer:
    """moto's server mode; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,  # 0: a free port; read `url` after `start`
        in_process: bool = True,
        start_timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._in_process = in_process
        self._start_timeout = start_timeout
        self._threaded: Any = None  # moto.server.ThreadedMotoServer; moto has no type hints
        self._process: subprocess.Popen[bytes] | None = None
        self._address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        if self._address is None:
            raise RuntimeError("the moto server is not running")
        return f"http://{self._address[0]}:{self._address[1]}"

    def start(self) -> None:
        if self._address is not None:
            raise RuntimeError("the moto server is already running")
        if self._in_process:
            from moto.server import ThreadedMotoServer  # noqa: PLC0415 -- heavy, tests only

            werkzeug = logging.getLogger("werkzeug")
            if werkzeug.level == logging.NOTSET:  # else werkzeug prints every request to stderr
                werkzeug.setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
            server.start()
            self._threaded = server
            host, port = server.get_host_and_port()
            self._address = (str(host), int(port))
        else:
            port = self._port or _free_port(self._host)
            self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed arguments
                [sys.executable, "-m", "moto.server", "-H", self._host, "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self._address = (self._host, port)
            try:
                self._wait_until_listening(self._process, self._address)
            except BaseException:
                self.stop()
                raise
        logger.info("moto server on %s", self.url)

    def stop(self) -> None:
        threaded, process = self._threaded, self._process
        self._threaded = self._process = None
        self._address = None
        if threaded is not None:
            threaded.stop()
        if process is not None:
            process.terminate()
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10.0)

    def reset(self) -> None:
        """Empty every moto backend (all services, all regions)."""
        if self._address is None:
            raise RuntimeError("the moto server is not running")
        connection = http.client.HTTPConnection(*self._address, timeout=30.0)
        try:
            connection.request("POST", RESET_PATH)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"moto reset failed: HTTP {response.status}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_listening(
        self, process: subprocess.Popen[bytes], address: tuple[str, int]
    ) -> None:
        deadline = time.monotonic() + self._start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            try:
                with socket.create_connection(address, timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"moto server did not listen on {self.url} within {self._start_timeout} s"
                    ) from None
                time.sleep(0.05)


def _free_port(host: str) -> int:
    """A port that was free a moment ago (the child binds it itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port

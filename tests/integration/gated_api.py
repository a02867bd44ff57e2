"""`GatedKubeClient`: a real client whose list and watch calls a test can hold back.

A test uses it to open a gap in an informer's view of the server, deterministically:

- `GatedKubeClient.hold` ends the open watches (as a dropped connection would) and makes every new
  list or watch call wait until `GatedKubeClient.release`. When ``hold`` returns, no stream that
  was opened before it can deliver another event, so changes the test makes afterwards are
  invisible to the informer until it is released.
- Every list and watch call is recorded (its resourceVersion), and so is every `ApiError` they
  raised, on opening or while streaming (``errors``): the test can check that a ``410 Gone``
  really happened and that the informer then listed again from scratch (resourceVersion ``""``).

Everything else is the plain `KubeClient`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from mcm.errors import ApiError, TransportError
from mcm.kube.client import HTTPWatchStream, KubeClient
from mcm.kube.protocol import ObjectList, WatchEvent
from mcm.kube.resources import Resource

HOLD_LIMIT = 30.0
"""Seconds a held call waits before it gives up (a test that forgot to release)."""


class RecordedStream:
    """A watch stream that reports the `ApiError` ending it to its client."""

    def __init__(self, stream: HTTPWatchStream, client: GatedKubeClient) -> None:
        self._stream = stream
        self._client = client

    def __iter__(self) -> Iterator[WatchEvent]:
        try:
            yield from self._stream
        except ApiError as exc:
            self._client.record_error(exc)
            raise

    def close(self) -> None:
        self._stream.close()


class GatedKubeClient(KubeClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cond = threading.Condition()
        self._held = False
        self._opening = 0  # watch calls past the gate whose stream is not registered yet
        self._streams: set[RecordedStream] = set()
        self.list_versions: list[str | None] = []
        self.watch_versions: list[str | None] = []
        self.errors: list[ApiError] = []
        self.waiting = 0

    # The gate.

    def hold(self) -> None:
        with self._cond:
            self._held = True
            self._cond.wait_for(lambda: self._opening == 0, HOLD_LIMIT)
            streams, self._streams = self._streams, set()
        for stream in streams:
            stream.close()

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def wait_until_waiting(self, timeout: float = HOLD_LIMIT) -> None:
        """Block until a list or watch call waits at the gate."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.waiting > 0, timeout):
                raise AssertionError("nobody came to the gate")

    def _pass_gate(self) -> None:
        """Wait while held; the caller holds ``_cond``."""
        if self._held:
            self.waiting += 1
            self._cond.notify_all()
            try:
                if not self._cond.wait_for(lambda: not self._held, HOLD_LIMIT):
                    raise TransportError("held at the gate for too long")
            finally:
                self.waiting -= 1

    def record_error(self, exc: ApiError) -> None:
        with self._cond:
            self.errors.append(exc)

    def gone_errors(self) -> int:
        with self._cond:
            return sum(1 for exc in self.errors if exc.status == 410 or exc.reason == "Expired")

    # The gated calls.

    def list(self, resource: Resource, **kwargs: Any) -> ObjectList:
        with self._cond:
            self._pass_gate()
            self.list_versions.append(kwargs.get("resource_version"))
        try:
            return super().list(resource, **kwargs)
        except ApiError as exc:
            self.record_error(exc)
            raise

    def watch(self, resource: Resource, **kwargs: Any) -> RecordedStream:  # type: ignore[override]
        with self._cond:
            self._pass_gate()
            self.watch_versions.append(kwargs.get("resource_version"))
            self._opening += 1
        stream: RecordedStream | None = None
        try:
            stream = RecordedStream(super().watch(resource, **kwargs), self)
        except ApiError as exc:
            self.record_error(exc)
            raise
        finally:
            with self._cond:
                self._opening -= 1
                self._cond.notify_all()
                held = self._held
                if stream is not None and not held:
                    self._streams.add(stream)
        if held:
            stream.close()  # opened while a hold began: it must not deliver anything
        return stream

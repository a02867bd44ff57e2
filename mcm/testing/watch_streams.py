"""`FakeWatchStream`: the client end of an in-memory watch connection.

The fake API server pushes events into a stream (`FakeWatchStream.deliver`); the client iterates it.
The stream keeps the `mcm.kube.protocol.WatchStream` contract the real client keeps:

- events come out in the order the server pushed them;
- the stream ends normally when the server-side timeout (*timeout_seconds*) passes or `close` is
  called, from any thread, even while another thread is blocked iterating;
- a server-sent error (`end_with`, e.g. ``410 Expired``) is raised once the events before it were
  read, and ends the stream;
- `disconnect` breaks the connection: undelivered events are lost and the next read raises
  `mcm.errors.TransportError`;
- `silence` makes the connection go dead without closing: nothing more arrives, not even the
  server-side timeout, so only *read_timeout* (`mcm.errors.TransportError`) or `close` ends it;
- when no event arrives for *read_timeout* seconds the read raises `mcm.errors.TransportError`.

Time is read from the injected `mcm.clock.Clock`, so with a `mcm.clock.FakeClock` both timeouts fire
when the test steps the clock, never by themselves. Durations are float seconds. A stream without a
timeout blocks on a plain `threading.Event` and does not park on the clock.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator

from mcm.clock import Clock
from mcm.errors import MCMError, TransportError
from mcm.kube.protocol import WatchEvent


class FakeWatchStream:
    """One open watch, fed by the fake API server; iterate it for events."""

    def __init__(
        self,
        *,
        clock: Clock,
        timeout_seconds: float | None = None,
        read_timeout: float | None = None,
        on_end: Callable[[FakeWatchStream], None] | None = None,
    ) -> None:
        self._clock = clock
        self._timeout_seconds = timeout_seconds or None  # 0 means "the server's default": none here
        self._read_timeout = read_timeout
        self._on_end = on_end
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set whenever _pending, _error or _closed changed
        self._pending: collections.deque[WatchEvent] = collections.deque()
        self._error: MCMError | None = None  # raised after _pending drains; ends the stream
        self._closed = False  # no more events will ever come out
        self._silenced = False  # the connection is dead: deliveries and the server timeout are lost
        self._ended_notified = False

    @property
    def closed(self) -> bool:
        """True once the stream ended, by either side."""
        with self._lock:
            return self._closed

    @property
    def pending(self) -> int:
        """How many events wait to be read (a test's peek: iterating would block when 0)."""
        with self._lock:
            return len(self._pending)

    # --- the server's side ------------------------------------------------------------------------

    def deliver(self, event: WatchEvent) -> None:
        """Queue *event* for the client; dropped if the stream ended, failed or went silent."""
        with self._lock:
            if self._closed or self._silenced or self._error is not None:
                return
            self._pending.append(event)
            self._wake.set()

    def end_with(self, error: MCMError) -> None:
        """Send an error after the queued events: reading it raises *error* and ends the stream."""
        with self._lock:
            if self._closed or self._error is not None:
                return
            self._error = error
            self._wake.set()

    def disconnect(self) -> None:
        """Break the connection: queued events are lost; the next read raises `TransportError`."""
        with self._lock:
            if self._closed:
                return
            self._pending.clear()
            self._error = TransportError("watch connection closed by the server")
            self._wake.set()

    def silence(self) -> None:
        """Let the connection go dead: from now on nothing arrives until the client gives up."""
        with self._lock:
            self._silenced = True

    # --- the client's side ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the stream; a thread blocked iterating it returns promptly."""
        with self._lock:
            self._closed = True
            self._pending.clear()
            self._wake.set()
        self._notify_end()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self._events()

    def _events(self) -> Iterator[WatchEvent]:
        started = self._clock.monotonic()
        deadline = None if self._timeout_seconds is None else started + self._timeout_seconds
        last_read = started
        while True:
            event: WatchEvent | None = None
            error: MCMError | None = None
            with self._lock:
                if self._closed:
                    return
                if self._pending:
                    event = self._pending.popleft()
                elif self._error is not None:
                    error = self._error
                    self._closed = True
                else:
                    self._wake.clear()
                silenced = self._silenced
            if event is not None:
                last_read = self._clock.monotonic()
                yield event
                continue
            if error is not None:
                self._notify_end()
                raise error
            now = self._clock.monotonic()
            waits: list[float] = []
            if deadline is not None and not silenced:
                if now >= deadline:
                    self._end()
                    return
                waits.append(deadline - now)
            if self._read_timeout is not None:
                if now - last_read >= self._read_timeout:
                    self._end()
                    raise TransportError(
                        f"no watch event for {self._read_timeout:g} s (read timeout)"
                    )
                waits.append(self._read_timeout - (now - last_read))
            if waits:
                self._clock.wait(self._wake, min(waits))
            else:
                self._wake.wait()

    def _end(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
        self._notify_end()

    def _notify_end(self) -> None:
        with self._lock:
            if self._ended_notified:
                return
            self._ended_notified = True
        if self._on_end is not None:
            self._on_end(self)

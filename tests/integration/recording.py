"""`RecordingHandler`: an informer event handler that records what it was told, for assertions.

It keeps two things: the notifications in the order they arrived (``events``), and the state they
add up to (``state``: key -> the object as last reported). A test waits for either with a bounded
`RecordingHandler.wait_until`, never a sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from mcm.api.meta import KubeObject, ObjectKey
from mcm.cache import DeletedFinalStateUnknown

T = TypeVar("T", bound=KubeObject)

WAIT = 20.0
"""Seconds a test waits for the informer before it gives up."""

Event = tuple[str, ...]
"""``("add", name, rv)``, ``("update", name, old_rv, new_rv)``, ``("delete", name, rv)``, or
``("delete-unknown", name, last_known_rv)`` for a `DeletedFinalStateUnknown`."""


class RecordingHandler(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[Event] = []
        self.state: dict[ObjectKey, T] = {}
        self.tombstones: list[DeletedFinalStateUnknown[T]] = []

    def on_add(self, obj: T) -> None:
        with self._cond:
            self.events.append(("add", obj.metadata.name, obj.metadata.resource_version))
            self.state[obj.metadata.key] = obj
            self._cond.notify_all()

    def on_update(self, old: T, new: T) -> None:
        with self._cond:
            self.events.append(
                (
                    "update",
                    new.metadata.name,
                    old.metadata.resource_version,
                    new.metadata.resource_version,
                )
            )
            self.state[new.metadata.key] = new
            self._cond.notify_all()

    def on_delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        with self._cond:
            if isinstance(obj, DeletedFinalStateUnknown):
                last = obj.obj.metadata.resource_version if obj.obj is not None else ""
                self.events.append(("delete-unknown", obj.key.name, last))
                self.tombstones.append(obj)
                self.state.pop(obj.key, None)
            else:
                self.events.append(("delete", obj.metadata.name, obj.metadata.resource_version))
                self.state.pop(obj.metadata.key, None)
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget the notifications so far (the state they built stays)."""
        with self._cond:
            self.events.clear()
            self.tombstones.clear()

    def versions(self) -> dict[str, str]:
        """name -> resourceVersion of every object the handler believes exists."""
        with self._cond:
            return {key.name: obj.metadata.resource_version for key, obj in self.state.items()}

    def wait_until(
        self, predicate: Callable[[RecordingHandler[T]], bool], what: str, timeout: float = WAIT
    ) -> None:
        """Block until *predicate(self)* holds (checked after every notification)."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"timed out waiting for {what}; events so far: {self.events}")

    def wait_for_events(self, count: int, timeout: float = WAIT) -> list[Event]:
        self.wait_until(lambda h: len(h.events) >= count, f"{count} events", timeout)
        with self._cond:
            return list(self.events)

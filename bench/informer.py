"""Informer throughput, against relisting per event, and memory per cached object.

**Throughput.** N Machines are created and then each gets a status write (2N watch events) on a
`mcm.testing.FakeApiServer` while a watch records what it sends. The recorded events are then
replayed into a `mcm.cache.SharedIndexInformer` (Reflector, DeltaFIFO, Indexer, one handler that
collects keys as a controller's enqueue would), which first lists an empty server: the "replayed"
row is the informer pipeline alone, parse included. The "live" row runs the same writes against a
fresh FakeApiServer while the informer watches it, so it includes the fake server's own cost of
each write. Events per second are counted from the informer's start to the handler's last event.

**Relisting per event** is what a controller without a watch cache does: every change costs a list
of all N objects, decoded (``json.loads`` + ``Model.from_dict`` of every item). Its cost per event
is the best-of-``--repeat`` time of one such decode of the N-object list (client side only; the
API server's cost of serving each list comes on top). The ratio is relist cost per event over the
informer's, and grows linearly with N.

**Memory** (`tracemalloc`): the bytes kept alive per object by the items of a decoded list response
as plain dicts (``json.loads``), as our frozen models (``from_dict``, which keeps a frozen copy of
the dict as ``raw``), and as the kubernetes client's generated models where there are any.

Run: ``python -m bench.informer [--n 500,2000] [--repeat 3] [--memory-n 500]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes.client import ApiClient

from bench import objects
from bench.measure import best_of, traced_bytes
from bench.parse import KINDS
from bench.report import Cell, Report, Table, emit, int_list, parser, ratio
from mcm.api import KubeModel, Machine, ObjectKey
from mcm.cache import DeletedFinalStateUnknown, FuncHandler, SharedIndexInformer
from mcm.kube.protocol import WatchEvent
from mcm.kube.resources import MACHINES, Resource
from mcm.testing.fake_api import FakeApiServer
from mcm.testing.watch_streams import FakeWatchStream

NAME = "informer"
WAIT = 300.0
"""Real seconds to wait for the informer to deliver every event before giving up."""

THROUGHPUT_COLUMNS = (
    "source",
    "objects",
    "events",
    "events/s",
    "µs/event",
    "relist µs/event",
    "relist / informer",
)
MEMORY_COLUMNS = (
    "kind",
    "objects",
    "dict B/object",
    "frozen model B/object",
    "model / dict",
    "kubernetes B/object",
)


# --- the workload ---------------------------------------------------------------------------------


def _new_machine(index: int) -> dict[str, Any]:
    """A Machine as a client creates it: no server-set metadata, no status."""
    body = objects.machine(index)
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        body["metadata"].pop(key)
    body.pop("status")
    return body


def write_workload(api: FakeApiServer, n: int) -> None:
    """N creates, then one status write per Machine: 2N events."""
    for index in range(n):
        api.create(MACHINES, _new_machine(index), namespace=objects.NAMESPACE)
    for index in range(n):
        api.patch_status(
            MACHINES,
            objects.machine_name(index),
            {"status": objects.machine(index)["status"]},
            namespace=objects.NAMESPACE,
        )


def record_events(n: int) -> list[WatchEvent]:
    """The watch events the workload produces, as a FakeApiServer sends them."""
    api = FakeApiServer()
    stream = api.watch(MACHINES, namespace=objects.NAMESPACE)
    write_workload(api, n)
    events = _drain(stream)
    stream.close()
    if len(events) != 2 * n:
        raise AssertionError(f"recorded {len(events)} events, expected {2 * n}")
    return events


def _drain(stream: FakeWatchStream) -> list[WatchEvent]:
    iterator = iter(stream)
    return [next(iterator) for _ in range(stream.pending)]


class ReplayingApiServer(FakeApiServer):
    """An empty FakeApiServer whose first watch delivers *events* at once, then stays open."""

    def __init__(self, events: Sequence[WatchEvent]) -> None:
        super().__init__()
        self._replay = list(events)

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_watch_bookmarks: bool = True,
        read_timeout: float | None = None,
    ) -> FakeWatchStream:
        stream = super().watch(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_watch_bookmarks=allow_watch_bookmarks,
            read_timeout=read_timeout,
        )
        replay, self._replay = self._replay, []
        for event in replay:
            stream.deliver(event)
        return stream


# --- measuring the informer -----------------------------------------------------------------------


class _CountingHandler:
    """Collects keys (what an enqueue does) and signals once *expected* notifications arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.keys: set[ObjectKey] = set()
        self.done = threading.Event()
        self.finished_at = 0.0

    def _seen(self, obj: Machine | DeletedFinalStateUnknown[Machine]) -> None:
        self.keys.add(obj.key if isinstance(obj, DeletedFinalStateUnknown) else obj.metadata.key)
        self.count += 1  # only the handler's own delivery thread writes it
        if self.count == self.expected:
            self.finished_at = time.perf_counter()
            self.done.set()

    def handler(self) -> FuncHandler[Machine]:
        return FuncHandler(
            on_add=self._seen, on_update=lambda _old, new: self._seen(new), on_delete=self._seen
        )


def time_informer(api: FakeApiServer, events: int, load: Callable[[], None] | None) -> float:
    """Seconds from the informer's start until its handler saw *events* notifications.

    *load*, if given, runs on this thread once the informer has synced (the live writes).
    """
    informer: SharedIndexInformer[Machine] = SharedIndexInformer(
        api, MACHINES, Machine.from_dict, namespace=objects.NAMESPACE
    )
    counter = _CountingHandler(events)
    informer.add_event_handler(counter.handler())
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), name="bench-informer", daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        if load is not None:
            if not api.wait_for_watchers(MACHINES, 1, timeout=WAIT):
                raise AssertionError("the informer never opened its watch")
            started = time.perf_counter()
            load()
        if not counter.done.wait(WAIT):
            raise AssertionError(f"informer delivered {counter.count} of {events} events")
    finally:
        stop.set()
        thread.join(WAIT)
    if len(informer.get_indexer().list()) != events // 2 or len(counter.keys) != events // 2:
        raise AssertionError("the informer's cache does not hold every object")
    return counter.finished_at - started


def relist_seconds(n: int, repeat: int) -> float:
    """The client-side cost of one relist of *n* Machines: decode the list, parse every item."""
    body = json.dumps(
        objects.list_body(
            "Machine",
            [objects.machine(i) for i in range(n)],
            api_version="machine.sapcloud.io/v1alpha1",
        )
    ).encode()

    def relist() -> list[Machine]:
        return [Machine.from_dict(item) for item in json.loads(body)["items"]]

    seconds, parsed = best_of(relist, repeat=repeat)
    if len(parsed) != n:
        raise AssertionError("relist decoded the wrong number of objects")
    return seconds


def throughput_rows(n: int, repeat: int) -> list[tuple[Cell, ...]]:
    relist = relist_seconds(n, repeat)  # first, while the heap is small
    events = record_events(n)
    replayed = min(
        time_informer(ReplayingApiServer(events), len(events), None) for _ in range(repeat)
    )
    live_api = FakeApiServer()
    live = time_informer(live_api, 2 * n, functools.partial(write_workload, live_api, n))
    rows: list[tuple[Cell, ...]] = []
    for source, seconds in (("replayed", replayed), ("live", live)):
        per_event = seconds / len(events)
        rows.append(
            (
                source,
                n,
                len(events),
                len(events) / seconds,
                per_event * 1e6,
                relist * 1e6,
                ratio(relist, per_event),
            )
        )
    return rows


# --- memory ---------------------------------------------------------------------------------------


def memory_rows(n: int) -> list[tuple[Cell, ...]]:
    client = ApiClient()  # nothing to close: it opens connections and pools only on requests
    rows: list[tuple[Cell, ...]] = []
    for kind in KINDS:
        text = json.dumps(
            objects.list_body(
                kind.name, [kind.build(i) for i in range(n)], api_version=kind.api_version
            )
        )
        dict_bytes, dicts = traced_bytes(functools.partial(_items, text))
        model_bytes, models = traced_bytes(functools.partial(_models, text, kind.transform))
        if len(dicts) != n or len(models) != n:
            raise AssertionError(f"{kind.name}: decoded the wrong number of objects")
        del dicts, models
        generated_bytes: int | None = None
        if kind.generated_model is not None:
            generated_bytes, generated = traced_bytes(
                functools.partial(_generated, client, text, kind.generated_model)
            )
            if len(generated) != n:
                raise AssertionError(f"{kind.name}: kubernetes decoded the wrong number")
            del generated
        rows.append(
            (
                kind.name,
                n,
                dict_bytes // n,
                model_bytes // n,
                round(model_bytes / dict_bytes, 2),
                None if generated_bytes is None else generated_bytes // n,
            )
        )
    return rows


def _items(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(text)["items"]
    return items


def _models(text: str, transform: Callable[[Mapping[str, Any]], KubeModel]) -> list[KubeModel]:
    return [transform(item) for item in json.loads(text)["items"]]


def _generated(client: ApiClient, text: str, model: str) -> list[Any]:
    items: list[Any] = client.deserialize(text, model, "application/json").items
    return items


# --- the benchmark --------------------------------------------------------------------------------


def run(*, n: Sequence[int] = (500, 2000), repeat: int = 3, memory_n: int = 500) -> Report:
    throughput = [row for size in n for row in throughput_rows(size, repeat)]
    memory = memory_rows(memory_n)
    largest = max(n)
    replayed = next(r for r in throughput if r[0] == "replayed" and r[1] == largest)
    ratios: dict[str, float] = {f"relist per event / informer (n={largest})": _float(replayed[6])}
    for row in memory:
        ratios[f"{row[0]}: frozen model / dict bytes"] = _float(row[4])
    return Report(
        name=NAME,
        params={"n": ",".join(map(str, n)), "repeat": repeat, "memory_n": memory_n},
        tables=(
            Table(title="throughput", columns=THROUGHPUT_COLUMNS, rows=tuple(throughput)),
            Table(title="memory per cached object", columns=MEMORY_COLUMNS, rows=tuple(memory)),
        ),
        ratios=ratios,
        notes=(
            "replayed: the informer pipeline alone; live: FakeApiServer writes + informer",
            "relist: client-side decode of the whole N-object list, once per event",
        ),
    )


def _float(cell: Cell) -> float:
    if not isinstance(cell, int | float):
        raise TypeError(f"not a number: {cell!r}")
    return float(cell)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emit(run(n=args.n, repeat=args.repeat, memory_n=args.memory_n), json_path=args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    result = parser(__doc__)
    result.add_argument(
        "--n", type=int_list, default=(500, 2000), help="objects, comma-separated (500,2000)"
    )
    result.add_argument("--repeat", type=int, default=3, help="runs per timing (default 3)")
    result.add_argument(
        "--memory-n", type=int, default=500, help="objects for the memory table (500)"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())

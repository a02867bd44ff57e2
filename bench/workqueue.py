"""Work queue throughput with 1 and 8 producer threads, and how many adds collapse.

Producers add ``--adds`` keys in total (split evenly between them), cycling through ``--keys``
distinct `mcm.api.ObjectKey` values: few keys, as informer handlers add them when the same objects
change again and again, and as many keys as adds, where every add is new work. One worker thread
(``--workers`` to change it) takes keys and gives them back as `mcm.controller.runtime.Controller`
does: ``get``, (``forget``,) ``done``. Once every producer has finished, the queue is shut down and
the worker drains it.

Four configurations: `mcm.workqueue.Queue` without a name (no metrics), a named Queue (client-go's
workqueue metrics into a private Prometheus registry), and `mcm.workqueue.RateLimitingQueue` both
ways, the named one being what the controller runs. "adds/s" counts adds over the time until the
last producer finished; "gets/s" counts keys handed out over the time until the worker drained the
queue; "dedup" is adds per get: how many adds the queue collapsed because the key was already
waiting (it depends on how far the worker lags, so on scheduling: it is a count, not a constant).
Each row is the fastest (by total time) of ``--repeat`` runs; every run checks that each distinct
key was handed out at least once.

Run: ``python -m bench.workqueue [--adds 100000] [--keys 1000,100000] [--producers 1,8]``.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import attrs
from prometheus_client import CollectorRegistry

from bench.report import Cell, Report, Table, emit, int_list, parser, ratio
from mcm.api import ObjectKey
from mcm.workqueue import (
    PrometheusMetricsProvider,
    Queue,
    RateLimiter,
    RateLimitingQueue,
    default_controller_rate_limiter,
)

NAME = "workqueue"
WAIT = 300.0
"""Real seconds a thread may take before the benchmark gives up on it."""
COLUMNS = (
    "queue",
    "producers",
    "keys",
    "adds",
    "gets",
    "dedup",
    "adds/s",
    "gets/s",
)


class _WorkQueue(Protocol):
    def add(self, key: ObjectKey) -> None: ...

    def get(self) -> tuple[ObjectKey, Literal[False]] | tuple[None, Literal[True]]: ...

    def done(self, key: ObjectKey) -> None: ...

    def shut_down(self) -> None: ...


@attrs.frozen
class Variant:
    name: str
    build: Callable[[], _WorkQueue]
    forget: bool
    """Whether the worker calls ``forget`` (rate-limiting queues) before ``done``."""


def _queue(named: bool) -> Queue[ObjectKey]:
    if not named:
        return Queue()
    return Queue(name="bench", metrics_provider=PrometheusMetricsProvider(CollectorRegistry()))


def _rate_limiting(named: bool) -> RateLimitingQueue[ObjectKey]:
    limiter: RateLimiter[ObjectKey] = default_controller_rate_limiter()
    if not named:
        return RateLimitingQueue(limiter)
    provider = PrometheusMetricsProvider(CollectorRegistry())
    return RateLimitingQueue(limiter, name="bench", metrics_provider=provider)


VARIANTS = (
    Variant("Queue", lambda: _queue(False), forget=False),
    Variant("Queue + metrics", lambda: _queue(True), forget=False),
    Variant("RateLimitingQueue", lambda: _rate_limiting(False), forget=True),
    Variant("RateLimitingQueue + metrics", lambda: _rate_limiting(True), forget=True),
)


@attrs.frozen(kw_only=True)
class Outcome:
    adds: int
    gets: int
    distinct: int
    add_seconds: float
    total_seconds: float


def measure(variant: Variant, *, producers: int, adds: int, keys: int, workers: int) -> Outcome:
    """One run: *producers* threads add *adds* keys in all; *workers* threads drain them."""
    queue = variant.build()
    space = [ObjectKey("default", f"machine-{i:05d}") for i in range(keys)]
    per_producer = adds // producers
    start = threading.Barrier(producers + workers + 1)
    lock = threading.Lock()
    gets = 0
    seen: set[ObjectKey] = set()
    forget = queue.forget if isinstance(queue, RateLimitingQueue) and variant.forget else None

    def produce(offset: int) -> None:
        add = queue.add
        start.wait(WAIT)
        for i in range(per_producer):
            add(space[(offset + i) % keys])

    def work() -> None:
        nonlocal gets
        handed: list[ObjectKey] = []
        start.wait(WAIT)
        while True:
            key, shutdown = queue.get()
            if shutdown or key is None:
                break
            handed.append(key)
            if forget is not None:
                forget(key)
            queue.done(key)
        with lock:
            gets += len(handed)
            seen.update(handed)

    producer_threads = [
        threading.Thread(target=produce, args=(p * per_producer,), name=f"producer-{p}")
        for p in range(producers)
    ]
    worker_threads = [
        threading.Thread(target=work, name=f"worker-{w}", daemon=True) for w in range(workers)
    ]
    for thread in (*producer_threads, *worker_threads):
        thread.start()
    start.wait(WAIT)
    started = time.perf_counter()
    for thread in producer_threads:
        thread.join(WAIT)
    added = time.perf_counter()
    queue.shut_down()
    for thread in worker_threads:
        thread.join(WAIT)
    finished = time.perf_counter()
    if any(t.is_alive() for t in (*producer_threads, *worker_threads)):
        raise AssertionError(f"{variant.name}: a thread did not finish within {WAIT} s")
    if len(seen) != min(keys, per_producer * producers):
        raise AssertionError(f"{variant.name}: {len(seen)} distinct keys handed out of {keys}")
    return Outcome(
        adds=per_producer * producers,
        gets=gets,
        distinct=len(seen),
        add_seconds=added - started,
        total_seconds=finished - started,
    )


def run(
    *,
    adds: int = 100_000,
    keys: Sequence[int] = (1000, 100_000),
    producers: Sequence[int] = (1, 8),
    workers: int = 1,
    repeat: int = 3,
) -> Report:
    rows: list[tuple[Cell, ...]] = []
    for variant in VARIANTS:
        for space in keys:
            for count in producers:
                outcome = min(
                    (
                        measure(variant, producers=count, adds=adds, keys=space, workers=workers)
                        for _ in range(repeat)
                    ),
                    key=lambda o: o.total_seconds,
                )
                rows.append(
                    (
                        variant.name,
                        count,
                        space,
                        outcome.adds,
                        outcome.gets,
                        round(outcome.adds / outcome.gets, 2),
                        outcome.adds / outcome.add_seconds,
                        outcome.gets / outcome.total_seconds,
                    )
                )
    table = Table(title="adds and gets per second", columns=COLUMNS, rows=tuple(rows))
    ratios = {}
    widest = max(keys)
    for count in producers:
        plain = _cell(table, "Queue", count, widest, "gets/s")
        production = _cell(table, "RateLimitingQueue + metrics", count, widest, "gets/s")
        ratios[f"gets/s, Queue / RateLimitingQueue + metrics ({count} producers)"] = ratio(
            plain, production
        )
    return Report(
        name=NAME,
        params={
            "adds": adds,
            "keys": ",".join(map(str, keys)),
            "producers": ",".join(map(str, producers)),
            "workers": workers,
            "repeat": repeat,
        },
        tables=(table,),
        ratios=ratios,
        notes=(
            "dedup = adds / gets: adds collapsed into a key already waiting",
            f"ratios use the {widest}-key runs, where most adds are new keys and the worker's"
            " get/done dominate",
        ),
    )


def _cell(table: Table, queue: str, producers: int, keys: int, column: str) -> float:
    for record in table.records():
        if record["queue"] == queue and record["producers"] == producers and record["keys"] == keys:
            value = record[column]
            if isinstance(value, float):
                return value
    raise KeyError((queue, producers, keys))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    report = run(
        adds=args.adds,
        keys=args.keys,
        producers=args.producers,
        workers=args.workers,
        repeat=args.repeat,
    )
    emit(report, json_path=args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    result = parser(__doc__)
    result.add_argument("--adds", type=int, default=100_000, help="adds in all (100000)")
    result.add_argument(
        "--keys", type=int_list, default=(1000, 100_000), help="key spaces (1000,100000)"
    )
    result.add_argument(
        "--producers", type=int_list, default=(1, 8), help="producer threads, comma-separated"
    )
    result.add_argument("--workers", type=int, default=1, help="worker threads (1)")
    result.add_argument("--repeat", type=int, default=3, help="runs per row, fastest kept (3)")
    return result


if __name__ == "__main__":
    raise SystemExit(main())

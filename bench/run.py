"""Run every benchmark, or those named, and print their reports.

``python -m bench.run [parse informer workqueue api-calls ec2-calls] [--quick] [--json PATH]``
(``python bench/run.py ...`` works too). Each benchmark runs with its own defaults; ``--quick``
runs each with a small N instead (seconds in all, for a look, not for numbers worth quoting).
``--json PATH`` also writes every report, as a JSON list, to PATH.

Benchmark modules are imported only when they run, so that, for instance, moto is loaded only for
``ec2-calls``.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

BENCHMARKS: Mapping[str, str] = {
    "parse": "bench.parse",
    "informer": "bench.informer",
    "workqueue": "bench.workqueue",
    "api-calls": "bench.api_calls",
    "ec2-calls": "bench.ec2_calls",
}
"""Benchmark name -> module; each module has ``run(**parameters) -> bench.report.Report``."""

QUICK: Mapping[str, Mapping[str, Any]] = {
    "parse": {"n": 200, "repeat": 3},
    "informer": {"n": (200,), "repeat": 1, "memory_n": 100},
    "workqueue": {"adds": 20_000, "keys": (100, 20_000), "repeat": 1},
    "api-calls": {"n": (1, 10), "steady_hours": 1.0},
    "ec2-calls": {"n": (1, 3), "steady_hours": 1.0},
}
"""Parameters of ``--quick``."""


def main(argv: Sequence[str] | None = None) -> int:
    _make_importable()
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    report = importlib.import_module("bench.report")
    names = args.names or list(BENCHMARKS)
    reports = []
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        parameters = dict(QUICK[name]) if args.quick else {}
        result = module.run(**parameters)
        report.emit(result)
        sys.stdout.write("\n")
        sys.stdout.flush()
        reports.append(result)
    if args.json is not None:
        report.write_json(reports, args.json)
    return 0


def _make_importable() -> None:
    """``python bench/run.py`` puts ``bench/`` on the path, not the checkout holding it."""
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def _parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n\n")[0])
    result.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    result.add_argument("--quick", action="store_true", help="small N: a look, not numbers")
    result.add_argument(
        "--json", type=pathlib.Path, metavar="PATH", help="also write the reports to PATH"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())

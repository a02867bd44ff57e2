"""What a benchmark hands back: tables, headline ratios, and how to print and save them.

A `Report` is plain data: a name, the parameters the benchmark ran with, one or more `Table` objects
and a mapping of headline ratios (``"node: kubernetes / ours": 9.7``). `Report.render` gives the
text the command line prints; `Report.to_json` a JSON-ready dict that also records the Python
version, the platform and the CPU count, since times mean nothing without them.

`parser` and `emit` are the command-line halves every benchmark's ``main`` shares: a parser with
``--json PATH``, and printing the report (and writing the JSON when asked).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

Cell = str | int | float | None
"""One table cell. Floats are printed with three significant digits."""


@attrs.frozen(kw_only=True)
class Table:
    """Rows of cells under named columns."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def __attrs_post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.title}: row {row!r} does not match {self.columns!r}")

    def column(self, name: str) -> tuple[Cell, ...]:
        """Every row's cell in column *name* (`ValueError` for an unknown column)."""
        index = self.columns.index(name)
        return tuple(row[index] for row in self.rows)

    def records(self) -> list[dict[str, Cell]]:
        """The rows as ``{column: cell}`` dicts."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def render(self) -> str:
        cells = [list(self.columns), *([_format(cell) for cell in row] for row in self.rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        lines = [self.title]
        for number, line in enumerate(cells):
            lines.append(
                "  ".join(
                    text.ljust(width) if i == 0 else text.rjust(width)
                    for i, (text, width) in enumerate(zip(line, widths, strict=True))
                )
            )
            if number == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class Report:
    """One benchmark's results; see the module docstring."""

    name: str
    params: Mapping[str, Any]
    tables: tuple[Table, ...]
    ratios: Mapping[str, float] = attrs.field(factory=dict)
    """Headline comparisons, each "theirs / ours" (above 1: ours is cheaper)."""
    notes: tuple[str, ...] = ()

    def table(self, title: str) -> Table:
        """The table titled *title* (`KeyError` if there is none)."""
        for table in self.tables:
            if table.title == title:
                return table
        raise KeyError(title)

    def render(self) -> str:
        params = ", ".join(f"{key}={value}" for key, value in self.params.items())
        parts = [f"== {self.name} ({params})"]
        parts.extend(table.render() for table in self.tables)
        if self.ratios:
            parts.append(
                "ratios:\n"
                + "\n".join(f"  {key}: {_format(value)}" for key, value in self.ratios.items())
            )
        parts.extend(f"note: {note}" for note in self.notes)
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "environment": environment(),
            "tables": [
                {"title": t.title, "columns": list(t.columns), "rows": t.records()}
                for t in self.tables
            ],
            "ratios": dict(self.ratios),
            "notes": list(self.notes),
        }


def environment() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def _format(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, float):
        return f"{cell:,.3g}" if abs(cell) < 1000 else f"{cell:,.0f}"
    if isinstance(cell, int):
        return f"{cell:,}"
    return cell


def ratio(theirs: float, ours: float) -> float:
    """*theirs* / *ours*, rounded to two decimals (infinite when ours took no time)."""
    return round(theirs / ours, 2) if ours > 0 else float("inf")


# --- the command line -----------------------------------------------------------------------------


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with ``--json PATH``; the first paragraph of *description* is its help."""
    summary = (description or "").strip().split("\n\n")[0]
    result = argparse.ArgumentParser(description=summary)
    result.add_argument(
        "--json", type=pathlib.Path, metavar="PATH", help="also write the report as JSON to PATH"
    )
    return result


def int_list(text: str) -> tuple[int, ...]:
    """``"1,10,100"`` as a tuple of positive ints (an argparse type)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive integers: {text}")
    return values


def emit(report: Report, *, json_path: pathlib.Path | None = None) -> None:
    """Print *report*; also write it as JSON to *json_path*, if given."""
    sys.stdout.write(report.render() + "\n")
    if json_path is not None:
        write_json(report, json_path)


def write_json(reports: Report | Sequence[Report], path: pathlib.Path) -> None:
    """Write a report as a JSON object, or a sequence of them as a list."""
    data: Any = reports.to_json() if isinstance(reports, Report) else [r.to_json() for r in reports]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

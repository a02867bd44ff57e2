"""Decoding list responses: parse-once models vs the kubernetes client's generated models.

The informers decode every list and watch response with ``json.loads`` and hand each item to the
model's ``from_dict`` (`mcm.api`), which freezes the dict and decodes only the fields the
controllers read. The kubernetes client would instead build its generated model tree
(``ApiClient().deserialize(...)`` into ``V1NodeList``, ``V1PodList``): one Python object per JSON
object, every field validated and converted. This benchmark decodes the same list body of N
realistic objects (`bench.objects`) both ways and reports the time of each and the ratio
kubernetes / ours. Machines have no generated model, so for them only our side is measured.

Each timing is the best of ``--repeat`` runs with the cyclic garbage collector off (as `timeit`
does; see `bench.measure`). "json.loads" alone and "freeze" (the deep read-only copy `from_dict`
keeps as ``raw``) are shown so that the shares of our total can be read off.

Run: ``python -m bench.parse [--n 1000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from kubernetes.client import ApiClient

from bench import objects
from bench.measure import best_of
from bench.report import Cell, Report, Table, emit, parser, ratio
from mcm.api import KubeModel, Machine, Node, Pod, freeze

NAME = "parse"
COLUMNS = (
    "kind",
    "objects",
    "KB",
    "json.loads ms",
    "freeze ms",
    "ours ms",
    "ours µs/object",
    "kubernetes ms",
    "kubernetes / ours",
)


@attrs.frozen
class Kind:
    name: str
    build: Callable[[int], dict[str, Any]]
    transform: Callable[[Mapping[str, Any]], KubeModel]
    api_version: str
    generated_model: str | None
    """The kubernetes client's list model, if it has one."""


KINDS = (
    Kind("Machine", objects.machine, Machine.from_dict, "machine.sapcloud.io/v1alpha1", None),
    Kind("Node", objects.node, Node.from_dict, "v1", "V1NodeList"),
    Kind("Pod", objects.pod, Pod.from_dict, "v1", "V1PodList"),
)


def list_bytes(kind: Kind, n: int) -> bytes:
    """A list response of *n* objects of *kind*, as the API server sends it."""
    body = objects.list_body(
        kind.name, [kind.build(i) for i in range(n)], api_version=kind.api_version
    )
    return json.dumps(body, separators=(",", ":")).encode()


def decode_ours(body: bytes, transform: Callable[[Mapping[str, Any]], KubeModel]) -> list[Any]:
    """What an informer does with a list response: parse, then one ``from_dict`` per item."""
    return [transform(item) for item in json.loads(body)["items"]]


def decode_frozen(body: bytes) -> list[Any]:
    """Just the deep freeze `from_dict` starts with, of every item."""
    return [freeze(item) for item in json.loads(body)["items"]]


def decode_generated(client: ApiClient, body: bytes, model: str) -> Sequence[Any]:
    """What the kubernetes client does with it (it decodes the bytes to text first)."""
    items: Sequence[Any] = client.deserialize(body.decode("utf-8"), model, "application/json").items
    return items


def run(*, n: int = 1000, repeat: int = 5) -> Report:
    client = ApiClient()  # nothing to close: it opens connections and pools only on requests
    rows: list[tuple[Cell, ...]] = []
    ratios: dict[str, float] = {}
    for kind in KINDS:
        body = list_bytes(kind, n)
        loads, _ = best_of(functools.partial(json.loads, body), repeat=repeat)
        frozen, _ = best_of(functools.partial(decode_frozen, body), repeat=repeat)
        ours, parsed = best_of(functools.partial(decode_ours, body, kind.transform), repeat=repeat)
        _check(kind, parsed, n)
        theirs: float | None = None
        if kind.generated_model is not None:
            theirs, models = best_of(
                functools.partial(decode_generated, client, body, kind.generated_model),
                repeat=repeat,
            )
            _check(kind, models, n)
            ratios[f"{kind.name}: kubernetes / ours"] = ratio(theirs, ours)
        rows.append(
            (
                kind.name,
                n,
                round(len(body) / 1024, 1),
                loads * 1e3,
                max(0.0, frozen - loads) * 1e3,
                ours * 1e3,
                ours / n * 1e6,
                None if theirs is None else theirs * 1e3,
                None if theirs is None else ratio(theirs, ours),
            )
        )
    return Report(
        name=NAME,
        params={"n": n, "repeat": repeat, "kubernetes": importlib.metadata.version("kubernetes")},
        tables=(Table(title="decoding one list response", columns=COLUMNS, rows=tuple(rows)),),
        ratios=ratios,
        notes=(
            "ours = json.loads + Model.from_dict per item; freeze = the deep read-only copy"
            " from_dict keeps as raw, part of ours; best of repeat runs, garbage collector off",
        ),
    )


def _check(kind: Kind, decoded: Sequence[Any], n: int) -> None:
    if len(decoded) != n:
        raise AssertionError(f"{kind.name}: decoded {len(decoded)} objects, expected {n}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emit(run(n=args.n, repeat=args.repeat), json_path=args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    result = parser(__doc__)
    result.add_argument("--n", type=int, default=1000, help="objects per list (default 1000)")
    result.add_argument("--repeat", type=int, default=5, help="runs per timing (default 5)")
    return result


if __name__ == "__main__":
    raise SystemExit(main())

from __future__ import annotations

from typing import Any

import pytest

from mcm.api.selector import LabelSelector

LABELS = {"app": "web", "tier": "frontend", "zone": "a"}


def selector(
    labels: dict[str, str] | None = None, *expressions: tuple[str, str, list[str] | None]
) -> LabelSelector:
    raw: dict[str, Any] = {}
    if labels is not None:
        raw["matchLabels"] = labels
    if expressions:
        raw["matchExpressions"] = [
            {"key": key, "operator": operator, **({"values": values} if values is not None else {})}
            for key, operator, values in expressions
        ]
    return LabelSelector.from_dict(raw)


@pytest.mark.parametrize(
    ("sel", "expected"),
    [
        pytest.param(selector(), True, id="empty-selects-everything"),
        pytest.param(selector({"app": "web"}), True, id="one-label"),
        pytest.param(selector({"app": "web", "zone": "a"}), True, id="all-labels"),
        pytest.param(selector({"app": "db"}), False, id="different-value"),
        pytest.param(selector({"owner": "x"}), False, id="missing-label"),
        pytest.param(selector(None, ("tier", "In", ["frontend", "x"])), True, id="in"),
        pytest.param(selector(None, ("tier", "In", ["backend"])), False, id="in-no-match"),
        pytest.param(selector(None, ("owner", "In", ["x"])), False, id="in-missing-key"),
        pytest.param(selector(None, ("tier", "NotIn", ["backend"])), True, id="notin"),
        pytest.param(selector(None, ("tier", "NotIn", ["frontend"])), False, id="notin-hit"),
        pytest.param(selector(None, ("owner", "NotIn", ["x"])), True, id="notin-missing-key"),
        pytest.param(selector(None, ("zone", "Exists", None)), True, id="exists"),
        pytest.param(selector(None, ("owner", "Exists", None)), False, id="exists-missing"),
        pytest.param(selector(None, ("owner", "DoesNotExist", None)), True, id="does-not-exist"),
        pytest.param(
            selector(None, ("zone", "DoesNotExist", None)), False, id="exists-but-should-not"
        ),
        pytest.param(
            selector({"app": "web"}, ("zone", "In", ["b"])),
            False,
            id="labels-and-expressions-are-anded",
        ),
        pytest.param(selector(None, ("tier", "In", [])), False, id="in-without-values-is-invalid"),
        pytest.param(
            selector(None, ("zone", "Exists", ["a"])), False, id="exists-with-values-is-invalid"
        ),
        pytest.param(selector(None, ("zone", "Matches", ["a"])), False, id="unknown-operator"),
    ],
)
def test_label_selector_matches_like_kubernetes(sel: LabelSelector, expected: bool) -> None:
    assert sel.matches(LABELS) is expected


def test_an_empty_selector_is_empty_and_matches_unlabelled_objects() -> None:
    assert selector().empty
    assert selector().matches({})
    assert not selector({"a": "b"}).empty


def test_to_query_renders_the_label_selector_parameter() -> None:
    sel = selector(
        {"b": "2", "a": "1"},
        ("tier", "In", ["y", "x"]),
        ("zone", "NotIn", ["c"]),
        ("gpu", "Exists", None),
        ("spot", "DoesNotExist", None),
    )

    assert sel.to_query() == "a=1,b=2,tier in (x,y),zone notin (c),gpu,!spot"


def test_to_query_refuses_an_invalid_selector() -> None:
    with pytest.raises(ValueError, match="invalid"):
        selector(None, ("x", "Near", ["y"])).to_query()


def test_malformed_expressions_are_dropped_or_kept_invalid() -> None:
    sel = LabelSelector.from_dict(
        {"matchLabels": "app=web", "matchExpressions": [5, {"key": "a", "operator": 3}]}
    )

    assert sel.match_labels == {}
    assert len(sel.match_expressions) == 1
    assert not sel.valid
    assert not sel.matches(LABELS)

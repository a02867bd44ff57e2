from __future__ import annotations

import datetime
import enum
import types
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from mcm.api.codec import (
    Model,
    boolean,
    encode_value,
    enum_value,
    field,
    frozen,
    int_or_string,
    integer,
    json_object,
    models,
    optional_boolean,
    optional_integer,
    optional_model,
    optional_text,
    quantity_map,
    string_map,
    strings,
    text,
    timestamp,
)
from mcm.api.machine import Machine
from mcm.api.meta import EMPTY, ObjectMeta, freeze
from tests.unit.api.api_fixtures import machine


class Color(enum.StrEnum):
    RED = "red"


@attrs.frozen(kw_only=True)
class Item(Model):
    name: str = field("name", text, "")
    token: str = field("token", text, "", secret=True)


@pytest.mark.parametrize(
    ("decode", "value", "expected"),
    [
        pytest.param(text, "x", "x", id="text"),
        pytest.param(text, 5, "", id="text-from-number"),
        pytest.param(optional_text, None, None, id="optional-text-absent"),
        pytest.param(optional_text, "", "", id="optional-text-empty-is-set"),
        pytest.param(integer, 7, 7, id="integer"),
        pytest.param(integer, 7.0, 7, id="integer-from-integral-float"),
        pytest.param(integer, 7.5, 0, id="integer-from-fraction"),
        pytest.param(integer, True, 0, id="integer-from-bool"),
        pytest.param(integer, "7", 0, id="integer-from-string"),
        pytest.param(optional_integer, None, None, id="optional-integer-absent"),
        pytest.param(optional_integer, 0, 0, id="optional-integer-zero-is-set"),
        pytest.param(boolean, True, True, id="boolean"),
        pytest.param(boolean, "true", False, id="boolean-from-string"),
        pytest.param(optional_boolean, False, False, id="optional-boolean-false-is-set"),
        pytest.param(optional_boolean, 1, None, id="optional-boolean-from-int"),
        pytest.param(int_or_string, "25%", "25%", id="int-or-string-string"),
        pytest.param(int_or_string, 3, 3, id="int-or-string-int"),
        pytest.param(int_or_string, 1.5, None, id="int-or-string-fraction"),
        pytest.param(strings, ["a", 1, "b"], ("a", "b"), id="strings-drop-non-strings"),
        pytest.param(strings, "a", (), id="strings-from-string"),
        pytest.param(
            string_map,
            {"a": "1", "b": 2, "c": [1], "d": True},
            {"a": "1", "b": "2"},
            id="string-map",
        ),
        pytest.param(string_map, ["a"], {}, id="string-map-from-list"),
        pytest.param(
            quantity_map,
            {"cpu": 2, "memory": "8Gi"},
            {"cpu": "2", "memory": "8Gi"},
            id="quantities",
        ),
        pytest.param(json_object, [1], {}, id="json-object-from-list"),
        pytest.param(enum_value(Color), "red", Color.RED, id="enum"),
        pytest.param(enum_value(Color), "blue", None, id="enum-unknown"),
        pytest.param(enum_value(Color), 1, None, id="enum-non-string"),
        pytest.param(
            timestamp,
            "2024-01-02T03:04:05Z",
            datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            id="timestamp",
        ),
        pytest.param(timestamp, "soon", None, id="timestamp-invalid"),
        pytest.param(
            models(Item),
            [{"name": "a"}, "b", None],
            (Item(name="a"),),
            id="models-drop-non-objects",
        ),
        pytest.param(optional_model(Item), "x", None, id="optional-model-from-string"),
    ],
)
def test_decoders_are_lenient(decode: Callable[[Any], Any], value: Any, expected: Any) -> None:
    assert decode(value) == expected


def test_frozen_takes_frozen_json_as_it_is_and_freezes_anything_else() -> None:
    already = freeze({"a": [1]})

    assert frozen(already) is already
    assert frozen({"a": [1]}) == already
    assert isinstance(frozen({"a": [1]}), types.MappingProxyType)
    assert frozen(None) is EMPTY
    assert frozen([1, 2]) is EMPTY


def test_parsing_frozen_json_does_not_copy_it() -> None:
    raw = freeze(machine())

    parsed = Machine.from_dict(raw)

    assert parsed.raw is raw


def test_secret_fields_stay_out_of_repr() -> None:
    item = Item.from_dict({"name": "a", "token": "hunter2"})

    assert item.token == "hunter2"
    assert "hunter2" not in repr(item)
    assert "name='a'" in repr(item)


def test_a_field_set_back_to_its_default_is_removed() -> None:
    item = Item.from_dict({"name": "a", "other": 1})

    assert attrs.evolve(item, name="").to_dict() == {"other": 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Color.RED, "red", id="enum-to-plain-string"),
        pytest.param(
            datetime.datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=datetime.UTC),
            "2024-01-02T03:04:05Z",
            id="datetime",
        ),
        pytest.param((1, (2,)), [1, [2]], id="tuples-to-lists"),
        pytest.param(freeze({"a": {"b": [1]}}), {"a": {"b": [1]}}, id="frozen-mapping"),
        pytest.param(Item(name="x"), {"name": "x"}, id="model"),
        pytest.param(
            ObjectMeta(name="m", labels={"a": "b"}),
            {"name": "m", "labels": {"a": "b"}},
            id="object-meta",
        ),
        pytest.param(None, None, id="none"),
    ],
)
def test_encode_value_produces_plain_json(value: Any, expected: Any) -> None:
    encoded = encode_value(value)

    assert encoded == expected
    assert type(encoded) is type(expected)


def test_encode_value_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        encode_value({1, 2})

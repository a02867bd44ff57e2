"""Label and field selectors, parsed once and matched many times, as the API server reads them.

`LabelSelector.parse` understands the ``labelSelector`` query parameter: equality requirements
(``k=v``, ``k==v``, ``k!=v``), set-based ones (``k in (a,b)``, ``k notin (a,b)``, ``k`` for
"exists", ``!k`` for "does not exist") and the numeric ``k>3`` / ``k<3``, joined by commas.
`LabelSelector.from_dict` reads a ``metav1.LabelSelector`` (``matchLabels`` and
``matchExpressions``), as found in a PodDisruptionBudget's or a MachineSet's ``spec.selector``.
Matching follows ``k8s.io/apimachinery/pkg/labels``: ``!=`` and ``notin`` match objects that lack
the key, ``=`` and ``in`` do not; an empty selector matches everything.

`FieldSelector.parse` understands the ``fieldSelector`` query parameter (``path=value``,
``path==value``, ``path!=value``, comma-joined, with ``\\,``, ``\\=`` and ``\\\\`` escapes). A path
is any dotted path into the object (``metadata.name``, ``spec.nodeName``, ``status.phase``); a
missing field reads as ``""``, booleans as ``true``/``false``. The real server is stricter: it
accepts only the few fields each resource declares selectable, so code that relies on an unusual
field selector should be checked against a real server.

Both raise `SelectorError` (a `ValueError`) on malformed input; the fake API server turns that into
a ``400 Bad Request`` as the real one does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs


class SelectorError(ValueError):
    """A selector could not be parsed."""


class Operator(enum.StrEnum):
    """The requirement operators, spelled as in a selector string (``!`` is "does not exist")."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_MAX_NAME = 63  # a label key's name part and a label value are at most 63 characters

_TOKEN_RE = re.compile(r"\s*(?:(==|!=|=|\(|\)|,|!|<|>)|([^\s=!(),<>]+))")
_OPERATOR_WORDS = {"in": Operator.IN, "notin": Operator.NOT_IN}
_MATCH_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@attrs.frozen
class Requirement:
    """One requirement of a label selector: *key* *operator* *values*."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                number = _integer(value)
                if not present or number is None:
                    return False
                bound = int(self.values[0])
                return number > bound if self.operator is Operator.GREATER_THAN else number < bound

    def __str__(self) -> str:
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case Operator.IN | Operator.NOT_IN:
                return f"{self.key} {self.operator} ({','.join(self.values)})"
            case _:
                return f"{self.key}{self.operator}{self.values[0]}"


@attrs.frozen
class LabelSelector:
    """A conjunction of label requirements; the empty selector matches every object."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse a ``labelSelector`` string; ``None`` and ``""`` give the empty selector."""
        tokens = _tokenize(text or "")
        requirements: list[Requirement] = []
        position = 0
        while position < len(tokens):
            requirement, position = _parse_requirement(tokens, position)
            requirements.append(requirement)
            if position < len(tokens):
                if tokens[position] != ",":
                    raise SelectorError(f"unexpected {tokens[position]!r} in selector {text!r}")
                position += 1
                if position == len(tokens):
                    raise SelectorError(f"selector {text!r} ends with a comma")
        return cls(tuple(requirements))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LabelSelector:
        """Read a ``metav1.LabelSelector`` (``matchLabels`` plus ``matchExpressions``)."""
        requirements: list[Requirement] = []
        for key, value in sorted((raw.get("matchLabels") or {}).items()):
            _check_key(str(key))
            _check_value(str(value))
            requirements.append(Requirement(str(key), Operator.EQUALS, (str(value),)))
        for expression in raw.get("matchExpressions") or ():
            key = str(expression.get("key") or "")
            operator = _MATCH_EXPRESSION_OPERATORS.get(str(expression.get("operator")))
            if operator is None:
                raise SelectorError(
                    f"{expression.get('operator')!r} is not a valid selector operator"
                )
            values = tuple(str(v) for v in expression.get("values") or ())
            _check_key(key)
            if operator in (Operator.IN, Operator.NOT_IN) and not values:
                raise SelectorError(f"operator {operator} on {key!r} needs at least one value")
            if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
                raise SelectorError(f"operator {operator} on {key!r} takes no values")
            for value in values:
                _check_value(value)
            requirements.append(Requirement(key, operator, values))
        return cls(tuple(requirements))


@attrs.frozen
class FieldRequirement:
    """``path=value`` or ``path!=value``."""

    path: str
    operator: Operator
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.path) == self.value
        return equal if self.operator is Operator.EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.path}{self.operator}{_escape_field_value(self.value)}"


@attrs.frozen
class FieldSelector:
    """A conjunction of field requirements; the empty selector matches every object."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse a ``fieldSelector`` string; ``None`` and ``""`` give the empty selector."""
        requirements: list[FieldRequirement] = []
        for term in _split_unescaped(text or "", ","):
            if not term.strip():
                if text and text.strip():
                    raise SelectorError(f"empty requirement in field selector {text!r}")
                continue
            requirements.append(_parse_field_term(term))
        return cls(tuple(requirements))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at dotted *path* in *obj* as a field selector compares it (missing → ``""``)."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None or isinstance(value, Mapping | list | tuple):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _check_key(key: str) -> None:
    name = key.rpartition("/")[2]
    if not _KEY_RE.match(key) or len(name) > _MAX_NAME:
        raise SelectorError(f"invalid label key {key!r}")


def _check_value(value: str) -> None:
    if len(value) > _MAX_NAME or not _VALUE_RE.match(value):
        raise SelectorError(f"invalid label value {value!r}")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN_RE.match(text, position)
        if match is None:  # pragma: no cover - every character is either an operator or a word
            raise SelectorError(f"cannot parse selector {text!r}")
        tokens.append(match.group(1) or match.group(2))
        position = match.end()
    return tokens


def _parse_requirement(tokens: Sequence[str], position: int) -> tuple[Requirement, int]:
    if tokens[position] == "!":
        key = _word(tokens, position + 1, "a label key after '!'")
        _check_key(key)
        return Requirement(key, Operator.DOES_NOT_EXIST), position + 2
    key = _word(tokens, position, "a label key")
    _check_key(key)
    position += 1
    if position == len(tokens) or tokens[position] == ",":
        return Requirement(key, Operator.EXISTS), position
    spelled = tokens[position]
    position += 1
    if spelled in ("=", "==", "!="):
        operator = Operator.NOT_EQUALS if spelled == "!=" else Operator.EQUALS
        value = ""
        if position < len(tokens) and tokens[position] != ",":
            value = _word(tokens, position, f"a value for {key!r}")
            position += 1
        _check_value(value)
        return Requirement(key, operator, (value,)), position
    if spelled in (">", "<"):
        value = _word(tokens, position, f"a number for {key!r}")
        if _integer(value) is None:
            raise SelectorError(f"{value!r} is not an integer, as {spelled!r} needs")
        operator = Operator.GREATER_THAN if spelled == ">" else Operator.LESS_THAN
        return Requirement(key, operator, (value,)), position + 1
    set_operator = _OPERATOR_WORDS.get(spelled)
    if set_operator is None:
        raise SelectorError(f"unexpected {spelled!r} after label key {key!r}")
    values, position = _parse_values(tokens, position, key)
    return Requirement(key, set_operator, values), position


def _parse_values(tokens: Sequence[str], position: int, key: str) -> tuple[tuple[str, ...], int]:
    if position >= len(tokens) or tokens[position] != "(":
        raise SelectorError(f"expected '(' after the set operator on {key!r}")
    position += 1
    values: list[str] = []
    while True:
        value = _word(tokens, position, f"a value in the set for {key!r}")
        _check_value(value)
        values.append(value)
        position += 1
        if position >= len(tokens):
            raise SelectorError(f"unclosed '(' in the set for {key!r}")
        if tokens[position] == ")":
            return tuple(values), position + 1
        if tokens[position] != ",":
            raise SelectorError(f"unexpected {tokens[position]!r} in the set for {key!r}")
        position += 1


def _word(tokens: Sequence[str], position: int, what: str) -> str:
    if position >= len(tokens) or tokens[position] in (
        "==",
        "!=",
        "=",
        "(",
        ")",
        ",",
        "!",
        "<",
        ">",
    ):
        found = tokens[position] if position < len(tokens) else "the end"
        raise SelectorError(f"expected {what}, found {found!r}")
    return tokens[position]


def _split_unescaped(text: str, separator: str) -> Iterator[str]:
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            yield "".join(current)
            current = []
        else:
            current.append(char)
    if escaped:
        raise SelectorError(f"field selector {text!r} ends with a lone backslash")
    yield "".join(current)


def _parse_field_term(term: str) -> FieldRequirement:
    index = 0
    while index < len(term):
        if term[index] == "\\":
            index += 2
            continue
        for spelling, operator in (
            ("!=", Operator.NOT_EQUALS),
            ("==", Operator.EQUALS),
            ("=", Operator.EQUALS),
        ):
            if term.startswith(spelling, index):
                path = term[:index].strip()
                if not path:
                    raise SelectorError(f"field selector term {term!r} has no field")
                return FieldRequirement(path, operator, _unescape(term[index + len(spelling) :]))
        index += 1
    raise SelectorError(f"field selector term {term!r} has no operator ('=', '==' or '!=')")


def _unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            if following not in ("\\", ",", "="):
                raise SelectorError(f"invalid escape sequence '\\{following}' in {value!r}")
            out.append(following)
        else:
            out.append(char)
    return "".join(out)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

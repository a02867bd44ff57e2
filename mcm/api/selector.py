"""``metav1.LabelSelector``: ``matchLabels`` plus ``matchExpressions``, and how it matches labels.

`LabelSelector.matches` follows ``metav1.LabelSelectorAsSelector``: all ``matchLabels`` pairs and
all expressions must hold, and an empty selector matches everything. A selector that Kubernetes
would refuse to convert (an unknown operator, ``In``/``NotIn`` without values,
``Exists``/``DoesNotExist`` with values) matches nothing. Whether a *missing* or *empty* selector
should select anything is the caller's decision; upstream MCM answers differently in different
places (`LabelSelector.empty` helps).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from mcm.api.codec import Model, field, models, string_map, strings, text
from mcm.api.meta import EMPTY

__all__ = ["LabelSelector", "LabelSelectorOperator", "LabelSelectorRequirement"]


class LabelSelectorOperator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement(Model):
    """One ``matchExpressions`` entry; ``operator`` stays a string, so bad input stays visible."""

    key: str = field("key", text, "")
    operator: str = field("operator", text, "")
    values: tuple[str, ...] = field("values", strings, ())

    @property
    def valid(self) -> bool:
        """Would Kubernetes accept this requirement?"""
        if self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN):
            return bool(self.values)
        if self.operator in (LabelSelectorOperator.EXISTS, LabelSelectorOperator.DOES_NOT_EXIST):
            return not self.values
        return False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not self.valid:
            return False
        if self.operator == LabelSelectorOperator.IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator == LabelSelectorOperator.NOT_IN:
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == LabelSelectorOperator.EXISTS:
            return self.key in labels
        return self.key not in labels

    def to_query(self) -> str:
        """This requirement in ``labelSelector`` query syntax (``k in (a,b)``, ``!k``)."""
        if self.operator == LabelSelectorOperator.EXISTS:
            return self.key
        if self.operator == LabelSelectorOperator.DOES_NOT_EXIST:
            return f"!{self.key}"
        verb = "in" if self.operator == LabelSelectorOperator.IN else "notin"
        return f"{self.key} {verb} ({','.join(sorted(self.values))})"


@attrs.frozen(kw_only=True)
class LabelSelector(Model):
    match_labels: Mapping[str, str] = field("matchLabels", string_map, EMPTY)
    match_expressions: tuple[LabelSelectorRequirement, ...] = field(
        "matchExpressions", models(LabelSelectorRequirement), ()
    )

    @property
    def empty(self) -> bool:
        """No labels and no expressions: Kubernetes reads this as "everything"."""
        return not self.match_labels and not self.match_expressions

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.match_expressions)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Do *labels* satisfy every ``matchLabels`` pair and every expression?"""
        if not self.valid:
            return False
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(r.matches(labels) for r in self.match_expressions)

    def to_query(self) -> str:
        """The ``labelSelector`` query parameter for the same objects; `ValueError` if invalid."""
        if not self.valid:
            raise ValueError("invalid label selector")
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        parts.extend(r.to_query() for r in self.match_expressions)
        return ",".join(parts)

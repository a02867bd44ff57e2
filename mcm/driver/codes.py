"""Machine codes: how a driver says what went wrong, and how the controller reads it back.

A driver fails by raising `MachineError` with a `Code` and a message. The controller does not trust
the exception's class to get there: like upstream's ``status.FromError`` it decodes the error's
*string*, ``machine codes error: code = [<CodeName>] message = [<msg>]``, so an error that was
wrapped, re-raised or re-formatted by a provider still carries its code as long as the text
survives. `from_error` is that decoder, and its rules are upstream's exactly:

* the string must contain exactly two top-level ``[...]`` groups; brackets nest (``[a [b] c]`` is
  one group), a ``]`` with no open group is ignored, and an unclosed group is dropped;
* the first group is the code's name (a name this version does not know reads as ``Unknown``), the
  second is the message;
* anything else decodes to ``Unknown`` with the whole string as the message, and ``ok=False``.

So a message may contain balanced brackets, but unbalanced ones change what the controller reads.
This is upstream's unwritten contract, kept here on purpose: the codes end up in Machine status
(``lastOperation.errorCode``) where both implementations must agree.

Codes are `Code` members, an `enum.IntEnum` numbered as gRPC's and upstream's. Their names on the
wire are Go's (``ResourceExhausted``), offered as `Code.go_name` and by ``str()``/``format()``.
"""

from __future__ import annotations

import enum
from typing import overload

from mcm.errors import MCMError

__all__ = [
    "TRANSIENT_CODES",
    "Code",
    "MachineError",
    "code_name",
    "from_error",
]


class Code(enum.IntEnum):
    """What kind of failure a driver reports; the values are upstream's ``codes.Code``."""

    OK = 0
    CANCELED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16
    UNINITIALIZED = 17
    """The VM exists but `Driver.initialize_machine` has not succeeded on it yet."""

    @property
    def go_name(self) -> str:
        """The name upstream prints and parses: ``"ResourceExhausted"``."""
        return _GO_NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> Code:
        """The code printed as *name*; unknown names are `UNKNOWN` (upstream's ``StringToCode``)."""
        return _BY_GO_NAME.get(name, cls.UNKNOWN)

    def __str__(self) -> str:
        return self.go_name

    def __format__(self, format_spec: str) -> str:
        return format(self.go_name, format_spec)


_GO_NAMES: dict[Code, str] = {
    code: "".join(part.capitalize() for part in code.name.split("_")) for code in Code
}
_GO_NAMES[Code.OK] = "OK"
_BY_GO_NAME: dict[str, Code] = {name: code for code, name in _GO_NAMES.items()}


def code_name(value: int) -> str:
    """The Go name of a code number; ``"Code(<n>)"`` for numbers that are not codes."""
    try:
        return Code(value).go_name
    except ValueError:
        return f"Code({value})"


TRANSIENT_CODES: frozenset[Code] = frozenset(
    {Code.UNKNOWN, Code.DEADLINE_EXCEEDED, Code.ABORTED, Code.UNAVAILABLE}
)
"""Codes the controller retries soon (``ShortRetry``), keeping ``lastKnownState``."""


class MachineError(MCMError):
    """A driver call failed with *code*; *message* says why, in words fit for Machine status.

    ``str()`` is exactly upstream's ``machine codes error: code = [<CodeName>] message = [<msg>]``
    — the controller decodes that text (`from_error`), so it must never change. The message ends up
    in events and ``status.lastOperation.description``: it must never contain secret data.

    *response* is for the calls whose contract returns a response together with an error, as Go's
    ``(resp, err)`` can: a `GetMachineStatusResponse` with ``UNINITIALIZED`` (mandatory: the
    controller reads the provider ID and node name from it), and optionally a response carrying
    ``last_known_state`` with a failed create or delete.
    """

    def __init__(self, code: Code, message: str, *, response: object | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.response = response

    def __str__(self) -> str:
        return f"machine codes error: code = [{self.code.go_name}] message = [{self.message}]"


@overload
def from_error(exc: None) -> tuple[None, bool]: ...


@overload
def from_error(exc: BaseException) -> tuple[MachineError, bool]: ...


def from_error(exc: BaseException | None) -> tuple[MachineError | None, bool]:
    """Decode *exc*'s string as upstream's ``status.FromError`` does.

    ``(None, True)`` for None. ``(status, True)`` when the string holds exactly two top-level
    ``[...]`` groups: code name, then message. Otherwise ``(status, False)`` with code ``UNKNOWN``,
    the whole string as the message and *exc* as ``__cause__``.

    When *exc* is itself a `MachineError` that decodes to its own code and message (the usual
    case), it is returned as is, so its ``response`` stays reachable.
    """
    if exc is None:
        return None, True
    text = str(exc)
    groups = _top_level_groups(text)
    if len(groups) == 2:
        code = Code.from_name(groups[0])
        message = groups[1]
        if isinstance(exc, MachineError) and exc.code is code and exc.message == message:
            return exc, True
        return MachineError(code, message), True
    status = MachineError(Code.UNKNOWN, text)
    status.__cause__ = exc
    return status, False


def _top_level_groups(text: str) -> list[str]:
    """The contents of every top-level ``[...]`` group of *text*, in order."""
    groups: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "[":
            if depth == 0:
                start = index + 1
            depth += 1
        elif char == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                groups.append(text[start:index])
    return groups

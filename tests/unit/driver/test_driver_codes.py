from __future__ import annotations

import pickle

import pytest

from mcm.driver import TRANSIENT_CODES, Code, MachineError, code_name, from_error
from mcm.errors import MCMError, NotFoundError

GO_NAMES = [
    (0, "OK"),
    (1, "Canceled"),
    (2, "Unknown"),
    (3, "InvalidArgument"),
    (4, "DeadlineExceeded"),
    (5, "NotFound"),
    (6, "AlreadyExists"),
    (7, "PermissionDenied"),
    (8, "ResourceExhausted"),
    (9, "FailedPrecondition"),
    (10, "Aborted"),
    (11, "OutOfRange"),
    (12, "Unimplemented"),
    (13, "Internal"),
    (14, "Unavailable"),
    (15, "DataLoss"),
    (16, "Unauthenticated"),
    (17, "Uninitialized"),
]


def test_codes_are_numbered_and_named_as_upstream() -> None:
    assert [(int(code), code.go_name) for code in Code] == GO_NAMES


def test_str_and_format_of_a_code_give_its_go_name() -> None:
    code = Code.RESOURCE_EXHAUSTED

    assert str(code) == "ResourceExhausted"
    assert f"{code}" == "ResourceExhausted"
    assert f"[{code:>20}]" == "[   ResourceExhausted]"
    assert "%d" % code == "8"  # noqa: UP031 -- the number is still there for %-formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(8, "ResourceExhausted", id="a-code"),
        pytest.param(18, "Code(18)", id="past-the-last-code"),
        pytest.param(-1, "Code(-1)", id="negative"),
    ],
)
def test_code_name_renders_numbers_that_are_not_codes_like_go(value: int, expected: str) -> None:
    assert code_name(value) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("Uninitialized", Code.UNINITIALIZED, id="known"),
        pytest.param("OK", Code.OK, id="ok-is-upper-case"),
        pytest.param("Ok", Code.UNKNOWN, id="case-matters"),
        pytest.param("RESOURCE_EXHAUSTED", Code.UNKNOWN, id="python-name-is-not-a-wire-name"),
        pytest.param("", Code.UNKNOWN, id="empty"),
    ],
)
def test_from_name_maps_unknown_names_to_unknown(name: str, expected: Code) -> None:
    assert Code.from_name(name) is expected


def test_the_transient_codes_are_the_four_the_controller_retries_soon() -> None:
    assert {c.go_name for c in TRANSIENT_CODES} == {
        "Unknown",
        "DeadlineExceeded",
        "Aborted",
        "Unavailable",
    }


def test_a_machine_error_prints_exactly_upstreams_format() -> None:
    error = MachineError(Code.RESOURCE_EXHAUSTED, "no capacity in eu-west-1a")

    assert str(error) == (
        "machine codes error: code = [ResourceExhausted] message = [no capacity in eu-west-1a]"
    )
    assert error.code is Code.RESOURCE_EXHAUSTED
    assert error.message == "no capacity in eu-west-1a"
    assert error.response is None
    assert isinstance(error, MCMError)


def test_a_machine_error_survives_pickling() -> None:
    error = MachineError(Code.INTERNAL, "boom")

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes

    assert (copy.code, copy.message, str(copy)) == (error.code, error.message, str(error))


def test_from_error_of_none_is_none_and_ok() -> None:
    assert from_error(None) == (None, True)


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        pytest.param(
            "machine codes error: code = [Internal] message = [boom]",
            Code.INTERNAL,
            "boom",
            id="upstream-format",
        ),
        pytest.param("[NotFound] and [gone]", Code.NOT_FOUND, "gone", id="any-text-around"),
        pytest.param(
            "code = [Internal] message = [instance [i-1] in state [stopping]]",
            Code.INTERNAL,
            "instance [i-1] in state [stopping]",
            id="nested-brackets-stay-in-the-message",
        ),
        pytest.param(
            "code = [Aborted] message = [a] b] c",
            Code.ABORTED,
            "a",
            id="a-stray-closing-bracket-is-ignored",
        ),
        pytest.param(
            "] [Unavailable] [later]",
            Code.UNAVAILABLE,
            "later",
            id="leading-unmatched-bracket-is-ignored",
        ),
        pytest.param(
            "[Unavailable] [later] [unclosed",
            Code.UNAVAILABLE,
            "later",
            id="an-unclosed-group-is-dropped",
        ),
        pytest.param("[Bogus] [what]", Code.UNKNOWN, "what", id="unknown-name-is-unknown"),
        pytest.param("[Code(42)] [what]", Code.UNKNOWN, "what", id="go-rendering-of-a-non-code"),
        pytest.param("[] []", Code.UNKNOWN, "", id="empty-groups"),
    ],
)
def test_from_error_decodes_two_top_level_groups(text: str, code: Code, message: str) -> None:
    status, ok = from_error(RuntimeError(text))

    assert ok is True
    assert (status.code, status.message) == (code, message)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("connection reset by peer", id="no-groups"),
        pytest.param("[Internal] only one group", id="one-group"),
        pytest.param("[Internal] [boom] [extra]", id="a-third-group"),
        pytest.param("code = [Internal [message = boom]", id="unbalanced-swallows-the-rest"),
        pytest.param("", id="empty"),
    ],
)
def test_from_error_fails_on_anything_else(text: str) -> None:
    cause = RuntimeError(text)

    status, ok = from_error(cause)

    assert ok is False
    assert (status.code, status.message) == (Code.UNKNOWN, text)
    assert status.__cause__ is cause


def test_from_error_decodes_errors_of_other_classes_by_their_string() -> None:
    status, ok = from_error(NotFoundError('machines "m1" not found', status=404))

    assert ok is False
    assert status.code is Code.UNKNOWN
    assert status.message == 'machines "m1" not found (HTTP 404)'


def test_from_error_returns_a_machine_error_itself_so_its_response_stays_reachable() -> None:
    response = object()
    error = MachineError(Code.UNINITIALIZED, "not yet", response=response)

    status, ok = from_error(error)

    assert ok is True
    assert status is error
    assert status.response is response


def test_from_error_rebuilds_a_machine_error_whose_message_does_not_round_trip() -> None:
    error = MachineError(Code.INTERNAL, "a] [b")

    status, ok = from_error(error)

    assert ok is False  # "[Internal]", "[a]", "[b]": three groups, as upstream would read it
    assert status is not error
    assert status.code is Code.UNKNOWN


def test_from_error_reads_a_machine_error_wrapped_in_another_message() -> None:
    inner = MachineError(Code.RESOURCE_EXHAUSTED, "no capacity")

    status, ok = from_error(RuntimeError(f"create failed: {inner}"))

    assert ok is True
    assert (status.code, status.message) == (Code.RESOURCE_EXHAUSTED, "no capacity")

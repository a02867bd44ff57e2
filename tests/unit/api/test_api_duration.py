from __future__ import annotations

import pytest

from mcm.api.duration import format_duration, parse_duration, parse_duration_ns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("20m", 1200.0, id="minutes"),
        pytest.param("2h", 7200.0, id="hours"),
        pytest.param("90s", 90.0, id="seconds-above-a-minute"),
        pytest.param("1h30m", 5400.0, id="hours-and-minutes"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("-1s", -1.0, id="negative"),
        pytest.param("+5s", 5.0, id="explicit-plus"),
        pytest.param("0", 0.0, id="bare-zero"),
        pytest.param("-0", 0.0, id="negative-bare-zero"),
        pytest.param("1h2m3.5s", 3723.5, id="go-string-form"),
        pytest.param("1.5h", 5400.0, id="fractional-hours"),
        pytest.param(".5s", 0.5, id="fraction-without-leading-digit"),
        pytest.param("1.s", 1.0, id="dot-without-fraction"),
        pytest.param("100ns", 1e-7, id="nanoseconds"),
        pytest.param("3us", 3e-6, id="micro-ascii"),
        pytest.param("3\u00b5s", 3e-6, id="micro-sign"),
        pytest.param("3\u03bcs", 3e-6, id="greek-mu"),
        pytest.param("1m1m", 120.0, id="repeated-units-add-up"),
        pytest.param("96h0m0s", 345600.0, id="zero-components"),
    ],
)
def test_parse_duration_accepts_what_go_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("20", id="missing-unit"),
        pytest.param("1x", id="unknown-unit"),
        pytest.param("h", id="unit-without-number"),
        pytest.param("-", id="sign-only"),
        pytest.param(".s", id="dot-without-digits"),
        pytest.param("1h 2m", id="inner-space"),
        pytest.param(" 1s", id="leading-space"),
        pytest.param("1.2.3s", id="two-dots"),
        pytest.param("1H", id="unit-is-case-sensitive"),
        pytest.param("2562048h", id="beyond-int64-nanoseconds"),
        pytest.param("9223372036854775808ns", id="one-past-max"),
    ],
)
def test_parse_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_duration(text)


def test_parse_duration_keeps_go_int64_limits() -> None:
    assert parse_duration_ns("9223372036854775807ns") == 2**63 - 1
    assert parse_duration_ns("-9223372036854775808ns") == -(2**63)


def test_parse_duration_rounds_fractions_like_go() -> None:
    # Go: 1.1s = 1s + int(1 * (1e9 / 10)) ns; fractional digits beyond ns precision are dropped.
    assert parse_duration_ns("1.1s") == 1_100_000_000
    assert parse_duration_ns("0.0000000019s") == 1


def test_parse_duration_refuses_non_strings() -> None:
    with pytest.raises(TypeError):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(1200.0, "20m0s", id="minutes"),
        pytest.param(7200.0, "2h0m0s", id="hours"),
        pytest.param(90.0, "1m30s", id="minute-and-seconds"),
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(0.5, "500ms", id="milliseconds"),
        pytest.param(1.5, "1.5s", id="fractional-seconds"),
        pytest.param(-1.0, "-1s", id="negative"),
        pytest.param(3723.5, "1h2m3.5s", id="all-components"),
        pytest.param(0.0015, "1.5ms", id="fractional-milliseconds"),
        pytest.param(1e-6, "1\u00b5s", id="microseconds-use-micro-sign"),
        pytest.param(1.5e-6, "1.5\u00b5s", id="fractional-microseconds"),
        pytest.param(1e-7, "100ns", id="nanoseconds"),
        pytest.param(345600.0, "96h0m0s", id="days-stay-hours"),
        pytest.param(3600.000000001, "1h0m0.000000001s", id="nanosecond-precision"),
    ],
)
def test_format_duration_prints_what_go_prints(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["20m0s", "1h2m3.5s", "1.5ms", "-2h0m0.25s", "1\u00b5s", "7ns"])
def test_format_duration_is_the_inverse_of_parse_duration(text: str) -> None:
    assert format_duration(parse_duration(text)) == text

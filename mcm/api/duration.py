"""Go ``time.Duration`` strings, as the Machine API and the command line write them.

`parse_duration` accepts exactly what Go's ``time.ParseDuration`` accepts (``"20m"``,
``"1h2m3.5s"``, ``"-1.5ms"``, ``"0"``) and raises `ValueError` for anything else, including an empty
string and a missing unit. `format_duration` prints what Go's ``Duration.String`` prints (``1200.0``
gives ``"20m0s"``, ``0.5`` gives ``"500ms"``).

Durations are float seconds everywhere in ``mcm``; these two functions are the only place the Go
notation is converted. The arithmetic is done on integer nanoseconds, as Go does, so fractions round
the way they round in Go and the range is Go's (about ±292 years; beyond it is a `ValueError`).
"""

from __future__ import annotations

__all__ = ["format_duration", "parse_duration", "parse_duration_ns"]

_NANOSECOND = 1
_MICROSECOND = 1000 * _NANOSECOND
_MILLISECOND = 1000 * _MICROSECOND
_SECOND = 1000 * _MILLISECOND
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

# Go's unitMap: "us" and both micro signs (U+00B5 MICRO SIGN, U+03BC GREEK SMALL LETTER MU) mean µs.
_UNITS = {
    "ns": _NANOSECOND,
    "us": _MICROSECOND,
    "\u00b5s": _MICROSECOND,
    "\u03bcs": _MICROSECOND,
    "ms": _MILLISECOND,
    "s": _SECOND,
    "m": _MINUTE,
    "h": _HOUR,
}

_MAX = 1 << 63  # |Duration| limit; the positive side stops one short (int64).
_DIGITS = "0123456789"


def parse_duration(text: str) -> float:
    """Parse a Go duration string into float seconds; `ValueError` if Go would reject it."""
    return parse_duration_ns(text) / _SECOND


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration string into integer nanoseconds (Go's own representation)."""
    if not isinstance(text, str):
        raise TypeError(f"a duration must be a string, not {type(text).__name__}")
    rest = text
    negative = False
    if rest and rest[0] in "+-":
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {text!r}")
    total = 0
    while rest:
        if rest[0] != "." and rest[0] not in _DIGITS:
            raise ValueError(f"time: invalid duration {text!r}")
        whole, rest = _leading_int(rest, text)
        had_whole = whole is not None
        fraction, scale, had_fraction = 0, 1.0, False
        if rest.startswith("."):
            fraction, scale, consumed, rest = _leading_fraction(rest[1:])
            had_fraction = consumed
        if not had_whole and not had_fraction:
            raise ValueError(f"time: invalid duration {text!r}")
        end = 0
        while end < len(rest) and rest[end] != "." and rest[end] not in _DIGITS:
            end += 1
        if end == 0:
            raise ValueError(f"time: missing unit in duration {text!r}")
        unit_name, rest = rest[:end], rest[end:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError(f"time: unknown unit {unit_name!r} in duration {text!r}")
        value = whole or 0
        if value > _MAX // unit:
            raise ValueError(f"time: invalid duration {text!r}")
        value *= unit
        if fraction > 0:
            # float64 arithmetic on purpose: this is how Go rounds "1.1s" and friends.
            value += int(float(fraction) * (float(unit) / scale))
            if value > _MAX:
                raise ValueError(f"time: invalid duration {text!r}")
        total += value
        if total > _MAX:
            raise ValueError(f"time: invalid duration {text!r}")
    if negative:
        return -total
    if total > _MAX - 1:
        raise ValueError(f"time: invalid duration {text!r}")
    return total


def _leading_int(text: str, original: str) -> tuple[int | None, str]:
    """Consume ``[0-9]*``; None when there were no digits."""
    end = 0
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    if end == 0:
        return None, text
    value = int(text[:end])
    if value > _MAX:
        raise ValueError(f"time: invalid duration {original!r}")
    return value, text[end:]


def _leading_fraction(text: str) -> tuple[int, float, bool, str]:
    """Consume ``[0-9]*`` after a dot: (digits as int, 10**used digits, consumed any, rest).

    Like Go, digits beyond what fits in 63 bits are consumed but ignored.
    """
    value, scale, end, overflow = 0, 1.0, 0, False
    while end < len(text) and text[end] in _DIGITS:
        if not overflow:
            if value > _MAX // 10:
                overflow = True
            else:
                candidate = value * 10 + int(text[end])
                if candidate > _MAX:
                    overflow = True
                else:
                    value = candidate
                    scale *= 10
        end += 1
    return value, scale, end > 0, text[end:]


def format_duration(seconds: float) -> str:
    """Format float seconds as Go's ``Duration.String`` does (``1h2m3.5s``, ``20m0s``, ``1.5ms``).

    The value is first rounded to whole nanoseconds.
    """
    nanoseconds = round(seconds * _SECOND)
    negative = nanoseconds < 0
    magnitude = -nanoseconds if negative else nanoseconds
    if magnitude == 0:
        return "0s"
    if magnitude < _SECOND:
        if magnitude < _MICROSECOND:
            text = f"{magnitude}ns"
        elif magnitude < _MILLISECOND:
            text = _fraction(magnitude, 3) + "\u00b5s"
        else:
            text = _fraction(magnitude, 6) + "ms"
    else:
        text = _fraction(magnitude % _MINUTE, 9) + "s"
        minutes = magnitude // _MINUTE
        if minutes:
            text = f"{minutes % 60}m" + text
            hours = minutes // 60
            if hours:
                text = f"{hours}h" + text
    return "-" + text if negative else text


def _fraction(value: int, precision: int) -> str:
    """``value / 10**precision`` with trailing zeros (and a bare dot) dropped, like Go's fmtFrac."""
    whole, fraction = divmod(value, 10**precision)
    digits = f"{fraction:0{precision}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)

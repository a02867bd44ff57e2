"""Fixtures for the mcm.cache tests; the doubles themselves live in cache_doubles.py."""

from __future__ import annotations

import pytest

from mcm.cache import Backoff
from tests.unit.cache.cache_doubles import RecordingClock, ScriptedApi


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def api() -> ScriptedApi:
    """An API whose watch streams block until fed (no read timeout on the clock)."""
    return ScriptedApi()


@pytest.fixture
def backoff(clock: RecordingClock) -> Backoff:
    """client-go's reflector back-off without the jitter, so tests can assert exact delays."""
    return Backoff(jitter=0.0, clock=clock)

"""Fixtures for the kubelet simulator tests: a FakeApiServer and the simulator on one FakeClock."""

from __future__ import annotations

import pytest

from mcm.clock import FakeClock
from mcm.testing import FakeApiServer
from mcm.testing.kubelet import KubeletSimulator, StaticVMSource


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def api(clock: FakeClock) -> FakeApiServer:
    return FakeApiServer(clock=clock)


@pytest.fixture
def source() -> StaticVMSource:
    return StaticVMSource()


@pytest.fixture
def kubelet(api: FakeApiServer, source: StaticVMSource, clock: FakeClock) -> KubeletSimulator:
    return KubeletSimulator(api, source, clock=clock)

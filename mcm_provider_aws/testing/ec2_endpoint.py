"""`EC2Endpoint`: EC2 over HTTP for tests: moto's server with a `FaultFront` in front of it.

    boto3 client --HTTP--> FaultFront (faults, latency, throttling, counts) --HTTP--> moto

Code under test gets `EC2Endpoint.url` (or `EC2Endpoint.environment` for a child process) and
talks to it as it would to EC2; the test arms faults on `EC2Endpoint.front` and reads how many
calls of each action were made from `EC2Endpoint.counts`. Clients from `EC2Endpoint.client` carry
dummy credentials and, by default, no retries, so an injected fault reaches the caller exactly
once; ``direct=True`` clients bypass the front (test set-up, the kubelet simulator's polling), so
their calls are neither faulted nor counted.

moto's state is global to its server: `EC2Endpoint.reset` empties it and the front, which is what
a per-test fixture over a shared endpoint should call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.config import Config

from mcm_provider_aws.testing.fault_front import ActionCounts, FaultFront
from mcm_provider_aws.testing.moto_server import MotoServer

DEFAULT_REGION = "eu-west-1"
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 -- moto accepts any credentials


class EC2Endpoint:
    """moto + fault front; start it (or use it as a context manager) before reading `url`."""

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        in_process: bool = True,  # False: moto in a child process (benchmarks)
        sleep: Callable[[float], None] = time.sleep,  # the front's latency; a recorder in tests
        monotonic: Callable[[], float] = time.monotonic,  # the front's token buckets
    ) -> None:
        self.region = region
        self._host = host
        self._sleep = sleep
        self._monotonic = monotonic
        self.moto = MotoServer(host=host, in_process=in_process)
        self._front: FaultFront | None = None

    @property
    def front(self) -> FaultFront:
        """The fault controls and counters."""
        if self._front is None:
            raise RuntimeError("the EC2 endpoint is not running")
        return self._front

    @property
    def url(self) -> str:
        """Where EC2 calls go: the front."""
        return self.front.url

    @property
    def moto_url(self) -> str:
        """moto itself, behind the front."""
        return self.moto.url

    def start(self) -> None:
        self.moto.start()
        front = FaultFront(
            self.moto.url, host=self._host, sleep=self._sleep, monotonic=self._monotonic
        )
        try:
            front.start()
        except BaseException:
            self.moto.stop()
            raise
        self._front = front

    def stop(self) -> None:
        front, self._front = self._front, None
        try:
            if front is not None:
                front.stop()
        finally:
            self.moto.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty moto and forget the front's faults, latencies, buckets and counts."""
        self.moto.reset()
        self.front.reset()

    def counts(self) -> dict[str, ActionCounts]:
        """Calls per EC2 action that went through the front."""
        return self.front.counts()

    def client(
        self, region: str | None = None, *, direct: bool = False, max_attempts: int = 1
    ) -> Any:
        """A boto3 EC2 client for this endpoint (the front; moto itself with *direct*).

        *max_attempts* is botocore's ``total_max_attempts``: 1 means no retries.
        """
        return boto3.client(
            "ec2",
            region_name=region or self.region,
            endpoint_url=self.moto_url if direct else self.url,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
        )

    def environment(self) -> dict[str, str]:
        """Environment variables that point a child process's boto3 at the front."""
        return {
            "AWS_ENDPOINT_URL_EC2": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
        }

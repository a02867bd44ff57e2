"""The EC2 client the driver uses: a narrow protocol, and a factory of cached, throttled clients.

`Ec2Client` names the eight boto3 EC2 methods the driver calls, and nothing else: the driver is
written (and unit-testable) against that protocol, not against boto3's untyped client.

`EC2Clients` builds real boto3 clients (sessions from `mcm_provider_aws.credentials`) and promises:

* **One client per (region, credentials, endpoint)**, kept in a ``cachetools.TTLCache`` (at most
  *cache_size* clients, each rebuilt after *cache_ttl* seconds, so a rotated secret's old client
  does not linger) behind a lock, because cachetools caches are not thread-safe. Clients are
  thread-safe and shared by all driver threads. The credentials enter the key as a SHA-256
  *fingerprint*, so the key can be logged and compared without holding a secret; `cache_hits` and
  `cache_misses` count lookups.
* **Client-side throttling.** Every HTTP request (retries included) first takes a token from the
  bucket of its EC2 action (`mcm_provider_aws.throttle`), one `ActionThrottler` per region and
  credentials, the scope of AWS's own buckets. Waiting happens on the injected `Clock`.
* **Retries by botocore**, in its *standard* retry mode with *max_attempts* attempts in all (3 by
  default, the Go SDK's default that upstream relies on): throttling answers
  (``RequestLimitExceeded``), HTTP 5xx and connection errors are retried with jittered exponential
  back-off (throttling from a 1 s base, others from 50 ms, at most 20 s), so a short throttling
  episode is absorbed before the driver sees an error. *Adaptive* mode is not used: its own
  client-side limiter sleeps on the real clock and only starts after AWS has throttled, where our
  buckets are configured up front and tested on a fake clock.
* **Metrics**: every request and every throttling or error answer is counted per action
  (`mcm_provider_aws.metrics.AWSMetrics.ec2_response`), as are the token bucket's delays.

The endpoint is botocore's choice (``AWS_ENDPOINT_URL_EC2``, ``AWS_ENDPOINT_URL``, shared config)
unless *endpoint_url* (the CLI flag) overrides it. Durations are float seconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Final, Protocol

import attrs
import cachetools
from botocore.config import Config

from mcm.clock import Clock, RealClock
from mcm_provider_aws.credentials import Credentials, new_ec2_client
from mcm_provider_aws.errors import THROTTLING_CODES
from mcm_provider_aws.metrics import AWSMetrics
from mcm_provider_aws.throttle import ActionThrottler, Throttle

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_CACHE_TTL",
    "DEFAULT_MAX_ATTEMPTS",
    "ClientKey",
    "ClientProvider",
    "EC2Clients",
    "Ec2Client",
    "credentials_fingerprint",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS: Final = 3
"""Attempts per call in all (botocore's ``total_max_attempts``), as the Go SDK's default."""
DEFAULT_CACHE_SIZE: Final = 64
"""Clients kept: one per region and credentials in use; a cluster uses one or a few."""
DEFAULT_CACHE_TTL: Final = 3600.0
"""Seconds before a client is rebuilt, so clients of rotated credentials do not linger."""
DEFAULT_MAX_POOL_CONNECTIONS: Final = 50
"""HTTP connections per client: the controller calls the driver from many workers at once."""

_THROTTLER_CACHE_SIZE = 256  # token buckets outlive client rebuilds; bounded for key rotation


class Ec2Client(Protocol):
    """The EC2 calls the driver makes (boto3's method names; keyword arguments as EC2's)."""

    def describe_images(self, **kwargs: Any) -> dict[str, Any]: ...

    def run_instances(self, **kwargs: Any) -> dict[str, Any]: ...

    def describe_instances(self, **kwargs: Any) -> dict[str, Any]: ...

    def terminate_instances(self, **kwargs: Any) -> dict[str, Any]: ...

    def modify_network_interface_attribute(self, **kwargs: Any) -> dict[str, Any]: ...

    def assign_ipv6_addresses(self, **kwargs: Any) -> dict[str, Any]: ...

    def describe_network_interfaces(self, **kwargs: Any) -> dict[str, Any]: ...

    def delete_network_interface(self, **kwargs: Any) -> dict[str, Any]: ...


def credentials_fingerprint(credentials: Credentials) -> str:
    """A short SHA-256 digest of *credentials*: equal for equal credentials, no secret in it."""
    digest = hashlib.sha256()
    for part in (
        credentials.mode.value,
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.web_identity_token_file,
        credentials.role_arn,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@attrs.frozen
class ClientKey:
    """What a cached client is for. Safe to log: the credentials are a fingerprint."""

    region: str
    fingerprint: str
    endpoint_url: str | None


class ClientProvider(Protocol):
    """Where the driver gets its clients: `EC2Clients`, or a stub in tests."""

    def client(self, credentials: Credentials, region: str) -> Ec2Client:
        """The client for *credentials* in *region*."""
        ...

    def key(self, credentials: Credentials, region: str) -> ClientKey:
        """What identifies that client (the scope of the driver's caches)."""
        ...


class EC2Clients:
    """Cached, throttled, counted boto3 EC2 clients; see the module docstring."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        sts_endpoint_url: str | None = None,
        throttle: Throttle | None = None,
        metrics: AWSMetrics | None = None,
        clock: Clock | None = None,  # FakeClock in tests: token buckets, cache TTL
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_pool_connections: int = DEFAULT_MAX_POOL_CONNECTIONS,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_ttl: float = DEFAULT_CACHE_TTL,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.endpoint_url = endpoint_url
        self._sts_endpoint_url = sts_endpoint_url
        self.throttle = throttle if throttle is not None else Throttle()
        self._metrics = metrics
        self._clock: Clock = clock if clock is not None else RealClock()
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra="mcm-provider-aws",
        )
        self._lock = threading.Lock()
        self._clients: cachetools.TTLCache[ClientKey, Any] = cachetools.TTLCache(
            maxsize=cache_size, ttl=cache_ttl, timer=self._clock.monotonic
        )
        self._throttlers: cachetools.LRUCache[ClientKey, ActionThrottler] = cachetools.LRUCache(
            maxsize=_THROTTLER_CACHE_SIZE
        )
        self.cache_hits = 0
        self.cache_misses = 0

    def key(self, credentials: Credentials, region: str) -> ClientKey:
        """The cache key of the client for *credentials* in *region*."""
        return ClientKey(region, credentials_fingerprint(credentials), self.endpoint_url)

    def client(self, credentials: Credentials, region: str) -> Ec2Client:
        """The client for *credentials* in *region*, built on first use (or after its TTL)."""
        key = self.key(credentials, region)
        with self._lock:  # boto3 sessions are not thread-safe to build clients from
            client = self._clients.get(key)
            if client is not None:
                self.cache_hits += 1
                return client  # type: ignore[no-any-return]
            self.cache_misses += 1
            throttler = self._throttlers.get(key)
            if throttler is None:
                throttler = ActionThrottler(self.throttle, clock=self._clock)
                self._throttlers[key] = throttler
            client = new_ec2_client(
                credentials,
                region,
                endpoint_url=self.endpoint_url,
                sts_endpoint_url=self._sts_endpoint_url,
                config=self._config,
                clock=self._clock,
            )
            self._instrument(client, throttler)
            self._clients[key] = client
            logger.info(
                "built an EC2 client for region %s (credentials %s, endpoint %s)",
                key.region,
                key.fingerprint,
                client.meta.endpoint_url,
            )
            return client  # type: ignore[no-any-return]

    def _instrument(self, client: Any, throttler: ActionThrottler) -> None:
        """Hook the token buckets and the request counters into *client*'s event system."""
        service = client.meta.service_model.service_id.hyphenize()
        metrics = self._metrics

        def before_send(event_name: str, **_: Any) -> None:
            action = event_name.rsplit(".", 1)[-1]
            waited = throttler.acquire(action)
            if waited > 0 and metrics is not None:
                metrics.client_throttled(action, waited)

        client.meta.events.register(f"before-send.{service}", before_send)
        if metrics is None:
            return

        def response_received(
            event_name: str,
            parsed_response: Any = None,
            exception: BaseException | None = None,
            **_: Any,
        ) -> None:
            action = event_name.rsplit(".", 1)[-1]
            error = (parsed_response or {}).get("Error") or {}
            code = str(error.get("Code") or "")
            if not code and exception is not None:
                code = type(exception).__name__  # no answer: connection refused, timeout ...
            metrics.ec2_response(action, error_code=code, throttled=code in THROTTLING_CODES)

        client.meta.events.register(f"response-received.{service}", response_received)

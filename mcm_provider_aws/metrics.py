"""The AWS driver's Prometheus series: upstream's ``mcm_cloud_api_*`` and our EC2 call counters.

**Upstream's** (``machine-controller-manager`` ``pkg/util/provider/metrics``, recorded as the AWS
provider's ``pkg/instrument`` does), all labelled ``provider="aws"``:

=================================================  =========  =====================================
series                                             type       recorded
=================================================  =========  =====================================
``mcm_cloud_api_driver_request_duration_seconds``  histogram  a driver method succeeded
                                                              (``operation``)
``mcm_cloud_api_driver_requests_failed_total``     counter    a driver method failed (``operation``,
                                                              ``error_code``: the numeric code,
                                                              ``"13"`` for a non-`MachineError`)
``mcm_cloud_api_requests_total``                   counter    a lookup/terminate step succeeded
                                                              (``service``)
``mcm_cloud_api_api_request_duration_seconds``     histogram  same, its duration
``mcm_cloud_api_requests_failed_total``            counter    a lookup/terminate step failed
=================================================  =========  =====================================

Operations are upstream's labels (`CREATE_MACHINE` … `GET_VOLUME_IDS`); so are the ``service``
labels, which name driver steps rather than EC2 actions (`INSTANCE_GET_BY_ID` …). A
GetMachineStatus that returns a response together with ``Uninitialized`` counts as failed with
code ``17``, as upstream's does.

**Ours**, per EC2 action (``action="RunInstances"``), counted on every HTTP attempt botocore makes,
retries included, because that is what AWS's buckets count:

* ``mcm_aws_ec2_calls_total{action}``: requests sent to EC2;
* ``mcm_aws_ec2_throttled_total{action}``: requests EC2 answered with a throttling code;
* ``mcm_aws_ec2_errors_total{action,code}``: requests EC2 answered with any error code;
* ``mcm_aws_ec2_client_throttled_total{action}`` and
  ``mcm_aws_ec2_client_throttle_seconds_total{action}``: requests the driver's own token buckets
  delayed, and for how long in total.

`default_aws_metrics` gives the process-wide `AWSMetrics` on ``prometheus_client.REGISTRY``; tests
build their own on a fresh ``CollectorRegistry``. Durations are float seconds on the injected
`Clock`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Final

import prometheus_client
from prometheus_client import CollectorRegistry

from mcm.clock import Clock, RealClock
from mcm.driver.codes import Code, MachineError

__all__ = [
    "CREATE_MACHINE",
    "DELETE_MACHINE",
    "GET_MACHINE_STATUS",
    "GET_VOLUME_IDS",
    "INITIALIZE_MACHINE",
    "INSTANCE_DISABLE_SOURCE_DEST_CHECK",
    "INSTANCE_GET_BY_ID",
    "INSTANCE_GET_BY_MACHINE",
    "INSTANCE_GET_BY_TAG_AND_STATUS",
    "INSTANCE_TERMINATE",
    "LIST_MACHINES",
    "NETWORK_INTERFACE_CLEANUP",
    "PROVIDER_LABEL",
    "AWSMetrics",
    "default_aws_metrics",
]

PROVIDER_LABEL: Final = "aws"

# Driver operations (upstream's operation labels).
CREATE_MACHINE: Final = "create_machine"
INITIALIZE_MACHINE: Final = "initialize_machine"
DELETE_MACHINE: Final = "delete_machine"
LIST_MACHINES: Final = "list_machine"
GET_MACHINE_STATUS: Final = "get_machine_status"
GET_VOLUME_IDS: Final = "get_volume_ids"

# Driver steps (upstream's service labels, plus our network-interface clean-up).
INSTANCE_DISABLE_SOURCE_DEST_CHECK: Final = "instance_disable_source_dest_check"
INSTANCE_GET_BY_TAG_AND_STATUS: Final = "instance_get_by_tag_and_status"
INSTANCE_GET_BY_MACHINE: Final = "instance_get_by_machine"
INSTANCE_GET_BY_ID: Final = "instance_get_by_id"
INSTANCE_TERMINATE: Final = "instance_terminate"
NETWORK_INTERFACE_CLEANUP: Final = "network_interface_cleanup"


def _error_code_label(exc: BaseException) -> str:
    code = exc.code if isinstance(exc, MachineError) else Code.INTERNAL
    return str(int(code))


class AWSMetrics:
    """The series of the module docstring, registered on *registry*.

    Construct at most one per registry: ``prometheus_client`` refuses a second registration.
    """

    def __init__(self, registry: CollectorRegistry, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self.driver_request_duration = prometheus_client.Histogram(
            "mcm_cloud_api_driver_request_duration_seconds",
            "Total time (in seconds) taken for a driver API request to complete",
            ["provider", "operation"],
            registry=registry,
        )
        self.driver_requests_failed = prometheus_client.Counter(
            "mcm_cloud_api_driver_requests_failed_total",
            "Number of failed Driver API requests, partitioned by provider, operation and error "
            "code",
            ["provider", "operation", "error_code"],
            registry=registry,
        )
        self.api_requests = prometheus_client.Counter(
            "mcm_cloud_api_requests_total",
            "Number of Cloud Service API requests, partitioned by provider, and service.",
            ["provider", "service"],
            registry=registry,
        )
        self.api_requests_failed = prometheus_client.Counter(
            "mcm_cloud_api_requests_failed_total",
            "Number of Failed Cloud Service API requests, partitioned by provider, and service.",
            ["provider", "service"],
            registry=registry,
        )
        self.api_request_duration = prometheus_client.Histogram(
            "mcm_cloud_api_api_request_duration_seconds",
            "Time(in seconds) it takes for a provider API request to complete",
            ["provider", "service"],
            registry=registry,
        )
        self.ec2_calls = prometheus_client.Counter(
            "mcm_aws_ec2_calls_total",
            "Requests sent to EC2 (every attempt, retries included), by action.",
            ["action"],
            registry=registry,
        )
        self.ec2_throttled = prometheus_client.Counter(
            "mcm_aws_ec2_throttled_total",
            "Requests EC2 answered with a throttling error, by action.",
            ["action"],
            registry=registry,
        )
        self.ec2_errors = prometheus_client.Counter(
            "mcm_aws_ec2_errors_total",
            "Requests EC2 answered with an error, by action and AWS error code.",
            ["action", "code"],
            registry=registry,
        )
        self.ec2_client_throttled = prometheus_client.Counter(
            "mcm_aws_ec2_client_throttled_total",
            "Requests the driver's own token buckets delayed, by action.",
            ["action"],
            registry=registry,
        )
        self.ec2_client_throttle_seconds = prometheus_client.Counter(
            "mcm_aws_ec2_client_throttle_seconds_total",
            "Seconds requests waited for the driver's own token buckets, by action.",
            ["action"],
            registry=registry,
        )

    @contextlib.contextmanager
    def driver_operation(self, operation: str) -> Iterator[None]:
        """Record one driver method call: its duration on success, its code on failure."""
        started = self._clock.monotonic()
        try:
            yield
        except Exception as exc:
            self.driver_requests_failed.labels(
                PROVIDER_LABEL, operation, _error_code_label(exc)
            ).inc()
            raise
        self.driver_request_duration.labels(PROVIDER_LABEL, operation).observe(
            self._clock.monotonic() - started
        )

    @contextlib.contextmanager
    def api_call(self, service: str) -> Iterator[None]:
        """Record one driver step against EC2 (upstream's ``AwsAPIMetricRecorderFn``)."""
        started = self._clock.monotonic()
        try:
            yield
        except Exception:
            self.api_requests_failed.labels(PROVIDER_LABEL, service).inc()
            raise
        self.api_requests.labels(PROVIDER_LABEL, service).inc()
        self.api_request_duration.labels(PROVIDER_LABEL, service).observe(
            self._clock.monotonic() - started
        )

    def ec2_response(self, action: str, *, error_code: str = "", throttled: bool = False) -> None:
        """Count one request sent to EC2 and, if it failed, how."""
        self.ec2_calls.labels(action).inc()
        if error_code:
            self.ec2_errors.labels(action, error_code).inc()
        if throttled:
            self.ec2_throttled.labels(action).inc()

    def client_throttled(self, action: str, seconds: float) -> None:
        """Count one request the driver's token bucket delayed by *seconds*."""
        self.ec2_client_throttled.labels(action).inc()
        self.ec2_client_throttle_seconds.labels(action).inc(seconds)


_default: AWSMetrics | None = None
_default_lock = threading.Lock()


def default_aws_metrics() -> AWSMetrics:
    """The process-wide `AWSMetrics` on ``prometheus_client.REGISTRY``, made on first use."""
    global _default  # noqa: PLW0603 -- one registration per process is the point
    with _default_lock:
        if _default is None:
            _default = AWSMetrics(prometheus_client.REGISTRY)
        return _default

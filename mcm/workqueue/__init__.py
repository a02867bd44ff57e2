"""Work queues for controllers: a port of client-go's ``util/workqueue``.

Three layers, each wrapping the one below and adding a little:

    Queue               add / get / done / len / shut_down / shut_down_with_drain / shutting_down
    DelayingQueue       + add_after
    RateLimitingQueue   + add_rate_limited / forget / num_requeues

A key is never handed to two workers at once, a key added many times before a worker takes it is
handed out once, and a key added while a worker holds it is handed out once more after `done`.
``get`` returns ``(key, shutdown)`` as Go does. The rate limiters (`default_controller_rate_limiter`
and its parts) decide how long a failing key waits. Named queues record client-go's ``workqueue_*``
Prometheus metrics. Durations are float seconds, and time comes from an injected `mcm.clock.Clock`.
"""

from mcm.workqueue.delaying import DelayingQueue
from mcm.workqueue.metrics import (
    MetricsProvider,
    PrometheusMetricsProvider,
    default_metrics_provider,
)
from mcm.workqueue.queue import Queue
from mcm.workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)
from mcm.workqueue.rate_limiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "MetricsProvider",
    "PrometheusMetricsProvider",
    "Queue",
    "RateLimiter",
    "RateLimitingQueue",
    "WithMaxWaitRateLimiter",
    "default_controller_rate_limiter",
    "default_metrics_provider",
]

"""`Step`: what one step of a machine reconcile pass asks of the pass.

Upstream's machine reconcile is a chain of steps, each returning ``(retryPeriod, err)``: a step
that returns an error ends the pass, and the machine is requeued after the period the last step
returned. Many of those "errors" are successes (``"machine creation in process. Machine/Status
UPDATE successful"``): the step wrote something and the next pass should start from the new
state. `Step` models that without exceptions:

- ``retry_after``: seconds after which the machine should be reconciled again;
- ``done``: a message when the step ends the pass (upstream's non-nil error), None to go on;
- ``recheck_after``: a deadline (seconds from now) the step knows of, e.g. the creation timeout of
  a Pending machine. The pass requeues no later than the nearest deadline, so timeouts are
  enforced by a requeue at the deadline rather than by polling.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Step", "nearest"]


@attrs.frozen
class Step:
    """One step's outcome; see the module docstring."""

    retry_after: float
    done: str | None = None
    recheck_after: float | None = None

    @property
    def ends_pass(self) -> bool:
        return self.done is not None

    def requeue_after(self, deadlines: Iterable[float | None] = ()) -> float:
        """`retry_after`, or the nearest of this step's and *deadlines* if sooner (never < 0)."""
        return max(0.0, nearest(self.retry_after, self.recheck_after, *deadlines))


def nearest(*delays: float | None) -> float:
    """The smallest of *delays* that are not None (at least one must be)."""
    return min(delay for delay in delays if delay is not None)

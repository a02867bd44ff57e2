"""`ControllerEnv`: a machine-controller world in memory, for reconciler unit tests.

It bundles what `mcm.controller.context.MachineControllerContext` needs with test doubles: two
`FakeApiServer` instances (control and target cluster), a `FakeDriver`, a `FakeRecorder` and a
`FakeClock`, with `ApiLister` listers that read straight through the fakes (no informers, no
threads, no lag). Enqueue calls are recorded in `ControllerEnv.enqueued` instead of hitting a queue.
Tests seed objects with `ControllerEnv.control.seed(...)` / ``target.seed(...)``, call a reconciler
directly, then assert on the fakes' stored objects and recorded actions, as sample-controller's
tests do.
"""

from __future__ import annotations

from typing import Any

import attrs

from mcm.api.core import (
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    VolumeAttachment,
)
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey
from mcm.clock import FakeClock
from mcm.controller.context import MachineControllerContext
from mcm.driver.fake import FakeDriver
from mcm.events import FakeRecorder
from mcm.kube import resources
from mcm.options import MachineControllerOptions
from mcm.testing.fake_api import FakeApiServer
from mcm.testing.listers import ApiLister


@attrs.frozen
class Enqueued:
    """One enqueue request a reconciler made: which queue, which key, after how long."""

    queue: str
    key: ObjectKey
    delay: float


class ControllerEnv:
    """Fakes wired into a `MachineControllerContext`; see the module docstring."""

    def __init__(
        self,
        *,
        target: bool = True,
        namespace: str = "default",
        options: MachineControllerOptions | None = None,
        clock: FakeClock | None = None,
        driver: FakeDriver | None = None,
        **option_overrides: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.control = FakeApiServer(clock=self.clock)
        self.target: FakeApiServer | None = FakeApiServer(clock=self.clock) if target else None
        self.driver = driver or FakeDriver(clock=self.clock)
        self.recorder = FakeRecorder()
        base = options or MachineControllerOptions(
            namespace=namespace,
            target_kubeconfig="" if target else "none",
            control_kubeconfig="control.kubeconfig",
        )
        self.options = attrs.evolve(base, **option_overrides) if option_overrides else base
        self.enqueued: list[Enqueued] = []
        self.orphan_checks = 0
        t = self.target
        self.context = MachineControllerContext(
            control=self.control,
            target=t,
            namespace=namespace,
            driver=self.driver,
            options=self.options,
            clock=self.clock,
            recorder=self.recorder,
            machines=ApiLister(self.control, resources.MACHINES, Machine.from_dict),
            machine_classes=ApiLister(
                self.control, resources.MACHINE_CLASSES, MachineClass.from_dict
            ),
            secrets=ApiLister(self.control, resources.SECRETS, Secret.from_dict),
            nodes=ApiLister(t, resources.NODES, Node.from_dict) if t else None,
            pods=ApiLister(t, resources.PODS, Pod.from_dict) if t else None,
            persistent_volume_claims=(
                ApiLister(t, resources.PERSISTENT_VOLUME_CLAIMS, PersistentVolumeClaim.from_dict)
                if t
                else None
            ),
            persistent_volumes=(
                ApiLister(t, resources.PERSISTENT_VOLUMES, PersistentVolume.from_dict)
                if t
                else None
            ),
            volume_attachments=(
                ApiLister(t, resources.VOLUME_ATTACHMENTS, VolumeAttachment.from_dict)
                if t
                else None
            ),
            pod_disruption_budgets=(
                ApiLister(t, resources.POD_DISRUPTION_BUDGETS, PodDisruptionBudget.from_dict)
                if t
                else None
            ),
            enqueue_machine=self._recorder_for("machine"),
            enqueue_termination=self._recorder_for("termination"),
            enqueue_machine_class=self._recorder_for("machineclass"),
            enqueue_secret=self._recorder_for("secret"),
            enqueue_node=self._recorder_for("node"),
            enqueue_orphan_check=self._orphan_check,
        )

    def _recorder_for(self, queue: str) -> Any:
        def enqueue(key: ObjectKey, delay: float) -> None:
            self.enqueued.append(Enqueued(queue, key, delay))

        return enqueue

    def _orphan_check(self) -> None:
        self.orphan_checks += 1

    def enqueued_on(self, queue: str) -> list[Enqueued]:
        """The enqueue requests made on *queue*, oldest first."""
        return [e for e in self.enqueued if e.queue == queue]

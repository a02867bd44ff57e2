"""What the machine-controller-side reconcilers share: clients, listers, the driver, options.

One `MachineControllerContext` is built by the app factory (informer-backed listers, real clients)
or by a unit test (`mcm.testing.listers.ApiLister` reading straight through a `FakeApiServer`, a
`FakeDriver`, a `FakeClock`, a `FakeRecorder`). The Machine, MachineClass, Secret, Node and safety
reconcilers each take the context and nothing else, so they all see the same world.

Reads go through the listers (the informer caches); writes go through `control` or `target` as
patches. ``target`` is None in infra-only mode (``--target-kubeconfig=none``): then there are no
node-side listers either, and reconcilers skip everything that touches Nodes.

The context also carries the small amount of in-memory state upstream keeps on its controller
struct: the set of machines in the creation flow (deletion waits for them), and whether the
controller is frozen because an API server is unreachable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

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
from mcm.api.meta import KubeObject, ObjectKey
from mcm.clock import Clock
from mcm.driver import Driver
from mcm.events import Recorder
from mcm.kube.protocol import Api
from mcm.options import MachineControllerOptions

T_co = TypeVar("T_co", bound=KubeObject, covariant=True)


class ObjectLister(Protocol[T_co]):
    """Read access to one resource's cache (`mcm.cache.Lister` is one)."""

    def get(self, namespace_or_name: str, name: str | None = None, /) -> T_co | None: ...

    def get_by_key(self, key: ObjectKey) -> T_co | None: ...

    def list(
        self, namespace: str | None = None, selector: Mapping[str, str] | None = None
    ) -> Sequence[T_co]: ...


Enqueue = Callable[[ObjectKey, float], None]
"""Put a key on a queue after a delay in seconds (0: now); earlier requests win, as in add_after."""


def _ignore(_key: ObjectKey, _delay: float) -> None:
    return None


class PendingCreations:
    """Machines whose creation flow is running (upstream's ``pendingMachineCreationMap``).

    The deletion flow refuses to start while a machine is in here, so a VM being created is never
    deleted half-way.
    """

    def __init__(self) -> None:
        self._keys: set[ObjectKey] = set()
        self._lock = threading.Lock()

    def add(self, key: ObjectKey) -> None:
        with self._lock:
            self._keys.add(key)

    def discard(self, key: ObjectKey) -> None:
        with self._lock:
            self._keys.discard(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys


class SafetyState:
    """Whether the machine controller is frozen (an API server unreachable for too long)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen = False
        self._down_since: float | None = None

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen

    def set_frozen(self, frozen: bool) -> None:
        with self._lock:
            self._frozen = frozen

    @property
    def down_since(self) -> float | None:
        """Monotonic time at which the API servers were first seen down, or None."""
        with self._lock:
            return self._down_since

    def set_down_since(self, when: float | None) -> None:
        with self._lock:
            self._down_since = when


@attrs.define(kw_only=True)
class MachineControllerContext:
    """Everything the machine-side reconcilers share; see the module docstring."""

    control: Api
    """The control cluster: Machines, MachineClasses, Secrets live here, in `namespace`."""
    target: Api | None
    """The target (shoot) cluster: Nodes, Pods, volumes. None in infra-only mode."""
    namespace: str
    """``--namespace``: the control namespace of the objects this controller manages."""
    driver: Driver
    options: MachineControllerOptions
    clock: Clock
    recorder: Recorder

    machines: ObjectLister[Machine]
    machine_classes: ObjectLister[MachineClass]
    secrets: ObjectLister[Secret]
    nodes: ObjectLister[Node] | None = None
    pods: ObjectLister[Pod] | None = None
    persistent_volume_claims: ObjectLister[PersistentVolumeClaim] | None = None
    persistent_volumes: ObjectLister[PersistentVolume] | None = None
    volume_attachments: ObjectLister[VolumeAttachment] | None = None
    pod_disruption_budgets: ObjectLister[PodDisruptionBudget] | None = None

    machines_on_node: Callable[[str], Sequence[Machine]] | None = None
    """The Machines labelled ``node=<name>``, from an index; None: filter the machine lister.
    Node events ask this on every update, so with thousands of machines it must not scan."""

    enqueue_machine: Enqueue = _ignore
    """The machine queue (creation, health, node sync)."""
    enqueue_termination: Enqueue = _ignore
    """The machine termination queue (the deletion flow)."""
    enqueue_machine_class: Enqueue = _ignore
    enqueue_secret: Enqueue = _ignore
    enqueue_node: Enqueue = _ignore
    enqueue_orphan_check: Callable[[], None] = lambda: None
    """Ask the safety controller for an orphan-VM pass now."""

    pending_creations: PendingCreations = attrs.field(factory=PendingCreations)
    safety: SafetyState = attrs.field(factory=SafetyState)

    @property
    def has_target(self) -> bool:
        """False in infra-only mode (``--target-kubeconfig=none``)."""
        return self.target is not None

"""An in-memory `Driver`: VMs in a dict, failures on demand. For tests, and as a worked example.

`FakeDriver` behaves the way the controller expects a real provider to:

* `create_machine` is idempotent per Machine, as a cloud ``ClientToken`` makes it: the provider
  ID is derived from the Machine (``fake:///<uid>``, or ``fake:///<name>`` for a Machine without a
  UID), so a second create for the same Machine returns the VM the first one made.
* `get_machine_status`, `initialize_machine` and `delete_machine` find the VM by the Machine's
  ``spec.providerID`` when it is set, and otherwise by the Machine's name (the oldest such VM).
* `delete_machine` succeeds when there is no VM.
* `list_machines` reports the VMs created for the class of that name: provider ID -> Machine name.
* With ``uninitialized=True``, created VMs stay uninitialized until `initialize_machine` succeeds on
  them, and `get_machine_status` raises ``UNINITIALIZED`` carrying the IDs meanwhile.

Tests steer it with `fail_next` / `fail_always` (scripted errors per method, consumed in order,
before any effect), the ``unimplemented`` set, and `add_orphan_vm` (a VM no Machine asked for, or
one that exists before its Machine is reconciled). Every call is appended to `calls`, failed ones
included, so a test can assert which provider calls a reconcile made for which machine. VM
creation times come from the injected `Clock`.

All state is behind one lock: the controller calls drivers from several workers at once.
"""

from __future__ import annotations

import collections
import threading
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, get_args

import attrs

from mcm.api.core import NodeAddress
from mcm.api.machine import Machine
from mcm.clock import Clock, RealClock
from mcm.driver.codes import Code, MachineError
from mcm.driver.driver import (
    CreateMachineRequest,
    CreateMachineResponse,
    DeleteMachineRequest,
    DeleteMachineResponse,
    GenerateMachineClassForMigrationRequest,
    GenerateMachineClassForMigrationResponse,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
    GetVolumeIDsRequest,
    GetVolumeIDsResponse,
    InitializeMachineRequest,
    InitializeMachineResponse,
    ListMachinesRequest,
    ListMachinesResponse,
)

__all__ = ["PROVIDER_ID_PREFIX", "DriverCall", "DriverMethod", "FakeDriver", "FakeVM"]

PROVIDER_ID_PREFIX = "fake:///"

DriverMethod = Literal[
    "create_machine",
    "initialize_machine",
    "delete_machine",
    "get_machine_status",
    "list_machines",
    "get_volume_ids",
    "generate_machine_class_for_migration",
]
"""The name of a `Driver` method, as `fail_next`, ``unimplemented`` and `DriverCall` spell it."""

_METHODS: frozenset[str] = frozenset(get_args(DriverMethod))


@attrs.frozen(kw_only=True)
class FakeVM:
    """One VM of the fake cloud."""

    provider_id: str
    machine_name: str
    """The Machine it was created for (`list_machines` reports this)."""
    machine_class: str
    """The name of the MachineClass it was created with."""
    node_name: str
    created_at: float
    """Clock seconds (`Clock.now`) at creation."""
    initialized: bool = True
    addresses: tuple[NodeAddress, ...] = ()


@attrs.frozen
class DriverCall:
    """One call the driver received: the method, and the Machine's name (``""`` if none)."""

    method: DriverMethod
    machine: str = ""
    request: object = attrs.field(default=None, eq=False, repr=False)
    """The request object itself, for tests that inspect what was sent."""


@attrs.frozen
class _Failure:
    code: Code
    message: str


def _node_name_of(machine: Machine) -> str:
    return machine.metadata.name


class FakeDriver:
    """A thread-safe in-memory `Driver`.

    *node_name_for* derives a VM's node name from its Machine (default: the Machine's name).
    *uninitialized* makes created VMs wait for `initialize_machine`. *unimplemented* lists methods
    that raise ``UNIMPLEMENTED``; the set is also the public attribute ``unimplemented``, and
    ``uninitialized`` may be changed between calls too.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        node_name_for: Callable[[Machine], str] = _node_name_of,
        uninitialized: bool = False,
        unimplemented: Iterable[DriverMethod] = (),
    ) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self._node_name_for = node_name_for
        self.uninitialized = uninitialized
        self.unimplemented: set[DriverMethod] = set(unimplemented)
        self._lock = threading.Lock()
        self._vms: dict[str, FakeVM] = {}
        self._calls: list[DriverCall] = []
        self._next_failures: dict[str, collections.deque[_Failure]] = {}
        self._always_failures: dict[str, _Failure] = {}
        self._addresses_handed_out = 0

    # ------------------------------------------------------------------------------ test controls

    @property
    def vms(self) -> Mapping[str, FakeVM]:
        """A snapshot of the VMs, by provider ID."""
        with self._lock:
            return types.MappingProxyType(dict(self._vms))

    @property
    def calls(self) -> tuple[DriverCall, ...]:
        """Every call so far, in order, failed ones included."""
        with self._lock:
            return tuple(self._calls)

    def calls_for(self, machine_name: str) -> tuple[DriverMethod, ...]:
        """The methods called for the Machine named *machine_name*, in order."""
        with self._lock:
            return tuple(c.method for c in self._calls if c.machine == machine_name)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def add_orphan_vm(
        self,
        machine_name: str,
        *,
        machine_class: str,
        provider_id: str | None = None,
        node_name: str | None = None,
        initialized: bool = True,
    ) -> FakeVM:
        """Put a VM into the cloud directly, as if created earlier or by someone else.

        The provider ID defaults to ``fake:///<machine_name>`` and the node name to *machine_name*.
        """
        with self._lock:
            vm = FakeVM(
                provider_id=provider_id or PROVIDER_ID_PREFIX + machine_name,
                machine_name=machine_name,
                machine_class=machine_class,
                node_name=machine_name if node_name is None else node_name,
                created_at=self._clock.now(),
                initialized=initialized,
                addresses=self._next_addresses(),
            )
            self._vms[vm.provider_id] = vm
            return vm

    def fail_next(
        self, method: DriverMethod, code: Code, message: str = "injected failure", count: int = 1
    ) -> None:
        """Make the next *count* calls of *method* raise ``MachineError(code, message)``.

        Scripted failures queue up per method and come before `fail_always`'s.
        """
        self._check_method(method)
        with self._lock:
            queue = self._next_failures.setdefault(method, collections.deque())
            queue.extend(_Failure(code, message) for _ in range(count))

    def fail_always(
        self, method: DriverMethod, code: Code, message: str = "injected failure"
    ) -> None:
        """Make every call of *method* raise ``MachineError(code, message)`` until cleared."""
        self._check_method(method)
        with self._lock:
            self._always_failures[method] = _Failure(code, message)

    def clear_failures(self) -> None:
        """Forget every scripted failure (``unimplemented`` is left alone)."""
        with self._lock:
            self._next_failures.clear()
            self._always_failures.clear()

    # ------------------------------------------------------------------------------------ Driver

    def create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        machine = request.machine
        with self._lock:
            self._enter("create_machine", machine.metadata.name, request)
            provider_id = PROVIDER_ID_PREFIX + (machine.metadata.uid or machine.metadata.name)
            vm = self._vms.get(provider_id)
            if vm is None:
                vm = FakeVM(
                    provider_id=provider_id,
                    machine_name=machine.metadata.name,
                    machine_class=request.machine_class.metadata.name,
                    node_name=self._node_name_for(machine),
                    created_at=self._clock.now(),
                    initialized=not self.uninitialized,
                    addresses=self._next_addresses(),
                )
                self._vms[provider_id] = vm
            return CreateMachineResponse(
                provider_id=vm.provider_id, node_name=vm.node_name, addresses=vm.addresses
            )

    def initialize_machine(self, request: InitializeMachineRequest) -> InitializeMachineResponse:
        with self._lock:
            self._enter("initialize_machine", request.machine.metadata.name, request)
            vm = self._find(request.machine)
            if not vm.initialized:
                vm = attrs.evolve(vm, initialized=True)
                self._vms[vm.provider_id] = vm
            return InitializeMachineResponse(
                provider_id=vm.provider_id, node_name=vm.node_name, addresses=vm.addresses
            )

    def delete_machine(self, request: DeleteMachineRequest) -> DeleteMachineResponse:
        with self._lock:
            self._enter("delete_machine", request.machine.metadata.name, request)
            try:
                vm = self._find(request.machine)
            except MachineError:
                return DeleteMachineResponse()  # already gone: deletion is idempotent
            del self._vms[vm.provider_id]
            return DeleteMachineResponse()

    def get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
        with self._lock:
            self._enter("get_machine_status", request.machine.metadata.name, request)
            vm = self._find(request.machine)
            response = GetMachineStatusResponse(
                provider_id=vm.provider_id, node_name=vm.node_name, addresses=vm.addresses
            )
            if not vm.initialized:
                raise MachineError(
                    Code.UNINITIALIZED,
                    f"VM {vm.provider_id} of machine {vm.machine_name!r} is not initialized",
                    response=response,
                )
            return response

    def list_machines(self, request: ListMachinesRequest) -> ListMachinesResponse:
        class_name = request.machine_class.metadata.name
        with self._lock:
            self._enter("list_machines", "", request)
            return ListMachinesResponse(
                machine_list={
                    vm.provider_id: vm.machine_name
                    for vm in self._vms.values()
                    if vm.machine_class == class_name
                }
            )

    def get_volume_ids(self, request: GetVolumeIDsRequest) -> GetVolumeIDsResponse:
        with self._lock:
            self._enter("get_volume_ids", "", request)
        ids: list[str] = []
        for spec in request.pv_specs:
            if spec.csi is not None and spec.csi.volume_handle:
                ids.append(spec.csi.volume_handle)
            elif (
                spec.aws_elastic_block_store is not None and spec.aws_elastic_block_store.volume_id
            ):
                ids.append(spec.aws_elastic_block_store.volume_id)
        return GetVolumeIDsResponse(volume_ids=tuple(ids))

    def generate_machine_class_for_migration(
        self, request: GenerateMachineClassForMigrationRequest
    ) -> GenerateMachineClassForMigrationResponse:
        with self._lock:
            self._enter("generate_machine_class_for_migration", "", request)
        return GenerateMachineClassForMigrationResponse(
            machine_class=attrs.evolve(request.machine_class, provider="FakeProvider")
        )

    # ---------------------------------------------------------------------------------- internals

    def _enter(self, method: DriverMethod, machine: str, request: object) -> None:
        """Record the call, then raise whatever is scripted for *method*. Holds the lock."""
        self._calls.append(DriverCall(method, machine, request))
        if method in self.unimplemented:
            raise MachineError(Code.UNIMPLEMENTED, f"{method} is not implemented by this driver")
        queue = self._next_failures.get(method)
        failure = queue.popleft() if queue else self._always_failures.get(method)
        if failure is not None:
            raise MachineError(failure.code, failure.message)

    def _find(self, machine: Machine) -> FakeVM:
        """The VM behind *machine*, or ``MachineError(NOT_FOUND)``. Holds the lock."""
        provider_id = machine.spec.provider_id
        if provider_id:
            vm = self._vms.get(provider_id)
        else:
            named = [v for v in self._vms.values() if v.machine_name == machine.metadata.name]
            vm = min(named, key=lambda v: v.created_at) if named else None
        if vm is None:
            wanted = f" with provider ID {provider_id}" if provider_id else ""
            raise MachineError(
                Code.NOT_FOUND, f"no VM{wanted} backs machine {machine.metadata.name!r}"
            )
        return vm

    def _next_addresses(self) -> tuple[NodeAddress, ...]:
        """A fresh private address per VM: 10.0.0.1, 10.0.0.2 ... Holds the lock."""
        self._addresses_handed_out += 1
        n = self._addresses_handed_out
        return (
            NodeAddress(type="InternalIP", address=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"),
        )

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in _METHODS:
            raise ValueError(f"not a driver method: {method!r}")

"""The driver: what a cloud provider implements so the machine controller can manage its VMs.

A provider package (``mcm_provider_aws``, or a third party's) hands the controller one object that
satisfies `Driver`. The controller calls it from several worker threads at once, so a driver must be
thread-safe; every call blocks until the provider answers.

Each method takes one frozen request and returns one frozen response; both are attrs classes and
never change after construction. A call fails by raising `MachineError` with a `Code` from
`mcm.driver.codes`; the controller's reaction depends only on the code (and, for undecodable errors,
on the fact that it could not decode one), so choosing the code is the important part of a driver.
Any other exception reads as an undecodable error (see `from_error`).

What a driver is given:

* the `Machine` and its `MachineClass` exactly as the informer parsed them (the provider parses
  ``machine_class.provider_spec`` itself);
* a `SecretData`, the *synthetic secret*: the data of the class's ``secretRef`` Secret overlaid with
  that of its ``credentialsSecretRef`` Secret (`merge_secret_data`). In the creation flow its
  ``userData`` has the bootstrap-token and machine-name placeholders already substituted. Its values
  never appear in ``repr``; a driver must not put them in messages either.

Which methods a provider must implement for real: `create_machine` and `delete_machine`. The others
may raise ``Code.UNIMPLEMENTED`` and the controller works around it (`get_machine_status`: it falls
back to the Machine's ``spec.providerID``; `initialize_machine`: nothing to initialize;
`list_machines`: no orphan-VM collection; `get_volume_ids`: drain does not wait for volume
detachment).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from mcm.api.core import NodeAddress, PersistentVolumeSpec, Secret
from mcm.api.machine import ClassSpec, Machine
from mcm.api.machineclass import MachineClass

__all__ = [
    "CreateMachineRequest",
    "CreateMachineResponse",
    "DeleteMachineRequest",
    "DeleteMachineResponse",
    "Driver",
    "GenerateMachineClassForMigrationRequest",
    "GenerateMachineClassForMigrationResponse",
    "GetMachineStatusRequest",
    "GetMachineStatusResponse",
    "GetVolumeIDsRequest",
    "GetVolumeIDsResponse",
    "InitializeMachineRequest",
    "InitializeMachineResponse",
    "ListMachinesRequest",
    "ListMachinesResponse",
    "SecretData",
    "merge_secret_data",
]


def _frozen_bytes_map(value: Mapping[str, bytes]) -> Mapping[str, bytes]:
    return types.MappingProxyType(dict(value))


def _frozen_str_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(repr=False)
class SecretData:
    """The synthetic secret a driver receives: key -> decoded bytes, read-only.

    ``repr`` and ``str`` show the keys, never the values: a request (and so a secret) may end up
    in a log line or a test failure message.
    """

    data: Mapping[str, bytes] = attrs.field(factory=dict, converter=_frozen_bytes_map)

    def __repr__(self) -> str:
        return f"SecretData(keys={sorted(self.data)!r})"

    __str__ = __repr__


def merge_secret_data(*secrets: Secret | SecretData | Mapping[str, bytes] | None) -> SecretData:
    """Overlay the data of *secrets* in order (later keys win); None entries are skipped.

    The controller passes the class's ``secretRef`` Secret first and its ``credentialsSecretRef``
    Secret second, with None for a referenced Secret that does not exist (upstream skips those
    silently).
    """
    merged: dict[str, bytes] = {}
    for secret in secrets:
        if secret is None:
            continue
        merged.update(secret if isinstance(secret, Mapping) else secret.data)
    return SecretData(merged)


# ----------------------------------------------------------------------------- requests, responses


@attrs.frozen(kw_only=True)
class CreateMachineRequest:
    machine: Machine
    machine_class: MachineClass
    secret: SecretData


@attrs.frozen(kw_only=True)
class CreateMachineResponse:
    provider_id: str
    """Required: the ID the controller writes to ``spec.providerID``."""
    node_name: str
    """Required with a target cluster: the name the VM's Node will register with."""
    last_known_state: str = ""
    """Opaque provider state, stored in ``status.lastKnownState``."""
    addresses: tuple[NodeAddress, ...] = ()
    """Used only without a target cluster, to fill ``status.addresses``."""


@attrs.frozen(kw_only=True)
class InitializeMachineRequest:
    machine: Machine
    machine_class: MachineClass
    secret: SecretData


@attrs.frozen(kw_only=True)
class InitializeMachineResponse:
    provider_id: str
    node_name: str
    addresses: tuple[NodeAddress, ...] = ()


@attrs.frozen(kw_only=True)
class DeleteMachineRequest:
    machine: Machine
    machine_class: MachineClass
    secret: SecretData


@attrs.frozen(kw_only=True)
class DeleteMachineResponse:
    last_known_state: str = ""
    """Stored in ``status.lastKnownState``; an empty value clears it."""


@attrs.frozen(kw_only=True)
class GetMachineStatusRequest:
    machine: Machine
    machine_class: MachineClass
    secret: SecretData


@attrs.frozen(kw_only=True)
class GetMachineStatusResponse:
    provider_id: str
    node_name: str
    addresses: tuple[NodeAddress, ...] = ()


@attrs.frozen(kw_only=True)
class ListMachinesRequest:
    machine_class: MachineClass
    secret: SecretData


@attrs.frozen(kw_only=True)
class ListMachinesResponse:
    machine_list: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_str_map)
    """Provider ID -> the name of the Machine object the VM was created for."""


@attrs.frozen(kw_only=True)
class GetVolumeIDsRequest:
    pv_specs: tuple[PersistentVolumeSpec, ...]


@attrs.frozen(kw_only=True)
class GetVolumeIDsResponse:
    volume_ids: tuple[str, ...] = ()
    """IDs of the volumes this provider recognises, in no particular correspondence to pv_specs."""


@attrs.frozen(kw_only=True)
class GenerateMachineClassForMigrationRequest:
    provider_specific_machine_class: Any
    """A legacy provider-specific class object (``AWSMachineClass`` ...)."""
    machine_class: MachineClass
    """The generic class to fill in; the driver returns the filled-in copy in the response."""
    class_spec: ClassSpec


@attrs.frozen(kw_only=True)
class GenerateMachineClassForMigrationResponse:
    machine_class: MachineClass | None = None
    """The generated class (upstream mutates the request's object instead), or None if none."""


# ------------------------------------------------------------------------------------------ Driver


@runtime_checkable
class Driver(Protocol):
    """The provider contract. Every method may be called concurrently from several threads.

    Errors are raised as `MachineError`; the codes named below are the ones the controller treats
    specially (see the module docstring of `mcm.driver.codes` for how errors are decoded).
    """

    def create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        """Create the VM for ``request.machine`` and return its provider ID and node name.

        Required. Should be idempotent per Machine (for example via a client token derived from
        the Machine), because a controller crash between the call and recording the provider ID
        leads to a second call. ``RESOURCE_EXHAUSTED`` (no capacity or quota) is retried after a
        long period; ``UNKNOWN``, ``DEADLINE_EXCEEDED``, ``ABORTED`` and ``UNAVAILABLE`` soon; any
        other code after a medium one. A `MachineError` may carry a `CreateMachineResponse` whose
        ``last_known_state`` the controller then stores.
        """
        ...

    def initialize_machine(self, request: InitializeMachineRequest) -> InitializeMachineResponse:
        """Finish setting up a VM that `create_machine` created (network, tags ...).

        Optional: raise ``UNIMPLEMENTED`` if the provider has nothing to do. Called once right after
        a successful create; retried later only if `get_machine_status` reports ``UNINITIALIZED``.
        Any other error code marks the machine as failing to create.
        """
        ...

    def delete_machine(self, request: DeleteMachineRequest) -> DeleteMachineResponse:
        """Delete the VM behind ``request.machine`` and everything the provider created with it.

        Required, and must be idempotent: deleting a VM that no longer exists succeeds (or raises
        ``NOT_FOUND``, which the controller also accepts). The Machine may be a stub built by the
        orphan-VM collector, with only name, namespace and ``spec.providerID`` set; the provider ID,
        when present, identifies the VM. ``UNKNOWN``, ``DEADLINE_EXCEEDED``, ``ABORTED`` and
        ``UNAVAILABLE`` are retried soon, other codes after a long period.
        """
        ...

    def get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
        """Find the VM behind ``request.machine`` (by ``spec.providerID`` when set, else by name).

        Optional (``UNIMPLEMENTED``). ``NOT_FOUND`` when there is no VM: the controller then
        creates one. ``UNINITIALIZED`` when the VM exists but `initialize_machine` has not
        succeeded; the `MachineError` must then carry a `GetMachineStatusResponse` with the VM's
        provider ID and node name as ``response``, because the controller reads them.
        """
        ...

    def list_machines(self, request: ListMachinesRequest) -> ListMachinesResponse:
        """All VMs this provider created for ``request.machine_class``: provider ID -> Machine name.

        Optional. The values must equal the Machine objects' names: the orphan-VM collector deletes
        every VM whose Machine it cannot find. Any error aborts that collection pass.
        """
        ...

    def get_volume_ids(self, request: GetVolumeIDsRequest) -> GetVolumeIDsResponse:
        """The provider volume IDs behind those of ``request.pv_specs`` this provider manages.

        Optional. Drain waits for these volumes to detach from the node; on error, or for specs
        that yield no ID, it does not wait.
        """
        ...

    def generate_machine_class_for_migration(
        self, request: GenerateMachineClassForMigrationRequest
    ) -> GenerateMachineClassForMigrationResponse:
        """Translate a legacy provider-specific class into a generic `MachineClass`.

        Optional (``UNIMPLEMENTED``); kept for parity with upstream's migration path.
        """
        ...

"""`VMSource` adapters: where the kubelet simulator learns which VMs exist.

`mcm.testing.kubelet.KubeletSimulator` registers a Node for every running VM of its `VMSource`.
`FakeDriverVMSource` makes the VMs of a `mcm.driver.fake.FakeDriver` that source, so that a
machine controller running the fake driver against a bare kube-apiserver sees its Machines' Nodes
join, turn NotReady and disappear, as they would on a real cluster:

- every VM the driver holds is running (the fake cloud has no stopped VMs); a VM the driver deleted
  is gone, and the simulator then deletes its Node;
- the Node is named after the VM's ``node_name`` (what ``create_machine`` returned), carries the
  VM's provider ID as ``spec.providerID`` and its addresses as ``status.addresses``;
- a VM without a node name cannot join and gets no Node.

The driver is read under its own lock at each poll, so the source is as thread-safe as the driver.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcm.driver.fake import FakeDriver, FakeVM
from mcm.testing.kubelet import VM

__all__ = ["FakeDriverVMSource", "vm_of"]


def vm_of(fake_vm: FakeVM) -> VM:
    """The simulator's view of one fake VM."""
    return VM(
        provider_id=fake_vm.provider_id,
        node_name=fake_vm.node_name,
        running=True,
        addresses=[(address.type, address.address) for address in fake_vm.addresses],
    )


class FakeDriverVMSource:
    """A `mcm.testing.kubelet.VMSource` over the VMs of a `FakeDriver`; see the module docstring."""

    def __init__(self, driver: FakeDriver) -> None:
        self._driver = driver

    def list_vms(self) -> Sequence[VM]:
        return [vm_of(vm) for vm in self._driver.vms.values()]

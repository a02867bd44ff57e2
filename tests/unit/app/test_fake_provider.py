"""The worked example: `FakeDriverVMSource` and the ``fake-machine-controller`` command."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mcm.api.core import NodeAddress
from mcm.api.machine import Machine, MachineSpec
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectMeta
from mcm.driver import DeleteMachineRequest, SecretData
from mcm.driver.fake import FakeDriver
from mcm.testing.fake_provider import main
from mcm.testing.kubelet import VM
from mcm.testing.vm_sources import FakeDriverVMSource


def test_every_fake_vm_is_a_running_vm_named_after_its_node_until_the_driver_deletes_it() -> None:
    driver = FakeDriver()
    first = driver.add_orphan_vm("machine-a", machine_class="class", node_name="node-a")
    driver.add_orphan_vm("machine-b", machine_class="class", node_name="")
    source = FakeDriverVMSource(driver)

    vms = {vm.provider_id: vm for vm in source.list_vms()}

    address = first.addresses[0]
    assert isinstance(address, NodeAddress)
    assert vms[first.provider_id] == VM(
        provider_id=first.provider_id,
        node_name="node-a",
        running=True,
        addresses=[(address.type, address.address)],
    )
    assert vms["fake:///machine-b"].node_name == ""
    assert len(vms) == 2


def test_a_vm_the_driver_deleted_is_no_longer_listed() -> None:
    driver = FakeDriver()
    vm = driver.add_orphan_vm("machine-a", machine_class="class")
    source = FakeDriverVMSource(driver)
    driver.delete_machine(
        DeleteMachineRequest(
            machine=Machine(
                metadata=ObjectMeta(name="machine-a", namespace="default"),
                spec=MachineSpec(provider_id=vm.provider_id),
            ),
            machine_class=MachineClass(metadata=ObjectMeta(name="class", namespace="default")),
            secret=SecretData(),
        )
    )

    assert source.list_vms() == []


def test_the_command_takes_upstreams_flags_and_its_own() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    for flag in (
        "--target-kubeconfig",
        "--machine-health-timeout",
        "--leader-elect",
        "--simulate-kubelets",
    ):
        assert flag in result.output


def test_simulated_kubelets_need_a_target_cluster() -> None:
    result = CliRunner().invoke(
        main,
        ["--target-kubeconfig=none", "--control-kubeconfig=/dev/null", "--simulate-kubelets"],
    )

    assert result.exit_code == 2
    assert "--simulate-kubelets needs a target cluster" in result.output


def test_an_unusable_kubeconfig_exits_with_a_message_and_status_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing.kubeconfig"

    result = CliRunner().invoke(
        main, ["--target-kubeconfig=none", f"--control-kubeconfig={missing}", "--port=10999"]
    )

    assert result.exit_code == 1
    assert f"kubeconfig '{missing}' does not exist" in result.output

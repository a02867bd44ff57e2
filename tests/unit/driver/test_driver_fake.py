from __future__ import annotations

import threading

import attrs
import pytest

from mcm.api.core import PersistentVolumeSpec
from mcm.clock import FakeClock
from mcm.driver import (
    Code,
    Driver,
    GenerateMachineClassForMigrationRequest,
    GetMachineStatusResponse,
    GetVolumeIDsRequest,
    MachineError,
    from_error,
)
from mcm.driver.fake import DriverCall, FakeDriver
from tests.unit.driver.driver_fixtures import (
    create,
    delete,
    initialize,
    list_request,
    machine,
    machine_class,
    status,
)


def test_the_fake_satisfies_the_driver_protocol() -> None:
    driver: Driver = FakeDriver()

    assert isinstance(driver, Driver)


def test_create_makes_a_vm_named_after_the_machine_at_clock_time() -> None:
    clock = FakeClock(1_700_000_000.0)
    driver = FakeDriver(clock=clock)

    response = driver.create_machine(create(machine("m1", uid="u-1")))

    assert response.provider_id == "fake:///u-1"
    assert response.node_name == "m1"
    assert response.addresses[0].type == "InternalIP"
    vm = driver.vms["fake:///u-1"]
    assert (vm.machine_name, vm.machine_class, vm.created_at) == ("m1", "small", 1_700_000_000.0)


def test_a_machine_without_uid_gets_a_provider_id_from_its_name() -> None:
    driver = FakeDriver()

    assert driver.create_machine(create(machine("m1"))).provider_id == "fake:///m1"


def test_create_is_idempotent_per_machine() -> None:
    clock = FakeClock()
    driver = FakeDriver(clock=clock)
    first = driver.create_machine(create(machine("m1", uid="u-1")))
    clock.step(30.0)

    second = driver.create_machine(create(machine("m1", uid="u-1")))

    assert second == first
    assert list(driver.vms) == ["fake:///u-1"]
    assert driver.vms["fake:///u-1"].created_at == clock.now() - 30.0


def test_different_machines_get_different_vms_and_addresses() -> None:
    driver = FakeDriver()

    a = driver.create_machine(create(machine("a", uid="u-a")))
    b = driver.create_machine(create(machine("b", uid="u-b")))

    assert a.provider_id != b.provider_id
    assert a.addresses != b.addresses


def test_node_names_can_be_derived_differently() -> None:
    driver = FakeDriver(node_name_for=lambda m: f"ip-{m.metadata.name}.internal")

    assert driver.create_machine(create(machine("m1"))).node_name == "ip-m1.internal"


def test_status_finds_the_vm_by_provider_id() -> None:
    driver = FakeDriver()
    created = driver.create_machine(create(machine("m1", uid="u-1")))

    found = driver.get_machine_status(status(machine("m1", provider_id=created.provider_id)))

    assert found == GetMachineStatusResponse(
        provider_id=created.provider_id, node_name="m1", addresses=created.addresses
    )


def test_status_finds_the_vm_by_name_when_the_machine_has_no_provider_id_yet() -> None:
    driver = FakeDriver()
    created = driver.create_machine(create(machine("m1", uid="u-1")))

    found = driver.get_machine_status(status(machine("m1", uid="u-1")))

    assert found.provider_id == created.provider_id


def test_status_with_a_provider_id_does_not_fall_back_to_the_name() -> None:
    driver = FakeDriver()
    driver.create_machine(create(machine("m1", uid="u-1")))

    with pytest.raises(MachineError) as caught:
        driver.get_machine_status(status(machine("m1", provider_id="fake:///other")))

    assert caught.value.code is Code.NOT_FOUND


def test_status_of_a_machine_without_vm_is_not_found() -> None:
    driver = FakeDriver()

    with pytest.raises(MachineError) as caught:
        driver.get_machine_status(status(machine("m1")))

    assert caught.value.code is Code.NOT_FOUND
    assert from_error(caught.value) == (caught.value, True)


def test_an_uninitialized_vm_reports_uninitialized_with_its_ids_until_initialized() -> None:
    driver = FakeDriver(uninitialized=True)
    created = driver.create_machine(create(machine("m1", uid="u-1")))
    with_id = machine("m1", provider_id=created.provider_id)

    with pytest.raises(MachineError) as caught:
        driver.get_machine_status(status(with_id))
    initialized = driver.initialize_machine(initialize(with_id))
    after = driver.get_machine_status(status(with_id))

    assert caught.value.code is Code.UNINITIALIZED
    assert caught.value.response == GetMachineStatusResponse(
        provider_id="fake:///u-1", node_name="m1", addresses=created.addresses
    )
    assert (initialized.provider_id, initialized.node_name) == ("fake:///u-1", "m1")
    assert after.provider_id == "fake:///u-1"


def test_a_failed_initialization_leaves_the_vm_uninitialized() -> None:
    driver = FakeDriver(uninitialized=True)
    driver.create_machine(create(machine("m1")))
    driver.fail_next("initialize_machine", Code.INTERNAL, "network not ready")

    with pytest.raises(MachineError):
        driver.initialize_machine(initialize(machine("m1")))

    assert driver.vms["fake:///m1"].initialized is False
    with pytest.raises(MachineError) as caught:
        driver.get_machine_status(status(machine("m1")))
    assert caught.value.code is Code.UNINITIALIZED


def test_initializing_a_machine_without_vm_is_not_found() -> None:
    driver = FakeDriver()

    with pytest.raises(MachineError) as caught:
        driver.initialize_machine(initialize(machine("m1")))

    assert caught.value.code is Code.NOT_FOUND


def test_delete_removes_the_vm_and_is_idempotent() -> None:
    driver = FakeDriver()
    created = driver.create_machine(create(machine("m1", uid="u-1")))
    m1 = machine("m1", provider_id=created.provider_id)

    driver.delete_machine(delete(m1))
    driver.delete_machine(delete(m1))

    assert driver.vms == {}
    assert driver.calls_for("m1") == ("create_machine", "delete_machine", "delete_machine")


def test_delete_of_a_stub_machine_removes_only_the_vm_with_that_provider_id() -> None:
    driver = FakeDriver()
    driver.create_machine(create(machine("m1", uid="u-1")))
    orphan = driver.add_orphan_vm("m1", machine_class="small", provider_id="fake:///old")

    driver.delete_machine(delete(machine("m1", provider_id=orphan.provider_id)))

    assert list(driver.vms) == ["fake:///u-1"]


def test_list_reports_the_vms_of_one_class_by_provider_id() -> None:
    driver = FakeDriver()
    driver.create_machine(create(machine("a", uid="u-a"), class_name="small"))
    driver.create_machine(create(machine("b", uid="u-b"), class_name="large"))
    driver.add_orphan_vm("ghost", machine_class="small")

    listed = driver.list_machines(list_request("small"))

    assert dict(listed.machine_list) == {"fake:///u-a": "a", "fake:///ghost": "ghost"}


def test_an_orphan_vm_is_found_by_name_for_its_machine() -> None:
    clock = FakeClock(100.0)
    driver = FakeDriver(clock=clock)
    vm = driver.add_orphan_vm("m1", machine_class="small", node_name="ip-10-0-0-1")

    found = driver.get_machine_status(status(machine("m1")))

    assert (found.provider_id, found.node_name) == ("fake:///m1", "ip-10-0-0-1")
    assert vm.created_at == 100.0


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(Code.RESOURCE_EXHAUSTED, id="resource-exhausted"),
        pytest.param(Code.UNAVAILABLE, id="unavailable"),
    ],
)
def test_scripted_failures_count_down_then_the_call_succeeds(code: Code) -> None:
    driver = FakeDriver()
    driver.fail_next("create_machine", code, "no capacity", count=2)
    errors = []

    for _ in range(2):
        with pytest.raises(MachineError) as caught:
            driver.create_machine(create(machine("m1")))
        errors.append((caught.value.code, caught.value.message))
    response = driver.create_machine(create(machine("m1")))

    assert errors == [(code, "no capacity")] * 2
    assert response.provider_id == "fake:///m1"


def test_a_failed_create_makes_no_vm() -> None:
    driver = FakeDriver()
    driver.fail_next("create_machine", Code.INTERNAL)

    with pytest.raises(MachineError):
        driver.create_machine(create(machine("m1")))

    assert driver.vms == {}


def test_scripted_failures_apply_only_to_their_method() -> None:
    driver = FakeDriver()
    driver.fail_next("delete_machine", Code.INTERNAL)

    driver.create_machine(create(machine("m1")))

    with pytest.raises(MachineError):
        driver.delete_machine(delete(machine("m1")))
    assert list(driver.vms) == ["fake:///m1"]


def test_fail_always_persists_until_cleared_and_next_failures_come_first() -> None:
    driver = FakeDriver()
    driver.fail_always("list_machines", Code.PERMISSION_DENIED)
    driver.fail_next("list_machines", Code.UNAVAILABLE)
    codes = []

    for _ in range(3):
        with pytest.raises(MachineError) as caught:
            driver.list_machines(list_request())
        codes.append(caught.value.code)
    driver.clear_failures()

    assert codes == [Code.UNAVAILABLE, Code.PERMISSION_DENIED, Code.PERMISSION_DENIED]
    assert dict(driver.list_machines(list_request()).machine_list) == {}


def test_scripting_an_unknown_method_is_refused() -> None:
    driver = FakeDriver()

    with pytest.raises(ValueError, match="not a driver method"):
        driver.fail_next("create", Code.INTERNAL)  # type: ignore[arg-type]


def test_unimplemented_methods_raise_unimplemented() -> None:
    driver = FakeDriver(unimplemented={"get_machine_status"})
    driver.unimplemented.add("initialize_machine")

    with pytest.raises(MachineError) as status_error:
        driver.get_machine_status(status(machine("m1")))
    with pytest.raises(MachineError) as init_error:
        driver.initialize_machine(initialize(machine("m1")))

    assert status_error.value.code is Code.UNIMPLEMENTED
    assert init_error.value.code is Code.UNIMPLEMENTED


def test_calls_are_recorded_per_machine_including_failures() -> None:
    driver = FakeDriver()
    driver.fail_next("get_machine_status", Code.UNAVAILABLE)
    request = create(machine("m1"))

    with pytest.raises(MachineError):
        driver.get_machine_status(status(machine("m1")))
    driver.create_machine(request)
    driver.create_machine(create(machine("m2")))
    driver.list_machines(list_request())

    assert driver.calls == (
        DriverCall("get_machine_status", "m1"),
        DriverCall("create_machine", "m1"),
        DriverCall("create_machine", "m2"),
        DriverCall("list_machines", ""),
    )
    assert driver.calls[1].request is request
    assert driver.calls_for("m1") == ("get_machine_status", "create_machine")
    driver.clear_calls()
    assert not driver.calls


def test_volume_ids_come_from_csi_handles_and_in_tree_ebs_ids() -> None:
    driver = FakeDriver()
    specs = (
        PersistentVolumeSpec.from_dict({"csi": {"driver": "x", "volumeHandle": "vol-1"}}),
        PersistentVolumeSpec.from_dict({"awsElasticBlockStore": {"volumeID": "vol-2"}}),
        PersistentVolumeSpec.from_dict({"nfs": {"server": "nas"}}),
    )

    response = driver.get_volume_ids(GetVolumeIDsRequest(pv_specs=specs))

    assert response.volume_ids == ("vol-1", "vol-2")


def test_migration_returns_a_copy_of_the_class_marked_with_the_fake_provider() -> None:
    driver = FakeDriver()
    original = machine_class()

    response = driver.generate_machine_class_for_migration(
        GenerateMachineClassForMigrationRequest(
            provider_specific_machine_class=None,
            machine_class=original,
            class_spec=machine("m1").spec.class_,
        )
    )

    assert response.machine_class == attrs.evolve(original, provider="FakeProvider")
    assert original.provider == ""


@pytest.mark.timeout(10)
def test_concurrent_creates_for_the_same_machine_make_one_vm() -> None:
    driver = FakeDriver()
    start = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait(timeout=5)
        provider_id = driver.create_machine(create(machine("m1", uid="u-1"))).provider_id
        with lock:
            results.append(provider_id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert results == ["fake:///u-1"] * 8
    assert list(driver.vms) == ["fake:///u-1"]

"""Machines, classes and requests for driver tests."""

from __future__ import annotations

from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.driver import (
    CreateMachineRequest,
    DeleteMachineRequest,
    GetMachineStatusRequest,
    InitializeMachineRequest,
    ListMachinesRequest,
    SecretData,
)

SECRET = SecretData({"userData": b"#!/bin/sh\necho hello", "providerAccessKeyId": b"AKIDEXAMPLE"})


def machine(name: str = "m1", *, uid: str = "", provider_id: str = "") -> Machine:
    metadata = {"name": name, "namespace": "shoot", "uid": uid}
    return Machine.from_dict({"metadata": metadata, "spec": {"providerID": provider_id}})


def machine_class(name: str = "small") -> MachineClass:
    return MachineClass.from_dict({"metadata": {"name": name, "namespace": "shoot"}})


def create(m: Machine, class_name: str = "small") -> CreateMachineRequest:
    return CreateMachineRequest(machine=m, machine_class=machine_class(class_name), secret=SECRET)


def status(m: Machine) -> GetMachineStatusRequest:
    return GetMachineStatusRequest(machine=m, machine_class=machine_class(), secret=SECRET)


def initialize(m: Machine) -> InitializeMachineRequest:
    return InitializeMachineRequest(machine=m, machine_class=machine_class(), secret=SECRET)


def delete(m: Machine) -> DeleteMachineRequest:
    return DeleteMachineRequest(machine=m, machine_class=machine_class(), secret=SECRET)


def list_request(class_name: str = "small") -> ListMachinesRequest:
    return ListMachinesRequest(machine_class=machine_class(class_name), secret=SECRET)

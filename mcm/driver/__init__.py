"""The provider contract of the machine controller: `Driver`, its requests and responses, codes.

A provider package implements `Driver` and raises `MachineError` with a `Code`; the controller
decodes errors with `from_error` and reacts per code. `mcm.driver.fake.FakeDriver` is an in-memory
implementation for tests and a worked example; it is not re-exported here.
"""

from mcm.driver.codes import TRANSIENT_CODES, Code, MachineError, code_name, from_error
from mcm.driver.driver import (
    CreateMachineRequest,
    CreateMachineResponse,
    DeleteMachineRequest,
    DeleteMachineResponse,
    Driver,
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
    SecretData,
    merge_secret_data,
)

__all__ = [
    "TRANSIENT_CODES",
    "Code",
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
    "MachineError",
    "SecretData",
    "code_name",
    "from_error",
    "merge_secret_data",
]

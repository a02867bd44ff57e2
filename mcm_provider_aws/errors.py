"""EC2 failures as machine codes: which `Code` the controller sees for which AWS error.

The controller reacts to a driver error by its code alone, so this table decides how soon a failed
call is retried. It is upstream's (``pkg/aws/errors/codes.go`` and ``utils.go``), with two
additions that upstream leaves as ``Internal``:

* **Capacity and limits** (create only): ``InsufficientCapacity``, ``InsufficientAddressCapacity``,
  ``InsufficientInstanceCapacity``, ``InsufficientVolumeCapacity``, ``InstanceLimitExceeded``,
  ``VcpuLimitExceeded``, ``VolumeLimitExceeded``, ``MaxIOPSLimitExceeded``, ``RouteLimitExceeded``
  and ``Unsupported`` are ``RESOURCE_EXHAUSTED``: the controller retries after its long
  resource-exhausted period. Upstream's table, unchanged.
* **Terminate**: ``InvalidInstanceID.NotFound`` is ``NOT_FOUND``, which the driver turns into
  success (the VM is gone). Upstream's table, unchanged.
* **Throttling** (every call; added): EC2's ``RequestLimitExceeded`` and the other codes botocore's
  standard retry mode treats as throttling are ``UNAVAILABLE``, a transient code the controller
  retries soon. botocore has already retried them with back-off by the time the driver sees one.
* **Unavailable service** (every call; added): HTTP 5xx answers that outlived botocore's retries
  (``InternalError``, ``ServiceUnavailable``, ``Unavailable``) and connection or timeout failures
  are ``UNAVAILABLE`` too.

Everything else, API error or not, is ``INTERNAL``, as upstream has it.

`machine_error` builds the `MachineError` with the AWS error's own text (botocore's ``An error
occurred (<Code>) when calling the <Action> operation: <message>``), after taking out every secret
value the caller names: AWS does not echo credentials or user data, but a message built from a
request (botocore's parameter validation quotes values) might, and messages end up in Machine
status and events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from mcm.driver.codes import Code, MachineError

__all__ = [
    "IDEMPOTENT_PARAMETER_MISMATCH",
    "INSTANCE_ID_NOT_FOUND",
    "NETWORK_INTERFACE_ID_NOT_FOUND",
    "NETWORK_INTERFACE_IN_USE",
    "REDACTED",
    "RESOURCE_EXHAUSTED_CODES",
    "THROTTLING_CODES",
    "UNAVAILABLE_CODES",
    "api_error_code",
    "aws_error_code",
    "create_error_code",
    "is_throttling",
    "machine_error",
    "redact",
    "terminate_error_code",
]

INSTANCE_ID_NOT_FOUND: Final = "InvalidInstanceID.NotFound"
"""The instance does not exist (or is not visible yet: EC2 is eventually consistent)."""
IDEMPOTENT_PARAMETER_MISMATCH: Final = "IdempotentParameterMismatch"
"""A ``ClientToken`` was used before with different RunInstances parameters."""
NETWORK_INTERFACE_ID_NOT_FOUND: Final = "InvalidNetworkInterfaceID.NotFound"
NETWORK_INTERFACE_IN_USE: Final = "InvalidNetworkInterface.InUse"

RESOURCE_EXHAUSTED_CODES: Final = frozenset(
    {
        "InsufficientCapacity",
        "InsufficientAddressCapacity",
        "InsufficientInstanceCapacity",
        "InsufficientVolumeCapacity",
        "InstanceLimitExceeded",
        "VcpuLimitExceeded",
        "VolumeLimitExceeded",
        "MaxIOPSLimitExceeded",
        "RouteLimitExceeded",
        "Unsupported",
    }
)
"""Upstream's ``GetMCMErrorCodeForCreateMachine`` list: no capacity, or a quota is used up."""

THROTTLING_CODES: Final = frozenset(
    {
        "RequestLimitExceeded",  # EC2's own
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
    }
)
"""The throttling codes of botocore's standard retry mode that EC2 or STS can answer."""

UNAVAILABLE_CODES: Final = frozenset({"InternalError", "ServiceUnavailable", "Unavailable"})
"""EC2's HTTP 5xx codes: the service, not the request, failed."""

REDACTED: Final = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words; none is a real secret


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"InvalidInstanceID.NotFound"``), else
    ``""``."""
    if isinstance(exc, ClientError):
        error: Any = exc.response.get("Error") or {}
        return str(error.get("Code") or "")
    return ""


def is_throttling(exc: BaseException) -> bool:
    """Whether AWS refused the call because the account sends too many requests."""
    return aws_error_code(exc) in THROTTLING_CODES


def _transient(exc: BaseException) -> bool:
    code = aws_error_code(exc)
    if code in THROTTLING_CODES or code in UNAVAILABLE_CODES:
        return True
    return isinstance(exc, ConnectionError | HTTPClientError)


def api_error_code(exc: BaseException) -> Code:
    """The code of a failed EC2 call other than RunInstances and TerminateInstances."""
    return Code.UNAVAILABLE if _transient(exc) else Code.INTERNAL


def create_error_code(exc: BaseException) -> Code:
    """The code of a failure while creating a VM (upstream's ``GetMCMErrorCodeForCreateMachine``,
    plus the transient codes)."""
    if aws_error_code(exc) in RESOURCE_EXHAUSTED_CODES:
        return Code.RESOURCE_EXHAUSTED
    return api_error_code(exc)


def terminate_error_code(exc: BaseException) -> Code:
    """The code of a failed TerminateInstances (upstream's
    ``GetMCMErrorCodeForTerminateInstances``, plus the transient codes)."""
    if aws_error_code(exc) == INSTANCE_ID_NOT_FOUND:
        return Code.NOT_FOUND
    return api_error_code(exc)


def redact(message: str, secrets: Iterable[str]) -> str:
    """*message* with every occurrence of each of *secrets* replaced by ``***``.

    Values shorter than four characters are left alone: they cannot be told from ordinary text.
    Longer secrets are replaced first, so one that contains another disappears whole.
    """
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len)[::-1]:
        message = message.replace(secret, REDACTED)
    return message


def machine_error(
    code: Code, exc: BaseException, *, secrets: Iterable[str] = (), prefix: str = ""
) -> MachineError:
    """A `MachineError` with *code* whose message is *prefix* + *exc*'s text, *secrets* redacted."""
    return MachineError(code, redact(prefix + str(exc), secrets))

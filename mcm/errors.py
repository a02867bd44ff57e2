"""Errors raised by mcm.

    MCMError
    +-- ApiError                    a non-2xx answer: status, reason, message
    |   +-- BadRequestError         400
    |   +-- UnauthorizedError       401
    |   +-- ForbiddenError          403
    |   +-- NotFoundError           404
    |   +-- ConflictError           409: stale resourceVersion, failed precondition
    |   |   +-- AlreadyExistsError  409, reason AlreadyExists
    |   +-- GoneError               410, or reason Expired: a watch or list must start over
    |   +-- InvalidError            422: the object failed validation
    |   +-- TooManyRequestsError    429: throttled, or an eviction blocked by a PodDisruptionBudget
    |   +-- ServerError             5xx
    +-- TransportError              the API server could not be reached or the connection broke
    +-- TerminalError               a reconcile failed and must not be retried

The ``kubernetes`` package's exceptions never leave ``mcm.kube``: they are translated there with
`api_error` and chained as ``__cause__``. Handlers test the class, as client-go tests
``apierrors.IsNotFound``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class MCMError(Exception):
    """The root of every error this package raises on purpose."""


class ApiError(MCMError):
    """The API server answered with an error status.

    *message* is the server's own ``Status.message``; *reason* is ``Status.reason`` (``NotFound``,
    ``AlreadyExists``, ``Expired`` ...); *details* is ``Status.details`` as sent, or empty.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.details: Mapping[str, Any] = details or {}
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status}{', ' + self.reason if self.reason else ''})"


class BadRequestError(ApiError):
    """400: the request was malformed."""


class UnauthorizedError(ApiError):
    """401: the credentials were not accepted."""


class ForbiddenError(ApiError):
    """403: the user may not do this, or an admission check refused it."""


class NotFoundError(ApiError):
    """404: the object (or the resource type) does not exist."""


class ConflictError(ApiError):
    """409: the write was based on a stale resourceVersion, or a precondition failed."""


class AlreadyExistsError(ConflictError):
    """409 with reason AlreadyExists: create found an object of that name."""


class GoneError(ApiError):
    """410, or reason Expired: the requested resourceVersion is too old; list again."""


class InvalidError(ApiError):
    """422: the object failed validation; ``details.causes`` names the fields."""


class TooManyRequestsError(ApiError):
    """429: throttled by the server, or an eviction refused by a PodDisruptionBudget."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth a retry."""


class TransportError(MCMError):
    """The API server could not be reached, timed out, or the connection broke mid-stream."""


class TerminalError(MCMError):
    """A reconcile failed in a way that retrying cannot fix; the controller drops the key."""


_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
    429: TooManyRequestsError,
}


def api_error(
    status: int, body: str | bytes | Mapping[str, Any] | None, *, retry_after: float | None = None
) -> ApiError:
    """Build the right `ApiError` subclass from an HTTP status and a ``kind: Status`` body.

    The body may be raw JSON text, a parsed dict, or anything else (then the HTTP status alone
    decides). 409 is split by reason, as ``apierrors.IsAlreadyExists`` and ``IsConflict`` do; reason
    ``Expired`` or ``Gone`` maps to `GoneError` whatever the status, as client-go's
    ``isExpiredError`` does.
    """
    status_obj = _status_object(body)
    code = status_obj.get("code")
    if isinstance(code, int) and code and not status:
        status = code
    reason = str(status_obj.get("reason") or "")
    message = str(status_obj.get("message") or reason or f"HTTP {status}")
    details = status_obj.get("details")
    cls: type[ApiError] = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    if reason in ("Expired", "Gone"):
        cls = GoneError
    elif cls is ConflictError and reason == "AlreadyExists":
        cls = AlreadyExistsError
    return cls(
        message,
        status=status,
        reason=reason,
        details=details if isinstance(details, Mapping) else None,
        retry_after=retry_after,
    )


def _status_object(body: str | bytes | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, Mapping) else {}

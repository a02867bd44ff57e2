"""The user data a new VM boots with: a bootstrap token and the machine's name filled in.

The MachineClass's secret carries ``userData``, a template with two placeholders:

- ``<<BOOTSTRAP_TOKEN>>``: replaced by a Kubernetes bootstrap token (``<token-id>.<secret>``) the
  kubelet uses to join the target cluster. The token lives in the target cluster as the Secret
  ``kube-system/bootstrap-token-<token-id>`` (type ``bootstrap.kubernetes.io/token``), created
  once per machine by `ensure_bootstrap_token` and deleted by `delete_bootstrap_token` when the
  machine first becomes Running. It expires after the machine's effective creation timeout.
- ``<<MACHINE_NAME>>``: replaced by the Machine's name.

When the plain placeholder is absent, its URL-query-escaped form (``%3C%3CBOOTSTRAP_TOKEN%3E%3E``,
as ignition user data carries it) is replaced by the escaped value instead; when neither is there,
nothing is replaced. Without a target cluster no token is created and the token placeholder stays.

The token ID is the first six hex digits of the SHA-256 of the machine name, so it is stable
across passes and a machine finds its token again. Upstream (``getTokenIDAndSecretName``) takes
the hex of three of the name's last five bytes instead: machines named ``<set>-<5 random chars>``
then share a token one time in five at 100 machines, and the first to join deletes the token the
other still needs. A hash makes that a one-in-a-few-thousand event at 100 machines.

Token secrets and user data never appear in logs, events or errors: only their key names do.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
import secrets
import urllib.parse

from mcm.api.core import Secret
from mcm.api.machine import Machine
from mcm.api.meta import format_time
from mcm.api.patches import merge_patches
from mcm.clock import utcnow
from mcm.controller.context import MachineControllerContext
from mcm.controller.effective import effective_creation_timeout
from mcm.driver import SecretData
from mcm.errors import AlreadyExistsError, ApiError, NotFoundError
from mcm.kube.protocol import JSON
from mcm.kube.resources import SECRETS

__all__ = [
    "BOOTSTRAP_TOKEN_PLACEHOLDER",
    "BOOTSTRAP_TOKEN_SECRET_TYPE",
    "MACHINE_NAME_PLACEHOLDER",
    "TOKEN_NAMESPACE",
    "USER_DATA_KEY",
    "UserDataError",
    "bootstrap_token_id",
    "bootstrap_token_secret_name",
    "delete_bootstrap_token",
    "ensure_bootstrap_token",
    "render_user_data",
]

logger = logging.getLogger(__name__)

USER_DATA_KEY = "userData"
BOOTSTRAP_TOKEN_PLACEHOLDER = "<<BOOTSTRAP_TOKEN>>"  # noqa: S105 -- a placeholder, not a secret
MACHINE_NAME_PLACEHOLDER = "<<MACHINE_NAME>>"
TOKEN_NAMESPACE = "kube-system"  # noqa: S105 -- a namespace
BOOTSTRAP_TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"  # noqa: S105
_TOKEN_SECRET_CHARSET = "0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105 -- an alphabet
_TOKEN_SECRET_LENGTH = 16


class UserDataError(Exception):
    """The user data cannot be rendered (no ``userData`` key, or the token cannot be had)."""


def bootstrap_token_id(machine_name: str) -> str:
    """The six-character token ID of *machine_name* (see the module docstring)."""
    return hashlib.sha256(machine_name.encode()).hexdigest()[:6]


def bootstrap_token_secret_name(machine_name: str) -> str:
    """``bootstrap-token-<token-id>``."""
    return f"bootstrap-token-{bootstrap_token_id(machine_name)}"


def _query_escape(text: str) -> str:
    """Go's ``url.QueryEscape``."""
    return urllib.parse.quote_plus(text, safe="")


def _substitute(user_data: str, placeholder: str, value: str) -> str | None:
    """*user_data* with *placeholder* (or its escaped form) replaced; None if neither occurs."""
    if placeholder in user_data:
        return user_data.replace(placeholder, value)
    escaped = _query_escape(placeholder)
    if escaped in user_data:
        return user_data.replace(escaped, _query_escape(value))
    return None


def ensure_bootstrap_token(ctx: MachineControllerContext, machine: Machine) -> str:
    """The machine's bootstrap token ``<id>.<secret>``, creating its Secret if needed.

    Raises `UserDataError` (without secret material) when the target cluster refuses.
    """
    assert ctx.target is not None, "bootstrap tokens need a target cluster"  # noqa: S101
    name = machine.metadata.name
    token_id = bootstrap_token_id(name)
    secret_name = bootstrap_token_secret_name(name)
    try:
        try:
            stored = ctx.target.get(SECRETS, secret_name, namespace=TOKEN_NAMESPACE)
        except NotFoundError:
            stored = _create_token_secret(ctx, machine, token_id, secret_name)
    except ApiError as error:
        raise UserDataError(
            f"getting or creating bootstrap token secret {TOKEN_NAMESPACE}/{secret_name}"
            f" for machine {name!r} failed: {error}"
        ) from error
    data = Secret.from_dict(stored).data
    token_secret = data.get("token-secret", b"").decode()
    stored_id = data.get("token-id", token_id.encode()).decode()
    return f"{stored_id}.{token_secret}"


def _create_token_secret(
    ctx: MachineControllerContext, machine: Machine, token_id: str, secret_name: str
) -> JSON:
    assert ctx.target is not None  # noqa: S101
    now = utcnow(ctx.clock)
    expiration = now + datetime.timedelta(seconds=effective_creation_timeout(ctx, machine))
    token_secret = "".join(
        secrets.choice(_TOKEN_SECRET_CHARSET) for _ in range(_TOKEN_SECRET_LENGTH)
    )
    data = {
        "description": (
            f'A bootstrap token for machine "{machine.metadata.name}" generated by'
            " MachineControllerManager."
        ),
        "token-id": token_id,
        "token-secret": token_secret,
        "expiration": format_time(expiration),
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": ctx.options.bootstrap_token_auth_extra_groups,
    }
    body = merge_patches(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": TOKEN_NAMESPACE},
            "type": BOOTSTRAP_TOKEN_SECRET_TYPE,
        },
        {"data": {k: base64.b64encode(v.encode()).decode("ascii") for k, v in data.items()}},
    )
    try:
        created = ctx.target.create(SECRETS, body, namespace=TOKEN_NAMESPACE)
    except AlreadyExistsError:  # created meanwhile (another pass): use that one
        return ctx.target.get(SECRETS, secret_name, namespace=TOKEN_NAMESPACE)
    logger.info(
        "created bootstrap token secret %s/%s for machine %s",
        TOKEN_NAMESPACE,
        secret_name,
        machine.metadata.name,
    )
    return created


def delete_bootstrap_token(ctx: MachineControllerContext, machine_name: str) -> None:
    """Delete the machine's bootstrap token Secret; absence is fine, other errors are logged."""
    if ctx.target is None:
        return
    secret_name = bootstrap_token_secret_name(machine_name)
    try:
        ctx.target.delete(SECRETS, secret_name, namespace=TOKEN_NAMESPACE)
    except NotFoundError:
        return
    except ApiError as error:
        logger.warning(
            "deleting bootstrap token secret %s/%s of machine %s failed: %s",
            TOKEN_NAMESPACE,
            secret_name,
            machine_name,
            error,
        )


def render_user_data(
    ctx: MachineControllerContext, machine: Machine, secret: SecretData
) -> SecretData:
    """*secret* with its ``userData`` placeholders filled in; raises `UserDataError`."""
    name = machine.metadata.name
    raw = secret.data.get(USER_DATA_KEY)
    if raw is None:
        raise UserDataError(f'userdata field not found in secret for machine "{name}"')
    user_data = raw.decode()
    if ctx.has_target:
        token = ensure_bootstrap_token(ctx, machine)
        replaced = _substitute(user_data, BOOTSTRAP_TOKEN_PLACEHOLDER, token)
        if replaced is None:
            logger.warning(
                "machine %s: no bootstrap token placeholder in user data;"
                " without a bootstrap token the node will not join",
                name,
            )
        else:
            user_data = replaced
    replaced = _substitute(user_data, MACHINE_NAME_PLACEHOLDER, name)
    if replaced is None:
        logger.info(
            "machine %s: no machine name placeholder in user data; without it the node will"
            " not join if the node-agent authorizer is enabled",
            name,
        )
    else:
        user_data = replaced
    return SecretData({**secret.data, USER_DATA_KEY: user_data.encode()})

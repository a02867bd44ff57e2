"""AWS credentials from the machine class's secret, and the boto3 clients built with them.

The driver reads seven keys of the (merged) secret, exactly as upstream does:

* ``workloadIdentityTokenFile`` + ``roleARN``: **workload identity**, chosen as soon as the token
  file key is *present* (even empty). The value is a file path; the OIDC token is read from it on
  every refresh and exchanged with ``sts:AssumeRoleWithWebIdentity`` for temporary credentials,
  which botocore refreshes before they expire (`Credentials.WEB_IDENTITY`).
* ``providerAccessKeyId`` or else ``accessKeyID``, and ``providerSecretAccessKey`` or else
  ``secretAccessKey``: **static keys**, whitespace-trimmed. The *first present* key of each pair
  wins, even when it is empty; if either resulting value is empty, upstream falls back to the SDK's
  default chain (environment, shared config, instance metadata), and so does this module
  (``CredentialsMode.DEFAULT_CHAIN``). Validation normally prevents that.
* ``userData``: the VM's bootstrap data, raw bytes (`user_data`).

Endpoints: botocore honours ``AWS_ENDPOINT_URL_EC2`` / ``AWS_ENDPOINT_URL_STS`` /
``AWS_ENDPOINT_URL`` (and the shared config's ``endpoint_url``) by itself, as upstream's Go SDK
does; an explicit *endpoint_url* (the CLI flag) overrides them for EC2.

Secrets never leave this module in text: `Credentials` hides its keys from ``repr``/``str``, the
log lines name only the mode and region, and no exception raised here quotes a secret value.
"""

from __future__ import annotations

import datetime
import enum
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import boto3
import botocore.credentials
import botocore.session
import botocore.utils
from botocore.config import Config

from mcm.clock import Clock
from mcm.driver import Code, MachineError, SecretData
from mcm_provider_aws.provider_spec import (
    AWS_ACCESS_KEY_ID,
    AWS_ALTERNATIVE_ACCESS_KEY_ID,
    AWS_ALTERNATIVE_SECRET_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY,
    ROLE_ARN,
    USER_DATA,
    WORKLOAD_IDENTITY_TOKEN_FILE,
)

__all__ = [
    "DEFAULT_CLIENT_CONFIG",
    "Credentials",
    "CredentialsMode",
    "credentials_from_secret",
    "new_ec2_client",
    "new_session",
    "user_data",
]

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "total_max_attempts": 3})
"""What upstream's Go SDK does by default: 3 attempts in all, retrying 5xx and throttling."""


class CredentialsMode(enum.Enum):
    STATIC = "static"
    """Access key id and secret access key from the secret."""
    WEB_IDENTITY = "web-identity"
    """``AssumeRoleWithWebIdentity`` with the token in ``web_identity_token_file``."""
    DEFAULT_CHAIN = "default-chain"
    """The secret holds no usable keys: botocore's default chain, as upstream falls back to."""


@attrs.frozen(kw_only=True, repr=False)
class Credentials:
    """How to authenticate to AWS, as read from a secret by `credentials_from_secret`.

    ``repr`` and ``str`` show the mode and the (non-secret) role ARN and token file path, never
    the keys.
    """

    mode: CredentialsMode
    access_key_id: str = ""
    secret_access_key: str = ""
    web_identity_token_file: str = ""
    """A path; the token itself is read from it on every refresh, never stored here."""
    role_arn: str = ""

    def __repr__(self) -> str:
        if self.mode is CredentialsMode.WEB_IDENTITY:
            return (
                f"Credentials(mode={self.mode.value}, role_arn={self.role_arn!r},"
                f" web_identity_token_file={self.web_identity_token_file!r})"
            )
        return f"Credentials(mode={self.mode.value})"

    __str__ = __repr__


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace``: Unicode white space, except ``\\x1c``-``\\x1f``."""
    start, end = 0, len(text)
    while start < end and _is_go_space(text[start]):
        start += 1
    while end > start and _is_go_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_go_space(char: str) -> bool:
    return char.isspace() and not "\x1c" <= char <= "\x1f"


def _first_present(data: Mapping[str, bytes], *keys: str) -> str:
    """The trimmed value of the first of *keys* present in *data* (even if empty), else ``""``."""
    for key in keys:
        if key in data:
            return _go_trim_space(_text(data[key]))
    return ""


def credentials_from_secret(secret: SecretData) -> Credentials:
    """Read the credentials upstream's ``NewConfig`` would use from *secret*.

    Does not validate (see `mcm_provider_aws.validation.validate_secret`): a secret without
    usable keys yields ``CredentialsMode.DEFAULT_CHAIN``, as upstream behaves.
    """
    data = secret.data
    if WORKLOAD_IDENTITY_TOKEN_FILE in data:
        return Credentials(
            mode=CredentialsMode.WEB_IDENTITY,
            web_identity_token_file=_text(data[WORKLOAD_IDENTITY_TOKEN_FILE]),
            role_arn=_text(data.get(ROLE_ARN, b"")),
        )
    access_key_id = _first_present(data, AWS_ACCESS_KEY_ID, AWS_ALTERNATIVE_ACCESS_KEY_ID)
    secret_access_key = _first_present(
        data, AWS_SECRET_ACCESS_KEY, AWS_ALTERNATIVE_SECRET_ACCESS_KEY
    )
    if access_key_id and secret_access_key:
        return Credentials(
            mode=CredentialsMode.STATIC,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    return Credentials(mode=CredentialsMode.DEFAULT_CHAIN)


def user_data(secret: SecretData) -> bytes:
    """The raw ``userData`` bytes (boto3 base64-encodes ``RunInstances.UserData`` itself).

    Raises `MachineError` ``Internal`` ``userData doesn't exist`` without the key, as upstream's
    CreateMachine does.
    """
    try:
        return secret.data[USER_DATA]
    except KeyError:
        raise MachineError(Code.INTERNAL, "userData doesn't exist") from None


# ------------------------------------------------------------------------------- sessions, clients


class _NoCache(dict[str, Any]):
    """A fetcher cache that never holds anything: `RefreshableCredentials` decides when to refresh,
    by the injected clock, and must get fresh credentials whenever it asks."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


class _WebIdentityProvider(botocore.credentials.CredentialProvider):  # type: ignore[misc]
    """The only provider of a web-identity session: STS credentials, refreshed before expiry."""

    METHOD = "assume-role-with-web-identity"
    CANONICAL_NAME = "custom-web-identity"

    def __init__(
        self,
        *,
        client_creator: Callable[..., Any],
        token_file: str,
        role_arn: str,
        time_fetcher: Callable[[], datetime.datetime],
    ) -> None:
        super().__init__()
        self._fetcher = botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=client_creator,
            web_identity_token_loader=botocore.utils.FileWebIdentityTokenLoader(token_file),
            role_arn=role_arn,
            cache=_NoCache(),
        )
        self._time_fetcher = time_fetcher

    def load(self) -> botocore.credentials.DeferredRefreshableCredentials:
        return botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=self._fetcher.fetch_credentials,
            method=self.METHOD,
            time_fetcher=self._time_fetcher,
        )


def new_session(
    credentials: Credentials,
    region: str,
    *,
    sts_endpoint_url: str | None = None,
    clock: Clock | None = None,  # FakeClock in tests: when web-identity credentials expire
) -> boto3.Session:
    """A boto3 session for *region* authenticating with *credentials*.

    Web identity: the first AWS call assumes the role (token read from the file then), and
    botocore assumes it again whenever the credentials get within 15 minutes of expiry. The STS
    client is unsigned and for *region*; *sts_endpoint_url* overrides its endpoint (otherwise
    ``AWS_ENDPOINT_URL_STS`` etc. apply).
    """
    if credentials.mode is CredentialsMode.STATIC:
        return boto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name=region,
        )
    if credentials.mode is CredentialsMode.DEFAULT_CHAIN:
        return boto3.Session(region_name=region)
    core = botocore.session.Session()
    time_fetcher = _local_now if clock is None else functools.partial(_clock_now, clock)
    provider = _WebIdentityProvider(
        client_creator=functools.partial(
            core.create_client, region_name=region, endpoint_url=sts_endpoint_url
        ),
        token_file=credentials.web_identity_token_file,
        role_arn=credentials.role_arn,
        time_fetcher=time_fetcher,
    )
    core.register_component(
        "credential_provider", botocore.credentials.CredentialResolver(providers=[provider])
    )
    return boto3.Session(botocore_session=core, region_name=region)


def _local_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _clock_now(clock: Clock) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC)


def new_ec2_client(
    credentials: Credentials,
    region: str,
    *,
    endpoint_url: str | None = None,
    sts_endpoint_url: str | None = None,
    config: Config | None = None,
    clock: Clock | None = None,  # FakeClock in tests
) -> Any:
    """An EC2 client for *region*; *endpoint_url* (None: botocore's own resolution) overrides.

    *config* defaults to `DEFAULT_CLIENT_CONFIG`.
    """
    logger.debug(
        "building an EC2 client for %s with %s credentials", region, credentials.mode.value
    )
    session = new_session(credentials, region, sts_endpoint_url=sts_endpoint_url, clock=clock)
    return session.client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint_url,
        config=DEFAULT_CLIENT_CONFIG if config is None else config,
    )

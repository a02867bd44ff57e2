"""`AWSProviderSpec`: a MachineClass's ``providerSpec``, decoded once the way upstream decodes it.

Upstream unmarshals ``providerSpec`` with Go's ``encoding/json`` into a Go struct; the machine's
``lastOperation`` shows the decoder's error when that fails. This module reproduces that decoder
for the one struct tree it is used on, so both implementations accept, ignore and reject the same
documents with the same words:

* keys are matched to fields exactly first, then case-insensitively (``AMI`` sets ``ami``); keys
  that match no field are ignored; when several keys match one field, they apply in document
  order, and objects *merge* into what an earlier key decoded (Go decodes into the existing value);
* ``null`` clears a pointer, slice or map field (here: None, ``()``, an empty mapping) and leaves
  any other field as it was;
* a value of the wrong JSON type fails with Go's message for the first such value in document
  order: ``json: cannot unmarshal string into Go struct field AWSEbsBlockDeviceSpec.blockDevices.
  ebs.volumeSize of type int32`` — ``<innermost struct>.<JSON path without indices>``;
* integers must fit ``int32``; a number that does not is reported with its text (``number 1.5``,
  ``number 3000000000``). The API server normalises a JSON number whose value is integral to an
  integer before the controller sees it, so an integral float (``2.0``) is accepted as ``2``;
* an absent ``providerSpec`` (upstream: empty ``Raw``) fails with ``unexpected end of JSON input``.

`AWSProviderSpec.from_dict` raises `ProviderSpecDecodeError` carrying that message; the driver
reports it with code ``Internal``. The decoded objects are frozen attrs classes whose attribute
names are the snake-case forms of upstream's JSON names (each field's docstring gives the JSON
key). Go pointers are ``X | None``; slices are tuples; ``tags`` is a read-only mapping. Whether a
value is *valid* is not this module's business: see `mcm_provider_aws.validation`.

Fields upstream declares but never sends to EC2 (``ebsOptimized``, ``monitoring``, ``kmsKeyID``,
``noDevice``, ``virtualName``, ``apiVersion``) are decoded all the same, so type errors in them fail
exactly as upstream's do.
"""

from __future__ import annotations

import decimal
import math
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Self, TypeVar, cast

import attrs

__all__ = [
    "AMD_SEV_SNP_VALUES",
    "AWS_ACCESS_KEY_ID",
    "AWS_ALTERNATIVE_ACCESS_KEY_ID",
    "AWS_ALTERNATIVE_SECRET_ACCESS_KEY",
    "AWS_PLACEMENT_ANNOTATION",
    "AWS_SECRET_ACCESS_KEY",
    "CLUSTER_TAG_PREFIX",
    "DATA_DEVICE_NAME_FORMAT",
    "HTTP_ENDPOINT_DISABLED",
    "HTTP_ENDPOINT_ENABLED",
    "HTTP_PROTOCOL_IPV6_DISABLED",
    "HTTP_PROTOCOL_IPV6_ENABLED",
    "HTTP_TOKENS_OPTIONAL",
    "HTTP_TOKENS_REQUIRED",
    "INTERFACE_TYPES",
    "MARKET_TYPES",
    "PLACEMENT_AFFINITIES",
    "PLACEMENT_TENANCIES",
    "PROVIDER_AWS",
    "ROLE_ARN",
    "ROLE_TAG_PREFIX",
    "ROOT_DEVICE_NAME",
    "USER_DATA",
    "V1ALPHA1",
    "VALID_VOLUME_TYPES",
    "VOLUME_TYPE_GP2",
    "VOLUME_TYPE_GP3",
    "VOLUME_TYPE_IO1",
    "VOLUME_TYPE_SC1",
    "VOLUME_TYPE_ST1",
    "VOLUME_TYPE_STANDARD",
    "WORKLOAD_IDENTITY_TOKEN_FILE",
    "AWSBlockDeviceMappingSpec",
    "AWSCapacityReservationTargetSpec",
    "AWSEbsBlockDeviceSpec",
    "AWSIAMProfileSpec",
    "AWSInstanceMarketOptions",
    "AWSNetworkInterfaceSpec",
    "AWSPlacementSpec",
    "AWSProviderSpec",
    "CPUOptions",
    "InstanceMetadataOptions",
    "ProviderSpecDecodeError",
]

# ------------------------------------------------------------------------------------- constants

V1ALPHA1: Final = "mcm.gardener.cloud/v1alpha1"
"""Upstream's API version constant; ``apiVersion`` is decoded but never checked."""
PROVIDER_AWS: Final = "AWS"
"""The only ``MachineClass.provider`` this driver serves."""

AWS_ACCESS_KEY_ID: Final = "providerAccessKeyId"
AWS_SECRET_ACCESS_KEY: Final = "providerSecretAccessKey"  # noqa: S105 -- a key name
AWS_ALTERNATIVE_ACCESS_KEY_ID: Final = "accessKeyID"
AWS_ALTERNATIVE_SECRET_ACCESS_KEY: Final = "secretAccessKey"  # noqa: S105 -- a key name
WORKLOAD_IDENTITY_TOKEN_FILE: Final = "workloadIdentityTokenFile"  # noqa: S105 -- a key name
ROLE_ARN: Final = "roleARN"
USER_DATA: Final = "userData"

CLUSTER_TAG_PREFIX: Final = "kubernetes.io/cluster/"
ROLE_TAG_PREFIX: Final = "kubernetes.io/role/"

VOLUME_TYPE_GP2: Final = "gp2"
VOLUME_TYPE_GP3: Final = "gp3"
VOLUME_TYPE_IO1: Final = "io1"
VOLUME_TYPE_ST1: Final = "st1"
VOLUME_TYPE_SC1: Final = "sc1"
VOLUME_TYPE_STANDARD: Final = "standard"
VALID_VOLUME_TYPES: Final = (
    VOLUME_TYPE_GP2,
    VOLUME_TYPE_GP3,
    VOLUME_TYPE_IO1,
    VOLUME_TYPE_ST1,
    VOLUME_TYPE_SC1,
    VOLUME_TYPE_STANDARD,
)
"""In upstream's order, which its validation message prints (``io2`` is not accepted)."""

DATA_DEVICE_NAME_FORMAT: Final = r"^/dev/(sd[a-z]|xvd[a-c][a-z]?)$"
"""What a data disk's ``deviceName`` must match when there is more than one block device."""
ROOT_DEVICE_NAME: Final = "/root"
"""The ``deviceName`` that marks the root disk (replaced by the AMI's root device name)."""

HTTP_TOKENS_REQUIRED: Final = "required"
HTTP_TOKENS_OPTIONAL: Final = "optional"
HTTP_ENDPOINT_DISABLED: Final = "disabled"
HTTP_ENDPOINT_ENABLED: Final = "enabled"
HTTP_PROTOCOL_IPV6_ENABLED: Final = "enabled"
HTTP_PROTOCOL_IPV6_DISABLED: Final = "disabled"
AMD_SEV_SNP_VALUES: Final = ("enabled", "disabled")

INTERFACE_TYPES: Final = ("interface", "efa", "efa-only")
"""``networkInterfaces[].interfaceType`` values upstream accepts (the empty string as well)."""
PLACEMENT_TENANCIES: Final = ("default", "dedicated", "host")
PLACEMENT_AFFINITIES: Final = ("default", "host")
MARKET_TYPES: Final = ("spot", "capacity-block", "interruptible-capacity-reservation")
"""``instanceMarketOptions.marketType`` values (aws-sdk-go-v2 ec2 v1.279.0's ``MarketType``)."""

AWS_PLACEMENT_ANNOTATION: Final = "machine.sapcloud.io/awsPlacement"
"""Machine ``spec.nodeTemplate.metadata.annotations`` key read when ``placement`` is absent."""

_GO_PACKAGE = "api"  # upstream's Go package name, part of Go's type names in decode errors


class ProviderSpecDecodeError(ValueError):
    """``providerSpec`` is not a JSON document Go would decode into upstream's struct.

    ``str()`` is Go's ``encoding/json`` message, e.g. ``json: cannot unmarshal number into Go
    struct field AWSProviderSpec.ami of type string``. It names types and paths, never values
    other than numbers.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -------------------------------------------------------------------- the Go JSON decoder, in small


@attrs.frozen
class _Context:
    """Where the decoder is: Go's ``errorContext`` (innermost struct, JSON field names so far)."""

    struct: str = ""
    fields: tuple[str, ...] = ()

    def enter(self, struct: str, name: str) -> _Context:
        return _Context(struct, (*self.fields, name))


def _type_error(
    value: Any, go_type: str, ctx: _Context, *, text: str | None = None
) -> ProviderSpecDecodeError:
    described = text if text is not None else _json_kind(value)
    if ctx.struct or ctx.fields:
        where = f"Go struct field {ctx.struct}.{'.'.join(ctx.fields)}"
    else:
        where = "Go value"
    return ProviderSpecDecodeError(
        f"json: cannot unmarshal {described} into {where} of type {go_type}"
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    return "array"


class _Kind:
    """How one Go type decodes: ``decode(json, current, ctx)`` returns the new value."""

    go_type: str
    nullable: bool = False
    """Go pointer, slice or map: ``null`` resets it (to `zero`); other kinds ignore ``null``."""
    zero: Any = None

    def decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if value is None:
            return self.zero if self.nullable else current
        return self._decode(value, current, ctx)

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        raise NotImplementedError


class _String(_Kind):
    go_type = "string"
    zero = ""

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if not isinstance(value, str):
            raise _type_error(value, self.go_type, ctx)
        return value


class _Bool(_Kind):
    go_type = "bool"
    zero = False

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if not isinstance(value, bool):
            raise _type_error(value, self.go_type, ctx)
        return value


_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class _Int32(_Kind):
    go_type = "int32"
    zero = 0

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(value, self.go_type, ctx)
        number: int | float = value
        if isinstance(number, float) and number.is_integer() and _INT64_MIN <= number <= _INT64_MAX:
            number = int(number)  # what the API server's round trip makes of 2.0
        if isinstance(number, float):
            raise _type_error(value, self.go_type, ctx, text=f"number {_go_float_text(number)}")
        if not _INT32_MIN <= number <= _INT32_MAX:
            raise _type_error(value, self.go_type, ctx, text=f"number {number}")
        return number


def _go_float_text(value: float) -> str:
    """*value* as Go's ``encoding/json`` writes a float64 (how it reaches the controller)."""
    if not math.isfinite(value):
        return repr(value)
    if value == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover -- finite values have int exponents
        return repr(value)
    text = "".join(map(str, digits))
    prefix = "-" if sign else ""
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        point = len(text) - 1 + exponent  # decimal exponent of the first digit
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        exp_sign = "-" if point < 0 else "+"
        exp_digits = f"{abs(point):02d}"
        if exp_sign == "-" and exp_digits.startswith("0"):
            exp_digits = exp_digits[1:]
        return f"{prefix}{mantissa}e{exp_sign}{exp_digits}"
    if exponent >= 0:
        return prefix + text + "0" * exponent
    integer_digits = len(text) + exponent
    if integer_digits <= 0:
        return f"{prefix}0.{'0' * -integer_digits}{text}"
    return f"{prefix}{text[:integer_digits]}.{text[integer_digits:]}"


class _Pointer(_Kind):
    """``*T``: ``null`` gives None; any other value decodes as T into the current value."""

    nullable = True
    zero = None

    def __init__(self, inner: _Kind) -> None:
        self.inner = inner
        self.go_type = inner.go_type  # Go reports the pointed-to type

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        return self.inner._decode(value, self.inner.zero if current is None else current, ctx)


class _Slice(_Kind):
    """``[]T`` as a tuple; element *i* decodes into the previous element *i*, as Go's does."""

    nullable = True
    zero = ()

    def __init__(self, inner: _Kind) -> None:
        self.inner = inner
        self.go_type = "[]" + inner.go_type

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if isinstance(value, str | bool | int | float | Mapping):
            raise _type_error(value, self.go_type, ctx)
        previous: tuple[Any, ...] = current
        return tuple(
            self.inner.decode(item, previous[i] if i < len(previous) else self.inner.zero, ctx)
            for i, item in enumerate(value)
        )


_NO_TAGS: Mapping[str, str] = types.MappingProxyType({})


class _StringMap(_Kind):
    """``map[string]string`` as a read-only mapping; later objects add to earlier ones."""

    go_type = "map[string]string"
    nullable = True
    zero: Mapping[str, str] = _NO_TAGS

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if not isinstance(value, Mapping):
            raise _type_error(value, self.go_type, ctx)
        merged = dict(current)
        for key, item in value.items():
            merged[key] = _STRING.decode(item, "", ctx)
        return types.MappingProxyType(merged)


_STRING = _String()
_BOOL = _Bool()
_INT32 = _Int32()

_JSON_KEY = "mcm_provider_aws.json"

S = TypeVar("S", bound="_GoStruct")


@attrs.frozen
class _JSONField:
    name: str
    kind: _Kind


def _json(name: str, kind: _Kind) -> Mapping[str, _JSONField]:
    """attrs field metadata: stored under JSON key *name*, decoded as *kind*.

    The field's default must be *kind*'s Go zero value (``kind.zero``).
    """
    return {_JSON_KEY: _JSONField(name, kind)}


def _fold(name: str) -> str:
    """Go's ``foldName``: ASCII lower case; other runes through ``ToLower(ToUpper(r))``."""
    out = []
    for char in name:
        if char.isascii():
            out.append(char.lower())
            continue
        upper = char.upper()
        upper = upper if len(upper) == 1 else char
        lower = upper.lower()
        out.append(lower if len(lower) == 1 else upper)
    return "".join(out)


class _GoStruct:
    """Base of the decoded structs: a table of JSON fields and a Go-style `_decode_into`."""

    GO_NAME: ClassVar[str]
    _EXACT: ClassVar[Mapping[str, tuple[str, _JSONField]]]
    _FOLDED: ClassVar[Mapping[str, tuple[str, _JSONField]]]

    @classmethod
    def _table(cls) -> None:
        fields = tuple(
            (a.name, a.metadata[_JSON_KEY])
            for a in attrs.fields(cast("type[attrs.AttrsInstance]", cls))
            if _JSON_KEY in a.metadata
        )
        cls._EXACT = {f.name: (attr, f) for attr, f in fields}
        folded: dict[str, tuple[str, _JSONField]] = {}
        for attr, f in fields:
            folded.setdefault(_fold(f.name), (attr, f))
        cls._FOLDED = folded

    @classmethod
    def _decode_into(cls, value: Mapping[str, Any], current: Self, ctx: _Context) -> Self:
        changes: dict[str, Any] = {}
        for key, item in value.items():
            found = cls._EXACT.get(key) or cls._FOLDED.get(_fold(key))
            if found is None:
                continue  # Go ignores keys that match no field
            attr, spec = found
            previous = changes.get(attr, getattr(current, attr))
            changes[attr] = spec.kind.decode(item, previous, ctx.enter(cls.GO_NAME, spec.name))
        return attrs.evolve(current, **changes) if changes else current  # type: ignore[misc]


class _Struct(_Kind):
    """A nested Go struct (value, not pointer: ``null`` leaves it as it was)."""

    def __init__(self, cls: type[_GoStruct]) -> None:
        self.cls = cls
        self.go_type = f"{_GO_PACKAGE}.{cls.GO_NAME}"
        self.zero = cls()

    def _decode(self, value: Any, current: Any, ctx: _Context) -> Any:
        if not isinstance(value, Mapping):
            raise _type_error(value, self.go_type, ctx)
        return self.cls._decode_into(value, current, ctx)


def _go_struct(name: str) -> Callable[[type[S]], type[S]]:
    """Finish a decoded struct class: record its Go name and build its field table."""

    def finish(cls: type[S]) -> type[S]:
        cls.GO_NAME = name
        cls._table()
        return cls

    return finish


# ----------------------------------------------------------------------------------- the structs


@_go_struct("AWSIAMProfileSpec")
@attrs.frozen(kw_only=True)
class AWSIAMProfileSpec(_GoStruct):
    """``iam``: the instance profile, by name or by ARN (validation wants exactly one)."""

    arn: str = attrs.field(default="", metadata=_json("arn", _STRING))
    """``arn``"""
    name: str = attrs.field(default="", metadata=_json("name", _STRING))
    """``name``"""


@_go_struct("AWSEbsBlockDeviceSpec")
@attrs.frozen(kw_only=True)
class AWSEbsBlockDeviceSpec(_GoStruct):
    """``blockDevices[].ebs``."""

    delete_on_termination: bool | None = attrs.field(
        default=None, metadata=_json("deleteOnTermination", _Pointer(_BOOL))
    )
    """``deleteOnTermination``; None means true."""
    encrypted: bool = attrs.field(default=False, metadata=_json("encrypted", _BOOL))
    """``encrypted``"""
    iops: int = attrs.field(default=0, metadata=_json("iops", _INT32))
    """``iops``; sent only when > 0."""
    throughput: int | None = attrs.field(
        default=None, metadata=_json("throughput", _Pointer(_INT32))
    )
    """``throughput`` (MiB/s)"""
    kms_key_id: str | None = attrs.field(
        default=None, metadata=_json("kmsKeyID", _Pointer(_STRING))
    )
    """``kmsKeyID``; declared upstream but never sent to EC2."""
    snapshot_id: str | None = attrs.field(
        default=None, metadata=_json("snapshotID", _Pointer(_STRING))
    )
    """``snapshotID``"""
    volume_size: int = attrs.field(default=0, metadata=_json("volumeSize", _INT32))
    """``volumeSize`` (GiB)"""
    volume_type: str = attrs.field(default="", metadata=_json("volumeType", _STRING))
    """``volumeType``"""


@_go_struct("AWSBlockDeviceMappingSpec")
@attrs.frozen(kw_only=True)
class AWSBlockDeviceMappingSpec(_GoStruct):
    """``blockDevices[]``."""

    device_name: str = attrs.field(default="", metadata=_json("deviceName", _STRING))
    """``deviceName``; ``/root`` marks the root disk."""
    ebs: AWSEbsBlockDeviceSpec = attrs.field(
        factory=AWSEbsBlockDeviceSpec, metadata=_json("ebs", _Struct(AWSEbsBlockDeviceSpec))
    )
    """``ebs``"""
    no_device: str = attrs.field(default="", metadata=_json("noDevice", _STRING))
    """``noDevice``; declared upstream but unused."""
    virtual_name: str = attrs.field(default="", metadata=_json("virtualName", _STRING))
    """``virtualName``; declared upstream but unused."""

    @property
    def is_root(self) -> bool:
        """Named ``/root`` (with a single block device, that one is root whatever its name)."""
        return self.device_name == ROOT_DEVICE_NAME


@_go_struct("AWSCapacityReservationTargetSpec")
@attrs.frozen(kw_only=True)
class AWSCapacityReservationTargetSpec(_GoStruct):
    """``capacityReservation``."""

    capacity_reservation_preference: str = attrs.field(
        default="", metadata=_json("capacityReservationPreference", _STRING)
    )
    """``capacityReservationPreference``"""
    capacity_reservation_id: str | None = attrs.field(
        default=None, metadata=_json("capacityReservationId", _Pointer(_STRING))
    )
    """``capacityReservationId``"""
    capacity_reservation_resource_group_arn: str | None = attrs.field(
        default=None, metadata=_json("capacityReservationResourceGroupArn", _Pointer(_STRING))
    )
    """``capacityReservationResourceGroupArn``"""


@_go_struct("AWSInstanceMarketOptions")
@attrs.frozen(kw_only=True)
class AWSInstanceMarketOptions(_GoStruct):
    """``instanceMarketOptions``."""

    market_type: str = attrs.field(default="", metadata=_json("marketType", _STRING))
    """``marketType``"""


@_go_struct("AWSNetworkInterfaceSpec")
@attrs.frozen(kw_only=True)
class AWSNetworkInterfaceSpec(_GoStruct):
    """``networkInterfaces[]``: one ``InstanceNetworkInterfaceSpecification`` at launch."""

    associate_public_ip_address: bool | None = attrs.field(
        default=None, metadata=_json("associatePublicIPAddress", _Pointer(_BOOL))
    )
    """``associatePublicIPAddress``"""
    ipv6_address_count: int | None = attrs.field(
        default=None, metadata=_json("ipv6AddressCount", _Pointer(_INT32))
    )
    """``ipv6AddressCount``"""
    ipv6_prefix_count: int | None = attrs.field(
        default=None, metadata=_json("ipv6PrefixCount", _Pointer(_INT32))
    )
    """``ipv6PrefixCount``; assigned by InitializeMachine, not at launch."""
    delete_on_termination: bool | None = attrs.field(
        default=None, metadata=_json("deleteOnTermination", _Pointer(_BOOL))
    )
    """``deleteOnTermination``; None means true."""
    description: str | None = attrs.field(
        default=None, metadata=_json("description", _Pointer(_STRING))
    )
    """``description``"""
    security_group_ids: tuple[str, ...] = attrs.field(
        default=(), metadata=_json("securityGroupIDs", _Slice(_STRING))
    )
    """``securityGroupIDs``"""
    subnet_id: str = attrs.field(default="", metadata=_json("subnetID", _STRING))
    """``subnetID``"""
    interface_type: str | None = attrs.field(
        default=None, metadata=_json("interfaceType", _Pointer(_STRING))
    )
    """``interfaceType``"""
    network_card_index: int | None = attrs.field(
        default=None, metadata=_json("networkCardIndex", _Pointer(_INT32))
    )
    """``networkCardIndex``"""
    device_index: int | None = attrs.field(
        default=None, metadata=_json("deviceIndex", _Pointer(_INT32))
    )
    """``deviceIndex``; None means the interface's index in the list."""
    primary_ipv6: bool | None = attrs.field(
        default=None, metadata=_json("primaryIpv6", _Pointer(_BOOL))
    )
    """``primaryIpv6``; used only with ``ipv6AddressCount``, where None means true."""


@_go_struct("AWSPlacementSpec")
@attrs.frozen(kw_only=True)
class AWSPlacementSpec(_GoStruct):
    """``placement`` (there is no availability zone here; see the placement annotation)."""

    group_id: str | None = attrs.field(default=None, metadata=_json("groupId", _Pointer(_STRING)))
    """``groupId``"""
    tenancy: str | None = attrs.field(default=None, metadata=_json("tenancy", _Pointer(_STRING)))
    """``tenancy``"""
    host_id: str | None = attrs.field(default=None, metadata=_json("hostId", _Pointer(_STRING)))
    """``hostId``"""
    partition_number: int | None = attrs.field(
        default=None, metadata=_json("partitionNumber", _Pointer(_INT32))
    )
    """``partitionNumber``"""
    affinity: str | None = attrs.field(default=None, metadata=_json("affinity", _Pointer(_STRING)))
    """``affinity``"""


@_go_struct("InstanceMetadataOptions")
@attrs.frozen(kw_only=True)
class InstanceMetadataOptions(_GoStruct):
    """``instanceMetadataOptions``; empty strings mean "not set" (they are not sent)."""

    http_endpoint: str = attrs.field(default="", metadata=_json("httpEndpoint", _STRING))
    """``httpEndpoint``"""
    http_put_response_hop_limit: int | None = attrs.field(
        default=None, metadata=_json("httpPutResponseHopLimit", _Pointer(_INT32))
    )
    """``httpPutResponseHopLimit``"""
    http_tokens: str = attrs.field(default="", metadata=_json("httpTokens", _STRING))
    """``httpTokens``"""
    http_protocol_ipv6: str = attrs.field(default="", metadata=_json("httpProtocolIpv6", _STRING))
    """``httpProtocolIpv6``"""


@_go_struct("CPUOptions")
@attrs.frozen(kw_only=True)
class CPUOptions(_GoStruct):
    """``cpuOptions``."""

    core_count: int | None = attrs.field(
        default=None, metadata=_json("coreCount", _Pointer(_INT32))
    )
    """``coreCount``"""
    threads_per_core: int | None = attrs.field(
        default=None, metadata=_json("threadsPerCore", _Pointer(_INT32))
    )
    """``threadsPerCore``"""
    amd_sev_snp: str | None = attrs.field(
        default=None, metadata=_json("amdSevSnp", _Pointer(_STRING))
    )
    """``amdSevSnp``"""


@_go_struct("AWSProviderSpec")
@attrs.frozen(kw_only=True)
class AWSProviderSpec(_GoStruct):
    """``MachineClass.providerSpec`` for ``provider: AWS``. Build it with `from_dict`."""

    api_version: str = attrs.field(default="", metadata=_json("apiVersion", _STRING))
    """``apiVersion``; ignored."""
    ami: str = attrs.field(default="", metadata=_json("ami", _STRING))
    """``ami``"""
    block_devices: tuple[AWSBlockDeviceMappingSpec, ...] = attrs.field(
        default=(), metadata=_json("blockDevices", _Slice(_Struct(AWSBlockDeviceMappingSpec)))
    )
    """``blockDevices``"""
    capacity_reservation: AWSCapacityReservationTargetSpec | None = attrs.field(
        default=None,
        metadata=_json("capacityReservation", _Pointer(_Struct(AWSCapacityReservationTargetSpec))),
    )
    """``capacityReservation``"""
    ebs_optimized: bool = attrs.field(default=False, metadata=_json("ebsOptimized", _BOOL))
    """``ebsOptimized``; declared upstream but never sent to EC2."""
    iam: AWSIAMProfileSpec = attrs.field(
        factory=AWSIAMProfileSpec, metadata=_json("iam", _Struct(AWSIAMProfileSpec))
    )
    """``iam``"""
    machine_type: str = attrs.field(default="", metadata=_json("machineType", _STRING))
    """``machineType``"""
    key_name: str | None = attrs.field(default=None, metadata=_json("keyName", _Pointer(_STRING)))
    """``keyName``; sent only when non-empty."""
    monitoring: bool = attrs.field(default=False, metadata=_json("monitoring", _BOOL))
    """``monitoring``; declared upstream but never sent to EC2."""
    network_interfaces: tuple[AWSNetworkInterfaceSpec, ...] = attrs.field(
        default=(), metadata=_json("networkInterfaces", _Slice(_Struct(AWSNetworkInterfaceSpec)))
    )
    """``networkInterfaces``"""
    region: str = attrs.field(default="", metadata=_json("region", _STRING))
    """``region``"""
    spot_price: str | None = attrs.field(
        default=None, metadata=_json("spotPrice", _Pointer(_STRING))
    )
    """``spotPrice`` (deprecated): set means spot, ``""`` means no maximum price."""
    src_and_dst_checks_enabled: bool | None = attrs.field(
        default=None, metadata=_json("srcAndDstChecksEnabled", _Pointer(_BOOL))
    )
    """``srcAndDstChecksEnabled``; only ``False`` has an effect."""
    tags: Mapping[str, str] = attrs.field(default=_NO_TAGS, metadata=_json("tags", _StringMap()))
    """``tags``"""
    instance_metadata_options: InstanceMetadataOptions | None = attrs.field(
        default=None,
        metadata=_json("instanceMetadataOptions", _Pointer(_Struct(InstanceMetadataOptions))),
    )
    """``instanceMetadataOptions``"""
    cpu_options: CPUOptions | None = attrs.field(
        default=None, metadata=_json("cpuOptions", _Pointer(_Struct(CPUOptions)))
    )
    """``cpuOptions``"""
    placement: AWSPlacementSpec | None = attrs.field(
        default=None, metadata=_json("placement", _Pointer(_Struct(AWSPlacementSpec)))
    )
    """``placement``"""
    instance_market_options: AWSInstanceMarketOptions | None = attrs.field(
        default=None,
        metadata=_json("instanceMarketOptions", _Pointer(_Struct(AWSInstanceMarketOptions))),
    )
    """``instanceMarketOptions``"""

    @classmethod
    def from_dict(cls, raw: object) -> AWSProviderSpec:
        """Decode ``providerSpec`` JSON (already parsed) as upstream's Go decoder would.

        *raw* None stands for an absent ``providerSpec`` (upstream: an empty ``Raw``). Raises
        `ProviderSpecDecodeError` with Go's message; nothing else.
        """
        if raw is None:
            raise ProviderSpecDecodeError("unexpected end of JSON input")
        if not isinstance(raw, Mapping):
            raise _type_error(raw, f"{_GO_PACKAGE}.{cls.GO_NAME}", _Context())
        return cls._decode_into(raw, cls(), _Context())

"""Validation of an `AWSProviderSpec` and its secret, with upstream's rules, order and words.

Upstream validates at the start of every driver call but ``GetVolumeIDs`` and fails the call with
``InvalidArgument`` and ``error while validating ProviderSpec <errors>``; that text ends up in the
Machine's ``status.lastOperation.description``, so this module reproduces it exactly:

* `validate_provider_spec` returns every `FieldError` upstream's ``ValidateAWSProviderSpec``
  returns, in the same order: ami, region, machineType, iam, blockDevices, capacityReservation,
  networkInterfaces, placement, instanceMarketOptions, the secret, tags, instance metadata, CPU
  options. One upstream order is not defined — duplicated device names are reported in Go map order,
  which is random; here they come in the order the names first appear.
* ``str(FieldError)`` is Kubernetes' ``field.Error.Error()``: ``<path>: <type>[: <value>][:
  <detail>]``, values rendered as Go renders them (strings quoted with Go's ``%q``, integers plain,
  structs and named string types as Go JSON).
* `validation_error_message` joins errors as Kubernetes' aggregate does (duplicates dropped; one
  error as is, several as ``[e1, e2]``); `validation_error` wraps that in a `MachineError` with
  ``Code.INVALID_ARGUMENT``.

`decode_provider_spec` is upstream's ``decodeProviderSpecAndSecret``: decode (``Internal`` on
failure), then validate. Secret *values* never appear in any message: the secret rules only say
which key is missing or empty.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

from mcm.driver import Code, MachineError, SecretData
from mcm_provider_aws.provider_spec import (
    AMD_SEV_SNP_VALUES,
    AWS_ACCESS_KEY_ID,
    AWS_ALTERNATIVE_ACCESS_KEY_ID,
    AWS_ALTERNATIVE_SECRET_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY,
    CLUSTER_TAG_PREFIX,
    DATA_DEVICE_NAME_FORMAT,
    HTTP_ENDPOINT_DISABLED,
    HTTP_ENDPOINT_ENABLED,
    HTTP_PROTOCOL_IPV6_DISABLED,
    HTTP_PROTOCOL_IPV6_ENABLED,
    HTTP_TOKENS_OPTIONAL,
    HTTP_TOKENS_REQUIRED,
    INTERFACE_TYPES,
    MARKET_TYPES,
    PLACEMENT_AFFINITIES,
    PLACEMENT_TENANCIES,
    ROLE_ARN,
    ROLE_TAG_PREFIX,
    ROOT_DEVICE_NAME,
    USER_DATA,
    VALID_VOLUME_TYPES,
    VOLUME_TYPE_IO1,
    WORKLOAD_IDENTITY_TOKEN_FILE,
    AWSBlockDeviceMappingSpec,
    AWSCapacityReservationTargetSpec,
    AWSIAMProfileSpec,
    AWSInstanceMarketOptions,
    AWSNetworkInterfaceSpec,
    AWSPlacementSpec,
    AWSProviderSpec,
    CPUOptions,
    InstanceMetadataOptions,
    ProviderSpecDecodeError,
)

__all__ = [
    "ErrorType",
    "FieldError",
    "decode_provider_spec",
    "validate_provider_spec",
    "validate_secret",
    "validation_error",
    "validation_error_message",
]

SPEC_PATH: Final = "providerSpec"
SECRET_PATH: Final = "secretRef"  # noqa: S105 -- a field path
VALIDATION_ERROR_PREFIX: Final = "error while validating ProviderSpec "

# Go's regexp ``$`` only matches at the very end; Python's also before a final newline.
_DATA_DEVICE_NAME = re.compile(DATA_DEVICE_NAME_FORMAT.removesuffix("$") + r"\Z")


class ErrorType(enum.Enum):
    """Kubernetes' ``field.ErrorType``s this validation uses; the value is how it prints."""

    REQUIRED = "Required value"
    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"


@attrs.frozen(kw_only=True)
class FieldError:
    """One validation failure: Kubernetes' ``field.Error``, already rendered.

    *value* is the offending value as Kubernetes prints it (None for types that print none).
    """

    type: ErrorType
    field: str
    """The path, e.g. ``providerSpec.blockDevices[0].ebs.volumeSize``."""
    detail: str = ""
    value: str | None = None

    def __str__(self) -> str:
        body = self.type.value
        if self.value is not None:
            body += f": {self.value}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.field}: {body}"


def _required(path: str, detail: str) -> FieldError:
    return FieldError(type=ErrorType.REQUIRED, field=path, detail=detail)


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(type=ErrorType.FORBIDDEN, field=path, detail=detail)


def _invalid(path: str, value: str, detail: str) -> FieldError:
    """*value* already rendered (`_go_quote`, ``str(int)``, `_go_json`)."""
    return FieldError(type=ErrorType.INVALID, field=path, value=value, detail=detail)


def _not_supported(path: str, value: str, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(_go_quote(s) for s in supported)
    return FieldError(
        type=ErrorType.NOT_SUPPORTED, field=path, value=_go_quote(value), detail=detail
    )


def _go_list(values: Iterable[str]) -> str:
    """Go's ``%v`` of a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(values) + "]"


_GO_QUOTE_ESCAPES: Final = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
    "\\": r"\\",
    '"': r"\"",
}


def _go_quote(text: str) -> str:
    """Go's ``%q`` (``strconv.Quote``): printable runes as they are, the rest escaped."""
    out = ['"']
    for char in text:
        escape = _GO_QUOTE_ESCAPES.get(char)
        code = ord(char)
        if escape is not None:
            out.append(escape)
        elif char == " " or (char.isprintable() and not 0xD800 <= code <= 0xDFFF):
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_JSON_ESCAPES: Final = {
    '"': r"\"",
    "\\": r"\\",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "<": r"\u003c",
    ">": r"\u003e",
    "&": r"\u0026",
    "\u2028": r"\u2028",
    "\u2029": r"\u2029",
}


def _go_json(text: str) -> str:
    """A string as Go's ``json.Marshal`` writes it (HTML-safe escaping)."""
    out = ['"']
    for char in text:
        escape = _GO_JSON_ESCAPES.get(char)
        if escape is not None:
            out.append(escape)
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append(r"\ufffd")  # Go writes invalid UTF-8 as the replacement character
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _iam_json(iam: AWSIAMProfileSpec) -> str:
    """The IAM struct as Go's ``json.Marshal`` writes it (both fields ``omitempty``)."""
    members = [
        f'"{key}":{_go_json(value)}'
        for key, value in (("arn", iam.arn), ("name", iam.name))
        if value
    ]
    return "{" + ",".join(members) + "}"


# -------------------------------------------------------------------------------------- the rules


def validate_provider_spec(spec: AWSProviderSpec, secret: SecretData | None) -> list[FieldError]:
    """Every rule of upstream's ``ValidateAWSProviderSpec``, errors in upstream's order.

    *secret* None stands for a missing secret (``secretRef[]: Required value``).
    """
    path = SPEC_PATH
    errors: list[FieldError] = []
    if spec.ami == "":
        errors.append(_required(f"{path}.ami", "AMI is required"))
    if spec.region == "":
        errors.append(_required(f"{path}.region", "Region is required"))
    if spec.machine_type == "":
        errors.append(_required(f"{path}.machineType", "MachineType is required"))
    if (spec.iam.name == "") == (spec.iam.arn == ""):
        errors.append(
            _invalid(f"{path}.iam", _iam_json(spec.iam), "either IAM Name or ARN must be set")
        )
    errors += _validate_block_devices(spec.block_devices, f"{path}.blockDevices")
    errors += _validate_capacity_reservation(
        spec.capacity_reservation, f"{path}.capacityReservation"
    )
    errors += _validate_network_interfaces(spec.network_interfaces, f"{path}.networkInterfaces")
    errors += _validate_placement(spec.placement, f"{path}.placement")
    errors += _validate_instance_market_options(
        spec.instance_market_options, f"{path}.instanceMarketOptions"
    )
    errors += validate_secret(secret)
    errors += _validate_tags(spec.tags, f"{path}.tags")
    # upstream's path says instanceMetadata, not instanceMetadataOptions
    errors += _validate_instance_metadata(
        spec.instance_metadata_options, f"{path}.instanceMetadata"
    )
    errors += _validate_cpu_options(spec.cpu_options, f"{path}.cpuOptions")
    return errors


def _validate_tags(tags: Mapping[str, str], path: str) -> list[FieldError]:
    # "containing", not "starting with": upstream uses strings.Contains
    errors = []
    if not any(CLUSTER_TAG_PREFIX in key for key in tags):
        errors.append(_required(f"{path}[]", f"Tag required of the form {CLUSTER_TAG_PREFIX}****"))
    # a key containing both only counts as the cluster tag (upstream's if/else if)
    if not any(ROLE_TAG_PREFIX in key and CLUSTER_TAG_PREFIX not in key for key in tags):
        errors.append(_required(f"{path}[]", f"Tag required of the form {ROLE_TAG_PREFIX}****"))
    return errors


def _validate_block_devices(
    devices: Sequence[AWSBlockDeviceMappingSpec], path: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    roots = 0
    counts: dict[str, int] = {}
    for i, disk in enumerate(devices):
        item = f"{path}[{i}]"
        if disk.device_name == ROOT_DEVICE_NAME:
            roots += 1
        elif len(devices) > 1 and not _DATA_DEVICE_NAME.match(disk.device_name):
            detail = (
                f"Device name given: {disk.device_name} does not match the expected pattern"
                f" (regex used for validation is '{DATA_DEVICE_NAME_FORMAT}')"
            )
            errors.append(_invalid(f"{item}.deviceName", _go_quote(disk.device_name), detail))
        counts[disk.device_name] = counts.get(disk.device_name, 0) + 1
        ebs = disk.ebs
        if ebs.volume_type not in VALID_VOLUME_TYPES:
            errors.append(
                _required(
                    f"{item}.ebs.volumeType",
                    f"Please mention a valid EBS volume type: {_go_list(VALID_VOLUME_TYPES)}",
                )
            )
        if ebs.volume_size <= 0:
            errors.append(
                _required(f"{item}.ebs.volumeSize", "Please mention a valid EBS volume size")
            )
        if ebs.iops < 0 or (ebs.volume_type == VOLUME_TYPE_IO1 and ebs.iops == 0):
            errors.append(_required(f"{item}.ebs.iops", "Please mention a valid EBS volume iops"))
        if ebs.throughput is not None and ebs.throughput <= 0:
            errors.append(
                _invalid(
                    f"{item}.ebs.throughput",
                    str(ebs.throughput),
                    "Throughput should be a positive value",
                )
            )
    # a single device without a name is the root disk (upstream keeps that for compatibility)
    if roots > 1 or (roots == 0 and len(devices) > 1):
        errors.append(_required(path, "Only one device can be specified as root"))
    for name, count in counts.items():
        if count > 1:
            errors.append(
                _required(
                    path,
                    f"Device name '{name}' duplicated {count} times, DeviceName must be unique",
                )
            )
    return errors


def _validate_capacity_reservation(
    reservation: AWSCapacityReservationTargetSpec | None, path: str
) -> list[FieldError]:
    if reservation is None:
        return []
    by_id = reservation.capacity_reservation_id is not None
    by_group = reservation.capacity_reservation_resource_group_arn is not None
    if reservation.capacity_reservation_preference != "":
        if by_id or by_group:
            return [
                _required(
                    path,
                    "CapacityReservationPreference cannot be set when also providing a"
                    " CapacityReservationID or CapacityReservationResourceGroupArn",
                )
            ]
    elif by_id and by_group:
        return [
            _required(
                path,
                "CapacityReservationResourceGroupArn or CapacityReservationId are optional but"
                " only one should be used",
            )
        ]
    return []


def _validate_network_interfaces(
    interfaces: Sequence[AWSNetworkInterfaceSpec], path: str
) -> list[FieldError]:
    if not interfaces:
        return [_required(f"{path}[]", "Mention at least one NetworkInterface")]
    errors: list[FieldError] = []
    for i, interface in enumerate(interfaces):
        item = f"{path}[{i}]"
        if interface.subnet_id == "":
            errors.append(_required(f"{item}.subnetID", "SubnetID is required"))
        if not interface.security_group_ids:
            errors.append(
                _required(f"{item}.securityGroupIDs", "Mention at least one securityGroupID")
            )
        for j, group in enumerate(interface.security_group_ids):
            if group == "":
                detail = (
                    f"securityGroupIDs cannot be blank for networkInterface:{i} securityGroupID:{j}"
                )
                errors.append(_required(f"{item}.securityGroupIDs", detail))
        kind = interface.interface_type
        if kind is not None and kind != "" and kind not in INTERFACE_TYPES:
            errors.append(_not_supported(f"{item}.interfaceType", kind, INTERFACE_TYPES))
        if interface.device_index is not None and interface.device_index < 0:
            errors.append(
                _invalid(f"{item}.deviceIndex", str(interface.device_index), "must be >= 0")
            )
        if interface.network_card_index is not None and interface.network_card_index < 0:
            errors.append(
                _invalid(
                    f"{item}.networkCardIndex", str(interface.network_card_index), "must be >= 0"
                )
            )
    return errors


def _validate_placement(placement: AWSPlacementSpec | None, path: str) -> list[FieldError]:
    if placement is None:
        return []
    errors: list[FieldError] = []
    if placement.tenancy is not None and placement.tenancy not in PLACEMENT_TENANCIES:
        errors.append(_not_supported(f"{path}.tenancy", placement.tenancy, PLACEMENT_TENANCIES))
    if placement.affinity is not None and placement.affinity not in PLACEMENT_AFFINITIES:
        errors.append(_not_supported(f"{path}.affinity", placement.affinity, PLACEMENT_AFFINITIES))
    if placement.host_id is not None and placement.tenancy != "host":
        errors.append(_forbidden(f"{path}.hostId", 'hostId can only be set when tenancy is "host"'))
    if placement.partition_number is not None and placement.partition_number < 1:
        errors.append(
            _invalid(f"{path}.partitionNumber", str(placement.partition_number), "must be >= 1")
        )
    return errors


def _validate_instance_market_options(
    options: AWSInstanceMarketOptions | None, path: str
) -> list[FieldError]:
    if options is None or options.market_type in MARKET_TYPES:
        return []
    return [_not_supported(f"{path}.marketType", options.market_type, MARKET_TYPES)]


def validate_secret(secret: SecretData | None) -> list[FieldError]:
    """Upstream's ``ValidateSecret``: credentials (static keys or workload identity) and userData.

    Workload identity applies as soon as the ``workloadIdentityTokenFile`` key is present, even
    with an empty value.
    """
    path = SECRET_PATH
    if secret is None:
        return [_required(f"{path}[]", "secretRef is required")]
    data = secret.data
    errors: list[FieldError] = []
    if WORKLOAD_IDENTITY_TOKEN_FILE in data:
        if not data[WORKLOAD_IDENTITY_TOKEN_FILE]:
            errors.append(
                _required(
                    f"{path}.{WORKLOAD_IDENTITY_TOKEN_FILE}",
                    "Workload identity token file is required",
                )
            )
        if not data.get(ROLE_ARN):
            errors.append(
                _required(
                    f"{path}.{ROLE_ARN}", "Role ARN is required when workload identity is used"
                )
            )
    else:
        if not data.get(AWS_ACCESS_KEY_ID) and not data.get(AWS_ALTERNATIVE_ACCESS_KEY_ID):
            errors.append(
                _required(
                    f"{path}.AWSAccessKeyID",
                    f"Mention atleast {AWS_ACCESS_KEY_ID} or {AWS_ALTERNATIVE_ACCESS_KEY_ID}",
                )
            )
        if not data.get(AWS_SECRET_ACCESS_KEY) and not data.get(AWS_ALTERNATIVE_SECRET_ACCESS_KEY):
            errors.append(
                _required(
                    f"{path}.AWSSecretAccessKey",
                    f"Mention atleast {AWS_SECRET_ACCESS_KEY}"
                    f" or {AWS_ALTERNATIVE_SECRET_ACCESS_KEY}",
                )
            )
    if not data.get(USER_DATA):
        errors.append(_required(f"{path}.{USER_DATA}", "Mention userData"))
    return errors


def _validate_instance_metadata(
    options: InstanceMetadataOptions | None, path: str
) -> list[FieldError]:
    if options is None:
        return []
    errors: list[FieldError] = []
    hop_limit = options.http_put_response_hop_limit
    if hop_limit is not None and not 0 <= hop_limit <= 64:
        errors.append(
            _invalid(
                f"{path}.httpPutResponseHopLimit",
                str(hop_limit),
                "Only values between 0 and 64, both included, are accepted",
            )
        )
    checks = (
        ("httpEndpoint", options.http_endpoint, (HTTP_ENDPOINT_DISABLED, HTTP_ENDPOINT_ENABLED)),
        ("httpTokens", options.http_tokens, (HTTP_TOKENS_REQUIRED, HTTP_TOKENS_OPTIONAL)),
        (
            "httpProtocolIpv6",
            options.http_protocol_ipv6,
            (HTTP_PROTOCOL_IPV6_ENABLED, HTTP_PROTOCOL_IPV6_DISABLED),
        ),
    )
    for name, value, accepted in checks:
        if value != "" and value not in accepted:
            detail = f"Accepted values: {_go_list(accepted)}"
            errors.append(_invalid(f"{path}.{name}", _go_quote(value), detail))
    return errors


def _validate_cpu_options(options: CPUOptions | None, path: str) -> list[FieldError]:
    if options is None:
        return []
    errors: list[FieldError] = []
    if options.amd_sev_snp is not None and options.amd_sev_snp not in AMD_SEV_SNP_VALUES:
        # a named string type upstream, so Kubernetes renders it as JSON, not with %q
        errors.append(
            _invalid(
                f"{path}.amdSevSnp",
                _go_json(options.amd_sev_snp),
                f"AmdSevSnp must be one of {_go_list(AMD_SEV_SNP_VALUES)}",
            )
        )
    cores_set = options.core_count is not None
    threads = options.threads_per_core
    if cores_set != (threads is not None):
        if not cores_set:
            errors.append(
                _required(f"{path}.coreCount", "CoreCount is required when ThreadsPerCore is set")
            )
        else:
            errors.append(
                _required(
                    f"{path}.threadsPerCore", "ThreadsPerCore is required when CoreCount is set"
                )
            )
        return errors
    if threads is not None and threads not in (1, 2):
        errors.append(
            _invalid(f"{path}.threadsPerCore", str(threads), "ThreadsPerCore must be 1 or 2")
        )
    return errors


# ------------------------------------------------------------------------------ reporting them


def validation_error_message(errors: Sequence[FieldError]) -> str:
    """``error while validating ProviderSpec <aggregate>``, as upstream's driver words it.

    The aggregate is Kubernetes': repeated texts dropped, a single error as is, several as
    ``[e1, e2, ...]``. *errors* must not be empty.
    """
    texts = list(dict.fromkeys(str(error) for error in errors))
    if not texts:
        raise ValueError("no validation errors to report")
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return VALIDATION_ERROR_PREFIX + aggregate


def validation_error(errors: Sequence[FieldError]) -> MachineError:
    """The driver's error for *errors*: ``InvalidArgument`` with `validation_error_message`."""
    return MachineError(Code.INVALID_ARGUMENT, validation_error_message(errors))


def decode_provider_spec(raw: object, secret: SecretData | None) -> AWSProviderSpec:
    """Upstream's ``decodeProviderSpecAndSecret``: decode *raw*, then validate it with *secret*.

    *raw* is the parsed ``providerSpec`` (None when absent). Raises `MachineError`:
    ``Internal`` with Go's JSON message when *raw* does not decode, ``InvalidArgument`` with
    `validation_error_message` when validation fails.
    """
    try:
        spec = AWSProviderSpec.from_dict(raw)
    except ProviderSpecDecodeError as exc:
        raise MachineError(Code.INTERNAL, exc.message) from exc
    errors = validate_provider_spec(spec, secret)
    if errors:
        raise validation_error(errors)
    return spec

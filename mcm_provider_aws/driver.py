"""`AWSDriver`: the machine controller's `Driver` for EC2, a port of upstream's ``pkg/aws/core.go``.

Every method but `AWSDriver.get_volume_ids` starts the way upstream's does: check that the class
is for provider ``AWS`` (not in InitializeMachine), decode and validate ``providerSpec`` with the
secret (`mcm_provider_aws.validation.decode_provider_spec`: ``Internal`` / ``InvalidArgument``),
then take the EC2 client of the spec's region and the secret's credentials from a cache
(`mcm_provider_aws.ec2.EC2Clients`: throttled, retried by botocore, counted). The EC2 calls per
method:

======================  ==================================================================
method                  EC2 calls
======================  ==================================================================
CreateMachine           DescribeImages (the AMI's root device; cached per AMI, region and
                        credentials, one lookup in flight per key), RunInstances (with a
                        ``ClientToken``; again with the next token of the chain while it
                        replays a terminated instance), DescribeInstances(InstanceIds) until
                        the instance is visible; after ``IdempotentParameterMismatch``,
                        DescribeInstances by tags, then by the ``client-token`` filter
InitializeMachine       DescribeInstances(InstanceIds) (by tags without a provider ID),
                        ModifyNetworkInterfaceAttribute per interface whose source/dest check
                        must go off, AssignIpv6Addresses per interface missing IPv6 prefixes
GetMachineStatus        DescribeInstances(InstanceIds) (by tags without a provider ID)
DeleteMachine           DescribeInstances(InstanceIds) (by tags without a provider ID),
                        TerminateInstances per instance not terminated yet,
                        DescribeNetworkInterfaces + DeleteNetworkInterface per orphan
ListMachines            DescribeInstances by cluster and role tag keys, every page
GetVolumeIDs            none
======================  ==================================================================

What it promises beyond upstream (each a row of ``docs/differences.md``):

* **No duplicate VMs.** RunInstances carries ``ClientToken`` = `client_token` of the Machine (its
  UID), so a create repeated after a crash or a timeout returns the instance the first one
  launched instead of a second VM. If the class changed in between, EC2 answers
  ``IdempotentParameterMismatch``; the driver then adopts the live instance it finds by the
  machine's tags, else the instance that token launched (DescribeInstances with the
  ``client-token`` filter): adopted if live, the next link of the chain (below) if it is gone.
* **A terminated VM is not replayed forever.** EC2 remembers a token for at least 24 hours, so
  once the Machine's instance was terminated (the stale-node check, an operator) every later
  RunInstances with its token would name that dead instance again. When the answer names an
  instance that is shutting-down or terminated (as the answer or DescribeInstances shows it),
  the driver calls RunInstances again with `client_token_after` the Machine and that instance,
  and so on along the chain, at most `MAX_CLIENT_TOKEN_LINKS` calls, until an answer names a live
  instance. No state is kept: a create repeated after a crash walks the same chain and ends at the
  same instance, still without a duplicate.
* **A replay EC2 has forgotten is not waited for.** About an hour after termination
  DescribeInstances no longer knows an instance (``InvalidInstanceID.NotFound``), while
  RunInstances still replays the token's first answer, ``pending`` and the original
  ``LaunchTime``. A new instance not yet visible (eventual consistency) is waited for as upstream
  waits, for up to ``consistency_timeout``; but an answer whose ``LaunchTime`` lies more than
  ``consistency_timeout`` + `LAUNCH_TIME_SKEW` before now (the injected clock) names an instance
  that had all that time to appear, so one DescribeInstances answering ``NotFound`` (or nothing)
  settles it: the instance is taken as gone and the chain moves on at once. An answer without a
  ``LaunchTime`` is always waited for.
* **The provider ID first.** GetMachineStatus, InitializeMachine and DeleteMachine look the
  instance up with ``DescribeInstances(InstanceIds=[id])`` when the Machine has a provider ID, and
  fall back to the tag filter (``Name`` + cluster + role tag, live states) only when it has none
  (a crash before the ID was recorded). Upstream filters by tags first on every call, a query
  whose cost grows with the account's instances. By ID, a terminated instance still counts as
  found, as upstream's fallback has it. Duplicates by name are no longer reported as
  ``OutOfRange`` when the ID is known: the orphan collector removes them.
* **Orphaned network interfaces.** DeleteMachine deletes the ``available`` (detached) interfaces
  tagged with the machine's ``Name`` and cluster tag, best effort. Interfaces still attached with
  ``deleteOnTermination: false`` are kept, as that setting asks.
* ``kmsKeyID`` of an encrypted volume is sent (upstream drops it); with ``encrypted: false`` it is
  still ignored, as EC2 would reject it. Empty ``interfaceType`` strings are not sent.
* Throttling and unavailability are ``Unavailable`` (`mcm_provider_aws.errors`), not ``Internal``.
* The cluster and role tag keys are chosen deterministically (the first matching key in sorted
  order) where upstream takes whichever Go's map iteration yields last; listed instances must carry
  both keys, which also holds where moto forgets all but the last ``tag-key`` filter.
* InitializeMachine reuses the instance it looked up instead of describing it again, and turns the
  check off only on the interfaces that still have it on.
* Concurrent first creates with one AMI make one DescribeImages: the lookup is single-flight per
  cache key, the others wait for its answer (a failure is shared with them, never cached).

Nothing the driver raises or logs contains the secret's keys or user data: AWS texts pass through
`mcm_provider_aws.errors.redact` with the secret's values. Durations are float seconds on the
injected `Clock`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import random
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, overload

import attrs
import cachetools
from botocore.exceptions import BotoCoreError, ClientError

from mcm.api.core import PersistentVolumeSpec
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.clock import Clock, RealClock
from mcm.driver import (
    Code,
    CreateMachineRequest,
    CreateMachineResponse,
    DeleteMachineRequest,
    DeleteMachineResponse,
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
    MachineError,
    SecretData,
)
from mcm_provider_aws import metrics as m
from mcm_provider_aws.credentials import credentials_from_secret, user_data
from mcm_provider_aws.ec2 import DEFAULT_MAX_ATTEMPTS, ClientProvider, Ec2Client, EC2Clients
from mcm_provider_aws.errors import (
    IDEMPOTENT_PARAMETER_MISMATCH,
    INSTANCE_ID_NOT_FOUND,
    NETWORK_INTERFACE_ID_NOT_FOUND,
    api_error_code,
    aws_error_code,
    create_error_code,
    machine_error,
    terminate_error_code,
)
from mcm_provider_aws.metrics import AWSMetrics, default_aws_metrics
from mcm_provider_aws.provider_spec import (
    AWS_PLACEMENT_ANNOTATION,
    CLUSTER_TAG_PREFIX,
    PROVIDER_AWS,
    ROLE_ARN,
    ROLE_TAG_PREFIX,
    WORKLOAD_IDENTITY_TOKEN_FILE,
    AWSBlockDeviceMappingSpec,
    AWSProviderSpec,
)
from mcm_provider_aws.throttle import Throttle
from mcm_provider_aws.validation import decode_provider_spec

__all__ = [
    "AWS_EBS_CSI_DRIVER",
    "DEFAULT_CONSISTENCY_TIMEOUT",
    "IMAGE_LOOKUP_WAIT",
    "LAUNCH_TIME_SKEW",
    "MAX_CLIENT_TOKEN_LINKS",
    "NAME_TAG",
    "AWSDriver",
    "client_token",
    "client_token_after",
    "decode_provider_id",
    "encode_provider_id",
    "kubernetes_volume_id_to_ebs_volume_id",
]

logger = logging.getLogger(__name__)

NAME_TAG: Final = "Name"
"""The tag that ties an instance (and its volumes and interfaces) to its Machine, by name."""
AWS_EBS_CSI_DRIVER: Final = "ebs.csi.aws.com"
DEFAULT_CONSISTENCY_TIMEOUT: Final = 300.0
"""How long CreateMachine waits for a new instance to be visible (upstream's 5 minutes)."""
MAX_CLIENT_TOKEN_LINKS: Final = 10
"""How many RunInstances calls one create makes along its token chain (`client_token_after`)."""
LAUNCH_TIME_SKEW: Final = 300.0
"""How far EC2's clock (``LaunchTime``) and the driver's may disagree. EC2 refuses requests signed
more than 5 minutes off its clock, so a driver that can call it is within this of it."""
DEFAULT_IMAGE_CACHE_TTL: Final = 3600.0
"""How long an AMI's root device name is remembered (an AMI never changes it)."""
IMAGE_LOOKUP_WAIT: Final = 60.0
"""How long a create waits for another create's DescribeImages of the same AMI."""

LIVE_STATES: Final = ("pending", "running", "stopping", "stopped")
"""The instance states the tag lookups consider (not shutting-down or terminated)."""
_GONE_STATES = frozenset({"shutting-down", "terminated"})
_FORGOTTEN = "no longer known to EC2"  # the "state" of a replayed instance EC2 forgot
_EFA_TYPES = frozenset({"efa", "efa-only"})
_RESOURCE_TYPES = ("instance", "volume", "network-interface")
_NOT_SECRET_KEYS = frozenset({ROLE_ARN, WORKLOAD_IDENTITY_TOKEN_FILE})

_NO_INSTANCES = "AWS plugin is returning no VM instances backing this machine object"
_NO_PROVIDER_ID = "No ProviderID found on the machine"

# cenkalti/backoff v4 defaults, as upstream's eventual-consistency wait uses them.
_BACKOFF_INITIAL = 0.5
_BACKOFF_MULTIPLIER = 1.5
_BACKOFF_RANDOMIZATION = 0.5
_BACKOFF_MAX_INTERVAL = 60.0

_CLIENT_TOKEN_PREFIX = "mcm-"  # noqa: S105 -- a token prefix, not a password
_CLIENT_TOKEN_MAX = 64  # EC2's limit on ClientToken
_VOLUME_ID = re.compile(r"^vol-[^/]*$")

_AWS_ERRORS = (ClientError, BotoCoreError)


# ------------------------------------------------------------------------- identities and IDs


def encode_provider_id(region: str, instance_id: str) -> str:
    """``aws:///<region>/<instance-id>``: the region, not the zone (upstream's encoding)."""
    return f"aws:///{region}/{instance_id}"


def decode_provider_id(provider_id: str) -> str:
    """The instance ID of *provider_id* (its last ``/`` segment); `ValueError` if there is none."""
    segments = provider_id.split("/")
    if len(segments) < 2 or not segments[-1]:
        raise ValueError("unable to decode provider-ID")
    return segments[-1]


def client_token(machine: Machine) -> str:
    """The RunInstances ``ClientToken`` of *machine*: the same for every create of this Machine.

    ``mcm-<uid>``; for a Machine without a UID (or an odd one), ``mcm-`` and a SHA-256 of its
    namespace, name and UID. Always printable ASCII and at most 64 characters.
    """
    uid = machine.metadata.uid
    if uid and uid.isascii() and uid.isprintable() and len(uid) <= 60:
        return _CLIENT_TOKEN_PREFIX + uid
    basis = f"{machine.metadata.namespace}/{machine.metadata.name}/{uid}"
    digest = hashlib.sha256(basis.encode()).hexdigest()
    return (_CLIENT_TOKEN_PREFIX + digest)[:_CLIENT_TOKEN_MAX]


def client_token_after(machine: Machine, instance_id: str) -> str:
    """The ``ClientToken`` to use once the token that launched *instance_id* for *machine*
    replays that instance terminated: the next link of the Machine's token chain.

    ``mcm-`` and a SHA-256 of the Machine's UID and the instance ID, cut to 64 characters. The same
    for every caller, so a repeated create follows the same chain; never a `client_token`.
    """
    basis = f"{machine.metadata.uid}:{instance_id}"
    digest = hashlib.sha256(basis.encode()).hexdigest()
    return (_CLIENT_TOKEN_PREFIX + digest)[:_CLIENT_TOKEN_MAX]


def kubernetes_volume_id_to_ebs_volume_id(kubernetes_id: str) -> str:
    """``aws://<zone>/vol-x``, ``aws:///vol-x`` or ``vol-x`` → ``vol-x`` (upstream's rules).

    Raises `ValueError` for a URL that is not an ``aws`` volume.
    """
    if not kubernetes_id.startswith("aws://"):
        return kubernetes_id  # a bare volume ID
    try:
        url = urllib.parse.urlsplit(kubernetes_id)
    except ValueError as error:
        raise ValueError(f"invalid disk name ({kubernetes_id}): {error}") from None
    if url.scheme != "aws":
        raise ValueError(f"invalid scheme for AWS volume ({kubernetes_id})")
    volume_id = url.path.strip("/")
    if not _VOLUME_ID.match(volume_id):
        raise ValueError(f"invalid format for AWS volume ({kubernetes_id})")
    return volume_id


def _cluster_and_role_keys(tags: Mapping[str, str]) -> tuple[str, str]:
    """The cluster tag key and the role tag key of the class (validation ensures both)."""
    cluster = role = ""
    for key in sorted(tags):
        if CLUSTER_TAG_PREFIX in key:
            cluster = cluster or key
        elif ROLE_TAG_PREFIX in key:
            role = role or key
    return cluster, role


def _tag_value(instance: Mapping[str, Any], key: str) -> str | None:
    for tag in instance.get("Tags") or ():
        if tag.get("Key") == key:
            return str(tag.get("Value") or "")
    return None


def _has_tag_keys(instance: Mapping[str, Any], *keys: str) -> bool:
    present = {tag.get("Key") for tag in instance.get("Tags") or ()}
    return all(key in present for key in keys if key)


def _instances_of(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        instance
        for reservation in page.get("Reservations") or ()
        for instance in reservation.get("Instances") or ()
    ]


def _state(instance: Mapping[str, Any]) -> str:
    return str((instance.get("State") or {}).get("Name") or "")


def _launch_time(instance: Mapping[str, Any]) -> float | None:
    """``LaunchTime`` in seconds since the epoch (botocore parses it; a naive one is UTC)."""
    value = instance.get("LaunchTime")
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.timestamp()


def _go_list(items: Sequence[str]) -> str:
    """Go's ``%v`` of a string slice: ``[a b]``."""
    return "[" + " ".join(items) + "]"


# ------------------------------------------------------------------------------- RunInstances


def _block_device_mappings(
    devices: Sequence[AWSBlockDeviceMappingSpec], root_device_name: str | None
) -> list[dict[str, Any]]:
    """Upstream's ``generateBlockDevices``, with ``KmsKeyId`` for encrypted volumes."""
    if not devices:
        raise MachineError(Code.INVALID_ARGUMENT, "no block devices passed")
    mappings: list[dict[str, Any]] = []
    for disk in devices:
        name = disk.device_name
        if disk.is_root or len(devices) == 1:
            if root_device_name is None:
                raise MachineError(Code.INVALID_ARGUMENT, "rootDeviceName cannot be nil")
            name = root_device_name
        ebs = disk.ebs
        spec: dict[str, Any] = {
            "Encrypted": ebs.encrypted,
            "VolumeSize": ebs.volume_size,
            "DeleteOnTermination": ebs.delete_on_termination is not False,
        }
        if ebs.volume_type:
            spec["VolumeType"] = ebs.volume_type
        if ebs.iops > 0:
            spec["Iops"] = ebs.iops
        if ebs.throughput is not None:
            spec["Throughput"] = ebs.throughput
        if ebs.snapshot_id is not None:
            spec["SnapshotId"] = ebs.snapshot_id
        if ebs.kms_key_id and ebs.encrypted:
            spec["KmsKeyId"] = ebs.kms_key_id
        mappings.append({"DeviceName": name, "Ebs": spec})
    return mappings


def _tag_specifications(tags: Mapping[str, str], machine_name: str) -> list[dict[str, Any]]:
    """The class's tags but a ``Name`` of its own, plus ``Name=<machine>``, on all 3 resources."""
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items() if key != NAME_TAG]
    tag_list.append({"Key": NAME_TAG, "Value": machine_name})
    return [{"ResourceType": kind, "Tags": tag_list} for kind in _RESOURCE_TYPES]


def _network_interfaces(spec: AWSProviderSpec) -> list[dict[str, Any]]:
    interfaces: list[dict[str, Any]] = []
    for index, ni in enumerate(spec.network_interfaces):
        item: dict[str, Any] = {
            "Groups": list(ni.security_group_ids),
            "SubnetId": ni.subnet_id,
            "DeviceIndex": ni.device_index if ni.device_index is not None else index,
            "DeleteOnTermination": ni.delete_on_termination is not False,
        }
        if ni.associate_public_ip_address is not None:
            item["AssociatePublicIpAddress"] = ni.associate_public_ip_address
        if ni.description is not None:
            item["Description"] = ni.description
        if ni.network_card_index is not None:
            item["NetworkCardIndex"] = ni.network_card_index
        if ni.interface_type:
            item["InterfaceType"] = ni.interface_type
        if ni.ipv6_address_count is not None:
            item["Ipv6AddressCount"] = ni.ipv6_address_count
            item["PrimaryIpv6"] = ni.primary_ipv6 if ni.primary_ipv6 is not None else True
        interfaces.append(item)
    return interfaces


def _without_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    """*values* without None and ``""`` (the Go SDK does not serialise those)."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


# Go decodes the placement annotation into the SDK's Placement struct: these are its fields.
_PLACEMENT_FIELDS: Final = {
    name.lower(): (name, kind)
    for name, kind in (
        ("Affinity", str),
        ("AvailabilityZone", str),
        ("AvailabilityZoneId", str),
        ("GroupId", str),
        ("GroupName", str),
        ("HostId", str),
        ("HostResourceGroupArn", str),
        ("PartitionNumber", int),
        ("SpreadDomain", str),
        ("Tenancy", str),
    )
}


def _placement_from_annotation(machine: Machine) -> dict[str, Any] | None:
    """Upstream's ``getPlacementObj``: the annotation's JSON as an EC2 ``Placement``, or None."""
    text = machine.spec.node_template.metadata.annotations.get(AWS_PLACEMENT_ANNOTATION, "")
    if not text:
        return None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise MachineError(Code.INTERNAL, f"invalid {AWS_PLACEMENT_ANNOTATION}: {error}") from None
    if document is None:
        return None
    if not isinstance(document, dict):
        raise MachineError(
            Code.INTERNAL, "json: cannot unmarshal value into Go value of type types.Placement"
        )
    placement: dict[str, Any] = {}
    for key, value in document.items():
        found = _PLACEMENT_FIELDS.get(key.lower())
        if found is None or value is None:
            continue  # Go ignores unknown keys, and null leaves a pointer nil
        name, kind = found
        valid = (
            isinstance(value, str)
            if kind is str
            else isinstance(value, int) and not isinstance(value, bool)
        )
        if not valid:
            go_type = "string" if kind is str else "int32"
            raise MachineError(
                Code.INTERNAL,
                f"json: cannot unmarshal {type(value).__name__} into Go struct field"
                f" Placement.{name} of type {go_type}",
            )
        placement[name] = value
    placement = _without_empty(placement)
    return placement or None


def _run_instances_input(
    spec: AWSProviderSpec,
    machine: Machine,
    user_data_bytes: bytes,
    block_devices: list[dict[str, Any]],
) -> dict[str, Any]:
    """The RunInstances parameters upstream's CreateMachine sends, plus ``ClientToken``."""
    request: dict[str, Any] = {
        "ImageId": spec.ami,
        "InstanceType": spec.machine_type,
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": user_data_bytes,  # raw: botocore base64-encodes it
        "IamInstanceProfile": (
            {"Name": spec.iam.name} if spec.iam.name else _without_empty({"Arn": spec.iam.arn})
        ),
        "NetworkInterfaces": _network_interfaces(spec),
        "BlockDeviceMappings": block_devices,
        "TagSpecifications": _tag_specifications(spec.tags, machine.metadata.name),
        "ClientToken": client_token(machine),
    }
    if spec.instance_metadata_options is not None:
        options = spec.instance_metadata_options
        metadata = _without_empty(
            {
                "HttpEndpoint": options.http_endpoint,
                "HttpPutResponseHopLimit": options.http_put_response_hop_limit,
                "HttpTokens": options.http_tokens,
                "HttpProtocolIpv6": options.http_protocol_ipv6,
            }
        )
        if metadata:
            request["MetadataOptions"] = metadata
    if spec.key_name:
        request["KeyName"] = spec.key_name
    if spec.cpu_options is not None:
        cpu = spec.cpu_options
        cpu_options = _without_empty({"AmdSevSnp": cpu.amd_sev_snp})
        if cpu.core_count is not None and cpu.threads_per_core is not None:
            cpu_options["CoreCount"] = cpu.core_count
            cpu_options["ThreadsPerCore"] = cpu.threads_per_core
        if cpu_options:
            request["CpuOptions"] = cpu_options
    if spec.capacity_reservation is not None:
        reservation = spec.capacity_reservation
        target = _without_empty(
            {
                "CapacityReservationId": reservation.capacity_reservation_id,
                "CapacityReservationResourceGroupArn": (
                    reservation.capacity_reservation_resource_group_arn
                ),
            }
        )
        capacity = _without_empty(
            {"CapacityReservationPreference": reservation.capacity_reservation_preference}
        )
        if target:
            capacity["CapacityReservationTarget"] = target
        if capacity:
            request["CapacityReservationSpecification"] = capacity
    if spec.instance_market_options is not None:
        request["InstanceMarketOptions"] = _without_empty(
            {"MarketType": spec.instance_market_options.market_type}
        )
    elif spec.spot_price is not None:
        spot: dict[str, Any] = {"SpotInstanceType": "one-time"}
        if spec.spot_price:
            spot["MaxPrice"] = spec.spot_price
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot}
    if spec.placement is not None:
        placement = _without_empty(
            {
                "Tenancy": spec.placement.tenancy,
                "GroupId": spec.placement.group_id,
                "HostId": spec.placement.host_id,
                "PartitionNumber": spec.placement.partition_number,
                "Affinity": spec.placement.affinity,
            }
        )
        if placement:
            request["Placement"] = placement
    else:
        annotated = _placement_from_annotation(machine)
        if annotated is not None:
            request["Placement"] = annotated
    return request


# ------------------------------------------------------------------------------------ the driver


@attrs.define
class _ImageLookup:
    """One DescribeImages in flight: its waiters read the result once ``done`` is set."""

    done: threading.Event = attrs.field(factory=threading.Event)
    root: str | None = None
    error: MachineError | None = None


@attrs.frozen
class _Call:
    """What one driver call works with, after the prelude."""

    spec: AWSProviderSpec
    client: Ec2Client
    secrets: tuple[str, ...]
    """The secret's values, to keep out of messages."""
    image_key: tuple[str, ...]
    """Region, credentials and endpoint: the scope of the AMI cache."""


def _secret_values(secret: SecretData) -> tuple[str, ...]:
    values: set[str] = set()
    for key, value in secret.data.items():
        if key in _NOT_SECRET_KEYS:
            continue
        text = value.decode("utf-8", errors="replace")
        values.update({text, text.strip()})
    return tuple(values)


def _raw_provider_spec(machine_class: MachineClass) -> object:
    """``providerSpec`` as found in the object (None when absent: upstream's empty ``Raw``)."""
    if machine_class.raw:
        return machine_class.raw.get("providerSpec")
    return machine_class.provider_spec or None


class AWSDriver:
    """The EC2 `Driver`; see the module docstring. Thread-safe; share one per process."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        sts_endpoint_url: str | None = None,
        throttle: Throttle | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        consistency_timeout: float = DEFAULT_CONSISTENCY_TIMEOUT,
        image_cache_ttl: float = DEFAULT_IMAGE_CACHE_TTL,
        metrics: AWSMetrics | None = None,  # a fresh registry's in tests
        clock: Clock | None = None,  # FakeClock in tests
        clients: ClientProvider | None = None,  # a stub in tests; else EC2Clients from the above
    ) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self._metrics = metrics if metrics is not None else default_aws_metrics()
        self.clients: ClientProvider = (
            clients
            if clients is not None
            else EC2Clients(
                endpoint_url=endpoint_url,
                sts_endpoint_url=sts_endpoint_url,
                throttle=throttle,
                metrics=self._metrics,
                clock=self._clock,
                max_attempts=max_attempts,
            )
        )
        self._consistency_timeout = consistency_timeout
        self._images_lock = threading.Lock()
        self._root_devices: cachetools.TTLCache[tuple[str, ...], str] = cachetools.TTLCache(
            maxsize=256, ttl=image_cache_ttl, timer=self._clock.monotonic
        )
        self._image_lookups: dict[tuple[str, ...], _ImageLookup] = {}  # in flight, by cache key
        self._random = random.Random()  # noqa: S311 -- back-off jitter, not cryptography

    # --- the prelude ----------------------------------------------------------------------------

    def _call(
        self,
        machine_class: MachineClass,
        secret: SecretData,
        *,
        client_error_code: Callable[[BaseException], Code],
        check_provider: bool = True,
    ) -> _Call:
        if check_provider and machine_class.provider != PROVIDER_AWS:
            raise MachineError(
                Code.INVALID_ARGUMENT,
                f"requested for Provider '{machine_class.provider}', we only support "
                f"'{PROVIDER_AWS}'",
            )
        spec = decode_provider_spec(_raw_provider_spec(machine_class), secret)
        secrets = _secret_values(secret)
        credentials = credentials_from_secret(secret)
        try:
            client = self.clients.client(credentials, spec.region)
        except (*_AWS_ERRORS, ValueError) as exc:
            raise machine_error(client_error_code(exc), exc, secrets=secrets) from exc
        key = self.clients.key(credentials, spec.region)
        return _Call(spec, client, secrets, (key.region, key.fingerprint, str(key.endpoint_url)))

    # --- lookups --------------------------------------------------------------------------------

    def _describe_pages(
        self, call: _Call, filters: list[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        """Every instance matching *filters*, page by page; stops on a repeated token."""
        token = ""
        while True:
            kwargs: dict[str, Any] = {"Filters": filters}
            if token:
                kwargs["NextToken"] = token
            try:
                page = call.client.describe_instances(**kwargs)
            except _AWS_ERRORS as exc:
                raise machine_error(api_error_code(exc), exc, secrets=call.secrets) from exc
            yield from _instances_of(page)
            next_token = page.get("NextToken") or ""
            if not next_token or next_token == token:
                return
            token = next_token

    def _instances_by_tags(self, call: _Call, machine_name: str) -> list[dict[str, Any]]:
        """Upstream's ``getMachineInstancesByTagsAndStatus``: live instances named for the
        machine, in the class's cluster and role."""
        cluster, role = _cluster_and_role_keys(call.spec.tags)
        filters = [
            {"Name": f"tag:{NAME_TAG}", "Values": [machine_name]},
            {"Name": "tag-key", "Values": [cluster]},
            {"Name": "tag-key", "Values": [role]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        with self._metrics.api_call(m.INSTANCE_GET_BY_TAG_AND_STATUS):
            return [
                instance
                for instance in self._describe_pages(call, filters)
                if _tag_value(instance, NAME_TAG) == machine_name
                and _has_tag_keys(instance, cluster, role)
            ]

    def _instances_by_id(self, call: _Call, instance_id: str) -> list[dict[str, Any]]:
        """Upstream's ``getInstanceByID``; ``NotFound`` when EC2 does not know the ID."""
        with self._metrics.api_call(m.INSTANCE_GET_BY_ID):
            try:
                page = call.client.describe_instances(InstanceIds=[instance_id])
            except _AWS_ERRORS as exc:
                if aws_error_code(exc) == INSTANCE_ID_NOT_FOUND:
                    raise MachineError(Code.NOT_FOUND, _NO_INSTANCES) from exc
                raise machine_error(api_error_code(exc), exc, secrets=call.secrets) from exc
        return _instances_of(page)

    def _instances_for_machine(self, call: _Call, machine: Machine) -> list[dict[str, Any]]:
        """The instances backing *machine*: by provider ID when it has one, else by tags.

        Raises ``NotFound`` when there are none, ``InvalidArgument`` for a provider ID without
        an instance ID.
        """
        with self._metrics.api_call(m.INSTANCE_GET_BY_MACHINE):
            provider_id = machine.spec.provider_id
            if not provider_id:
                instances = self._instances_by_tags(call, machine.metadata.name)
                if not instances:
                    raise MachineError(Code.NOT_FOUND, _NO_PROVIDER_ID)
                return instances
            try:
                instance_id = decode_provider_id(provider_id)
            except ValueError as error:
                raise MachineError(Code.INVALID_ARGUMENT, str(error)) from None
            instances = self._instances_by_id(call, instance_id)
            if not instances:
                raise MachineError(Code.NOT_FOUND, _NO_INSTANCES)
            return instances

    # --- CreateMachine --------------------------------------------------------------------------

    def create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        with self._metrics.driver_operation(m.CREATE_MACHINE):
            return self._create_machine(request)

    def _create_machine(self, request: CreateMachineRequest) -> CreateMachineResponse:
        machine = request.machine
        name = machine.metadata.name
        logger.debug("machine %s: creation request received", name)
        call = self._call(
            request.machine_class, request.secret, client_error_code=create_error_code
        )
        spec = call.spec
        data = user_data(request.secret)
        block_devices = _block_device_mappings(spec.block_devices, self._root_device_name(call))
        run_input = _run_instances_input(spec, machine, data, block_devices)
        for _ in range(MAX_CLIENT_TOKEN_LINKS):
            launched, found = self._run_instance(call, machine, run_input)
            instance_id = str(launched["InstanceId"])
            provider_id = encode_provider_id(spec.region, instance_id)
            state = _FORGOTTEN if found is None else _state(found)
            if found is not None and state not in _GONE_STATES:
                described = found
                break
            # A replay of a token whose instance was terminated since: the next link.
            logger.info(
                "machine %s: its earlier VM %s is %s; launching with the next client token",
                name,
                provider_id,
                state,
            )
            run_input = {**run_input, "ClientToken": client_token_after(machine, instance_id)}
        else:
            raise MachineError(
                Code.INTERNAL,
                f'the last {MAX_CLIENT_TOKEN_LINKS} VMs created for machine "{name}" are all '
                f'terminated (the last one "{provider_id}" is {state}); delete the machine to get '
                "a new one",
            )
        node_name = str(described.get("PrivateDnsName") or launched.get("PrivateDnsName") or "")
        if not node_name:
            message = (
                f'VM with Provider-ID "{provider_id}", for machine "{name}" does not yet have a '
                "nodeName (instance.PrivateDnsName)"
            )
            logger.error("%s", message)
            raise MachineError(Code.INTERNAL, message)
        logger.info("machine %s: VM %s created, node name %s", name, provider_id, node_name)
        return CreateMachineResponse(provider_id=provider_id, node_name=node_name)

    def _run_instance(
        self, call: _Call, machine: Machine, run_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """One RunInstances: the instance it names (launched or replayed) and how EC2 describes it
        now (the answer itself when that already says the instance is gone; None when EC2 no
        longer knows an instance launched long ago)."""
        name = machine.metadata.name
        try:
            result = call.client.run_instances(**run_input)
        except _AWS_ERRORS as exc:
            if aws_error_code(exc) != IDEMPOTENT_PARAMETER_MISMATCH:
                raise machine_error(create_error_code(exc), exc, secrets=call.secrets) from exc
            token = str(run_input.get("ClientToken") or "")
            instances = self._adopt_after_mismatch(call, machine, token, exc)
        else:
            instances = [i for i in result.get("Instances") or () if i.get("InstanceId")]
        if not instances:
            raise MachineError(
                Code.INTERNAL,
                f'creation of VM failed for machine "{name}" - no non-empty instanceID found in '
                "runResult",
            )
        launched = instances[0]
        instance_id = str(launched["InstanceId"])
        if _state(launched) in _GONE_STATES:
            return launched, launched
        provider_id = encode_provider_id(call.spec.region, instance_id)
        launched_at = _launch_time(launched)
        long_ago = launched_at is not None and (
            self._clock.now() - launched_at > self._consistency_timeout + LAUNCH_TIME_SKEW
        )
        if not long_ago:
            logger.info("machine %s: launched %s, waiting until EC2 shows it", name, provider_id)
            return launched, self._wait_until_visible(call, instance_id, provider_id)
        # A replay of an answer older than any eventual-consistency delay: one look settles it.
        found = self._wait_until_visible(call, instance_id, provider_id, forgotten_if_missing=True)
        if found is None:
            logger.info(
                "machine %s: EC2 replays %s, launched at %s, but no longer knows it; taking it as "
                "terminated",
                name,
                provider_id,
                launched.get("LaunchTime"),
            )
        return launched, found

    def _root_device_name(self, call: _Call) -> str | None:
        """The AMI's root device name: DescribeImages once per AMI, region and credentials.

        Single-flight: while one caller looks a key up, the others wait for its answer instead
        of asking EC2 too (for at most `IMAGE_LOOKUP_WAIT`, then they ask). A failure reaches
        every waiter but is not cached.
        """
        key = (*call.image_key, call.spec.ami)
        with self._images_lock:
            cached = self._root_devices.get(key)
            if cached is not None:
                return cached
            lookup = self._image_lookups.get(key)
            leading = lookup is None
            if lookup is None:
                lookup = self._image_lookups[key] = _ImageLookup()
        if not leading:
            if not self._clock.wait(lookup.done, IMAGE_LOOKUP_WAIT):
                logger.warning("image %s: the lookup in flight is slow; asking EC2", call.spec.ami)
                return self._describe_root_device(call)
            if lookup.error is not None:
                raise MachineError(lookup.error.code, lookup.error.message) from lookup.error
            return lookup.root
        try:
            lookup.root = self._describe_root_device(call)
        except MachineError as error:
            lookup.error = error
            raise
        except BaseException:
            lookup.error = MachineError(Code.INTERNAL, f"looking up image {call.spec.ami} failed")
            raise
        finally:
            with self._images_lock:
                if lookup.root is not None:
                    self._root_devices[key] = lookup.root
                del self._image_lookups[key]
            lookup.done.set()
        return lookup.root

    def _describe_root_device(self, call: _Call) -> str | None:
        """DescribeImages of the class's AMI: its ``RootDeviceName`` (None if it has none)."""
        try:
            images = call.client.describe_images(ImageIds=[call.spec.ami]).get("Images") or []
        except _AWS_ERRORS as exc:
            raise machine_error(create_error_code(exc), exc, secrets=call.secrets) from exc
        if not images:
            raise MachineError(Code.NOT_FOUND, f"Image {call.spec.ami} not found")
        root = images[0].get("RootDeviceName")
        return None if root is None else str(root)

    def _adopt_after_mismatch(
        self, call: _Call, machine: Machine, token: str, exc: BaseException
    ) -> list[dict[str, Any]]:
        """*token* launched an instance with other parameters: the machine's live instance (by
        tags), else the one *token* launched (by the ``client-token`` filter), live or gone."""
        name = machine.metadata.name
        instances = self._instances_by_tags(call, name)
        if instances:
            logger.warning(
                "machine %s: the class changed since its VM %s was launched; adopting it",
                name,
                instances[0].get("InstanceId"),
            )
            return instances
        instances = list(self._describe_pages(call, [{"Name": "client-token", "Values": [token]}]))
        if not instances:
            raise machine_error(
                Code.INTERNAL,
                exc,
                secrets=call.secrets,
                prefix="an earlier create for this machine used other parameters and its VM "
                "cannot be found: ",
            ) from exc
        logger.warning(
            "machine %s: the class changed since its client token launched VM %s, now %s",
            name,
            instances[0].get("InstanceId"),
            _state(instances[0]) or "in an unknown state",
        )
        return instances

    @overload
    def _wait_until_visible(
        self, call: _Call, instance_id: str, provider_id: str
    ) -> dict[str, Any]: ...

    @overload
    def _wait_until_visible(
        self, call: _Call, instance_id: str, provider_id: str, *, forgotten_if_missing: bool
    ) -> dict[str, Any] | None: ...

    def _wait_until_visible(
        self, call: _Call, instance_id: str, provider_id: str, *, forgotten_if_missing: bool = False
    ) -> dict[str, Any] | None:
        """DescribeInstances(InstanceIds) with upstream's exponential back-off until it answers.

        With *forgotten_if_missing*, None as soon as EC2 says it does not know the instance
        (``InvalidInstanceID.NotFound`` or an empty answer); other failures are still retried.
        """
        deadline = self._clock.monotonic() + self._consistency_timeout
        interval = _BACKOFF_INITIAL
        while True:
            try:
                instances = self._instances_by_id(call, instance_id)
            except MachineError as error:
                if forgotten_if_missing and error.code is Code.NOT_FOUND:
                    return None
                logger.debug("%s is not visible yet: %s", provider_id, error.message)
            else:
                if instances:
                    return instances[0]
                if forgotten_if_missing:
                    return None
            delay = interval * self._random.uniform(
                1 - _BACKOFF_RANDOMIZATION, 1 + _BACKOFF_RANDOMIZATION
            )
            if self._clock.monotonic() + delay > deadline:
                raise MachineError(
                    Code.INTERNAL,
                    f'creation of VM "{provider_id}" failed, timed out waiting for eventual '
                    "consistency. Multiple VMs backing machine obj might spawn, they will be "
                    "orphan collected",
                )
            self._clock.sleep(delay)
            interval = min(interval * _BACKOFF_MULTIPLIER, _BACKOFF_MAX_INTERVAL)

    # --- InitializeMachine ----------------------------------------------------------------------

    def initialize_machine(self, request: InitializeMachineRequest) -> InitializeMachineResponse:
        with self._metrics.driver_operation(m.INITIALIZE_MACHINE):
            return self._initialize_machine(request)

    def _initialize_machine(self, request: InitializeMachineRequest) -> InitializeMachineResponse:
        machine = request.machine
        name = machine.metadata.name
        call = self._call(
            request.machine_class,
            request.secret,
            client_error_code=lambda _: Code.UNINITIALIZED,
            check_provider=False,
        )
        try:
            instances = self._instances_for_machine(call, machine)
        except MachineError as error:
            if error.code is Code.NOT_FOUND:
                logger.warning("machine %s: no instance to initialize: %s", name, error.message)
                raise MachineError(Code.UNINITIALIZED, str(error)) from error
            raise
        target = instances[0]
        instance_id = str(target.get("InstanceId") or "")
        provider_id = encode_provider_id(call.spec.region, instance_id)
        if call.spec.src_and_dst_checks_enabled is False:
            self._disable_source_dest_check(call, name, target)
        self._assign_ipv6_prefixes(call, name, target)
        return InitializeMachineResponse(
            provider_id=provider_id, node_name=str(target.get("PrivateDnsName") or "")
        )

    def _disable_source_dest_check(
        self, call: _Call, machine_name: str, instance: Mapping[str, Any]
    ) -> None:
        """Turn the source/destination check off on every non-EFA interface that has it on."""
        instance_id = instance.get("InstanceId")
        interfaces = instance.get("NetworkInterfaces") or []
        with self._metrics.api_call(m.INSTANCE_DISABLE_SOURCE_DEST_CHECK):
            if not interfaces:
                raise MachineError(
                    Code.UNINITIALIZED, f"no network interfaces found for instanceID {instance_id}"
                )
            last_error: BaseException | None = None
            for ni in interfaces:
                if ni.get("InterfaceType") in _EFA_TYPES or ni.get("SourceDestCheck") is False:
                    continue
                eni = ni.get("NetworkInterfaceId")
                try:
                    call.client.modify_network_interface_attribute(
                        NetworkInterfaceId=eni, SourceDestCheck={"Value": False}
                    )
                except _AWS_ERRORS as exc:
                    logger.warning(
                        "machine %s: disabling the source/destination check on %s failed: %s",
                        machine_name,
                        eni,
                        machine_error(Code.UNINITIALIZED, exc, secrets=call.secrets).message,
                    )
                    last_error = exc
                else:
                    logger.info(
                        "machine %s: source/destination check disabled on %s of %s",
                        machine_name,
                        eni,
                        instance_id,
                    )
            if last_error is not None:
                raise machine_error(Code.UNINITIALIZED, last_error, secrets=call.secrets)

    def _assign_ipv6_prefixes(
        self, call: _Call, machine_name: str, instance: Mapping[str, Any]
    ) -> None:
        """Upstream's prefix step: indexed by attachment device index, as upstream does."""
        wanted = call.spec.network_interfaces
        for ni in instance.get("NetworkInterfaces") or ():
            index = _device_index(ni)
            if index is None or not 0 <= index < len(wanted):
                continue
            count = wanted[index].ipv6_prefix_count
            have = len(ni.get("Ipv6Prefixes") or ())
            if count is None or have == count:
                continue
            eni = ni.get("NetworkInterfaceId")
            logger.info(
                "machine %s: assigning %d IPv6 prefixes to %s", machine_name, count - have, eni
            )
            try:
                call.client.assign_ipv6_addresses(
                    NetworkInterfaceId=eni, Ipv6PrefixCount=count - have
                )
            except _AWS_ERRORS as exc:
                raise machine_error(Code.UNINITIALIZED, exc, secrets=call.secrets) from exc

    # --- GetMachineStatus -----------------------------------------------------------------------

    def get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
        with self._metrics.driver_operation(m.GET_MACHINE_STATUS):
            return self._get_machine_status(request)

    def _get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
        machine = request.machine
        name = machine.metadata.name
        call = self._call(
            request.machine_class, request.secret, client_error_code=lambda _: Code.INTERNAL
        )
        instances = self._instances_for_machine(call, machine)
        if len(instances) > 1:
            ids = [str(i.get("InstanceId") or "") for i in instances]
            raise MachineError(
                Code.OUT_OF_RANGE,
                "AWS plugin is returning multiple VM instances backing this machine object. IDs "
                f"for all backing VMs - {_go_list(ids)} ",
            )
        instance = instances[0]
        instance_id = str(instance.get("InstanceId") or "")
        response = GetMachineStatusResponse(
            provider_id=encode_provider_id(call.spec.region, instance_id),
            node_name=str(instance.get("PrivateDnsName") or ""),
        )
        interfaces = instance.get("NetworkInterfaces") or ()
        if call.spec.src_and_dst_checks_enabled is False and any(
            ni.get("InterfaceType") not in _EFA_TYPES and ni.get("SourceDestCheck") is True
            for ni in interfaces
        ):
            raise MachineError(
                Code.UNINITIALIZED,
                f'VM "{instance_id}" associated with machine "{name}" has SourceDestCheck=true on '
                "a non-EFA interface despite providerSpec.SrcAndDstChecksEnabled=false",
                response=response,
            )
        wanted = call.spec.network_interfaces
        for ni in interfaces:
            index = _device_index(ni)
            if index is None or not 0 <= index < len(wanted):
                continue
            count = wanted[index].ipv6_prefix_count
            if count is not None and len(ni.get("Ipv6Prefixes") or ()) != count:
                raise MachineError(
                    Code.UNINITIALIZED,
                    f'VM "{instance_id}" associated with machine "{name}" has no ipv6 prefixes '
                    f'assigned on network interface "{ni.get("NetworkInterfaceId") or ""}" '
                    f"despite providerSpec.NetworkInterfaces[{index}].Ipv6PrefixCount={count}",
                    response=response,
                )
        return response

    # --- DeleteMachine --------------------------------------------------------------------------

    def delete_machine(self, request: DeleteMachineRequest) -> DeleteMachineResponse:
        with self._metrics.driver_operation(m.DELETE_MACHINE):
            return self._delete_machine(request)

    def _delete_machine(self, request: DeleteMachineRequest) -> DeleteMachineResponse:
        machine = request.machine
        name = machine.metadata.name
        call = self._call(
            request.machine_class, request.secret, client_error_code=lambda _: Code.INTERNAL
        )
        provider_id = machine.spec.provider_id
        if provider_id:
            try:
                instance_id = decode_provider_id(provider_id)
            except ValueError as error:
                raise MachineError(Code.INVALID_ARGUMENT, str(error)) from None
            try:
                instances = self._instances_by_id(call, instance_id)
            except MachineError as error:
                if error.code is not Code.NOT_FOUND:
                    raise
                instances = []
        else:
            instances = self._instances_by_tags(call, name)
        for instance in instances:
            instance_id = str(instance.get("InstanceId") or "")
            if not instance_id or _state(instance) in _GONE_STATES:
                logger.debug("machine %s: VM %s is %s", name, instance_id, _state(instance))
                continue
            self._terminate(call, name, instance_id)
        if not instances:
            logger.info("machine %s: no VM found; nothing to terminate", name)
        self._delete_orphaned_network_interfaces(call, name)
        return DeleteMachineResponse()

    def _terminate(self, call: _Call, machine_name: str, instance_id: str) -> None:
        """Upstream's ``terminateInstance``: a VM EC2 does not know counts as terminated."""
        with self._metrics.api_call(m.INSTANCE_TERMINATE):
            try:
                call.client.terminate_instances(InstanceIds=[instance_id], DryRun=False)
            except _AWS_ERRORS as exc:
                code = terminate_error_code(exc)
                if code is Code.NOT_FOUND:
                    logger.info(
                        "machine %s: VM %s not found while terminating; orphan collection "
                        "removes it should it appear late",
                        machine_name,
                        instance_id,
                    )
                    return
                logger.warning(
                    "machine %s: terminating VM %s failed: %s",
                    machine_name,
                    instance_id,
                    machine_error(code, exc, secrets=call.secrets).message,
                )
                raise machine_error(code, exc, secrets=call.secrets) from exc
        logger.info("machine %s: VM %s terminated", machine_name, instance_id)

    def _delete_orphaned_network_interfaces(self, call: _Call, machine_name: str) -> None:
        """Delete detached interfaces tagged for the machine. Best effort: failures are logged."""
        cluster, _ = _cluster_and_role_keys(call.spec.tags)
        filters = [
            {"Name": f"tag:{NAME_TAG}", "Values": [machine_name]},
            {"Name": "tag-key", "Values": [cluster]},
            {"Name": "status", "Values": ["available"]},
        ]
        try:
            with self._metrics.api_call(m.NETWORK_INTERFACE_CLEANUP):
                token = ""
                while True:
                    kwargs: dict[str, Any] = {"Filters": filters}
                    if token:
                        kwargs["NextToken"] = token
                    page = call.client.describe_network_interfaces(**kwargs)
                    for ni in page.get("NetworkInterfaces") or ():
                        self._delete_network_interface(call, machine_name, cluster, ni)
                    next_token = page.get("NextToken") or ""
                    if not next_token or next_token == token:
                        break
                    token = next_token
        except _AWS_ERRORS as exc:
            logger.warning(
                "machine %s: looking for orphaned network interfaces failed: %s",
                machine_name,
                machine_error(api_error_code(exc), exc, secrets=call.secrets).message,
            )

    def _delete_network_interface(
        self, call: _Call, machine_name: str, cluster: str, ni: Mapping[str, Any]
    ) -> None:
        eni = ni.get("NetworkInterfaceId")
        tagged = {"Tags": ni.get("TagSet") or ()}
        if (
            not eni
            or _tag_value(tagged, NAME_TAG) != machine_name
            or not _has_tag_keys(tagged, cluster)
        ):
            return  # not this machine's (a lenient EC2 double ignored a filter)
        try:
            call.client.delete_network_interface(NetworkInterfaceId=eni)
        except _AWS_ERRORS as exc:
            if aws_error_code(exc) != NETWORK_INTERFACE_ID_NOT_FOUND:
                logger.warning(
                    "machine %s: deleting orphaned network interface %s failed: %s",
                    machine_name,
                    eni,
                    machine_error(api_error_code(exc), exc, secrets=call.secrets).message,
                )
            return
        logger.info("machine %s: deleted orphaned network interface %s", machine_name, eni)

    # --- ListMachines ---------------------------------------------------------------------------

    def list_machines(self, request: ListMachinesRequest) -> ListMachinesResponse:
        with self._metrics.driver_operation(m.LIST_MACHINES):
            return self._list_machines(request)

    def _list_machines(self, request: ListMachinesRequest) -> ListMachinesResponse:
        call = self._call(
            request.machine_class, request.secret, client_error_code=lambda _: Code.INTERNAL
        )
        cluster, role = _cluster_and_role_keys(call.spec.tags)
        filters = [
            {"Name": "tag-key", "Values": [cluster]},
            {"Name": "tag-key", "Values": [role]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        machines: dict[str, str] = {}
        for instance in self._describe_pages(call, filters):
            instance_id = instance.get("InstanceId")
            if not instance_id or not _has_tag_keys(instance, cluster, role):
                continue
            provider_id = encode_provider_id(call.spec.region, str(instance_id))
            machines[provider_id] = _tag_value(instance, NAME_TAG) or ""
        logger.debug(
            "machine class %s: %d VMs listed", request.machine_class.metadata.name, len(machines)
        )
        return ListMachinesResponse(machine_list=machines)

    # --- GetVolumeIDs ---------------------------------------------------------------------------

    def get_volume_ids(self, request: GetVolumeIDsRequest) -> GetVolumeIDsResponse:
        with self._metrics.driver_operation(m.GET_VOLUME_IDS):
            return GetVolumeIDsResponse(volume_ids=_volume_ids(request.pv_specs))

    # --- migration ------------------------------------------------------------------------------

    def generate_machine_class_for_migration(
        self, request: GenerateMachineClassForMigrationRequest
    ) -> GenerateMachineClassForMigrationResponse:
        raise MachineError(
            Code.UNIMPLEMENTED, "the AWS driver does not migrate provider-specific classes"
        )


def _device_index(ni: Mapping[str, Any]) -> int | None:
    attachment = ni.get("Attachment")
    if not attachment:
        return None
    index = attachment.get("DeviceIndex")
    return int(index) if index is not None else None


def _volume_ids(pv_specs: Sequence[PersistentVolumeSpec]) -> tuple[str, ...]:
    """Upstream's GetVolumeIDs: in-tree EBS volume IDs translated, EBS CSI handles as they are."""
    ids: list[str] = []
    for spec in pv_specs:
        if spec.aws_elastic_block_store is not None:
            try:
                ids.append(
                    kubernetes_volume_id_to_ebs_volume_id(spec.aws_elastic_block_store.volume_id)
                )
            except ValueError as error:
                logger.warning("skipping a persistent volume: %s", error)
        elif (
            spec.csi is not None
            and spec.csi.driver == AWS_EBS_CSI_DRIVER
            and spec.csi.volume_handle
        ):
            ids.append(spec.csi.volume_handle)
    return tuple(ids)

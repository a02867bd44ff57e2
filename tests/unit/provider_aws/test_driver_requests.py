"""AWSDriver against a scripted `Ec2Client` stub: the exact EC2 requests, and the codes it returns.

The stub records every call with its parameters and answers from a script, so these tests pin the
request shapes (what upstream sends, and our additions) and the decision logic, with no AWS and no
moto. ``test_driver.py`` runs the same driver end to end on moto.
"""

from __future__ import annotations

import collections
import copy
import datetime
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from mcm.api.core import PersistentVolumeSpec
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.clock import FakeClock, utcnow
from mcm.driver import (
    Code,
    CreateMachineRequest,
    DeleteMachineRequest,
    Driver,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
    GetVolumeIDsRequest,
    InitializeMachineRequest,
    ListMachinesRequest,
    MachineError,
    SecretData,
    from_error,
)
from mcm_provider_aws.credentials import Credentials
from mcm_provider_aws.driver import (
    DEFAULT_CONSISTENCY_TIMEOUT,
    IMAGE_LOOKUP_WAIT,
    LAUNCH_TIME_SKEW,
    MAX_CLIENT_TOKEN_LINKS,
    AWSDriver,
    client_token,
    client_token_after,
    decode_provider_id,
    encode_provider_id,
    kubernetes_volume_id_to_ebs_volume_id,
)
from mcm_provider_aws.ec2 import ClientKey
from mcm_provider_aws.metrics import AWSMetrics

pytestmark = pytest.mark.timeout(10)

REGION = "eu-west-1"
CLUSTER_TAG = "kubernetes.io/cluster/shoot--test"
ROLE_TAG = "kubernetes.io/role/node"
ACCESS_KEY_ID = "AKIATESTEXAMPLE00001"
SECRET_ACCESS_KEY = "secret-access-key-for-tests-0001"
USER_DATA = b"#cloud-config\nhostname: web-0\n"
UID = "3f2b6c1e-8a8b-4c7e-9d1a-0b5a6c7d8e9f"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# --- the stub -------------------------------------------------------------------------------------


def aws_error(code: str, operation: str, message: str = "injected") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def reservation(*instances: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"Reservations": [{"Instances": list(instances)}]}
    if token is not None:
        page["NextToken"] = token
    return page


def instance(
    instance_id: str = "i-0123456789abcdef0",
    *,
    name: str = "web-0",
    state: str = "running",
    interfaces: list[dict[str, Any]] | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    all_tags = {CLUSTER_TAG: "1", ROLE_TAG: "1", "Name": name} if tags is None else tags
    return {
        "InstanceId": instance_id,
        "PrivateDnsName": f"ip-10-0-0-{instance_id[-1]}.eu-west-1.compute.internal",
        "State": {"Name": state},
        "SourceDestCheck": True,
        "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
        "NetworkInterfaces": interfaces if interfaces is not None else [],
    }


def interface(
    eni: str, index: int, *, check: bool = True, kind: str = "interface", prefixes: int = 0
) -> dict[str, Any]:
    return {
        "NetworkInterfaceId": eni,
        "InterfaceType": kind,
        "SourceDestCheck": check,
        "Attachment": {"DeviceIndex": index},
        "Ipv6Prefixes": [{"Ipv6Prefix": f"2a05:d018::{i}/80"} for i in range(prefixes)],
    }


Answer = dict[str, Any] | BaseException | Callable[[dict[str, Any]], dict[str, Any]]

DEFAULTS: dict[str, dict[str, Any]] = {
    "describe_images": {"Images": [{"ImageId": "ami-1", "RootDeviceName": "/dev/xvda"}]},
    "run_instances": {"Instances": [instance(state="pending")]},
    "describe_instances": reservation(instance()),
    "terminate_instances": {"TerminatingInstances": []},
    "modify_network_interface_attribute": {},
    "assign_ipv6_addresses": {},
    "describe_network_interfaces": {"NetworkInterfaces": []},
    "delete_network_interface": {},
}


class StubEC2:
    """An `Ec2Client` that records calls and answers from per-method scripts, then defaults."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._scripts: dict[str, collections.deque[Answer]] = collections.defaultdict(
            collections.deque
        )

    def script(self, method: str, *answers: Answer) -> None:
        self._scripts[method].extend(answers)

    def params(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _answer(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((method, copy.deepcopy(kwargs)))
        script = self._scripts[method]
        answer: Answer = script.popleft() if script else copy.deepcopy(DEFAULTS[method])
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(kwargs)
        return answer

    def describe_images(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("describe_images", kwargs)

    def run_instances(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("run_instances", kwargs)

    def describe_instances(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("describe_instances", kwargs)

    def terminate_instances(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("terminate_instances", kwargs)

    def modify_network_interface_attribute(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("modify_network_interface_attribute", kwargs)

    def assign_ipv6_addresses(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("assign_ipv6_addresses", kwargs)

    def describe_network_interfaces(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("describe_network_interfaces", kwargs)

    def delete_network_interface(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("delete_network_interface", kwargs)


class StubClients:
    """A `ClientProvider` handing out one `StubEC2`, remembering what it was asked for."""

    def __init__(self, ec2: StubEC2) -> None:
        self.ec2 = ec2
        self.requested: list[tuple[Credentials, str]] = []

    def client(self, credentials: Credentials, region: str) -> StubEC2:
        self.requested.append((credentials, region))
        return self.ec2

    def key(self, credentials: Credentials, region: str) -> ClientKey:
        return ClientKey(region, "fingerprint", None)


class SteppingClock(FakeClock):
    """A fake clock whose `sleep` returns at once, moving time forward and recording the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.step(seconds)


# --- objects --------------------------------------------------------------------------------------


def provider_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ami": "ami-0123456789abcdef0",
        "region": REGION,
        "machineType": "m5.large",
        "iam": {"name": "test-iam"},
        "keyName": "ssh-key",
        "networkInterfaces": [{"subnetID": "subnet-1", "securityGroupIDs": ["sg-1", "sg-2"]}],
        "blockDevices": [
            {
                "ebs": {
                    "volumeSize": 50,
                    "volumeType": "gp3",
                    "iops": 4000,
                    "throughput": 250,
                    "encrypted": True,
                    "kmsKeyID": KMS_KEY,
                }
            }
        ],
        "tags": {CLUSTER_TAG: "1", ROLE_TAG: "1", "Name": "not-the-machine", "team": "a"},
    }
    spec.update(overrides)
    return spec


def machine_class(spec: dict[str, Any] | None = None, *, provider: str = "AWS") -> MachineClass:
    return MachineClass.from_dict(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "provider": provider,
            "providerSpec": spec if spec is not None else provider_spec(),
        }
    )


def machine(
    name: str = "web-0",
    *,
    provider_id: str = "",
    uid: str = UID,
    annotations: dict[str, str] | None = None,
) -> Machine:
    return Machine.from_dict(
        {
            "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {
                "providerID": provider_id,
                "nodeTemplate": {"metadata": {"annotations": annotations or {}}},
            },
        }
    )


def secret(**extra: bytes) -> SecretData:
    return SecretData(
        {
            "providerAccessKeyId": ACCESS_KEY_ID.encode(),
            "providerSecretAccessKey": SECRET_ACCESS_KEY.encode(),
            "userData": USER_DATA,
            **extra,
        }
    )


@pytest.fixture
def ec2() -> StubEC2:
    return StubEC2()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def driver(ec2: StubEC2, clock: SteppingClock, registry: CollectorRegistry) -> AWSDriver:
    return AWSDriver(
        clients=StubClients(ec2), clock=clock, metrics=AWSMetrics(registry, clock=clock)
    )


def create(driver: AWSDriver, **kwargs: Any) -> Any:
    spec = kwargs.pop("spec", None)
    return driver.create_machine(
        CreateMachineRequest(
            machine=kwargs.pop("machine", machine()),
            machine_class=machine_class(spec),
            secret=kwargs.pop("secret", secret()),
        )
    )


def status(driver: AWSDriver, the_machine: Machine, spec: dict[str, Any] | None = None) -> Any:
    return driver.get_machine_status(
        GetMachineStatusRequest(
            machine=the_machine, machine_class=machine_class(spec), secret=secret()
        )
    )


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- identities -----------------------------------------------------------------------------------


def test_the_driver_satisfies_the_driver_protocol(driver):
    assert isinstance(driver, Driver)


def test_provider_ids_use_the_region_and_decode_to_the_instance_id():
    provider_id = encode_provider_id("eu-west-1", "i-0abc")

    assert provider_id == "aws:///eu-west-1/i-0abc"
    assert decode_provider_id(provider_id) == "i-0abc"
    assert decode_provider_id("eu-west-1/i-0abc") == "i-0abc"
    with pytest.raises(ValueError, match="unable to decode provider-ID"):
        decode_provider_id("i-0abc")


@pytest.mark.parametrize(
    ("uid", "expected_length"),
    [
        pytest.param(UID, 40, id="a-kubernetes-uid"),
        pytest.param("", 64, id="no-uid-hashes-the-name"),
        pytest.param("x" * 100, 64, id="too-long-hashes"),
        pytest.param("ünïcode", 64, id="non-ascii-hashes"),
    ],
)
def test_the_client_token_is_stable_ascii_and_fits_ec2s_limit(uid, expected_length):
    token = client_token(machine(uid=uid))

    assert token == client_token(machine(uid=uid))
    assert token.isascii()
    assert len(token) == expected_length
    assert token.startswith("mcm-")


def test_machines_with_different_uids_get_different_tokens():
    assert client_token(machine(uid="a")) != client_token(machine(uid="b"))
    assert client_token(machine(uid="")) != client_token(machine("web-1", uid=""))


def test_the_next_token_of_the_chain_is_stable_fits_ec2s_limit_and_names_the_instance():
    token = client_token_after(machine(), "i-1")

    assert token == client_token_after(machine(), "i-1")
    assert token.isascii()
    assert len(token) == 64
    assert token.startswith("mcm-")
    assert token != client_token(machine())
    assert token != client_token_after(machine(), "i-2")
    assert token != client_token_after(machine(uid="other"), "i-1")


# --- CreateMachine: the request -------------------------------------------------------------------


def test_create_sends_upstreams_run_instances_request_with_a_client_token(driver, ec2):
    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert response.node_name == "ip-10-0-0-0.eu-west-1.compute.internal"
    assert ec2.methods() == ["describe_images", "run_instances", "describe_instances"]
    assert ec2.params("describe_images") == [{"ImageIds": ["ami-0123456789abcdef0"]}]
    tags = [
        {"Key": CLUSTER_TAG, "Value": "1"},
        {"Key": ROLE_TAG, "Value": "1"},
        {"Key": "team", "Value": "a"},
        {"Key": "Name", "Value": "web-0"},
    ]
    assert ec2.params("run_instances") == [
        {
            "ImageId": "ami-0123456789abcdef0",
            "InstanceType": "m5.large",
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": USER_DATA,
            "IamInstanceProfile": {"Name": "test-iam"},
            "KeyName": "ssh-key",
            "NetworkInterfaces": [
                {
                    "Groups": ["sg-1", "sg-2"],
                    "SubnetId": "subnet-1",
                    "DeviceIndex": 0,
                    "DeleteOnTermination": True,
                }
            ],
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "Encrypted": True,
                        "VolumeSize": 50,
                        "VolumeType": "gp3",
                        "Iops": 4000,
                        "Throughput": 250,
                        "DeleteOnTermination": True,
                        "KmsKeyId": KMS_KEY,
                    },
                }
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
                {"ResourceType": "network-interface", "Tags": tags},
            ],
            "ClientToken": "mcm-" + UID,
        }
    ]
    assert ec2.params("describe_instances") == [{"InstanceIds": ["i-0123456789abcdef0"]}]


def run_input(driver: AWSDriver, ec2: StubEC2, **spec_overrides: Any) -> dict[str, Any]:
    create(driver, spec=provider_spec(**spec_overrides))
    params: dict[str, Any] = ec2.params("run_instances")[-1]
    return params


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        pytest.param(
            {
                "instanceMetadataOptions": {
                    "httpEndpoint": "enabled",
                    "httpPutResponseHopLimit": 2,
                    "httpTokens": "required",
                    "httpProtocolIpv6": "",
                }
            },
            "MetadataOptions",
            {"HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2, "HttpTokens": "required"},
            id="metadata-options-without-empty-values",
        ),
        pytest.param(
            {"iam": {"arn": "arn:aws:iam::123456789012:instance-profile/nodes"}},
            "IamInstanceProfile",
            {"Arn": "arn:aws:iam::123456789012:instance-profile/nodes"},
            id="iam-by-arn",
        ),
        pytest.param(
            {"cpuOptions": {"coreCount": 2, "threadsPerCore": 1, "amdSevSnp": "enabled"}},
            "CpuOptions",
            {"AmdSevSnp": "enabled", "CoreCount": 2, "ThreadsPerCore": 1},
            id="cpu-options",
        ),
        pytest.param(
            {"capacityReservation": {"capacityReservationPreference": "open"}},
            "CapacityReservationSpecification",
            {"CapacityReservationPreference": "open"},
            id="capacity-reservation-preference",
        ),
        pytest.param(
            {"capacityReservation": {"capacityReservationId": "cr-1"}},
            "CapacityReservationSpecification",
            {"CapacityReservationTarget": {"CapacityReservationId": "cr-1"}},
            id="capacity-reservation-target",
        ),
        pytest.param(
            {"spotPrice": ""},
            "InstanceMarketOptions",
            {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}},
            id="spot-without-max-price",
        ),
        pytest.param(
            {"spotPrice": "0.5"},
            "InstanceMarketOptions",
            {
                "MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time", "MaxPrice": "0.5"},
            },
            id="spot-with-max-price",
        ),
        pytest.param(
            {"spotPrice": "0.5", "instanceMarketOptions": {"marketType": "capacity-block"}},
            "InstanceMarketOptions",
            {"MarketType": "capacity-block"},
            id="market-type-wins-over-spot-price",
        ),
        pytest.param(
            {"placement": {"tenancy": "host", "hostId": "h-1", "affinity": "host"}},
            "Placement",
            {"Tenancy": "host", "HostId": "h-1", "Affinity": "host"},
            id="placement",
        ),
        pytest.param(
            {"placement": {"groupId": "pg-1", "partitionNumber": 2}},
            "Placement",
            {"GroupId": "pg-1", "PartitionNumber": 2},
            id="placement-group",
        ),
    ],
)
def test_optional_run_instances_parameters(driver, ec2, overrides, key, expected):
    assert run_input(driver, ec2, **overrides)[key] == expected


@pytest.mark.parametrize(
    "key",
    [
        "MetadataOptions",
        "CpuOptions",
        "CapacityReservationSpecification",
        "InstanceMarketOptions",
        "Placement",
    ],
)
def test_absent_options_are_not_sent(driver, ec2, key):
    assert key not in run_input(driver, ec2)


def test_cpu_options_with_amd_sev_snp_only(driver, ec2):
    sent = run_input(driver, ec2, cpuOptions={"amdSevSnp": "disabled"})

    assert sent["CpuOptions"] == {"AmdSevSnp": "disabled"}


def test_an_empty_key_name_is_not_sent(driver, ec2):
    assert "KeyName" not in run_input(driver, ec2, keyName="")


def test_network_interfaces_get_upstreams_defaults_and_all_their_options(driver, ec2):
    interfaces = [
        {"subnetID": "subnet-1", "securityGroupIDs": ["sg-1"], "ipv6AddressCount": 1},
        {
            "subnetID": "subnet-2",
            "securityGroupIDs": ["sg-2"],
            "deviceIndex": 3,
            "networkCardIndex": 1,
            "interfaceType": "efa",
            "associatePublicIPAddress": True,
            "deleteOnTermination": False,
            "description": "data",
            "ipv6AddressCount": 2,
            "primaryIpv6": False,
            "ipv6PrefixCount": 1,
        },
        {"subnetID": "subnet-3", "securityGroupIDs": ["sg-3"], "interfaceType": ""},
    ]

    sent = run_input(driver, ec2, networkInterfaces=interfaces)["NetworkInterfaces"]

    assert sent == [
        {
            "Groups": ["sg-1"],
            "SubnetId": "subnet-1",
            "DeviceIndex": 0,
            "DeleteOnTermination": True,
            "Ipv6AddressCount": 1,
            "PrimaryIpv6": True,
        },
        {
            "Groups": ["sg-2"],
            "SubnetId": "subnet-2",
            "DeviceIndex": 3,
            "DeleteOnTermination": False,
            "AssociatePublicIpAddress": True,
            "Description": "data",
            "NetworkCardIndex": 1,
            "InterfaceType": "efa",
            "Ipv6AddressCount": 2,
            "PrimaryIpv6": False,
        },
        {"Groups": ["sg-3"], "SubnetId": "subnet-3", "DeviceIndex": 2, "DeleteOnTermination": True},
    ]


def test_block_devices_rename_the_root_and_keep_data_disks(driver, ec2):
    devices = [
        {"deviceName": "/dev/sdb", "ebs": {"volumeSize": 100, "volumeType": "io1", "iops": 500}},
        {
            "deviceName": "/root",
            "ebs": {"volumeSize": 50, "volumeType": "gp2", "deleteOnTermination": False},
        },
        {
            "deviceName": "/dev/sdc",
            "ebs": {
                "volumeSize": 10,
                "volumeType": "gp2",
                "snapshotID": "snap-1",
                "kmsKeyID": KMS_KEY,  # not encrypted: ignored, as upstream ignores it
            },
        },
    ]

    sent = run_input(driver, ec2, blockDevices=devices)["BlockDeviceMappings"]

    assert sent == [
        {
            "DeviceName": "/dev/sdb",
            "Ebs": {
                "Encrypted": False,
                "VolumeSize": 100,
                "VolumeType": "io1",
                "Iops": 500,
                "DeleteOnTermination": True,
            },
        },
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {
                "Encrypted": False,
                "VolumeSize": 50,
                "VolumeType": "gp2",
                "DeleteOnTermination": False,
            },
        },
        {
            "DeviceName": "/dev/sdc",
            "Ebs": {
                "Encrypted": False,
                "VolumeSize": 10,
                "VolumeType": "gp2",
                "SnapshotId": "snap-1",
                "DeleteOnTermination": True,
            },
        },
    ]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        pytest.param(
            '{"affinity": "host", "availabilityZone": "eu-west-1a", "tenancy": "host"}',
            {"Affinity": "host", "AvailabilityZone": "eu-west-1a", "Tenancy": "host"},
            id="upstreams-example",
        ),
        pytest.param(
            '{"HostID": "h-1", "partitionnumber": 2, "unknown": 1}',
            {"HostId": "h-1", "PartitionNumber": 2},
            id="keys-match-case-insensitively-and-unknown-ones-are-ignored",
        ),
        pytest.param("{}", None, id="empty-object"),
        pytest.param("", None, id="empty-value"),
    ],
)
def test_placement_from_the_annotation_when_the_spec_has_none(driver, ec2, annotation, expected):
    the_machine = machine(annotations={"machine.sapcloud.io/awsPlacement": annotation})

    create(driver, machine=the_machine)

    assert ec2.params("run_instances")[0].get("Placement") == expected


@pytest.mark.parametrize(
    "annotation",
    [
        pytest.param("{not json", id="invalid-json"),
        pytest.param('{"partitionNumber": "two"}', id="wrong-type"),
        pytest.param("[1]", id="not-an-object"),
    ],
)
def test_a_bad_placement_annotation_is_internal(driver, ec2, annotation):
    the_machine = machine(annotations={"machine.sapcloud.io/awsPlacement": annotation})

    with pytest.raises(MachineError) as caught:
        create(driver, machine=the_machine)

    assert caught.value.code is Code.INTERNAL
    assert "run_instances" not in ec2.methods()


# --- CreateMachine: outcomes ----------------------------------------------------------------------


def test_the_amis_root_device_is_looked_up_once_per_ami(driver, ec2):
    create(driver)
    create(driver, machine=machine("web-1", uid="other"))
    create(driver, spec=provider_spec(ami="ami-other"))

    assert ec2.params("describe_images") == [
        {"ImageIds": ["ami-0123456789abcdef0"]},
        {"ImageIds": ["ami-other"]},
    ]


class HeldImages:
    """A `describe_images` answer that waits (bounded) for `release`, counting its calls."""

    def __init__(self, answer: dict[str, Any] | BaseException) -> None:
        self.answer = answer
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, _kwargs: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        self.entered.set()
        self.release.wait(5)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return copy.deepcopy(self.answer)


def create_concurrently(
    driver: AWSDriver, clock: FakeClock, held: HeldImages, count: int
) -> list[Any]:
    """*count* creates of different machines at once, the first one's DescribeImages held until
    the others wait for it; their responses or errors, in order."""
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = create(driver, machine=machine(f"web-{index}", uid=f"uid-{index}"))
        except MachineError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    threads[0].start()
    assert held.entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    waiting = clock.wait_for_waiters(count - 1, timeout=5)
    held.release.set()
    for thread in threads:
        thread.join(5)
    assert waiting, "the other creates did not wait for the lookup in flight"
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_concurrent_first_creates_make_one_image_lookup(driver, ec2, clock):
    held = HeldImages(copy.deepcopy(DEFAULTS["describe_images"]))
    ec2.script("describe_images", held, held, held)

    results = create_concurrently(driver, clock, held, 3)

    assert held.calls == 1
    assert all(not isinstance(result, MachineError) for result in results)
    roots = {p["BlockDeviceMappings"][0]["DeviceName"] for p in ec2.params("run_instances")}
    assert roots == {"/dev/xvda"}
    assert len(ec2.params("run_instances")) == 3


def test_a_failed_image_lookup_reaches_its_waiters_and_is_not_cached(driver, ec2, clock):
    held = HeldImages(aws_error("RequestLimitExceeded", "DescribeImages"))
    ec2.script("describe_images", held)

    results = create_concurrently(driver, clock, held, 3)
    ec2.calls.clear()
    create(driver)

    assert held.calls == 1
    assert [result.code for result in results] == [Code.UNAVAILABLE] * 3
    assert ec2.methods() == ["describe_images", "run_instances", "describe_instances"]


def test_a_create_waiting_too_long_for_an_image_lookup_asks_ec2_itself(driver, ec2, clock):
    held = HeldImages(copy.deepcopy(DEFAULTS["describe_images"]))
    ec2.script("describe_images", held)
    leader = threading.Thread(target=create, args=(driver,), daemon=True)
    leader.start()
    assert held.entered.wait(5)
    results: list[Any] = []
    follower = threading.Thread(
        target=lambda: results.append(create(driver, machine=machine("web-1", uid="uid-1"))),
        daemon=True,
    )
    follower.start()
    assert clock.wait_for_waiters(1, timeout=5)

    clock.step(IMAGE_LOOKUP_WAIT)
    follower.join(5)
    held.release.set()
    leader.join(5)

    (response,) = results
    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert held.calls == 1
    assert len(ec2.params("describe_images")) == 2


@pytest.mark.parametrize(
    ("aws_code", "expected"),
    [
        pytest.param("InsufficientInstanceCapacity", Code.RESOURCE_EXHAUSTED, id="no-capacity"),
        pytest.param("VcpuLimitExceeded", Code.RESOURCE_EXHAUSTED, id="quota"),
        pytest.param("RequestLimitExceeded", Code.UNAVAILABLE, id="throttled"),
        pytest.param("InvalidParameterValue", Code.INTERNAL, id="bad-request"),
    ],
)
def test_run_instances_failures_map_to_codes(driver, ec2, aws_code, expected):
    ec2.script("run_instances", aws_error(aws_code, "RunInstances"))

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is expected
    assert f"({aws_code})" in caught.value.message


def test_an_unknown_ami_is_internal_and_an_empty_answer_not_found(driver, ec2):
    ec2.script("describe_images", aws_error("InvalidAMIID.NotFound", "DescribeImages"))
    with pytest.raises(MachineError) as unknown:
        create(driver)
    ec2.script("describe_images", {"Images": []})
    with pytest.raises(MachineError) as empty:
        create(driver)

    assert unknown.value.code is Code.INTERNAL
    assert (empty.value.code, empty.value.message) == (
        Code.NOT_FOUND,
        "Image ami-0123456789abcdef0 not found",
    )


def test_no_block_devices_is_invalid_argument(driver, ec2):
    with pytest.raises(MachineError) as caught:
        create(driver, spec=provider_spec(blockDevices=[]))

    assert (caught.value.code, caught.value.message) == (
        Code.INVALID_ARGUMENT,
        "no block devices passed",
    )


def test_validation_failures_are_invalid_argument_with_upstreams_message(driver, ec2):
    with pytest.raises(MachineError) as caught:
        create(driver, spec=provider_spec(ami="", region=""))

    assert str(caught.value) == (
        "machine codes error: code = [InvalidArgument] message = [error while validating "
        "ProviderSpec [providerSpec.ami: Required value: AMI is required, providerSpec.region: "
        "Required value: Region is required]]"
    )
    assert ec2.calls == []


def test_another_provider_is_invalid_argument(driver, ec2):
    with pytest.raises(MachineError) as caught:
        driver.create_machine(
            CreateMachineRequest(
                machine=machine(), machine_class=machine_class(provider="GCP"), secret=secret()
            )
        )

    assert (caught.value.code, caught.value.message) == (
        Code.INVALID_ARGUMENT,
        "requested for Provider 'GCP', we only support 'AWS'",
    )


def test_create_waits_with_backoff_until_the_instance_is_visible(driver, ec2, clock):
    not_yet = aws_error("InvalidInstanceID.NotFound", "DescribeInstances")
    ec2.script("describe_instances", not_yet, not_yet, {"Reservations": []})

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert len(ec2.params("describe_instances")) == 4
    assert len(clock.sleeps) == 3
    assert 0.25 <= clock.sleeps[0] <= 0.75  # 0.5 s ± 50 %, then growing by 1.5


def test_create_gives_up_after_the_consistency_timeout(ec2, clock, registry):
    driver = AWSDriver(
        clients=StubClients(ec2),
        clock=clock,
        metrics=AWSMetrics(registry, clock=clock),
        consistency_timeout=30.0,
    )
    ec2.script(
        "describe_instances", *[aws_error("InvalidInstanceID.NotFound", "DescribeInstances")] * 50
    )

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "timed out waiting for eventual consistency" in caught.value.message
    assert sum(clock.sleeps) <= 30.0


def test_a_replayed_token_of_a_terminated_instance_is_followed_by_the_next_token(driver, ec2):
    ec2.script(
        "run_instances",
        {"Instances": [instance("i-000000000000000a1", state="pending")]},
        {"Instances": [instance("i-000000000000000b2", state="pending")]},
    )
    ec2.script(
        "describe_instances",
        reservation(instance("i-000000000000000a1", state="terminated")),
        reservation(instance("i-000000000000000b2", state="pending")),
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000b2"
    assert [p["ClientToken"] for p in ec2.params("run_instances")] == [
        client_token(machine()),
        client_token_after(machine(), "i-000000000000000a1"),
    ]
    first, second = ec2.params("run_instances")
    assert {**first, "ClientToken": ""} == {**second, "ClientToken": ""}


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_an_answer_naming_a_gone_instance_moves_on_without_describing_it(driver, ec2, state):
    ec2.script(
        "run_instances",
        {"Instances": [instance("i-000000000000000a1", state=state)]},
        {"Instances": [instance("i-000000000000000b2", state="pending")]},
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000b2"
    assert ec2.params("describe_instances") == [{"InstanceIds": ["i-000000000000000b2"]}]


@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped"])
def test_a_replayed_live_instance_ends_the_chain(driver, ec2, state):
    ec2.script("describe_instances", reservation(instance(state=state)))

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert len(ec2.params("run_instances")) == 1


def test_a_chain_of_terminated_instances_ends_after_the_last_link_with_internal(driver, ec2):
    ids = [f"i-{n:017x}" for n in range(MAX_CLIENT_TOKEN_LINKS + 1)]
    ec2.script("run_instances", *[{"Instances": [instance(i, state="terminated")]} for i in ids])

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "terminated" in caught.value.message
    tokens = [p["ClientToken"] for p in ec2.params("run_instances")]
    assert tokens == [client_token(machine())] + [
        client_token_after(machine(), i) for i in ids[: MAX_CLIENT_TOKEN_LINKS - 1]
    ]


def test_a_next_token_used_with_other_parameters_adopts_the_machines_live_instance(driver, ec2):
    ec2.script(
        "run_instances",
        {"Instances": [instance("i-000000000000000a1", state="terminated")]},
        aws_error("IdempotentParameterMismatch", "RunInstances"),
    )
    ec2.script(
        "describe_instances",
        reservation(instance("i-000000000000000b2")),
        reservation(instance("i-000000000000000b2")),
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000b2"
    lookup = ec2.params("describe_instances")[0]
    assert {"Name": "tag:Name", "Values": ["web-0"]} in lookup["Filters"]


def test_a_token_used_with_other_parameters_adopts_the_machines_instance(driver, ec2):
    ec2.script("run_instances", aws_error("IdempotentParameterMismatch", "RunInstances"))
    ec2.script("describe_instances", reservation(instance("i-000000000000000a1")))

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000a1"
    lookup = ec2.params("describe_instances")[0]
    assert {"Name": "tag:Name", "Values": ["web-0"]} in lookup["Filters"]


def launched(instance_id: str, clock: FakeClock, *, age: float) -> dict[str, Any]:
    """A RunInstances answer's instance: pending, launched *age* seconds before *clock*'s now."""
    pending = instance(instance_id, state="pending")
    pending["LaunchTime"] = utcnow(clock) - datetime.timedelta(seconds=age)
    return pending


LONG_AGO = 3600.0  # EC2 forgets a terminated instance about an hour after its termination


@pytest.mark.parametrize(
    "unknown",
    [
        pytest.param(aws_error("InvalidInstanceID.NotFound", "DescribeInstances"), id="not-found"),
        pytest.param({"Reservations": []}, id="empty"),
    ],
)
def test_a_replay_launched_long_ago_that_ec2_no_longer_knows_moves_on_without_waiting(
    driver, ec2, clock, unknown
):
    ec2.script(
        "run_instances",
        {"Instances": [launched("i-000000000000000a1", clock, age=LONG_AGO)]},
        {"Instances": [launched("i-000000000000000b2", clock, age=0.0)]},
    )
    ec2.script("describe_instances", unknown, reservation(instance("i-000000000000000b2")))

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000b2"
    assert clock.sleeps == []
    assert [p["ClientToken"] for p in ec2.params("run_instances")] == [
        client_token(machine()),
        client_token_after(machine(), "i-000000000000000a1"),
    ]
    assert ec2.params("describe_instances") == [
        {"InstanceIds": ["i-000000000000000a1"]},
        {"InstanceIds": ["i-000000000000000b2"]},
    ]


@pytest.mark.parametrize(
    "age",
    [
        pytest.param(0.0, id="just-launched"),
        pytest.param(DEFAULT_CONSISTENCY_TIMEOUT, id="launched-a-consistency-timeout-ago"),
        pytest.param(
            DEFAULT_CONSISTENCY_TIMEOUT + LAUNCH_TIME_SKEW - 1, id="within-the-clock-skew"
        ),
        pytest.param(-LAUNCH_TIME_SKEW, id="ec2s-clock-ahead"),
    ],
)
def test_a_launch_not_visible_yet_is_waited_for_even_when_its_launch_time_is_not_fresh(
    driver, ec2, clock, age
):
    not_yet = aws_error("InvalidInstanceID.NotFound", "DescribeInstances")
    ec2.script("run_instances", {"Instances": [launched("i-000000000000000a1", clock, age=age)]})
    ec2.script("describe_instances", not_yet, not_yet, reservation(instance("i-000000000000000a1")))

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000a1"
    assert len(clock.sleeps) == 2
    assert len(ec2.params("run_instances")) == 1


def test_a_launch_that_never_becomes_visible_still_times_out_after_the_consistency_wait(
    driver, ec2, clock
):
    ec2.script("run_instances", {"Instances": [launched("i-000000000000000a1", clock, age=0.0)]})
    ec2.script(
        "describe_instances", *[aws_error("InvalidInstanceID.NotFound", "DescribeInstances")] * 50
    )

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "timed out waiting for eventual consistency" in caught.value.message
    assert len(ec2.params("run_instances")) == 1
    assert DEFAULT_CONSISTENCY_TIMEOUT / 2 < sum(clock.sleeps) <= DEFAULT_CONSISTENCY_TIMEOUT


def test_a_replay_launched_long_ago_that_ec2_still_shows_ends_the_chain(driver, ec2, clock):
    ec2.script(
        "run_instances", {"Instances": [launched("i-000000000000000a1", clock, age=LONG_AGO)]}
    )
    ec2.script("describe_instances", reservation(instance("i-000000000000000a1")))

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000a1"
    assert clock.sleeps == []
    assert len(ec2.params("run_instances")) == 1


def test_a_replay_launched_long_ago_is_described_again_after_other_failures(driver, ec2, clock):
    ec2.script(
        "run_instances", {"Instances": [launched("i-000000000000000a1", clock, age=LONG_AGO)]}
    )
    ec2.script(
        "describe_instances",
        aws_error("RequestLimitExceeded", "DescribeInstances"),
        reservation(instance("i-000000000000000a1")),
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000a1"
    assert len(clock.sleeps) == 1
    assert len(ec2.params("run_instances")) == 1


def test_a_chain_of_forgotten_replays_ends_after_the_last_link_with_internal(driver, ec2, clock):
    ids = [f"i-{n:017x}" for n in range(MAX_CLIENT_TOKEN_LINKS)]
    ec2.script("run_instances", *[{"Instances": [launched(i, clock, age=LONG_AGO)]} for i in ids])
    ec2.script("describe_instances", *[{"Reservations": []}] * MAX_CLIENT_TOKEN_LINKS)

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "no longer known to EC2" in caught.value.message
    assert clock.sleeps == []


def test_a_token_used_with_other_parameters_whose_instance_is_gone_continues_the_chain(driver, ec2):
    ec2.script(
        "run_instances",
        aws_error("IdempotentParameterMismatch", "RunInstances"),
        {"Instances": [instance("i-000000000000000b2", state="pending")]},
    )
    ec2.script(
        "describe_instances",
        {"Reservations": []},  # by tags: nothing live
        reservation(instance("i-000000000000000a1", state="terminated")),  # by client token
        reservation(instance("i-000000000000000b2")),
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000b2"
    assert [p["ClientToken"] for p in ec2.params("run_instances")] == [
        client_token(machine()),
        client_token_after(machine(), "i-000000000000000a1"),
    ]
    by_token = ec2.params("describe_instances")[1]
    assert by_token == {"Filters": [{"Name": "client-token", "Values": [client_token(machine())]}]}


def test_a_token_used_with_other_parameters_adopts_its_live_instance_the_tags_miss(driver, ec2):
    ec2.script("run_instances", aws_error("IdempotentParameterMismatch", "RunInstances"))
    ec2.script(
        "describe_instances",
        {"Reservations": []},
        reservation(instance("i-000000000000000a1", tags={"Name": "web-0"})),
        reservation(instance("i-000000000000000a1", tags={"Name": "web-0"})),
    )

    response = create(driver)

    assert response.provider_id == "aws:///eu-west-1/i-000000000000000a1"
    assert len(ec2.params("run_instances")) == 1


def test_a_token_used_with_other_parameters_whose_instance_cannot_be_found_is_internal(driver, ec2):
    ec2.script("run_instances", aws_error("IdempotentParameterMismatch", "RunInstances"))
    ec2.script("describe_instances", {"Reservations": []}, {"Reservations": []})

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "used other parameters and its VM cannot be found" in caught.value.message
    assert len(ec2.params("run_instances")) == 1


def test_an_instance_without_a_private_dns_name_is_internal(driver, ec2):
    nameless = instance()
    nameless["PrivateDnsName"] = ""
    ec2.script("run_instances", {"Instances": [nameless]})
    ec2.script("describe_instances", reservation(nameless))

    with pytest.raises(MachineError) as caught:
        create(driver)

    assert caught.value.code is Code.INTERNAL
    assert "does not yet have a nodeName" in caught.value.message


def test_secrets_never_reach_an_error_message(driver, ec2):
    leak = f"rejected {ACCESS_KEY_ID} / {SECRET_ACCESS_KEY} / {USER_DATA.decode()}"
    ec2.script("run_instances", aws_error("AuthFailure", "RunInstances", leak))

    with pytest.raises(MachineError) as caught:
        create(driver)

    text = str(caught.value)
    assert ACCESS_KEY_ID not in text
    assert SECRET_ACCESS_KEY not in text
    assert USER_DATA.decode().strip() not in text
    assert "(AuthFailure)" in text


# --- GetMachineStatus -----------------------------------------------------------------------------


def test_status_by_provider_id_describes_that_instance_only(driver, ec2):
    response = status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert ec2.calls == [("describe_instances", {"InstanceIds": ["i-0123456789abcdef0"]})]


def test_status_without_provider_id_looks_up_the_tags(driver, ec2):
    response = status(driver, machine())

    assert response.node_name == "ip-10-0-0-0.eu-west-1.compute.internal"
    assert ec2.params("describe_instances") == [
        {
            "Filters": [
                {"Name": "tag:Name", "Values": ["web-0"]},
                {"Name": "tag-key", "Values": [CLUSTER_TAG]},
                {"Name": "tag-key", "Values": [ROLE_TAG]},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ]
        }
    ]


@pytest.mark.parametrize(
    ("the_machine", "answer", "message"),
    [
        pytest.param(
            machine(), {"Reservations": []}, "No ProviderID found on the machine", id="no-id"
        ),
        pytest.param(
            machine(provider_id="aws:///eu-west-1/i-1"),
            aws_error("InvalidInstanceID.NotFound", "DescribeInstances"),
            "AWS plugin is returning no VM instances backing this machine object",
            id="unknown-id",
        ),
        pytest.param(
            machine(provider_id="aws:///eu-west-1/i-1"),
            {"Reservations": []},
            "AWS plugin is returning no VM instances backing this machine object",
            id="empty-answer",
        ),
    ],
)
def test_status_of_a_missing_vm_is_not_found(driver, ec2, the_machine, answer, message):
    ec2.script("describe_instances", answer)

    with pytest.raises(MachineError) as caught:
        status(driver, the_machine)

    assert (caught.value.code, caught.value.message) == (Code.NOT_FOUND, message)


def test_status_finds_a_terminated_instance_by_its_provider_id(driver, ec2):
    ec2.script("describe_instances", reservation(instance(state="terminated")))

    response = status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"


def test_two_instances_with_the_machines_name_are_out_of_range(driver, ec2):
    ec2.script("describe_instances", reservation(instance("i-a"), instance("i-b")))

    with pytest.raises(MachineError) as caught:
        status(driver, machine())

    assert (caught.value.code, caught.value.message) == (
        Code.OUT_OF_RANGE,
        "AWS plugin is returning multiple VM instances backing this machine object. IDs for all "
        "backing VMs - [i-a i-b] ",
    )


def test_tag_lookups_page_until_the_token_repeats(driver, ec2):
    ec2.script(
        "describe_instances",
        reservation(instance("i-1"), token="t1"),
        reservation(token="t2"),
        reservation(token="t2"),
    )

    response = status(driver, machine())

    assert response.provider_id == "aws:///eu-west-1/i-1"
    tokens = [p.get("NextToken") for p in ec2.params("describe_instances")]
    assert tokens == [None, "t1", "t2"]


def test_a_provider_id_without_an_instance_id_is_invalid_argument(driver, ec2):
    with pytest.raises(MachineError) as caught:
        status(driver, machine(provider_id="garbage"))

    assert (caught.value.code, caught.value.message) == (
        Code.INVALID_ARGUMENT,
        "unable to decode provider-ID",
    )


def test_status_is_uninitialized_while_a_source_dest_check_is_on(driver, ec2):
    spec = provider_spec(srcAndDstChecksEnabled=False)
    interfaces = [interface("eni-efa", 1, kind="efa"), interface("eni-1", 0)]
    ec2.script("describe_instances", reservation(instance(interfaces=interfaces)))

    with pytest.raises(MachineError) as caught:
        status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert caught.value.code is Code.UNINITIALIZED
    assert caught.value.message == (
        'VM "i-0123456789abcdef0" associated with machine "web-0" has SourceDestCheck=true on a '
        "non-EFA interface despite providerSpec.SrcAndDstChecksEnabled=false"
    )
    assert isinstance(caught.value.response, GetMachineStatusResponse)
    assert caught.value.response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    decoded, _ = from_error(caught.value)
    assert decoded.response is caught.value.response


def test_status_ignores_efa_interfaces_and_is_ok_once_checks_are_off(driver, ec2):
    spec = provider_spec(srcAndDstChecksEnabled=False)
    interfaces = [interface("eni-efa", 1, kind="efa"), interface("eni-1", 0, check=False)]
    ec2.script("describe_instances", reservation(instance(interfaces=interfaces)))

    response = status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert response.node_name


def test_status_is_uninitialized_while_ipv6_prefixes_are_missing(driver, ec2):
    spec = provider_spec(
        networkInterfaces=[{"subnetID": "s", "securityGroupIDs": ["sg"], "ipv6PrefixCount": 2}]
    )
    ec2.script(
        "describe_instances",
        reservation(instance(interfaces=[interface("eni-1", 0, prefixes=1)])),
    )

    with pytest.raises(MachineError) as caught:
        status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert caught.value.code is Code.UNINITIALIZED
    assert caught.value.message.endswith(
        'network interface "eni-1" despite providerSpec.NetworkInterfaces[0].Ipv6PrefixCount=2'
    )


# --- InitializeMachine ----------------------------------------------------------------------------


def initialize(driver: AWSDriver, the_machine: Machine, spec: dict[str, Any]) -> Any:
    return driver.initialize_machine(
        InitializeMachineRequest(
            machine=the_machine, machine_class=machine_class(spec), secret=secret()
        )
    )


def test_initialize_disables_the_check_on_non_efa_interfaces_that_have_it(driver, ec2):
    spec = provider_spec(srcAndDstChecksEnabled=False)
    interfaces = [
        interface("eni-1", 0),
        interface("eni-efa", 1, kind="efa"),
        interface("eni-2", 2, check=False),
        interface("eni-3", 3),
    ]
    ec2.script("describe_instances", reservation(instance(interfaces=interfaces)))

    response = initialize(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"
    assert ec2.methods() == [
        "describe_instances",
        "modify_network_interface_attribute",
        "modify_network_interface_attribute",
    ]
    assert ec2.params("modify_network_interface_attribute") == [
        {"NetworkInterfaceId": "eni-1", "SourceDestCheck": {"Value": False}},
        {"NetworkInterfaceId": "eni-3", "SourceDestCheck": {"Value": False}},
    ]


def test_initialize_keeps_checks_when_the_class_does_not_ask(driver, ec2):
    ec2.script("describe_instances", reservation(instance(interfaces=[interface("eni-1", 0)])))

    initialize(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), provider_spec())

    assert ec2.methods() == ["describe_instances"]


def test_initialize_assigns_the_missing_ipv6_prefixes_by_device_index(driver, ec2):
    spec = provider_spec(
        networkInterfaces=[
            {"subnetID": "s", "securityGroupIDs": ["sg"]},
            {"subnetID": "s", "securityGroupIDs": ["sg"], "ipv6PrefixCount": 3},
        ]
    )
    interfaces = [interface("eni-0", 0), interface("eni-1", 1, prefixes=1)]
    ec2.script("describe_instances", reservation(instance(interfaces=interfaces)))

    initialize(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert ec2.params("assign_ipv6_addresses") == [
        {"NetworkInterfaceId": "eni-1", "Ipv6PrefixCount": 2}
    ]


def test_initialize_without_an_instance_is_uninitialized_wrapping_not_found(driver, ec2):
    ec2.script("describe_instances", {"Reservations": []})

    with pytest.raises(MachineError) as caught:
        initialize(driver, machine(), provider_spec())

    assert str(caught.value) == (
        "machine codes error: code = [Uninitialized] message = [machine codes error: code = "
        "[NotFound] message = [No ProviderID found on the machine]]"
    )


def test_initialize_failures_are_uninitialized(driver, ec2):
    spec = provider_spec(srcAndDstChecksEnabled=False)
    ec2.script("describe_instances", reservation(instance(interfaces=[interface("eni-1", 0)])))
    ec2.script(
        "modify_network_interface_attribute",
        aws_error("UnauthorizedOperation", "ModifyNetworkInterfaceAttribute"),
    )

    with pytest.raises(MachineError) as caught:
        initialize(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert caught.value.code is Code.UNINITIALIZED


def test_initialize_does_not_check_the_provider(driver, ec2):
    response = driver.initialize_machine(
        InitializeMachineRequest(
            machine=machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"),
            machine_class=machine_class(provider="something-else"),
            secret=secret(),
        )
    )

    assert response.provider_id == "aws:///eu-west-1/i-0123456789abcdef0"


# --- DeleteMachine --------------------------------------------------------------------------------


def delete(driver: AWSDriver, the_machine: Machine) -> Any:
    return driver.delete_machine(
        DeleteMachineRequest(machine=the_machine, machine_class=machine_class(), secret=secret())
    )


def test_delete_by_provider_id_terminates_and_sweeps_orphaned_interfaces(driver, ec2):
    ec2.script(
        "describe_network_interfaces",
        {
            "NetworkInterfaces": [
                {
                    "NetworkInterfaceId": "eni-orphan",
                    "TagSet": [
                        {"Key": "Name", "Value": "web-0"},
                        {"Key": CLUSTER_TAG, "Value": "1"},
                    ],
                },
                {  # another machine's: a lenient double ignored the Name filter
                    "NetworkInterfaceId": "eni-other",
                    "TagSet": [
                        {"Key": "Name", "Value": "web-1"},
                        {"Key": CLUSTER_TAG, "Value": "1"},
                    ],
                },
            ]
        },
    )

    delete(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert ec2.calls == [
        ("describe_instances", {"InstanceIds": ["i-0123456789abcdef0"]}),
        ("terminate_instances", {"InstanceIds": ["i-0123456789abcdef0"], "DryRun": False}),
        (
            "describe_network_interfaces",
            {
                "Filters": [
                    {"Name": "tag:Name", "Values": ["web-0"]},
                    {"Name": "tag-key", "Values": [CLUSTER_TAG]},
                    {"Name": "status", "Values": ["available"]},
                ]
            },
        ),
        ("delete_network_interface", {"NetworkInterfaceId": "eni-orphan"}),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(aws_error("InvalidInstanceID.NotFound", "DescribeInstances"), id="unknown"),
        pytest.param(reservation(instance(state="terminated")), id="terminated"),
        pytest.param(reservation(instance(state="shutting-down")), id="shutting-down"),
    ],
)
def test_deleting_a_vm_that_is_gone_succeeds_without_terminating(driver, ec2, answer):
    ec2.script("describe_instances", answer)

    delete(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert "terminate_instances" not in ec2.methods()


def test_a_terminate_answered_not_found_is_success(driver, ec2):
    ec2.script("terminate_instances", aws_error("InvalidInstanceID.NotFound", "TerminateInstances"))

    delete(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))


def test_a_failed_terminate_fails_the_delete(driver, ec2):
    ec2.script("terminate_instances", aws_error("UnauthorizedOperation", "TerminateInstances"))

    with pytest.raises(MachineError) as caught:
        delete(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert caught.value.code is Code.INTERNAL


def test_delete_without_provider_id_terminates_every_instance_found_by_tags(driver, ec2):
    ec2.script("describe_instances", reservation(instance("i-a"), instance("i-b")))

    delete(driver, machine())

    assert ec2.params("terminate_instances") == [
        {"InstanceIds": ["i-a"], "DryRun": False},
        {"InstanceIds": ["i-b"], "DryRun": False},
    ]


def test_a_failing_interface_sweep_does_not_fail_the_delete(driver, ec2):
    ec2.script(
        "describe_network_interfaces",
        aws_error("UnauthorizedOperation", "DescribeNetworkInterfaces"),
    )

    delete(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"))

    assert "terminate_instances" in ec2.methods()


# --- ListMachines ---------------------------------------------------------------------------------


def test_list_reports_provider_ids_and_name_tags_of_the_class_cluster_and_role(driver, ec2):
    ec2.script(
        "describe_instances",
        reservation(instance("i-1", name="web-0"), token="t1"),
        reservation(
            instance("i-2", tags={CLUSTER_TAG: "1", ROLE_TAG: "1"}),
            instance("i-3", tags={ROLE_TAG: "1", "Name": "other-cluster"}),
        ),
    )

    response = driver.list_machines(
        ListMachinesRequest(machine_class=machine_class(), secret=secret())
    )

    assert dict(response.machine_list) == {
        "aws:///eu-west-1/i-1": "web-0",
        "aws:///eu-west-1/i-2": "",
    }
    assert ec2.params("describe_instances")[0] == {
        "Filters": [
            {"Name": "tag-key", "Values": [CLUSTER_TAG]},
            {"Name": "tag-key", "Values": [ROLE_TAG]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ]
    }


def test_a_failed_list_page_is_internal(driver, ec2):
    ec2.script("describe_instances", aws_error("UnauthorizedOperation", "DescribeInstances"))

    with pytest.raises(MachineError) as caught:
        driver.list_machines(ListMachinesRequest(machine_class=machine_class(), secret=secret()))

    assert caught.value.code is Code.INTERNAL


def test_the_cluster_and_role_keys_are_chosen_deterministically(driver, ec2):
    tags = {
        "kubernetes.io/role/z": "1",
        "kubernetes.io/cluster/b": "1",
        "kubernetes.io/cluster/a": "1",
        "kubernetes.io/role/y": "1",
    }

    driver.list_machines(
        ListMachinesRequest(machine_class=machine_class(provider_spec(tags=tags)), secret=secret())
    )

    filters = ec2.params("describe_instances")[0]["Filters"]
    assert filters[:2] == [
        {"Name": "tag-key", "Values": ["kubernetes.io/cluster/a"]},
        {"Name": "tag-key", "Values": ["kubernetes.io/role/y"]},
    ]


# --- GetVolumeIDs ---------------------------------------------------------------------------------


def pv(spec: dict[str, Any]) -> PersistentVolumeSpec:
    return PersistentVolumeSpec.from_dict(spec)


def test_volume_ids_of_ebs_csi_and_in_tree_volumes(driver, ec2):
    specs = (
        pv({"awsElasticBlockStore": {"volumeID": "aws://eu-east-2b/vol-xxxxyyyyzzzz11112"}}),
        pv({"awsElasticBlockStore": {"volumeID": "aws:///vol-2"}}),
        pv({"awsElasticBlockStore": {"volumeID": "vol-3"}}),
        pv({"awsElasticBlockStore": {"volumeID": "aws://zone/notvol"}}),
        pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1234"}}),
        pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": ""}}),
        pv({"csi": {"driver": "io.kubernetes.storage.mock", "volumeHandle": "vol-mock"}}),
        pv({"hostPath": {"path": "/mnt"}}),
    )

    response = driver.get_volume_ids(GetVolumeIDsRequest(pv_specs=specs))

    assert response.volume_ids == ("vol-xxxxyyyyzzzz11112", "vol-2", "vol-3", "vol-1234")
    assert ec2.calls == []


@pytest.mark.parametrize(
    ("volume_id", "message"),
    [
        pytest.param("aws://zone/notvol", "invalid format for AWS volume", id="not-a-volume"),
        pytest.param("aws://zone/vol-1/extra", "invalid format for AWS volume", id="nested"),
    ],
)
def test_in_tree_volume_ids_that_are_not_ebs_volumes(volume_id, message):
    with pytest.raises(ValueError, match=message):
        kubernetes_volume_id_to_ebs_volume_id(volume_id)


# --- metrics --------------------------------------------------------------------------------------


def test_driver_and_step_metrics_use_upstreams_names_and_labels(driver, ec2, registry):
    create(driver)
    ec2.script("run_instances", aws_error("InsufficientInstanceCapacity", "RunInstances"))
    with pytest.raises(MachineError):
        create(driver)
    ec2.script("describe_instances", {"Reservations": []})
    with pytest.raises(MachineError):
        status(driver, machine(provider_id="aws:///eu-west-1/i-1"))

    assert (
        sample(
            registry,
            "mcm_cloud_api_driver_request_duration_seconds_count",
            provider="aws",
            operation="create_machine",
        )
        == 1
    )
    assert (
        sample(
            registry,
            "mcm_cloud_api_driver_requests_failed_total",
            provider="aws",
            operation="create_machine",
            error_code="8",
        )
        == 1
    )
    assert (
        sample(
            registry,
            "mcm_cloud_api_driver_requests_failed_total",
            provider="aws",
            operation="get_machine_status",
            error_code="5",
        )
        == 1
    )
    assert (
        sample(
            registry, "mcm_cloud_api_requests_total", provider="aws", service="instance_get_by_id"
        )
        == 2
    )
    assert (
        sample(
            registry,
            "mcm_cloud_api_requests_failed_total",
            provider="aws",
            service="instance_get_by_machine",
        )
        == 1
    )


def test_an_uninitialized_status_counts_as_failed_with_code_17(driver, ec2, registry):
    spec = provider_spec(srcAndDstChecksEnabled=False)
    ec2.script("describe_instances", reservation(instance(interfaces=[interface("eni-1", 0)])))

    with pytest.raises(MachineError):
        status(driver, machine(provider_id="aws:///eu-west-1/i-0123456789abcdef0"), spec)

    assert (
        sample(
            registry,
            "mcm_cloud_api_driver_requests_failed_total",
            provider="aws",
            operation="get_machine_status",
            error_code="17",
        )
        == 1
    )

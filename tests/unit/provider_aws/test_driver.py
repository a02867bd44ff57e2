"""AWSDriver end to end on moto, through the fault front: real boto3 clients, real EC2 semantics.

moto ignores much of RunInstances (aws-provider spec §9.2), so exact request shapes are pinned in
``test_driver_requests.py``; here the driver runs against an EC2 that keeps state, answers with
moto's errors and, through `FaultFront`, with injected ones, and counts the calls per action.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import botocore.endpoint
import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.iam_instance_profile import IamInstanceProfileAssociationBackend
from moto.ec2.models.instances import InstanceBackend
from prometheus_client import CollectorRegistry

from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.clock import FakeClock
from mcm.driver import (
    Code,
    CreateMachineRequest,
    DeleteMachineRequest,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
    InitializeMachineRequest,
    ListMachinesRequest,
    MachineError,
    SecretData,
)
from mcm_provider_aws.credentials import credentials_from_secret
from mcm_provider_aws.driver import AWSDriver, client_token_after
from mcm_provider_aws.metrics import AWSMetrics
from mcm_provider_aws.testing import ActionCounts, EC2Endpoint

pytestmark = pytest.mark.timeout(60)

REGION = "eu-west-1"
CLUSTER_TAG = "kubernetes.io/cluster/shoot--test"
ROLE_TAG = "kubernetes.io/role/node"
USER_DATA = b"#cloud-config\nhostname: placeholder\n"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = SecretData(
    {
        "providerAccessKeyId": b"AKIATESTEXAMPLE00001",
        "providerSecretAccessKey": b"secret-access-key-for-tests-0001",
        "userData": USER_DATA,
    }
)


class SteppingClock(FakeClock):
    """A fake clock whose `sleep` returns at once, moving time forward and recording the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.step(seconds)


@attrs.frozen
class Network:
    subnet: str
    security_group: str
    ami: str


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_endpoint() -> Iterator[EC2Endpoint]:
    with EC2Endpoint(region=REGION) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ami(shared_endpoint: EC2Endpoint) -> str:
    """One of moto's built-in images (they survive resets; listing them takes a second)."""
    image: str = shared_endpoint.client(direct=True).describe_images()["Images"][0]["ImageId"]
    return image


@pytest.fixture
def endpoint(shared_endpoint: EC2Endpoint) -> EC2Endpoint:
    shared_endpoint.reset()
    return shared_endpoint


@pytest.fixture
def direct(endpoint: EC2Endpoint) -> Any:
    """moto itself, bypassing the front: for set-up and for looking at what the driver did."""
    return endpoint.client(direct=True)


@pytest.fixture
def network(endpoint: EC2Endpoint, direct: Any, ami: str) -> Network:
    vpc = direct.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = direct.create_subnet(
        VpcId=vpc, CidrBlock="10.0.0.0/20", AvailabilityZone="eu-west-1a"
    )["Subnet"]["SubnetId"]
    group = direct.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)
    iam = boto3.client(  # moto checks that the instance profile exists
        "iam",
        region_name=REGION,
        endpoint_url=endpoint.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    iam.create_instance_profile(InstanceProfileName="test-iam")
    return Network(subnet, group["GroupId"], ami)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def driver(endpoint: EC2Endpoint, clock: SteppingClock, registry: CollectorRegistry) -> AWSDriver:
    return AWSDriver(
        endpoint_url=endpoint.url, clock=clock, metrics=AWSMetrics(registry, clock=clock)
    )


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry back-off, recorded instead of slept."""
    sleeps: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=sleeps.append))
    return sleeps


@pytest.fixture
def idempotent_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto honour ``ClientToken`` as EC2 does: a repeated token returns the reservation."""
    original_run = InstanceBackend.run_instances
    original_associate = IamInstanceProfileAssociationBackend.associate_iam_instance_profile

    def run_instances(
        self: Any, image_id: str, count: int, user_data: Any, groups: Any, **kwargs: Any
    ) -> Any:
        token = kwargs.get("client_token")
        for reservation in self.reservations.values():
            if any(i.client_token == token for i in reservation.instances):
                return reservation
        return original_run(self, image_id, count, user_data, groups, **kwargs)

    def associate_iam_instance_profile(self: Any, instance_id: str, **kwargs: Any) -> Any:
        existing = self.iam_instance_profile_associations.get(instance_id)
        return existing or original_associate(self, instance_id, **kwargs)

    monkeypatch.setattr(InstanceBackend, "run_instances", run_instances)
    monkeypatch.setattr(
        IamInstanceProfileAssociationBackend,
        "associate_iam_instance_profile",
        associate_iam_instance_profile,
    )


# --- helpers --------------------------------------------------------------------------------------


def provider_spec(network: Network, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ami": network.ami,
        "region": REGION,
        "machineType": "m5.large",
        "iam": {"name": "test-iam"},
        "networkInterfaces": [
            {"subnetID": network.subnet, "securityGroupIDs": [network.security_group]}
        ],
        "blockDevices": [
            {
                "deviceName": "/root",
                "ebs": {"volumeSize": 50, "volumeType": "gp3", "encrypted": True},
            },
            {
                "deviceName": "/dev/sdb",
                "ebs": {
                    "volumeSize": 100,
                    "volumeType": "gp2",
                    "encrypted": True,
                    "kmsKeyID": KMS_KEY,
                    "deleteOnTermination": False,
                },
            },
        ],
        "tags": {CLUSTER_TAG: "1", ROLE_TAG: "1", "Name": "not-the-machine", "team": "a"},
    }
    spec.update(overrides)
    return spec


def machine_class(spec: dict[str, Any]) -> MachineClass:
    return MachineClass.from_dict(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "provider": "AWS",
            "providerSpec": spec,
        }
    )


def machine(name: str = "web-0", *, provider_id: str = "", uid: str | None = None) -> Machine:
    return Machine.from_dict(
        {
            "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-of-{name}"},
            "spec": {"providerID": provider_id},
        }
    )


def create(driver: AWSDriver, spec: dict[str, Any], the_machine: Machine | None = None) -> Any:
    return driver.create_machine(
        CreateMachineRequest(
            machine=the_machine or machine(), machine_class=machine_class(spec), secret=SECRET
        )
    )


def status(driver: AWSDriver, spec: dict[str, Any], the_machine: Machine) -> Any:
    return driver.get_machine_status(
        GetMachineStatusRequest(
            machine=the_machine, machine_class=machine_class(spec), secret=SECRET
        )
    )


def delete(driver: AWSDriver, spec: dict[str, Any], the_machine: Machine) -> Any:
    return driver.delete_machine(
        DeleteMachineRequest(machine=the_machine, machine_class=machine_class(spec), secret=SECRET)
    )


def record_params(driver: AWSDriver) -> dict[str, list[dict[str, Any]]]:
    """The parameters of every EC2 call the driver's client makes, by action, as passed."""
    client: Any = driver.clients.client(credentials_from_secret(SECRET), REGION)
    calls: dict[str, list[dict[str, Any]]] = {}

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.setdefault(model.name, []).append(dict(params))

    client.meta.events.register("provide-client-params.ec2", record)
    return calls


def instance_id_of(provider_id: str) -> str:
    return provider_id.rsplit("/", 1)[-1]


def describe(direct: Any, instance_id: str) -> dict[str, Any]:
    found: dict[str, Any] = direct.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"
    ][0]
    return found


def tags_of(resource: dict[str, Any], key: str = "Tags") -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get(key) or ()}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- CreateMachine --------------------------------------------------------------------------------


def test_create_launches_a_tagged_instance_and_returns_its_identity(
    driver, endpoint, direct, network
):
    response = create(driver, provider_spec(network))

    instance_id = instance_id_of(response.provider_id)
    described = describe(direct, instance_id)
    assert response.provider_id == f"aws:///{REGION}/{instance_id}"
    assert response.node_name == described["PrivateDnsName"]
    assert response.node_name.endswith(".compute.internal")
    assert tags_of(described) == {CLUSTER_TAG: "1", ROLE_TAG: "1", "team": "a", "Name": "web-0"}
    assert endpoint.counts() == {
        "DescribeImages": ActionCounts(total=1),
        "RunInstances": ActionCounts(total=1),
        "DescribeInstances": ActionCounts(total=1),
    }


def test_create_sends_raw_user_data_that_ec2_stores_base64_encoded_once(driver, direct, network):
    response = create(driver, provider_spec(network))

    attribute = direct.describe_instance_attribute(
        InstanceId=instance_id_of(response.provider_id), Attribute="userData"
    )
    assert base64.b64decode(attribute["UserData"]["Value"]) == USER_DATA


def test_create_names_the_root_disk_after_the_ami_and_tags_and_encrypts_the_volumes(
    driver, direct, network
):
    params = record_params(driver)

    response = create(driver, provider_spec(network))

    instance_id = instance_id_of(response.provider_id)
    root = direct.describe_images(ImageIds=[network.ami])["Images"][0]["RootDeviceName"]
    sent = params["RunInstances"][0]
    assert [m["DeviceName"] for m in sent["BlockDeviceMappings"]] == [root, "/dev/sdb"]
    assert sent["BlockDeviceMappings"][1]["Ebs"]["KmsKeyId"] == KMS_KEY
    assert sent["ClientToken"] == "mcm-uid-of-web-0"
    volumes = direct.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]
    by_device = {v["Attachments"][0]["Device"]: v for v in volumes}
    assert by_device["/dev/sdb"]["KmsKeyId"] == KMS_KEY
    assert all(v["Encrypted"] for v in volumes)
    assert all(tags_of(v)["Name"] == "web-0" for v in volumes)


def test_a_repeated_create_returns_the_same_instance(driver, direct, network, idempotent_moto):
    params = record_params(driver)

    first = create(driver, provider_spec(network))
    second = create(driver, provider_spec(network))

    assert first == second
    tokens = [p["ClientToken"] for p in params["RunInstances"]]
    assert tokens == ["mcm-uid-of-web-0", "mcm-uid-of-web-0"]
    reservations = direct.describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 1


def live_instance_ids(direct: Any) -> list[str]:
    return [
        instance["InstanceId"]
        for reservation in direct.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("shutting-down", "terminated")
    ]


def test_a_create_after_the_machines_instance_was_terminated_launches_one_new_instance(
    driver, endpoint, direct, network
):
    params = record_params(driver)
    first = create(driver, provider_spec(network))
    first_id = instance_id_of(first.provider_id)
    direct.terminate_instances(InstanceIds=[first_id])

    second = create(driver, provider_spec(network))
    retried = create(driver, provider_spec(network))

    second_id = instance_id_of(second.provider_id)
    assert second_id != first_id
    assert describe(direct, second_id)["State"]["Name"] in ("pending", "running")
    assert retried == second
    assert live_instance_ids(direct) == [second_id]
    next_token = client_token_after(machine(), first_id)
    assert [p["ClientToken"] for p in params["RunInstances"]] == [
        "mcm-uid-of-web-0",
        "mcm-uid-of-web-0",
        next_token,
        "mcm-uid-of-web-0",
        next_token,
    ]
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=5, replayed=3)


def test_a_create_follows_the_token_chain_past_every_terminated_instance(
    driver, endpoint, direct, network, idempotent_moto
):
    first = create(driver, provider_spec(network))
    direct.terminate_instances(InstanceIds=[instance_id_of(first.provider_id)])
    second = create(driver, provider_spec(network))
    direct.terminate_instances(InstanceIds=[instance_id_of(second.provider_id)])

    third = create(driver, provider_spec(network))
    retried = create(driver, provider_spec(network))

    third_id = instance_id_of(third.provider_id)
    assert len({first.provider_id, second.provider_id, third.provider_id}) == 3
    assert retried == third
    assert live_instance_ids(direct) == [third_id]


def age_clock_past_launch(clock: SteppingClock, direct: Any, instance_id: str) -> None:
    """Move *clock* to two hours after *instance_id*'s LaunchTime (moto's is the real time)."""
    launch_time = describe(direct, instance_id)["LaunchTime"].timestamp()
    clock.step(max(0.0, launch_time + 7200 - clock.now()))


def test_a_create_after_ec2_forgot_the_terminated_instance_launches_one_new_instance_at_once(
    driver, endpoint, direct, clock, network
):
    first = create(driver, provider_spec(network))
    first_id = instance_id_of(first.provider_id)
    direct.terminate_instances(InstanceIds=[first_id])
    endpoint.front.purge_instances(first_id)
    age_clock_past_launch(clock, direct, first_id)
    endpoint.front.reset_counts()

    second = create(driver, provider_spec(network))
    retried = create(driver, provider_spec(network))

    second_id = instance_id_of(second.provider_id)
    assert second_id != first_id
    assert retried == second
    assert clock.sleeps == []
    assert live_instance_ids(direct) == [second_id]
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=4, replayed=3)
    # each create: the forgotten first instance (NotFound), then the second one
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=4, failed=2)


def test_a_create_with_a_changed_class_after_the_instance_was_terminated_launches_a_new_one(
    driver, endpoint, direct, network
):
    params = record_params(driver)
    first = create(driver, provider_spec(network))
    first_id = instance_id_of(first.provider_id)
    direct.terminate_instances(InstanceIds=[first_id])

    second = create(driver, provider_spec(network, machineType="m5.xlarge"))
    retried = create(driver, provider_spec(network, machineType="m5.xlarge"))

    second_id = instance_id_of(second.provider_id)
    assert second_id != first_id
    assert retried == second
    assert live_instance_ids(direct) == [second_id]
    assert describe(direct, second_id)["InstanceType"] == "m5.xlarge"
    assert [p["ClientToken"] for p in params["RunInstances"]] == [
        "mcm-uid-of-web-0",
        "mcm-uid-of-web-0",
        client_token_after(machine(), first_id),
        "mcm-uid-of-web-0",
    ]


def test_the_fronts_client_token_filter_finds_the_instance_a_token_launched(
    driver, endpoint, network
):
    create(driver, provider_spec(network))
    other = create(driver, provider_spec(network), machine("web-1"))
    client = endpoint.client()

    found = client.describe_instances(
        Filters=[
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
            {"Name": "client-token", "Values": ["mcm-uid-of-web-1"]},
        ]
    )["Reservations"]
    unknown = client.describe_instances(
        Filters=[{"Name": "client-token", "Values": ["mcm-unknown"]}]
    )["Reservations"]

    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [
        instance_id_of(other.provider_id)
    ]
    assert unknown == []


def test_the_front_hides_purged_instances_from_describe_instances(driver, endpoint, network):
    kept = instance_id_of(create(driver, provider_spec(network)).provider_id)
    purged = instance_id_of(create(driver, provider_spec(network), machine("web-1")).provider_id)
    endpoint.front.purge_instances(purged)
    client = endpoint.client()

    listed = client.describe_instances()["Reservations"]
    with pytest.raises(ClientError) as caught:
        client.describe_instances(InstanceIds=[kept, purged])

    assert [i["InstanceId"] for r in listed for i in r["Instances"]] == [kept]
    assert caught.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert purged in caught.value.response["Error"]["Message"]


def test_insufficient_capacity_is_resource_exhausted_and_launches_nothing(
    driver, endpoint, direct, network
):
    endpoint.front.fail_next(
        "RunInstances",
        "InsufficientInstanceCapacity",
        message="We currently do not have sufficient m5.large capacity",
    )

    with pytest.raises(MachineError) as caught:
        create(driver, provider_spec(network))

    assert caught.value.code is Code.RESOURCE_EXHAUSTED
    assert "We currently do not have sufficient m5.large capacity" in caught.value.message
    assert direct.describe_instances()["Reservations"] == []


def test_an_unknown_ami_is_internal(driver, network):
    with pytest.raises(MachineError) as caught:
        create(driver, provider_spec(network, ami="ami-12345678"))

    assert caught.value.code is Code.INTERNAL
    assert "InvalidAMIID.NotFound" in caught.value.message


def test_create_waits_until_the_new_instance_is_visible(driver, endpoint, clock, network):
    endpoint.front.fail_next("DescribeInstances", "InvalidInstanceID.NotFound", count=2)

    response = create(driver, provider_spec(network))

    assert response.node_name
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=3, failed=2, injected=2)
    assert len(clock.sleeps) == 2


def test_request_limit_exceeded_is_absorbed_by_botocores_retries(
    driver, endpoint, registry, network, retry_sleeps
):
    created = create(driver, provider_spec(network))
    endpoint.front.reset_counts()
    endpoint.front.fail_next("DescribeInstances", "RequestLimitExceeded", status=503, count=2)

    response = status(driver, provider_spec(network), machine(provider_id=created.provider_id))

    assert response.provider_id == created.provider_id
    assert endpoint.counts()["DescribeInstances"].total == 3
    assert len(retry_sleeps) == 2
    assert sample(registry, "mcm_aws_ec2_throttled_total", action="DescribeInstances") == 2
    assert sample(registry, "mcm_aws_ec2_calls_total", action="DescribeInstances") == 4


def test_throttling_that_outlasts_the_retries_is_unavailable(
    driver, endpoint, network, retry_sleeps
):
    created = create(driver, provider_spec(network))
    endpoint.front.fail_next("DescribeInstances", "RequestLimitExceeded", status=503, count=3)

    with pytest.raises(MachineError) as caught:
        status(driver, provider_spec(network), machine(provider_id=created.provider_id))

    assert caught.value.code is Code.UNAVAILABLE


# --- GetMachineStatus -----------------------------------------------------------------------------


def test_status_with_a_provider_id_makes_one_describe_by_instance_id(driver, endpoint, network):
    created = create(driver, provider_spec(network))
    params = record_params(driver)
    endpoint.front.reset_counts()

    response = status(driver, provider_spec(network), machine(provider_id=created.provider_id))

    assert (response.provider_id, response.node_name) == (created.provider_id, created.node_name)
    assert endpoint.counts() == {"DescribeInstances": ActionCounts(total=1)}
    assert params["DescribeInstances"] == [{"InstanceIds": [instance_id_of(created.provider_id)]}]


def test_status_without_a_provider_id_finds_the_instance_by_its_tags(driver, endpoint, network):
    created = create(driver, provider_spec(network))
    params = record_params(driver)

    response = status(driver, provider_spec(network), machine())

    assert response.provider_id == created.provider_id
    assert "Filters" in params["DescribeInstances"][0]


def test_status_of_a_machine_without_a_vm_is_not_found(driver, network):
    with pytest.raises(MachineError) as by_tags:
        status(driver, provider_spec(network), machine())
    with pytest.raises(MachineError) as by_id:
        status(driver, provider_spec(network), machine(provider_id="aws:///eu-west-1/i-0a1b2c3d"))

    assert (by_tags.value.code, by_tags.value.message) == (
        Code.NOT_FOUND,
        "No ProviderID found on the machine",
    )
    assert (by_id.value.code, by_id.value.message) == (
        Code.NOT_FOUND,
        "AWS plugin is returning no VM instances backing this machine object",
    )


# --- InitializeMachine ----------------------------------------------------------------------------


def test_initialize_disables_the_source_dest_check_that_status_reports(driver, endpoint, network):
    spec = provider_spec(network, srcAndDstChecksEnabled=False)
    created = create(driver, spec)
    the_machine = machine(provider_id=created.provider_id)

    with pytest.raises(MachineError) as before:
        status(driver, spec, the_machine)
    initialized = driver.initialize_machine(
        InitializeMachineRequest(
            machine=the_machine, machine_class=machine_class(spec), secret=SECRET
        )
    )
    after = status(driver, spec, the_machine)

    assert before.value.code is Code.UNINITIALIZED
    assert isinstance(before.value.response, GetMachineStatusResponse)
    assert before.value.response.provider_id == created.provider_id
    assert initialized.provider_id == created.provider_id
    assert endpoint.counts()["ModifyNetworkInterfaceAttribute"] == ActionCounts(total=1)
    assert after.provider_id == created.provider_id


# --- DeleteMachine --------------------------------------------------------------------------------


def test_delete_terminates_the_vm_and_its_orphaned_interfaces_and_can_repeat(
    driver, endpoint, direct, network
):
    spec = provider_spec(network)
    created = create(driver, spec)
    orphan = direct.create_network_interface(
        SubnetId=network.subnet,
        TagSpecifications=[
            {
                "ResourceType": "network-interface",
                "Tags": [{"Key": "Name", "Value": "web-0"}, {"Key": CLUSTER_TAG, "Value": "1"}],
            }
        ],
    )["NetworkInterface"]["NetworkInterfaceId"]
    unrelated = direct.create_network_interface(SubnetId=network.subnet)["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    the_machine = machine(provider_id=created.provider_id)

    delete(driver, spec, the_machine)
    delete(driver, spec, the_machine)

    instance_id = instance_id_of(created.provider_id)
    assert describe(direct, instance_id)["State"]["Name"] == "terminated"
    remaining = {
        ni["NetworkInterfaceId"] for ni in direct.describe_network_interfaces()["NetworkInterfaces"]
    }
    assert orphan not in remaining
    assert unrelated in remaining
    kept = direct.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["web-0"]}])["Volumes"]
    assert [(v["Size"], v["State"]) for v in kept] == [(100, "available")]  # deleteOnTermination
    assert endpoint.counts()["TerminateInstances"] == ActionCounts(total=1)


def test_delete_without_a_provider_id_terminates_what_the_tags_find(driver, direct, network):
    spec = provider_spec(network)
    created = create(driver, spec)

    delete(driver, spec, machine())

    assert describe(direct, instance_id_of(created.provider_id))["State"]["Name"] == "terminated"


def test_deleting_a_machine_that_never_had_a_vm_succeeds(driver, endpoint, network):
    delete(driver, provider_spec(network), machine())
    delete(driver, provider_spec(network), machine(provider_id="aws:///eu-west-1/i-0a1b2c3d"))

    assert "TerminateInstances" not in endpoint.counts()


# --- ListMachines ---------------------------------------------------------------------------------


def test_list_reports_the_live_vms_of_the_class_cluster_and_role(driver, direct, network):
    spec = provider_spec(network)
    web0 = create(driver, spec, machine("web-0"))
    web1 = create(driver, spec, machine("web-1"))
    gone = create(driver, spec, machine("web-2"))
    direct.terminate_instances(InstanceIds=[instance_id_of(gone.provider_id)])
    other_cluster = provider_spec(
        network, tags={"kubernetes.io/cluster/shoot--other": "1", ROLE_TAG: "1"}
    )
    create(driver, other_cluster, machine("other-0"))  # same role key: moto keeps that filter only

    response = driver.list_machines(
        ListMachinesRequest(machine_class=machine_class(spec), secret=SECRET)
    )

    assert dict(response.machine_list) == {web0.provider_id: "web-0", web1.provider_id: "web-1"}

"""EC2 over HTTP end to end: boto3 -> fault front -> moto, and EC2 instances joining as Nodes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mcm.errors import TooManyRequestsError
from mcm.kube.resources import NODES, POD_DISRUPTION_BUDGETS, PODS
from mcm.testing.kubelet import KubeletSimulator
from mcm_provider_aws.testing import ActionCounts, EC2Endpoint, EC2VMSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def shared_endpoint() -> Iterator[EC2Endpoint]:
    with EC2Endpoint(region=REGION) as endpoint:
        yield endpoint


@pytest.fixture
def endpoint(shared_endpoint: EC2Endpoint) -> EC2Endpoint:
    shared_endpoint.reset()
    return shared_endpoint


@pytest.fixture(scope="module")
def ami(shared_endpoint: EC2Endpoint) -> str:
    image: str = shared_endpoint.client(direct=True).describe_images()["Images"][0]["ImageId"]
    return image


def tagged(cluster: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": "instance",
            "Tags": [
                {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "1"},
                {"Key": "kubernetes.io/role/node", "Value": "1"},
            ],
        }
    ]


def test_an_instance_runs_is_described_and_terminated_through_the_front(endpoint, ami):
    ec2 = endpoint.client()

    run = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        TagSpecifications=tagged("shoot--test"),
    )
    instance_id = run["Instances"][0]["InstanceId"]
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    terminated = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    after = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    assert described["State"]["Name"] == "running"
    assert described["PrivateDnsName"].endswith(f".{REGION}.compute.internal")
    assert terminated["CurrentState"]["Name"] == "shutting-down"
    assert after["State"]["Name"] == "terminated"
    assert endpoint.counts() == {
        "RunInstances": ActionCounts(total=1),
        "DescribeInstances": ActionCounts(total=2),
        "TerminateInstances": ActionCounts(total=1),
    }


def test_insufficient_capacity_surfaces_to_boto3_with_its_code(endpoint, ami):
    ec2 = endpoint.client()
    endpoint.front.fail_next(
        "RunInstances",
        "InsufficientInstanceCapacity",
        message="We currently do not have sufficient p5.48xlarge capacity in eu-west-1a.",
        match={"InstanceType": "p5.48xlarge"},
    )

    with pytest.raises(ClientError) as raised:
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="p5.48xlarge")
    retried = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="p5.48xlarge")

    assert raised.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    assert retried["Instances"][0]["InstanceType"] == "p5.48xlarge"
    assert endpoint.counts()["RunInstances"] == ActionCounts(total=2, failed=1, injected=1)


def test_a_throttled_endpoint_answers_request_limit_exceeded(endpoint):
    ec2 = endpoint.client()
    endpoint.front.throttle(0.0, burst=3, action="DescribeInstances")

    for _ in range(3):
        ec2.describe_instances()
    with pytest.raises(ClientError) as raised:
        ec2.describe_instances()

    assert raised.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=4, throttled=1)


def test_a_server_side_fault_is_retried_by_a_client_that_retries(endpoint):
    ec2 = endpoint.client(max_attempts=2)
    endpoint.front.fail_next("DescribeInstances", "InternalError", status=500)

    reply = ec2.describe_instances()

    assert reply["ResponseMetadata"]["RetryAttempts"] == 1
    assert endpoint.counts()["DescribeInstances"] == ActionCounts(total=2, failed=1, injected=1)


def test_the_vm_source_lists_the_clusters_instances_as_the_driver_names_them(endpoint, ami):
    ec2 = endpoint.client(direct=True)
    ours = ec2.run_instances(
        ImageId=ami,
        MinCount=2,
        MaxCount=2,
        InstanceType="m5.large",
        TagSpecifications=tagged("shoot--test"),
    )["Instances"]
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=tagged("other"))
    ec2.terminate_instances(InstanceIds=[ours[1]["InstanceId"]])

    vms = EC2VMSource(ec2, cluster_name="shoot--test", region=REGION).list_vms()

    described = ec2.describe_instances(InstanceIds=[ours[0]["InstanceId"]])
    instance = described["Reservations"][0]["Instances"][0]
    assert [(vm.provider_id, vm.node_name, vm.running) for vm in vms] == [
        (f"aws:///{REGION}/{instance['InstanceId']}", instance["PrivateDnsName"], True)
    ]
    assert vms[0].labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert ("InternalIP", instance["PrivateIpAddress"]) in vms[0].addresses
    assert endpoint.counts() == {}  # a direct client: not through the front


def test_ec2_instances_join_a_real_api_server_as_nodes_and_leave_with_them(endpoint, ami, api):
    ec2 = endpoint.client(direct=True)
    cluster = f"kubelet-{id(endpoint):x}"
    instance = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=tagged(cluster)
    )["Instances"][0]
    kubelet = KubeletSimulator(
        api, EC2VMSource(ec2, cluster_name=cluster, region=REGION), name=cluster
    )
    node_name = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]["PrivateDnsName"]

    kubelet.sync_once()
    node = api.get(NODES, node_name)
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    kubelet.sync_once()

    assert node["spec"]["providerID"] == f"aws:///{REGION}/{instance['InstanceId']}"
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert node_name not in {n["metadata"]["name"] for n in api.list(NODES).items}


def test_a_drain_on_a_real_api_server_is_paced_by_the_simulated_budget(
    endpoint, ami, api, namespace
):
    ec2 = endpoint.client(direct=True)
    cluster = f"drain-{namespace}"
    instance_id = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=tagged(cluster)
    )["Instances"][0]["InstanceId"]
    source = EC2VMSource(ec2, cluster_name=cluster, region=REGION)
    kubelet = KubeletSimulator(api, source, namespace=namespace, name=cluster)
    kubelet.sync_once()
    node_name = source.list_vms()[0].node_name
    for index in range(3):
        api.create(
            PODS,
            {
                "metadata": {"name": f"web-{index}", "labels": {"app": "web"}},
                "spec": {
                    "nodeName": node_name,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "app", "image": "registry.invalid/app"}],
                },
            },
            namespace=namespace,
        )
    api.create(
        POD_DISRUPTION_BUDGETS,
        {
            "metadata": {"name": "web"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
        namespace=namespace,
    )
    kubelet.sync_once()  # pods Running and Ready
    kubelet.sync_once()  # the budget sees them

    api.evict("web-0", namespace=namespace)
    with pytest.raises(TooManyRequestsError):
        api.evict("web-1", namespace=namespace)
    kubelet.sync_once()  # web-0's kubelet finishes it; the budget recovers
    api.evict("web-1", namespace=namespace)

    remaining = {p["metadata"]["name"] for p in api.list(PODS, namespace=namespace).items}
    assert "web-0" not in remaining
    assert api.get(PODS, "web-2", namespace=namespace)["status"]["phase"] == "Running"
    ec2.terminate_instances(InstanceIds=[instance_id])
    kubelet.sync_once()  # leaves no Node behind for the other tests of the session

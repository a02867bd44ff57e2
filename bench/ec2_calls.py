"""EC2 calls per machine made by the AWS driver over a Machine's whole life.

The `bench.api_calls` simulation (the machine controller's reconcilers, informer-backed listers,
delaying queues on a fake clock) runs with `mcm_provider_aws.driver.AWSDriver` instead of the fake
driver. The driver talks HTTP to `mcm_provider_aws.testing.EC2Endpoint`: moto behind a
`mcm_provider_aws.testing.FaultFront` that counts every call per EC2 action. The class is an AWS
MachineClass for one of moto's images in a VPC set up beforehand (set-up calls bypass the front and
are not counted); each instance joins as a Node under its ``PrivateDnsName``.

Counted per phase (``create``, ``steady``, ``delete``; see `bench.api_calls`): the EC2 calls by
action, and the driver calls that caused them. ``DescribeImages`` is cached per AMI, and the
orphan-VM pass's ``DescribeInstances`` is per class, not per machine: both shrink per machine as N
grows.

Run: ``python -m bench.ec2_calls [--n 1,10] [--steady-hours 1]``.
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import boto3
from prometheus_client import CollectorRegistry

from bench import objects
from bench.api_calls import (
    CLASS_NAME,
    PHASES,
    SECRET_NAME,
    USER_DATA,
    Lifecycle,
    SteppingClock,
    lifecycle,
)
from bench.report import Cell, Report, Table, emit, int_list, parser, ratio
from mcm_provider_aws.driver import AWSDriver
from mcm_provider_aws.metrics import AWSMetrics
from mcm_provider_aws.testing import EC2Endpoint

NAME = "ec2-calls"
REGION = "eu-west-1"
ZONE = "eu-west-1a"
CLUSTER = "shoot--core--prod"
INSTANCE_PROFILE = "shoot--core--prod-nodes"
PER_MACHINE_COLUMNS = ("machines", "phase", "driver calls/machine", "EC2 calls/machine")
ACTION_COLUMNS = ("machines", "phase", "action", "calls", "per machine")


@attrs.frozen
class Network:
    ami: str
    subnet: str
    security_group: str


def prepare(endpoint: EC2Endpoint, ami: str) -> Network:
    """A VPC, subnet, security group and instance profile, made directly on moto."""
    ec2 = endpoint.client(direct=True)
    vpc = ec2.create_vpc(CidrBlock="10.250.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.250.0.0/19", AvailabilityZone=ZONE)
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)
    iam = boto3.client(  # moto checks that the instance profile exists
        "iam",
        region_name=REGION,
        endpoint_url=endpoint.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 -- moto's dummy credentials
    )
    iam.create_instance_profile(InstanceProfileName=INSTANCE_PROFILE)
    return Network(ami, subnet["Subnet"]["SubnetId"], group["GroupId"])


def machine_class(network: Network) -> dict[str, Any]:
    """An AWS MachineClass named `bench.api_calls.CLASS_NAME` on *network*."""
    body = objects.machine_class(CLASS_NAME, secret_name=SECRET_NAME)
    body["providerSpec"] = {
        "ami": network.ami,
        "region": REGION,
        "machineType": "m5.xlarge",
        "iam": {"name": INSTANCE_PROFILE},
        "keyName": "",
        "networkInterfaces": [
            {"subnetID": network.subnet, "securityGroupIDs": [network.security_group]}
        ],
        "blockDevices": [{"ebs": {"volumeSize": 50, "volumeType": "gp3", "encrypted": True}}],
        "tags": {
            f"kubernetes.io/cluster/{CLUSTER}": "1",
            "kubernetes.io/role/node": "1",
            "worker.gardener.cloud/pool": "worker-a",
        },
    }
    return body


def secret_data() -> dict[str, str]:
    """The class's Secret: dummy credentials (moto takes any) and the user data template."""
    values = {
        "providerAccessKeyId": "AKIABENCHMARK0000001",
        "providerSecretAccessKey": "benchmark-secret-access-key-000000000001",
        "userData": USER_DATA,
    }
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


def running_instances(endpoint: EC2Endpoint) -> int:
    """Instances not terminated (nor on their way there), read directly from moto."""
    pages = endpoint.client(direct=True).get_paginator("describe_instances").paginate()
    return sum(
        1
        for page in pages
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("shutting-down", "terminated")
    )


def one_run(endpoint: EC2Endpoint, ami: str, n: int, *, steady_hours: float) -> Lifecycle:
    endpoint.reset()
    network = prepare(endpoint, ami)
    clock = SteppingClock()
    driver = AWSDriver(
        endpoint_url=endpoint.url, clock=clock, metrics=AWSMetrics(CollectorRegistry(), clock=clock)
    )

    def ec2_calls() -> Mapping[str, int]:
        return {action: counts.total for action, counts in endpoint.counts().items()}

    return lifecycle(
        n,
        steady_hours=steady_hours,
        driver=driver,
        clock=clock,
        machine_class=machine_class(network),
        secret_data=secret_data(),
        external_calls=ec2_calls,
        vms_left=lambda: running_instances(endpoint),
    )


def run(*, n: Sequence[int] = (1, 10), steady_hours: float = 1.0) -> Report:
    with EC2Endpoint(region=REGION) as endpoint:
        # One of moto's built-in images; they survive resets, and listing them takes a second.
        ami: str = endpoint.client(direct=True).describe_images()["Images"][0]["ImageId"]
        runs = [one_run(endpoint, ami, size, steady_hours=steady_hours) for size in n]
    per_machine: list[tuple[Cell, ...]] = []
    actions: list[tuple[Cell, ...]] = []
    for result in runs:
        size = result.machines
        for phase in PHASES[1:]:
            counts = result.phases[phase]
            per_machine.append(
                (
                    size,
                    phase,
                    round(sum(counts.driver.values()) / size, 2),
                    round(sum(counts.external.values()) / size, 2),
                )
            )
        for phase in PHASES:
            for action, count in sorted(result.phases[phase].external.items()):
                actions.append((size, phase, action, count, round(count / size, 2)))
    smallest, largest = runs[0], runs[-1]
    ratios = {
        f"EC2 calls/machine, create + delete, n={largest.machines} vs n={smallest.machines}": (
            ratio(_create_and_delete(largest), _create_and_delete(smallest))
        )
    }
    return Report(
        name=NAME,
        params={"n": ",".join(map(str, n)), "steady_hours": steady_hours},
        tables=(
            Table(title="per machine", columns=PER_MACHINE_COLUMNS, rows=tuple(per_machine)),
            Table(title="EC2 calls by action", columns=ACTION_COLUMNS, rows=tuple(actions)),
        ),
        ratios=ratios,
        notes=(
            "EC2 calls counted by the fault front, moto behind it; set-up calls bypass it",
            "DescribeImages is cached per AMI; the orphan pass's DescribeInstances is per class",
        ),
    )


def _create_and_delete(result: Lifecycle) -> float:
    calls = sum(sum(result.phases[phase].external.values()) for phase in ("create", "delete"))
    return calls / result.machines


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emit(run(n=args.n, steady_hours=args.steady_hours), json_path=args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    result = parser(__doc__)
    result.add_argument("--n", type=int_list, default=(1, 10), help="machines per run (1,10)")
    result.add_argument(
        "--steady-hours", type=float, default=1.0, help="simulated hours all Running (1)"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())

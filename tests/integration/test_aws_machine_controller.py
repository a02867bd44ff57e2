"""The AWS ``machine-controller`` binary, as a process, against EC2 and a real kube-apiserver.

Each test runs the real binary (its launcher ``cmd/machine-controller/main.py``, a child process)
against the session's kube-apiserver, which plays the control and the target cluster, and against
EC2: moto behind the fault front (`EC2Endpoint`), shared by the module and never reset, so that
instance IPs (and with them node names) stay unique. Every test has its own namespace, its own
cluster name (``shoot--it--<namespace>``: the driver and the kubelet simulator find instances by
that tag) and its own kubelet simulator, which registers a Ready Node for each running instance of
the cluster and reads EC2 past the front, so that the front counts the controller's calls only.
The MachineClass and its secrets are the samples of ``kubernetes/`` with the module's VPC, subnet,
security group, instance profile and AMI filled in (`mcm_provider_aws.demo`).

What the tests read back from moto they read with a direct client. Waits poll with a deadline; a
timeout reports the controller's log.
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mcm.api.constants import NODE_FINALIZER_NAME, NODE_LABEL_KEY
from mcm.api.machine import Machine, MachinePhase, MachineState
from mcm.controller.bootstrap import bootstrap_token_id
from mcm.errors import MCMError, NotFoundError
from mcm.kube.client import KubeClient
from mcm.kube.resources import EVENTS, MACHINE_CLASSES, MACHINES, NODES, SECRETS
from mcm.testing.envtest import ControlPlane
from mcm.testing.kubelet import SIMULATED_BY_ANNOTATION, KubeletSimulator
from mcm_provider_aws.demo import (
    ControllerProcess,
    EC2Network,
    controller_command,
    create_network,
    free_port,
    machine,
    machine_class,
    sample,
    secrets,
)
from mcm_provider_aws.testing import ActionCounts, EC2Endpoint, EC2VMSource

pytestmark = pytest.mark.timeout(120)

REGION = "eu-west-1"
JOIN_TIMEOUT = 30.0
"""Real seconds a machine may take to be Running (it takes the join delay and a second or so)."""
DELETION_TIMEOUT = 60.0
"""Real seconds a deletion may take (the flow moves a step per 5 s short retry)."""
LIVE = ("pending", "running")
KUBELET_JOIN_DELAY = 3.0
"""Seconds from an instance running to its Node: a VM boots before its kubelet registers. A Node
that is there before the controller's stale-node check after CreateMachine is recognised as the new
instance's own by its providerID (tested with no delay: ``world`` takes the delay as its param)."""

V = TypeVar("V")


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EC2Endpoint]:
    with EC2Endpoint(region=REGION) as ec2_endpoint:
        yield ec2_endpoint


@pytest.fixture(scope="module")
def network(endpoint: EC2Endpoint) -> EC2Network:
    return create_network(endpoint, name="shoot--it")


@pytest.fixture(scope="module")
def ec2(endpoint: EC2Endpoint) -> Any:
    """A client of moto itself: set-up and read-back are not counted, faulted or held."""
    return endpoint.client(direct=True)


class World:
    """One test's cluster: namespace, class, kubelets, controller processes, and what EC2 holds."""

    def __init__(
        self,
        api: KubeClient,
        *,
        plane: ControlPlane,
        endpoint: EC2Endpoint,
        network: EC2Network,
        namespace: str,
        tmp_path: Path,
        join_delay: float = KUBELET_JOIN_DELAY,
    ) -> None:
        self.api = api
        self.plane = plane
        self.endpoint = endpoint
        self.front = endpoint.front
        self.ec2 = endpoint.client(direct=True)
        self.network = network
        self.namespace = namespace
        self.cluster = f"shoot--it--{namespace}"
        self.tmp_path = tmp_path
        self.controllers: list[ControllerProcess] = []
        self.kubelet = KubeletSimulator(
            api,
            EC2VMSource(self.ec2, cluster_name=self.cluster, region=REGION),
            poll_interval=0.2,
            join_delay=join_delay,
            namespace=namespace,
            name=f"kubelets-{namespace}",
        )
        self._kubelet_stop = threading.Event()
        self._kubelet_thread = threading.Thread(
            target=self.kubelet.run, args=(self._kubelet_stop,), name="kubelets", daemon=True
        )

    # --- set-up ---------------------------------------------------------------------------------

    def start_kubelets(self) -> None:
        self._kubelet_thread.start()

    def create_class(self, provider_spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """The sample secrets and class (with *provider_spec* keys replaced); the class."""
        for secret in secrets(namespace=self.namespace):
            self.api.create(SECRETS, secret, namespace=self.namespace)
        doc = machine_class(
            self.network,
            namespace=self.namespace,
            cluster=self.cluster,
            provider_spec=provider_spec,
        )
        self.api.create(MACHINE_CLASSES, doc, namespace=self.namespace)
        return doc

    def create_machine(self, name: str) -> None:
        self.api.create(MACHINES, machine(name, namespace=self.namespace), namespace=self.namespace)

    def start_controller(self, *flags: str) -> ControllerProcess:
        """The binary, watching this namespace, EC2 through the front; *flags* added last."""
        port = free_port()
        command = controller_command(
            kubeconfig=self.plane.kubeconfig_path,
            namespace=self.namespace,
            endpoint_url=self.endpoint.url,
            port=port,
            extra=("--leader-elect=false", "--concurrent-syncs=5", "--v=2", *flags),
        )
        log_path = self.tmp_path / f"machine-controller-{len(self.controllers)}.log"
        controller = ControllerProcess(command, log_path=log_path, port=port).start()
        self.controllers.append(controller)
        controller.wait_ready(30.0)
        return controller

    # --- reading --------------------------------------------------------------------------------

    def machine(self, name: str) -> Machine | None:
        try:
            return Machine.from_dict(self.api.get(MACHINES, name, namespace=self.namespace))
        except NotFoundError:
            return None

    def instances(self, name: str | None = None, *, states: tuple[str, ...] = LIVE) -> list[Any]:
        """The cluster's instances in *states* (those named *name* only, if given)."""
        filters = [
            {"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{self.cluster}"]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
        if name is not None:
            filters.append({"Name": "tag:Name", "Values": [name]})
        reply = self.ec2.describe_instances(Filters=filters)
        return [i for r in reply["Reservations"] for i in r["Instances"]]

    def instance(self, instance_id: str) -> Any:
        reply = self.ec2.describe_instances(InstanceIds=[instance_id])
        return reply["Reservations"][0]["Instances"][0]

    def events(self, reason: str) -> list[dict[str, Any]]:
        listed = self.api.list(EVENTS, namespace=self.namespace).items
        return [event for event in listed if event.get("reason") == reason]

    # --- waiting --------------------------------------------------------------------------------

    def wait(self, check: Callable[[], V | None], *, timeout: float, what: str) -> V:
        """*check*'s first truthy result, polled every 0.1 s; on timeout, fail with the log."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                result = check()
            except MCMError as exc:
                last = exc
            else:
                if result:
                    return result
                last = result
            if time.monotonic() >= deadline:
                logs = "\n".join(
                    f"--- {c.log_path.name}:\n{c.log_tail(60)}" for c in self.controllers
                )
                raise AssertionError(
                    f"{what}: not within {timeout:.0f}s; last seen: {last!r}\n{logs}"
                )
            time.sleep(0.1)

    def wait_for_running(self, name: str, timeout: float = JOIN_TIMEOUT) -> Machine:
        def running() -> Machine | None:
            found = self.machine(name)
            return found if found is not None and found.phase is MachinePhase.RUNNING else None

        return self.wait(running, timeout=timeout, what=f"machine {name} Running")

    # --- tearing down ---------------------------------------------------------------------------

    def close(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self._kubelet_stop.set()
        if self._kubelet_thread.is_alive():
            self._kubelet_thread.join(10.0)
        live = [i["InstanceId"] for i in self.instances()]
        if live:
            self.ec2.terminate_instances(InstanceIds=live)
        for node in self.api.list(NODES).items:
            annotations = node["metadata"].get("annotations") or {}
            if annotations.get(SIMULATED_BY_ANNOTATION) != self.kubelet.name:
                continue
            name = node["metadata"]["name"]
            with contextlib.suppress(NotFoundError):
                finalizers = [
                    f for f in node["metadata"].get("finalizers") or () if f != NODE_FINALIZER_NAME
                ]
                self.api.patch(NODES, name, {"metadata": {"finalizers": finalizers or None}})
                self.api.delete(NODES, name)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    api: KubeClient,
    *,
    control_plane: ControlPlane,
    endpoint: EC2Endpoint,
    network: EC2Network,
    namespace: str,
    tmp_path: Path,
) -> Iterator[World]:
    endpoint.front.reset()  # faults, holds, counts and client tokens of earlier tests
    built = World(
        api,
        plane=control_plane,
        endpoint=endpoint,
        network=network,
        namespace=namespace,
        tmp_path=tmp_path,
        join_delay=getattr(request, "param", KUBELET_JOIN_DELAY),  # indirect parametrization
    )
    built.start_kubelets()
    try:
        yield built
    finally:
        built.close()


def tags(resource: Any) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags") or ()}


def sample_user_data() -> str:
    (user_data_secret, _) = sample("secret.yaml")
    return base64.b64decode(user_data_secret["data"]["userData"]).decode()


def instance_id_of(found: Machine) -> str:
    return found.spec.provider_id.rsplit("/", 1)[-1]


def node_queue_adds(controller: ControllerProcess) -> float:
    """``workqueue_adds_total{name="node"}`` of *controller*: its Node informer's adds so far."""
    with urllib.request.urlopen(controller.url + "/metrics", timeout=5.0) as reply:  # noqa: S310
        text = reply.read().decode()
    found = re.search(r'^workqueue_adds_total\{name="node"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# ---------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("file_name", "path"),
    [
        pytest.param("secret.yaml", "/api/v1/namespaces/{}/secrets", id="secrets"),
        pytest.param(
            "machine-class.yaml",
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/{}/machineclasses",
            id="machine-class",
        ),
        pytest.param(
            "machine.yaml",
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/{}/machines",
            id="machine",
        ),
        pytest.param(
            "machine-deployment.yaml",
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/{}/machinedeployments",
            id="machine-deployment",
        ),
    ],
)
def test_the_samples_are_accepted_as_they_are_with_strict_field_validation(
    control_plane, namespace, file_name, path
):
    for doc in sample(file_name):
        doc["metadata"]["namespace"] = namespace

        status, answer = control_plane.request(
            "POST", path.format(namespace) + "?fieldValidation=Strict&dryRun=All", doc
        )

        assert status == 201, answer


@pytest.mark.timeout(60)
def test_the_sample_class_launches_an_instance_with_exactly_what_it_specifies(world, network, ec2):
    spec = world.create_class()["providerSpec"]
    controller = world.start_controller()
    name = f"shape-{world.namespace}"

    world.create_machine(name)
    running = world.wait_for_running(name)

    instance_id = instance_id_of(running)
    instance = world.instance(instance_id)
    assert running.spec.provider_id == f"aws:///{REGION}/{instance_id}"
    assert instance["ImageId"] == network.ami
    assert instance["InstanceType"] == "m5.large"
    assert instance["SubnetId"] == network.subnet_id
    assert instance["VpcId"] == network.vpc_id
    assert instance["Placement"]["AvailabilityZone"] == network.zone
    assert instance["IamInstanceProfile"]["Arn"].endswith(
        f":instance-profile/{network.instance_profile}"
    )
    assert instance["KeyName"] == network.key_name
    expected_tags = {
        f"kubernetes.io/cluster/{world.cluster}": "1",
        "kubernetes.io/role/node": "1",
        "node.kubernetes.io/role": "node",
        "worker.gardener.cloud/pool": "worker-a",
        "worker.gardener.cloud/system-components": "true",
        "Name": name,
    }
    assert tags(instance) == expected_tags
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    assert spec["instanceMetadataOptions"] == {
        "httpTokens": "required",
        "httpPutResponseHopLimit": 2,
    }

    # Block devices: the root disk renamed to the AMI's root device, the data disk as named.
    mappings = {m["DeviceName"]: m["Ebs"] for m in instance["BlockDeviceMappings"]}
    assert set(mappings) == {"/dev/sda1", "/dev/sdf"}
    assert all(ebs["DeleteOnTermination"] for ebs in mappings.values())
    volumes = {
        volume["Attachments"][0]["Device"]: volume
        for volume in ec2.describe_volumes(VolumeIds=[e["VolumeId"] for e in mappings.values()])[
            "Volumes"
        ]
    }
    assert {device: v["Size"] for device, v in volumes.items()} == {
        "/dev/sda1": 50,
        "/dev/sdf": 100,
    }
    assert {v["VolumeType"] for v in volumes.values()} == {"gp3"}
    assert all(v["Encrypted"] for v in volumes.values())
    assert all(tags(v) == expected_tags for v in volumes.values())

    # One network interface, deleted with the instance, source/destination check turned off.
    (interface,) = instance["NetworkInterfaces"]
    assert interface["SubnetId"] == network.subnet_id
    assert [group["GroupId"] for group in interface["Groups"]] == [network.security_group_id]
    assert interface["Attachment"]["DeleteOnTermination"] is True
    assert interface["SourceDestCheck"] is False
    assert "PublicIpAddress" not in instance

    # The user data: the sample's, with the machine's name and its bootstrap token filled in.
    encoded = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    user_data = base64.b64decode(encoded["UserData"]["Value"]).decode()
    template = re.escape(sample_user_data())
    pattern = template.replace(re.escape("<<MACHINE_NAME>>"), re.escape(name)).replace(
        re.escape("<<BOOTSTRAP_TOKEN>>"), re.escape(bootstrap_token_id(name)) + r"\.[0-9a-z]{16}"
    )
    assert re.fullmatch(pattern, user_data), user_data

    # The Node the instance joined as.
    node = world.api.get(NODES, running.metadata.labels[NODE_LABEL_KEY])
    assert node["metadata"]["name"] == instance["PrivateDnsName"]
    assert node["spec"]["providerID"] == running.spec.provider_id
    assert running.status.last_operation.state is MachineState.SUCCESSFUL

    assert controller.stop() == 0  # SIGTERM: an orderly shutdown


@pytest.mark.timeout(90)
def test_deleting_a_machine_terminates_its_instance_and_leaves_no_interface_volume_or_node(
    world, ec2
):
    world.create_class()
    world.start_controller()
    name = f"delete-{world.namespace}"
    world.create_machine(name)
    running = world.wait_for_running(name)
    instance = world.instance(instance_id_of(running))
    interfaces = [ni["NetworkInterfaceId"] for ni in instance["NetworkInterfaces"]]
    volumes = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    node_name = running.metadata.labels[NODE_LABEL_KEY]
    world.front.reset_counts()

    world.api.delete(MACHINES, name, namespace=world.namespace)
    world.wait(lambda: world.machine(name) is None, timeout=DELETION_TIMEOUT, what="deletion")

    assert world.instance(instance["InstanceId"])["State"]["Name"] == "terminated"
    assert world.instances(name) == []
    left = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": interfaces}]
    )["NetworkInterfaces"]
    assert left == []
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volumes}])["Volumes"] == []
    with pytest.raises(NotFoundError):
        world.api.get(NODES, node_name)
    # DescribeInstances by ID (status, then DeleteMachine), TerminateInstances, and the look for
    # detached interfaces left behind.
    assert {action: c.total for action, c in world.endpoint.counts().items()} == {
        "DescribeInstances": 2,
        "TerminateInstances": 1,
        "DescribeNetworkInterfaces": 1,
    }


@pytest.mark.timeout(60)
def test_an_invalid_provider_spec_fails_the_machine_with_the_validation_message_and_no_instance(
    world,
):
    world.create_class(
        provider_spec={"ami": None, "tags": {f"kubernetes.io/cluster/{world.namespace}": "1"}}
    )
    world.start_controller()
    name = f"invalid-{world.namespace}"

    world.create_machine(name)

    def failed() -> Machine | None:
        found = world.machine(name)
        operation = found.status.last_operation if found is not None else None
        return found if operation is not None and operation.state is MachineState.FAILED else None

    found = world.wait(failed, timeout=JOIN_TIMEOUT, what="a Failed lastOperation")
    assert found.status.last_operation.description == (
        "Cloud provider message - machine codes error: code = [InvalidArgument] message ="
        " [error while validating ProviderSpec [providerSpec.ami: Required value: AMI is required,"
        " providerSpec.tags[]: Required value: Tag required of the form kubernetes.io/role/****]]"
    )
    assert found.status.last_operation.error_code == "InvalidArgument"
    assert found.phase is MachinePhase.CRASH_LOOP_BACK_OFF
    assert found.spec.provider_id == ""
    assert world.endpoint.counts() == {}  # refused before any EC2 call
    assert world.instances(name) == []


@pytest.mark.timeout(60)
def test_insufficient_capacity_backs_off_for_the_resource_exhausted_retry_then_the_machine_runs(
    world,
):
    world.create_class()
    world.start_controller("--resource-exhausted-retry=2s")
    message = (
        "We currently do not have sufficient m5.large capacity in the Availability Zone you"
        " requested (eu-west-1a)."
    )
    # Three failures: at most two of the retries come at once (at start-up the class controller
    # enqueues its machines when it adds its finalizer, and again on that update), so at least one
    # waits the resource-exhausted retry.
    world.front.fail_next("RunInstances", "InsufficientInstanceCapacity", message=message, count=3)
    name = f"capacity-{world.namespace}"

    world.create_machine(name)

    def exhausted() -> Machine | None:
        found = world.machine(name)
        code = found.status.last_operation.error_code if found is not None else ""
        return found if code == "ResourceExhausted" else None

    failed = world.wait(exhausted, timeout=JOIN_TIMEOUT, what="ResourceExhausted")
    seen = time.monotonic()
    world.wait(lambda: world.front.calls("RunInstances") == 4, timeout=15.0, what="the retries")
    launched_after = time.monotonic() - seen
    running = world.wait_for_running(name)

    assert failed.phase is MachinePhase.CRASH_LOOP_BACK_OFF
    assert failed.status.last_operation.state is MachineState.FAILED
    assert failed.status.last_operation.description == (
        "Cloud provider message - machine codes error: code = [ResourceExhausted] message ="
        " [An error occurred (InsufficientInstanceCapacity) when calling the RunInstances"
        f" operation: {message}]"
    )
    assert launched_after >= 1.5  # the 2 s resource-exhausted retry, less the polling delay
    assert world.endpoint.counts()["RunInstances"] == ActionCounts(total=4, failed=3, injected=3)
    assert [i["InstanceId"] for i in world.instances(name)] == [instance_id_of(running)]
    assert world.events("CreateFailed")


@pytest.mark.timeout(60)
def test_request_limit_exceeded_is_absorbed_by_retries_with_back_off(world):
    world.create_class()
    world.start_controller()
    for action in ("DescribeInstances", "RunInstances"):
        world.front.fail_next(
            action, "RequestLimitExceeded", message="Request limit exceeded.", status=503, count=2
        )
    name = f"throttled-{world.namespace}"

    world.create_machine(name)
    running = world.wait_for_running(name)

    counts = world.endpoint.counts()
    assert counts["RunInstances"] == ActionCounts(total=3, failed=2, injected=2)
    assert counts["DescribeInstances"].injected == 2
    assert world.events("CreateFailed") == []  # the controller never saw an error
    assert running.status.last_operation.state is MachineState.SUCCESSFUL
    assert [i["InstanceId"] for i in world.instances(name)] == [instance_id_of(running)]


@pytest.mark.timeout(60)
def test_a_controller_killed_between_run_instances_and_its_status_write_leaves_one_instance(world):
    world.create_class()
    first = world.start_controller()
    held = world.front.hold_next("RunInstances")
    name = f"killed-{world.namespace}"

    world.create_machine(name)
    assert held.wait(JOIN_TIMEOUT), "RunInstances never reached EC2"
    (launched,) = world.instances(name)  # EC2 launched it; the controller has not heard of it
    first.kill()
    held.release()  # to a caller that is gone
    before_restart = world.machine(name)
    world.start_controller()
    running = world.wait_for_running(name)

    assert before_restart is not None
    assert before_restart.spec.provider_id == ""  # the killed controller recorded nothing
    assert first.returncode == -9
    assert [i["InstanceId"] for i in world.instances(name)] == [launched["InstanceId"]]
    assert instance_id_of(running) == launched["InstanceId"]
    assert world.front.calls("RunInstances") == 1  # the new controller found it by its tags


@pytest.mark.timeout(60)
def test_a_lost_run_instances_answer_is_retried_with_the_same_client_token_and_one_instance(world):
    world.create_class()
    world.start_controller()
    held = world.front.hold_next("RunInstances")
    name = f"lost-{world.namespace}"

    world.create_machine(name)
    assert held.wait(JOIN_TIMEOUT), "RunInstances never reached EC2"
    held.drop()  # the connection closes without an answer: botocore retries the call
    running = world.wait_for_running(name)

    assert world.endpoint.counts()["RunInstances"] == ActionCounts(total=2, replayed=1)
    assert [i["InstanceId"] for i in world.instances(name)] == [instance_id_of(running)]


@pytest.mark.timeout(60)
def test_a_created_machine_costs_four_describe_instances_one_run_instances_and_one_modify(world):
    world.start_controller()  # before the class: its first orphan pass has nothing to list
    world.create_class()
    first = f"{world.namespace}-count-0"
    others = [f"{world.namespace}-count-{index}" for index in (1, 2)]

    world.create_machine(first)
    world.wait_for_running(first)
    for_the_first = world.endpoint.counts()
    world.front.reset_counts()
    for name in others:
        world.create_machine(name)
    for name in others:
        world.wait_for_running(name)
    for_two_more = world.endpoint.counts()

    # GetMachineStatus by tags (none yet), RunInstances, DescribeInstances until visible,
    # InitializeMachine (by ID; the class turns the source/destination check off), and the next
    # pass's GetMachineStatus by ID. The AMI's root device is described once per AMI.
    assert {action: c.total for action, c in for_the_first.items()} == {
        "DescribeImages": 1,
        "DescribeInstances": 4,
        "RunInstances": 1,
        "ModifyNetworkInterfaceAttribute": 1,
    }
    assert {action: c.total for action, c in for_two_more.items()} == {
        "DescribeInstances": 8,
        "RunInstances": 2,
        "ModifyNetworkInterfaceAttribute": 2,
    }
    assert not any(
        c.failed or c.throttled for c in (*for_the_first.values(), *for_two_more.values())
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("world", [pytest.param(0.0, id="no-join-delay")], indirect=True)
def test_a_node_registered_before_the_stale_node_check_is_the_new_instances_own(world):
    world.create_class()
    controller = world.start_controller()
    adds = node_queue_adds(controller)
    held = world.front.hold_next("RunInstances")
    name = f"fast-{world.namespace}"
    world.create_machine(name)
    assert held.wait(JOIN_TIMEOUT), "RunInstances never reached EC2"
    (launched,) = world.instances(name)
    node_name = launched["PrivateDnsName"]
    # The kubelet registers the Node while the controller still waits for the RunInstances answer,
    # and the controller's Node informer has it (its handler queued it) before the answer arrives.
    node = world.wait(
        lambda: world.api.get(NODES, node_name), timeout=JOIN_TIMEOUT, what="the Node"
    )
    world.wait(
        lambda: node_queue_adds(controller) > adds, timeout=JOIN_TIMEOUT, what="the Node seen"
    )

    held.release()
    running = world.wait_for_running(name)

    assert instance_id_of(running) == launched["InstanceId"]
    assert running.metadata.labels[NODE_LABEL_KEY] == node_name
    assert node["spec"]["providerID"] == running.spec.provider_id
    all_states = ("pending", "running", "shutting-down", "terminated", "stopping", "stopped")
    assert [i["InstanceId"] for i in world.instances(name, states=all_states)] == [
        launched["InstanceId"]
    ]
    assert world.endpoint.counts()["RunInstances"] == ActionCounts(total=1)
    assert world.events("StaleNode") == []

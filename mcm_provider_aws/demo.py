"""``make demo``: the AWS machine controller on one machine, without a cloud account.

`main` (run by ``hack/demo.py``) brings up, in this order:

1. a local control plane (`mcm.testing.envtest.ControlPlane`: etcd + kube-apiserver) with the
   machine CRDs of ``kubernetes/crds`` installed; it plays the control and the target cluster;
2. EC2 (`mcm_provider_aws.testing.EC2Endpoint`: moto behind the fault front) with what a
   MachineClass refers to (`create_network`): a VPC, a subnet, a security group, an instance
   profile, a key pair, and one of moto's AMIs;
3. a kubelet simulator (`mcm.testing.kubelet.KubeletSimulator` over
   `mcm_provider_aws.testing.EC2VMSource`) that registers a Ready Node for every running instance
   of the demo's cluster. It reads EC2 with a direct client (past the front), so the front counts
   the controller's EC2 calls only;
4. the ``machine-controller`` binary as a child process (`ControllerProcess`: its launcher
   ``cmd/machine-controller/main.py``), pointed at the kubeconfig and at the front with
   ``--aws-endpoint-url``;

then applies the samples ``kubernetes/secret.yaml`` and ``kubernetes/machine-class.yaml`` with the
local IDs filled in (`secrets`, `machine_class`) and a few Machines (`machine`), shows a table of
the machines, refreshed every second, until every one is Running with an instance and a Ready
Node, and prints how to look around: kubectl commands, the same with curl (kubectl may be
missing), EC2 through boto3, the controller's metrics and log. It then runs until Ctrl-C (or
SIGTERM), which tears everything down in reverse order; ``--exit-when-ready`` tears down as soon
as the machines are ready (for CI). No process is left behind: the controller and the control
plane's processes are stopped, and die with the demo if it is killed (``PR_SET_PDEATHSIG``). The
logs of the demo and of the controller are kept in a directory the demo names.

The building blocks are public because the integration tests build the same world with them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, Self

import attrs
import boto3
import click
import yaml

from mcm.api.constants import NODE_LABEL_KEY
from mcm.api.core import Node
from mcm.api.machine import Machine, MachinePhase
from mcm.errors import AlreadyExistsError
from mcm.kube.client import KubeClient
from mcm.kube.resources import MACHINE_CLASSES, MACHINES, NAMESPACES, NODES, SECRETS
from mcm.testing.envtest import BinaryNotFoundError, ControlPlane, find_binary
from mcm.testing.kubelet import KubeletSimulator
from mcm_provider_aws.provider_spec import CLUSTER_TAG_PREFIX
from mcm_provider_aws.testing import EC2Endpoint, EC2VMSource
from mcm_provider_aws.testing.ec2_endpoint import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY

__all__ = [
    "CRD_DIR",
    "LAUNCHER",
    "REPO",
    "SAMPLES",
    "ControllerProcess",
    "EC2Network",
    "controller_command",
    "create_network",
    "free_port",
    "machine",
    "machine_class",
    "main",
    "sample",
    "secrets",
]

logger = logging.getLogger(__name__)

REPO: Final = Path(__file__).resolve().parents[1]
"""The checkout: the demo runs from one (the samples and the launcher are not installed)."""
SAMPLES: Final = REPO / "kubernetes"
CRD_DIR: Final = SAMPLES / "crds"
LAUNCHER: Final = REPO / "cmd" / "machine-controller" / "main.py"
ENVTEST_SCRIPT: Final = REPO / "hack" / "envtest.sh"

DEMO_REGION: Final = "eu-west-1"
DEMO_CLUSTER: Final = "shoot--demo--local"
DEMO_NAMESPACE: Final = "default"
KUBELET_JOIN_DELAY: Final = 2.0
"""Seconds from an instance running to its Node registering, as a VM boots before its kubelet
joins (an instant Node would look to the controller like an old Node of the same name)."""

_PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------------------------ EC2 side


@attrs.frozen(kw_only=True)
class EC2Network:
    """What a MachineClass refers to, as created in moto by `create_network`."""

    region: str
    zone: str
    vpc_id: str
    subnet_id: str
    security_group_id: str
    instance_profile: str
    key_name: str
    ami: str


def create_network(
    endpoint: EC2Endpoint,
    *,
    name: str,
    cidr: str = "10.250.0.0/16",
    subnet_cidr: str = "10.250.0.0/19",
) -> EC2Network:
    """A VPC, a subnet in the region's first zone, a security group, an instance profile (moto
    checks that it exists) and a key pair, all named after *name*, and the first of moto's AMIs.

    Talks to moto directly, so the front counts nothing of it.
    """
    region = endpoint.region
    ec2 = endpoint.client(direct=True)
    iam = boto3.client(
        "iam",
        region_name=region,
        endpoint_url=endpoint.moto_url,
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
    )
    zone = f"{region}a"
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr, AvailabilityZone=zone)[
        "Subnet"
    ]["SubnetId"]
    group_id = ec2.create_security_group(
        GroupName=f"{name}-nodes", Description=f"nodes of {name}", VpcId=vpc_id
    )["GroupId"]
    profile = iam.create_instance_profile(InstanceProfileName=f"{name}-nodes")
    key_name = ec2.create_key_pair(KeyName=f"{name}-ssh-publickey")["KeyName"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    return EC2Network(
        region=region,
        zone=zone,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        security_group_id=group_id,
        instance_profile=profile["InstanceProfile"]["InstanceProfileName"],
        key_name=key_name,
        ami=ami,
    )


# ------------------------------------------------------------------------------------ samples


@functools.cache
def _documents(file_name: str) -> tuple[Mapping[str, Any], ...]:
    with (SAMPLES / file_name).open() as stream:
        return tuple(doc for doc in yaml.safe_load_all(stream) if doc)


def sample(file_name: str) -> list[dict[str, Any]]:
    """The documents of ``kubernetes/<file_name>``, as fresh dicts a caller may change."""
    return [copy.deepcopy(dict(doc)) for doc in _documents(file_name)]


def machine_class(
    network: EC2Network,
    *,
    namespace: str,
    cluster: str,
    provider_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``kubernetes/machine-class.yaml`` for *network*, in *namespace*, tagged for *cluster*.

    The sample's AMI, region, zone, subnet, security group, instance profile and key pair are
    replaced by *network*'s, its cluster tag by ``kubernetes.io/cluster/<cluster>``, its
    namespaces by *namespace*; *provider_spec* keys then replace the spec's own (None values
    delete them).
    """
    (doc,) = sample("machine-class.yaml")
    doc["metadata"]["namespace"] = namespace
    doc["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"] = network.zone
    doc["nodeTemplate"].update(region=network.region, zone=network.zone)
    spec = doc["providerSpec"]
    spec.update(
        ami=network.ami,
        region=network.region,
        iam={"name": network.instance_profile},
        keyName=network.key_name,
    )
    for interface in spec["networkInterfaces"]:
        interface.update(subnetID=network.subnet_id, securityGroupIDs=[network.security_group_id])
    spec["tags"] = {
        (CLUSTER_TAG_PREFIX + cluster if key.startswith(CLUSTER_TAG_PREFIX) else key): value
        for key, value in spec["tags"].items()
    }
    for key, value in (provider_spec or {}).items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    for ref in ("secretRef", "credentialsSecretRef"):
        doc[ref]["namespace"] = namespace
    return doc


def secrets(
    *,
    namespace: str,
    access_key_id: str = DUMMY_ACCESS_KEY_ID,
    secret_access_key: str = DUMMY_SECRET_ACCESS_KEY,
) -> list[dict[str, Any]]:
    """``kubernetes/secret.yaml`` in *namespace*: the user data as the sample has it, and the
    credentials secret with these keys (moto takes any)."""
    documents = sample("secret.yaml")
    for doc in documents:
        doc["metadata"]["namespace"] = namespace
        if "accessKeyID" in doc["data"]:
            doc["data"] = {
                "accessKeyID": _b64(access_key_id),
                "secretAccessKey": _b64(secret_access_key),
            }
    return documents


def machine(name: str, *, namespace: str, class_name: str | None = None) -> dict[str, Any]:
    """``kubernetes/machine.yaml`` renamed to *name* in *namespace* (of the sample class, or of
    *class_name*)."""
    (doc,) = sample("machine.yaml")
    doc["metadata"].update(name=name, namespace=namespace)
    if class_name is not None:
        doc["spec"]["class"]["name"] = class_name
    return doc


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------------------ the controller


def controller_command(
    *,
    kubeconfig: str | os.PathLike[str],
    namespace: str,
    endpoint_url: str,
    port: int,
    extra: Sequence[str] = (),
) -> list[str]:
    """The launcher's command line: one cluster as control and target, EC2 at *endpoint_url*,
    health and metrics on ``127.0.0.1:<port>``; *extra* flags last (they win)."""
    return [
        sys.executable,
        str(LAUNCHER),
        f"--control-kubeconfig={kubeconfig}",
        f"--target-kubeconfig={kubeconfig}",
        f"--namespace={namespace}",
        f"--aws-endpoint-url={endpoint_url}",
        "--address=127.0.0.1",
        f"--port={port}",
        *extra,
    ]


class ControllerProcess:
    """The ``machine-controller`` binary as a child process, its output in *log_path*.

    The child runs in a session of its own (a terminal's ^C reaches the parent only, which stops
    it in order) and, on Linux, dies with the thread that started it (``PR_SET_PDEATHSIG``).
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        log_path: Path,
        port: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.log_path = log_path
        self.port = port
        self._env = dict(os.environ if env is None else env)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._require().pid

    @property
    def url(self) -> str:
        """Its HTTP server: ``/metrics``, ``/healthz``, ``/readyz``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._require().poll()

    def _require(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the machine controller was not started")
        return self._process

    def start(self) -> Self:
        libc = _libc()
        preexec = functools.partial(_die_with_parent, os.getpid(), libc) if libc else None
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 -- our interpreter and launcher
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 -- prctl, getppid, kill: no locks taken
                close_fds=True,
            )
        logger.info("machine-controller started (pid %d)", self._process.pid)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Block until ``/readyz`` answers 200 (leading, caches synced).

        Raises `RuntimeError` with the log's tail if the process exits or *timeout* passes.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise RuntimeError(
                    f"machine-controller exited with {self.returncode}:\n{self.log_tail()}"
                )
            if _http_status(self.url + "/readyz") == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"machine-controller not ready within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (an orderly shutdown), SIGKILL after *timeout* seconds; the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("machine-controller ignored SIGTERM for %.0fs; killing it", timeout)
                self.kill()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash or an OOM kill."""
        process = self._require()
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _die_with_parent(parent_pid: int, libc: ctypes.CDLL) -> None:
    """``preexec_fn``: SIGKILL this child when its parent (thread) dies, even if it already did."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 -- loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------------------------ the demo


@attrs.frozen
class _Row:
    name: str
    phase: str
    provider_id: str
    node: str
    ready: bool


class _Demo:
    """One run of the demo; `run` blocks until Ctrl-C (or readiness with *exit_when_ready*)."""

    def __init__(
        self,
        *,
        machines: int,
        namespace: str,
        exit_when_ready: bool,
        timeout: float,
        log_dir: Path,
        out: IO[str],
    ) -> None:
        self.machines = [f"demo-{index}" for index in range(1, machines + 1)]
        self.namespace = namespace
        self.exit_when_ready = exit_when_ready
        self.timeout = timeout
        self.log_dir = log_dir
        self.out = out
        self.tty = out.isatty()
        self.stack = contextlib.ExitStack()
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def run(self) -> int:
        """Bring everything up, watch, wait; tear down whatever was brought up. The exit status."""
        with self.stack:
            try:
                return self._run()
            except (KeyboardInterrupt, _TerminatedError):
                self.say()
                self.step("interrupted: tearing down")
                return 0
            finally:
                # The teardown must finish: a second ^C now would leave processes behind.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _run(self) -> int:
        plane = self._control_plane()
        endpoint, network = self._ec2()
        api = self.stack.enter_context(
            KubeClient.from_kubeconfig(plane.kubeconfig_path, qps=100, burst=100)
        )
        self._kubelets(api, endpoint)
        controller = self._controller(plane, endpoint)
        self._apply(api, network)
        if not self._watch(api, endpoint, controller):
            return 1
        self._look_around(plane, endpoint, controller)
        if self.exit_when_ready:
            self.step("--exit-when-ready: tearing down")
            return 0
        self.say("Running until Ctrl-C, which stops everything.")
        _wait_for_interrupt(controller)
        return 0

    # --- bringing it up ---------------------------------------------------------------------------

    def _control_plane(self) -> ControlPlane:
        environ = dict(os.environ)
        try:
            find_binary("kube-apiserver", environ=environ)
            find_binary("etcd", environ=environ)
        except BinaryNotFoundError:
            self.step("kube-apiserver and etcd: not found; hack/envtest.sh provides them")
            self.step("  (a first run builds them from the Go module proxy: about 3½ minutes)")
            environ["KUBEBUILDER_ASSETS"] = _envtest_assets()
        plane = ControlPlane(environ=environ).start()
        self.stack.callback(self._stop, "control plane", plane.stop)
        names = plane.install_crds([CRD_DIR])
        self.step(f"control plane ready at {plane.server_url}; {len(names)} machine CRDs installed")
        return plane

    def _ec2(self) -> tuple[EC2Endpoint, EC2Network]:
        endpoint = EC2Endpoint(region=DEMO_REGION)
        endpoint.start()
        self.stack.callback(self._stop, "EC2 (moto and the fault front)", endpoint.stop)
        network = create_network(endpoint, name=DEMO_CLUSTER)
        self.step(f"EC2 at {endpoint.url} (the fault front; moto behind it at {endpoint.moto_url})")
        self.step(
            f"  {network.vpc_id}, {network.subnet_id} in {network.zone},"
            f" {network.security_group_id}, instance profile {network.instance_profile},"
            f" {network.ami}"
        )
        return endpoint, network

    def _kubelets(self, api: KubeClient, endpoint: EC2Endpoint) -> None:
        source = EC2VMSource(
            endpoint.client(direct=True), cluster_name=DEMO_CLUSTER, region=DEMO_REGION
        )
        simulator = KubeletSimulator(
            api, source, join_delay=KUBELET_JOIN_DELAY, poll_interval=0.5, name="demo-kubelets"
        )
        stop = threading.Event()
        thread = threading.Thread(target=simulator.run, args=(stop,), name="kubelets", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(10.0)

        self.stack.callback(self._stop, "kubelet simulator", halt)
        self.step(f"kubelet simulator: a Ready Node for every running instance of {DEMO_CLUSTER}")

    def _controller(self, plane: ControlPlane, endpoint: EC2Endpoint) -> ControllerProcess:
        port = free_port()
        command = controller_command(
            kubeconfig=plane.kubeconfig_path,
            namespace=self.namespace,
            endpoint_url=endpoint.url,
            port=port,
            extra=("--leader-elect=false", "--v=2"),
        )
        env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
        controller = ControllerProcess(
            command, log_path=self.log_dir / "machine-controller.log", port=port, env=env
        ).start()
        self.stack.callback(self._stop, "machine-controller", controller.stop)
        shown = " ".join(["python", str(LAUNCHER.relative_to(REPO)), *(arg for arg in command[2:])])
        self.step(f"machine-controller started (pid {controller.pid}): {shown}")
        controller.wait_ready(60.0)
        self.step(f"machine-controller ready; its log: {controller.log_path}")
        return controller

    def _apply(self, api: KubeClient, network: EC2Network) -> None:
        with contextlib.suppress(AlreadyExistsError):  # "default" is there already
            api.create(
                NAMESPACES,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            )
        for secret in secrets(namespace=self.namespace):
            api.create(SECRETS, secret, namespace=self.namespace)
        machine_class_doc = machine_class(network, namespace=self.namespace, cluster=DEMO_CLUSTER)
        api.create(MACHINE_CLASSES, machine_class_doc, namespace=self.namespace)
        for name in self.machines:
            api.create(MACHINES, machine(name, namespace=self.namespace), namespace=self.namespace)
        self.step(
            "applied kubernetes/secret.yaml, kubernetes/machine-class.yaml and"
            f" {len(self.machines)} Machines ({', '.join(self.machines)})"
        )
        self.say()

    # --- watching ---------------------------------------------------------------------------------

    def _rows(self, api: KubeClient) -> list[_Row]:
        listed = api.list(MACHINES, namespace=self.namespace).items
        machines = {m.metadata.name: m for m in map(Machine.from_dict, listed)}
        nodes = {n.metadata.name: n for n in map(Node.from_dict, api.list(NODES).items)}
        rows = []
        for name in self.machines:
            found = machines.get(name)
            if found is None:
                rows.append(_Row(name, "-", "", "", ready=False))
                continue
            node_name = found.metadata.labels.get(NODE_LABEL_KEY, "")
            node = nodes.get(node_name)
            ready = node is not None and _node_ready(node)
            shown_node = f"{node_name} ({'Ready' if ready else 'NotReady'})" if node else ""
            phase = found.phase.value if found.phase is not None else "-"
            rows.append(_Row(name, phase, found.spec.provider_id, shown_node, ready=ready))
        return rows

    def _table(self, rows: Sequence[_Row]) -> list[str]:
        widths = [
            max(len("MACHINE"), *(len(r.name) for r in rows)),
            max(len("PHASE"), *(len(r.phase) for r in rows)),
            max(len("PROVIDER ID"), *(len(r.provider_id or "-") for r in rows)),
        ]
        lines = [
            f"{'MACHINE':<{widths[0]}}  {'PHASE':<{widths[1]}}  {'PROVIDER ID':<{widths[2]}}  NODE"
        ]
        lines += [
            f"{r.name:<{widths[0]}}  {r.phase:<{widths[1]}}  {r.provider_id or '-':<{widths[2]}}"
            f"  {r.node or '-'}"
            for r in rows
        ]
        return lines

    def _watch(self, api: KubeClient, endpoint: EC2Endpoint, controller: ControllerProcess) -> bool:
        """Show the table every second until every machine is ready; False on timeout."""
        applied = time.monotonic()
        deadline = applied + self.timeout
        shown: list[str] = []
        while True:
            rows = self._rows(api)
            lines = self._table(rows)
            elapsed = time.monotonic() - applied
            if self.tty:
                if shown:
                    self.out.write(f"\x1b[{len(shown) + 1}F\x1b[J")
                self.say("\n".join(lines))
                self.say(f"({elapsed:.0f}s)")
                shown = lines
            elif lines != shown:
                self.say("\n".join(lines))
                self.say(f"({elapsed:.0f}s)")
                shown = lines
            running = [r for r in rows if r.phase == MachinePhase.RUNNING.value]
            if len(running) == len(rows) and all(r.ready and r.provider_id for r in rows):
                instances = _running_instances(endpoint, DEMO_CLUSTER)
                if len(instances) == len(rows):
                    self.say()
                    self.step(
                        f"all {len(rows)} machines Running in {elapsed:.1f}s:"
                        f" {len(instances)} instances, {len(rows)} Ready Nodes"
                    )
                    counts = endpoint.counts()
                    self.step(
                        "EC2 calls of the controller: "
                        + ", ".join(f"{action} {c.total}" for action, c in sorted(counts.items()))
                    )
                    return True
            if not controller.alive:
                self.say(f"machine-controller exited with {controller.returncode}:")
                self.say(controller.log_tail())
                return False
            if time.monotonic() > deadline:
                self.say(f"not ready within {self.timeout:.0f}s; the controller's log ends:")
                self.say(controller.log_tail())
                return False
            time.sleep(1.0)

    def _look_around(
        self, plane: ControlPlane, endpoint: EC2Endpoint, controller: ControllerProcess
    ) -> None:
        ns = self.namespace
        workdir = plane.workdir
        self.say()
        self.say("Look around (while the demo runs):")
        self.say(f"  export KUBECONFIG={plane.kubeconfig_path}")
        if shutil.which("kubectl") is None:
            self.say("  (kubectl is not installed here; the curl lines below do the same)")
        self.say(f"  kubectl -n {ns} get machines,machineclasses")
        self.say(
            "  kubectl get nodes -L node.kubernetes.io/instance-type,topology.kubernetes.io/zone"
        )
        self.say(f"  kubectl -n {ns} get machine {self.machines[0]} -o yaml")
        self.say(f"  kubectl -n {ns} delete machine {self.machines[0]}   # instance and Node go")
        self.say("The same with curl:")
        curl = (
            f"curl -s --cacert {workdir / 'ca.crt'} --cert {workdir / 'admin.crt'}"
            f" --key {workdir / 'admin.key'}"
        )
        machines_url = (
            f"{plane.server_url}/apis/machine.sapcloud.io/v1alpha1/namespaces/{ns}/machines"
        )
        self.say(f"  {curl} {machines_url}")
        self.say(f"  {curl} {plane.server_url}/api/v1/nodes")
        self.say(f"  {curl} -X DELETE {machines_url}/{self.machines[0]}")
        self.say("EC2 (moto, read directly so the fault front does not count it):")
        self.say(
            f"  {sys.executable} -c \"import boto3; print(boto3.client('ec2',"
            f" endpoint_url='{endpoint.moto_url}', region_name='{DEMO_REGION}',"
            " aws_access_key_id='x', aws_secret_access_key='x').describe_instances())\""
        )
        self.say("The controller's metrics and log:")
        self.say(f"  curl -s {controller.url}/metrics | grep -E '^mcm_(machine|cloud_api)'")
        self.say(f"  tail -f {controller.log_path}")
        self.say()

    # --- tearing down -----------------------------------------------------------------------------

    def _stop(self, what: str, stop: Any) -> None:
        started = time.monotonic()
        try:
            stop()
        except Exception:
            logger.exception("stopping the %s failed", what)
            self.step(f"stopping the {what} failed; see {self.log_dir / 'demo.log'}")
            return
        self.step(f"stopped the {what} ({time.monotonic() - started:.1f}s)")


def _node_ready(node: Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def _running_instances(endpoint: EC2Endpoint, cluster: str) -> list[str]:
    reply = endpoint.client(direct=True).describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": [CLUSTER_TAG_PREFIX + cluster]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    return [i["InstanceId"] for r in reply["Reservations"] for i in r["Instances"]]


def _envtest_assets() -> str:
    """The directory ``hack/envtest.sh`` prints last (it builds the binaries if it must)."""
    result = subprocess.run(  # noqa: S603 -- our own script
        ["bash", str(ENVTEST_SCRIPT)],  # noqa: S607 -- bash from PATH, as make uses it
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


def _wait_for_interrupt(controller: ControllerProcess) -> None:
    """Block until SIGINT/SIGTERM (or the controller dies)."""
    while controller.alive:
        time.sleep(0.5)
    print(f"machine-controller exited with {controller.returncode}; stopping", flush=True)


class _TerminatedError(Exception):
    """SIGTERM, handled as ^C is."""


def _raise_interrupted(signum: int, _frame: types.FrameType | None) -> None:
    raise _TerminatedError(signal.Signals(signum).name)


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Everything this process logs goes to *path*, not to the terminal the table is on."""
    handler = logging.FileHandler(path)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


@click.command("demo")
@click.option("--machines", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option(
    "--namespace",
    default=DEMO_NAMESPACE,
    show_default=True,
    help="Namespace of the machine objects.",
)
@click.option(
    "--exit-when-ready",
    is_flag=True,
    help="Tear down and exit 0 as soon as every machine runs (for CI); 1 if they do not.",
)
@click.option(
    "--timeout",
    type=float,
    default=180.0,
    show_default=True,
    help="Seconds the machines may take to become Running.",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo's and the controller's logs go (created); default: a new temp dir.",
)
def main(
    machines: int, namespace: str, exit_when_ready: bool, timeout: float, log_dir: Path | None
) -> None:
    """The machine controller with the AWS provider on a local control plane and a local EC2."""
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="mcm-demo-"))
    else:
        log_dir.mkdir(parents=True, exist_ok=True)
    out = sys.stdout
    print(
        "mcm demo: the machine-controller binary with the AWS provider, a local kube-apiserver,\n"
        "a local EC2 (moto) and simulated kubelets. Logs:"
        f" {log_dir}",
        file=out,
        flush=True,
    )
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _raise_interrupted)
    code = 1
    try:
        with _logging_to(log_dir / "demo.log"):
            demo = _Demo(
                machines=machines,
                namespace=namespace,
                exit_when_ready=exit_when_ready,
                timeout=timeout,
                log_dir=log_dir,
                out=out,
            )
            try:
                code = demo.run()
            except (KeyboardInterrupt, _TerminatedError):  # before the demo could handle it
                code = 0
            except Exception as exc:
                logger.exception("the demo failed")
                print(f"the demo failed: {exc}", file=out, flush=True)
                code = 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"done; logs kept in {log_dir}", file=out, flush=True)
    sys.exit(code)

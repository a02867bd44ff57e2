"""Realistic raw objects: what a Gardener shoot's API server sends for Machines, Nodes and Pods.

Parse and memory benchmarks are only as honest as their input, so these builders return objects of
the size and shape seen on real clusters rather than minimal ones: ``managedFields`` (which list
and watch responses include), a kubelet's Node status with its ``images`` list and the
node-problem-detector conditions, a Deployment's Pod with probes, a projected service account
token volume and container statuses, and a Machine as the machine controller keeps it (its Node's
conditions copied into ``status``). Sizes as JSON, roughly: Machine 4.5 KB, Node 11 KB, Pod 6 KB.

Every builder takes an index and is deterministic: the same index gives the same object, and
different indices give different names, UIDs and addresses. `list_body` wraps objects the way a
list response does.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = [
    "NAMESPACE",
    "list_body",
    "machine",
    "machine_class",
    "machine_name",
    "node",
    "node_name",
    "pod",
    "secret",
]

JSON = dict[str, Any]

NAMESPACE = "shoot--core--prod"
"""The control namespace Machines live in."""

_CREATED = "2024-05-13T09:12:44Z"
_HEARTBEAT = "2024-05-14T11:02:05Z"
_REGION = "eu-west-1"
_ZONE = "eu-west-1a"
_POOL = "worker-a"

_IMAGES = (
    ("europe-docker.pkg.dev/gardener-project/releases/gardener/node-problem-detector", 61_234_112),
    ("registry.k8s.io/kube-proxy", 28_412_331),
    ("quay.io/calico/node", 116_803_119),
    ("quay.io/calico/cni", 91_234_004),
    ("quay.io/calico/typha", 30_871_222),
    ("registry.k8s.io/coredns/coredns", 16_190_758),
    ("registry.k8s.io/sig-storage/csi-node-driver-registrar", 10_824_554),
    ("registry.k8s.io/sig-storage/livenessprobe", 9_873_010),
    ("public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver", 78_221_409),
    ("registry.k8s.io/dns/k8s-dns-node-cache", 34_812_003),
    ("europe-docker.pkg.dev/gardener-project/releases/gardener/apiserver-proxy", 21_003_884),
    ("registry.k8s.io/metrics-server/metrics-server", 19_092_551),
    ("quay.io/prometheus/node-exporter", 11_512_099),
    ("registry.k8s.io/pause", 321_520),
    ("docker.io/library/nginx", 70_521_633),
    ("ghcr.io/example/payments-api", 201_338_772),
    ("ghcr.io/example/orders-worker", 184_772_301),
    ("ghcr.io/example/frontend", 98_310_442),
    ("docker.io/bitnami/redis", 39_887_210),
    ("docker.io/library/postgres", 151_293_114),
    ("quay.io/jetstack/cert-manager-controller", 17_992_112),
    ("registry.k8s.io/ingress-nginx/controller", 105_339_871),
    ("docker.io/grafana/promtail", 89_017_224),
    ("docker.io/fluent/fluent-bit", 32_112_990),
)
_NODE_CONDITIONS = (
    ("KernelDeadlock", "False", "KernelHasNoDeadlock", "kernel has no deadlock"),
    ("ReadonlyFilesystem", "False", "FilesystemIsNotReadOnly", "Filesystem is not read-only"),
    (
        "FrequentUnregisterNetDevice",
        "False",
        "NoFrequentUnregisterNetDevice",
        "node is functioning",
    ),
    ("FrequentKubeletRestart", "False", "NoFrequentKubeletRestart", "kubelet is functioning"),
    ("FrequentContainerdRestart", "False", "NoFrequentContainerdRestart", "containerd is fine"),
    ("NetworkUnavailable", "False", "CalicoIsUp", "Calico is running on this node"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status. AppArmor enabled"),
)


def _uid(kind: str, index: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(f"{kind}/{index}".encode()).digest()))  # noqa: S324


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ip(index: int) -> str:
    return f"10.250.{index // 250 % 250}.{index % 250 + 2}"


def _instance_id(index: int) -> str:
    return f"i-{hashlib.sha1(str(index).encode()).hexdigest()[:17]}"  # noqa: S324


_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of the random suffix ``generateName`` adds (apimachinery's ``utilrand``)."""


def machine_name(index: int) -> str:
    """A MachineSet's Machine name: prefix, then a five-character suffix as ``generateName`` adds.

    The suffix's first three characters spell *index* in base 27, so that names up to index 19682
    differ there: the machine controller derives a Machine's bootstrap token ID from those three
    bytes (upstream's ``getTokenIDAndSecretName``), and real random suffixes rarely collide.
    """
    base = len(_SUFFIX_ALPHABET)
    digits = [_SUFFIX_ALPHABET[index // base**power % base] for power in (2, 1, 0)]
    tail = hashlib.md5(str(index).encode()).digest()  # noqa: S324 -- not for security
    digits += [_SUFFIX_ALPHABET[byte % base] for byte in tail[:2]]
    return f"shoot--core--prod-{_POOL}-z1-7f9c8-{''.join(digits)}"


def node_name(index: int) -> str:
    return f"ip-{_ip(index).replace('.', '-')}.{_REGION}.compute.internal"


def _provider_id(index: int) -> str:
    return f"aws:///{_ZONE}/{_instance_id(index)}"


def _fields(*paths: str) -> JSON:
    """A ``fieldsV1`` tree with an empty leaf at every dotted path (``f:`` prefixes added)."""
    tree: JSON = {}
    for path in paths:
        branch = tree
        for part in path.split("."):
            branch = branch.setdefault(f"f:{part}" if not part.startswith("k:") else part, {})
    return tree


def _managed(manager: str, operation: str, subresource: str | None, *paths: str) -> JSON:
    entry: JSON = {
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": _fields(*paths),
        "manager": manager,
        "operation": operation,
        "time": _HEARTBEAT,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _conditions() -> list[JSON]:
    return [
        {
            "lastHeartbeatTime": _HEARTBEAT,
            "lastTransitionTime": _CREATED,
            "message": message,
            "reason": reason,
            "status": status,
            "type": kind,
        }
        for kind, status, reason, message in _NODE_CONDITIONS
    ]


def node(index: int) -> JSON:
    """A Ready worker Node of an AWS shoot (about 11 KB as JSON)."""
    name = node_name(index)
    instance = _instance_id(index)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "m5.xlarge",
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": _REGION,
        "failure-domain.beta.kubernetes.io/zone": _ZONE,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "networking.gardener.cloud/node-local-dns-enabled": "true",
        "node.kubernetes.io/instance-type": "m5.xlarge",
        "node.kubernetes.io/role": "node",
        "topology.ebs.csi.aws.com/zone": _ZONE,
        "topology.kubernetes.io/region": _REGION,
        "topology.kubernetes.io/zone": _ZONE,
        "worker.garden.sapcloud.io/group": _POOL,
        "worker.gardener.cloud/cri-name": "containerd",
        "worker.gardener.cloud/pool": _POOL,
        "worker.gardener.cloud/system-components": "true",
        "node.gardener.cloud/machine-name": machine_name(index),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "checksum/cloud-config-data": _digest(f"cloud-config/{_POOL}"),
                "csi.volume.kubernetes.io/nodeid": f'{{"ebs.csi.aws.com":"{instance}"}}',
                "node.alpha.kubernetes.io/ttl": "0",
                "node.machine.sapcloud.io/last-applied-anno-labels-taints": (
                    '{"metadata":{"labels":{"node.kubernetes.io/role":"node",'
                    f'"worker.gardener.cloud/pool":"{_POOL}"}}}}}}'
                ),
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": _CREATED,
            "finalizers": ["node.machine.sapcloud.io/machine-controller"],
            "labels": labels,
            "managedFields": [
                _managed(
                    "kubelet",
                    "Update",
                    None,
                    "metadata.annotations..",
                    "metadata.labels.kubernetes.io/hostname",
                    "spec.providerID",
                ),
                _managed(
                    "machine-controller-manager-provider-aws",
                    "Update",
                    None,
                    "metadata.finalizers..",
                    "metadata.labels.node.kubernetes.io/role",
                    "metadata.labels.worker.gardener.cloud/pool",
                ),
                _managed(
                    "kubelet",
                    "Update",
                    "status",
                    "status.allocatable.cpu",
                    "status.allocatable.memory",
                    'status.conditions.k:{"type":"Ready"}.lastHeartbeatTime',
                    'status.conditions.k:{"type":"DiskPressure"}.lastHeartbeatTime',
                    "status.images",
                    "status.nodeInfo.bootID",
                ),
            ],
            "name": name,
            "resourceVersion": str(1_000_000 + index),
            "uid": _uid("node", index),
        },
        "spec": {
            "podCIDR": f"100.96.{index % 250}.0/24",
            "podCIDRs": [f"100.96.{index % 250}.0/24"],
            "providerID": _provider_id(index),
        },
        "status": {
            "addresses": [
                {"address": _ip(index), "type": "InternalIP"},
                {"address": name, "type": "InternalDNS"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {
                "cpu": "3920m",
                "ephemeral-storage": "48307848608",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "14879932Ki",
                "pods": "110",
            },
            "capacity": {
                "cpu": "4",
                "ephemeral-storage": "50620216Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "15897788Ki",
                "pods": "110",
            },
            "conditions": _conditions(),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": [
                {
                    "names": [
                        f"{image}@sha256:{_digest(image)}",
                        f"{image}:v1.{number % 9}.{number % 4}",
                    ],
                    "sizeBytes": size,
                }
                for number, (image, size) in enumerate(_IMAGES)
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": _uid("boot", index),
                "containerRuntimeVersion": "containerd://1.7.13",
                "kernelVersion": "6.6.21-cloud-amd64",
                "kubeProxyVersion": "v1.29.4",
                "kubeletVersion": "v1.29.4",
                "machineID": _digest(name)[:32],
                "operatingSystem": "linux",
                "osImage": "Garden Linux 1443.3",
                "systemUUID": _uid("system", index),
            },
            "volumesAttached": [
                {
                    "devicePath": "",
                    "name": f"kubernetes.io/csi/ebs.csi.aws.com^vol-{_digest(str(index))[:17]}",
                }
            ],
            "volumesInUse": [f"kubernetes.io/csi/ebs.csi.aws.com^vol-{_digest(str(index))[:17]}"],
        },
    }


def pod(index: int) -> JSON:
    """A running Pod of a Deployment with one app container and a sidecar (about 6 KB)."""
    app = ("payments-api", "orders-worker", "frontend")[index % 3]
    template_hash = _digest(app)[:10]
    name = f"{app}-{template_hash}-{_digest(str(index))[:5]}"
    container_ports = [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "annotations": {
                "checksum/config": _digest(f"config/{app}"),
                "kubectl.kubernetes.io/restartedAt": "2024-05-10T08:00:00Z",
            },
            "creationTimestamp": _CREATED,
            "generateName": f"{app}-{template_hash}-",
            "labels": {
                "app.kubernetes.io/instance": app,
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/version": "2.14.1",
                "pod-template-hash": template_hash,
            },
            "managedFields": [
                _managed(
                    "kube-controller-manager",
                    "Update",
                    None,
                    "metadata.generateName",
                    "metadata.labels..",
                    "metadata.ownerReferences..",
                    'spec.containers.k:{"name":"app"}.image',
                    "spec.volumes..",
                ),
                _managed(
                    "kubelet",
                    "Update",
                    "status",
                    "status.conditions..",
                    "status.containerStatuses",
                    "status.hostIP",
                    "status.podIP",
                    "status.startTime",
                ),
            ],
            "name": name,
            "namespace": "production",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": "ReplicaSet",
                    "name": f"{app}-{template_hash}",
                    "uid": _uid("replicaset", index % 3),
                }
            ],
            "resourceVersion": str(2_000_000 + index),
            "uid": _uid("pod", index),
        },
        "spec": {
            "containers": [
                {
                    "args": ["--config=/etc/app/config.yaml", "--log-format=json"],
                    "env": [
                        {"name": "GOMAXPROCS", "value": "2"},
                        {"name": "APP_ENV", "value": "production"},
                        {
                            "name": "POD_NAME",
                            "valueFrom": {
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                            },
                        },
                        {
                            "name": "DB_PASSWORD",
                            "valueFrom": {"secretKeyRef": {"key": "password", "name": "db"}},
                        },
                    ],
                    "image": f"ghcr.io/example/{app}:v2.14.1",
                    "imagePullPolicy": "IfNotPresent",
                    "livenessProbe": {
                        "failureThreshold": 3,
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "timeoutSeconds": 1,
                    },
                    "name": "app",
                    "ports": container_ports,
                    "readinessProbe": {
                        "failureThreshold": 3,
                        "httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 5,
                        "successThreshold": 1,
                        "timeoutSeconds": 1,
                    },
                    "resources": {
                        "limits": {"memory": "1Gi"},
                        "requests": {"cpu": "250m", "memory": "512Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [
                        {"mountPath": "/etc/app", "name": "config", "readOnly": True},
                        {
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "name": "kube-api-access-x7k2q",
                            "readOnly": True,
                        },
                    ],
                },
                {
                    "image": "docker.io/fluent/fluent-bit:3.0.4",
                    "imagePullPolicy": "IfNotPresent",
                    "name": "log-shipper",
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [
                        {
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "name": "kube-api-access-x7k2q",
                            "readOnly": True,
                        }
                    ],
                },
            ],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "nodeName": node_name(index // 20),
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {"fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "serviceAccount": app,
            "serviceAccountName": app,
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {
                    "effect": "NoExecute",
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "tolerationSeconds": 300,
                },
                {
                    "effect": "NoExecute",
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "tolerationSeconds": 300,
                },
            ],
            "volumes": [
                {"configMap": {"defaultMode": 420, "name": f"{app}-config"}, "name": "config"},
                {
                    "name": "kube-api-access-x7k2q",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "expirationSeconds": 3607,
                                    "path": "token",
                                }
                            },
                            {
                                "configMap": {
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                    "name": "kube-root-ca.crt",
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                            "path": "namespace",
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                },
            ],
        },
        "status": {
            "conditions": [
                {
                    "lastProbeTime": None,
                    "lastTransitionTime": _CREATED,
                    "status": "True",
                    "type": kind,
                }
                for kind in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": [
                {
                    "containerID": f"containerd://{_digest(f'{name}/{container}')}",
                    "image": image,
                    "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{_digest(image)}",
                    "lastState": {},
                    "name": container,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": _CREATED}},
                }
                for container, image in (
                    ("app", f"ghcr.io/example/{app}:v2.14.1"),
                    ("log-shipper", "docker.io/fluent/fluent-bit:3.0.4"),
                )
            ],
            "hostIP": _ip(index // 20),
            "hostIPs": [{"ip": _ip(index // 20)}],
            "phase": "Running",
            "podIP": f"100.96.{index // 20 % 250}.{index % 250 + 2}",
            "podIPs": [{"ip": f"100.96.{index // 20 % 250}.{index % 250 + 2}"}],
            "qosClass": "Burstable",
            "startTime": _CREATED,
        },
    }


def machine(index: int) -> JSON:
    """A Running Machine of a MachineSet, as the machine controller keeps it (about 4.5 KB)."""
    name = machine_name(index)
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {
            "annotations": {"machinepriority.machine.sapcloud.io": "3"},
            "creationTimestamp": _CREATED,
            "finalizers": ["machine.sapcloud.io/machine-controller-manager"],
            "generateName": f"shoot--core--prod-{_POOL}-z1-7f9c8-",
            "generation": 1,
            "labels": {
                "machine-template-hash": "3482937452",
                "name": f"shoot--core--prod-{_POOL}-z1",
                "node": node_name(index),
            },
            "managedFields": [
                _managed(
                    "machine-controller-manager",
                    "Update",
                    None,
                    "metadata.generateName",
                    "metadata.labels..",
                    "metadata.ownerReferences..",
                    "spec.class..",
                    "spec.nodeTemplate..",
                ),
                _managed(
                    "machine-controller",
                    "Update",
                    "status",
                    "status.conditions",
                    "status.currentStatus..",
                    "status.lastOperation..",
                ),
            ],
            "name": name,
            "namespace": NAMESPACE,
            "ownerReferences": [
                {
                    "apiVersion": "machine.sapcloud.io/v1alpha1",
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": "MachineSet",
                    "name": f"shoot--core--prod-{_POOL}-z1-7f9c8",
                    "uid": _uid("machineset", 0),
                }
            ],
            "resourceVersion": str(3_000_000 + index),
            "uid": _uid("machine", index),
        },
        "spec": {
            "class": {"kind": "MachineClass", "name": f"shoot--core--prod-{_POOL}-z1-2f1b4"},
            "creationTimeout": "20m",
            "drainTimeout": "2h",
            "healthTimeout": "10m",
            "maxEvictRetries": 10,
            "nodeTemplate": {
                "metadata": {
                    "labels": {
                        "node.kubernetes.io/role": "node",
                        "worker.gardener.cloud/pool": _POOL,
                        "worker.gardener.cloud/system-components": "true",
                    }
                },
                "spec": {},
            },
            "providerID": _provider_id(index),
        },
        "status": {
            "conditions": _conditions(),
            "currentStatus": {
                "lastUpdateTime": _CREATED,
                "phase": "Running",
                "timeoutActive": False,
            },
            "lastKnownState": "",
            "lastOperation": {
                "description": "Machine shoot--core--prod successfully joined the cluster",
                "lastUpdateTime": _CREATED,
                "state": "Successful",
                "type": "Create",
            },
        },
    }


def machine_class(name: str, *, secret_name: str, namespace: str = NAMESPACE) -> JSON:
    """A MachineClass any driver accepts (its ``providerSpec`` is an AWS one)."""
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineClass",
        "metadata": {"name": name, "namespace": namespace},
        "provider": "AWS",
        "providerSpec": {
            "ami": "ami-0123456789abcdef0",
            "machineType": "m5.xlarge",
            "region": _REGION,
            "iam": {"name": "shoot--core--prod-nodes"},
            "keyName": "shoot--core--prod-ssh-publickey",
            "networkInterfaces": [
                {"securityGroupIDs": ["sg-0123456789abcdef0"], "subnetID": "subnet-0123abcd"}
            ],
            "tags": {
                "kubernetes.io/cluster/shoot--core--prod": "1",
                "kubernetes.io/role/node": "1",
            },
            "blockDevices": [{"ebs": {"volumeSize": 50, "volumeType": "gp3"}}],
        },
        "secretRef": {"name": secret_name, "namespace": namespace},
        "credentialsSecretRef": {"name": secret_name, "namespace": namespace},
    }


def secret(name: str, *, data: dict[str, str], namespace: str = NAMESPACE) -> JSON:
    """A Secret whose *data* values are already base64."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": dict(data),
    }


def list_body(kind: str, items: Sequence[JSON], *, api_version: str = "v1") -> JSON:
    """A list response (``NodeList`` ...) holding *items*, each without apiVersion and kind."""
    return {
        "apiVersion": api_version,
        "kind": f"{kind}List",
        "metadata": {"resourceVersion": "4000000"},
        "items": [
            {k: v for k, v in item.items() if k not in ("apiVersion", "kind")} for item in items
        ],
    }

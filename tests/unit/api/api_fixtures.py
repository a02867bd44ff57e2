"""Rich JSON fixtures for the model tests: every modelled field set, plus fields the models ignore.

Each function returns a fresh plain dict, as an API server would send it.
"""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
CRDS = ROOT / "kubernetes" / "crds"
SAMPLES = ROOT / "kubernetes" / "machine_objects"

T1 = "2024-05-06T07:08:09Z"
T2 = "2024-05-06T08:00:00Z"
T3 = "2024-05-10T07:08:09Z"


def load_yaml_documents(path: pathlib.Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def metadata(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": T1,
        "labels": {"name": "worker-a", "node": f"node-{name}"},
        "annotations": {"machinepriority.machine.sapcloud.io": "3"},
        "finalizers": ["machine.sapcloud.io/machine-controller-manager"],
        "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        **extra,
    }


def last_operation() -> dict[str, Any]:
    return {
        "description": "Creating machine on cloud provider",
        "errorCode": "ResourceExhausted",
        "lastUpdateTime": T2,
        "state": "Processing",
        "type": "Create",
    }


def node_template() -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {"worker.gardener.cloud/pool": "worker-a"},
            "annotations": {"example.com/owner": "team-a"},
            "unknownMetadataField": True,
        },
        "spec": {
            "providerID": "aws:///eu-west-1/i-0abc",
            "unschedulable": False,
            "podCIDR": "10.0.0.0/24",
            "taints": [
                {"key": "dedicated", "value": "batch", "effect": "NoSchedule"},
                {"key": "gone", "effect": "NoExecute", "timeAdded": T1},
            ],
        },
    }


def machine_spec() -> dict[str, Any]:
    return {
        "class": {"apiGroup": "machine.sapcloud.io", "kind": "MachineClass", "name": "test-mc"},
        "providerID": "aws:///eu-west-1/i-0abc",
        "nodeTemplate": node_template(),
        "drainTimeout": "2h",
        "healthTimeout": "10m",
        "creationTimeout": "20m",
        "inPlaceUpdateTimeout": "1h30m",
        "machinePreserveTimeout": "96h",
        "disableHealthTimeout": True,
        "maxEvictRetries": 30,
        "nodeConditions": "KernelDeadlock,ReadonlyFilesystem",
    }


def node_condition(kind: str, status: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": T2,
        "lastTransitionTime": T1,
        "reason": f"{kind}Reason",
        "message": f"{kind} is {status}",
    }


def machine() -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": metadata("machine-a"),
        "spec": {**machine_spec(), "futureSpecField": {"nested": [1, 2]}},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.5"},
                {"type": "Hostname", "address": "ip-10-0-0-5"},
            ],
            "conditions": [
                node_condition("Ready", "True"),
                node_condition("DiskPressure", "False"),
            ],
            "lastOperation": last_operation(),
            "currentStatus": {
                "phase": "Running",
                "timeoutActive": False,
                "lastUpdateTime": "2024-05-06T07:08:09.123456Z",
                "preserveExpiryTime": T3,
            },
            "lastKnownState": "opaque-state",
        },
    }


def machine_summary(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "providerID": f"aws:///eu-west-1/{name}",
        "lastOperation": {**last_operation(), "state": "Failed"},
        "ownerRef": "machine-set-a",
    }


def selector() -> dict[str, Any]:
    return {
        "matchLabels": {"name": "worker-a"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }


def template() -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {"name": "worker-a", "tier": "a"},
            "annotations": {"node.machine.sapcloud.io/effective-creation-timeout": "30m"},
        },
        "spec": machine_spec(),
    }


def machine_set() -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineSet",
        "metadata": metadata(
            "machine-set-a",
            ownerReferences=[
                {
                    "apiVersion": "machine.sapcloud.io/v1alpha1",
                    "kind": "MachineDeployment",
                    "name": "machine-deployment-a",
                    "uid": "uid-machine-deployment-a",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        ),
        "spec": {
            "replicas": 3,
            "selector": selector(),
            "machineClass": {"kind": "MachineClass", "name": "test-mc"},
            "template": template(),
            "minReadySeconds": 200,
            "autoPreserveFailedMachineMax": 1,
        },
        "status": {
            "replicas": 3,
            "fullyLabeledReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "preservedFailedReplicas": 1,
            "observedGeneration": 3,
            "machineSetCondition": [
                {
                    "type": "Frozen",
                    "status": "True",
                    "lastTransitionTime": T1,
                    "reason": "OverShootingReplicaCount",
                    "message": "too many machines",
                }
            ],
            "lastOperation": {"lastUpdateTime": T2},
            "failedMachines": [machine_summary("machine-b")],
            "autoPreserveFailedMachineCount": 1,
        },
    }


def machine_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineDeployment",
        "metadata": metadata("machine-deployment-a"),
        "spec": {
            "replicas": 3,
            "selector": selector(),
            "template": template(),
            "strategy": {
                "type": "InPlaceUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
                "inPlaceUpdate": {
                    "maxSurge": "50%",
                    "maxUnavailable": 0,
                    "orchestrationType": "Manual",
                },
            },
            "minReadySeconds": 500,
            "revisionHistoryLimit": 2,
            "paused": True,
            "rollbackTo": {"revision": 4},
            "progressDeadlineSeconds": 1200,
            "autoPreserveFailedMachineMax": 2,
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 4,
            "updatedReplicas": 2,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "preservedFailedReplicas": 1,
            "unavailableReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": T2,
                    "lastTransitionTime": T1,
                    "reason": "MachineSetUpdated",
                    "message": 'MachineSet "machine-set-a" is progressing.',
                },
                {
                    "type": "Available",
                    "status": "False",
                    "lastUpdateTime": T2,
                    "lastTransitionTime": T2,
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                },
            ],
            "collisionCount": 1,
            "failedMachines": [machine_summary("machine-c")],
        },
    }


def machine_class() -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "MachineClass",
        "metadata": metadata("test-mc"),
        "nodeTemplate": {
            "capacity": {"cpu": 2, "gpu": "0", "memory": "8Gi"},
            "virtualCapacity": {"example.com/dongle": "1"},
            "instanceType": "m5.large",
            "region": "eu-west-1",
            "zone": "eu-west-1a",
            "architecture": "arm64",
        },
        "credentialsSecretRef": {"name": "test-credentials", "namespace": "default"},
        "providerSpec": {
            "ami": "ami-0123",
            "machineType": "m5.large",
            "networkInterfaces": [{"subnetID": "subnet-1", "securityGroupIDs": ["sg-1"]}],
            "tags": {"kubernetes.io/cluster/shoot": "1", "kubernetes.io/role/node": "1"},
        },
        "provider": "AWS",
        "secretRef": {"name": "test-userdata", "namespace": "default"},
    }

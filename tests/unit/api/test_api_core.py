from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from mcm.api.codec import KubeModel
from mcm.api.core import (
    ConditionStatus,
    Event,
    Lease,
    Node,
    NodeConditionType,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    TaintEffect,
    VolumeAttachment,
)
from tests.unit.api.api_fixtures import SAMPLES, T1, T2, load_yaml_documents, node_condition

UTC = datetime.UTC


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "uid": f"uid-{name}", "resourceVersion": "7", **extra}


def node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta("node-a", labels={"node.gardener.cloud/machine-name": "machine-a"}),
        "spec": {
            "providerID": "aws:///eu-west-1/i-0abc",
            "unschedulable": True,
            "podCIDR": "10.0.0.0/24",
            "taints": [
                {
                    "key": "node.gardener.cloud/critical-components-not-ready",
                    "effect": "NoSchedule",
                },
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": T1},
            ],
        },
        "status": {
            "conditions": [
                node_condition("Ready", "True"),
                node_condition("DiskPressure", "False"),
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "capacity": {"cpu": "2", "memory": "8008368Ki", "pods": "110"},
            "allocatable": {"cpu": "1920m", "memory": "7000Mi"},
            "nodeInfo": {"kubeletVersion": "v1.31.0", "machineID": "abc", "architecture": "amd64"},
            "volumesAttached": [
                {"name": "kubernetes.io/csi/ebs.csi.aws.com^vol-1", "devicePath": "/dev/xvdba"}
            ],
            "volumesInUse": ["kubernetes.io/csi/ebs.csi.aws.com^vol-1"],
            "images": [{"names": ["busybox"], "sizeBytes": 1}],
        },
    }


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(
            "pod-a",
            namespace="team",
            annotations={"kubernetes.io/config.mirror": "hash"},
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "ds",
                    "uid": "uid-ds",
                    "controller": True,
                }
            ],
        ),
        "spec": {
            "nodeName": "node-a",
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "pvc-a", "readOnly": True}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "config", "configMap": {"name": "cm"}},
            ],
            "terminationGracePeriodSeconds": 45,
            "priority": 1000,
            "containers": [{"name": "c", "image": "busybox"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": T1,
                    "reason": "",
                    "message": "",
                }
            ],
        },
    }


def secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta("creds", namespace="default"),
        "type": "Opaque",
        "data": {
            "accessKeyID": base64.b64encode(b"AKIAEXAMPLE").decode(),
            "secretAccessKey": base64.b64encode(b"very-secret-value").decode(),
            "userData": base64.b64encode(b"#cloud-config\n").decode(),
        },
    }


def persistent_volume() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": meta("pv-a"),
        "spec": {
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1", "fsType": "ext4"},
            "awsElasticBlockStore": {"volumeID": "aws://eu-west-1a/vol-1"},
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": "team",
                "name": "pvc-a",
                "uid": "u",
            },
            "storageClassName": "gp3",
            "capacity": {"storage": "10Gi"},
        },
        "status": {"phase": "Bound"},
    }


def persistent_volume_claim() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta("pvc-a", namespace="team"),
        "spec": {"volumeName": "pv-a", "storageClassName": "gp3", "accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Bound"},
    }


def volume_attachment() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "VolumeAttachment",
        "metadata": meta("csi-123"),
        "spec": {
            "attacher": "ebs.csi.aws.com",
            "nodeName": "node-a",
            "source": {"persistentVolumeName": "pv-a"},
        },
        "status": {"attached": True, "attachmentMetadata": {"devicePath": "/dev/xvdba"}},
    }


def pod_disruption_budget() -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta("pdb-a", namespace="team", generation=2),
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "minAvailable": "50%",
            "maxUnavailable": 1,
        },
        "status": {
            "disruptionsAllowed": 0,
            "currentHealthy": 3,
            "desiredHealthy": 3,
            "expectedPods": 3,
            "observedGeneration": 2,
            "disruptedPods": {"pod-b": T2},
        },
    }


def lease() -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta("machine-controller", namespace="default"),
        "spec": {
            "holderIdentity": "host-a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2024-05-06T07:08:09.000000Z",
            "renewTime": "2024-05-06T07:08:19.250000Z",
            "leaseTransitions": 2,
        },
    }


def event() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("ms.17c", namespace="default"),
        "involvedObject": {
            "apiVersion": "machine.sapcloud.io/v1alpha1",
            "kind": "MachineSet",
            "namespace": "default",
            "name": "ms",
            "uid": "uid-ms",
            "resourceVersion": "5",
            "fieldPath": "spec",
        },
        "reason": "FrozeMachineSet",
        "message": "SafetyController: Froze MachineSet ms due to replica overshooting",
        "type": "Normal",
        "count": 2,
        "firstTimestamp": T1,
        "lastTimestamp": T2,
        "source": {"component": "machine-controller-manager", "host": "h"},
        "eventTime": "2024-05-06T07:08:09.500000Z",
        "reportingComponent": "machine-controller-manager",
        "reportingInstance": "mcm-1",
        "action": "Freeze",
    }


@pytest.mark.parametrize(
    ("cls", "fixture"),
    [
        pytest.param(Node, node, id="Node"),
        pytest.param(Pod, pod, id="Pod"),
        pytest.param(Secret, secret, id="Secret"),
        pytest.param(PersistentVolume, persistent_volume, id="PersistentVolume"),
        pytest.param(PersistentVolumeClaim, persistent_volume_claim, id="PersistentVolumeClaim"),
        pytest.param(VolumeAttachment, volume_attachment, id="VolumeAttachment"),
        pytest.param(PodDisruptionBudget, pod_disruption_budget, id="PodDisruptionBudget"),
        pytest.param(Lease, lease, id="Lease"),
        pytest.param(Event, event, id="Event"),
    ],
)
def test_core_kinds_serialise_back_to_the_same_json(
    cls: type[KubeModel], fixture: Callable[[], dict[str, Any]]
) -> None:
    raw = fixture()

    parsed = cls.from_dict(raw)

    assert parsed.to_dict() == raw
    assert raw["apiVersion"] == cls.API_VERSION
    assert raw["kind"] == cls.KIND


@pytest.mark.parametrize(
    "cls",
    [
        Node,
        Pod,
        Secret,
        PersistentVolume,
        PersistentVolumeClaim,
        VolumeAttachment,
        PodDisruptionBudget,
        Lease,
        Event,
    ],
    ids=lambda c: c.__name__,
)
def test_core_kinds_tolerate_wrongly_shaped_fields(cls: type[KubeModel]) -> None:
    raw = {
        "metadata": {"name": "x"},
        "spec": "nope",
        "status": [1],
        "data": ["x"],
        "involvedObject": 3,
        "count": "many",
        "source": None,
    }

    parsed = cls.from_dict(raw)

    assert parsed.metadata.name == "x"
    assert parsed.to_dict() == raw


def test_node_fields_are_typed() -> None:
    parsed = Node.from_dict(node())

    assert parsed.spec.provider_id == "aws:///eu-west-1/i-0abc"
    assert parsed.spec.unschedulable is True
    assert parsed.has_taint(
        "node.gardener.cloud/critical-components-not-ready", TaintEffect.NO_SCHEDULE
    )
    assert not parsed.has_taint("node.gardener.cloud/critical-components-not-ready", "NoExecute")
    assert parsed.has_taint("node.kubernetes.io/unreachable")
    assert parsed.spec.taints[1].time_added == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    ready = parsed.condition(NodeConditionType.READY)
    assert ready is not None
    assert ready.status == ConditionStatus.TRUE
    assert ready.last_heartbeat_time == datetime.datetime(2024, 5, 6, 8, tzinfo=UTC)
    assert parsed.condition(NodeConditionType.KERNEL_DEADLOCK) is None
    assert parsed.status.addresses[0].type == "InternalIP"
    assert parsed.status.capacity == {"cpu": "2", "memory": "8008368Ki", "pods": "110"}
    assert parsed.status.allocatable["cpu"] == "1920m"
    assert parsed.status.node_info["kubeletVersion"] == "v1.31.0"
    assert parsed.status.volumes_attached[0].device_path == "/dev/xvdba"
    assert parsed.status.volumes_in_use == ("kubernetes.io/csi/ebs.csi.aws.com^vol-1",)


def test_pod_fields_and_helpers() -> None:
    parsed = Pod.from_dict(pod())

    assert parsed.spec.node_name == "node-a"
    assert [v.name for v in parsed.spec.volumes] == ["data", "scratch", "config"]
    assert [v.claim_name for v in parsed.spec.volumes] == ["pvc-a", None, None]
    assert [v.empty_dir for v in parsed.spec.volumes] == [False, True, False]
    assert parsed.claim_names == ("pvc-a",)
    assert parsed.spec.termination_grace_period_seconds == 45
    assert parsed.spec.priority == 1000
    assert parsed.status.phase == "Running"
    assert parsed.status.conditions[0].type == "Ready"
    assert parsed.is_mirror
    assert parsed.owned_by_daemonset
    assert parsed.controller_ref is not None


@pytest.mark.parametrize(
    ("owner_kind", "controller", "expected"),
    [
        pytest.param("DaemonSet", True, True, id="daemonset-controller"),
        pytest.param("DaemonSet", False, False, id="daemonset-non-controller-owner"),
        pytest.param("ReplicaSet", True, False, id="replicaset"),
    ],
)
def test_owned_by_daemonset_looks_at_the_controller_reference(
    owner_kind: str, controller: bool, expected: bool
) -> None:
    raw = pod()
    raw["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": owner_kind,
            "name": "o",
            "uid": "u",
            "controller": controller,
        }
    ]

    assert Pod.from_dict(raw).owned_by_daemonset is expected


def test_a_pod_without_pods_annotations_is_no_mirror_and_has_no_pvc_volumes() -> None:
    parsed = Pod.from_dict({"metadata": {"name": "p"}, "spec": {"nodeName": "n"}})

    assert not parsed.is_mirror
    assert not parsed.owned_by_daemonset
    assert parsed.claim_names == ()
    assert parsed.spec.termination_grace_period_seconds is None


def test_a_changed_pod_volume_keeps_its_other_source_fields() -> None:
    parsed = Pod.from_dict(pod())
    volume = parsed.spec.volumes[0]

    changed = attrs.evolve(volume, claim_name="pvc-b")

    assert changed.to_dict() == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": "pvc-b", "readOnly": True},
    }


def test_secret_data_is_decoded() -> None:
    parsed = Secret.from_dict(secret())

    assert parsed.type == "Opaque"
    assert parsed.data == {
        "accessKeyID": b"AKIAEXAMPLE",
        "secretAccessKey": b"very-secret-value",
        "userData": b"#cloud-config\n",
    }


def test_secret_values_never_appear_in_repr() -> None:
    parsed = Secret.from_dict(secret())

    text = repr(parsed) + str(parsed)

    assert "very-secret-value" not in text
    assert secret()["data"]["secretAccessKey"] not in text
    assert "AKIAEXAMPLE" not in text


def test_secret_data_that_is_not_base64_is_left_out_of_data_but_kept_in_raw() -> None:
    raw = secret()
    raw["data"]["broken"] = "not base64!"
    raw["data"]["number"] = 5

    parsed = Secret.from_dict(raw)

    assert "broken" not in parsed.data
    assert "number" not in parsed.data
    assert parsed.to_dict() == raw


def test_changed_secret_data_is_encoded_again() -> None:
    parsed = Secret.from_dict(secret())

    changed = attrs.evolve(parsed, data={**parsed.data, "userData": b"new"})

    assert changed.to_dict()["data"]["userData"] == base64.b64encode(b"new").decode()


def test_the_sample_secrets_parse() -> None:
    documents = load_yaml_documents(SAMPLES / "secret.yaml")

    secrets = {s.metadata.name: s for s in map(Secret.from_dict, documents)}

    assert secrets["test-userdata"].data["userData"].startswith(b"#cloud-config")
    assert set(secrets["test-credentials"].data) == {"accessKeyID", "secretAccessKey"}
    assert [s.to_dict() for s in secrets.values()] == documents


def test_volume_fields_are_typed() -> None:
    pv = PersistentVolume.from_dict(persistent_volume())
    pvc = PersistentVolumeClaim.from_dict(persistent_volume_claim())
    va = VolumeAttachment.from_dict(volume_attachment())

    assert pv.spec.csi is not None
    assert (pv.spec.csi.driver, pv.spec.csi.volume_handle) == ("ebs.csi.aws.com", "vol-1")
    assert pv.spec.aws_elastic_block_store is not None
    assert pv.spec.aws_elastic_block_store.volume_id == "aws://eu-west-1a/vol-1"
    assert pv.spec.claim_ref is not None
    assert (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name) == ("team", "pvc-a")
    assert pvc.volume_name == "pv-a"
    assert va.spec.attacher == "ebs.csi.aws.com"
    assert va.spec.node_name == "node-a"
    assert va.spec.source.persistent_volume_name == "pv-a"
    assert va.status.attached is True


def test_pdb_fields_are_typed() -> None:
    parsed = PodDisruptionBudget.from_dict(pod_disruption_budget())

    assert parsed.metadata.generation == 2
    assert parsed.spec.selector is not None
    assert parsed.spec.selector.matches({"app": "web"})
    assert parsed.spec.min_available == "50%"
    assert parsed.spec.max_unavailable == 1
    status = parsed.status
    assert (status.disruptions_allowed, status.current_healthy) == (0, 3)
    assert (status.desired_healthy, status.expected_pods, status.observed_generation) == (3, 3, 2)
    assert status.disrupted_pods == {"pod-b": T2}


def test_lease_times_are_micro_times() -> None:
    parsed = Lease.from_dict(lease())
    renewed = datetime.datetime(2024, 5, 6, 7, 9, 0, 5, tzinfo=UTC)

    assert parsed.spec.holder_identity == "host-a"
    assert parsed.spec.lease_duration_seconds == 15
    assert parsed.spec.lease_transitions == 2
    assert parsed.spec.renew_time == datetime.datetime(2024, 5, 6, 7, 8, 19, 250000, tzinfo=UTC)
    changed = attrs.evolve(parsed, spec=attrs.evolve(parsed.spec, renew_time=renewed))
    assert changed.to_dict()["spec"]["renewTime"] == "2024-05-06T07:09:00.000005Z"
    assert changed.to_dict()["spec"]["acquireTime"] == "2024-05-06T07:08:09.000000Z"


def test_event_fields_are_typed() -> None:
    parsed = Event.from_dict(event())

    assert parsed.involved_object.kind == "MachineSet"
    assert parsed.involved_object.uid == "uid-ms"
    assert parsed.reason == "FrozeMachineSet"
    assert parsed.type == "Normal"
    assert parsed.count == 2
    assert parsed.first_timestamp == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert parsed.last_timestamp == datetime.datetime(2024, 5, 6, 8, tzinfo=UTC)
    assert parsed.source.component == "machine-controller-manager"
    assert parsed.event_time == datetime.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    assert parsed.reporting_component == "machine-controller-manager"


def test_a_core_object_built_in_code_gets_its_api_version_and_kind() -> None:
    built = Event.from_dict({"metadata": {"name": "e"}})
    fresh = attrs.evolve(built, raw={}, reason="Created")

    assert fresh.to_dict() == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e"},
        "reason": "Created",
    }

"""`EC2VMSource`: a cluster's EC2 instances as the kubelet simulator's VMs.

The simulator (`mcm.testing.kubelet.KubeletSimulator`) polls a `mcm.testing.kubelet.VMSource`.
This one lists, with ``DescribeInstances``, the pending and running instances tagged with the
cluster's key ``kubernetes.io/cluster/<cluster_name>``, the tag the AWS driver puts on every
instance it creates. Each becomes a `VM` named the way the driver names it (aws-provider spec
§4.0): providerID ``aws:///<region>/<instance-id>`` (the region, not the zone), node name the
instance's ``PrivateDnsName``. Only ``running`` instances count as running; ``pending`` ones are
listed but do not join yet.

Labels: ``node.kubernetes.io/instance-type``, ``topology.kubernetes.io/region`` and ``/zone``.
Addresses: ``InternalIP``, ``InternalDNS``, ``Hostname`` and, with a public address,
``ExternalIP``.

Point it at moto directly (`EC2Endpoint.client(direct=True)`) to keep its polling out of the
fault front's faults and counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mcm.testing.kubelet import VM

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"


class DescribeInstancesClient(Protocol):
    """The one boto3 EC2 client method this source calls."""

    def describe_instances(self, **kwargs: Any) -> Mapping[str, Any]: ...


class EC2VMSource:
    """The instances of one cluster, as `VM` values; see the module docstring."""

    def __init__(self, client: DescribeInstancesClient, *, cluster_name: str, region: str) -> None:
        self._client = client
        self.cluster_name = cluster_name
        self.region = region

    def list_vms(self) -> Sequence[VM]:
        filters = [
            {"Name": "tag-key", "Values": [CLUSTER_TAG_PREFIX + self.cluster_name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
        vms: list[VM] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Filters": filters}
            if token:
                kwargs["NextToken"] = token
            page = self._client.describe_instances(**kwargs)
            for reservation in page.get("Reservations") or ():
                for instance in reservation.get("Instances") or ():
                    if instance.get("InstanceId"):
                        vms.append(self._vm(instance))
            token = page.get("NextToken")
            if not token:
                return vms

    def _vm(self, instance: Mapping[str, Any]) -> VM:
        dns_name = instance.get("PrivateDnsName") or ""
        labels = {REGION_LABEL: self.region}
        if instance.get("InstanceType"):
            labels[INSTANCE_TYPE_LABEL] = instance["InstanceType"]
        zone = (instance.get("Placement") or {}).get("AvailabilityZone")
        if zone:
            labels[ZONE_LABEL] = zone
        addresses: list[tuple[str, str]] = []
        if instance.get("PrivateIpAddress"):
            addresses.append(("InternalIP", instance["PrivateIpAddress"]))
        if dns_name:
            addresses += [("InternalDNS", dns_name), ("Hostname", dns_name)]
        if instance.get("PublicIpAddress"):
            addresses.append(("ExternalIP", instance["PublicIpAddress"]))
        return VM(
            provider_id=f"aws:///{self.region}/{instance['InstanceId']}",
            node_name=dns_name,
            running=(instance.get("State") or {}).get("Name") == "running",
            labels=labels,
            addresses=addresses,
        )

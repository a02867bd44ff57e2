"""The resources ``mcm`` reads and writes, named once.

A `Resource` carries what a REST path needs (group, version, plural, namespaced) plus the ``kind``
written into new objects. Paths are computed here so that the real client and the in-memory fake
agree on them.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Resource:
    """One REST resource: ``/api/v1/pods`` or ``/apis/<group>/<version>/<plural>``."""

    group: str
    """API group; ``""`` for the core group."""
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` field of objects of this resource (``v1``, ``apps/v1`` ...)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` as Kubernetes prints it (``machines.machine.sapcloud.io``, ``pods``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(
        self,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The REST path for a collection (no *name*) or one object, optionally a subresource of it.

        For a namespaced resource, ``namespace=None`` addresses all namespaces (list and watch
        only).
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


MACHINE_GROUP = "machine.sapcloud.io"
MACHINE_VERSION = "v1alpha1"

MACHINES = Resource(MACHINE_GROUP, MACHINE_VERSION, "machines", "Machine")
MACHINE_CLASSES = Resource(MACHINE_GROUP, MACHINE_VERSION, "machineclasses", "MachineClass")
MACHINE_SETS = Resource(MACHINE_GROUP, MACHINE_VERSION, "machinesets", "MachineSet")
MACHINE_DEPLOYMENTS = Resource(
    MACHINE_GROUP, MACHINE_VERSION, "machinedeployments", "MachineDeployment"
)

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
SECRETS = Resource("", "v1", "secrets", "Secret")
EVENTS = Resource("", "v1", "events", "Event")
PERSISTENT_VOLUMES = Resource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False)
PERSISTENT_VOLUME_CLAIMS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
VOLUME_ATTACHMENTS = Resource(
    "storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", namespaced=False
)
POD_DISRUPTION_BUDGETS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
CUSTOM_RESOURCE_DEFINITIONS = Resource(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
)

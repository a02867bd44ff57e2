"""``MachineClass`` (``machine.sapcloud.io/v1alpha1``): how to build a VM, for one provider.

``provider_spec`` stays an opaque frozen mapping: the provider (``mcm_provider_aws``) parses it, the
controllers only pass it on. ``secret_ref`` names the Secret with ``userData`` (and often
credentials), ``credentials_secret_ref`` an optional second one; the controller merges both before
calling the driver.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from mcm.api.codec import (
    KubeModel,
    Model,
    field,
    json_object,
    optional_model,
    optional_text,
    quantity_map,
    text,
)
from mcm.api.meta import EMPTY, FrozenJSON, ObjectKey

__all__ = ["MachineClass", "NodeTemplate", "SecretReference"]


@attrs.frozen(kw_only=True)
class SecretReference(Model):
    name: str = field("name", text, "")
    namespace: str = field("namespace", text, "")

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.namespace, self.name)


@attrs.frozen(kw_only=True)
class NodeTemplate(Model):
    """What a node of this class will offer, for scaling a node group from zero."""

    capacity: Mapping[str, str] = field("capacity", quantity_map, EMPTY)
    virtual_capacity: Mapping[str, str] = field("virtualCapacity", quantity_map, EMPTY)
    """Extended resources the controller adds to the Node's ``status.capacity``."""
    instance_type: str = field("instanceType", text, "")
    region: str = field("region", text, "")
    zone: str = field("zone", text, "")
    architecture: str | None = field("architecture", optional_text, None)


@attrs.frozen(kw_only=True)
class MachineClass(KubeModel):
    API_VERSION = "machine.sapcloud.io/v1alpha1"
    KIND = "MachineClass"

    node_template: NodeTemplate | None = field("nodeTemplate", optional_model(NodeTemplate), None)
    credentials_secret_ref: SecretReference | None = field(
        "credentialsSecretRef", optional_model(SecretReference), None
    )
    provider_spec: FrozenJSON = field("providerSpec", json_object, EMPTY)
    provider: str = field("provider", text, "")
    secret_ref: SecretReference | None = field("secretRef", optional_model(SecretReference), None)

    @property
    def secret_refs(self) -> tuple[SecretReference, ...]:
        """The refs that are set, ``secretRef`` first: the merge order (later keys win)."""
        return tuple(r for r in (self.secret_ref, self.credentials_secret_ref) if r is not None)

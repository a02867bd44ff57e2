"""The CRDs in kubernetes/crds, the samples in kubernetes/machine_objects, and their agreement with
the models. The integration suite applies both to a real API server; these run without one."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

from mcm.api.codec import KubeModel, Model
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass
from mcm.api.machinedeployment import MachineDeployment
from mcm.api.machineset import MachineSet
from mcm.api.meta import parse_time
from tests.unit.api.api_fixtures import CRDS, ROOT, SAMPLES, load_yaml_documents

GROUP = "machine.sapcloud.io"

CRD_FILES = {
    "machines": ("Machine", "machine", "mc", Machine),
    "machineclasses": ("MachineClass", "machineclass", "mcc", MachineClass),
    "machinesets": ("MachineSet", "machineset", "mcs", MachineSet),
    "machinedeployments": ("MachineDeployment", "machinedeployment", "mcd", MachineDeployment),
}


def crd(plural: str) -> dict[str, Any]:
    (document,) = load_yaml_documents(CRDS / f"{GROUP}_{plural}.yaml")
    result: dict[str, Any] = document
    return result


def schema(plural: str) -> dict[str, Any]:
    (version,) = crd(plural)["spec"]["versions"]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def at(node: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """Walk ``a.b[].c`` through properties (``[]`` steps into array items)."""
    for part in path.split("."):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    return node


def test_the_crd_directory_holds_exactly_the_four_crds() -> None:
    assert sorted(p.name for p in CRDS.iterdir()) == sorted(
        f"{GROUP}_{plural}.yaml" for plural in CRD_FILES
    )


def test_nothing_under_kubernetes_is_python() -> None:
    assert list((ROOT / "kubernetes").rglob("*.py")) == []


@pytest.mark.parametrize("plural", list(CRD_FILES))
def test_crd_names_scope_and_version(plural: str) -> None:
    kind, singular, short_name, _ = CRD_FILES[plural]

    document = crd(plural)

    assert document["apiVersion"] == "apiextensions.k8s.io/v1"
    assert document["kind"] == "CustomResourceDefinition"
    assert document["metadata"]["name"] == f"{plural}.{GROUP}"
    spec = document["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "shortNames": [short_name],
        "singular": singular,
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


@pytest.mark.parametrize(
    ("plural", "subresources"),
    [
        pytest.param("machines", {"status": {}}, id="machines"),
        pytest.param("machineclasses", None, id="machineclasses"),
        pytest.param(
            "machinesets",
            {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
            },
            id="machinesets",
        ),
        pytest.param(
            "machinedeployments",
            {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
            },
            id="machinedeployments",
        ),
    ],
)
def test_crd_subresources(plural: str, subresources: dict[str, Any] | None) -> None:
    (version,) = crd(plural)["spec"]["versions"]

    assert version.get("subresources") == subresources


@pytest.mark.parametrize(
    ("plural", "columns"),
    [
        pytest.param(
            "machines",
            [
                ("Status", "string", ".status.currentStatus.phase", None),
                ("Age", "date", ".metadata.creationTimestamp", None),
                ("Node", "string", ".metadata.labels.node", None),
                ("ProviderID", "string", ".spec.providerID", 1),
            ],
            id="machines",
        ),
        pytest.param("machineclasses", [], id="machineclasses"),
        pytest.param(
            "machinesets",
            [
                ("Desired", "integer", ".spec.replicas", None),
                ("Current", "integer", ".status.replicas", None),
                ("Ready", "integer", ".status.readyReplicas", None),
                ("Age", "date", ".metadata.creationTimestamp", None),
            ],
            id="machinesets",
        ),
        pytest.param(
            "machinedeployments",
            [
                ("Ready", "integer", ".status.readyReplicas", None),
                ("Desired", "integer", ".spec.replicas", None),
                ("Up-to-date", "integer", ".status.updatedReplicas", None),
                ("Available", "integer", ".status.availableReplicas", None),
                ("Age", "date", ".metadata.creationTimestamp", None),
            ],
            id="machinedeployments",
        ),
    ],
)
def test_crd_printer_columns_are_upstreams(
    plural: str, columns: list[tuple[str, str, str, int | None]]
) -> None:
    (version,) = crd(plural)["spec"]["versions"]

    found = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority"))
        for c in version.get("additionalPrinterColumns", [])
    ]

    assert found == columns


def _nodes(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{key}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("plural", list(CRD_FILES))
def test_crd_schemas_are_structural(plural: str) -> None:
    for path, node in _nodes(schema(plural)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), path
        for required in node.get("required", []):
            assert required in node["properties"], (path, required)


@pytest.mark.parametrize(
    ("plural", "path"),
    [
        pytest.param("machines", "spec.nodeTemplate.metadata", id="machine-node-template"),
        pytest.param("machinesets", "spec.template.metadata", id="machineset-template"),
        pytest.param(
            "machinesets", "spec.template.spec.nodeTemplate.metadata", id="machineset-node-template"
        ),
        pytest.param("machinedeployments", "spec.template.metadata", id="deployment-template"),
        pytest.param("machineclasses", "providerSpec", id="provider-spec"),
        pytest.param("machineclasses", "nodeTemplate", id="class-node-template"),
    ],
)
def test_open_types_preserve_unknown_fields(plural: str, path: str) -> None:
    node = at(schema(plural), path)

    assert node["type"] == "object"
    assert node["x-kubernetes-preserve-unknown-fields"] is True


@pytest.mark.parametrize(
    "path",
    [
        "spec.strategy.rollingUpdate.maxSurge",
        "spec.strategy.rollingUpdate.maxUnavailable",
        "spec.strategy.inPlaceUpdate.maxSurge",
        "spec.strategy.inPlaceUpdate.maxUnavailable",
    ],
)
def test_surge_and_unavailability_are_int_or_string(path: str) -> None:
    node = at(schema("machinedeployments"), path)

    assert node["x-kubernetes-int-or-string"] is True
    assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]


@pytest.mark.parametrize(
    "key",
    [
        "drainTimeout",
        "healthTimeout",
        "creationTimeout",
        "inPlaceUpdateTimeout",
        "machinePreserveTimeout",
    ],
)
def test_durations_are_strings_everywhere(key: str) -> None:
    assert at(schema("machines"), f"spec.{key}")["type"] == "string"
    assert at(schema("machinesets"), f"spec.template.spec.{key}")["type"] == "string"
    assert at(schema("machinedeployments"), f"spec.template.spec.{key}")["type"] == "string"


@pytest.mark.parametrize("key", ["capacity", "virtualCapacity"])
def test_capacities_are_quantities(key: str) -> None:
    values = at(schema("machineclasses"), f"nodeTemplate.{key}")["additionalProperties"]

    assert values["x-kubernetes-int-or-string"] is True
    assert re.match(values["pattern"], "8Gi")
    assert re.match(values["pattern"], "1500m")
    assert not re.match(values["pattern"], "eight")


def test_required_fields_match_upstream() -> None:
    assert schema("machineclasses")["required"] == ["providerSpec"]
    assert at(schema("machinedeployments"), "spec")["required"] == ["template"]
    assert at(schema("machineclasses"), "nodeTemplate")["required"] == [
        "capacity",
        "instanceType",
        "region",
        "zone",
    ]


def test_the_machine_set_condition_list_has_upstreams_json_name() -> None:
    assert at(schema("machinesets"), "status.machineSetCondition[]")["required"] == [
        "status",
        "type",
    ]


# --------------------------------------------------------------------- models against schemas


def _model_of(annotation: Any) -> type[Model] | None:
    """The Model class inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    candidates = typing.get_args(annotation) if typing.get_args(annotation) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, Model):
            return candidate
    return None


def _model_keys(cls: type[Model], node: Mapping[str, Any], path: str) -> Iterator[str]:
    """Check every modelled JSON key of *cls* against schema *node*; yield the paths checked."""
    hints = typing.get_type_hints(cls)
    for attribute in _declared(cls):
        key = attribute.metadata["mcm.api.codec"].key
        field_path = f"{path}.{key}"
        assert key in node.get("properties", {}), f"{field_path} is not in the CRD"
        yield field_path
        child = node["properties"][key]
        if child.get("type") == "array":
            child = child["items"]
        nested = _model_of(hints[attribute.name])
        if nested is not None:
            yield from _model_keys(nested, child, field_path)


def _declared(cls: type[Model]) -> list[Any]:
    return [a for a in attrs.fields(cls) if "mcm.api.codec" in a.metadata]


@pytest.mark.parametrize("plural", list(CRD_FILES))
def test_every_modelled_field_exists_in_the_crd_under_its_json_name(plural: str) -> None:
    model = CRD_FILES[plural][3]

    checked = set(_model_keys(model, schema(plural), ""))

    assert ".metadata" in checked


# Schema fields the models leave to ``raw`` on purpose: NodeSpec fields MCM never reads.
UNMODELLED = {
    ".spec.nodeTemplate.spec.configSource",
    ".spec.nodeTemplate.spec.externalID",
    ".spec.nodeTemplate.spec.podCIDR",
    ".spec.nodeTemplate.spec.podCIDRs",
}


def _schema_paths(node: Mapping[str, Any], path: str) -> Iterator[str]:
    for key, child in node.get("properties", {}).items():
        yield f"{path}.{key}"
        if child.get("x-kubernetes-preserve-unknown-fields") and "properties" not in child:
            continue
        target = child["items"] if child.get("type") == "array" else child
        yield from _schema_paths(target, f"{path}.{key}")


@pytest.mark.parametrize("plural", list(CRD_FILES))
def test_every_crd_field_is_modelled(plural: str) -> None:
    model = CRD_FILES[plural][3]
    modelled = set(_model_keys(model, schema(plural), ""))

    missing = {
        p
        for p in _schema_paths(schema(plural), "")
        if p not in modelled
        and p not in (".apiVersion", ".kind")
        and not any(p.endswith(u) or u + "." in p for u in UNMODELLED)
        and not p.startswith(".metadata")
    }

    assert missing == set()


# ------------------------------------------------------------------- samples against schemas


def validate(value: Any, node: Mapping[str, Any], path: str = "") -> list[str]:
    """Errors of *value* against a structural schema, as the API server would see them (subset)."""
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: not an int or string"]
        if isinstance(value, str) and "pattern" in node and not re.match(node["pattern"], value):
            return [f"{path}: does not match {node['pattern']}"]
        return []
    kind = node.get("type")
    if kind == "object":
        if not isinstance(value, Mapping):
            return [f"{path}: not an object"]
        errors = [f"{path}: missing {r}" for r in node.get("required", []) if r not in value]
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                errors += validate(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                errors += validate(item, extra, f"{path}.{key}")
            elif node.get("x-kubernetes-preserve-unknown-fields") or path == ".metadata":
                continue
            else:
                errors.append(f"{path}.{key}: unknown field")
        return errors
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        return [
            e for i, item in enumerate(value) for e in validate(item, node["items"], f"{path}[{i}]")
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        if node.get("format") == "date-time" and parse_time(value) is None:
            return [f"{path}: not a date-time"]
        return []
    if kind == "integer":
        return (
            []
            if isinstance(value, int) and not isinstance(value, bool)
            else [f"{path}: not an integer"]
        )
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: not a boolean"]
    return [f"{path}: unsupported schema {node}"]


SAMPLE_FILES = {
    "machine.yaml": "machines",
    "machine-class.yaml": "machineclasses",
    "machine-set.yaml": "machinesets",
    "machine-deployment.yaml": "machinedeployments",
}


@pytest.mark.parametrize(("sample", "plural"), list(SAMPLE_FILES.items()))
def test_samples_satisfy_their_crd_schema(sample: str, plural: str) -> None:
    (document,) = load_yaml_documents(SAMPLES / sample)
    kind = CRD_FILES[plural][0]

    assert document["apiVersion"] == f"{GROUP}/v1alpha1"
    assert document["kind"] == kind
    assert document["metadata"]["namespace"] == "default"
    assert validate(document, schema(plural)) == []


def test_the_validator_catches_what_the_api_server_rejects() -> None:
    bad = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "MachineDeployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "3",
            "typo": 1,
            "strategy": {"rollingUpdate": {"maxSurge": 1.5}},
            "template": {"spec": {"class": {"name": 5}}},
        },
    }

    errors = validate(bad, schema("machinedeployments"))

    assert sorted(errors) == [
        ".spec.replicas: not an integer",
        ".spec.strategy.rollingUpdate.maxSurge: not an int or string",
        ".spec.template.spec.class.name: not a string",
        ".spec.typo: unknown field",
    ]


def test_samples_refer_to_each_other_consistently() -> None:
    machine_class = MachineClass.from_dict(load_yaml_documents(SAMPLES / "machine-class.yaml")[0])
    secrets = {d["metadata"]["name"] for d in load_yaml_documents(SAMPLES / "secret.yaml")}
    machine = Machine.from_dict(load_yaml_documents(SAMPLES / "machine.yaml")[0])
    machine_set = MachineSet.from_dict(load_yaml_documents(SAMPLES / "machine-set.yaml")[0])
    deployment = MachineDeployment.from_dict(
        load_yaml_documents(SAMPLES / "machine-deployment.yaml")[0]
    )

    assert {r.name for r in machine_class.secret_refs} == secrets
    for class_ in (
        machine.spec.class_,
        machine_set.spec.template.spec.class_,
        deployment.spec.template.spec.class_,
    ):
        assert (class_.kind, class_.name) == ("MachineClass", machine_class.metadata.name)
    for owner in (machine_set, deployment):
        assert owner.spec.selector is not None
        assert owner.spec.selector.matches(owner.spec.template.metadata.labels)


def test_kube_models_name_their_kind() -> None:
    for kind, _, _, model in CRD_FILES.values():
        assert issubclass(model, KubeModel)
        assert kind == model.KIND
        assert f"{GROUP}/v1alpha1" == model.API_VERSION

"""Lister: get by namespace and name, list by namespace and label selector, custom indices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from mcm.api.meta import GenericObject, ObjectKey
from mcm.cache import Indexer, Lister
from tests.unit.cache.cache_doubles import raw


def obj(
    name: str, *, namespace: str = "default", labels: Mapping[str, str] | None = None
) -> GenericObject:
    return GenericObject.from_dict(raw(name, 1, namespace=namespace, labels=labels))


@pytest.fixture
def lister() -> Lister[GenericObject]:
    indexer: Indexer[GenericObject] = Indexer(
        {"tier": lambda o: [o.metadata.labels.get("tier", "none")]}
    )
    for o in (
        obj("web-1", labels={"app": "web", "tier": "front"}),
        obj("web-2", labels={"app": "web", "tier": "front", "canary": "true"}),
        obj("db-1", labels={"app": "db", "tier": "back"}),
        obj("web-3", namespace="staging", labels={"app": "web"}),
        obj("node-a", namespace=""),
    ):
        indexer.add(o)
    return Lister(indexer)


def names(objects: Iterable[GenericObject]) -> list[str]:
    return sorted(o.metadata.name for o in objects)


def test_get_finds_namespaced_objects_by_namespace_and_name(lister: Lister[GenericObject]) -> None:
    web_1 = lister.get("default", "web-1")
    web_3 = lister.get_by_key(ObjectKey("staging", "web-3"))

    assert web_1 is not None
    assert web_1.metadata.key == ObjectKey("default", "web-1")
    assert lister.get("staging", "web-1") is None
    assert web_3 is not None
    assert web_3.metadata.name == "web-3"


def test_get_finds_cluster_scoped_objects_by_name_alone(lister: Lister[GenericObject]) -> None:
    node = lister.get("node-a")

    assert node is not None
    assert node.metadata.key == ObjectKey("", "node-a")
    assert lister.get("web-1") is None


@pytest.mark.parametrize(
    ("namespace", "selector", "expected"),
    [
        pytest.param(None, None, ["db-1", "node-a", "web-1", "web-2", "web-3"], id="everything"),
        pytest.param("default", None, ["db-1", "web-1", "web-2"], id="one-namespace"),
        pytest.param("nowhere", None, [], id="empty-namespace"),
        pytest.param(
            None, {"app": "web"}, ["web-1", "web-2", "web-3"], id="all-namespaces-by-label"
        ),
        pytest.param("default", {"app": "web"}, ["web-1", "web-2"], id="namespace-and-label"),
        pytest.param(None, {"app": "web", "canary": "true"}, ["web-2"], id="every-pair-must-match"),
        pytest.param(None, {"app": "cache"}, [], id="no-match"),
        pytest.param("default", {}, ["db-1", "web-1", "web-2"], id="empty-selector-matches-all"),
    ],
)
def test_list_filters_by_namespace_and_equality_selector(
    lister: Lister[GenericObject],
    namespace: str | None,
    selector: dict[str, str] | None,
    expected: list[str],
) -> None:
    assert names(lister.list(namespace, selector)) == expected


def test_by_index_reads_a_custom_index(lister: Lister[GenericObject]) -> None:
    assert names(lister.by_index("tier", "front")) == ["web-1", "web-2"]
    assert names(lister.by_index("tier", "none")) == ["node-a", "web-3"]
    with pytest.raises(KeyError):
        lister.by_index("missing", "x")

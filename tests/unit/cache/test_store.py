"""Indexer: keys, the built-in and custom indices, replace, and thread safety."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

import pytest

from mcm.api.meta import GenericObject, ObjectKey
from mcm.cache import NAMESPACE_INDEX, Indexer
from tests.unit.cache.cache_doubles import raw


def obj(
    name: str, rv: int = 1, *, namespace: str = "default", labels: Mapping[str, str] | None = None
) -> GenericObject:
    return GenericObject.from_dict(raw(name, rv, namespace=namespace, labels=labels))


def by_app(o: GenericObject) -> Sequence[str]:
    app = o.metadata.labels.get("app")
    return [app] if app else []


def names(objects: Iterable[GenericObject]) -> list[str]:
    return sorted(o.metadata.name for o in objects)


def test_added_objects_are_found_by_key_and_object_and_listed() -> None:
    store: Indexer[GenericObject] = Indexer()
    a, b = obj("a"), obj("b", namespace="other")

    store.add(a)
    store.add(b)

    assert store.get_by_key(ObjectKey("default", "a")) is a
    assert store.get(obj("b", 7, namespace="other")) is b
    assert store.get_by_key(ObjectKey("default", "missing")) is None
    assert names(store.list()) == ["a", "b"]
    assert set(store.list_keys()) == {ObjectKey("default", "a"), ObjectKey("other", "b")}
    assert len(store) == 2


def test_update_replaces_the_object_under_its_key() -> None:
    store: Indexer[GenericObject] = Indexer()
    store.add(obj("a", 1))

    store.update(obj("a", 2))

    assert [o.metadata.resource_version for o in store.list()] == ["2"]


def test_delete_removes_the_object_and_a_missing_key_is_not_an_error() -> None:
    store: Indexer[GenericObject] = Indexer()
    store.add(obj("a"))

    store.delete(obj("a", 5))
    store.delete(obj("never-there"))
    store.delete_by_key(ObjectKey("default", "a"))

    assert store.list() == []
    assert store.by_index(NAMESPACE_INDEX, "default") == []
    assert store.index_values(NAMESPACE_INDEX) == []


def test_the_namespace_index_is_built_in() -> None:
    store: Indexer[GenericObject] = Indexer()
    for o in (obj("a"), obj("b"), obj("c", namespace="kube-system"), obj("node", namespace="")):
        store.add(o)

    assert names(store.by_index(NAMESPACE_INDEX, "default")) == ["a", "b"]
    assert names(store.by_index(NAMESPACE_INDEX, "kube-system")) == ["c"]
    assert names(store.by_index(NAMESPACE_INDEX, "")) == ["node"]
    assert store.index_keys(NAMESPACE_INDEX, "kube-system") == [ObjectKey("kube-system", "c")]


def test_an_update_moves_the_object_between_index_values() -> None:
    store: Indexer[GenericObject] = Indexer({"app": by_app})
    store.add(obj("a", 1, labels={"app": "web"}))

    store.update(obj("a", 2, labels={"app": "db"}))

    assert store.by_index("app", "web") == []
    assert names(store.by_index("app", "db")) == ["a"]
    assert store.index_values("app") == ["db"]


def test_an_object_can_be_filed_under_several_values_or_none() -> None:
    store: Indexer[GenericObject] = Indexer({"letters": lambda o: list(o.metadata.name)})
    store.add(obj("ab"))
    store.add(obj("b"))
    store.add(obj(""))

    assert names(store.by_index("letters", "a")) == ["ab"]
    assert names(store.by_index("letters", "b")) == ["ab", "b"]


def test_indexers_added_later_index_the_objects_already_stored() -> None:
    store: Indexer[GenericObject] = Indexer()
    store.add(obj("a", labels={"app": "web"}))
    store.add(obj("b"))

    store.add_indexers({"app": by_app})

    assert names(store.by_index("app", "web")) == ["a"]


def test_an_indexer_name_cannot_be_added_twice() -> None:
    store: Indexer[GenericObject] = Indexer({"app": by_app})

    with pytest.raises(ValueError, match="app"):
        store.add_indexers({"app": by_app})
    with pytest.raises(ValueError, match="namespace"):
        store.add_indexers({NAMESPACE_INDEX: by_app})


def test_an_unknown_index_is_a_key_error() -> None:
    store: Indexer[GenericObject] = Indexer()

    with pytest.raises(KeyError, match="nope"):
        store.by_index("nope", "x")


def test_a_failing_index_function_leaves_the_store_unchanged() -> None:
    def broken(o: GenericObject) -> Sequence[str]:
        if o.metadata.name == "bad":
            raise RuntimeError("boom")
        return [o.metadata.name]

    store: Indexer[GenericObject] = Indexer({"name": broken})
    store.add(obj("good"))

    with pytest.raises(RuntimeError):
        store.add(obj("bad"))

    assert names(store.list()) == ["good"]
    assert store.index_values("name") == ["good"]


def test_replace_holds_exactly_the_new_items_and_rebuilds_the_indices() -> None:
    store: Indexer[GenericObject] = Indexer({"app": by_app})
    store.add(obj("old", labels={"app": "web"}))

    store.replace([obj("new", labels={"app": "web"}), obj("other", namespace="x")])

    assert names(store.list()) == ["new", "other"]
    assert names(store.by_index("app", "web")) == ["new"]
    assert names(store.by_index(NAMESPACE_INDEX, "x")) == ["other"]
    assert names(store.by_index(NAMESPACE_INDEX, "default")) == ["new"]


@pytest.mark.timeout(30)
def test_concurrent_writers_and_readers_leave_items_and_indices_consistent() -> None:
    store: Indexer[GenericObject] = Indexer({"app": by_app})
    errors: list[Exception] = []
    start = threading.Barrier(16)

    def writer(worker: int) -> None:
        start.wait()
        for i in range(300):
            name = f"w{worker}-{i % 20}"
            store.update(obj(name, i, labels={"app": f"app{i % 3}"}))
            if i % 7 == 0:
                store.delete_by_key(ObjectKey("default", name))

    def reader() -> None:
        start.wait()
        for _ in range(300):
            try:
                for value in ("app0", "app1", "app2"):
                    for o in store.by_index("app", value):
                        assert o.metadata.labels["app"] == value
                store.list()
            except Exception as exc:  # collected: assertion failures in threads are invisible
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    indexed = {k for v in ("app0", "app1", "app2") for k in store.index_keys("app", v)}
    assert indexed == set(store.list_keys())
    assert set(store.index_keys(NAMESPACE_INDEX, "default")) == set(store.list_keys())
    for o in store.list():
        assert o.metadata.key in store.index_keys("app", o.metadata.labels["app"])

"""DeltaFIFO: accumulation, deletion dedup, replace tombstones, has_synced, close."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from mcm.api.meta import GenericObject, ObjectKey
from mcm.cache import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
    FIFOClosedError,
    Indexer,
)
from tests.unit.cache.cache_doubles import raw

WAIT = 5.0

Fifo = DeltaFIFO[GenericObject]
Deltas = Sequence[Delta[GenericObject]]


def obj(name: str, rv: int = 1) -> GenericObject:
    return GenericObject.from_dict(raw(name, rv))


def key(name: str) -> ObjectKey:
    return ObjectKey("default", name)


def pop(fifo: Fifo) -> tuple[ObjectKey, Deltas]:
    seen: list[tuple[ObjectKey, Deltas]] = []
    fifo.pop(lambda k, deltas: seen.append((k, list(deltas))))
    return seen[0]


def summary(deltas: Deltas | None) -> list[tuple[str, str, str | None]]:
    """(type, name, rv) per delta; a tombstone shows as ('Deleted', 'DFSU:name', rv of its obj)."""
    out: list[tuple[str, str, str | None]] = []
    for d in deltas or ():
        o = d.object
        if isinstance(o, DeletedFinalStateUnknown):
            rv = o.obj.metadata.resource_version if o.obj is not None else None
            out.append((d.type.value, f"DFSU:{o.key.name}", rv))
        else:
            out.append((d.type.value, o.metadata.name, o.metadata.resource_version))
    return out


def test_changes_accumulate_per_key_oldest_first_and_keys_pop_in_arrival_order() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a", 1))
    fifo.add(obj("b", 2))
    fifo.update(obj("a", 3))

    first, second = pop(fifo), pop(fifo)

    assert first[0] == key("a")
    assert summary(first[1]) == [("Added", "a", "1"), ("Updated", "a", "3")]
    assert second[0] == key("b")
    assert summary(second[1]) == [("Added", "b", "2")]
    assert len(fifo) == 0


def test_consecutive_deletions_are_merged_into_one() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a", 1))

    fifo.delete(obj("a", 2))
    fifo.delete(obj("a", 3))

    assert summary(pop(fifo)[1]) == [("Added", "a", "1"), ("Deleted", "a", "2")]


def test_a_real_deletion_wins_over_a_tombstone_it_follows() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a", 1))

    fifo.delete(DeletedFinalStateUnknown(key("a"), obj("a", 1)))
    fifo.delete(obj("a", 2))

    assert summary(pop(fifo)[1]) == [("Added", "a", "1"), ("Deleted", "a", "2")]


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        pytest.param(
            ["update", "update"],
            [("Added", "a", "1"), ("Updated", "a", "2"), ("Updated", "a", "3")],
            id="two-updates",
        ),
        pytest.param(
            ["delete", "update", "delete"],
            [
                ("Added", "a", "1"),
                ("Deleted", "a", "2"),
                ("Updated", "a", "3"),
                ("Deleted", "a", "4"),
            ],
            id="deletions-with-an-update-between",
        ),
    ],
)
def test_nothing_but_consecutive_deletions_is_deduplicated(
    actions: list[str], expected: list[tuple[str, str, str]]
) -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a", 1))

    for rv, action in enumerate(actions, start=2):
        getattr(fifo, action)(obj("a", rv))

    assert summary(pop(fifo)[1]) == expected


def test_a_popped_key_that_changes_again_is_queued_at_the_end() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.add(obj("b"))
    pop(fifo)

    fifo.update(obj("a", 2))

    assert fifo.list_keys() == [key("b"), key("a")]


def test_deleting_a_key_that_is_neither_known_nor_queued_is_ignored() -> None:
    known: Indexer[GenericObject] = Indexer()
    fifo: Fifo = DeltaFIFO(known_objects=known)

    fifo.delete(obj("ghost"))

    assert len(fifo) == 0


def test_deleting_a_known_key_is_queued() -> None:
    known: Indexer[GenericObject] = Indexer()
    known.add(obj("a", 1))
    fifo: Fifo = DeltaFIFO(known_objects=known)

    fifo.delete(obj("a", 2))

    assert summary(fifo.get_by_key(key("a"))) == [("Deleted", "a", "2")]


def test_replace_marks_known_objects_missing_from_the_list_as_deleted_final_state_unknown() -> None:
    known: Indexer[GenericObject] = Indexer()
    known.add(obj("kept", 1))
    known.add(obj("gone", 1))
    fifo: Fifo = DeltaFIFO(known_objects=known)

    fifo.replace([obj("kept", 2), obj("new", 3)], "10")

    assert fifo.list_keys() == [key("kept"), key("new"), key("gone")]
    assert summary(fifo.get_by_key(key("kept"))) == [("Replaced", "kept", "2")]
    assert summary(fifo.get_by_key(key("new"))) == [("Replaced", "new", "3")]
    (tombstone,) = fifo.get_by_key(key("gone")) or ()
    assert tombstone.type is DeltaType.DELETED
    assert tombstone.object == DeletedFinalStateUnknown(key("gone"), obj("gone", 1))


def test_replace_marks_queued_keys_missing_from_the_list_with_their_newest_state() -> None:
    fifo: Fifo = DeltaFIFO(known_objects=Indexer())
    fifo.add(obj("queued", 1))
    fifo.update(obj("queued", 2))

    fifo.replace([], "10")

    assert summary(fifo.get_by_key(key("queued"))) == [
        ("Added", "queued", "1"),
        ("Updated", "queued", "2"),
        ("Deleted", "DFSU:queued", "2"),
    ]


def test_a_replace_does_not_add_a_tombstone_after_a_queued_deletion() -> None:
    fifo: Fifo = DeltaFIFO(known_objects=Indexer())
    fifo.add(obj("a", 1))
    fifo.delete(obj("a", 2))

    fifo.replace([], "10")

    assert summary(fifo.get_by_key(key("a"))) == [("Added", "a", "1"), ("Deleted", "a", "2")]


def test_has_synced_waits_until_the_first_replace_has_been_popped() -> None:
    fifo: Fifo = DeltaFIFO(known_objects=Indexer())
    assert not fifo.has_synced()

    fifo.replace([obj("a"), obj("b")], "10")
    fifo.add(obj("c"))  # after the initial list: does not hold up has_synced
    assert not fifo.has_synced()
    pop(fifo)
    assert not fifo.has_synced()
    pop(fifo)

    assert fifo.has_synced()
    assert fifo.list_keys() == [key("c")]


def test_has_synced_is_immediate_after_an_empty_first_list() -> None:
    fifo: Fifo = DeltaFIFO()

    fifo.replace([], "1")

    assert fifo.has_synced()


def test_has_synced_is_false_while_the_last_initial_item_is_being_processed() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.replace([obj("a")], "1")
    during: list[bool] = []

    fifo.pop(lambda k, d: during.append(fifo.has_synced()))

    assert during == [False]
    assert fifo.has_synced()


def test_resync_queues_a_sync_for_known_objects_with_nothing_queued() -> None:
    known: Indexer[GenericObject] = Indexer()
    known.add(obj("idle", 1))
    known.add(obj("busy", 1))
    fifo: Fifo = DeltaFIFO(known_objects=known)
    fifo.update(obj("busy", 2))

    fifo.resync()

    assert summary(fifo.get_by_key(key("idle"))) == [("Sync", "idle", "1")]
    assert summary(fifo.get_by_key(key("busy"))) == [("Updated", "busy", "2")]


def test_an_exception_from_process_propagates_and_the_key_stays_popped() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a"))

    def fail(k: ObjectKey, deltas: Deltas) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fifo.pop(fail)

    assert len(fifo) == 0


@pytest.mark.timeout(10)
def test_pop_blocks_until_something_is_queued() -> None:
    fifo: Fifo = DeltaFIFO()
    popped: list[tuple[ObjectKey, Deltas]] = []
    thread = threading.Thread(target=lambda: popped.append(pop(fifo)))
    thread.start()

    fifo.add(obj("a"))
    thread.join(WAIT)

    assert not thread.is_alive()
    assert popped[0][0] == key("a")


@pytest.mark.timeout(10)
def test_close_wakes_a_blocked_pop_which_raises_once_drained() -> None:
    fifo: Fifo = DeltaFIFO()
    raised: list[FIFOClosedError] = []

    def consume() -> None:
        try:
            pop(fifo)
        except FIFOClosedError as exc:
            raised.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()

    fifo.close()
    thread.join(WAIT)

    assert not thread.is_alive()
    assert len(raised) == 1
    assert fifo.closed


def test_a_closed_fifo_still_hands_out_what_was_queued() -> None:
    fifo: Fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.close()

    assert pop(fifo)[0] == key("a")
    with pytest.raises(FIFOClosedError):
        pop(fifo)

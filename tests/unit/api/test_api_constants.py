from __future__ import annotations

import itertools

from mcm.api import constants

MARKERS = [
    constants.GET_VM_STATUS,
    constants.INSTANCE_INITIALIZATION,
    constants.INITIATE_DRAIN,
    constants.NODE_READY_FOR_UPDATE,
    constants.DEL_VOLUMES_ATTACHMENTS,
    constants.INITIATE_VM_DELETION,
    constants.INITIATE_NODE_DELETION,
    constants.INITIATE_FINALIZER_REMOVAL,
]


def test_no_step_marker_contains_another() -> None:
    # The deletion flow picks its next step by substring search on lastOperation.description.
    for first, second in itertools.permutations(MARKERS, 2):
        assert first not in second, (first, second)


def test_retry_periods_are_upstreams_in_seconds() -> None:
    assert (
        constants.CONFLICT_RETRY,
        constants.SHORT_RETRY,
        constants.MEDIUM_RETRY,
        constants.LONG_RETRY,
    ) == (0.2, 5.0, 180.0, 600.0)


def test_the_finalizers_are_distinct() -> None:
    names = {
        constants.MCM_FINALIZER_NAME,
        constants.NODE_FINALIZER_NAME,
        constants.MC_FINALIZER_NAME,
    }

    assert len(names) == 3
    assert constants.DELETE_FINALIZER_NAME == constants.MCM_FINALIZER_NAME

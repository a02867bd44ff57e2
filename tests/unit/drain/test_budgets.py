"""Budgets: which one guards a pod, and when one is misconfigured (§8 scenario 58)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from mcm.api.core import Pod, PodDisruptionBudget
from mcm.controller.drain import is_misconfigured_pdb, pdb_for_pod
from tests.unit.drain.builders import budget, pod


def pdb(**status: Any) -> PodDisruptionBudget:
    return PodDisruptionBudget.from_dict(budget(**status))


def with_status(pdb_: PodDisruptionBudget, **changes: Any) -> PodDisruptionBudget:
    return attrs.evolve(pdb_, status=attrs.evolve(pdb_.status, **changes))


def test_a_good_budget_is_not_misconfigured_through_an_eviction():
    normal = pdb(expected=3, desired=2, healthy=3, allowed=1)
    # The eviction takes the disruption and records the pod.
    evicting = with_status(normal, disruptions_allowed=0, disrupted_pods={"pod-a": "now"})
    # The disruption controller's next pass no longer counts the evicted pod as healthy.
    recomputed = with_status(evicting, current_healthy=2)

    assert [is_misconfigured_pdb(p) for p in (normal, evicting, recomputed)] == [False] * 3


def test_a_budget_allowing_no_disruption_with_all_pods_healthy_is_misconfigured():
    bad = pdb(expected=3, desired=3, healthy=3, allowed=0)
    # After a forced deletion the controller sees one healthy pod fewer.
    after_force_delete = with_status(bad, current_healthy=2, disruptions_allowed=-1)

    assert is_misconfigured_pdb(bad) is True
    assert is_misconfigured_pdb(after_force_delete) is False


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"expected": 0, "healthy": 0, "desired": 0, "allowed": 0}, id="no-pods"),
        pytest.param({"generation": 2, "observed": 1, "allowed": 0}, id="not-observed-yet"),
    ],
)
def test_a_budget_is_not_judged_without_pods_or_before_it_was_observed(status):
    assert is_misconfigured_pdb(pdb(**status)) is False


def test_the_budget_of_a_pod_is_the_one_whose_selector_matches_in_its_namespace():
    web = Pod.from_dict(pod("web-0", labels={"app": "web"}))
    budgets = [
        PodDisruptionBudget.from_dict(budget("other", match={"app": "db"})),
        PodDisruptionBudget.from_dict(budget("elsewhere", namespace="prod")),
        PodDisruptionBudget.from_dict(budget("web")),
    ]

    found = pdb_for_pod(budgets, web)

    assert found is not None
    assert found.metadata.name == "web"


def test_a_budget_with_an_empty_selector_guards_nothing():
    body = budget("all")
    body["spec"]["selector"] = {}

    assert pdb_for_pod([PodDisruptionBudget.from_dict(body)], Pod.from_dict(pod("web-0"))) is None

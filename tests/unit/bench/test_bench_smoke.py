"""Every benchmark in ``bench/`` runs with a tiny N and reports what it should: shapes and counts.

Nothing here asserts a time or a ratio of times (those depend on the machine); counts do not.
"""

from __future__ import annotations

import json

import pytest

from bench import api_calls, ec2_calls, informer, parse, run, workqueue
from bench.report import Report


def numbers(report: Report, title: str, column: str) -> list[float]:
    values = report.table(title).column(column)
    assert all(isinstance(value, int | float) for value in values), values
    return [float(value) for value in values if isinstance(value, int | float)]


def test_parse_decodes_every_object_both_ways_and_compares_where_a_generated_model_exists():
    report = parse.run(n=4, repeat=1)

    table = report.table("decoding one list response")
    assert table.columns == parse.COLUMNS
    assert table.column("kind") == ("Machine", "Node", "Pod")
    assert table.column("objects") == (4, 4, 4)
    assert table.column("kubernetes ms")[0] is None
    assert all(isinstance(ms, float) for ms in table.column("kubernetes ms")[1:])
    assert set(report.ratios) == {"Node: kubernetes / ours", "Pod: kubernetes / ours"}


def test_informer_delivers_every_event_and_measures_memory_per_kind():
    report = informer.run(n=(5,), repeat=1, memory_n=3)

    throughput = report.table("throughput")
    assert throughput.column("source") == ("replayed", "live")
    assert throughput.column("events") == (10, 10)  # 5 creates + 5 status writes
    memory = report.table("memory per cached object")
    assert memory.column("kind") == ("Machine", "Node", "Pod")
    assert all(size > 0 for size in numbers(report, "memory per cached object", "dict B/object"))
    assert memory.column("kubernetes B/object")[0] is None


def test_workqueue_hands_out_every_key_and_never_more_gets_than_adds():
    report = workqueue.run(adds=400, keys=(10, 400), producers=(1, 2), repeat=1)

    table = report.table("adds and gets per second")
    assert len(table.rows) == len(workqueue.VARIANTS) * 2 * 2
    for record in table.records():
        assert record["adds"] == 400
        gets = record["gets"]
        assert isinstance(gets, int)
        if record["keys"] == 400:
            assert gets == 400  # every add is a new key: nothing to collapse
        else:
            assert 10 <= gets <= 400


def test_api_calls_cover_every_phase_with_one_vm_created_and_deleted_per_machine():
    report = api_calls.run(n=(1, 2), steady_hours=0.5)

    per_machine = report.table("per machine")
    assert per_machine.column("phase") == ("create", "steady", "delete") * 2
    driver = {
        (record["phase"], record["method"]): record["calls"]
        for record in report.table("driver calls (n=2)").records()
    }
    assert driver[("create", "create_machine")] == 2
    assert driver[("delete", "delete_machine")] == 2
    assert ("steady", "create_machine") not in driver


def test_a_running_machine_costs_no_api_call_in_steady_state():
    result = api_calls.lifecycle(2, steady_hours=2.0)

    steady = result.phases["steady"]
    assert steady.writes == 0
    assert steady.reads == 0
    assert sum(steady.reconciles.values()) > 0  # the periodic checks did run


@pytest.mark.parametrize("phase", [pytest.param(p, id=p) for p in ("create", "delete")])
def test_each_further_machine_costs_the_same_api_calls(phase):
    totals = [
        sum(api_calls.lifecycle(n, steady_hours=0.0).phases[phase].api.values()) for n in (1, 2, 3)
    ]

    assert totals[2] - totals[1] == totals[1] - totals[0] > 0


@pytest.mark.timeout(120)
def test_ec2_calls_run_one_instance_per_machine_and_terminate_it():
    report = ec2_calls.run(n=(1, 2), steady_hours=0.25)

    calls = {
        (record["machines"], record["phase"], record["action"]): record["calls"]
        for record in report.table("EC2 calls by action").records()
    }
    for machines in (1, 2):
        assert calls[(machines, "create", "RunInstances")] == machines
        assert calls[(machines, "delete", "TerminateInstances")] == machines
    assert calls[(2, "create", "DescribeImages")] == 1  # cached per AMI


def test_run_prints_the_named_benchmarks_and_writes_their_reports_as_a_json_list(tmp_path, capsys):
    path = tmp_path / "results.json"

    assert run.main(["api-calls", "--quick", "--json", str(path)]) == 0

    assert "== api-calls" in capsys.readouterr().out
    written = json.loads(path.read_text())
    assert [entry["name"] for entry in written] == ["api-calls"]
    assert written[0]["tables"][0]["columns"] == list(api_calls.PER_MACHINE_COLUMNS)
    assert written[0]["environment"]["cpus"] >= 1

import pytest

from harness.results.records import Record
from harness.results.verdicts import judge, statistic
from harness.scenario.models import SuccessMetric
import pandas as pd


def metric(**overrides) -> SuccessMetric:
    fields = {
        "name": "m",
        "kind": "api_call",
        "metric": "latency",
        "stat": "p99",
        "op": "<=",
        "threshold": 1000,
        "unit": "ms",
    }
    fields.update(overrides)
    return SuccessMetric(**fields)


def latencies(values, unit="ms", **labels):
    return [Record("api_call", "latency", v, unit, {"verb": "create", **labels}) for v in values]


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        ("p50", 50.5),
        ("p90", 90.1),
        ("p99", 99.01),
        ("max", 100),
        ("min", 1),
        ("mean", 50.5),
        ("count", 100),
        ("sum", 5050),
    ],
)
def test_statistic(stat, expected):
    assert statistic(pd.Series(range(1, 101), dtype=float), stat) == pytest.approx(expected)


def test_pass_and_fail_at_threshold():
    passed = judge(metric(stat="max", threshold=100), latencies([10, 100]))
    failed = judge(metric(stat="max", threshold=99.9), latencies([10, 100]))
    assert passed.passed
    assert not failed.passed
    assert failed.observed == 100


def test_labels_select_records():
    records = latencies([5000], verb_kind="x") + [
        Record("api_call", "latency", 10, "ms", {"verb": "get"})
    ]
    verdict = judge(metric(labels={"verb": "get"}), records)
    assert verdict.passed
    assert verdict.samples == 1


def test_missing_records_fail():
    verdict = judge(metric(), [])
    assert not verdict.passed
    assert verdict.detail == "no measurement recorded"


def test_unit_mismatch_fails():
    verdict = judge(metric(), latencies([1], unit="s"))
    assert not verdict.passed
    assert "unit mismatch" in verdict.detail


def test_equality_operator():
    records = [
        Record("allreduce", "wrong", 0, "elements", {}),
        Record("allreduce", "wrong", 0, "elements", {}),
    ]
    assert judge(
        metric(kind="allreduce", metric="wrong", op="==", threshold=0, unit="elements", stat="max"),
        records,
    ).passed


def test_verdict_line_states_outcome():
    line = judge(metric(stat="max"), latencies([1500])).line()
    assert line.startswith("FAIL m: 1500 ms <= 1000 ms")

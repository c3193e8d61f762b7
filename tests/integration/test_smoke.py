"""The smoke scenario end to end on the real local cluster."""

from __future__ import annotations

import json

import pytest

from harness.runner import RunOptions, run
from tests.integration.conftest import REPO

# The operator writes the Created condition after it has created the pods, so Created may be
# seen after the workers are scheduled. It always precedes Running.
ORDERED_PHASES = ["create_returned", "workers_scheduled", "workers_running", "running", "succeeded"]


@pytest.fixture(scope="module")
def smoke_run(cluster, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("smoke") / "run"
    options = RunOptions(
        scenario_path=REPO / "scenarios/smoke.yaml",
        params={"iters": "5"},
        out_dir=out_dir,
        kubeconfig=str(cluster.kubeconfig),
    )
    run(options)
    return out_dir, json.loads((out_dir / "results.json").read_text())


def records_of(results, kind, metric):
    return [r for r in results["records"] if r["kind"] == kind and r["metric"] == metric]


def test_run_writes_result_files(smoke_run):
    out_dir, results = smoke_run
    assert results["version"] == 1
    assert results["status"] == "complete"
    for name in (
        "results.json",
        "results.csv",
        "summary.md",
        "busbw.png",
        "mpijob_phases.png",
        "junit.xml",
        "PerfData_api_call.json",
        "PerfData_pod_startup.json",
    ):
        assert (out_dir / name).stat().st_size > 0, name
    summary = (out_dir / "summary.md").read_text()
    assert "5 of 5 passed" in summary
    assert "| metadata | value |" in summary


def test_every_success_metric_passed(smoke_run):
    _, results = smoke_run
    assert len(results["verdicts"]) == 5
    failed = [v for v in results["verdicts"] if not v["passed"]]
    assert failed == []


def test_mpijob_reached_succeeded_with_ordered_phases(smoke_run):
    _, results = smoke_run
    phases = {
        r["labels"]["phase"]: r["value"]
        for r in records_of(results, "mpijob_phase", "since_create")
    }
    assert set(ORDERED_PHASES) <= set(phases), f"phases seen: {sorted(phases)}"
    assert "failed" not in phases
    times = [phases[phase] for phase in ORDERED_PHASES]
    assert times == sorted(times), dict(zip(ORDERED_PHASES, times))
    assert all(t > 0 for t in times)
    assert phases["create_returned"] <= phases["created"] <= phases["running"]
    assert phases["launcher_running"] <= phases["running"]


def test_every_worker_started(smoke_run):
    _, results = smoke_run
    startups = [
        r for r in records_of(results, "pod_startup", "latency") if r["labels"]["role"] == "worker"
    ]
    assert len(startups) == 4
    assert all(0 <= r["value"] < 30 for r in startups)
    assert records_of(results, "mpijob_outcome", "workers_running")[0]["value"] == 4


def test_allreduce_rows_are_correct(smoke_run):
    _, results = smoke_run
    rows = {}
    for record in (
        records_of(results, "allreduce", "algbw")
        + records_of(results, "allreduce", "busbw")
        + records_of(results, "allreduce", "wrong")
    ):
        key = (record["labels"]["size_bytes"], record["labels"]["placement"])
        rows.setdefault(key, {})[record["metric"]] = record["value"]
    sizes = sorted({size for size, _ in rows})
    assert sizes[0] == 8
    assert sizes[-1] == 64 * 2**20
    assert {placement for _, placement in rows} == {"out-of-place", "in-place"}
    ranks = 2
    for key, row in rows.items():
        assert row["wrong"] == 0, key
        assert row["algbw"] > 0, key
        assert row["busbw"] == pytest.approx(row["algbw"] * 2 * (ranks - 1) / ranks, rel=1e-6), key


def test_records_carry_kind_unit_and_labels(smoke_run):
    _, results = smoke_run
    for record in results["records"]:
        assert record["kind"]
        assert record["metric"]
        assert record["unit"]
        assert isinstance(record["labels"], dict) and record["labels"]

import json
import math
import random

import pytest

from harness.report.perfdata import perfdata_items, series_labels, write_perfdata
from harness.results.records import Record
from harness.results.run import RunResults


def run_with(tmp_path, records) -> RunResults:
    return RunResults("smoke", tmp_path / "run", {}, records=list(records))


def api_calls(values, verb="create", resource="mpijobs", unit="ms"):
    return [
        Record(
            "api_call",
            "latency",
            value,
            unit,
            {"job": f"job-{i}", "step": 0, "verb": verb, "resource": resource},
        )
        for i, value in enumerate(values)
    ]


def load(path):
    return json.loads(path.read_text())


def test_one_file_per_kind(tmp_path):
    records = api_calls([1.0]) + [
        Record("mpijob_phase", "since_create", 2.0, "s", {"job": "a", "phase": "created"})
    ]
    paths = write_perfdata(run_with(tmp_path, records), tmp_path / "out")

    assert [path.name for path in paths] == ["PerfData_api_call.json", "PerfData_mpijob_phase.json"]
    for path in paths:
        document = load(path)
        assert document["version"] == "v1"
        assert len(document["dataItems"]) == 1


def test_percentiles_are_linear(tmp_path):
    [path] = write_perfdata(run_with(tmp_path, api_calls(range(1, 101))), tmp_path)
    [item] = load(path)["dataItems"]

    assert item["unit"] == "ms"
    assert item["data"] == {
        "Perc50": pytest.approx(50.5),
        "Perc90": pytest.approx(90.1),
        "Perc99": pytest.approx(99.01),
        "Max": pytest.approx(100),
    }


def test_api_calls_grouped_by_verb_and_resource(tmp_path):
    records = api_calls([10, 20]) + api_calls([5], verb="list", resource="pods")
    [path] = write_perfdata(run_with(tmp_path, records), tmp_path)
    items = load(path)["dataItems"]

    labels = [item["labels"] for item in items]
    assert labels == [
        {"resource": "mpijobs", "verb": "create", "Metric": "latency"},
        {"resource": "pods", "verb": "list", "Metric": "latency"},
    ]
    assert items[0]["data"]["Max"] == 20
    assert items[1]["data"]["Max"] == 5


def test_pod_startup_pooled_across_pods(tmp_path):
    records = [
        Record(
            "pod_startup", "latency", 1.0, "s", {"job": "a", "pod": "a-worker-0", "role": "worker"}
        ),
        Record(
            "pod_startup", "latency", 3.0, "s", {"job": "b", "pod": "b-worker-0", "role": "worker"}
        ),
        Record(
            "pod_startup",
            "latency",
            2.0,
            "s",
            {"job": "a", "pod": "a-launcher", "role": "launcher"},
        ),
    ]
    items = perfdata_items(records)

    assert [item["labels"]["role"] for item in items] == ["launcher", "worker"]
    assert items[1]["data"]["Perc50"] == pytest.approx(2.0)
    assert items[1]["data"]["Max"] == 3.0


def test_default_drops_per_object_labels():
    record = Record(
        "allreduce",
        "busbw",
        1.0,
        "GB/s",
        {"workload": "mpi", "ranks": 2, "size_bytes": 1024, "job": "j", "pod": "p", "step": 3},
    )
    assert series_labels(record) == {"workload": "mpi", "ranks": 2, "size_bytes": 1024}


def test_default_keeps_sizes_apart():
    records = [
        Record("allreduce", "busbw", 1.0, "GB/s", {"size_bytes": 1024, "step": 0}),
        Record("allreduce", "busbw", 2.0, "GB/s", {"size_bytes": 2048, "step": 0}),
        Record("allreduce", "busbw", 3.0, "GB/s", {"size_bytes": 2048, "step": 1}),
    ]
    items = perfdata_items(records)

    assert [item["labels"]["size_bytes"] for item in items] == ["1024", "2048"]
    assert items[1]["data"]["Max"] == 3.0


def test_label_values_are_strings():
    records = [
        Record("memcpy", "bandwidth", 2.5, "GB/s", {"size_bytes": 64, "pinned": True, "ratio": 0.5})
    ]
    [item] = perfdata_items(records)
    assert item["labels"] == {
        "pinned": "True",
        "ratio": "0.5",
        "size_bytes": "64",
        "Metric": "bandwidth",
    }
    for value in item["labels"].values():
        assert isinstance(value, str)


def test_units_form_separate_series():
    items = perfdata_items(api_calls([1.0], unit="ms") + api_calls([2.0], unit="s"))
    assert [item["unit"] for item in items] == ["ms", "s"]


def test_metrics_form_separate_series():
    records = [
        Record("mpijob_status", "updates", 4, "writes", {"job": "a"}),
        Record("mpijob_status", "lag", 0.2, "s", {"job": "a"}),
    ]
    items = perfdata_items(records)
    assert [item["labels"]["Metric"] for item in items] == ["lag", "updates"]


def test_missing_series_label_omitted():
    records = [Record("api_call", "latency", 1.0, "ms", {"verb": "get"})]
    [item] = perfdata_items(records)
    assert item["labels"] == {"verb": "get", "Metric": "latency"}


def test_non_finite_values_left_out(tmp_path):
    records = api_calls([1.0, math.nan, math.inf, 3.0]) + api_calls([math.nan], verb="delete")
    [path] = write_perfdata(run_with(tmp_path, records), tmp_path)
    items = load(path)["dataItems"]

    assert len(items) == 1
    assert items[0]["labels"]["verb"] == "create"
    assert items[0]["data"]["Max"] == 3.0


def test_no_records_no_files(tmp_path):
    out_dir = tmp_path / "out"
    assert write_perfdata(run_with(tmp_path, []), out_dir) == []
    assert list(out_dir.iterdir()) == []


def test_unsafe_kind_rejected(tmp_path):
    records = [Record("../escape", "latency", 1.0, "ms", {})]
    with pytest.raises(ValueError, match="cannot be used in a PerfData file name"):
        write_perfdata(run_with(tmp_path, records), tmp_path / "out")
    assert not (tmp_path / "escape.json").exists()


def test_output_independent_of_record_order(tmp_path):
    records = api_calls([3, 1, 2]) + api_calls([7, 9], verb="list", resource="pods")
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)

    [first] = write_perfdata(run_with(tmp_path, records), tmp_path / "first")
    [second] = write_perfdata(run_with(tmp_path, shuffled), tmp_path / "second")
    assert first.read_bytes() == second.read_bytes()

import pytest

from harness.errors import WorkloadError
from harness.steps.collectives import scaling_efficiency
from harness.steps.workload_output import parse_bench_lines, rows_to_records

ALLREDUCE_LINE = (
    'BENCH_RECORD {"workload": "allreduce_mpi", "backend": "mpi", "device": "cpu", "ranks": 2, '
    '"size_bytes": 1024, "count": 256, "dtype": "float32", "redop": "sum", "placement": "in-place", '
    '"time_us": 10.0, "time_us_min": 9.0, "time_us_max": 11.0, "algbw_gbps": 0.1024, '
    '"busbw_gbps": 0.1024, "wrong": 0, "iters": 20}'
)


def test_parse_ignores_other_lines():
    text = f"#  size  count\nnoise\n{ALLREDUCE_LINE}\n"
    rows = parse_bench_lines(text)
    assert len(rows) == 1
    assert rows[0]["size_bytes"] == 1024


def test_parse_finds_prefix_after_log_decoration():
    rows = parse_bench_lines(f"[1,0]<stdout>:{ALLREDUCE_LINE}")
    assert rows[0]["placement"] == "in-place"


def test_invalid_json_is_reported():
    with pytest.raises(WorkloadError, match="line 2"):
        parse_bench_lines("ok\nBENCH_RECORD {broken\n")


def test_allreduce_row_expands_to_records():
    records = rows_to_records(parse_bench_lines(ALLREDUCE_LINE), {"runner": "local"})
    by_metric = {r.metric: r for r in records}
    assert set(by_metric) == {"time", "time_min", "time_max", "algbw", "busbw", "wrong"}
    assert by_metric["busbw"].unit == "GB/s"
    assert by_metric["time"].unit == "us"
    assert by_metric["wrong"].labels["placement"] == "in-place"
    assert by_metric["wrong"].labels["runner"] == "local"


def test_unknown_workload_rejected():
    with pytest.raises(WorkloadError, match="unknown workload"):
        rows_to_records([{"workload": "mystery"}], {})


def test_scaling_efficiency():
    rows = [
        {
            "workload": "horovod_synthetic",
            "model": "convnet",
            "ranks": n,
            "images_per_sec_total": total,
        }
        for n, total in ((1, 100.0), (2, 180.0), (4, 300.0))
    ]
    efficiency = {
        int(r.labels["ranks"]): r.value for r in scaling_efficiency(rows_to_records(rows, {}))
    }
    assert efficiency == {1: 1.0, 2: 0.9, 4: 0.75}

"""workloads.memcpy_bandwidth run for real."""

from __future__ import annotations

from workload_runner import run_workload


def test_memcpy_record() -> None:
    result = run_workload("memcpy_bandwidth", ["--size", "4M", "--repeats", "3"], ranks=None)
    assert result.returncode == 0, result.stderr
    assert result.other_stdout_lines == []
    assert len(result.records) == 1
    record = result.records[0]
    assert set(record) == {"workload", "size_bytes", "bandwidth_gbps", "repeats"}
    assert record["workload"] == "memcpy_bandwidth"
    assert record["size_bytes"] == 4 * 1024 * 1024
    assert record["repeats"] == 3
    assert record["bandwidth_gbps"] > 0
    assert "GB/s one-way" in result.stderr


def test_memcpy_zero_size_exits_2() -> None:
    result = run_workload("memcpy_bandwidth", ["--size", "0"], ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --size 0")
    assert result.records == []


def test_memcpy_bad_repeats_exits_2() -> None:
    result = run_workload("memcpy_bandwidth", ["--repeats", "0"], ranks=None)
    assert result.returncode == 2
    assert "argument --repeats" in result.stderr

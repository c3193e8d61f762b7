"""Unit tests for workloads.common: sizes, sweeps, bandwidth, records and the sweep driver."""

from __future__ import annotations

import argparse
import json

import pytest

from workloads import common
from workloads.common import (
    CollectiveTiming,
    SweepSettings,
    UsageError,
    allreduce_busbw_factor,
    check_rank_count,
    collective_record,
    default_iterations,
    parse_size,
    plan_timed_iterations,
    run_allreduce_sweep,
    sweep_sizes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8", 8),
        ("64K", 64 * 1024),
        ("64k", 64 * 1024),
        ("64M", 64 * 1024 * 1024),
        ("1G", 1 << 30),
        ("4KiB", 4096),
        ("4KB", 4096),
        (" 16 ", 16),
    ],
)
def test_parse_size_accepts_binary_suffixes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "12X", "-8", "1.5M", "M", "8 8"])
def test_parse_size_rejects_invalid(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid size"):
        parse_size(text)


def test_sweep_sizes_doubles_from_min_to_max() -> None:
    assert sweep_sizes(8, 64, 2, 4) == [8, 16, 32, 64]


def test_sweep_sizes_rounds_to_whole_elements() -> None:
    # 6 -> 4, 18 -> 16, 54 -> 52: each size drops to a multiple of the 4-byte element.
    assert sweep_sizes(6, 60, 3, 4) == [4, 16, 52]


def test_sweep_sizes_single_size() -> None:
    assert sweep_sizes(1024, 1024, 2, 4) == [1024]


def test_sweep_sizes_rejects_size_below_element() -> None:
    with pytest.raises(UsageError) as raised:
        sweep_sizes(2, 64, 2, 4)
    message = str(raised.value)
    assert "--min-bytes 2" in message
    assert "--min-bytes 4 or more" in message


def test_sweep_sizes_rejects_max_below_min() -> None:
    with pytest.raises(UsageError) as raised:
        sweep_sizes(64, 8, 2, 4)
    assert "--max-bytes 8 is below --min-bytes 64" in str(raised.value)


def test_sweep_sizes_rejects_factor_below_two() -> None:
    with pytest.raises(UsageError, match="--factor 1"):
        sweep_sizes(8, 64, 1, 4)


@pytest.mark.parametrize(("ranks", "factor"), [(1, 0.0), (2, 1.0), (4, 1.5), (8, 1.75)])
def test_allreduce_busbw_factor(ranks: int, factor: float) -> None:
    assert allreduce_busbw_factor(ranks) == pytest.approx(factor)


def test_check_rank_count_names_option_and_fix() -> None:
    with pytest.raises(UsageError) as raised:
        check_rank_count(1, 2)
    message = str(raised.value)
    assert "--min-ranks is 2" in message
    assert "only 1 rank is running" in message
    assert "mpirun -np 2" in message
    assert "--min-ranks 1" in message


def test_check_rank_count_accepts_enough_ranks() -> None:
    check_rank_count(2, 2)


def test_default_iterations_follow_osu() -> None:
    assert default_iterations(8, None, None) == (200, 1000)
    assert default_iterations(8191, None, None) == (200, 1000)
    assert default_iterations(8192, None, None) == (10, 100)
    assert default_iterations(8192, 7, 3) == (3, 7)


def test_plan_timed_iterations_caps_by_time() -> None:
    assert plan_timed_iterations(100, 0.1, 2.0) == 20
    assert plan_timed_iterations(100, 0.001, 2.0) == 100
    assert plan_timed_iterations(100, 10.0, 2.0) == common.MIN_CAPPED_ITERS
    assert plan_timed_iterations(5, 10.0, 2.0) == 5
    assert plan_timed_iterations(100, 0.1, 0.0) == 100


def test_collective_record_bandwidth() -> None:
    timing = CollectiveTiming(mean_s=1e-3, min_s=0.9e-3, max_s=1.1e-3)
    record = collective_record(
        workload="allreduce_mpi",
        backend="mpi",
        device="cpu",
        ranks=4,
        size_bytes=1_000_000,
        element_size=4,
        placement="in-place",
        timing=timing,
        wrong=0,
        iters=10,
    )
    assert record["count"] == 250_000
    assert record["time_us"] == pytest.approx(1000.0)
    assert record["time_us_min"] == pytest.approx(900.0)
    assert record["time_us_max"] == pytest.approx(1100.0)
    assert record["algbw_gbps"] == pytest.approx(1.0)
    assert record["busbw_gbps"] == pytest.approx(1.5)


def test_emit_record_is_one_compact_line(capsys: pytest.CaptureFixture[str]) -> None:
    common.emit_record({"workload": "memcpy_bandwidth", "size_bytes": 8})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0] == 'BENCH_RECORD {"workload":"memcpy_bandwidth","size_bytes":8}'
    assert json.loads(lines[0].removeprefix("BENCH_RECORD ")) == {
        "workload": "memcpy_bandwidth",
        "size_bytes": 8,
    }


class FakeCommunicator:
    """Single-rank stand-in whose check pass reports a fixed number of wrong elements."""

    rank = 0
    ranks = 1

    def __init__(self, wrong_per_check: int) -> None:
        self.wrong_per_check = wrong_per_check

    def count_wrong(self, count: int, placement: str) -> int:
        return self.wrong_per_check

    def prepare(self, count: int, placement: str):
        return lambda: None

    def time_calls(self, call, iterations: int) -> float:
        return 1e-6 * iterations

    def barrier(self) -> None:
        pass

    def reduce_scalar(self, value: float, op: str) -> float:
        return value


def _fake_settings() -> SweepSettings:
    return SweepSettings(sizes=[8, 16], iters=3, warmup=1, time_limit_s=1.0)


def test_sweep_driver_exits_1_on_wrong_elements(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_allreduce_sweep(
        FakeCommunicator(wrong_per_check=3),
        _fake_settings(),
        workload="allreduce_mpi",
        backend="mpi",
        device="cpu",
        title="fake",
    )
    output = capsys.readouterr()
    assert code == common.EXIT_WRONG_RESULTS
    assert "error: 12 wrong elements" in output.err
    records = [json.loads(line.split(" ", 1)[1]) for line in output.out.splitlines()]
    assert [record["wrong"] for record in records] == [3, 3, 3, 3]


def test_sweep_driver_reports_each_size_and_placement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_allreduce_sweep(
        FakeCommunicator(wrong_per_check=0),
        _fake_settings(),
        workload="allreduce_mpi",
        backend="mpi",
        device="cpu",
        title="fake",
    )
    output = capsys.readouterr()
    records = [json.loads(line.split(" ", 1)[1]) for line in output.out.splitlines()]
    assert code == common.EXIT_OK
    assert [(r["size_bytes"], r["placement"]) for r in records] == [
        (8, "out-of-place"),
        (8, "in-place"),
        (16, "out-of-place"),
        (16, "in-place"),
    ]
    assert all(record["busbw_gbps"] == 0.0 for record in records)
    assert all(record["iters"] == 3 for record in records)
    assert "busbw is 0 by definition" in output.err

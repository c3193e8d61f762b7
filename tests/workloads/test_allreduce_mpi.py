"""workloads.allreduce_mpi run for real under mpirun, plus its input checks."""

from __future__ import annotations

import pytest

from workload_runner import assert_allreduce_sweep, requires_mpi, run_workload

SMALL_SWEEP = ["--min-bytes", "8", "--max-bytes", "64K", "--iters", "20", "--warmup", "5"]

pytestmark = requires_mpi


@pytest.fixture(scope="module")
def two_rank_sweep():
    return run_workload("allreduce_mpi", SMALL_SWEEP, ranks=2)


def test_two_ranks_exit_zero(two_rank_sweep) -> None:
    assert two_rank_sweep.returncode == 0, two_rank_sweep.stderr


def test_two_ranks_records(two_rank_sweep) -> None:
    assert_allreduce_sweep(
        two_rank_sweep,
        workload="allreduce_mpi",
        backend="mpi",
        ranks=2,
        min_bytes=8,
        max_bytes=64 * 1024,
        iters=20,
    )


def test_two_ranks_table_on_stderr(two_rank_sweep) -> None:
    assert "out-of-place" in two_rank_sweep.stderr
    assert "#wrong" in two_rank_sweep.stderr
    assert "# wrong elements: 0" in two_rank_sweep.stderr


def test_three_ranks_busbw_factor() -> None:
    result = run_workload("allreduce_mpi", ["-b", "1K", "-e", "4K", "-n", "10", "-w", "2"], ranks=3)
    assert result.returncode == 0, result.stderr
    assert_allreduce_sweep(
        result,
        workload="allreduce_mpi",
        backend="mpi",
        ranks=3,
        min_bytes=1024,
        max_bytes=4096,
        iters=10,
    )


def test_one_rank_rejected_by_default() -> None:
    result = run_workload("allreduce_mpi", SMALL_SWEEP, ranks=1)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "--min-ranks is 2" in result.stderr
    assert result.records == []


def test_one_rank_allowed_with_min_ranks_1() -> None:
    result = run_workload(
        "allreduce_mpi",
        ["-b", "8", "-e", "1K", "-n", "5", "-w", "1", "--min-ranks", "1"],
        ranks=1,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.records) == 16
    assert all(record["busbw_gbps"] == 0.0 for record in result.records)
    assert all(record["algbw_gbps"] > 0 for record in result.records)
    assert all(record["wrong"] == 0 for record in result.records)
    assert "busbw is 0 by definition" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-bytes", "2"], "--min-bytes 2 is smaller than one element (4 bytes)"),
        (["--min-bytes", "1K", "--max-bytes", "512"], "--max-bytes 512 is below --min-bytes 1024"),
        (["--factor", "1"], "--factor 1 is invalid"),
        (["--max-bytes", "12X"], "argument --max-bytes/-e: invalid size '12X'"),
        (["--iters", "0"], "argument --iters/-n: invalid value '0'"),
        (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ],
)
def test_bad_input_exits_2(args: list[str], expected: str) -> None:
    result = run_workload("allreduce_mpi", args, ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert result.records == []


def test_bad_input_under_mpirun_reported_once() -> None:
    result = run_workload("allreduce_mpi", ["--min-bytes", "2"], ranks=2)
    assert result.returncode == 2
    assert result.stderr.count("error: --min-bytes 2") == 1


def test_help_exits_zero() -> None:
    result = run_workload("allreduce_mpi", ["--help"], ranks=None)
    assert result.returncode == 0
    assert "--min-bytes" in result.stdout
    assert "--min-ranks" in result.stdout

"""workloads.allreduce_torch run for real on gloo under mpirun, plus its input checks."""

from __future__ import annotations

import pytest
from workload_runner import assert_allreduce_sweep, requires_mpi, requires_torch, run_workload

SMALL_SWEEP = ["--min-bytes", "8", "--max-bytes", "64K", "--iters", "20", "--warmup", "5"]

pytestmark = [requires_mpi, requires_torch]


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def gloo_sweep():
    return run_workload("allreduce_torch", [*SMALL_SWEEP, "--backend", "gloo"], ranks=2)


def test_gloo_two_ranks_exit_zero(gloo_sweep) -> None:
    assert gloo_sweep.returncode == 0, gloo_sweep.stderr


def test_gloo_two_ranks_records(gloo_sweep) -> None:
    assert_allreduce_sweep(
        gloo_sweep,
        workload="allreduce_torch",
        backend="gloo",
        ranks=2,
        min_bytes=8,
        max_bytes=64 * 1024,
        iters=20,
    )


def test_gloo_table_names_backend(gloo_sweep) -> None:
    assert "backend gloo" in gloo_sweep.stderr
    assert "# wrong elements: 0" in gloo_sweep.stderr


@pytest.mark.skipif("_cuda_available()", reason="this machine has CUDA, so nccl would run")
def test_default_backend_without_cuda_is_gloo() -> None:
    result = run_workload("allreduce_torch", ["-b", "1K", "-e", "1K", "-n", "3", "-w", "1"])
    assert result.returncode == 0, result.stderr
    assert {record["backend"] for record in result.records} == {"gloo"}


@pytest.mark.skipif("_cuda_available()", reason="this machine has CUDA, so nccl would run")
def test_nccl_without_cuda_exits_2() -> None:
    result = run_workload("allreduce_torch", [*SMALL_SWEEP, "--backend", "nccl"], ranks=2)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "--backend nccl needs a CUDA GPU" in result.stderr
    assert "Use --backend gloo" in result.stderr
    assert result.stderr.count("error: ") == 1
    assert result.records == []


def test_one_rank_rejected_by_default() -> None:
    result = run_workload("allreduce_torch", SMALL_SWEEP, ranks=1)
    assert result.returncode == 2
    assert "--min-ranks is 2" in result.stderr
    assert result.records == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-bytes", "2"], "--min-bytes 2 is smaller than one element (4 bytes)"),
        (["--min-bytes", "64K", "--max-bytes", "8"], "--max-bytes 8 is below --min-bytes 65536"),
        (["--backend", "mpi"], "argument --backend: invalid choice: 'mpi'"),
        (["--master-port", "70000"], "invalid port '70000'"),
    ],
)
def test_bad_input_exits_2(args: list[str], expected: str) -> None:
    result = run_workload("allreduce_torch", args, ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


def test_help_exits_zero() -> None:
    result = run_workload("allreduce_torch", ["--help"], ranks=None)
    assert result.returncode == 0
    assert "--backend" in result.stdout
    assert "MASTER_PORT" in result.stdout

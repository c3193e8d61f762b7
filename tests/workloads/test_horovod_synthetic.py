"""workloads.horovod_synthetic run for real under mpirun: allreduce sweep and training."""

from __future__ import annotations

import importlib.util

import pytest
from workload_runner import (
    assert_allreduce_sweep,
    requires_horovod,
    requires_mpi,
    run_workload,
)

SMALL_SWEEP = ["--min-bytes", "8", "--max-bytes", "64K", "--iters", "20", "--warmup", "5"]
TINY_TRAINING = [
    "--model", "convnet", "--width", "8", "--image-size", "32", "--num-classes", "10",
    "--batch-size", "4", "--warmup-batches", "2", "--batches", "5",
]  # fmt: skip

TRAINING_FIELDS = {
    "workload", "model", "device", "ranks", "batch_size", "images_per_sec_per_worker",
    "images_per_sec_per_worker_stdev", "images_per_sec_total", "batches",
}  # fmt: skip


@pytest.fixture(scope="module")
def allreduce_sweep():
    return run_workload("horovod_synthetic", ["--mode", "allreduce", *SMALL_SWEEP], ranks=2)


@requires_mpi
@requires_horovod
def test_allreduce_two_ranks_exit_zero(allreduce_sweep) -> None:
    assert allreduce_sweep.returncode == 0, allreduce_sweep.stderr


@requires_mpi
@requires_horovod
def test_allreduce_two_ranks_records(allreduce_sweep) -> None:
    assert_allreduce_sweep(
        allreduce_sweep,
        workload="allreduce_horovod",
        backend="horovod",
        ranks=2,
        min_bytes=8,
        max_bytes=64 * 1024,
        iters=20,
    )


@requires_mpi
@requires_horovod
def test_allreduce_one_rank_rejected() -> None:
    result = run_workload("horovod_synthetic", ["--mode", "allreduce", *SMALL_SWEEP], ranks=1)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "--min-ranks is 2" in result.stderr
    assert result.records == []


@requires_mpi
@requires_horovod
@pytest.mark.parametrize("ranks", [1, 2])
def test_training_record(ranks: int) -> None:
    result = run_workload("horovod_synthetic", TINY_TRAINING, ranks=ranks)
    assert result.returncode == 0, result.stderr
    assert result.other_stdout_lines == []
    assert len(result.records) == 1
    record = result.records[0]
    assert set(record) == TRAINING_FIELDS
    assert record["workload"] == "horovod_synthetic"
    assert record["model"] == "convnet"
    assert record["device"] == "cpu"
    assert record["ranks"] == ranks
    assert record["batch_size"] == 4
    assert record["batches"] == 5
    assert record["images_per_sec_per_worker"] > 0
    assert record["images_per_sec_per_worker_stdev"] >= 0
    assert record["images_per_sec_total"] == pytest.approx(
        record["images_per_sec_per_worker"] * ranks
    )


def test_unknown_model_lists_choices() -> None:
    result = run_workload("horovod_synthetic", ["--model", "alexnet"], ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "argument --model: invalid choice: 'alexnet'" in result.stderr
    assert "convnet" in result.stderr
    assert "resnet50" in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed"
)
def test_resnet_without_torchvision_exits_2() -> None:
    result = run_workload("horovod_synthetic", ["--model", "resnet50"], ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --model resnet50 needs torchvision")
    assert "--model convnet" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--batch-size", "0"], "argument --batch-size: invalid value '0'"),
        (["--mode", "allreduce", "--min-bytes", "2"], "--min-bytes 2 is smaller than one element"),
        (["--mode", "bench"], "argument --mode: invalid choice: 'bench'"),
    ],
)
def test_bad_input_exits_2(args: list[str], expected: str) -> None:
    result = run_workload("horovod_synthetic", args, ranks=None)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


def test_help_exits_zero() -> None:
    result = run_workload("horovod_synthetic", ["--help"], ranks=None)
    assert result.returncode == 0
    assert "--mode" in result.stdout
    assert "--warmup-batches" in result.stdout

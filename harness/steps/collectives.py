"""Allreduce sweeps and Horovod training, run locally under mpirun."""

from __future__ import annotations

import logging

from harness.errors import HarnessError
from harness.results.records import Record
from harness.scenario.models import AllreduceStep, HorovodStep, MemcpyStep
from harness.steps.context import StepContext
from harness.steps.mpirun import run_python_module, run_under_mpirun
from harness.steps.workload_output import parse_bench_lines, rows_to_records

log = logging.getLogger(__name__)

ALLREDUCE_MODULES = {
    "mpi": "workloads.allreduce_mpi",
    "torch": "workloads.allreduce_torch",
    "horovod": "workloads.horovod_synthetic",
}


def allreduce_arguments(step: AllreduceStep) -> list[str]:
    arguments = [
        "--min-bytes", str(step.min_bytes),
        "--max-bytes", str(step.max_bytes),
        "--factor", str(step.factor),
    ]
    if step.warmup is not None:
        arguments += ["--warmup", str(step.warmup)]
    if step.iters is not None:
        arguments += ["--iters", str(step.iters)]
    if step.workload == "horovod":
        arguments = ["--mode", "allreduce", *arguments]
    if step.backend:
        arguments += ["--backend", step.backend]
    return arguments


def run_allreduce_step(step: AllreduceStep, context: StepContext) -> list[Record]:
    _require_local(step.runner)
    module = ALLREDUCE_MODULES[step.workload]
    log.info("allreduce sweep: %s on %d ranks, %d to %d bytes", step.workload, step.ranks, step.min_bytes, step.max_bytes)
    output = run_under_mpirun(
        step.ranks, module, allreduce_arguments(step), context.out_dir / f"step{context.index}-{step.workload}.log", step.timeout
    )
    records = rows_to_records(parse_bench_lines(output), {"runner": "local", "step": context.index})
    log.info("allreduce sweep: %s produced %d records", step.workload, len(records))
    return records


def run_horovod_step(step: HorovodStep, context: StepContext) -> list[Record]:
    _require_local(step.runner)
    records: list[Record] = []
    for ranks in step.ranks:
        log.info("horovod synthetic training: %s on %d rank(s)", step.model, ranks)
        arguments = [
            "--model", step.model,
            "--batch-size", str(step.batch_size),
            "--warmup-batches", str(step.warmup_batches),
            "--batches", str(step.batches),
        ]
        output = run_under_mpirun(
            ranks, "workloads.horovod_synthetic", arguments,
            context.out_dir / f"step{context.index}-horovod-{ranks}.log", step.timeout,
        )
        records += rows_to_records(parse_bench_lines(output), {"runner": "local", "step": context.index})
    return records + scaling_efficiency(records)


def run_memcpy_step(step: MemcpyStep, context: StepContext) -> list[Record]:
    arguments = ["--size", str(step.size), "--repeats", str(step.repeats)]
    output = run_python_module(
        "workloads.memcpy_bandwidth", arguments, context.out_dir / f"step{context.index}-memcpy.log", step.timeout
    )
    records = rows_to_records(parse_bench_lines(output), {"runner": "local", "step": context.index})
    for record in records:
        log.info("memory copy bandwidth: %.2f %s", record.value, record.unit)
    return records


def scaling_efficiency(records: list[Record]) -> list[Record]:
    """throughput(N) / (N * throughput(1)) for every N measured next to a single-rank run."""
    totals = {
        int(record.labels["ranks"]): record
        for record in records
        if record.kind == "horovod_training" and record.metric == "images_per_sec_total"
    }
    single = totals.get(1)
    if single is None or single.value <= 0:
        return []
    return [
        Record("horovod_training", "scaling_efficiency", record.value / (ranks * single.value), "ratio", dict(record.labels))
        for ranks, record in sorted(totals.items())
    ]


def _require_local(runner: str) -> None:
    if runner != "local":
        raise HarnessError(
            f"runner {runner!r} is not available for this step yet; use runner: local",
        )

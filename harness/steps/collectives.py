"""Allreduce sweeps and Horovod training, run locally under mpirun."""

from __future__ import annotations

import logging

from harness.results.records import Record
from harness.scenario.models import AllreduceStep, HorovodStep, MemcpyStep
from harness.steps.context import StepContext
from harness.steps.mpijob_runner import job_name, run_as_mpijob
from harness.steps.mpirun import run_python_module, run_under_mpirun
from harness.steps.workload_output import parse_bench_lines, rows_to_records

log = logging.getLogger(__name__)

ALLREDUCE_MODULES = {
    "mpi": "workloads.allreduce_mpi",
    "torch": "workloads.allreduce_torch",
    "horovod": "workloads.horovod_synthetic",
}
HOROVOD_MODULE = "workloads.horovod_synthetic"


def allreduce_arguments(step: AllreduceStep) -> list[str]:
    arguments = [
        "--min-bytes",
        str(step.min_bytes),
        "--max-bytes",
        str(step.max_bytes),
        "--factor",
        str(step.factor),
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
    module = ALLREDUCE_MODULES[step.workload]
    log.info(
        "allreduce sweep: %s on %d ranks (%s), %d to %d bytes",
        step.workload,
        step.ranks,
        step.runner,
        step.min_bytes,
        step.max_bytes,
    )
    if step.runner == "mpijob":
        name = job_name(context.index, f"allreduce-{step.workload}", step.ranks)
        return run_as_mpijob(
            context, name, step, step.ranks, module, allreduce_arguments(step), step.timeout
        )
    output = run_under_mpirun(
        step.ranks,
        module,
        allreduce_arguments(step),
        context.out_dir / f"step{context.index}-{step.workload}.log",
        step.timeout,
    )
    records = rows_to_records(parse_bench_lines(output), {"runner": "local", "step": context.index})
    log.info("allreduce sweep: %s produced %d records", step.workload, len(records))
    return records


def run_horovod_step(step: HorovodStep, context: StepContext) -> list[Record]:
    records: list[Record] = []
    for ranks in step.ranks:
        log.info(
            "horovod synthetic training: %s on %d rank(s) (%s)", step.model, ranks, step.runner
        )
        arguments = [
            "--model",
            step.model,
            "--batch-size",
            str(step.batch_size),
            "--warmup-batches",
            str(step.warmup_batches),
            "--batches",
            str(step.batches),
        ]
        if step.runner == "mpijob":
            name = job_name(context.index, "horovod", ranks)
            records += run_as_mpijob(
                context, name, step, ranks, HOROVOD_MODULE, arguments, step.timeout
            )
            continue
        output = run_under_mpirun(
            ranks,
            HOROVOD_MODULE,
            arguments,
            context.out_dir / f"step{context.index}-horovod-{ranks}.log",
            step.timeout,
        )
        records += rows_to_records(
            parse_bench_lines(output), {"runner": "local", "step": context.index}
        )
    return records + scaling_efficiency(records)


def run_memcpy_step(step: MemcpyStep, context: StepContext) -> list[Record]:
    arguments = ["--size", str(step.size), "--repeats", str(step.repeats)]
    output = run_python_module(
        "workloads.memcpy_bandwidth",
        arguments,
        context.out_dir / f"step{context.index}-memcpy.log",
        step.timeout,
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
        Record(
            "horovod_training",
            "scaling_efficiency",
            record.value / (ranks * single.value),
            "ratio",
            dict(record.labels),
        )
        for ranks, record in sorted(totals.items())
    ]

"""Workloads inside MPIJobs: the generated manifest and the launcher-log path."""

from __future__ import annotations

import pytest

from harness.k8s.mpijob import MPIJob, build_manifest
from harness.scenario.models import AllreduceStep, HorovodStep
from harness.steps.collectives import ALLREDUCE_MODULES, allreduce_arguments, run_allreduce_step
from harness.steps.context import StepContext
from harness.steps.mpijob_runner import workload_job_spec


@pytest.mark.parametrize(
    "step",
    [
        AllreduceStep(workload="mpi", runner="mpijob", ranks=4, slots_per_worker=2),
        AllreduceStep(workload="torch", runner="mpijob", ranks=2, backend="nccl", worker_gpus=1),
        HorovodStep(runner="mpijob", ranks=[2], worker_gpus=8, slots_per_worker=8),
    ],
    ids=["mpi-cpu", "torch-gpu", "horovod-gpu"],
)
def test_manifest_passes_server_side_dry_run(api, step):
    module = ALLREDUCE_MODULES.get(getattr(step, "workload", "horovod"))
    arguments = (
        allreduce_arguments(step) if isinstance(step, AllreduceStep) else ["--model", step.model]
    )
    ranks = step.ranks if isinstance(step, AllreduceStep) else step.ranks[0]
    spec = workload_job_spec("dry-run-check", step, ranks, module, arguments)
    created = MPIJob.create(api, build_manifest(spec), dry_run=True)
    assert created["spec"]["slotsPerWorker"] == step.slots_per_worker
    launcher = created["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["command"][:3] == ["mpirun", "-np", str(ranks)]
    worker = created["spec"]["mpiReplicaSpecs"]["Worker"]
    assert worker["replicas"] == -(-ranks // step.slots_per_worker)
    if step.worker_gpus:
        assert worker["template"]["spec"]["containers"][0]["resources"]["limits"][
            "nvidia.com/gpu"
        ] == str(step.worker_gpus)


def test_records_read_from_launcher_log(cluster, api, tmp_path):
    step = AllreduceStep(
        workload="mpi", runner="mpijob", ranks=2, min_bytes=1024, max_bytes=4096, iters=5, warmup=1
    )
    context = StepContext(
        out_dir=tmp_path, index=0, api=api, kubeconfig=cluster.kubeconfig, provider="kwok"
    )
    records = run_allreduce_step(step, context)
    rows = [r for r in records if r.kind == "allreduce" and r.metric == "busbw"]
    assert sorted(r.labels["size_bytes"] for r in rows) == [1024, 1024, 2048, 2048, 4096, 4096]
    assert all(
        r.labels["runner"] == "mpijob" and r.labels["executed_on"] == "local-mpirun" for r in rows
    )
    wrong = [r.value for r in records if r.kind == "allreduce" and r.metric == "wrong"]
    assert wrong == [0] * 6
    assert [r.value for r in records if r.kind == "mpijob_outcome" and r.metric == "succeeded"] == [
        1.0
    ]

"""Run a workload inside an MPIJob and read its records from the launcher's log.

On a real cluster the launcher runs `mpirun` with the workload and its log contains the records.
Simulated KWOK pods run nothing, so on the local cluster the workload runs here under
`mpirun` with the same ranks and arguments, and its output is served as the launcher's log
through a KWOK `Logs` object. The MPIJob, its phases and the log read through the API are
then all real; only the execution happened on this host. Such records carry the label
`executed_on: local-mpirun`.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from kubernetes import client

from harness.errors import WorkloadError
from harness.k8s.mpijob import RUN_DURATION_ANNOTATION, MPIJobSpec
from harness.results.records import Record
from harness.scenario.models import RunnerSettings
from harness.steps.context import StepContext
from harness.steps.mpijob import fleet_records, run_fleet
from harness.steps.mpirun import run_under_mpirun
from harness.steps.workload_output import parse_bench_lines, rows_to_records

log = logging.getLogger(__name__)

KWOK_GROUP = "kwok.x-k8s.io"
KWOK_VERSION = "v1alpha1"
# The launcher container image has the workloads at /opt/mpijob-bench (workloads/Containerfile).
LAUNCHER_PYTHON = "python3"
_MANAGED_BY = ("app.kubernetes.io/managed-by", "mpijob-bench")
_MANAGED_BY_SELECTOR = "=".join(_MANAGED_BY)


def launcher_command(ranks: int, module: str, arguments: list[str]) -> list[str]:
    return [
        "mpirun",
        "-np",
        str(ranks),
        "--bind-to",
        "none",
        LAUNCHER_PYTHON,
        "-m",
        module,
        *arguments,
    ]


def workload_job_spec(
    name: str, settings: RunnerSettings, ranks: int, module: str, arguments: list[str]
) -> MPIJobSpec:
    return MPIJobSpec(
        name=name,
        namespace=settings.namespace,
        workers=math.ceil(ranks / settings.slots_per_worker),
        image=settings.image,
        launcher_command=launcher_command(ranks, module, arguments),
        slots_per_worker=settings.slots_per_worker,
        worker_cpu=settings.worker_cpu,
        worker_gpus=settings.worker_gpus,
        launcher_annotations={RUN_DURATION_ANNOTATION: "1s"},
    )


def run_as_mpijob(
    context: StepContext,
    name: str,
    settings: RunnerSettings,
    ranks: int,
    module: str,
    arguments: list[str],
    timeout_s: float,
) -> list[Record]:
    spec = workload_job_spec(name, settings, ranks, module, arguments)
    labels = {"runner": "mpijob", "step": context.index}
    on_launcher_pod = None
    if context.provider == "kwok":
        log_file = _run_locally_for_replay(context, name, ranks, module, arguments, timeout_s)
        on_launcher_pod = _log_publisher(context, spec.namespace, log_file)
        labels["executed_on"] = "local-mpirun"
    try:
        result = run_fleet(
            context,
            [spec],
            [0.0],
            timeout_s,
            on_launcher_pod=on_launcher_pod,
            read_launcher_logs=True,
        )
    finally:
        if on_launcher_pod is not None:
            _delete_published_logs(context, spec.namespace)
    records = fleet_records(result, context)
    launcher_log = result.launcher_logs.get(name)
    if launcher_log is None:
        raise WorkloadError(f"MPIJob {name} produced no launcher log to read results from")
    rows = parse_bench_lines(launcher_log)
    if not rows:
        raise WorkloadError(
            f"the launcher log of MPIJob {name} contains no BENCH_RECORD lines",
            hint="check that the image runs the workloads (workloads/Containerfile)",
        )
    log.info("MPIJob %s: read %d workload records from the launcher log", name, len(rows))
    return records + rows_to_records(rows, labels)


def _run_locally_for_replay(
    context: StepContext, name: str, ranks: int, module: str, arguments: list[str], timeout_s: float
) -> Path:
    log.info(
        "KWOK pods run no containers: running %s on %d local ranks for the launcher log",
        module,
        ranks,
    )
    output = run_under_mpirun(
        ranks, module, arguments, context.out_dir / f"step{context.index}-{name}.log", timeout_s
    )
    log_file = context.out_dir / f"step{context.index}-{name}-launcher.cri.log"
    log_file.write_text(to_cri_log(output))
    return log_file.resolve()


def to_cri_log(text: str, now: datetime | None = None) -> str:
    """Format lines as a container runtime log, the format kwok serves pod logs in."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())


def _log_publisher(context: StepContext, namespace: str, log_file: Path):
    api = context.require_api()

    def publish(job_name: str, pod_name: str) -> None:
        body = {
            "apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}",
            "kind": "Logs",
            "metadata": {"name": pod_name, "namespace": namespace, "labels": dict([_MANAGED_BY])},
            "spec": {"logs": [{"logsFile": str(log_file)}]},
        }
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            KWOK_GROUP, KWOK_VERSION, namespace, "logs", body
        )
        log.debug("serving %s as the log of %s/%s", log_file, namespace, pod_name)

    return publish


def _delete_published_logs(context: StepContext, namespace: str) -> None:
    custom = client.CustomObjectsApi(context.require_api())
    custom.delete_collection_namespaced_custom_object(
        KWOK_GROUP, KWOK_VERSION, namespace, "logs", label_selector=_MANAGED_BY_SELECTOR
    )


def job_name(step_index: int, workload: str, ranks: int) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"s{step_index}-{workload}-{ranks}r".lower())

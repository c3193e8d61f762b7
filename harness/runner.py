"""Run a scenario: obtain the cluster, execute each step, judge, write results.

Results are written in every case. A run stopped by an error or Ctrl-C still writes what it
measured, marked partial, before the error propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters.existing.provider import check_cluster, resolve_kubeconfig
from clusters.kwok.provider import ClusterOptions, KwokCluster, operator_restarts
from harness.errors import HarnessError, MetricsMissed
from harness.processes import Terminated
from harness.k8s.client import api_client
from harness.measurements.resource_usage import ResourceSampler, control_plane_pids
from harness.results.metadata import collect_metadata
from harness.results.records import Record
from harness.results.run import RunResults, default_run_dir
from harness.results.verdicts import judge_all
from harness.scenario import load_scenario
from harness.scenario.models import ClusterSpec, Scenario, Step
from harness.steps.collectives import run_allreduce_step, run_horovod_step, run_memcpy_step
from harness.steps.context import StepContext
from harness.steps.mpijob import run_mpijob_step

log = logging.getLogger(__name__)

STEP_RUNNERS = {
    "allreduce": run_allreduce_step,
    "horovod": run_horovod_step,
    "memcpy": run_memcpy_step,
    "mpijob": run_mpijob_step,
}


@dataclass(frozen=True)
class RunOptions:
    scenario_path: Path
    params: dict[str, str]
    out_dir: Path | None = None
    kubeconfig: str | None = None
    keep_cluster: bool = False


def run(options: RunOptions) -> RunResults:
    scenario, scenario_hash = load_scenario(options.scenario_path, options.params)
    out_dir = options.out_dir or default_run_dir(scenario.name)
    _check_out_dir(out_dir)
    results = RunResults(scenario.name, out_dir, collect_metadata(scenario.name, scenario_hash))
    log.info(
        "scenario %s: %d step(s); results go to %s", scenario.name, len(scenario.steps), out_dir
    )
    try:
        with _cluster(scenario, options, results) as context_api:
            _run_steps(scenario, results, out_dir, context_api)
    except Terminated as error:
        results.mark_partial(f"stopped by a signal ({error})")
        raise
    except KeyboardInterrupt:
        results.mark_partial("interrupted by the user")
        raise
    except HarnessError as error:
        results.mark_partial(str(error).splitlines()[0])
        raise
    except Exception as error:
        results.mark_partial(f"{type(error).__name__}: {error}")
        raise
    finally:
        results.verdicts = judge_all(scenario.success_metrics, results.records)
        results.write()
        _log_outcome(results)
    if results.failed_verdicts:
        raise MetricsMissed([verdict.name for verdict in results.failed_verdicts])
    return results


def _check_out_dir(out_dir: Path) -> None:
    """Create out_dir now, so an unusable path fails before any measurement is taken."""
    hint = "pass a new directory with --out, or leave --out unset for a fresh one"
    if str(out_dir) in ("", "."):
        raise HarnessError("--out is empty", hint=hint)
    if out_dir.exists() and not out_dir.is_dir():
        raise HarnessError(f"output path {out_dir} exists and is not a directory", hint=hint)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise HarnessError(f"output directory {out_dir} is not empty", hint=hint)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HarnessError(
            f"cannot create output directory {out_dir}: {error.strerror}", hint=hint
        ) from error


def _run_steps(
    scenario: Scenario, results: RunResults, out_dir: Path, cluster: tuple | None
) -> None:
    api, kubeconfig, provider = cluster if cluster else (None, None, None)
    for index, step in enumerate(scenario.steps):
        log.info("step %d/%d: %s", index + 1, len(scenario.steps), _describe(step))
        context = StepContext(
            out_dir=out_dir, index=index, api=api, kubeconfig=kubeconfig, provider=provider
        )
        try:
            results.add(STEP_RUNNERS[step.kind](step.spec, context))
        except BaseException as error:
            # A step that stops early may attach what it measured before stopping.
            results.add(getattr(error, "partial_records", []))
            raise


def _describe(step: Step) -> str:
    spec = step.spec
    if step.kind == "mpijob":
        return f"mpijob {spec.name} with {spec.workers} workers"
    if step.kind == "allreduce":
        return f"allreduce {spec.workload} ({spec.runner}, {spec.ranks} ranks)"
    if step.kind == "memcpy":
        return f"memory copy bandwidth ({spec.size} bytes)"
    return f"horovod {spec.model} ({spec.runner}, ranks {spec.ranks})"


@contextmanager
def _cluster(
    scenario: Scenario, options: RunOptions, results: RunResults
) -> Iterator[tuple | None]:
    if not scenario.needs_cluster:
        yield None
        return
    spec = scenario.cluster
    if options.kubeconfig or spec.provider == "existing":
        kubeconfig = resolve_kubeconfig(options.kubeconfig or spec.kubeconfig)
        results.metadata["cluster"] = {"provider": "existing", "kubeconfig": str(kubeconfig)}
        yield check_cluster(kubeconfig), kubeconfig, "existing"
        return
    with _kwok_cluster(spec, options.keep_cluster, results) as cluster:
        yield api_client(cluster.kubeconfig), cluster.kubeconfig, "kwok"


@contextmanager
def _kwok_cluster(spec: ClusterSpec, keep: bool, results: RunResults) -> Iterator[KwokCluster]:
    cluster = KwokCluster(spec.name)
    cluster_options = ClusterOptions(
        name=spec.name,
        nodes=spec.nodes,
        node_gpus=spec.node_gpus,
        operator_qps=spec.operator.kube_api_qps,
        operator_burst=spec.operator.kube_api_burst,
        operator_threadiness=spec.operator.threadiness,
    )
    started_here = cluster.up(cluster_options)
    if not started_here:
        log.info("reusing the running cluster %s; its node count is kept as it is", spec.name)
        cluster.apply_operator_options(cluster_options)
    info = cluster.info()
    results.metadata["cluster"] = {
        "provider": "kwok",
        "name": spec.name,
        **info.get("options", {}),
        "versions": info.get("versions", {}),
    }
    sampler = ResourceSampler(control_plane_pids(cluster.status()), interval_s=1.0)
    sampler.start()
    try:
        yield cluster
    finally:
        sampler.stop()
        results.add(sampler.records())
        restarts = operator_restarts(cluster.operator_log_path)
        results.add(
            [
                Record(
                    "operator",
                    "restarts",
                    float(restarts),
                    "restarts",
                    {"component": "mpi-operator"},
                )
            ]
        )
        if restarts:
            log.warning(
                "the MPI Operator exited and was restarted %d time(s); see %s",
                restarts,
                cluster.operator_log_path,
            )
        _log_control_plane_cost(sampler)
        if started_here and not keep:
            log.info(
                "stopping cluster %s (started for this run; --keep-cluster keeps it)", spec.name
            )
            cluster.down(quiet=True)


def _log_control_plane_cost(sampler: ResourceSampler) -> None:
    for name, usage in sorted(sampler.usage().items()):
        log.info(
            "control-plane cost: %-24s %7.1f CPU s, peak RSS %6.0f MiB",
            name,
            usage.cpu_seconds,
            usage.peak_rss_bytes / 2**20,
        )


def _log_outcome(results: RunResults) -> None:
    if results.status == "partial" and not results.records:
        log.error("the run stopped before any measurement: %s", results.error)
    for verdict in results.verdicts if results.records else []:
        (log.info if verdict.passed else log.error)("%s", verdict.line())
    state = "partial results" if results.status == "partial" else "results"
    log.info(
        "%s written to %s (summary.md, results.json, results.csv, junit.xml)",
        state,
        results.out_dir,
    )

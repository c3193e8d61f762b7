"""Submit MPIJobs, follow them through their phases on watches, and check the outcome.

One step may submit many jobs, all at once (burst) or at a Poisson rate. The submitter and
the watches feed one queue. The main loop applies events in arrival order, so every phase is
stamped with the time its event reached the harness.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ClusterError
from harness.k8s.mpijob import (
    EXIT_CODE_ANNOTATION,
    FAIL_AFTER_ANNOTATION,
    JOB_NAME_LABEL,
    OPERATOR_NAME_LABEL,
    RUN_DURATION_ANNOTATION,
    START_DELAY_ANNOTATION,
    MPIJob,
    MPIJobSpec,
    build_manifest,
)
from harness.k8s.watch import ResourceWatch, WatchEvent
from harness.measurements.mpijob_phases import JOB_PHASES, JobTimeline, MPIJobPhaseTracker
from harness.results.records import Record
from harness.scenario.models import MPIJobStep
from harness.steps.checks import check_records
from harness.steps.context import StepContext

log = logging.getLogger(__name__)
_DELETE_WAIT_S = 120.0
_PROGRESS_INTERVAL_S = 10.0
_SUBMIT_THREADS = 8
# Container names must be DNS labels. An underscore makes the API server reject every pod the
# operator creates from this template, although it accepts the MPIJob itself.
_INVALID_CONTAINER_NAME = "invalid_name"


@dataclass(frozen=True)
class Submission:
    """A create call's outcome, queued by the submitter for the main loop."""

    name: str
    sent: float
    returned: float
    error: str | None = None


@dataclass
class FleetResult:
    tracker: MPIJobPhaseTracker
    unfinished: list[str]
    submit_errors: dict[str, str] = field(default_factory=dict)
    launcher_logs: dict[str, str] = field(default_factory=dict)
    pods_left: int | None = None
    window: tuple[float, float] | None = None
    watch_restarts: int = 0
    watch_relists: int = 0


def spec_from_step(step: MPIJobStep, name: str) -> MPIJobSpec:
    launcher_annotations = {RUN_DURATION_ANNOTATION: f"{step.run_duration:g}s"}
    worker_annotations: dict[str, str] = {}
    if step.pod_start_delay:
        launcher_annotations[START_DELAY_ANNOTATION] = f"{step.pod_start_delay:g}s"
        worker_annotations[START_DELAY_ANNOTATION] = f"{step.pod_start_delay:g}s"
    if step.failure == "worker-fails":
        worker_annotations[FAIL_AFTER_ANNOTATION] = f"{step.run_duration / 2:g}s"
    if step.failure == "launcher-fails":
        launcher_annotations[EXIT_CODE_ANNOTATION] = "1"
    return MPIJobSpec(
        name=name,
        namespace=step.namespace,
        workers=step.workers,
        image=step.image,
        launcher_command=step.launcher_command,
        slots_per_worker=step.slots_per_worker,
        worker_cpu=step.worker_cpu,
        worker_memory=step.worker_memory,
        worker_gpus=step.worker_gpus,
        launcher_annotations=launcher_annotations,
        worker_annotations=worker_annotations,
        launcher_creation_policy=step.launcher_creation_policy,
        backoff_limit=1 if step.failure == "launcher-fails" else None,
        worker_container_name=_INVALID_CONTAINER_NAME
        if step.failure == "invalid-template"
        else "worker",
    )


def run_mpijob_step(step: MPIJobStep, context: StepContext) -> list[Record]:
    specs = [spec_from_step(step, name) for name in step.job_names()]
    intervals = _arrival_intervals(step)
    # A job that is expected to hang is followed until the timeout, so it is not an error.
    result = run_fleet(
        context,
        specs,
        intervals,
        step.timeout,
        step.delete_after,
        wait_for_all=step.expect != "stuck",
    )
    records = fleet_records(result, context)
    return records + check_records(result, step, context.index)


def _arrival_intervals(step: MPIJobStep) -> list[float]:
    if step.arrival == "burst":
        return [0.0] * step.jobs
    generator = random.Random(step.seed)
    return [0.0] + [generator.expovariate(step.rate) for _ in range(step.jobs - 1)]


def run_fleet(
    context: StepContext,
    specs: list[MPIJobSpec],
    intervals: list[float],
    timeout_s: float,
    delete_after: bool = True,
    on_launcher_pod: Callable[[str, str], None] | None = None,
    read_launcher_logs: bool = False,
    wait_for_all: bool = True,
) -> FleetResult:
    """Submit specs (the i-th after waiting intervals[i] seconds) and follow them.

    Returns when every job has finished, or after timeout_s. on_launcher_pod(job, pod) is
    called once per job as soon as a watch delivers its launcher pod.
    """
    api = context.require_api()
    namespace = specs[0].namespace
    _ensure_namespace(api, namespace)
    _delete_stale_jobs(api, namespace, [spec.name for spec in specs])

    tracker = MPIJobPhaseTracker()
    events: queue.Queue[WatchEvent | Submission] = queue.Queue()
    watches = _start_watches(api, namespace, events, context)
    result = FleetResult(tracker, unfinished=[spec.name for spec in specs])
    stop_submitting = threading.Event()
    try:
        _wait_listed(watches)
        started = context.clock()
        submitter = threading.Thread(
            target=_submit_all,
            args=(api, specs, intervals, events, context, stop_submitting),
            daemon=True,
        )
        submitter.start()
        log.info("submitting %d MPIJob(s) to namespace %s", len(specs), namespace)
        _follow(tracker, specs, events, timeout_s, on_launcher_pod, result, wait_for_all)
        stop_submitting.set()
        result.window = (started, context.clock())
        if read_launcher_logs:
            result.launcher_logs = _read_launcher_logs(api, namespace, tracker)
    except BaseException as error:
        # Ctrl-C or an error mid-step: keep what the watches saw so far for the partial results.
        error.partial_records = fleet_records(result, context)  # type: ignore[attr-defined]
        raise
    finally:
        stop_submitting.set()
        for resource_watch in watches:
            resource_watch.stop()
        result.watch_restarts = sum(w.restarts for w in watches)
        result.watch_relists = sum(w.relists for w in watches) - len(watches)
        if delete_after:
            result.pods_left = _delete_jobs(api, namespace, [spec.name for spec in specs])
    if result.unfinished and wait_for_all:
        _log_unfinished(tracker, result.unfinished, timeout_s)
    return result


def _start_watches(
    api: client.ApiClient, namespace: str, events: queue.Queue, context: StepContext
) -> list[ResourceWatch]:
    watches = [
        ResourceWatch("mpijobs", MPIJob.list_function(api), namespace, events, context.clock),
        ResourceWatch(
            "pods",
            client.CoreV1Api(api).list_namespaced_pod,
            namespace,
            events,
            context.clock,
            label_selector=f"{OPERATOR_NAME_LABEL}=mpi-operator",
        ),
        ResourceWatch(
            "events",
            client.CoreV1Api(api).list_namespaced_event,
            namespace,
            events,
            context.clock,
            field_selector="involvedObject.kind=MPIJob",
        ),
    ]
    for resource_watch in watches:
        resource_watch.start()
    return watches


def _wait_listed(watches: list[ResourceWatch]) -> None:
    for resource_watch in watches:
        if not resource_watch.listed.wait(timeout=30):
            raise ClusterError(
                f"the initial list of {resource_watch.source} did not finish within 30 s"
            )


def _submit_all(
    api: client.ApiClient,
    specs: list[MPIJobSpec],
    intervals: list[float],
    events: queue.Queue,
    context: StepContext,
    stop: threading.Event,
) -> None:
    def submit(spec: MPIJobSpec) -> None:
        sent = context.clock()
        try:
            MPIJob.create(api, build_manifest(spec))
            events.put(Submission(spec.name, sent, context.clock()))
        except ApiException as error:
            events.put(
                Submission(
                    spec.name, sent, context.clock(), f"{error.status} {error.reason}: {error.body}"
                )
            )

    with ThreadPoolExecutor(max_workers=_SUBMIT_THREADS, thread_name_prefix="submit") as pool:
        for spec, interval in zip(specs, intervals):
            if interval and stop.wait(interval):
                return
            pool.submit(submit, spec)


def _follow(
    tracker: MPIJobPhaseTracker,
    specs: list[MPIJobSpec],
    events: queue.Queue,
    timeout_s: float,
    on_launcher_pod: Callable[[str, str], None] | None,
    result: FleetResult,
    wait_for_all: bool,
) -> None:
    pending = {spec.name: spec for spec in specs}
    announced: set[str] = set()
    deadline = time.monotonic() + timeout_s
    next_progress = time.monotonic() + _PROGRESS_INTERVAL_S
    single = len(specs) == 1
    while time.monotonic() < deadline:
        if time.monotonic() >= next_progress:
            _log_progress(tracker, len(specs))
            next_progress += _PROGRESS_INTERVAL_S
        try:
            item = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if isinstance(item, Submission):
            _apply_submission(tracker, pending, item, result)
        else:
            _apply_event(tracker, item, single)
        _announce_launchers(tracker, on_launcher_pod, announced)
        result.unfinished = [name for name in pending if not _done(tracker, name, result)]
        if wait_for_all and not result.unfinished:
            return


def _apply_submission(
    tracker: MPIJobPhaseTracker,
    pending: dict[str, MPIJobSpec],
    item: Submission,
    result: FleetResult,
) -> None:
    spec = pending[item.name]
    tracker.expect(item.name, spec.workers, item.sent)
    if item.error:
        result.submit_errors[item.name] = item.error
        log.error("create of MPIJob %s was rejected: %s", item.name, item.error)
        return
    tracker.mark_create_returned(item.name, item.returned)


def _apply_event(tracker: MPIJobPhaseTracker, event: WatchEvent, log_phases: bool) -> None:
    timeline = _timeline_of(tracker, event)
    before = set(timeline.phases) if timeline else set()
    tracker.process(event)
    if timeline is None:
        return
    for phase in JOB_PHASES:
        if phase in timeline.phases and phase not in before:
            # A single job logs every phase; a fleet logs only the outcome of each job.
            if log_phases or phase in ("succeeded", "failed"):
                log.info(
                    "MPIJob %s: %s (+%.2f s)",
                    timeline.name,
                    phase,
                    timeline.phases[phase] - timeline.create_sent,
                )


def _timeline_of(tracker: MPIJobPhaseTracker, event: WatchEvent) -> JobTimeline | None:
    if event.source == "mpijobs":
        return tracker.jobs.get(event.name)
    labels = event.object.get("metadata", {}).get("labels", {}) or {}
    return tracker.jobs.get(labels.get(JOB_NAME_LABEL, ""))


def _announce_launchers(
    tracker: MPIJobPhaseTracker, callback: Callable[[str, str], None] | None, announced: set[str]
) -> None:
    if callback is None:
        return
    for name, timeline in tracker.jobs.items():
        launcher = timeline.launcher_pod()
        if launcher and name not in announced:
            callback(name, launcher)
            announced.add(name)


def _done(tracker: MPIJobPhaseTracker, name: str, result: FleetResult) -> bool:
    if name in result.submit_errors:
        return True
    timeline = tracker.jobs.get(name)
    return timeline is not None and timeline.finished


def _log_progress(tracker: MPIJobPhaseTracker, total: int) -> None:
    timelines = list(tracker.jobs.values())
    finished = sum(1 for t in timelines if t.finished)
    running = sum(1 for t in timelines for pod in t.workers() if pod.running is not None)
    expected = sum(t.expected_workers for t in timelines)
    log.info(
        "%d/%d jobs submitted, %d finished; %d/%d workers Running",
        len(timelines),
        total,
        finished,
        running,
        expected,
    )


def _log_unfinished(tracker: MPIJobPhaseTracker, unfinished: list[str], timeout_s: float) -> None:
    for name in unfinished[:10]:
        timeline = tracker.jobs.get(name)
        seen = ", ".join(timeline.phases) if timeline else "not even submitted"
        log.error(
            "MPIJob %s did not finish within %.0f s; phases seen: %s",
            name,
            timeout_s,
            seen or "none",
        )
    if len(unfinished) > 10:
        log.error("... and %d more unfinished jobs", len(unfinished) - 10)


def _read_launcher_logs(
    api: client.ApiClient, namespace: str, tracker: MPIJobPhaseTracker
) -> dict[str, str]:
    logs = {}
    for name, timeline in tracker.jobs.items():
        launcher = timeline.launcher_pod()
        if launcher is None:
            log.warning("MPIJob %s never had a launcher pod; no log to read", name)
            continue
        try:
            logs[name] = client.CoreV1Api(api).read_namespaced_pod_log(launcher, namespace)
        except ApiException as error:
            log.error(
                "could not read the log of launcher %s/%s: %s %s",
                namespace,
                launcher,
                error.status,
                error.reason,
            )
    return logs


def fleet_records(result: FleetResult, context: StepContext) -> list[Record]:
    labels = {"step": context.index}
    records = result.tracker.records(labels)
    for name in result.tracker.jobs:
        timed_out = float(name in result.unfinished)
        records.append(
            Record("mpijob_outcome", "timed_out", timed_out, "bool", {**labels, "job": name})
        )
    records += _throughput_records(result, labels)
    records.append(Record("watch", "restarts", float(result.watch_restarts), "restarts", labels))
    records.append(
        Record("watch", "relists", float(max(result.watch_relists, 0)), "relists", labels)
    )
    if result.pods_left is not None:
        records.append(Record("cleanup", "pods_left", float(result.pods_left), "pods", labels))
    return records


def _throughput_records(result: FleetResult, labels: dict) -> list[Record]:
    timelines = list(result.tracker.jobs.values())
    if not timelines or result.window is None:
        return []
    records = []
    first_sent = min(t.create_sent for t in timelines)
    all_running = [t.phases.get("workers_running") for t in timelines]
    if all(all_running):
        span = max(all_running) - first_sent
        records.append(Record("mpijob_fleet", "time_to_all_workers_running", span, "s", labels))
    created = sorted(
        pod.created for t in timelines for pod in t.pods.values() if pod.created is not None
    )
    if len(created) > 1 and created[-1] > created[0]:
        rate = (len(created) - 1) / (created[-1] - created[0])
        records.append(Record("mpijob_fleet", "pod_creation_rate", rate, "pods/s", labels))
    window = result.window[1] - result.window[0]
    updates = sum(t.status_updates for t in timelines)
    if window > 0:
        records.append(
            Record("mpijob_fleet", "status_update_rate", updates / window, "writes/s", labels)
        )
    records.append(Record("mpijob_fleet", "jobs", float(len(timelines)), "jobs", labels))
    return records


def _ensure_namespace(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    try:
        core.read_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        log.info("created namespace %s", namespace)


def _delete_stale_jobs(api: client.ApiClient, namespace: str, names: list[str]) -> None:
    existing = _existing_jobs(api, namespace) & set(names)
    if existing:
        log.warning(
            "%d MPIJob(s) in %s exist from an earlier run; deleting them first",
            len(existing),
            namespace,
        )
        _delete_jobs(api, namespace, sorted(existing))


def _existing_jobs(api: client.ApiClient, namespace: str) -> set[str]:
    listing = MPIJob.list_function(api)(namespace)
    return {item["metadata"]["name"] for item in listing.get("items", [])}


def _delete_jobs(api: client.ApiClient, namespace: str, names: list[str]) -> int:
    """Delete the MPIJobs, wait for them and their pods to go; return the pods still left."""
    for name in names:
        try:
            MPIJob.delete(api, namespace, name)
        except ApiException as error:
            if error.status != 404:
                log.warning("could not delete MPIJob %s/%s: %s", namespace, name, error.reason)
    wanted = set(names)
    deadline = time.monotonic() + _DELETE_WAIT_S
    left: list = []
    while time.monotonic() < deadline:
        jobs_left = _existing_jobs(api, namespace) & wanted
        left = [
            pod
            for pod in _operator_pods(api, namespace)
            if pod.metadata.labels.get(JOB_NAME_LABEL) in wanted
        ]
        if not jobs_left and not left:
            log.debug("%d MPIJob(s) and their pods are gone", len(names))
            return 0
        time.sleep(0.5)
    log.warning(
        "%d pod(s) of deleted MPIJobs still exist %.0f s after deletion", len(left), _DELETE_WAIT_S
    )
    return len(left)


def _operator_pods(api: client.ApiClient, namespace: str) -> list[client.V1Pod]:
    selector = f"{OPERATOR_NAME_LABEL}=mpi-operator"
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items

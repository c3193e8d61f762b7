"""Submit one MPIJob and follow it through its phases on a watch."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ClusterError
from harness.k8s.mpijob import (
    JOB_NAME_LABEL,
    RUN_DURATION_ANNOTATION,
    MPIJob,
    MPIJobSpec,
    build_manifest,
)
from harness.k8s.watch import ResourceWatch, WatchEvent
from harness.measurements.mpijob_phases import JOB_PHASES, JobTimeline, MPIJobPhaseTracker
from harness.results.records import Record
from harness.scenario.models import MPIJobStep
from harness.steps.context import StepContext

log = logging.getLogger(__name__)
_DELETE_WAIT_S = 60.0


def spec_from_step(step: MPIJobStep) -> MPIJobSpec:
    return MPIJobSpec(
        name=step.name,
        namespace=step.namespace,
        workers=step.workers,
        image=step.image,
        launcher_command=step.launcher_command,
        slots_per_worker=step.slots_per_worker,
        worker_cpu=step.worker_cpu,
        worker_memory=step.worker_memory,
        worker_gpus=step.worker_gpus,
        launcher_annotations={RUN_DURATION_ANNOTATION: f"{step.run_duration:g}s"},
    )


@dataclass
class FollowedJob:
    """What following one MPIJob produced: its timeline, and the launcher log if read."""

    tracker: MPIJobPhaseTracker
    timeline: JobTimeline
    timed_out: bool
    launcher_log: str | None = None


def run_mpijob_step(step: MPIJobStep, context: StepContext) -> list[Record]:
    followed = submit_and_follow(context, spec_from_step(step), step.timeout, step.delete_after)
    return job_records(followed, context)


def job_records(followed: FollowedJob, context: StepContext) -> list[Record]:
    name = followed.timeline.name
    records = followed.tracker.records({"step": context.index})
    records.append(Record("mpijob_outcome", "timed_out", float(followed.timed_out), "bool", {"step": context.index, "job": name}))
    return records


def submit_and_follow(
    context: StepContext,
    spec: MPIJobSpec,
    timeout_s: float,
    delete_after: bool = True,
    on_launcher_pod: Callable[[str], None] | None = None,
    read_launcher_log: bool = False,
) -> FollowedJob:
    """Create the MPIJob, process watch events until it ends or timeout_s passes.

    on_launcher_pod is called once with the launcher pod's name as soon as a watch sees it.
    The launcher's log is read before the job is deleted when read_launcher_log is true.
    """
    api = context.require_api()
    _ensure_namespace(api, spec.namespace)
    _delete_stale_job(api, spec.namespace, spec.name)
    manifest = build_manifest(spec)

    tracker = MPIJobPhaseTracker()
    events: queue.Queue[WatchEvent] = queue.Queue()
    watches = _start_watches(api, spec, events, context)
    launcher_log = None
    try:
        for resource_watch in watches:
            if not resource_watch.listed.wait(timeout=30):
                raise ClusterError(f"the initial list of {resource_watch.source} did not finish within 30 s")
        timeline = tracker.expect(spec.name, spec.workers, context.clock())
        MPIJob.create(api, manifest)
        tracker.mark_create_returned(spec.name, context.clock())
        log.info("MPIJob %s/%s submitted with %d workers", spec.namespace, spec.name, spec.workers)
        finished = _follow(tracker, events, spec.name, timeout_s, on_launcher_pod)
        if read_launcher_log:
            launcher_log = _read_launcher_log(api, spec.namespace, timeline)
    finally:
        for resource_watch in watches:
            resource_watch.stop()
        if delete_after:
            _delete_job(api, spec.namespace, spec.name)
    if not finished:
        missing = [phase for phase in JOB_PHASES[:-1] if phase not in timeline.phases]
        log.error("MPIJob %s did not finish within %.0f s; phases never seen: %s", spec.name, timeout_s, ", ".join(missing))
    return FollowedJob(tracker, timeline, not finished, launcher_log)


def _start_watches(
    api: client.ApiClient, spec: MPIJobSpec, events: queue.Queue[WatchEvent], context: StepContext
) -> list[ResourceWatch]:
    watches = [
        ResourceWatch("mpijobs", MPIJob.list_function(api), spec.namespace, events, context.clock),
        ResourceWatch(
            "pods", client.CoreV1Api(api).list_namespaced_pod, spec.namespace, events, context.clock,
            label_selector=f"{JOB_NAME_LABEL}={spec.name}",
        ),
    ]
    for resource_watch in watches:
        resource_watch.start()
    return watches


def _follow(
    tracker: MPIJobPhaseTracker,
    events: queue.Queue[WatchEvent],
    name: str,
    timeout_s: float,
    on_launcher_pod: Callable[[str], None] | None,
) -> bool:
    """Process events until the job finishes; False if timeout_s passed first."""
    timeline = tracker.jobs[name]
    deadline = time.monotonic() + timeout_s
    launcher_announced = False
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            continue
        seen_before = set(timeline.phases)
        tracker.process(event)
        for phase in JOB_PHASES:
            if phase in timeline.phases and phase not in seen_before:
                log.info("MPIJob %s: %s (+%.2f s)", name, phase, timeline.phases[phase] - timeline.create_sent)
        launcher = timeline.launcher_pod()
        if on_launcher_pod and launcher and not launcher_announced:
            on_launcher_pod(launcher)
            launcher_announced = True
        if timeline.finished:
            return True
    return False


def _read_launcher_log(api: client.ApiClient, namespace: str, timeline: JobTimeline) -> str | None:
    launcher = timeline.launcher_pod()
    if launcher is None:
        log.warning("MPIJob %s never had a launcher pod; no log to read", timeline.name)
        return None
    try:
        return client.CoreV1Api(api).read_namespaced_pod_log(launcher, namespace)
    except ApiException as error:
        log.error("could not read the log of launcher %s/%s: %s %s", namespace, launcher, error.status, error.reason)
        return None


def _ensure_namespace(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    try:
        core.read_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        log.info("created namespace %s", namespace)


def _delete_stale_job(api: client.ApiClient, namespace: str, name: str) -> None:
    if _job_exists(api, namespace, name):
        log.warning("MPIJob %s/%s exists from an earlier run; deleting it first", namespace, name)
        _delete_job(api, namespace, name)


def _delete_job(api: client.ApiClient, namespace: str, name: str) -> None:
    try:
        MPIJob.delete(api, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return
        log.warning("could not delete MPIJob %s/%s: %s", namespace, name, error.reason)
        return
    deadline = time.monotonic() + _DELETE_WAIT_S
    while time.monotonic() < deadline:
        if not _job_exists(api, namespace, name) and not _job_pods(api, namespace, name):
            log.debug("MPIJob %s/%s and its pods are gone", namespace, name)
            return
        time.sleep(0.5)
    log.warning("MPIJob %s/%s or its pods still exist %.0f s after deletion", namespace, name, _DELETE_WAIT_S)


def _job_exists(api: client.ApiClient, namespace: str, name: str) -> bool:
    try:
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            MPIJob.group, MPIJob.version, namespace, MPIJob.plural, name
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _job_pods(api: client.ApiClient, namespace: str, name: str) -> list[client.V1Pod]:
    selector = f"{JOB_NAME_LABEL}={name}"
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items

"""Submit one MPIJob and follow it through its phases on a watch."""

from __future__ import annotations

import logging
import queue
import time

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
from harness.measurements.mpijob_phases import JOB_PHASES, MPIJobPhaseTracker
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


def run_mpijob_step(step: MPIJobStep, context: StepContext) -> list[Record]:
    api = context.require_api()
    _ensure_namespace(api, step.namespace)
    _delete_stale_job(api, step.namespace, step.name)
    manifest = build_manifest(spec_from_step(step))

    tracker = MPIJobPhaseTracker()
    events: queue.Queue[WatchEvent] = queue.Queue()
    watches = [
        ResourceWatch("mpijobs", MPIJob.list_function(api), step.namespace, events, context.clock),
        ResourceWatch(
            "pods", client.CoreV1Api(api).list_namespaced_pod, step.namespace, events, context.clock,
            label_selector=f"{JOB_NAME_LABEL}={step.name}",
        ),
    ]
    for resource_watch in watches:
        resource_watch.start()
    try:
        for resource_watch in watches:
            if not resource_watch.listed.wait(timeout=30):
                raise ClusterError(f"the initial list of {resource_watch.source} did not finish within 30 s")
        timeline = tracker.expect(step.name, step.workers, context.clock())
        MPIJob.create(api, manifest)
        tracker.mark_create_returned(step.name, context.clock())
        log.info("MPIJob %s/%s submitted with %d workers", step.namespace, step.name, step.workers)
        timed_out = not _follow(tracker, events, step, context)
    finally:
        for resource_watch in watches:
            resource_watch.stop()
        if step.delete_after:
            _delete_job(api, step.namespace, step.name)

    records = tracker.records({"step": context.index})
    records.append(Record("mpijob_outcome", "timed_out", float(timed_out), "bool", {"job": step.name, "step": context.index}))
    if timed_out:
        missing = [phase for phase in JOB_PHASES[:-1] if phase not in timeline.phases]
        log.error("MPIJob %s did not finish within %.0f s; phases never seen: %s", step.name, step.timeout, ", ".join(missing))
    return records


def _follow(tracker: MPIJobPhaseTracker, events: queue.Queue[WatchEvent], step: MPIJobStep, context: StepContext) -> bool:
    """Process events until the job finishes; False if the step timed out first."""
    timeline = tracker.jobs[step.name]
    deadline = time.monotonic() + step.timeout
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            continue
        seen_before = set(timeline.phases)
        tracker.process(event)
        for phase in JOB_PHASES:
            if phase in timeline.phases and phase not in seen_before:
                log.info("MPIJob %s: %s (+%.2f s)", step.name, phase, timeline.phases[phase] - timeline.create_sent)
        if timeline.finished:
            return True
    return False


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

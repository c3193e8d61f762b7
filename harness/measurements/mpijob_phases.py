"""Phase timeline of MPIJobs and their pods, built from watch events.

Times are the harness's monotonic clock when an event arrived, not the API server's
timestamps, which have one-second precision. A phase is stamped the first time it is seen,
so a later duplicate event cannot move it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.k8s.mpijob import JOB_NAME_LABEL, ROLE_LABEL
from harness.k8s.watch import WatchEvent
from harness.results.records import Record

# Order in which a healthy MPIJob passes its phases; reports list them in this order.
JOB_PHASES = (
    "create_returned",
    "created",
    "workers_scheduled",
    "workers_running",
    "workers_active_reported",
    "launcher_running",
    "running",
    "launcher_finished",
    "succeeded",
    "failed",
)
_CONDITION_PHASES = {
    "Created": "created",
    "Running": "running",
    "Succeeded": "succeeded",
    "Failed": "failed",
}


@dataclass
class PodTimeline:
    role: str
    created: float | None = None
    scheduled: float | None = None
    running: float | None = None
    phase: str = "Pending"


@dataclass
class JobTimeline:
    name: str
    expected_workers: int
    create_sent: float
    phases: dict[str, float] = field(default_factory=dict)
    pods: dict[str, PodTimeline] = field(default_factory=dict)
    status_updates: int = 0
    deleted: bool = False
    events: dict[str, tuple[tuple[str, str], int]] = field(default_factory=dict)  # uid -> ((type, reason), count)

    def event_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for key, count in self.events.values():
            counts[key] = counts.get(key, 0) + count
        return counts

    @property
    def finished(self) -> bool:
        return "succeeded" in self.phases or "failed" in self.phases

    def stamp(self, phase: str, at: float) -> None:
        self.phases.setdefault(phase, at)

    def workers(self) -> list[PodTimeline]:
        return [pod for pod in self.pods.values() if pod.role == "worker"]

    def launcher_pod(self) -> str | None:
        return next((name for name, pod in self.pods.items() if pod.role == "launcher"), None)


class MPIJobPhaseTracker:
    """Consumes MPIJob and pod watch events and keeps one JobTimeline per job."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobTimeline] = {}

    def expect(self, name: str, workers: int, create_sent: float) -> JobTimeline:
        timeline = JobTimeline(name, workers, create_sent)
        self.jobs[name] = timeline
        return timeline

    def mark_create_returned(self, name: str, at: float) -> None:
        self.jobs[name].stamp("create_returned", at)

    def process(self, event: WatchEvent) -> None:
        if event.source == "mpijobs":
            self._process_job(event)
        elif event.source == "pods":
            self._process_pod(event)
        elif event.source == "events":
            self._process_kubernetes_event(event)

    def _process_job(self, event: WatchEvent) -> None:
        timeline = self.jobs.get(event.name)
        if timeline is None:
            return
        if event.type == "DELETED":
            timeline.deleted = True
            return
        if event.type == "MODIFIED":
            timeline.status_updates += 1
        status = event.object.get("status", {}) or {}
        for condition in status.get("conditions", []) or []:
            phase = _CONDITION_PHASES.get(condition.get("type"))
            if phase and condition.get("status") == "True":
                timeline.stamp(phase, event.arrived)
        # Status lag: when the MPIJob's own status first counts every worker as active.
        worker_status = (status.get("replicaStatuses", {}) or {}).get("Worker", {}) or {}
        if worker_status.get("active", 0) >= timeline.expected_workers:
            timeline.stamp("workers_active_reported", event.arrived)

    def _process_kubernetes_event(self, event: WatchEvent) -> None:
        # Kubernetes Events about an MPIJob, such as the operator's FailedCreate for pods the
        # API server rejected. A repeated Event is one object with a growing count.
        involved = event.object.get("involvedObject", {}) or {}
        timeline = self.jobs.get(involved.get("name", ""))
        if timeline is None or event.type == "DELETED":
            return
        key = (event.object.get("type", "Normal"), event.object.get("reason", "unknown"))
        uid = event.object.get("metadata", {}).get("uid", event.name)
        timeline.events[uid] = (key, int(event.object.get("count") or 1))

    def _process_pod(self, event: WatchEvent) -> None:
        labels = event.object.get("metadata", {}).get("labels", {}) or {}
        timeline = self.jobs.get(labels.get(JOB_NAME_LABEL, ""))
        if timeline is None or event.type == "DELETED":
            return
        pod = timeline.pods.setdefault(
            event.name, PodTimeline(role=labels.get(ROLE_LABEL, "unknown"))
        )
        if pod.created is None:
            pod.created = event.arrived
        if pod.scheduled is None and _is_scheduled(event.object):
            pod.scheduled = event.arrived
        pod.phase = event.object.get("status", {}).get("phase", pod.phase)
        if pod.running is None and pod.phase == "Running":
            pod.running = event.arrived
        self._stamp_pod_phases(timeline, pod, event.arrived)

    @staticmethod
    def _stamp_pod_phases(timeline: JobTimeline, pod: PodTimeline, at: float) -> None:
        if pod.role == "launcher" and pod.running is not None:
            timeline.stamp("launcher_running", pod.running)
        if pod.role == "launcher" and pod.phase in ("Succeeded", "Failed"):
            timeline.stamp("launcher_finished", at)
        workers = timeline.workers()
        if len(workers) < timeline.expected_workers:
            return
        if all(worker.scheduled is not None for worker in workers):
            timeline.stamp("workers_scheduled", at)
        if all(worker.running is not None for worker in workers):
            timeline.stamp("workers_running", at)

    def records(self, extra_labels: dict[str, Any] | None = None) -> list[Record]:
        records: list[Record] = []
        for timeline in self.jobs.values():
            records += _job_records(timeline, extra_labels or {})
        return records


def _status_lag_records(timeline: JobTimeline, labels: dict[str, Any]) -> list[Record]:
    """Seconds from a change seen on the pods to the MPIJob status reflecting it."""
    pairs = (
        ("workers_running", "workers_active_reported"),
        ("launcher_running", "running"),
        ("launcher_finished", "succeeded"),
        ("launcher_finished", "failed"),
    )
    records = []
    for pod_phase, job_phase in pairs:
        if pod_phase in timeline.phases and job_phase in timeline.phases:
            # Two watches deliver these, so the pod event can arrive after the job event. A lag
            # below zero only means the two were too close to order, so it is clamped at 0.
            lag = max(0.0, timeline.phases[job_phase] - timeline.phases[pod_phase])
            transition = f"{pod_phase}_to_{job_phase}"
            records.append(
                Record("status_lag", "latency", lag, "s", {**labels, "transition": transition})
            )
    return records


def _is_scheduled(pod: dict[str, Any]) -> bool:
    if pod.get("spec", {}).get("nodeName"):
        return True
    conditions = pod.get("status", {}).get("conditions", []) or []
    return any(c.get("type") == "PodScheduled" and c.get("status") == "True" for c in conditions)


def _job_records(timeline: JobTimeline, extra: dict[str, Any]) -> list[Record]:
    labels = {**extra, "job": timeline.name}
    records = []
    if "create_returned" in timeline.phases:
        create_ms = (timeline.phases["create_returned"] - timeline.create_sent) * 1000
        records.append(
            Record(
                "api_call",
                "latency",
                create_ms,
                "ms",
                {**labels, "verb": "create", "resource": "mpijobs"},
            )
        )
    for phase in JOB_PHASES:
        if phase in timeline.phases:
            since_create = timeline.phases[phase] - timeline.create_sent
            records.append(
                Record(
                    "mpijob_phase", "since_create", since_create, "s", {**labels, "phase": phase}
                )
            )
    succeeded = 1.0 if "succeeded" in timeline.phases else 0.0
    records.append(Record("mpijob_outcome", "succeeded", succeeded, "bool", labels))
    workers_running = sum(1 for worker in timeline.workers() if worker.running is not None)
    records.append(
        Record("mpijob_outcome", "workers_running", float(workers_running), "pods", labels)
    )
    workers_failed = sum(1 for worker in timeline.workers() if worker.phase == "Failed")
    records.append(
        Record("mpijob_outcome", "workers_failed", float(workers_failed), "pods", labels)
    )
    records.append(
        Record("mpijob_status", "updates", float(timeline.status_updates), "writes", labels)
    )
    launchers = sum(1 for pod in timeline.pods.values() if pod.role == "launcher")
    records.append(Record("mpijob_outcome", "launcher_pods", float(launchers), "pods", labels))
    records += _status_lag_records(timeline, labels)
    for (event_type, reason), count in sorted(timeline.event_counts().items()):
        event_labels = {**labels, "type": event_type, "reason": reason}
        records.append(Record("mpijob_event", "count", float(count), "events", event_labels))
    for pod_name, pod in sorted(timeline.pods.items()):
        if pod.created is not None and pod.running is not None:
            startup = pod.running - pod.created
            records.append(
                Record(
                    "pod_startup",
                    "latency",
                    startup,
                    "s",
                    {**labels, "pod": pod_name, "role": pod.role},
                )
            )
    return records

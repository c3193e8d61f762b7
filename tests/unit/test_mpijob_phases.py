from harness.k8s.mpijob import JOB_NAME_LABEL, ROLE_LABEL
from harness.k8s.watch import WatchEvent
from harness.measurements.mpijob_phases import MPIJobPhaseTracker


def job_event(at, conditions, event_type="MODIFIED"):
    status = {"conditions": [{"type": c, "status": "True"} for c in conditions]}
    return WatchEvent(at, "mpijobs", event_type, {"metadata": {"name": "j"}, "status": status})


def pod_event(at, name, role, phase="Pending", node=None, event_type="MODIFIED"):
    obj = {
        "metadata": {"name": name, "labels": {JOB_NAME_LABEL: "j", ROLE_LABEL: role}},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase},
    }
    return WatchEvent(at, "pods", event_type, obj)


def tracker_with_job(workers=2):
    tracker = MPIJobPhaseTracker()
    tracker.expect("j", workers, create_sent=10.0)
    tracker.mark_create_returned("j", 10.05)
    return tracker


def test_full_lifecycle_in_order():
    tracker = tracker_with_job()
    events = [
        job_event(10.1, ["Created"], "ADDED"),
        pod_event(10.2, "w0", "worker", event_type="ADDED"),
        pod_event(10.2, "w1", "worker", event_type="ADDED"),
        pod_event(10.3, "w0", "worker", node="n0"),
        pod_event(10.4, "w1", "worker", node="n1"),
        pod_event(10.5, "w0", "worker", "Running", node="n0"),
        pod_event(10.6, "w1", "worker", "Running", node="n1"),
        pod_event(10.7, "l", "launcher", "Running", node="n2", event_type="ADDED"),
        job_event(10.8, ["Created", "Running"]),
        job_event(12.8, ["Created", "Running", "Succeeded"]),
    ]
    for event in events:
        tracker.process(event)
    phases = tracker.jobs["j"].phases
    assert phases == {
        "create_returned": 10.05,
        "created": 10.1,
        "workers_scheduled": 10.4,
        "workers_running": 10.6,
        "launcher_running": 10.7,
        "running": 10.8,
        "succeeded": 12.8,
    }
    assert tracker.jobs["j"].finished


def test_phase_stamped_once():
    tracker = tracker_with_job()
    tracker.process(job_event(11.0, ["Created"]))
    tracker.process(job_event(12.0, ["Created"]))
    assert tracker.jobs["j"].phases["created"] == 11.0
    assert tracker.jobs["j"].status_updates == 2


def test_workers_running_waits_for_every_worker():
    tracker = tracker_with_job(workers=3)
    tracker.process(pod_event(11.0, "w0", "worker", "Running", node="n"))
    tracker.process(pod_event(11.1, "w1", "worker", "Running", node="n"))
    assert "workers_running" not in tracker.jobs["j"].phases
    tracker.process(pod_event(11.2, "w2", "worker", "Running", node="n"))
    assert tracker.jobs["j"].phases["workers_running"] == 11.2


def test_pods_of_other_jobs_ignored():
    tracker = tracker_with_job()
    other = pod_event(11.0, "x", "worker", "Running", node="n")
    other.object["metadata"]["labels"][JOB_NAME_LABEL] = "other"
    tracker.process(other)
    assert tracker.jobs["j"].pods == {}


def test_records_have_units_and_labels():
    tracker = tracker_with_job(workers=1)
    tracker.process(pod_event(10.2, "w0", "worker", event_type="ADDED"))
    tracker.process(pod_event(10.5, "w0", "worker", "Running", node="n"))
    tracker.process(job_event(11.0, ["Failed"]))
    records = {(r.kind, r.metric, r.labels.get("phase")): r for r in tracker.records({"step": 1})}
    create = records[("api_call", "latency", None)]
    assert create.unit == "ms"
    assert round(create.value, 3) == 50.0
    assert records[("mpijob_phase", "since_create", "failed")].value == 1.0
    assert records[("mpijob_outcome", "succeeded", None)].value == 0.0
    startup = records[("pod_startup", "latency", None)]
    assert round(startup.value, 3) == 0.3
    assert startup.labels == {"job": "j", "step": 1, "pod": "w0", "role": "worker"}


def kubernetes_event(uid, reason, count, event_type="Warning", name="j"):
    obj = {
        "metadata": {"name": f"{name}.{uid}", "uid": uid},
        "involvedObject": {"kind": "MPIJob", "name": name},
        "type": event_type,
        "reason": reason,
        "count": count,
    }
    return WatchEvent(11.0, "events", "MODIFIED", obj)


def test_events_counted_by_reason():
    tracker = tracker_with_job()
    tracker.process(kubernetes_event("a", "FailedCreatePod", 1))
    tracker.process(kubernetes_event("a", "FailedCreatePod", 3))  # the same Event, repeated
    tracker.process(kubernetes_event("b", "MPIJobCreated", 1, "Normal"))
    tracker.process(kubernetes_event("c", "Other", 1, name="unrelated"))
    counts = {
        (r.labels["type"], r.labels["reason"]): r.value
        for r in tracker.records()
        if r.kind == "mpijob_event"
    }
    assert counts == {("Warning", "FailedCreatePod"): 3.0, ("Normal", "MPIJobCreated"): 1.0}

"""How many watch events per second the phase tracker processes on this machine.

The figure bounds how large a fleet one harness process can follow: 1,000 workers produce
a few thousand pod events. Run with `make benchmark`; pytest-benchmark prints and can save
the numbers (--benchmark-autosave).
"""

from harness.k8s.mpijob import JOB_NAME_LABEL, ROLE_LABEL
from harness.k8s.watch import WatchEvent
from harness.measurements.mpijob_phases import MPIJobPhaseTracker

WORKERS = 1000


def worker_events() -> list[WatchEvent]:
    events = []
    for index in range(WORKERS):
        labels = {JOB_NAME_LABEL: "wide", ROLE_LABEL: "worker"}
        for phase, node in (("Pending", None), ("Pending", "n"), ("Running", "n")):
            obj = {
                "metadata": {"name": f"wide-worker-{index}", "labels": labels},
                "spec": {"nodeName": node} if node else {},
                "status": {"phase": phase},
            }
            events.append(WatchEvent(float(len(events)), "pods", "MODIFIED", obj))
    return events


def test_tracker_processes_worker_events(benchmark):
    events = worker_events()

    def process_all() -> MPIJobPhaseTracker:
        tracker = MPIJobPhaseTracker()
        tracker.expect("wide", WORKERS, 0.0)
        for event in events:
            tracker.process(event)
        return tracker

    tracker = benchmark(process_all)
    assert "workers_running" in tracker.jobs["wide"].phases

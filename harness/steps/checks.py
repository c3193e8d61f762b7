"""Behaviour checks on followed MPIJobs: the failure classes users of the operator report.

Each check becomes a record of kind "check" (1 passed, 0 failed), so a scenario can require
it as a success metric, and each failure is logged with what was seen.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from harness.measurements.mpijob_phases import JobTimeline
from harness.results.records import Record
from harness.scenario.models import MPIJobStep

if TYPE_CHECKING:
    from harness.steps.mpijob import FleetResult

log = logging.getLogger(__name__)


def check_records(result: FleetResult, step: MPIJobStep, step_index: int) -> list[Record]:
    records = []
    for name, timeline in result.tracker.jobs.items():
        if name in result.submit_errors:
            continue
        for check, passed, message in _job_checks(timeline, step):
            records.append(_check_record(check, passed, {"step": step_index, "job": name}))
            if not passed:
                log.error("check %s failed for MPIJob %s: %s", check, name, message)
    if result.pods_left is not None:
        passed = result.pods_left == 0
        records.append(_check_record("pods_cleaned_up", passed, {"step": step_index}))
        if not passed:
            log.error(
                "check pods_cleaned_up failed: %d pod(s) left after the MPIJobs were deleted",
                result.pods_left,
            )
    return records


def _job_checks(timeline: JobTimeline, step: MPIJobStep) -> list[tuple[str, bool, str]]:
    phases = timeline.phases
    checks = [
        (
            "status_set",
            "created" in phases,
            "the MPIJob status never showed the Created condition (status left empty)",
        ),
        _expected_outcome(timeline, step.expect),
    ]
    if "running" in phases:
        workers_first = (
            "workers_running" in phases and phases["workers_running"] <= phases["running"]
        )
        pending = sum(1 for pod in timeline.workers() if pod.running is None)
        checks.append(
            (
                "running_only_with_workers_running",
                workers_first,
                f"the MPIJob reported Running while {pending} worker(s) were not Running",
            )
        )
    return checks


def _expected_outcome(timeline: JobTimeline, expect: str) -> tuple[str, bool, str]:
    phases = timeline.phases
    seen = ", ".join(phases) or "none"
    if expect == "succeeded":
        return "expected_outcome", "succeeded" in phases, f"expected Succeeded; phases seen: {seen}"
    if expect == "failed":
        return "expected_outcome", "failed" in phases, f"expected Failed; phases seen: {seen}"
    stuck = not timeline.finished and "running" not in phases
    return "expected_outcome", stuck, f"expected the job never to run; phases seen: {seen}"


def _check_record(check: str, passed: bool, labels: dict) -> Record:
    return Record("check", "passed", 1.0 if passed else 0.0, "bool", {**labels, "check": check})

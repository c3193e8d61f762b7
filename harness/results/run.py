"""The results of one run and the directory they are written to.

Format history of results.json (field `version`):
  1: records (kind, metric, value, unit, labels), verdicts, metadata, status, error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from harness.paths import REPO_ROOT
from harness.results.records import Record, records_frame
from harness.results.verdicts import Verdict

log = logging.getLogger(__name__)

RESULTS_FORMAT_VERSION = 1
RunStatus = Literal["running", "complete", "partial"]


def default_run_dir(scenario_name: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return REPO_ROOT / "reports" / "runs" / f"{stamp}-{scenario_name}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunResults:
    scenario: str
    out_dir: Path
    metadata: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    status: RunStatus = "running"
    error: str | None = None
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None

    def add(self, records: list[Record]) -> None:
        self.records.extend(records)

    def mark_partial(self, reason: str) -> None:
        self.status = "partial"
        self.error = reason

    @property
    def failed_verdicts(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if not verdict.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RESULTS_FORMAT_VERSION,
            "scenario": self.scenario,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "metadata": self.metadata,
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
            "records": [record.to_dict() for record in self.records],
        }

    def write(self) -> Path:
        """Write results.json, results.csv, summary.md with plots, junit.xml and PerfData files."""
        # matplotlib loads only when writing
        from harness.report.junit import write_junit
        from harness.report.perfdata import write_perfdata
        from harness.report.summary import write_summary

        if self.status == "running":
            self.status = "complete"
        self.finished_at = self.finished_at or utc_now()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "results.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        # convert_dtypes keeps integer labels integers where other kinds leave gaps.
        records_frame(self.records).convert_dtypes().to_csv(
            self.out_dir / "results.csv", index=False
        )
        write_summary(self)
        write_junit(self, self.out_dir / "junit.xml")
        write_perfdata(self, self.out_dir)
        return self.out_dir


def load_results(path: Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("version") != RESULTS_FORMAT_VERSION:
        raise ValueError(f"{path}: results format version {data.get('version')} is not supported")
    return data

"""Read the records a workload prints and turn them into result records.

Workloads print one `BENCH_RECORD {json}` line per measurement on stdout (rank 0 only). The
same lines appear in an MPIJob launcher's log, so this parser serves both runners.
"""

from __future__ import annotations

import json
from typing import Any

from harness.errors import WorkloadError
from harness.results.records import Record

RECORD_PREFIX = "BENCH_RECORD "

_COLLECTIVE_METRICS = (
    ("time", "time_us", "us"),
    ("time_min", "time_us_min", "us"),
    ("time_max", "time_us_max", "us"),
    ("algbw", "algbw_gbps", "GB/s"),
    ("busbw", "busbw_gbps", "GB/s"),
    ("wrong", "wrong", "elements"),
)
_COLLECTIVE_LABELS = (
    "workload",
    "backend",
    "device",
    "ranks",
    "size_bytes",
    "count",
    "dtype",
    "redop",
    "placement",
)
_HOROVOD_METRICS = (
    ("images_per_sec_per_worker", "images_per_sec_per_worker", "images/s"),
    ("images_per_sec_per_worker_stdev", "images_per_sec_per_worker_stdev", "images/s"),
    ("images_per_sec_total", "images_per_sec_total", "images/s"),
)
_HOROVOD_LABELS = ("workload", "model", "device", "ranks", "batch_size")


def parse_bench_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        position = line.find(RECORD_PREFIX)
        if position < 0:
            continue
        payload = line[position + len(RECORD_PREFIX) :]
        try:
            rows.append(json.loads(payload))
        except json.JSONDecodeError as error:
            raise WorkloadError(
                f"line {number} of the workload output is not valid JSON: {error}: {payload[:200]}"
            ) from None
    return rows


def rows_to_records(rows: list[dict[str, Any]], extra_labels: dict[str, Any]) -> list[Record]:
    records: list[Record] = []
    for row in rows:
        workload = row.get("workload", "")
        if workload.startswith("allreduce"):
            records += _expand(
                row, "allreduce", _COLLECTIVE_METRICS, _COLLECTIVE_LABELS, extra_labels
            )
        elif workload == "horovod_synthetic":
            records += _expand(
                row, "horovod_training", _HOROVOD_METRICS, _HOROVOD_LABELS, extra_labels
            )
        elif workload == "memcpy_bandwidth":
            labels = {**extra_labels, "size_bytes": int(row["size_bytes"])}
            records.append(
                Record("memcpy", "bandwidth", float(row["bandwidth_gbps"]), "GB/s", labels)
            )
        else:
            raise WorkloadError(
                f"unknown workload record {workload!r}; the harness and workloads/ may be out of step"
            )
    return records


def _expand(
    row: dict[str, Any],
    kind: str,
    metrics: tuple[tuple[str, str, str], ...],
    label_keys: tuple[str, ...],
    extra_labels: dict[str, Any],
) -> list[Record]:
    labels = {key: row[key] for key in label_keys if key in row}
    labels.update(extra_labels)
    return [
        Record(kind, metric, float(row[field]), unit, dict(labels))
        for metric, field, unit in metrics
        if field in row
    ]

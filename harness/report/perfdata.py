"""PerfData JSON files, the summary format that ClusterLoader2 writes and perfdash plots.

Each file has the shape
``{"version": "v1", "dataItems": [{"data": {...}, "unit": "...", "labels": {...}}]}``.
"v1" is the PerfData format's own version, so it stays fixed while our results.json evolves.
One file is written per record kind, and one data item per series.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.results.records import LabelValue, Record
from harness.results.verdicts import statistic

if TYPE_CHECKING:
    from harness.results.run import RunResults

log = logging.getLogger(__name__)

PERFDATA_VERSION = "v1"

# Labels that identify a series, per record kind. Records that differ only in other labels
# are samples of the same series, so they are pooled into one set of percentiles.
SERIES_LABELS: dict[str, tuple[str, ...]] = {
    "api_call": ("verb", "resource"),
    "pod_startup": ("role",),
    "mpijob_phase": ("phase",),
    "control_plane_cost": ("component",),
}

# Labels that name a single object or step. Kinds missing from SERIES_LABELS keep every
# label except these.
PER_OBJECT_LABELS = ("pod", "job", "step")

# PerfData key and the statistic (as harness.results.verdicts.statistic names it) behind it.
_DATA_STATISTICS = (("Perc50", "p50"), ("Perc90", "p90"), ("Perc99", "p99"), ("Max", "max"))
_FILE_SAFE_KIND = re.compile(r"^[A-Za-z0-9_.-]+$")

_SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


def write_perfdata(results: RunResults, out_dir: Path) -> list[Path]:
    """Write one ``PerfData_<kind>.json`` per record kind into out_dir.

    Returns the paths written, sorted by kind. A run without records writes no file.
    Values that are NaN or infinite cannot be written as JSON, so they are left out and
    logged. Raises ValueError when a kind cannot be used in a file name.
    """
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in results.records:
        by_kind[record.kind].append(record)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in sorted(by_kind):
        if not _FILE_SAFE_KIND.match(kind):
            raise ValueError(
                f"record kind {kind!r} cannot be used in a PerfData file name: "
                "use only letters, digits, '_', '.' and '-'"
            )
        document = {"version": PERFDATA_VERSION, "dataItems": perfdata_items(by_kind[kind])}
        path = out_dir / f"PerfData_{kind}.json"
        path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
        paths.append(path)
    return paths


def perfdata_items(records: list[Record]) -> list[dict[str, Any]]:
    """Group records of one kind into series and return one PerfData item per series.

    Items are sorted by metric, unit and labels, so equal records give equal output.
    """
    values_by_series: dict[_SeriesKey, list[float]] = defaultdict(list)
    for record in records:
        values_by_series[_series_key(record)].append(record.value)

    items = []
    for key in sorted(values_by_series):
        metric, unit, labels = key
        values = pd.Series(values_by_series[key], dtype=float)
        finite = values[values.map(math.isfinite)]
        if len(finite) < len(values):
            log.warning(
                "PerfData: left out %d NaN or infinite values of %s %s",
                len(values) - len(finite),
                metric,
                dict(labels),
            )
        if finite.empty:
            continue
        data = {name: statistic(finite, stat) for name, stat in _DATA_STATISTICS}
        items.append({"data": data, "unit": unit, "labels": {**dict(labels), "Metric": metric}})
    return items


def series_labels(record: Record) -> dict[str, LabelValue]:
    """Return the labels of record that identify its series (see SERIES_LABELS)."""
    names = SERIES_LABELS.get(record.kind)
    if names is None:
        return {key: value for key, value in record.labels.items() if key not in PER_OBJECT_LABELS}
    return {key: record.labels[key] for key in names if key in record.labels}


def _series_key(record: Record) -> _SeriesKey:
    # perfdash reads label values as strings.
    labels = tuple(sorted((key, str(value)) for key, value in series_labels(record).items()))
    return record.metric, record.unit, labels

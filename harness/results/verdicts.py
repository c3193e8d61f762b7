"""Judge success metrics against the records of a run."""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from harness.results.records import Record, records_frame
from harness.scenario.models import SuccessMetric

_COMPARATORS = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    observed: float | None
    op: str
    threshold: float
    unit: str
    samples: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        observed = "n/a" if self.observed is None else f"{self.observed:.6g}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{mark} {self.name}: {observed} {self.unit} {self.op} {self.threshold:g} {self.unit}{detail}"


def statistic(values: pd.Series, stat: str) -> float:
    if stat in _QUANTILES:
        # Linear interpolation between closest ranks, numpy's default.
        return float(values.quantile(_QUANTILES[stat]))
    if stat == "count":
        return float(values.count())
    return float(getattr(values, stat)())


def judge(metric: SuccessMetric, records: list[Record]) -> Verdict:
    frame = records_frame(records)
    matching = _select(frame, metric)
    if matching.empty:
        return _unjudged(metric, 0, "no measurement recorded")
    units = set(matching["unit"])
    if units != {metric.unit}:
        return _unjudged(
            metric, len(matching), f"unit mismatch: records are in {', '.join(sorted(units))}"
        )
    observed = statistic(matching["value"], metric.stat)
    passed = _COMPARATORS[metric.op](observed, metric.threshold)
    return Verdict(
        metric.name,
        passed,
        observed,
        metric.op,
        metric.threshold,
        metric.unit,
        len(matching),
        detail=f"{metric.stat} of {len(matching)}",
    )


def _unjudged(metric: SuccessMetric, samples: int, detail: str) -> Verdict:
    """Return a failed verdict for a metric whose records cannot be compared."""
    return Verdict(
        metric.name, False, None, metric.op, metric.threshold, metric.unit, samples, detail=detail
    )


def judge_all(metrics: list[SuccessMetric], records: list[Record]) -> list[Verdict]:
    return [judge(metric, records) for metric in metrics]


def _select(frame: pd.DataFrame, metric: SuccessMetric) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = (frame["kind"] == metric.kind) & (frame["metric"] == metric.metric)
    for key, expected in metric.labels.items():
        column = f"label.{key}"
        if column not in frame:
            return frame.iloc[0:0]
        mask &= frame[column].astype(str) == str(expected)
    return frame[mask]

"""The result record every measurement is stored as.

A record is one number: its kind (what was measured), metric (which quantity), value, unit and
the labels that tell it apart from its siblings (workload, message size, job name, ...). Long
format keeps one table for every kind of measurement, so later steps add rows, not columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

LabelValue = str | int | float | bool


@dataclass(frozen=True)
class Record:
    kind: str
    metric: str
    value: float
    unit: str
    labels: dict[str, LabelValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return cls(
            data["kind"],
            data["metric"],
            float(data["value"]),
            data["unit"],
            dict(data.get("labels", {})),
        )


def records_frame(records: list[Record]) -> pd.DataFrame:
    """Flatten records into a DataFrame with one `label.<name>` column per label."""
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "kind": record.kind,
            "metric": record.metric,
            "value": record.value,
            "unit": record.unit,
        }
        row.update({f"label.{key}": value for key, value in record.labels.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["kind", "metric", "value", "unit"])

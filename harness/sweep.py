"""Run one scenario once per value of a parameter and plot a chosen metric against it.

The default plot is what operator tuning asks first: time until every worker is Running
against the operator's API QPS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness.errors import HarnessError, MetricsMissed  # noqa: E402
from harness.results.records import Record, records_frame  # noqa: E402
from harness.results.run import load_results, utc_now  # noqa: E402
from harness.runner import RunOptions, run  # noqa: E402
from harness.paths import REPO_ROOT  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOptions:
    run: RunOptions
    parameter: str
    values: list[str]
    kind: str = "mpijob_fleet"
    metric: str = "time_to_all_workers_running"


def sweep(options: SweepOptions, out_dir: Path | None = None) -> Path:
    out_dir = (
        out_dir
        or REPO_ROOT
        / "reports"
        / "runs"
        / f"{utc_now().replace(':', '')}-sweep-{options.parameter}"
    )
    rows = []
    missed = []
    for value in options.values:
        run_dir = out_dir / f"{options.parameter}={value}"
        params = {**options.run.params, options.parameter: value}
        log.info(
            "sweep: %s=%s (%d of %d)",
            options.parameter,
            value,
            options.values.index(value) + 1,
            len(options.values),
        )
        try:
            run(replace(options.run, params=params, out_dir=run_dir))
        except MetricsMissed as error:
            missed += [f"{options.parameter}={value}: {name}" for name in error.failed]
        rows += _rows_for(run_dir, options, value)
    table = pd.DataFrame(rows, columns=[options.parameter, "value", "unit"])
    table.to_csv(out_dir / "sweep.csv", index=False)
    _plot(table, options, out_dir / "sweep.png")
    log.info("sweep written to %s (sweep.csv, sweep.png, one run directory per value)", out_dir)
    if missed:
        raise MetricsMissed(missed)
    return out_dir


def _rows_for(run_dir: Path, options: SweepOptions, value: str) -> list[tuple[str, float, str]]:
    results = load_results(run_dir / "results.json")
    frame = records_frame([Record.from_dict(r) for r in results["records"]])
    if frame.empty:
        return []
    matching = frame[(frame["kind"] == options.kind) & (frame["metric"] == options.metric)]
    if matching.empty:
        raise HarnessError(
            f"the run with {options.parameter}={value} recorded no {options.kind}/{options.metric}",
            hint="choose a metric the scenario produces with --kind and --metric",
        )
    return [(value, float(v), unit) for v, unit in zip(matching["value"], matching["unit"])]


def _plot(table: pd.DataFrame, options: SweepOptions, path: Path) -> None:
    if table.empty:
        return
    numeric = pd.to_numeric(table[options.parameter], errors="coerce")
    x = numeric if numeric.notna().all() else table[options.parameter]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(x, table["value"], marker="o")
    axes.set_xlabel(options.parameter)
    axes.set_ylabel(f"{options.metric} ({table['unit'].iloc[0]})")
    axes.set_title(f"{options.kind}/{options.metric} against {options.parameter}")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

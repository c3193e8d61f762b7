"""summary.md: the verdicts first, then one section per kind of measurement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.report import plots
from harness.results.records import records_frame
from harness.scenario.units import format_size

if TYPE_CHECKING:
    from harness.results.run import RunResults

_ALLREDUCE_COLUMNS = ["time", "algbw", "busbw", "wrong"]


def write_summary(results: RunResults) -> None:
    frame = records_frame(results.records)
    sections = [_header(results), _verdicts(results)]
    if not frame.empty:
        sections += [
            _allreduce_section(results, frame),
            _horovod_section(results, frame),
            _mpijob_section(results, frame),
            _overview(frame),
        ]
    text = "\n\n".join(section for section in sections if section) + "\n"
    (results.out_dir / "summary.md").write_text(text)


def _header(results: RunResults) -> str:
    lines = [f"# Run summary: {results.scenario}", ""]
    if results.status == "partial":
        lines.append(f"**Status: partial.** The run stopped early: {results.error}")
    else:
        lines.append("**Status: complete.**")
    lines += ["", f"Started {results.started_at}, finished {results.finished_at}.", ""]
    lines += ["| metadata | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _flatten(results.metadata)]
    return "\n".join(lines)


def _flatten(metadata: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in metadata.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _verdicts(results: RunResults) -> str:
    if not results.verdicts:
        return "## Success metrics\n\nThis scenario declares no success metrics."
    passed = sum(verdict.passed for verdict in results.verdicts)
    lines = [
        "## Success metrics",
        "",
        f"{passed} of {len(results.verdicts)} passed.",
        "",
    ]
    lines += [f"- {verdict.line()}" for verdict in results.verdicts]
    return "\n".join(lines)


def _allreduce_section(results: RunResults, frame: pd.DataFrame) -> str:
    rows = frame[frame["kind"] == "allreduce"]
    if rows.empty:
        return ""
    index = ["label.workload", "label.ranks", "label.placement", "label.size_bytes"]
    table = rows.pivot_table(index=index, columns="metric", values="value", aggfunc="first")
    table = table[[column for column in _ALLREDUCE_COLUMNS if column in table]]
    table.index.names = [name.removeprefix("label.") for name in table.index.names]
    units = rows.drop_duplicates("metric").set_index("metric")["unit"].to_dict()
    table.columns = [f"{column} ({units[column]})" for column in table.columns]
    table = table.reset_index()
    # Labels of other kinds leave NaN in these columns, which turns them into floats.
    table["ranks"] = table["ranks"].astype(int)
    table["size_bytes"] = table["size_bytes"].astype(int)
    table.insert(table.columns.get_loc("size_bytes"), "size", table["size_bytes"].map(format_size))
    table = table.drop(columns="size_bytes")
    section = ["## Allreduce", "", table.to_markdown(index=False, floatfmt=".4g")]
    limit = frame[(frame["kind"] == "memcpy") & (frame["metric"] == "bandwidth")]
    if not limit.empty:
        section += [
            "",
            f"Memory-copy bandwidth in the same run (the limit): {limit['value'].max():.3g} GB/s.",
        ]
    image = plots.plot_busbw(frame, results.out_dir / "busbw.png")
    if image:
        section += ["", f"![busbw against message size]({image.name})"]
    return "\n".join(section)


def _horovod_section(results: RunResults, frame: pd.DataFrame) -> str:
    rows = frame[frame["kind"] == "horovod_training"]
    if rows.empty:
        return ""
    table = rows.pivot_table(
        index=["label.model", "label.ranks"], columns="metric", values="value", aggfunc="first"
    )
    table.index.names = ["model", "ranks"]
    section = [
        "## Horovod synthetic training",
        "",
        table.reset_index().to_markdown(index=False, floatfmt=".4g"),
    ]
    image = plots.plot_horovod_scaling(frame, results.out_dir / "horovod_scaling.png")
    if image:
        section += ["", f"![images/s against ranks]({image.name})"]
    return "\n".join(section)


def _mpijob_section(results: RunResults, frame: pd.DataFrame) -> str:
    rows = frame[(frame["kind"] == "mpijob_phase") & (frame["metric"] == "since_create")]
    if rows.empty:
        return ""
    table = rows.pivot_table(
        index="label.phase", columns="label.job", values="value", aggfunc="max", sort=False
    )
    table.index.name = "phase"
    section = [
        "## MPIJob phases",
        "",
        "Seconds from the create call, stamped with the harness's monotonic clock when the watch "
        "event arrived.",
        "",
        table.reset_index().to_markdown(index=False, floatfmt=".3f"),
    ]
    image = plots.plot_mpijob_phases(frame, results.out_dir / "mpijob_phases.png")
    if image:
        section += ["", f"![MPIJob phases]({image.name})"]
    return "\n".join(section)


def _overview(frame: pd.DataFrame) -> str:
    grouped = frame.groupby(["kind", "metric", "unit"])["value"]
    table = grouped.agg(
        count="count",
        p50=lambda values: values.quantile(0.5),
        p99=lambda values: values.quantile(0.99),
        max="max",
    )
    return "## All records\n\n" + table.reset_index().to_markdown(index=False, floatfmt=".4g")

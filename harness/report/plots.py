"""Matplotlib figures for run summaries, written as PNG files beside summary.md."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI machines

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_busbw(frame: pd.DataFrame, path: Path) -> Path | None:
    """busbw against message size, one line per workload and placement."""
    busbw = frame[(frame["kind"] == "allreduce") & (frame["metric"] == "busbw")]
    if busbw.empty:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    group_columns = [column for column in ("label.workload", "label.placement") if column in busbw]
    for key, group in busbw.groupby(group_columns):
        ordered = group.sort_values("label.size_bytes")
        label = " ".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
        axes.plot(ordered["label.size_bytes"], ordered["value"], marker="o", label=label)
    limit = frame[(frame["kind"] == "memcpy") & (frame["metric"] == "bandwidth")]
    if not limit.empty:
        axes.axhline(
            limit["value"].max(), color="grey", linestyle="--", label="memory copy (limit)"
        )
    axes.set_xscale("log", base=2)
    axes.set_xlabel("message size (bytes)")
    axes.set_ylabel("busbw (GB/s)")
    axes.set_title("Allreduce bus bandwidth")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_horovod_scaling(frame: pd.DataFrame, path: Path) -> Path | None:
    """Total images/s against rank count."""
    throughput = frame[
        (frame["kind"] == "horovod_training") & (frame["metric"] == "images_per_sec_total")
    ]
    if throughput.empty:
        return None
    ordered = throughput.sort_values("label.ranks")
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(ordered["label.ranks"], ordered["value"], marker="o", label="measured")
    single = ordered[ordered["label.ranks"] == 1]
    if not single.empty:
        ideal = ordered["label.ranks"] * single["value"].iloc[0]
        axes.plot(
            ordered["label.ranks"], ideal, linestyle="--", color="grey", label="linear scaling"
        )
    axes.set_xlabel("ranks")
    axes.set_ylabel("images/s (total)")
    axes.set_title("Horovod synthetic training throughput")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_mpijob_phases(frame: pd.DataFrame, path: Path) -> Path | None:
    """Seconds from the create call to each MPIJob phase, one bar group per job."""
    phases = frame[(frame["kind"] == "mpijob_phase") & (frame["metric"] == "since_create")]
    if phases.empty:
        return None
    table = phases.pivot_table(
        index="label.phase", columns="label.job", values="value", aggfunc="max"
    )
    table = table.loc[phases.drop_duplicates("label.phase")["label.phase"]]
    table.columns.name = "job"
    figure, axes = plt.subplots(figsize=(7, 4))
    table.plot.barh(ax=axes)
    axes.invert_yaxis()
    axes.set_xlabel("seconds after the create call")
    axes.set_ylabel("")
    axes.set_title("MPIJob phases")
    axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

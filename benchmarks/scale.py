"""Scale benchmark: time until every worker is Running, per size and operator QPS.

Runs the KWOK scale scenarios on the local cluster (one cluster, restarted operator per QPS)
and prints a Markdown table of the figures that docs/benchmarks.md records. Each run keeps
its own run directory under --out, so every number can be traced to its results.json.

    .venv/bin/python benchmarks/scale.py --out /tmp/scale --qps 5 50
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clusters.kwok.provider import KwokCluster
from harness.errors import MetricsMissed
from harness.log import setup_logging
from harness.paths import REPO_ROOT
from harness.runner import RunOptions, run

CASES = (
    ("128 workers, 1 job", "scenarios/kwok-100-workers.yaml", {"workers": "128"}),
    ("512 workers, 1 job", "scenarios/kwok-100-workers.yaml", {"workers": "512", "nodes": "32"}),
    ("1,000 workers, 1 job", "scenarios/kwok-100-workers.yaml", {"workers": "1000", "nodes": "32"}),
    ("50 jobs x 8 workers", "scenarios/kwok-50-jobs.yaml", {}),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run directories")
    parser.add_argument(
        "--qps", type=int, nargs="+", default=[5, 50], help="operator --kube-api-qps values"
    )
    parser.add_argument(
        "--max-workers", type=int, default=1000, help="skip single-job cases above this size"
    )
    args = parser.parse_args()
    setup_logging()
    rows = []
    try:
        for label, scenario, params in CASES:
            if int(params.get("workers", "0")) > args.max_workers:
                continue
            for qps in args.qps:
                rows.append(
                    _run_case(
                        args.out,
                        label,
                        scenario,
                        {**params, "qps": str(qps), "burst": str(2 * qps)},
                    )
                )
    finally:
        KwokCluster("mpijob-bench").down(quiet=True)
    print(_table(rows))


def _run_case(out: Path, label: str, scenario: str, params: dict[str, str]) -> dict:
    run_dir = out / f"{Path(scenario).stem}-{params.get('workers', 'default')}-qps{params['qps']}"
    # Node count is fixed when the cluster starts, so each case gets a fresh cluster.
    KwokCluster("mpijob-bench").down(quiet=True)
    try:
        run(RunOptions(REPO_ROOT / scenario, params, run_dir, keep_cluster=True))
    except MetricsMissed:
        pass  # the table shows the figures either way; the run's summary.md lists the missed metrics
    results = json.loads((run_dir / "results.json").read_text())
    return {"case": label, "qps": params["qps"], **_figures(results)}


def _figures(results: dict) -> dict:
    def first(kind: str, metric: str, **labels: str) -> float | None:
        for record in results["records"]:
            if (
                record["kind"] == kind
                and record["metric"] == metric
                and all(record["labels"].get(k) == v for k, v in labels.items())
            ):
                return record["value"]
        return None

    return {
        "all_running_s": first("mpijob_fleet", "time_to_all_workers_running"),
        "pods_per_s": first("mpijob_fleet", "pod_creation_rate"),
        "harness_cores": first("control_plane_cost", "cpu_cores", component="harness"),
        "apiserver_cores": first("control_plane_cost", "cpu_cores", component="kube-apiserver"),
        "operator_cores": first("control_plane_cost", "cpu_cores", component="mpi-operator"),
        "passed": all(v["passed"] for v in results["verdicts"]),
    }


def _table(rows: list[dict]) -> str:
    header = "| case | operator QPS | all workers Running (s) | pods created/s | harness CPU (cores) | kube-apiserver CPU (cores) | operator CPU (cores) | all metrics passed |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row["case"], row["qps"]] + [
            _format(row[key])
            for key in (
                "all_running_s",
                "pods_per_s",
                "harness_cores",
                "apiserver_cores",
                "operator_cores",
            )
        ]
        cells.append("yes" if row["passed"] else "no")
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    main()

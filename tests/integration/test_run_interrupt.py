"""Ctrl-C during a run writes what was measured, marked partial, and stops the workload."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil

from tests.integration.conftest import REPO

SCENARIO = """
name: interrupted
steps:
  - memcpy: {size: 1Mi, repeats: 3}
  - allreduce: {workload: mpi, ranks: 2, min_bytes: 64Mi, max_bytes: 64Mi, iters: 100000}
success_metrics:
  - {name: copies measured, kind: memcpy, metric: bandwidth, stat: count, op: ">=", threshold: 1, unit: GB/s}
"""


def test_interrupt_writes_partial_results(tmp_path):
    scenario = tmp_path / "interrupted.yaml"
    scenario.write_text(SCENARIO)
    out_dir = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workload_log = out_dir / "step1-mpi.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not workload_log.exists():
        time.sleep(0.2)
    assert workload_log.exists(), "the allreduce step never started"
    mpi_ranks = [p for p in psutil.Process(child.pid).children(recursive=True)]
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)

    assert child.returncode == 130, stderr
    results = json.loads((out_dir / "results.json").read_text())
    assert results["status"] == "partial"
    assert results["error"] == "interrupted by the user"
    assert [r["kind"] for r in results["records"]] == ["memcpy"]
    assert results["verdicts"][0]["passed"]
    assert "partial" in (out_dir / "summary.md").read_text()
    gone, alive = psutil.wait_procs(mpi_ranks, timeout=15)
    assert alive == []

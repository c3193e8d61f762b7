"""Run the workloads for real, as subprocesses under mpirun, and check their records.

Every run keeps its network traffic on the loopback interface: Open MPI's TCP transports
are limited to ``lo``, and torch's rendezvous uses 127.0.0.1 on a free port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD_PREFIX = "BENCH_RECORD "
RUN_TIMEOUT_S = 600

BOOTSTRAP_HINT = "run scripts/bootstrap.sh to install it"

requires_mpi = pytest.mark.skipif(
    shutil.which("mpirun") is None or importlib.util.find_spec("mpi4py") is None,
    reason=f"mpirun or mpi4py is missing; {BOOTSTRAP_HINT}",
)
requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason=f"torch is missing; {BOOTSTRAP_HINT}"
)


def _horovod_importable() -> bool:
    # A subprocess, so that a broken Horovod build cannot crash the test session itself.
    result = subprocess.run(
        [sys.executable, "-c", "import horovod.torch"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return result.returncode == 0


requires_horovod = pytest.mark.skipif(
    not _horovod_importable(),
    reason="horovod.torch is not importable; run scripts/bootstrap.sh, which builds it with "
    "workloads/horovod_synthetic/install_horovod.sh",
)


@dataclass
class WorkloadRun:
    """Outcome of one workload process: exit code, records and raw output."""

    returncode: int
    records: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def other_stdout_lines(self) -> list[str]:
        """Return non-empty stdout lines that are not records (the contract allows none)."""
        return [
            line
            for line in self.stdout.splitlines()
            if line.strip() and not line.startswith(RECORD_PREFIX)
        ]


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workload_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["OMPI_MCA_btl_tcp_if_include"] = "lo"
    env["OMPI_MCA_oob_tcp_if_include"] = "lo"
    env["MASTER_ADDR"] = "127.0.0.1"
    env["MASTER_PORT"] = str(free_loopback_port())
    env["GLOO_SOCKET_IFNAME"] = "lo"
    env["HOROVOD_GLOO_IFACE"] = "lo"
    # Several ranks share a few cores, so OpenMP pools get one thread per rank.
    env["OMP_NUM_THREADS"] = "1"
    return env


def parse_records(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len(RECORD_PREFIX) :])
        for line in stdout.splitlines()
        if line.startswith(RECORD_PREFIX)
    ]


def run_workload(module: str, args: list[str], ranks: int | None = 2) -> WorkloadRun:
    """Run ``python -m workloads.<module> args`` under ``mpirun -np ranks``, or alone if None."""
    command = [sys.executable, "-m", f"workloads.{module}", *args]
    if ranks is not None:
        mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]
        command = mpirun + command
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=workload_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    return WorkloadRun(
        completed.returncode, parse_records(completed.stdout), completed.stdout, completed.stderr
    )


COLLECTIVE_FIELDS = {
    "workload",
    "backend",
    "device",
    "ranks",
    "size_bytes",
    "count",
    "dtype",
    "redop",
    "placement",
    "time_us",
    "time_us_min",
    "time_us_max",
    "algbw_gbps",
    "busbw_gbps",
    "wrong",
    "iters",
}


def expected_sizes(min_bytes: int, max_bytes: int) -> list[int]:
    sizes = []
    size = min_bytes
    while size <= max_bytes:
        sizes.append(size)
        size *= 2
    return sizes


def assert_allreduce_sweep(
    run: WorkloadRun,
    *,
    workload: str,
    backend: str,
    ranks: int,
    min_bytes: int,
    max_bytes: int,
    iters: int,
) -> None:
    """Check every record of a doubling sweep against the output contract."""
    assert run.other_stdout_lines == []
    sizes = expected_sizes(min_bytes, max_bytes)
    placements = [(record["size_bytes"], record["placement"]) for record in run.records]
    assert placements == [
        (size, placement) for size in sizes for placement in ("out-of-place", "in-place")
    ]

    factor = 2 * (ranks - 1) / ranks
    for record in run.records:
        assert set(record) == COLLECTIVE_FIELDS
        assert record["workload"] == workload
        assert record["backend"] == backend
        assert record["device"] == "cpu"
        assert record["ranks"] == ranks
        assert record["count"] == record["size_bytes"] // 4
        assert record["dtype"] == "float32"
        assert record["redop"] == "sum"
        assert record["wrong"] == 0
        assert record["iters"] == iters
        assert record["time_us"] > 0
        assert record["time_us_min"] <= record["time_us"] <= record["time_us_max"]
        assert record["algbw_gbps"] > 0
        assert record["algbw_gbps"] == pytest.approx(
            record["size_bytes"] / (record["time_us"] * 1e-6) / 1e9, rel=1e-9
        )
        assert record["busbw_gbps"] == pytest.approx(record["algbw_gbps"] * factor, rel=1e-9)

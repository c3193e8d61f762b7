"""Run a workload under `mpirun` on this host and collect its records."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil

from harness.errors import WorkloadError
from harness.paths import REPO_ROOT
from harness.processes import TrackedProcess, stop_process

log = logging.getLogger(__name__)


def mpirun_argv(ranks: int) -> list[str]:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise WorkloadError(
            "mpirun was not found on PATH",
            hint="install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev) or run scripts/bootstrap.sh",
        )
    argv = [mpirun, "-np", str(ranks), "--bind-to", "none"]
    # Keep MPI's own traffic on loopback: every rank runs on this host.
    argv += [
        "--mca",
        "btl",
        "self,vader,tcp",
        "--mca",
        "btl_tcp_if_include",
        "lo",
        "--mca",
        "oob_tcp_if_include",
        "lo",
    ]
    if ranks > (os.cpu_count() or 1):
        argv.append("--oversubscribe")
    if os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    return argv


def run_under_mpirun(
    ranks: int, module: str, arguments: list[str], log_path: Path, timeout_s: float
) -> str:
    """Run `python -m module` on `ranks` ranks; return its stdout, stderr goes to log_path."""
    argv = mpirun_argv(ranks) + [sys.executable, "-m", module, *arguments]
    return _run(f"{module} on {ranks} ranks", argv, log_path, timeout_s)


def run_python_module(module: str, arguments: list[str], log_path: Path, timeout_s: float) -> str:
    """Run `python -m module` as one process; return its stdout, stderr goes to log_path."""
    return _run(module, [sys.executable, "-m", module, *arguments], log_path, timeout_s)


def _run(what: str, argv: list[str], log_path: Path, timeout_s: float) -> str:
    log.debug("running %s", " ".join(argv))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(log_path, "ab") as stderr_file:
        child = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            start_new_session=True,
        )
        tracked = TrackedProcess(what, child.pid, _create_time(child.pid), argv)
        try:
            stdout, _ = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(tracked)
            child.communicate()
            raise WorkloadError(
                f"{what} timed out after {timeout_s:.0f} s", hint=f"see {log_path}"
            ) from None
        except BaseException:
            stop_process(tracked)
            raise
    if child.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-10:])
        raise WorkloadError(
            f"{what} failed (exit {child.returncode}):\n{tail}", hint=f"full log: {log_path}"
        )
    return stdout.decode(errors="replace")


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return 0.0

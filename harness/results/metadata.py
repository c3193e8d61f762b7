"""Facts about the run that every result file carries, collected automatically."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any

import harness
from harness.paths import REPO_ROOT


def git_revision() -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if result.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def collect_metadata(scenario_name: str, scenario_hash: str) -> dict[str, Any]:
    return {
        "scenario": scenario_name,
        "scenario_sha256": scenario_hash,
        "harness_version": harness.__version__,
        "git_revision": git_revision(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }

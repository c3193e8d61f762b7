"""Locations of the harness's build cache and of the state of running clusters.

Both live outside the repository so a fresh clone, `git clean` or a second checkout reuses the
same built binaries. Override with MPIJOB_BENCH_CACHE and MPIJOB_BENCH_STATE.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mpijob-bench"
    return Path(os.environ.get("MPIJOB_BENCH_CACHE", default))


def state_root() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "mpijob-bench"
    return Path(os.environ.get("MPIJOB_BENCH_STATE", default))


def cluster_state_dir(cluster_name: str) -> Path:
    return state_root() / "clusters" / cluster_name

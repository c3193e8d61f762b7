"""The real local control plane, started once per test session.

The first session on a machine builds the Go binaries (many minutes on 2 cores); later ones
reuse the cache. The cluster gets its own name so it never touches a developer's cluster,
but the MPI Operator's health port (8080) is fixed upstream, so a developer's running cluster
must be stopped first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.kwok.provider import ClusterOptions, KwokCluster
from clusters.kwok.toolchain import Toolchain, ensure_toolchain
from harness.k8s.client import api_client

TEST_CLUSTER = "mpijob-bench-test"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return ensure_toolchain()


@pytest.fixture(scope="session")
def cluster(toolchain) -> KwokCluster:
    local = KwokCluster(TEST_CLUSTER)
    local.down(quiet=True)
    local.up(ClusterOptions(name=TEST_CLUSTER, nodes=8))
    yield local
    local.down(quiet=True)


@pytest.fixture(scope="session")
def api(cluster):
    return api_client(cluster.kubeconfig)


def bench(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real console command in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or os.environ.copy(),
    )

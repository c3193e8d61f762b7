"""Inputs of a step: the output folder, the cluster and the clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kubernetes import client

from harness.errors import ClusterError


@dataclass
class StepContext:
    out_dir: Path
    index: int
    api: client.ApiClient | None = None
    kubeconfig: Path | None = None
    provider: str | None = None  # "kwok" or "existing"; None when the run has no cluster
    clock: Callable[[], float] = field(default=time.monotonic)

    def require_api(self) -> client.ApiClient:
        if self.api is None:
            raise ClusterError("this step needs a cluster, but the run has none")
        return self.api

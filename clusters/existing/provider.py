"""Use a cluster the harness did not start: check it is reachable and serves MPIJobs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ClusterError
from harness.k8s.client import api_client

log = logging.getLogger(__name__)
MPIJOB_CRD = "mpijobs.kubeflow.org"


def resolve_kubeconfig(path: str | None) -> Path:
    candidate = path or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    resolved = Path(candidate).expanduser()
    if not resolved.exists():
        hint = (
            "check the path"
            if path
            else "pass --kubeconfig PATH, set cluster.kubeconfig in the scenario, or set KUBECONFIG"
        )
        raise ClusterError(f"kubeconfig {resolved} not found", hint=hint)
    return resolved


def check_cluster(kubeconfig: Path) -> client.ApiClient:
    api = api_client(kubeconfig)
    try:
        version = client.VersionApi(api).get_code()
        client.ApiextensionsV1Api(api).read_custom_resource_definition(MPIJOB_CRD)
    except ApiException as error:
        if error.status == 404:
            raise ClusterError(
                f"the cluster in {kubeconfig} has no {MPIJOB_CRD} CRD",
                hint="install the Kubeflow MPI Operator (kubeflow.org/v2beta1) first",
            ) from error
        raise ClusterError(
            f"cannot read the cluster in {kubeconfig}: {error.status} {error.reason}"
        ) from error
    except Exception as error:  # urllib3 raises several unrelated types for a dead endpoint
        raise ClusterError(f"cannot reach the cluster in {kubeconfig}: {error}") from error
    log.info("using existing cluster %s (Kubernetes %s)", kubeconfig, version.git_version)
    return api

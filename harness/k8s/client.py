"""Build Kubernetes API clients from a kubeconfig file."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config

from harness.errors import ClusterError


def api_client(kubeconfig: Path, qps_note: str = "") -> client.ApiClient:
    if not Path(kubeconfig).exists():
        raise ClusterError(
            f"kubeconfig {kubeconfig} not found",
            hint="start the local cluster with `mpijob-bench cluster up`, or pass --kubeconfig",
        )
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    # Watches and concurrent submissions need more than urllib3's default pool of 4.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)

"""Build Kubernetes API clients from a kubeconfig file."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client, config

from harness.errors import ClusterError


def api_client(kubeconfig: Path) -> client.ApiClient:
    if not Path(kubeconfig).exists():
        raise ClusterError(
            f"kubeconfig {kubeconfig} not found",
            hint="start the local cluster with `mpijob-bench cluster up`, or pass --kubeconfig",
        )
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    except (config.ConfigException, yaml.YAMLError, OSError, TypeError, KeyError) as error:
        raise ClusterError(
            f"cannot load kubeconfig {kubeconfig}: {error}",
            hint="check that the file is a valid kubeconfig with a current context",
        ) from error
    # Watches and concurrent submissions need more than urllib3's default pool of 4.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)

"""The MPIJob custom resource (kubeflow.org/v2beta1) and its manifest builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

ROLE_LABEL = "training.kubeflow.org/job-role"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
# Annotations read by the harness's KWOK stages (clusters/kwok/stages/).
RUN_DURATION_ANNOTATION = "mpijob-bench.io/run-duration"
EXIT_CODE_ANNOTATION = "mpijob-bench.io/exit-code"
START_DELAY_ANNOTATION = "mpijob-bench.io/start-delay"
FAIL_AFTER_ANNOTATION = "mpijob-bench.io/fail-after"
OPERATOR_NAME_LABEL = "training.kubeflow.org/operator-name"


class MPIJob:
    group = "kubeflow.org"
    version = "v2beta1"
    plural = "mpijobs"
    kind = "MPIJob"

    @classmethod
    def api_version(cls) -> str:
        return f"{cls.group}/{cls.version}"

    @classmethod
    def create(
        cls, api: client.ApiClient, manifest: dict[str, Any], dry_run: bool = False
    ) -> dict[str, Any]:
        kwargs = {"dry_run": "All"} if dry_run else {}
        return client.CustomObjectsApi(api).create_namespaced_custom_object(
            cls.group,
            cls.version,
            manifest["metadata"]["namespace"],
            cls.plural,
            manifest,
            **kwargs,
        )

    @classmethod
    def delete(cls, api: client.ApiClient, namespace: str, name: str) -> None:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            cls.group,
            cls.version,
            namespace,
            cls.plural,
            name,
            body=client.V1DeleteOptions(propagation_policy="Foreground"),
        )

    @classmethod
    def list_function(cls, api: client.ApiClient):
        custom = client.CustomObjectsApi(api)

        def list_mpijobs(namespace: str, **kwargs: Any) -> Any:
            return custom.list_namespaced_custom_object(
                cls.group, cls.version, namespace, cls.plural, **kwargs
            )

        return list_mpijobs


@dataclass(frozen=True)
class MPIJobSpec:
    """What the harness varies between MPIJobs; the builder fills in the rest."""

    name: str
    namespace: str
    workers: int
    image: str
    launcher_command: list[str]
    worker_command: list[str] = field(default_factory=lambda: ["sleep", "infinity"])
    slots_per_worker: int = 1
    worker_cpu: str = "1"
    worker_memory: str = "1Gi"
    worker_gpus: int = 0
    launcher_annotations: dict[str, str] = field(default_factory=dict)
    worker_annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    launcher_creation_policy: str = "AtStartup"
    clean_pod_policy: str = "Running"
    backoff_limit: int | None = None
    worker_container_name: str = "worker"


def build_manifest(spec: MPIJobSpec) -> dict[str, Any]:
    worker_resources: dict[str, str] = {"cpu": spec.worker_cpu, "memory": spec.worker_memory}
    if spec.worker_gpus:
        worker_resources["nvidia.com/gpu"] = str(spec.worker_gpus)
    return {
        "apiVersion": MPIJob.api_version(),
        "kind": MPIJob.kind,
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(spec.labels)},
        "spec": {
            "slotsPerWorker": spec.slots_per_worker,
            "launcherCreationPolicy": spec.launcher_creation_policy,
            "runPolicy": _run_policy(spec),
            "mpiReplicaSpecs": {
                "Launcher": {
                    "replicas": 1,
                    "template": _pod_template(
                        "launcher",
                        spec.image,
                        spec.launcher_command,
                        {"cpu": "1", "memory": "1Gi"},
                        spec.launcher_annotations,
                    ),
                },
                "Worker": {
                    "replicas": spec.workers,
                    "template": _pod_template(
                        spec.worker_container_name,
                        spec.image,
                        spec.worker_command,
                        worker_resources,
                        spec.worker_annotations,
                    ),
                },
            },
        },
    }


def _run_policy(spec: MPIJobSpec) -> dict[str, Any]:
    policy: dict[str, Any] = {"cleanPodPolicy": spec.clean_pod_policy}
    if spec.backoff_limit is not None:
        policy["backoffLimit"] = spec.backoff_limit
    return policy


def _pod_template(
    role: str,
    image: str,
    command: list[str],
    resources: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    return {
        "metadata": {"annotations": dict(annotations)},
        "spec": {
            "containers": [
                {
                    "name": role,
                    "image": image,
                    "command": list(command),
                    "resources": {"requests": dict(resources), "limits": dict(resources)},
                }
            ]
        },
    }

"""Typed scenario models. Every field is validated before anything runs.

YAML keys are the field names below. Sizes accept byte counts or binary suffixes (64Ki, 64Mi),
durations accept seconds or a suffix (500ms, 90s, 5m).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)

from harness.scenario.units import parse_duration, parse_size

Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FLOAT32_BYTES = 4


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_dns_label(value: str, what: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Kubernetes name: use at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


class OperatorSettings(StrictModel):
    """Flags of the MPI Operator process; the defaults are the operator's own."""

    kube_api_qps: PositiveInt = 5
    kube_api_burst: PositiveInt = 10
    threadiness: PositiveInt = 2


class ClusterSpec(StrictModel):
    """The cluster a scenario runs on."""

    provider: Literal["kwok", "existing"] = "kwok"
    name: str = "mpijob-bench"
    kubeconfig: str | None = None
    nodes: PositiveInt = 8
    node_gpus: NonNegativeInt = 8
    operator: OperatorSettings = OperatorSettings()

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, value: str) -> str:
        return _check_dns_label(value, "cluster name")

    @model_validator(mode="after")
    def _kubeconfig_matches_provider(self) -> ClusterSpec:
        if self.provider == "kwok" and self.kubeconfig:
            raise ValueError(
                "kubeconfig is only used with provider: existing; remove it or change the provider"
            )
        return self


class RunnerSettings(StrictModel):
    """Placement of a workload. With runner: mpijob the other fields shape the MPIJob."""

    runner: Literal["local", "mpijob"] = "local"
    image: str = "mpijob-bench/workloads:latest"
    namespace: str = "default"
    slots_per_worker: PositiveInt = 1
    worker_cpu: str = "1"
    worker_gpus: NonNegativeInt = 0


class AllreduceStep(RunnerSettings):
    """A size sweep of one allreduce implementation."""

    workload: Literal["mpi", "torch", "horovod"] = "mpi"
    ranks: PositiveInt = 2
    min_bytes: Size = 8
    max_bytes: Size = 64 * 2**20
    factor: int = Field(default=2, ge=2)
    # None keeps the workload's OSU-style defaults (more iterations for small messages).
    warmup: NonNegativeInt | None = None
    iters: PositiveInt | None = None
    backend: Literal["gloo", "nccl"] | None = None
    timeout: Seconds = 600.0

    @model_validator(mode="after")
    def _sizes_are_consistent(self) -> AllreduceStep:
        if self.min_bytes < FLOAT32_BYTES:
            raise ValueError(
                f"min_bytes {self.min_bytes} is smaller than one float32 element ({FLOAT32_BYTES} bytes); use 4 or more"
            )
        if self.max_bytes < self.min_bytes:
            raise ValueError(
                f"max_bytes {self.max_bytes} is below min_bytes {self.min_bytes}; swap them"
            )
        if self.backend is not None and self.workload != "torch":
            raise ValueError("backend applies to workload: torch only; remove it")
        return self


class HorovodStep(RunnerSettings):
    """Horovod synthetic training at each rank count, for scaling efficiency."""

    ranks: list[PositiveInt] = Field(default_factory=lambda: [1, 2], min_length=1)
    # resnet* need torchvision in the environment; convnet is defined in the workload.
    model: Literal["convnet", "resnet18", "resnet50", "resnet101"] = "convnet"
    batch_size: PositiveInt = 16
    warmup_batches: NonNegativeInt = 10
    batches: PositiveInt = 20
    timeout: Seconds = 900.0


class MemcpyStep(StrictModel):
    """One-way memory copy bandwidth: the limit that local busbw is compared against."""

    size: Size = 64 * 2**20
    repeats: PositiveInt = 20
    timeout: Seconds = 120.0


class MPIJobStep(StrictModel):
    """Submit one or more MPIJobs and follow them through their phases on a watch."""

    name: str = "smoke"
    namespace: str = "default"
    jobs: PositiveInt = 1
    arrival: Literal["burst", "poisson"] = "burst"
    rate: float | None = Field(default=None, gt=0)  # jobs per second, poisson arrival only
    seed: int = 0
    workers: PositiveInt = 4
    slots_per_worker: PositiveInt = 1
    worker_cpu: str = "1"
    worker_memory: str = "1Gi"
    worker_gpus: NonNegativeInt = 0
    image: str = "mpijob-bench/workloads:latest"
    launcher_command: list[str] = Field(
        default_factory=lambda: ["mpirun", "python", "-m", "workloads.allreduce_mpi"]
    )
    launcher_creation_policy: Literal["AtStartup", "WaitForWorkersReady"] = "AtStartup"
    run_duration: Seconds = 2.0
    pod_start_delay: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 0.0
    failure: Literal["none", "worker-fails", "launcher-fails", "invalid-template"] = "none"
    expect: Literal["succeeded", "failed", "stuck"] = "succeeded"
    timeout: Seconds = 300.0
    delete_after: bool = True

    @field_validator("name", "namespace")
    @classmethod
    def _names_are_dns_labels(cls, value: str) -> str:
        return _check_dns_label(value, "name")

    @model_validator(mode="after")
    def _arrival_has_rate(self) -> MPIJobStep:
        if self.arrival == "poisson" and self.rate is None:
            raise ValueError("arrival: poisson needs rate (jobs per second), for example rate: 2")
        if self.arrival == "burst" and self.rate is not None:
            raise ValueError(
                "rate applies to arrival: poisson only; remove it or set arrival: poisson"
            )
        return self

    def job_names(self) -> list[str]:
        if self.jobs == 1:
            return [self.name]
        width = len(str(self.jobs - 1))
        return [f"{self.name}-{index:0{width}d}" for index in range(self.jobs)]


class Step(StrictModel):
    """One entry of `steps`: a mapping with exactly one of the step kinds as its key."""

    allreduce: AllreduceStep | None = None
    horovod: HorovodStep | None = None
    memcpy: MemcpyStep | None = None
    mpijob: MPIJobStep | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        kinds = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(kinds) != 1:
            allowed = ", ".join(type(self).model_fields)
            raise ValueError(f"a step needs exactly one of {allowed}; got {len(kinds)}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def spec(self) -> StrictModel:
        return getattr(self, self.kind)


Comparison = Literal["<=", "<", ">=", ">", "=="]
Statistic = Literal["min", "max", "mean", "p50", "p90", "p99", "count", "sum"]


class SuccessMetric(StrictModel):
    """A threshold on one statistic of the records that match kind, name and labels."""

    name: str
    kind: str
    metric: str
    labels: dict[str, str | int | float] = Field(default_factory=dict)
    stat: Statistic = "max"
    op: Comparison = "<="
    threshold: float
    unit: str


class Scenario(StrictModel):
    """A whole scenario file."""

    name: str
    description: str = ""
    cluster: ClusterSpec = ClusterSpec()
    steps: list[Step] = Field(min_length=1)
    success_metrics: list[SuccessMetric] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, value: str) -> str:
        return _check_dns_label(value, "scenario name")

    @property
    def needs_cluster(self) -> bool:
        for step in self.steps:
            if step.kind == "mpijob" or getattr(step.spec, "runner", "local") == "mpijob":
                return True
        return False

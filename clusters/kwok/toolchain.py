"""Build and cache the Go binaries of the local control plane.

Each component is a small Go module under toolchain/ that pins one upstream release. A build
lands in the cache under a key made of the component's version, a digest of its go.mod and
go.sum, and the Go version, so a second run finds it and a version bump builds anew.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.errors import ToolchainError
from harness.log import console
from harness.paths import cache_root

log = logging.getLogger(__name__)

TOOLCHAIN_DIR = Path(__file__).resolve().parent / "toolchain"
MPI_OPERATOR_CRD = "manifests/base/kubeflow.org_mpijobs.yaml"
_PLAIN_PROGRESS_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Component:
    """One Go module of ours that builds one or more upstream commands."""

    name: str
    upstream_module: str
    binaries: dict[str, str]  # binary name -> Go package path
    version_variables: tuple[str, ...] = field(default=())  # "-X" targets set to the version

    @property
    def module_dir(self) -> Path:
        return TOOLCHAIN_DIR / self.name

    @property
    def version(self) -> str:
        gomod = (self.module_dir / "go.mod").read_text()
        match = re.search(
            rf"^\s*(?:require\s+)?{re.escape(self.upstream_module)} (v\S+)", gomod, re.M
        )
        if not match:
            raise ToolchainError(
                f"{self.module_dir}/go.mod does not require {self.upstream_module}"
            )
        return match.group(1)

    def ldflags(self) -> str:
        flags = ["-s", "-w"]
        flags += [f"-X {variable}={self.version}" for variable in self.version_variables]
        if self.name == "kubernetes":
            flags += _kubernetes_version_flags(self.version)
        return " ".join(flags)


def _kubernetes_version_flags(version: str) -> list[str]:
    # kube-* and kubectl print these with --version; unset, they report v0.0.0-master.
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return flags


COMPONENTS = (
    Component(
        "kubernetes",
        "k8s.io/kubernetes",
        {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
    ),
    Component("etcd", "go.etcd.io/etcd/server/v3", {"etcd": "go.etcd.io/etcd/server/v3"}),
    Component(
        "kwok",
        "sigs.k8s.io/kwok",
        {"kwok": "sigs.k8s.io/kwok/cmd/kwok", "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl"},
    ),
    Component(
        "mpi-operator",
        "github.com/kubeflow/mpi-operator",
        {"mpi-operator": "github.com/kubeflow/mpi-operator/cmd/mpi-operator"},
        version_variables=("github.com/kubeflow/mpi-operator/pkg/version.Version",),
    ),
)


@dataclass(frozen=True)
class Toolchain:
    """Paths of every built binary and of the MPIJob CRD, plus the pinned versions."""

    binaries: dict[str, Path]
    versions: dict[str, str]
    mpijob_crd: Path

    @property
    def bin_dir(self) -> Path:
        return self.binaries["kubectl"].parent


def go_version() -> str:
    if shutil.which("go") is None:
        raise ToolchainError(
            "the Go toolchain was not found on PATH; it builds the control-plane binaries",
            hint="install Go 1.26 or newer (https://go.dev/dl/) and put `go` on PATH",
        )
    output = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return output.stdout.strip()


def cache_key(component: Component, go: str) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((component.module_dir / name).read_bytes())
    return f"{component.name}-{component.version}-{go}-{digest.hexdigest()[:12]}"


def component_dir(component: Component, go: str) -> Path:
    return cache_root() / "bin" / cache_key(component, go)


def ensure_toolchain(build: bool = True) -> Toolchain:
    """Return the cached toolchain, building whatever is missing when build is true."""
    go = go_version()
    binaries: dict[str, Path] = {}
    versions: dict[str, str] = {}
    for component in COMPONENTS:
        target = component_dir(component, go)
        if not _is_complete(component, target):
            if not build:
                raise ToolchainError(
                    f"{component.name} {component.version} is not built yet",
                    hint="run `mpijob-bench cluster install`",
                )
            _build_component(component, target)
        else:
            log.debug("using cached %s at %s", component.name, target)
        versions[component.name] = component.version
        for binary in component.binaries:
            binaries[binary] = target / binary
    return Toolchain(binaries, versions, _mpijob_crd_path(go))


def _is_complete(component: Component, target: Path) -> bool:
    return (target / ".complete").exists() and all(
        (target / name).exists() for name in component.binaries
    )


def _mpijob_crd_path(go: str) -> Path:
    operator = next(c for c in COMPONENTS if c.name == "mpi-operator")
    return component_dir(operator, go) / "kubeflow.org_mpijobs.yaml"


def _build_component(component: Component, target: Path) -> None:
    log.info(
        "building %s %s (%s)", component.name, component.version, ", ".join(component.binaries)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{component.name}-", dir=target.parent))
    try:
        _go_build(component, staging)
        if component.name == "mpi-operator":
            _copy_mpijob_crd(component, staging)
        _rename_outputs(component, staging)
        (staging / ".complete").write_text(json.dumps({"version": component.version}))
        staging.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _go_build(component: Component, output_dir: Path) -> None:
    packages = list(component.binaries.values())
    total = _count_packages_to_compile(component, packages)
    argv = ["go", "build", "-v", "-ldflags", component.ldflags(), "-o", str(output_dir) + "/"]
    log_path = output_dir / "build.log"
    with open(log_path, "w") as build_log, _progress() as progress:
        task = progress.add_task(f"go build {component.name}", total=total)
        child = subprocess.Popen(
            argv + packages,
            cwd=component.module_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert child.stdout is not None
        compiled = 0
        last_report = time.monotonic()
        for line in child.stdout:
            build_log.write(line)
            progress.advance(task)
            compiled += 1
            # Without a terminal (CI logs) the bar only shows at the end; log a line instead.
            if (
                not console.is_terminal
                and time.monotonic() - last_report > _PLAIN_PROGRESS_INTERVAL_S
            ):
                log.info(
                    "go build %s: %d of at most %s packages compiled",
                    component.name,
                    compiled,
                    total,
                )
                last_report = time.monotonic()
        returncode = child.wait()
    if returncode != 0:
        tail = log_path.read_text().splitlines()[-15:]
        raise ToolchainError(
            f"go build of {component.name} {component.version} failed (exit {returncode}):\n"
            + "\n".join(tail),
            hint=f"full log: {log_path}; check that the Go module proxy serves every module in "
            f"{component.module_dir}/go.mod",
        )
    (output_dir / "build.log").unlink()


def _rename_outputs(component: Component, output_dir: Path) -> None:
    # `go build -o DIR/` names each binary after its package path's last element, skipping a
    # major-version suffix: go.etcd.io/etcd/server/v3 becomes "server", not "etcd".
    for name, package in component.binaries.items():
        elements = package.split("/")
        default = elements[-2] if re.fullmatch(r"v\d+", elements[-1]) else elements[-1]
        if default != name:
            (output_dir / default).rename(output_dir / name)


def _count_packages_to_compile(component: Component, packages: list[str]) -> int | None:
    # `go build -v` prints each package it compiles, cached ones excluded. This count is
    # therefore an upper bound, so a warm rebuild ends early; only the progress bar uses it.
    listing = subprocess.run(
        ["go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", *packages],
        cwd=component.module_dir,
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        raise ToolchainError(
            f"cannot resolve the Go packages of {component.name}:\n{listing.stderr.strip()}",
            hint="the Go module proxy may refuse a module; try another served version in "
            f"{component.module_dir}/go.mod",
        )
    return len([line for line in listing.stdout.splitlines() if line.strip()]) or None


def _copy_mpijob_crd(component: Component, output_dir: Path) -> None:
    download = subprocess.run(
        ["go", "mod", "download", "-json", f"{component.upstream_module}@{component.version}"],
        cwd=component.module_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    module_dir = Path(json.loads(download.stdout)["Dir"])
    shutil.copyfile(module_dir / MPI_OPERATOR_CRD, output_dir / "kubeflow.org_mpijobs.yaml")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("packages"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )

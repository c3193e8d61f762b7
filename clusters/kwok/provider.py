"""Bring a local KWOK cluster with the MPI Operator up and down.

kwokctl's binary runtime starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and the kwok controller as local processes and records their PIDs in its work directory. The
harness keeps that work directory, the operator's PID file and its own state in one folder
per cluster, so `down` can stop everything by PID and remove the folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import yaml

from clusters.kwok.toolchain import Toolchain, ensure_toolchain
from harness.errors import ClusterError
from harness.log import console
from harness.paths import cluster_state_dir
from harness.processes import TrackedProcess, start_process, stop_process

log = logging.getLogger(__name__)

STAGES_DIR = Path(__file__).resolve().parent / "stages"
LOOPBACK = "127.0.0.1"
OPERATOR_NAMESPACE = "mpi-operator"
# The MPI Operator hard-codes its health server on port 8080 on every interface
# (cmd/mpi-operator/app/server.go, v0.8.0), so only one operator can run per machine.
OPERATOR_HEALTH_PORT = 8080
KWOK_CRDS = ["Stage", "Logs", "ClusterLogs"]
NODE_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
_COMPONENT_EXIT_WAIT_S = 30.0
_CLUSTER_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")
OPERATOR_RESTART_MARKER = "mpijob-bench: mpi-operator exited; restarting"


@dataclass
class ClusterOptions:
    """Settings of one local cluster; defaults suit a laptop-sized smoke run."""

    name: str = "mpijob-bench"
    nodes: int = 8
    node_cpu: str = "32"
    node_memory: str = "256Gi"
    node_gpus: int = 8
    node_pods: int = 256
    apiserver_port: int | None = None
    operator_qps: int = 5
    operator_burst: int = 10
    operator_threadiness: int = 2
    timeout_s: float = 180.0

    def validate(self) -> None:
        problems = []
        if self.nodes < 1:
            problems.append(f"nodes must be at least 1, got {self.nodes}")
        for field_name in ("operator_qps", "operator_burst", "operator_threadiness", "node_pods"):
            if getattr(self, field_name) < 1:
                problems.append(
                    f"{field_name.replace('_', '-')} must be at least 1, got {getattr(self, field_name)}"
                )
        if self.node_gpus < 0:
            problems.append(f"node-gpus must not be negative, got {self.node_gpus}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            problems.append(f"timeout must be a positive number of seconds, got {self.timeout_s}")
        if self.apiserver_port is not None and not 1024 <= self.apiserver_port <= 65535:
            problems.append(
                f"apiserver-port must be between 1024 and 65535, got {self.apiserver_port}"
            )
        if problems:
            raise ClusterError("invalid cluster options: " + "; ".join(problems))


@dataclass
class ComponentStatus:
    name: str
    version: str
    pid: int | None
    running: bool


class KwokCluster:
    """One named local cluster and the folder that records it."""

    def __init__(self, name: str = "mpijob-bench") -> None:
        # The name becomes a folder under the state root, which `down` removes: anything but a
        # plain DNS label could point that removal elsewhere.
        if not _CLUSTER_NAME.fullmatch(name or ""):
            raise ClusterError(
                f"invalid cluster name {name!r}",
                hint="use at most 40 lower-case letters, digits and '-', starting with a letter, e.g. mpijob-bench",
            )
        self.name = name
        self.state_dir = cluster_state_dir(name)
        self.kwok_workdir = self.state_dir / "kwok"
        self.cluster_dir = self.kwok_workdir / "clusters" / name
        self.kubeconfig = self.cluster_dir / "kubeconfig.yaml"
        self.operator_pid_path = self.state_dir / "mpi-operator.pid"
        self.operator_log_path = self.state_dir / "mpi-operator.log"
        self.info_path = self.state_dir / "cluster.json"

    # -- queries -----------------------------------------------------------------------

    def exists(self) -> bool:
        return self.info_path.exists()

    def info(self) -> dict:
        return json.loads(self.info_path.read_text())

    def is_healthy(self) -> bool:
        if not self.exists() or not self.kubeconfig.exists():
            return False
        return all(status.running for status in self.status())

    def status(self) -> list[ComponentStatus]:
        versions = self.info().get("versions", {}) if self.exists() else {}
        statuses = []
        owned = {process.name: process for process in self.kwok_components()}
        for pid_file in sorted((self.cluster_dir / "pids").glob("*.pid")):
            component = pid_file.stem
            process = owned.get(component)
            statuses.append(
                ComponentStatus(
                    component,
                    _component_version(component, versions),
                    process.pid if process else _read_pid(pid_file),
                    process is not None and process.is_running(),
                )
            )
        operator = TrackedProcess.load(self.operator_pid_path)
        if operator is not None or self.exists():
            statuses.append(
                ComponentStatus(
                    "mpi-operator",
                    versions.get("mpi-operator", "unknown"),
                    _operator_pid(operator),
                    operator.is_running() if operator else False,
                )
            )
        return statuses

    def kwok_components(self) -> list[TrackedProcess]:
        """Return the live processes named in kwokctl's PID files that belong to this cluster.

        A PID counts only while its command line names this cluster's folder, so a PID file
        left behind after a reboot never leads to signalling an unrelated process.
        """
        found = []
        for pid_file in sorted((self.cluster_dir / "pids").glob("*.pid")):
            pid = _read_pid(pid_file)
            process = TrackedProcess.from_pid(pid_file.stem, pid) if pid else None
            if process and any(str(self.state_dir) in argument for argument in process.argv):
                found.append(process)
        return found

    # -- lifecycle -----------------------------------------------------------------------

    def up(self, options: ClusterOptions) -> bool:
        """Start the cluster; returns False when it was already running and healthy."""
        options.validate()
        if self.is_healthy():
            log.info("cluster %s is already running; kubeconfig: %s", self.name, self.kubeconfig)
            return False
        if self.exists() or self.cluster_dir.exists():
            log.warning(
                "cluster %s has stale state from an earlier run; cleaning it up first", self.name
            )
            self.down()

        toolchain = ensure_toolchain()
        _check_port_free(
            OPERATOR_HEALTH_PORT, "the MPI Operator's health server", all_interfaces=True
        )
        if options.apiserver_port is not None:
            _check_port_free(options.apiserver_port, "--apiserver-port")

        started = time.monotonic()
        try:
            self._create(options, toolchain)
        except BaseException:
            log.error("cluster %s did not come up; stopping what was started", self.name)
            self.down(quiet=True)
            raise
        log.info(
            "cluster %s is up in %.1f s; kubeconfig: %s",
            self.name,
            time.monotonic() - started,
            self.kubeconfig,
        )
        return True

    def _create(self, options: ClusterOptions, toolchain: Toolchain) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.info_path.write_text(
            json.dumps(
                {"name": self.name, "options": asdict(options), "versions": toolchain.versions},
                indent=2,
            )
        )
        with console.status(f"starting the control plane of {self.name} (kwokctl, binary runtime)"):
            self._kwokctl_create(options, toolchain)
        with console.status("applying KWOK stages, nodes and the MPIJob CRD"):
            self.kubectl(toolchain, "apply", "--server-side", "-f", str(STAGES_DIR))
            self.kubectl(toolchain, "apply", "--server-side", "-f", str(toolchain.mpijob_crd))
            self.kubectl(
                toolchain, "apply", "--server-side", "-f", "-", stdin=_nodes_manifest(options)
            )
            self.kubectl(toolchain, "create", "namespace", OPERATOR_NAMESPACE)
            self.kubectl(
                toolchain,
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/mpijobs.kubeflow.org",
            )
            self.kubectl(
                toolchain, "wait", "--for=condition=Ready", "--timeout=120s", "node", "--all"
            )
        log.info("%d simulated nodes Ready, MPIJob CRD established", options.nodes)
        with console.status("starting the MPI Operator"):
            self._start_operator(options, toolchain)

    def _kwokctl_create(self, options: ClusterOptions, toolchain: Toolchain) -> None:
        config_path = self.state_dir / "kwokctl.yaml"
        config_path.write_text(yaml.safe_dump(_kwokctl_config(options, toolchain), sort_keys=False))
        argv = [
            str(toolchain.binaries["kwokctl"]),
            "--name",
            self.name,
            "create",
            "cluster",
            "--config",
            str(config_path),
            "--kubeconfig",
            "",
            "--wait",
            f"{int(options.timeout_s)}s",
        ]
        result = self._run_kwokctl(argv, toolchain, timeout_s=options.timeout_s + 60)
        if result.returncode != 0:
            raise ClusterError(
                f"kwokctl could not create cluster {self.name} (exit {result.returncode}):\n"
                + _tail(result.stdout, 20),
                hint=f"component logs are in {self.cluster_dir / 'logs'}",
            )

    def _run_kwokctl(
        self, argv: list[str], toolchain: Toolchain, timeout_s: float
    ) -> subprocess.CompletedProcess:
        log.debug("running %s", " ".join(argv))
        env = {
            **os.environ,
            "KWOK_WORKDIR": str(self.kwok_workdir),
            "PATH": f"{toolchain.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
        result.stdout = (result.stdout or "") + (result.stderr or "")
        log.debug("kwokctl output:\n%s", result.stdout)
        return result

    def _start_operator(self, options: ClusterOptions, toolchain: Toolchain) -> None:
        argv = [
            str(toolchain.binaries["mpi-operator"]),
            "--kubeConfig",
            str(self.kubeconfig),
            "--lock-namespace",
            OPERATOR_NAMESPACE,
            "--kube-api-qps",
            str(options.operator_qps),
            "--kube-api-burst",
            str(options.operator_burst),
            "--threadiness",
            str(options.operator_threadiness),
        ]
        env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
        operator = start_process(
            "mpi-operator", _supervised(argv), self.operator_log_path, self.operator_pid_path, env
        )
        self._wait_operator_leader(operator, options.timeout_s)
        log.info(
            "MPI Operator running (pid %d, qps %d, burst %d, threadiness %d)",
            operator.pid,
            options.operator_qps,
            options.operator_burst,
            options.operator_threadiness,
        )

    def apply_operator_options(self, options: ClusterOptions) -> bool:
        """Restart the operator if its flags differ from options; True if it was restarted."""
        info = self.info()
        current = info.get("options", {})
        keys = ("operator_qps", "operator_burst", "operator_threadiness")
        if all(current.get(key) == getattr(options, key) for key in keys):
            return False
        log.info(
            "restarting the MPI Operator: qps %s -> %d, burst %s -> %d, threadiness %s -> %d",
            current.get("operator_qps"),
            options.operator_qps,
            current.get("operator_burst"),
            options.operator_burst,
            current.get("operator_threadiness"),
            options.operator_threadiness,
        )
        operator = TrackedProcess.load(self.operator_pid_path)
        if operator is not None:
            stop_process(operator)
        _wait_port_released(OPERATOR_HEALTH_PORT)
        toolchain = ensure_toolchain(build=False)
        self._start_operator(options, toolchain)
        info["options"] = {**current, **{key: getattr(options, key) for key in keys}}
        self.info_path.write_text(json.dumps(info, indent=2))
        return True

    def _wait_operator_leader(self, operator: TrackedProcess, timeout_s: float) -> None:
        # /healthz turns 200 once the operator holds its leader-election lease.
        deadline = time.monotonic() + timeout_s
        url = f"http://{LOOPBACK}:{OPERATOR_HEALTH_PORT}/healthz"
        while time.monotonic() < deadline:
            if (
                not operator.is_running()
                or OPERATOR_RESTART_MARKER in self.operator_log_path.read_text()
            ):
                raise ClusterError(
                    "the MPI Operator exited during start-up:\n"
                    + _tail(self.operator_log_path.read_text(), 15),
                    hint=f"full log: {self.operator_log_path}",
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise ClusterError(
            f"the MPI Operator did not become ready within {timeout_s:.0f} s",
            hint=f"see {self.operator_log_path}",
        )

    def down(self, quiet: bool = False) -> bool:
        """Stop every process of the cluster and remove its folder; False if nothing was there."""
        if not self.state_dir.exists():
            if not quiet:
                log.info("no cluster named %s is running; nothing to stop", self.name)
            return False
        operator = TrackedProcess.load(self.operator_pid_path)
        if operator is not None:
            stop_process(operator)
        # kwokctl removes its PID files and returns before the processes have exited, so the
        # list is taken first and each process is waited for afterwards.
        components = self.kwok_components()
        self._delete_kwok_cluster()
        self._wait_components_stopped(components)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        if not quiet:
            log.info("cluster %s stopped and its state removed", self.name)
        return True

    def _delete_kwok_cluster(self) -> None:
        kwokctl = self._kwokctl_path()
        if kwokctl is None or not self.cluster_dir.exists():
            return
        # kwokctl removes the cluster's context from the file given here; pointing it at a file
        # inside the state folder keeps the user's ~/.kube/config untouched.
        untouched = self.state_dir / "kwokctl-context.yaml"
        argv = [
            str(kwokctl),
            "--name",
            self.name,
            "delete",
            "cluster",
            "--kubeconfig",
            str(untouched),
        ]
        env = {**os.environ, "KWOK_WORKDIR": str(self.kwok_workdir)}
        try:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                log.warning(
                    "kwokctl delete cluster failed; stopping components by PID:\n%s",
                    _tail(result.stderr, 10),
                )
        except subprocess.TimeoutExpired:
            log.warning("kwokctl delete cluster timed out; stopping components by PID")

    def _wait_components_stopped(self, components: list[TrackedProcess]) -> None:
        deadline = time.monotonic() + _COMPONENT_EXIT_WAIT_S
        for process in components:
            while process.is_running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.is_running():
                log.warning(
                    "%s (pid %d) still running after kwokctl delete; terminating it",
                    process.name,
                    process.pid,
                )
                stop_process(process)

    def _kwokctl_path(self) -> Path | None:
        config_path = self.state_dir / "kwokctl.yaml"
        if not config_path.exists():
            return None
        config = yaml.safe_load(config_path.read_text())
        kwok_binary = Path(config["options"]["kwokControllerBinary"])
        return kwok_binary.with_name("kwokctl")

    def kubectl(
        self, toolchain: Toolchain, *args: str, stdin: str | None = None, timeout_s: float = 180
    ) -> str:
        argv = [str(toolchain.binaries["kubectl"]), "--kubeconfig", str(self.kubeconfig), *args]
        log.debug("running %s", " ".join(argv))
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout_s
        )
        if result.returncode != 0:
            raise ClusterError(f"`kubectl {' '.join(args)}` failed:\n{result.stderr.strip()}")
        return result.stdout


def _supervised(argv: list[str]) -> list[str]:
    """Wrap argv in a shell loop that restarts it, as a Deployment's pod would be restarted.

    The operator exits when it cannot renew its leader lease within 5 s (v0.8.0), for example
    while the API server restarts. Each restart is logged with OPERATOR_RESTART_MARKER.
    """
    loop = f'while :; do "$@"; echo "{OPERATOR_RESTART_MARKER}: exit code $?" >&2; sleep 1; done'
    return ["/bin/sh", "-c", loop, "mpi-operator-supervisor", *argv]


def _operator_pid(supervisor: TrackedProcess | None) -> int | None:
    """Return the PID of the operator process itself, below its restart loop."""
    if supervisor is None or not supervisor.is_running():
        return supervisor.pid if supervisor else None
    try:
        for child in psutil.Process(supervisor.pid).children():
            if child.name() == "mpi-operator":
                return child.pid
    except psutil.Error:
        pass
    return supervisor.pid


def operator_restarts(log_path: Path) -> int:
    try:
        return log_path.read_text(errors="replace").count(OPERATOR_RESTART_MARKER)
    except FileNotFoundError:
        return 0


def _kwokctl_config(options: ClusterOptions, toolchain: Toolchain) -> dict:
    binaries = toolchain.binaries
    config_options = {
        "runtime": "binary",
        "bindAddress": LOOPBACK,
        "kubeVersion": toolchain.versions["kubernetes"],
        "etcdBinary": str(binaries["etcd"]),
        "kubeApiserverBinary": str(binaries["kube-apiserver"]),
        "kubeControllerManagerBinary": str(binaries["kube-controller-manager"]),
        "kubeSchedulerBinary": str(binaries["kube-scheduler"]),
        "kwokControllerBinary": str(binaries["kwok"]),
        "kubectlBinary": str(binaries["kubectl"]),
        "enableCRDs": KWOK_CRDS,
    }
    if options.apiserver_port is not None:
        config_options["kubeApiserverPort"] = options.apiserver_port
    # One instance of each: leader election only adds a way to die when the API server is
    # briefly unreachable (a lost lease makes the process exit).
    no_leader_election = [{"key": "leader-elect", "value": "false"}]
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": config_options,
        "componentsPatches": [
            {"name": "kube-controller-manager", "extraArgs": no_leader_election},
            {"name": "kube-scheduler", "extraArgs": no_leader_election},
        ],
    }


def _nodes_manifest(options: ClusterOptions) -> str:
    resources = {
        "cpu": options.node_cpu,
        "memory": options.node_memory,
        "pods": str(options.node_pods),
        "nvidia.com/gpu": str(options.node_gpus),
    }
    nodes = []
    for index in range(options.nodes):
        name = f"kwok-node-{index}"
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": dict(NODE_ANNOTATION),
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        "nvidia.com/gpu.present": "true",
                    },
                },
                "status": {"capacity": resources, "allocatable": resources},
            }
        )
    return yaml.safe_dump_all(nodes, sort_keys=False)


def _check_port_free(port: int, purpose: str, all_interfaces: bool = False) -> None:
    address = "" if all_interfaces else LOOPBACK
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Go servers set SO_REUSEADDR, so connections left in TIME_WAIT do not block them;
        # the probe must ignore those too.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as error:
            raise ClusterError(
                f"port {port}, needed by {purpose}, is already in use{_port_owner(port)} ({error.strerror})",
                hint="stop the process that holds it; if it is another local cluster, stop that one "
                "with `mpijob-bench cluster down --name NAME`",
            ) from error


def _wait_port_released(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _check_port_free(port, "the MPI Operator's health server", all_interfaces=True)
            return
        except ClusterError:
            time.sleep(0.2)
    _check_port_free(port, "the MPI Operator's health server", all_interfaces=True)


def _port_owner(port: int) -> str:
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if (
                connection.laddr
                and connection.laddr.port == port
                and connection.status == psutil.CONN_LISTEN
            ):
                if connection.pid:
                    return f" by {psutil.Process(connection.pid).name()} (pid {connection.pid})"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _component_version(component: str, versions: dict[str, str]) -> str:
    if component.startswith("kube-"):
        return versions.get("kubernetes", "unknown")
    if component.startswith("kwok"):
        return versions.get("kwok", "unknown")
    return versions.get(component, "unknown")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])

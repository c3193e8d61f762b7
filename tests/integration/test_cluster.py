"""The local cluster as a user drives it: status, versions, loopback binding, bad input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil
from kubernetes import client

from harness.paths import cluster_state_dir
from tests.integration.conftest import TEST_CLUSTER, bench

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "mpi-operator",
)
LOOPBACK = {"127.0.0.1", "::1"}


def test_status_lists_every_component(cluster):
    result = bench("cluster", "status", "--name", TEST_CLUSTER)
    assert result.returncode == 0, result.stderr
    for component in COMPONENTS:
        line = next((row for row in result.stdout.splitlines() if component in row), None)
        assert line is not None, f"{component} missing from status:\n{result.stdout}"
        assert "running" in line
    assert "v1.36.3" in result.stdout
    assert str(cluster.kubeconfig) in result.stdout.replace("\n", "")


def test_binaries_report_pinned_versions(toolchain):
    expectations = {
        "kube-apiserver": (["--version"], "Kubernetes v1.36.3"),
        "kube-scheduler": (["--version"], "Kubernetes v1.36.3"),
        "kube-controller-manager": (["--version"], "Kubernetes v1.36.3"),
        "kubectl": (["version", "--client"], "v1.36.3"),
        "etcd": (["--version"], "3.6.17"),
        "kwokctl": (["--version"], "0.8.0"),
        "mpi-operator": (["--version"], "v0.8.0"),
    }
    for binary, (args, expected) in expectations.items():
        output = subprocess.run(
            [str(toolchain.binaries[binary]), *args], capture_output=True, text=True, timeout=30
        )
        assert expected in output.stdout + output.stderr, (
            f"{binary} {args}: {output.stdout}{output.stderr}"
        )


def test_control_plane_listens_on_loopback_only(cluster):
    kwok_components = [s for s in cluster.status() if s.name != "mpi-operator"]
    assert len(kwok_components) == 5
    for status in kwok_components:
        listening = [
            c
            for c in psutil.Process(status.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, f"{status.name} listens on nothing"
        for connection in listening:
            assert connection.laddr.ip in LOOPBACK, f"{status.name} listens on {connection.laddr}"


def test_nodes_advertise_gpus(api):
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) == 8
    for node in nodes:
        assert node.status.allocatable["nvidia.com/gpu"] == "8"
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True"


def test_mpijob_crd_served(api):
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition("mpijobs.kubeflow.org")
    assert "v2beta1" in [version.name for version in crd.spec.versions]


def test_up_again_reports_running_cluster(cluster):
    pids_before = {s.name: s.pid for s in cluster.status()}
    result = bench("cluster", "up", "--name", TEST_CLUSTER)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr
    assert {s.name: s.pid for s in cluster.status()} == pids_before
    assert cluster.is_healthy()


def test_second_cluster_reports_operator_port_taken(cluster):
    result = bench("cluster", "up", "--name", "mpijob-bench-second")
    assert result.returncode == 2
    assert "port 8080" in result.stderr
    assert "already in use" in result.stderr
    assert not cluster_state_dir("mpijob-bench-second").exists()


def test_missing_go_toolchain_is_reported():
    venv_bin = str(Path(os.sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}:/usr/bin:/bin"}
    env.pop("GOROOT", None)
    result = bench("cluster", "install", env=env)
    assert result.returncode == 2
    assert "Go toolchain was not found" in result.stderr
    assert "https://go.dev/dl/" in result.stderr


def test_status_of_unknown_cluster():
    result = bench("cluster", "status", "--name", "mpijob-bench-absent")
    assert result.returncode == 0
    assert "no cluster named mpijob-bench-absent" in result.stderr

"""Stopping the cluster and failed starts leave no process, port or directory behind.

These tests run after every other test because they stop the shared cluster or need the
operator's fixed port 8080 to be free.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from harness.paths import cluster_state_dir
from tests.integration.conftest import REPO, TEST_CLUSTER, bench

pytestmark = pytest.mark.after_cluster


def processes_under(path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        # A zombie has exited and owns no resources. Only its parent's wait() is pending.
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(path) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def listening_ports(pids) -> set[int]:
    ports = set()
    for connection in psutil.net_connections(kind="inet"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in pids:
            ports.add(connection.laddr.port)
    return ports


def test_down_leaves_nothing_behind(cluster):
    statuses = cluster.status()
    pids = {s.pid for s in statuses}
    ports = listening_ports(pids)
    assert len(pids) == 6
    assert ports

    result = bench("cluster", "down", "--name", TEST_CLUSTER)

    assert result.returncode == 0, result.stderr
    assert all(
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        for pid in pids
    )
    assert not cluster_state_dir(TEST_CLUSTER).exists()
    assert processes_under(cluster_state_dir(TEST_CLUSTER)) == []
    still_listening = {
        c.laddr.port for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    }
    assert ports.isdisjoint(still_listening)


def test_down_without_cluster_exits_zero():
    result = bench("cluster", "down", "--name", "mpijob-bench-absent")
    assert result.returncode == 0
    assert "nothing to stop" in result.stderr


def test_apiserver_port_taken_is_reported():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        if port < 1024:
            pytest.fail("the kernel handed out a privileged port")
        result = bench(
            "cluster", "up", "--name", "mpijob-bench-port", "--apiserver-port", str(port)
        )
    assert result.returncode == 2
    assert f"port {port}" in result.stderr
    assert "--apiserver-port" in result.stderr
    assert not cluster_state_dir("mpijob-bench-port").exists()


def test_interrupt_during_up_stops_everything():
    name = "mpijob-bench-interrupt"
    state_dir = cluster_state_dir(name)
    child = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "cluster", "up", "--name", name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Wait until kwokctl has started components, so the interrupt lands mid-start.
    while time.monotonic() < deadline and not list((state_dir / "kwok").rglob("*.pid")):
        time.sleep(0.2)
    assert list((state_dir / "kwok").rglob("*.pid")), "kwokctl never started a component"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=180)

    assert child.returncode == 130, stderr
    assert not state_dir.exists()
    assert processes_under(state_dir) == []

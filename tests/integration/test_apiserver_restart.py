"""A restart of kube-apiserver in the middle of a run loses no MPIJob transition."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import psutil
from kubernetes import client

from harness.runner import RunOptions, run

SCENARIO = """
name: apiserver-restart
steps:
  - mpijob:
      name: survives-restart
      workers: 4
      run_duration: 20s
      timeout: 180s
success_metrics:
  - {name: MPIJob succeeded, kind: mpijob_outcome, metric: succeeded, stat: min, op: "==", threshold: 1, unit: bool}
"""


def restart_apiserver(cluster) -> None:
    pid_file = cluster.cluster_dir / "pids" / "kube-apiserver.pid"
    old = psutil.Process(int(pid_file.read_text()))
    argv, cwd = old.cmdline(), old.cwd()
    # SIGKILL, as in a crash: a graceful kube-apiserver shutdown takes tens of seconds.
    old.kill()
    old.wait(30)
    with open(cluster.cluster_dir / "logs" / "kube-apiserver.log", "ab") as log_file:
        new = subprocess.Popen(
            argv, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    pid_file.write_text(str(new.pid))  # so `cluster down` stops the new process


def wait_running(api, name: str, timeout_s: float = 120) -> None:
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            job = custom.get_namespaced_custom_object(
                "kubeflow.org", "v2beta1", "default", "mpijobs", name
            )
            conditions = job.get("status", {}).get("conditions", [])
            if any(c["type"] == "Running" and c["status"] == "True" for c in conditions):
                return
        except client.exceptions.ApiException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{name} never reached Running")


def test_watch_survives_apiserver_restart(cluster, api, tmp_path):
    scenario = tmp_path / "restart.yaml"
    scenario.write_text(SCENARIO)
    out_dir = tmp_path / "run"
    errors: list[BaseException] = []

    def restart_when_running() -> None:
        try:
            wait_running(api, "survives-restart")
            restart_apiserver(cluster)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    restarter = threading.Thread(target=restart_when_running)
    restarter.start()
    run(RunOptions(scenario, {}, out_dir, kubeconfig=str(cluster.kubeconfig)))
    restarter.join()
    assert errors == []

    results = json.loads((out_dir / "results.json").read_text())
    phases = {r["labels"]["phase"] for r in results["records"] if r["kind"] == "mpijob_phase"}
    assert {"created", "workers_running", "running", "launcher_finished", "succeeded"} <= phases
    restarts = [
        r["value"] for r in results["records"] if r["kind"] == "watch" and r["metric"] == "restarts"
    ]
    assert restarts[0] >= 1
    assert cluster.is_healthy()

import os
import selectors
import subprocess
import sys
import time
from contextlib import contextmanager

import psutil
import pytest

from clusters.kwok.provider import ComponentStatus
from harness.measurements.resource_usage import ResourceSampler, control_plane_pids

# SPINNER and EXIT_ON_INPUT wait for a line on stdin before they act, so the test decides when.
SLEEPER = "import time; time.sleep(120)"
# Spins 0.3 s of its own CPU time, reports it, then sleeps.
SPINNER = """
import sys, time
sys.stdin.readline()
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print("spun", flush=True)
time.sleep(120)
"""
EXIT_ON_INPUT = "import sys; sys.stdin.readline()"
CHILD_TIMEOUT_S = 60


@contextmanager
def children(**scripts):
    processes = {}
    try:
        for name, script in scripts.items():
            processes[name] = subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        yield processes
    finally:
        for process in processes.values():
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()


def send_line(process):
    process.stdin.write("go\n")
    process.stdin.flush()


def read_line(process, timeout_s=CHILD_TIMEOUT_S):
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise TimeoutError(f"child pid {process.pid} wrote nothing within {timeout_s} s")
    return process.stdout.readline().strip()


def wait_until_zombie(pid, timeout_s=CHILD_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return
        time.sleep(0.01)
    raise TimeoutError(f"child pid {pid} did not exit within {timeout_s} s")


def by_metric(records, component):
    return {record.metric: record for record in records if record.labels["component"] == component}


def fake_clock(*readings):
    iterator = iter(readings)
    return lambda: next(iterator)


def test_busy_process_costs_more_cpu():
    with children(spinner=SPINNER, sleeper=SLEEPER) as procs:
        pids = {name: process.pid for name, process in procs.items()}
        with ResourceSampler(pids, interval_s=0.05) as sampler:
            send_line(procs["spinner"])
            assert read_line(procs["spinner"]) == "spun"

        records = sampler.records({"step": 1})
        spinner = by_metric(records, "spinner")
        sleeper = by_metric(records, "sleeper")

    assert spinner["cpu_seconds"].value > sleeper["cpu_seconds"].value
    # The child measured 0.3 s of its own CPU time. The kernel counts it in clock ticks, so the
    # sampler may read a little less.
    assert spinner["cpu_seconds"].value >= 0.25
    assert spinner["cpu_cores"].value > sleeper["cpu_cores"].value
    for component in (spinner, sleeper):
        assert component["peak_rss"].value > 0
        assert component["peak_rss"].unit == "MiB"
        assert component["cpu_seconds"].unit == "s"
        assert component["cpu_cores"].unit == "cores"
        assert component["cpu_seconds"].kind == "control_plane_cost"
        assert component["cpu_seconds"].labels == {
            "component": component["cpu_seconds"].labels["component"],
            "step": 1,
        }


def test_exit_mid_run_keeps_sampling():
    with children(short=EXIT_ON_INPUT, spinner=SPINNER) as procs:
        pids = {name: process.pid for name, process in procs.items()}
        with ResourceSampler(pids, interval_s=0.05) as sampler:
            send_line(procs["short"])
            procs["short"].wait(CHILD_TIMEOUT_S)
            sampler.sample()
            samples_at_exit = sampler.usage()["spinner"].samples
            send_line(procs["spinner"])
            assert read_line(procs["spinner"]) == "spun"

        usage = sampler.usage()
        records = sampler.records()

    assert usage["short"].exited
    assert usage["short"].samples >= 1
    assert not usage["spinner"].exited
    assert usage["spinner"].samples > samples_at_exit
    assert "peak_rss" in by_metric(records, "short")
    assert by_metric(records, "spinner")["cpu_seconds"].value >= 0.25


def test_unreaped_child_counts_as_exited():
    with children(short=EXIT_ON_INPUT) as procs:
        sampler = ResourceSampler({"short": procs["short"].pid})
        sampler.sample()
        send_line(procs["short"])
        wait_until_zombie(procs["short"].pid)
        sampler.sample()
        usage = sampler.usage()["short"]

    assert usage.exited
    assert usage.samples == 1


def test_missing_pid_yields_no_records():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    sampler = ResourceSampler({"gone": finished.pid, "harness": os.getpid()}, interval_s=0.05)
    with sampler:
        pass

    assert sampler.usage()["gone"].exited
    assert sampler.usage()["gone"].samples == 0
    assert {record.labels["component"] for record in sampler.records()} == {"harness"}


def test_fake_clock_sets_window():
    with children(sleeper=SLEEPER) as procs:
        sampler = ResourceSampler({"sleeper": procs["sleeper"].pid}, clock=fake_clock(100.0, 110.0))
        sampler.sample()
        sampler.sample()
        usage = sampler.usage()["sleeper"]
        records = by_metric(sampler.records(), "sleeper")

    assert usage.samples == 2
    assert usage.wall_seconds == 10.0
    assert records["cpu_seconds"].value == usage.cpu_seconds
    assert records["cpu_cores"].value == pytest.approx(usage.cpu_seconds / 10.0)
    assert records["peak_rss"].value == usage.peak_rss_bytes / 2**20


def test_single_sample_only_peak_rss():
    sampler = ResourceSampler({"harness": os.getpid()}, clock=fake_clock(5.0))
    sampler.sample()
    records = sampler.records()

    assert [record.metric for record in records] == ["peak_rss"]
    assert records[0].value > 0


def test_zero_window_has_no_cpu_cores():
    sampler = ResourceSampler({"harness": os.getpid()}, clock=fake_clock(5.0, 5.0))
    sampler.sample()
    sampler.sample()
    metrics = [record.metric for record in sampler.records()]
    assert metrics == ["cpu_seconds", "peak_rss"]


def test_sampler_runs_once():
    sampler = ResourceSampler({"harness": os.getpid()}, interval_s=0.05)
    with sampler, pytest.raises(RuntimeError, match="already started"):
        sampler.start()
    with pytest.raises(RuntimeError, match="already started"):
        sampler.start()


def test_stop_without_start_is_noop():
    sampler = ResourceSampler({"harness": os.getpid()})
    sampler.stop()
    assert sampler.records() == []


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval_s must be positive"):
        ResourceSampler({}, interval_s=0)


def test_control_plane_pids_skip_stopped():
    statuses = [
        ComponentStatus("kube-apiserver", "v1.36.0", 101, True),
        ComponentStatus("etcd", "v3.6.13", 102, False),
        ComponentStatus("mpi-operator", "unknown", None, False),
    ]
    assert control_plane_pids(statuses) == {"kube-apiserver": 101, "harness": os.getpid()}
    assert control_plane_pids(statuses, include_harness=False) == {"kube-apiserver": 101}

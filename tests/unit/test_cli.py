"""The console command's handling of bad input; nothing here starts a cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["cluster"],
        ["cluster", "install"],
        ["cluster", "up"],
        ["cluster", "down"],
        ["cluster", "status"],
        ["run"],
        ["sweep"],
    ],
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: mpijob-bench" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["..", "../victim", "/tmp/x", "", "Bad_Name", "-lead"])
def test_cluster_name_rejected(name):
    result = bench("cluster", "down", f"--name={name}")
    assert result.returncode == 2
    assert "invalid cluster name" in result.stderr


def test_verbose_after_subcommand():
    result = bench("cluster", "status", "-v", "--name", "mpijob-bench-absent")
    assert result.returncode == 0


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5", "soon"])
def test_timeout_must_be_positive(value):
    result = bench("cluster", "up", "--timeout", value)
    assert result.returncode == 2
    assert "--timeout" in result.stderr


@pytest.mark.parametrize("port", ["80", "-1", "70000", "http"])
def test_apiserver_port_range(port):
    result = bench("cluster", "up", "--apiserver-port", port)
    assert result.returncode == 2
    assert "--apiserver-port" in result.stderr


def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "copy.yaml"
    path.write_text("name: copy\nsteps:\n  - memcpy: {size: 1Mi, repeats: 1}\n")
    return path


def test_out_path_that_is_a_file(tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = bench("run", str(scenario_file(tmp_path)), "--out", str(target))
    assert result.returncode == 2
    assert "is not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_out_path_below_a_file(tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = bench("run", str(scenario_file(tmp_path)), "--out", str(target / "sub"))
    assert result.returncode == 2
    assert "cannot create output directory" in result.stderr


def test_out_dir_not_empty_is_left_alone(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = bench("run", str(scenario_file(tmp_path)), "--out", str(out))
    assert result.returncode == 2
    assert "is not empty" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_malformed_kubeconfig(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: [\n")
    scenario = tmp_path / "job.yaml"
    scenario.write_text("name: job\nsteps:\n  - mpijob: {}\n")
    result = bench(
        "run", str(scenario), "--kubeconfig", str(kubeconfig), "--out", str(tmp_path / "run")
    )
    assert result.returncode == 2
    assert "cannot load kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr


def test_memcpy_only_run_writes_results(tmp_path):
    out = tmp_path / "run"
    result = bench("run", str(scenario_file(tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("results.json", "results.csv", "summary.md", "junit.xml", "PerfData_memcpy.json"):
        assert (out / name).exists(), name

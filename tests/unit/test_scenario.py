from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario
from harness.scenario.units import parse_duration, parse_size

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, **params: str) -> list[str]:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(write(tmp_path, text), params)
    return raised.value.problems


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").rglob("*.yaml")), ids=lambda p: p.name)
def test_bundled_scenarios_validate(path):
    scenario, digest = load_scenario(path)
    assert scenario.steps
    assert len(digest) == 64


def test_smoke_scenario_parameters():
    scenario, _ = load_scenario(REPO / "scenarios/smoke.yaml", {"workers": "7"})
    mpijob = scenario.steps[1].mpijob
    assert mpijob.workers == 7
    assert scenario.needs_cluster


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError) as raised:
        load_scenario(tmp_path / "nope.yaml")
    assert raised.value.problems == ["file not found"]
    assert "scenarios/" in raised.value.hint


def test_yaml_syntax_error_names_line(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - mpijob: {workers: 2\n")
    assert len(found) == 1
    assert "YAML syntax error" in found[0]
    assert found[0].startswith("line ")


def test_unknown_field_lists_allowed(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - mpijob:\n      wokers: 3\n")
    assert found[0].startswith("steps[0].mpijob.wokers: unknown field")
    assert "workers" in found[0]


@pytest.mark.parametrize("workers", [0, -1])
def test_worker_count_must_be_positive(tmp_path, workers):
    found = problems(tmp_path, f"name: x\nsteps:\n  - mpijob:\n      workers: {workers}\n")
    assert found == ["steps[0].mpijob.workers: Input should be greater than 0"]


def test_every_problem_reported_at_once(tmp_path):
    text = "name: x\nsteps:\n  - mpijob: {workers: 0}\n  - allreduce: {ranks: 0}\nextra: 1\n"
    found = problems(tmp_path, text)
    assert len(found) == 3
    assert any(p.startswith("steps[1].allreduce.ranks") for p in found)
    assert any(p.startswith("extra: unknown field") for p in found)


def test_step_needs_exactly_one_kind(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - mpijob: {}\n    allreduce: {}\n")
    assert "exactly one of allreduce, horovod, memcpy, mpijob" in found[0]


def test_allreduce_size_smaller_than_element(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - allreduce: {min_bytes: 2}\n")
    assert "smaller than one float32 element" in found[0]


def test_allreduce_max_below_min(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - allreduce: {min_bytes: 1Mi, max_bytes: 1Ki}\n")
    assert "below min_bytes" in found[0]


def test_invalid_job_name(tmp_path):
    found = problems(tmp_path, "name: x\nsteps:\n  - mpijob: {name: Bad_Name}\n")
    assert "not a valid Kubernetes name" in found[0]


def test_unknown_parameter(tmp_path):
    found = problems(
        tmp_path, "name: x\nsteps:\n  - mpijob: {workers: {{ w | default(2) }}}\n", nope="1"
    )
    assert "--param nope" in found[0]
    assert "w" in found[0]


def test_kubeconfig_only_with_existing_provider(tmp_path):
    found = problems(tmp_path, "name: x\ncluster: {kubeconfig: /k}\nsteps:\n  - mpijob: {}\n")
    assert "provider: existing" in found[0]


def test_no_steps(tmp_path):
    found = problems(tmp_path, "name: x\nsteps: []\n")
    assert found[0].startswith("steps:")


def test_document_must_be_mapping(tmp_path):
    found = problems(tmp_path, "- 1\n- 2\n")
    assert "mapping" in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (8, 8),
        ("64", 64),
        ("64K", 65536),
        ("64Ki", 65536),
        ("64Mi", 64 * 2**20),
        ("1G", 2**30),
        ("2MiB", 2 * 2**20),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [(90, 90.0), ("500ms", 0.5), ("2s", 2.0), ("5m", 300.0), ("1h", 3600.0)]
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["abc", "5 parsecs", "-1s"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)

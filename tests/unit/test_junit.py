import xml.etree.ElementTree as ET

from harness.report.junit import write_junit
from harness.results.run import RunResults
from harness.results.verdicts import Verdict


def verdict(name: str, passed: bool, observed: float = 0.5) -> Verdict:
    return Verdict(name, passed, observed, "<=", 1.0, "s", 10, detail="p99 of 10")


def results(tmp_path, verdicts, status="complete", error=None) -> RunResults:
    run = RunResults("smoke", tmp_path / "run", {"nodes": 8}, verdicts=verdicts, status=status)
    run.error = error
    return run


def parse(path):
    return ET.parse(path).getroot()


def test_suite_named_after_scenario(tmp_path):
    suite = parse(write_junit(results(tmp_path, [verdict("a", True)]), tmp_path / "junit.xml"))
    assert suite.tag == "testsuite"
    assert suite.get("name") == "smoke"


def test_passing_verdicts_have_no_failure(tmp_path):
    run = results(tmp_path, [verdict("startup p99", True), verdict("create p99", True)])
    suite = parse(write_junit(run, tmp_path / "junit.xml"))

    assert suite.get("tests") == "2"
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["startup p99", "create p99"]
    for case in cases:
        assert case.get("classname") == "success_metrics"
        assert case.get("time") == "0"
        assert case.find("failure") is None


def test_failed_verdict_carries_line(tmp_path):
    failed = verdict("create p99", False, observed=3.0)
    run = results(tmp_path, [verdict("startup p99", True), failed])
    suite = parse(write_junit(run, tmp_path / "junit.xml"))

    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "0"
    failure = suite.find("testcase[@name='create p99']/failure")
    assert failure is not None
    assert failure.get("message") == failed.line()
    assert failure.get("message").startswith("FAIL create p99: 3 s <= 1 s")
    assert suite.find("testcase[@name='startup p99']/failure") is None


def test_partial_run_adds_failed_case(tmp_path):
    run = results(tmp_path, [verdict("a", True)])
    run.mark_partial("step 2 timed out after 300 s")
    suite = parse(write_junit(run, tmp_path / "junit.xml"))

    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    case = suite.find("testcase[@name='run completed']")
    assert case is not None
    assert case.get("classname") == "run"
    assert case.find("failure").get("message") == "step 2 timed out after 300 s"


def test_partial_run_without_error(tmp_path):
    run = results(tmp_path, [], status="partial", error=None)
    suite = parse(write_junit(run, tmp_path / "junit.xml"))
    message = suite.find("testcase[@name='run completed']/failure").get("message")
    assert message == "the run stopped early and recorded no reason"


def test_complete_run_has_no_run_case(tmp_path):
    for status in ("complete", "running"):
        suite = parse(write_junit(results(tmp_path, [], status=status), tmp_path / "junit.xml"))
        assert suite.get("tests") == "0"
        assert suite.get("failures") == "0"
        assert suite.find("testcase") is None


def test_markup_characters_round_trip(tmp_path):
    name = 'p99 <= 1 s & "quoted"'
    suite = parse(write_junit(results(tmp_path, [verdict(name, False)]), tmp_path / "junit.xml"))
    assert suite.find("testcase").get("name") == name


def test_control_characters_replaced(tmp_path):
    run = results(tmp_path, [], status="partial", error="kubectl failed: \x1b[31mboom\x1b[0m\x00")
    suite = parse(write_junit(run, tmp_path / "junit.xml"))
    message = suite.find("testcase/failure").get("message")
    assert message == "kubectl failed: \ufffd[31mboom\ufffd[0m\ufffd"


def test_output_is_deterministic(tmp_path):
    run = results(tmp_path, [verdict("a", True), verdict("b", False)])
    run.mark_partial("stopped")
    first = write_junit(run, tmp_path / "first.xml").read_bytes()
    second = write_junit(run, tmp_path / "second.xml").read_bytes()
    assert first == second
    assert first.startswith(b"<?xml")
    assert first.endswith(b"</testsuite>\n")


def test_creates_parent_directory(tmp_path):
    path = tmp_path / "a" / "b" / "junit.xml"
    assert write_junit(results(tmp_path, []), path) == path
    assert path.exists()

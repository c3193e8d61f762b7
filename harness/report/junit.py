"""junit.xml: one test case per success metric, so CI systems show missed thresholds as failures."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.results.run import RunResults

VERDICT_CLASSNAME = "success_metrics"
RUN_CLASSNAME = "run"
RUN_COMPLETED_CASE = "run completed"

# XML 1.0 forbids most control characters even when escaped, and ElementTree writes them
# unchanged, so an error message that contains terminal colour codes would break the file.
_XML_INVALID_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def write_junit(results: RunResults, path: Path) -> Path:
    """Write the verdicts of a run as a JUnit XML test suite named after the scenario.

    Each verdict is a test case in class ``success_metrics``, and a failed verdict carries
    a ``<failure>`` element. A partial run adds a failed ``run completed`` case in class
    ``run``, whose message is the run's error. No case ends in an error, so the ``errors``
    attribute is always 0. Test times are 0 because the harness does not time single verdicts.
    """
    suite = ET.Element("testsuite", {"name": _xml_text(results.scenario)})
    failures = 0

    for verdict in results.verdicts:
        case = _add_case(suite, VERDICT_CLASSNAME, verdict.name)
        if not verdict.passed:
            _add_failure(case, verdict.line())
            failures += 1

    if results.status == "partial":
        case = _add_case(suite, RUN_CLASSNAME, RUN_COMPLETED_CASE)
        _add_failure(case, results.error or "the run stopped early and recorded no reason")
        failures += 1

    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("time", "0")

    ET.indent(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n")
    return path


def _add_case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    attributes = {"classname": classname, "name": _xml_text(name), "time": "0"}
    return ET.SubElement(suite, "testcase", attributes)


def _add_failure(case: ET.Element, message: str) -> None:
    failure = ET.SubElement(case, "failure", {"message": _xml_text(message)})
    failure.text = _xml_text(message)


def _xml_text(text: str) -> str:
    return _XML_INVALID_CHARACTERS.sub("\ufffd", text)

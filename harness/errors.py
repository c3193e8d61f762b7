"""Exceptions the harness raises, and the exit code each one maps to.

Exit codes: 0 success, 1 a success metric was missed, 2 invalid input or a harness failure,
130 interrupted by the user.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_METRIC_MISSED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """A failure the user can act on: the message names the problem and the fix."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ScenarioError(HarnessError):
    """A scenario file that cannot be read or is invalid; lists every problem found."""

    def __init__(self, path: str, problems: list[str], hint: str | None = None) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid scenario {path}:\n{lines}", hint)


class ToolchainError(HarnessError):
    """A control-plane binary could not be built or found."""


class ClusterError(HarnessError):
    """The cluster could not be started, reached or stopped."""


class WorkloadError(HarnessError):
    """A workload process failed or printed output the harness cannot read."""


class MetricsMissed(Exception):
    """One or more success metrics were not met; the run itself completed."""

    exit_code = EXIT_METRIC_MISSED

    def __init__(self, failed: list[str]) -> None:
        super().__init__(f"{len(failed)} success metric(s) missed: {', '.join(failed)}")
        self.failed = failed

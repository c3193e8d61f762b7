"""Start, record and stop the long-lived processes the harness owns.

A process outlives the command that started it (`cluster up` returns while the operator keeps
running), so each one is recorded in a PID file together with its start time. Stopping checks
that start time first: a PID reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# psutil reports create_time with a resolution of a clock tick; allow a little slack.
_CREATE_TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class TrackedProcess:
    name: str
    pid: int
    create_time: float
    argv: list[str]

    def is_running(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            same_start = abs(process.create_time() - self.create_time) < _CREATE_TIME_TOLERANCE_S
            return same_start and process.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def from_pid(cls, name: str, pid: int) -> TrackedProcess | None:
        """Record a process someone else started, as it is now; None if it is gone."""
        try:
            process = psutil.Process(pid)
            return cls(name, pid, process.create_time(), process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    @classmethod
    def load(cls, path: Path) -> TrackedProcess | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


def start_process(
    name: str,
    argv: list[str],
    log_path: Path,
    pid_path: Path,
    env: dict[str, str] | None = None,
) -> TrackedProcess:
    """Start argv in its own session, with output appended to log_path, and record its PID."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    tracked = TrackedProcess(name, child.pid, psutil.Process(child.pid).create_time(), argv)
    tracked.save(pid_path)
    log.debug("started %s pid=%d: %s", name, child.pid, " ".join(argv))
    return tracked


def stop_process(tracked: TrackedProcess, timeout_s: float = 10.0) -> None:
    """Send SIGTERM to the process group, then SIGKILL after timeout_s if it is still alive."""
    if not tracked.is_running():
        return
    log.debug("stopping %s pid=%d", tracked.name, tracked.pid)
    _signal_group(tracked.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not tracked.is_running():
            return
        time.sleep(0.1)
    log.warning(
        "%s pid=%d ignored SIGTERM for %.0f s; sending SIGKILL",
        tracked.name,
        tracked.pid,
        timeout_s,
    )
    _signal_group(tracked.pid, signal.SIGKILL)


def stop_pid_file(pid_path: Path, timeout_s: float = 10.0) -> None:
    tracked = TrackedProcess.load(pid_path)
    if tracked is not None:
        stop_process(tracked, timeout_s)
    pid_path.unlink(missing_ok=True)


def _signal_group(pid: int, signum: int) -> None:
    # A process the harness started leads its own session, so signalling its group also
    # reaches the children it spawned. Processes started by others (kwokctl's components)
    # may not lead a group; they get the signal alone.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an exception so cleanup code in `finally` runs."""


def install_signal_handlers() -> None:
    def _raise(signum: int, _frame: object) -> None:
        raise Terminated(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)

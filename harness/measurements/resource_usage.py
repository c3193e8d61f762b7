"""CPU time and memory of local processes, sampled in a background thread.

The sampler watches named PIDs, typically the control-plane components of a local cluster and
the harness process itself, and reports what each one cost over the sampled window. CPU time is
user plus system time of the process alone: time spent by its child processes is not counted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import psutil

from harness.results.records import Record

if TYPE_CHECKING:
    from clusters.kwok.provider import ComponentStatus

log = logging.getLogger(__name__)

RECORD_KIND = "control_plane_cost"
HARNESS_COMPONENT = "harness"
_BYTES_PER_MIB = 2**20


@dataclass
class ComponentUsage:
    """Samples of one process, reduced to the first and last CPU reading and the peak RSS."""

    name: str
    pid: int
    samples: int = 0
    first_time: float = 0.0
    first_cpu_s: float = 0.0
    last_time: float = 0.0
    last_cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    exited: bool = False
    access_denied: bool = False

    @property
    def cpu_seconds(self) -> float:
        return self.last_cpu_s - self.first_cpu_s

    @property
    def wall_seconds(self) -> float:
        return self.last_time - self.first_time

    @property
    def sampling(self) -> bool:
        return not (self.exited or self.access_denied)


class ResourceSampler:
    """Sample CPU time and resident memory (RSS) of named processes every interval_s seconds.

    ``start()`` takes the first sample at once and ``stop()`` takes the last one, so the window
    of a process that stays alive runs from start to stop. A process that exits, or whose PID
    is gone at start, is marked as exited and its window ends at its last sample. ``clock``
    stamps the samples and returns seconds. The thread waits on real time whatever the clock.
    """

    def __init__(
        self,
        processes: dict[str, int],
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._clock = clock
        self._usage = {name: ComponentUsage(name, pid) for name, pid in processes.items()}
        # One psutil.Process per PID, created once. It stores the process start time, so
        # is_running() detects a PID that the kernel has reused for another process.
        self._handles: dict[str, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._opened = False

    def __str__(self) -> str:
        return f"ResourceSampler({', '.join(self._usage)}; every {self.interval_s:g} s)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Take the first sample and start the sampling thread.

        A sampler runs once: calling start() a second time raises RuntimeError, even after
        stop(), because the second window would silently extend the first.
        """
        if self._started:
            raise RuntimeError(f"{self} was already started; create a new sampler for a new window")
        self._started = True
        self.sample()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        log.debug("started %s", self)

    def stop(self) -> None:
        """Stop the sampling thread and take the last sample. Does nothing unless started."""
        if self._thread is None:
            return
        self._stop_event.set()
        self._thread.join()
        self._thread = None
        self.sample()
        log.debug("stopped %s", self)

    def sample(self) -> None:
        """Take one sample of every process that is still readable, in the calling thread."""
        with self._lock:
            self._open_handles()
            for name, usage in self._usage.items():
                if usage.sampling:
                    self._sample_one(usage, self._handles.get(name))

    def usage(self) -> dict[str, ComponentUsage]:
        """Return a copy of the sampled usage of every process, by name."""
        with self._lock:
            return {name: replace(usage) for name, usage in self._usage.items()}

    def records(self, extra_labels: dict[str, Any] | None = None) -> list[Record]:
        """Return cpu_seconds, cpu_cores and peak_rss records for each sampled process.

        A process sampled once gets only peak_rss, because one CPU reading spans no time, and
        a process never sampled gets no record.
        """
        records = []
        for name, usage in self.usage().items():
            labels = {"component": name, **(extra_labels or {})}
            records += _usage_records(usage, labels)
        return records

    def _run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.sample()

    def _open_handles(self) -> None:
        if self._opened:
            return
        self._opened = True
        for name, usage in self._usage.items():
            try:
                self._handles[name] = psutil.Process(usage.pid)
            except psutil.NoSuchProcess:
                usage.exited = True
                log.warning(
                    "%s (pid %d) is not running; its resource usage is not sampled", name, usage.pid
                )
            except psutil.AccessDenied:
                usage.access_denied = True
                log.warning(
                    "reading %s (pid %d) failed: access denied; its resource usage is not sampled",
                    name,
                    usage.pid,
                )

    def _sample_one(self, usage: ComponentUsage, process: psutil.Process | None) -> None:
        if process is None:
            return
        now = self._clock()
        try:
            # is_running() also compares the start time, so it is False for a reused PID.
            if not process.is_running():
                raise psutil.NoSuchProcess(usage.pid)
            with process.oneshot():
                if process.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(usage.pid)
                times = process.cpu_times()
                rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            # This also catches ZombieProcess, raised above for an exited process whose parent
            # has not reaped it yet.
            usage.exited = True
            log.info(
                "%s (pid %d) exited; its resource usage covers %.1f s",
                usage.name,
                usage.pid,
                usage.wall_seconds,
            )
            return
        except psutil.AccessDenied:
            usage.access_denied = True
            log.warning(
                "reading %s (pid %d) failed: access denied; sampling of it stops",
                usage.name,
                usage.pid,
            )
            return

        cpu_s = times.user + times.system
        if usage.samples == 0:
            usage.first_time = now
            usage.first_cpu_s = cpu_s
        usage.last_time = now
        usage.last_cpu_s = cpu_s
        usage.peak_rss_bytes = max(usage.peak_rss_bytes, rss)
        usage.samples += 1


def control_plane_pids(
    statuses: Iterable[ComponentStatus], include_harness: bool = True
) -> dict[str, int]:
    """Map the running components of a cluster to their PIDs, plus the harness process.

    Components that are not running or have no PID are left out. The harness entry also
    counts the CPU time of the sampler thread itself.
    """
    pids = {
        status.name: status.pid for status in statuses if status.running and status.pid is not None
    }
    if include_harness:
        pids[HARNESS_COMPONENT] = os.getpid()
    return pids


def _usage_records(usage: ComponentUsage, labels: dict[str, Any]) -> list[Record]:
    if usage.samples == 0:
        return []
    records = []
    if usage.samples >= 2:
        records.append(Record(RECORD_KIND, "cpu_seconds", usage.cpu_seconds, "s", dict(labels)))
        if usage.wall_seconds > 0:
            cores = usage.cpu_seconds / usage.wall_seconds
            records.append(Record(RECORD_KIND, "cpu_cores", cores, "cores", dict(labels)))
    peak_rss_mib = usage.peak_rss_bytes / _BYTES_PER_MIB
    records.append(Record(RECORD_KIND, "peak_rss", peak_rss_mib, "MiB", dict(labels)))
    return records

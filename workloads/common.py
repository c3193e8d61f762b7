"""Helpers shared by the workloads: size sweeps, bus bandwidth, records and tables.

Output contract, read by the harness:

* every measurement is one stdout line, ``BENCH_RECORD `` followed by compact JSON,
  printed by rank 0 only;
* a human-readable table goes to stderr from rank 0;
* exit code 0 on success, 1 when a correctness check found wrong elements, 2 on invalid
  input, with a stderr message that starts with ``error: ``.

Bandwidth follows the nccl-tests definitions, with GB/s meaning 1e9 bytes/s:
``algbw = size_bytes / time`` and, for allreduce, ``busbw = algbw * 2(n-1)/n``.

This module imports only the standard library, so every workload can use it before it
imports MPI, torch or Horovod.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

RECORD_PREFIX = "BENCH_RECORD "

EXIT_OK = 0
EXIT_WRONG_RESULTS = 1
EXIT_USAGE = 2

PLACEMENTS = ("out-of-place", "in-place")

# Iteration defaults of the OSU micro-benchmarks collective tests (osu_util.h): 1000 timed
# and 200 warmup iterations below 8 KiB, 100 timed and 10 warmup from 8 KiB up.
OSU_ITERS = 1000
OSU_WARMUP = 200
OSU_LARGE_ITERS = 100
OSU_LARGE_WARMUP = 10
OSU_LARGE_MESSAGE_BYTES = 8192

# Per-size time cap for the timed loop, applied by plan_timed_iterations.
DEFAULT_TIME_LIMIT_S = 2.0
MIN_CAPPED_ITERS = 10

_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.IGNORECASE)
_SIZE_MULTIPLIERS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


class UsageError(Exception):
    """Invalid command-line input, reported as ``error: <message>`` with exit code 2."""


# --- launcher environment -------------------------------------------------------------


def _first_env_int(names: Sequence[str], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip() != "":
            try:
                return int(value)
            except ValueError:
                message = f"environment variable {name}={value!r} is not an integer"
                raise UsageError(message) from None
    return default


def env_rank() -> int:
    """Return this process's rank as set by mpirun (Open MPI, then PMI) or torchrun, else 0."""
    return _first_env_int(("OMPI_COMM_WORLD_RANK", "PMI_RANK", "RANK"), 0)


def _is_reporting_rank() -> bool:
    # An invalid rank variable is itself the error being reported, so print it anyway.
    try:
        return env_rank() == 0
    except UsageError:
        return True


def env_world_size() -> int:
    """Return the number of ranks as set by mpirun (Open MPI, then PMI) or torchrun, else 1."""
    return _first_env_int(("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE"), 1)


def env_local_rank() -> int:
    """Return the rank within this node (Open MPI, MPICH/Hydra, torchrun), else 0."""
    return _first_env_int(("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK"), 0)


def env_local_size() -> int:
    """Return the number of ranks on this node (Open MPI, MPICH/Hydra, torchrun), else 1."""
    return _first_env_int(("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "LOCAL_WORLD_SIZE"), 1)


def default_cpu_threads() -> int:
    """Return the CPU threads per rank that avoid oversubscribing this node's cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, env_local_size()))


# --- argument parsing -----------------------------------------------------------------


class WorkloadArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors follow the workload contract: ``error: ...``, exit 2.

    Only rank 0 prints, so a bad option under ``mpirun -np N`` is reported once.
    """

    def error(self, message: str) -> NoReturn:
        if _is_reporting_rank():
            print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parse_size(text: str) -> int:
    """Parse a byte count such as ``8``, ``64K``, ``64M``, ``1G`` or ``4KiB`` (1K = 1024)."""
    match = _SIZE_PATTERN.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use a whole number of bytes with an optional K, M or G "
            "suffix (binary, 1K = 1024)"
        )
    return int(match.group(1)) * _SIZE_MULTIPLIERS[match.group(2).upper()]


def positive_int(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    value = _parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be 0 or more")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be 0 or more")
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None


def format_size(size_bytes: int) -> str:
    """Format a byte count with the largest exact binary unit, e.g. 65536 -> ``64 KiB``."""
    for suffix in ("G", "M", "K"):
        multiplier = _SIZE_MULTIPLIERS[suffix]
        if size_bytes >= multiplier and size_bytes % multiplier == 0:
            return f"{size_bytes // multiplier} {suffix}iB"
    return f"{size_bytes} B"


def add_sweep_arguments(
    parser: argparse.ArgumentParser, default_max: str = "64M", add_min_ranks: bool = True
) -> None:
    """Add the size sweep and iteration options shared by the collectives.

    With ``add_min_ranks`` it also adds ``--min-ranks``, defaulting to 2.
    """
    sweep = parser.add_argument_group("size sweep (nccl-tests style)")
    sweep.add_argument(
        "--min-bytes",
        "-b",
        type=parse_size,
        default=parse_size("8"),
        metavar="SIZE",
        help="smallest message in bytes, with binary K, M and G suffixes (default: 8)",
    )
    sweep.add_argument(
        "--max-bytes",
        "-e",
        type=parse_size,
        default=parse_size(default_max),
        metavar="SIZE",
        help=f"largest message in bytes (default: {default_max})",
    )
    sweep.add_argument(
        "--factor",
        "-f",
        type=int,
        default=2,
        metavar="N",
        help="multiply the size by N between steps, an integer of 2 or more (default: 2)",
    )

    timing = parser.add_argument_group(
        "iterations",
        "Defaults follow osu_allreduce: 1000 timed and 200 warmup iterations below 8 KiB, "
        "100 and 10 from 8 KiB up. The timed count then drops so that one size and "
        "placement takes about --time-limit seconds, estimated from the warmup, but not below "
        "10 iterations or --iters if smaller. The record's 'iters' field contains the count "
        "that ran.",
    )
    timing.add_argument(
        "--iters",
        "-n",
        type=positive_int,
        default=None,
        metavar="N",
        help="timed iterations for every size, replacing the OSU small/large defaults",
    )
    timing.add_argument(
        "--warmup",
        "-w",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="untimed warmup iterations for every size, replacing the OSU defaults",
    )
    timing.add_argument(
        "--time-limit",
        type=non_negative_float,
        default=DEFAULT_TIME_LIMIT_S,
        metavar="SECONDS",
        help="approximate time budget for the timed loop of one size and placement. "
        f"0, or --warmup 0, disables the cap (default: {DEFAULT_TIME_LIMIT_S:g})",
    )
    if not add_min_ranks:
        return
    parser.add_argument(
        "--min-ranks",
        type=positive_int,
        default=2,
        metavar="N",
        help="fail with exit code 2 when fewer ranks run. Bus bandwidth needs 2 or more, so "
        "pass --min-ranks 1 to measure single-rank latency, reported with busbw 0 (default: 2)",
    )


def sweep_sizes(min_bytes: int, max_bytes: int, factor: int, element_size: int) -> list[int]:
    """Return the message sizes of a sweep, each rounded down to whole elements.

    Raises UsageError, naming the option and the fix, when the bounds cannot form a sweep.
    """
    if min_bytes < element_size:
        raise UsageError(
            f"--min-bytes {min_bytes} is smaller than one element ({element_size} bytes). "
            f"Use --min-bytes {element_size} or more"
        )
    if max_bytes < min_bytes:
        raise UsageError(
            f"--max-bytes {max_bytes} is below --min-bytes {min_bytes}. Raise --max-bytes "
            "or lower --min-bytes"
        )
    if factor < 2:
        raise UsageError(f"--factor {factor} is invalid. Use an integer of 2 or more")

    sizes: list[int] = []
    size = min_bytes
    while size <= max_bytes:
        rounded = size - size % element_size
        if not sizes or rounded != sizes[-1]:
            sizes.append(rounded)
        size *= factor
    return sizes


def check_rank_count(ranks: int, min_ranks: int) -> None:
    """Raise UsageError when fewer than ``min_ranks`` ranks run."""
    if ranks < min_ranks:
        noun = "rank is" if ranks == 1 else "ranks are"
        raise UsageError(
            f"--min-ranks is {min_ranks} but only {ranks} {noun} running. Launch with "
            f"mpirun -np {min_ranks} or more, or pass --min-ranks {ranks} to measure "
            "anyway (with one rank busbw is 0 by definition)"
        )


def default_iterations(size_bytes: int, iters: int | None, warmup: int | None) -> tuple[int, int]:
    """Return (warmup, timed iterations) for one size: the overrides or the OSU defaults."""
    large = size_bytes >= OSU_LARGE_MESSAGE_BYTES
    if warmup is None:
        warmup = OSU_LARGE_WARMUP if large else OSU_WARMUP
    if iters is None:
        iters = OSU_LARGE_ITERS if large else OSU_ITERS
    return warmup, iters


def plan_timed_iterations(iters: int, seconds_per_call: float, time_limit_s: float) -> int:
    """Cap ``iters`` so the timed loop takes about ``time_limit_s``.

    ``seconds_per_call`` is an estimate from the warmup and must be the same on every rank
    (for example its maximum over ranks), because every rank has to run the same count.
    The result is at least ``min(iters, MIN_CAPPED_ITERS)``.
    """
    if time_limit_s <= 0 or seconds_per_call <= 0:
        return iters
    affordable = int(time_limit_s / seconds_per_call)
    return max(min(iters, MIN_CAPPED_ITERS), min(iters, affordable))


# --- results --------------------------------------------------------------------------


def allreduce_busbw_factor(ranks: int) -> float:
    """Return the nccl-tests allreduce bus bandwidth factor 2(n-1)/n (0 for one rank)."""
    return 2.0 * (ranks - 1) / ranks


def allreduce_expected_sum(ranks: int) -> float:
    """Return the sum of ``rank + 1`` over all ranks, the check value of every element."""
    return ranks * (ranks + 1) / 2.0


@dataclass(frozen=True)
class CollectiveTiming:
    """Seconds per call: the mean over ranks, and the fastest and slowest rank."""

    mean_s: float
    min_s: float
    max_s: float


def collective_record(
    *,
    workload: str,
    backend: str,
    device: str,
    ranks: int,
    size_bytes: int,
    element_size: int,
    placement: str,
    timing: CollectiveTiming,
    wrong: int,
    iters: int,
    dtype: str = "float32",
    redop: str = "sum",
) -> dict[str, Any]:
    """Build one allreduce record, with algbw and busbw from the mean time over ranks."""
    algbw_gbps = size_bytes / timing.mean_s / 1e9 if timing.mean_s > 0 else 0.0
    return {
        "workload": workload,
        "backend": backend,
        "device": device,
        "ranks": ranks,
        "size_bytes": size_bytes,
        "count": size_bytes // element_size,
        "dtype": dtype,
        "redop": redop,
        "placement": placement,
        "time_us": timing.mean_s * 1e6,
        "time_us_min": timing.min_s * 1e6,
        "time_us_max": timing.max_s * 1e6,
        "algbw_gbps": algbw_gbps,
        "busbw_gbps": algbw_gbps * allreduce_busbw_factor(ranks),
        "wrong": int(wrong),
        "iters": iters,
    }


def emit_record(record: dict[str, Any]) -> None:
    """Print one record line on stdout. Callers make sure that only rank 0 calls this."""
    line = RECORD_PREFIX + json.dumps(record, separators=(",", ":"), allow_nan=False)
    print(line, flush=True)


def print_stderr(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


class CollectiveTable:
    """Table in the nccl-tests layout: one line per size, out-of-place then in-place."""

    _HEADER = (
        f"{'size':>12} {'count':>12} {'type':>8} {'redop':>6}"
        f" | {'time(us)':>10} {'algbw':>7} {'busbw':>7} {'#wrong':>6}"
        f" | {'time(us)':>10} {'algbw':>7} {'busbw':>7} {'#wrong':>6}"
    )

    def __init__(self, title: str) -> None:
        self.title = title

    def print_header(self) -> None:
        print_stderr(f"# {self.title}")
        print_stderr(f"#{'':>40} | {'out-of-place':^33} | {'in-place':^33}")
        print_stderr("#" + self._HEADER[1:])
        print_stderr(
            f"#{'(B)':>11} {'(elements)':>12} {'':>8} {'':>6}"
            f" | {'':>10} {'(GB/s)':>7} {'(GB/s)':>7} {'':>6}"
            f" | {'':>10} {'(GB/s)':>7} {'(GB/s)':>7} {'':>6}"
        )

    def print_row(self, records: Iterable[dict[str, Any]]) -> None:
        by_placement = {record["placement"]: record for record in records}
        first = next(iter(by_placement.values()))
        line = (
            f"{first['size_bytes']:>12} {first['count']:>12} {first['dtype']:>8}"
            f" {first['redop']:>6}"
        )
        for placement in PLACEMENTS:
            record = by_placement.get(placement)
            if record is None:
                line += f" | {'-':>10} {'-':>7} {'-':>7} {'-':>6}"
                continue
            line += (
                f" | {record['time_us']:>10.2f} {record['algbw_gbps']:>7.3f}"
                f" {record['busbw_gbps']:>7.3f} {record['wrong']:>6}"
            )
        print_stderr(line)

    def print_footer(self, records: Sequence[dict[str, Any]]) -> None:
        total_wrong = sum(record["wrong"] for record in records)
        print_stderr(f"# wrong elements: {total_wrong}")
        if records:
            busbw = [record["busbw_gbps"] for record in records]
            print_stderr(f"# average busbw: {sum(busbw) / len(busbw):.3f} GB/s")


# --- sweep driver ---------------------------------------------------------------------

ScalarOp = Literal["sum", "min", "max"]


class AllreduceCommunicator(Protocol):
    """Interface of one library's allreduce (mpi4py, torch, Horovod) for run_allreduce_sweep.

    Implementations own their buffers, sized for the largest message, and run every
    method as a collective: all ranks call it in the same order.
    """

    rank: int
    ranks: int

    def count_wrong(self, count: int, placement: str) -> int:
        """Run one allreduce on known values and return this rank's wrong elements."""

    def prepare(self, count: int, placement: str) -> Callable[[], None]:
        """Fill the buffers for timing and return a function that runs one allreduce."""

    def time_calls(self, call: Callable[[], None], iterations: int) -> float:
        """Run ``call`` back to back and return the seconds until its results are ready."""

    def barrier(self) -> None: ...

    def reduce_scalar(self, value: float, op: ScalarOp) -> float:
        """Return the sum, minimum or maximum of ``value`` over all ranks."""


@dataclass(frozen=True)
class SweepSettings:
    """Options of one allreduce sweep, taken from add_sweep_arguments."""

    sizes: list[int]
    iters: int | None
    warmup: int | None
    time_limit_s: float
    element_size: int = 4

    @classmethod
    def from_args(cls, args: argparse.Namespace, element_size: int = 4) -> SweepSettings:
        sizes = sweep_sizes(args.min_bytes, args.max_bytes, args.factor, element_size)
        return cls(sizes, args.iters, args.warmup, args.time_limit, element_size)


def measure_placement(
    comm: AllreduceCommunicator, size_bytes: int, placement: str, settings: SweepSettings
) -> tuple[int, CollectiveTiming, int]:
    """Check and time one size and placement, returning (wrong elements, timing, iterations).

    The wrong count is summed over ranks. The timed loop runs between a barrier and the
    last result being ready, and each rank reports its own mean time per call.
    """
    count = size_bytes // settings.element_size
    wrong = int(comm.reduce_scalar(comm.count_wrong(count, placement), "sum"))

    call = comm.prepare(count, placement)
    warmup, iters = default_iterations(size_bytes, settings.iters, settings.warmup)
    if warmup > 0:
        comm.barrier()
        warmup_s = comm.time_calls(call, warmup) / warmup
        # Every rank must run the same count, so all plan from the slowest rank's estimate.
        slowest_s = comm.reduce_scalar(warmup_s, "max")
        iters = plan_timed_iterations(iters, slowest_s, settings.time_limit_s)

    comm.barrier()
    per_call_s = comm.time_calls(call, iters) / iters
    timing = CollectiveTiming(
        mean_s=comm.reduce_scalar(per_call_s, "sum") / comm.ranks,
        min_s=comm.reduce_scalar(per_call_s, "min"),
        max_s=comm.reduce_scalar(per_call_s, "max"),
    )
    return wrong, timing, iters


def run_allreduce_sweep(
    comm: AllreduceCommunicator,
    settings: SweepSettings,
    *,
    workload: str,
    backend: str,
    device: str,
    title: str,
) -> int:
    """Run the sweep, print records and the table from rank 0, and return the exit code.

    Every rank returns the same code because the wrong count is summed over ranks.
    """
    reporter = comm.rank == 0
    table = CollectiveTable(title)
    if reporter:
        table.print_header()
        if comm.ranks == 1:
            print_stderr("# one rank: busbw is 0 by definition, but time and algbw are valid")

    records: list[dict[str, Any]] = []
    for size_bytes in settings.sizes:
        size_records = []
        for placement in PLACEMENTS:
            wrong, timing, iters = measure_placement(comm, size_bytes, placement, settings)
            record = collective_record(
                workload=workload,
                backend=backend,
                device=device,
                ranks=comm.ranks,
                size_bytes=size_bytes,
                element_size=settings.element_size,
                placement=placement,
                timing=timing,
                wrong=wrong,
                iters=iters,
            )
            if reporter:
                emit_record(record)
            size_records.append(record)
        if reporter:
            table.print_row(size_records)
        records.extend(size_records)

    if reporter:
        table.print_footer(records)
    total_wrong = sum(record["wrong"] for record in records)
    if total_wrong > 0:
        if reporter:
            print_stderr(f"error: {total_wrong} wrong elements in the allreduce results")
        return EXIT_WRONG_RESULTS
    return EXIT_OK


def fail_usage(message: str, rank: int | None = None) -> NoReturn:
    """Print ``error: message`` from rank 0 and exit with code 2."""
    reporter = _is_reporting_rank() if rank is None else rank == 0
    if reporter:
        print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)

"""Measure one-way memory copy bandwidth with NumPy, best of several repeats.

Bandwidth is bytes copied divided by the copy time, in GB/s (1e9 bytes/s), the unit of
algbw and busbw. Every copy reads and writes each byte once, so the memory bus carries
twice that figure. On a single host, MPI ranks exchange data through shared memory, so
allreduce busbw there is expected to stay below this figure.

The measurement runs in one process. Under ``mpirun -np N`` every rank measures at the
same time, so the figure becomes the bandwidth per rank under contention, and only rank 0
prints it.
"""

from __future__ import annotations

import sys
import time

from workloads.common import (
    EXIT_USAGE,
    WorkloadArgumentParser,
    emit_record,
    env_rank,
    format_size,
    parse_size,
    positive_int,
    print_stderr,
)

WORKLOAD = "memcpy_bandwidth"


def build_parser() -> WorkloadArgumentParser:
    parser = WorkloadArgumentParser(
        prog="python -m workloads.memcpy_bandwidth",
        description="Copy a NumPy buffer into another and print the best one-way bandwidth.",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("64M"),
        metavar="SIZE",
        help="bytes per copy, with binary K, M and G suffixes (default: 64M)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=20,
        metavar="N",
        help="timed copies, of which the fastest is reported (default: 20)",
    )
    return parser


def measure_copy_seconds(size_bytes: int, repeats: int) -> float:
    """Return the fastest of ``repeats`` copies of ``size_bytes`` between two buffers."""
    import numpy

    source = numpy.ones(size_bytes, dtype=numpy.uint8)
    # Writing the destination once first keeps page faults out of the timed copies.
    destination = numpy.zeros(size_bytes, dtype=numpy.uint8)
    numpy.copyto(destination, source)

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        numpy.copyto(destination, source)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.size < 1:
        if env_rank() == 0:
            print_stderr("error: --size 0 copies nothing. Use --size 1 or more, e.g. --size 64M")
        return EXIT_USAGE

    seconds = measure_copy_seconds(args.size, args.repeats)
    bandwidth_gbps = args.size / seconds / 1e9
    if env_rank() == 0:
        emit_record(
            {
                "workload": WORKLOAD,
                "size_bytes": args.size,
                "bandwidth_gbps": bandwidth_gbps,
                "repeats": args.repeats,
            }
        )
        print_stderr(
            f"# memcpy_bandwidth: best of {args.repeats} copies of {format_size(args.size)}: "
            f"{bandwidth_gbps:.3f} GB/s one-way ({seconds * 1e6:.1f} us per copy)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

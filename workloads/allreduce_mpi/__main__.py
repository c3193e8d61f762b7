"""Measure MPI allreduce latency and bandwidth with mpi4py's buffer interface.

Uses the upper-case ``Comm.Allreduce`` on float32 NumPy arrays, or on CuPy arrays when
CuPy finds a GPU and the MPI library is CUDA-aware, both out of place and in place
(``MPI.IN_PLACE``). Launch it with ``mpirun -np N python -m workloads.allreduce_mpi``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import Any

from workloads.common import (
    SweepSettings,
    UsageError,
    WorkloadArgumentParser,
    add_sweep_arguments,
    allreduce_expected_sum,
    check_rank_count,
    env_local_rank,
    env_rank,
    fail_usage,
    print_stderr,
    run_allreduce_sweep,
)

WORKLOAD = "allreduce_mpi"
ELEMENT_SIZE = 4  # float32


def build_parser() -> WorkloadArgumentParser:
    parser = WorkloadArgumentParser(
        prog="python -m workloads.allreduce_mpi",
        description="Sweep MPI_Allreduce (sum of float32) over message sizes with mpi4py and "
        "print nccl-tests style records: time per call, algbw and busbw = algbw * 2(n-1)/n.",
    )
    add_sweep_arguments(parser)
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="buffer location; auto picks cuda only when CuPy finds a GPU and the MPI library "
        "reports CUDA support (default: auto)",
    )
    return parser


def query_cuda_aware_mpi() -> bool | None:
    """Query whether the loaded MPI library is CUDA-aware, returning None when unknown.

    Open MPI exports ``MPIX_Query_cuda_support`` from libmpi. Other MPI libraries do not,
    so for them the result is None.
    """
    library_path = _loaded_libmpi_path() or ctypes.util.find_library("mpi")
    if library_path is None:
        return None
    try:
        library = ctypes.CDLL(library_path)
        query = library.MPIX_Query_cuda_support
    except (OSError, AttributeError):
        return None
    query.restype = ctypes.c_int
    return bool(query())


def _loaded_libmpi_path() -> str | None:
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.split()[-1]
                if "/libmpi.so" in path:
                    return path
    except OSError:
        return None
    return None


def select_device(requested: str) -> tuple[str, Any]:
    """Select ("cpu", numpy) or ("cuda", cupy) for ``--device``, or raise UsageError."""
    import numpy

    if requested == "cpu":
        return "cpu", numpy

    try:
        import cupy

        gpu_count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # ImportError, or a CUDA runtime error without a driver
        cupy, gpu_count, cupy_error = None, 0, error
    else:
        cupy_error = None

    cuda_aware = query_cuda_aware_mpi()
    if requested == "auto":
        if cupy is not None and gpu_count > 0 and cuda_aware:
            return _use_local_gpu(cupy, gpu_count)
        return "cpu", numpy

    if cupy is None or gpu_count == 0:
        reason = f"CuPy failed: {cupy_error}" if cupy is None else "CuPy found no GPU"
        raise UsageError(f"--device cuda needs CuPy and a GPU ({reason}). Use --device cpu")
    if cuda_aware is False:
        raise UsageError(
            "--device cuda needs a CUDA-aware MPI, but MPIX_Query_cuda_support() returned 0. "
            "Use an MPI built with CUDA support, or --device cpu"
        )
    if cuda_aware is None and env_rank() == 0:
        print_stderr("warning: unknown whether this MPI is CUDA-aware, so assuming it is")
    return _use_local_gpu(cupy, gpu_count)


# NOTE: the CuPy path has only been read, never run: no GPU or CUDA-aware MPI was available.
def _use_local_gpu(cupy: Any, gpu_count: int) -> tuple[str, Any]:
    cupy.cuda.Device(env_local_rank() % gpu_count).use()
    return "cuda", cupy


class MpiAllreduce:
    """Allreduce through mpi4py on preallocated float32 buffers of the largest size."""

    def __init__(self, comm: Any, array_module: Any, max_count: int) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self._comm = comm
        self._xp = array_module
        self.rank = comm.Get_rank()
        self.ranks = comm.Get_size()
        self._send = array_module.empty(max_count, dtype=array_module.float32)
        self._recv = array_module.empty(max_count, dtype=array_module.float32)
        self._on_gpu = array_module.__name__ == "cupy"

    def _synchronize(self) -> None:
        # CUDA-aware MPI reads device memory outside CuPy's stream, so fills must finish first.
        if self._on_gpu:
            self._xp.cuda.get_current_stream().synchronize()

    def count_wrong(self, count: int, placement: str) -> int:
        send, recv = self._send[:count], self._recv[:count]
        if placement == "in-place":
            recv.fill(self.rank + 1)
            self._synchronize()
            self._comm.Allreduce(self._mpi.IN_PLACE, recv, op=self._mpi.SUM)
        else:
            send.fill(self.rank + 1)
            recv.fill(-1)  # so a call that leaves the output untouched counts as wrong
            self._synchronize()
            self._comm.Allreduce(send, recv, op=self._mpi.SUM)
        expected = allreduce_expected_sum(self.ranks)
        return int(self._xp.count_nonzero(recv != expected))

    def prepare(self, count: int, placement: str) -> Callable[[], None]:
        send, recv = self._send[:count], self._recv[:count]
        comm, mpi = self._comm, self._mpi
        if placement == "in-place":
            # Zeros stay finite however many times the sum is applied in place.
            recv.fill(0)
            self._synchronize()
            return lambda: comm.Allreduce(mpi.IN_PLACE, recv, op=mpi.SUM)
        send.fill(1)
        self._synchronize()
        return lambda: comm.Allreduce(send, recv, op=mpi.SUM)

    def time_calls(self, call: Callable[[], None], iterations: int) -> float:
        start = self._mpi.Wtime()
        for _ in range(iterations):
            call()
        self._synchronize()
        return self._mpi.Wtime() - start

    def barrier(self) -> None:
        self._comm.Barrier()

    def reduce_scalar(self, value: float, op: str) -> float:
        mpi_op = {"sum": self._mpi.SUM, "min": self._mpi.MIN, "max": self._mpi.MAX}[op]
        return self._comm.allreduce(value, op=mpi_op)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = SweepSettings.from_args(args, ELEMENT_SIZE)
    except UsageError as error:
        fail_usage(str(error))

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    try:
        check_rank_count(comm.Get_size(), args.min_ranks)
        device, array_module = select_device(args.device)
    except UsageError as error:
        fail_usage(str(error), comm.Get_rank())

    allreduce = MpiAllreduce(comm, array_module, max(settings.sizes) // ELEMENT_SIZE)
    library = MPI.Get_library_version().split(",")[0].strip()
    title = (
        f"allreduce_mpi: mpi4py {_mpi4py_version()} Comm.Allreduce, {library}, "
        f"{allreduce.ranks} ranks, device {device}"
    )
    return run_allreduce_sweep(
        allreduce, settings, workload=WORKLOAD, backend="mpi", device=device, title=title
    )


def _mpi4py_version() -> str:
    import mpi4py

    return mpi4py.__version__


if __name__ == "__main__":
    sys.exit(main())

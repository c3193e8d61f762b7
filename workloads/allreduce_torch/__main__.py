"""Measure torch.distributed allreduce latency and bandwidth with the gloo or NCCL backend.

Rank and world size come from the launcher's environment (Open MPI's OMPI_COMM_WORLD_*,
then PMI_RANK/PMI_SIZE, then torchrun's RANK/WORLD_SIZE), and the ranks meet at
MASTER_ADDR:MASTER_PORT through ``init_method="env://"``. Under ``mpirun`` on one host
nothing else is needed. Across hosts MASTER_ADDR must name rank 0's host, because the
default is 127.0.0.1.

``torch.distributed.all_reduce`` only works in place, so the out-of-place row copies the
input into the output buffer before each call, which is what a caller that keeps its input
has to do. That copy is part of the out-of-place time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from workloads.common import (
    SweepSettings,
    UsageError,
    WorkloadArgumentParser,
    add_sweep_arguments,
    allreduce_expected_sum,
    check_rank_count,
    default_cpu_threads,
    env_local_rank,
    env_rank,
    env_world_size,
    fail_usage,
    positive_int,
    run_allreduce_sweep,
)

WORKLOAD = "allreduce_torch"
ELEMENT_SIZE = 4  # float32
DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = 29500
LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost", "::1")


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: must be 1 to 65535")
    return value


def build_parser() -> WorkloadArgumentParser:
    parser = WorkloadArgumentParser(
        prog="python -m workloads.allreduce_torch",
        description="Sweep torch.distributed.all_reduce (sum of float32) over message sizes "
        "and print nccl-tests style records: time per call, algbw and busbw = algbw * 2(n-1)/n.",
    )
    add_sweep_arguments(parser)
    parser.add_argument(
        "--backend",
        choices=("nccl", "gloo"),
        default=None,
        help="process group backend, where nccl uses one GPU per rank (default: nccl when CUDA is "
        "available, else gloo)",
    )
    parser.add_argument(
        "--master-addr",
        default=os.environ.get("MASTER_ADDR", DEFAULT_MASTER_ADDR),
        help="host of rank 0's rendezvous store (default: $MASTER_ADDR, else "
        f"{DEFAULT_MASTER_ADDR})",
    )
    parser.add_argument(
        "--master-port",
        type=port_number,
        default=os.environ.get("MASTER_PORT", str(DEFAULT_MASTER_PORT)),
        help="TCP port of the rendezvous store "
        f"(default: $MASTER_PORT, else {DEFAULT_MASTER_PORT})",
    )
    parser.add_argument(
        "--init-timeout",
        type=positive_int,
        default=300,
        metavar="SECONDS",
        help="how long to wait for all ranks to join (default: 300)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch CPU threads per rank (default: usable cores / ranks on this node)",
    )
    return parser


def select_backend(requested: str | None) -> tuple[str, str]:
    """Select (backend, device) for ``--backend``, or raise UsageError when it cannot run here."""
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    backend = requested or ("nccl" if cuda else "gloo")
    if backend == "gloo":
        if not dist.is_gloo_available():
            raise UsageError(f"--backend gloo is not built into torch {torch.__version__}")
        return "gloo", "cpu"
    if not cuda:
        raise UsageError(
            f"--backend nccl needs a CUDA GPU, but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}). Use --backend gloo"
        )
    if not dist.is_nccl_available():
        raise UsageError(
            f"--backend nccl is not built into torch {torch.__version__}. Use --backend gloo"
        )
    return "nccl", "cuda"


def init_process_group(backend: str, args: Any) -> tuple[int, int]:
    """Join the process group through env:// and return (rank, world size)."""
    import torch
    import torch.distributed as dist

    rank, world_size = env_rank(), env_world_size()
    os.environ["RANK"] = str(rank)
    os.environ["WORLD_SIZE"] = str(world_size)
    os.environ["MASTER_ADDR"] = args.master_addr
    os.environ["MASTER_PORT"] = str(args.master_port)
    if args.master_addr in LOOPBACK_ADDRESSES:
        # All ranks share this host, so keep gloo's connections on the loopback interface
        # instead of whichever interface the host name resolves to.
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")

    if backend == "nccl":
        torch.cuda.set_device(env_local_rank() % torch.cuda.device_count())
    dist.init_process_group(
        backend,
        init_method="env://",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=args.init_timeout),
    )
    return rank, world_size


class TorchAllreduce:
    """Allreduce through torch.distributed on preallocated float32 tensors of the largest size."""

    def __init__(self, device: str, rank: int, ranks: int, max_count: int) -> None:
        import torch
        import torch.distributed as dist

        self._torch = torch
        self._dist = dist
        self._on_gpu = device == "cuda"
        self._device = torch.device("cuda", torch.cuda.current_device()) if self._on_gpu else "cpu"
        self.rank = rank
        self.ranks = ranks
        self._send = torch.empty(max_count, dtype=torch.float32, device=self._device)
        self._recv = torch.empty(max_count, dtype=torch.float32, device=self._device)
        self._scalar = torch.zeros(1, dtype=torch.float64, device=self._device)

    def _synchronize(self) -> None:
        if self._on_gpu:
            self._torch.cuda.synchronize()

    def count_wrong(self, count: int, placement: str) -> int:
        send, recv = self._send[:count], self._recv[:count]
        if placement == "in-place":
            recv.fill_(self.rank + 1)
            self._dist.all_reduce(recv)
        else:
            send.fill_(self.rank + 1)
            recv.fill_(-1)  # so a call that leaves the output untouched counts as wrong
            recv.copy_(send)
            self._dist.all_reduce(recv)
        expected = allreduce_expected_sum(self.ranks)
        return int((recv != expected).sum().item())

    def prepare(self, count: int, placement: str) -> Callable[[], None]:
        send, recv = self._send[:count], self._recv[:count]
        all_reduce = self._dist.all_reduce
        if placement == "in-place":
            # Zeros stay finite however many times the sum is applied in place.
            recv.zero_()
            return lambda: all_reduce(recv)
        send.fill_(1)

        def copy_and_all_reduce() -> None:
            recv.copy_(send)
            all_reduce(recv)

        return copy_and_all_reduce

    def time_calls(self, call: Callable[[], None], iterations: int) -> float:
        if not self._on_gpu:
            start = time.perf_counter()
            for _ in range(iterations):
                call()
            return time.perf_counter() - start

        # NCCL calls return once queued, so time them on the GPU stream with events.
        start_event = self._torch.cuda.Event(enable_timing=True)
        end_event = self._torch.cuda.Event(enable_timing=True)
        start_event.record()
        for _ in range(iterations):
            call()
        end_event.record()
        end_event.synchronize()
        return start_event.elapsed_time(end_event) / 1e3

    def barrier(self) -> None:
        # A one-element allreduce works the same on gloo and NCCL, unlike dist.barrier,
        # which on NCCL has to guess the device of each rank.
        self._scalar.zero_()
        self._dist.all_reduce(self._scalar)
        self._synchronize()

    def reduce_scalar(self, value: float, op: str) -> float:
        reduce_op = {
            "sum": self._dist.ReduceOp.SUM,
            "min": self._dist.ReduceOp.MIN,
            "max": self._dist.ReduceOp.MAX,
        }[op]
        self._scalar.fill_(value)
        self._dist.all_reduce(self._scalar, op=reduce_op)
        return float(self._scalar.item())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = SweepSettings.from_args(args, ELEMENT_SIZE)
        check_rank_count(env_world_size(), args.min_ranks)
        backend, device = select_backend(args.backend)
    except UsageError as error:
        fail_usage(str(error))

    import torch
    import torch.distributed as dist

    torch.set_num_threads(args.threads or default_cpu_threads())
    rank, world_size = init_process_group(backend, args)
    try:
        allreduce = TorchAllreduce(device, rank, world_size, max(settings.sizes) // ELEMENT_SIZE)
        title = (
            f"allreduce_torch: torch {torch.__version__} all_reduce, backend {backend}, "
            f"{world_size} ranks, device {device}"
        )
        return run_allreduce_sweep(
            allreduce, settings, workload=WORKLOAD, backend=backend, device=device, title=title
        )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())

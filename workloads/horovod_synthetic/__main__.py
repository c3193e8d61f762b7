"""Horovod synthetic benchmark: training throughput, or an allreduce bandwidth sweep.

``--mode train`` (default) trains on one fixed random batch, so no input pipeline is
measured: 10 untimed warmup batches, then ``--batches`` timed ones, with plain SGD at a
learning rate of 0.01 * ranks. Each rank times every batch. Rank 0 reports images/s per
worker as the mean and sample standard deviation over all timed batches of all ranks, and
the total as ranks * mean. Horovod's examples/pytorch/pytorch_synthetic_benchmark.py uses
the same settings and total, but times groups of 10 batches on rank 0 only. Scaling
efficiency is total(N) / (N * total(1)).

``--mode allreduce`` sweeps ``hvd.allreduce`` (out of place) and ``hvd.allreduce_`` (in
place) with the same records as workloads.allreduce_mpi, so the three libraries can be
compared side by side. Horovod hands each request to a background thread that starts
collectives in cycles (HOROVOD_CYCLE_TIME), so small messages show that cycle as latency.

Launch with ``mpirun -np N python -m workloads.horovod_synthetic``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from workloads.common import (
    EXIT_OK,
    SweepSettings,
    UsageError,
    WorkloadArgumentParser,
    add_sweep_arguments,
    allreduce_expected_sum,
    check_rank_count,
    default_cpu_threads,
    emit_record,
    env_local_rank,
    fail_usage,
    non_negative_int,
    positive_int,
    print_stderr,
    run_allreduce_sweep,
)
from workloads.horovod_synthetic.models import (
    MODEL_CHOICES,
    ModelUnavailableError,
    build_model,
    check_model_available,
    default_model,
)

ELEMENT_SIZE = 4  # float32
INSTALL_HINT = "Install it with workloads/horovod_synthetic/install_horovod.sh PYTHON"


def build_parser() -> WorkloadArgumentParser:
    parser = WorkloadArgumentParser(
        prog="python -m workloads.horovod_synthetic",
        description="Measure Horovod training throughput on a synthetic batch (--mode train) "
        "or sweep hvd.allreduce over message sizes (--mode allreduce).",
    )
    parser.add_argument(
        "--mode",
        choices=("train", "allreduce"),
        default="train",
        help="what to measure (default: train)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where tensors live. auto picks cuda when torch finds a GPU and Horovod was built "
        "with CUDA (default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch CPU threads per rank (default: usable cores / ranks on this node)",
    )
    parser.add_argument(
        "--min-ranks",
        type=positive_int,
        default=None,
        metavar="N",
        help="fail with exit code 2 when fewer ranks run (default: 2 for --mode allreduce, "
        "because busbw needs 2 ranks, and 1 for --mode train, the scaling baseline)",
    )

    train = parser.add_argument_group("training (--mode train)")
    train.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default=None,
        help="model to train. resnet* come from torchvision, convnet is defined here "
        "(default: resnet50 when torchvision is installed, else convnet)",
    )
    train.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        metavar="N",
        help="images per batch on each rank (default: 32)",
    )
    train.add_argument(
        "--warmup-batches",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="untimed batches before timing starts (default: 10)",
    )
    train.add_argument(
        "--batches",
        type=positive_int,
        default=100,
        metavar="N",
        help="timed batches, as many as the 10 iterations of 10 in Horovod's synthetic benchmark "
        "(default: 100)",
    )
    train.add_argument(
        "--image-size",
        type=positive_int,
        default=224,
        metavar="PIXELS",
        help="height and width of the synthetic images (default: 224)",
    )
    train.add_argument(
        "--num-classes",
        type=positive_int,
        default=1000,
        metavar="N",
        help="classes of the synthetic labels and the model head (default: 1000)",
    )
    train.add_argument(
        "--width",
        type=positive_int,
        default=32,
        metavar="CHANNELS",
        help="convnet only: channels of the first conv layer, doubled in each of the other "
        "two (default: 32)",
    )

    add_sweep_arguments(parser, add_min_ranks=False)
    return parser


def import_horovod() -> Any:
    """Import horovod.torch, or raise UsageError saying how to install it."""
    try:
        import horovod.torch as hvd
    except ImportError as error:
        raise UsageError(f"horovod.torch is not importable ({error}). {INSTALL_HINT}") from None
    return hvd


def select_device(requested: str, hvd: Any) -> str:
    """Select "cpu" or "cuda" for ``--device``, or raise UsageError when CUDA cannot be used."""
    import torch

    usable = torch.cuda.is_available() and bool(hvd.cuda_built())
    if requested == "cpu" or (requested == "auto" and not usable):
        return "cpu"
    if not torch.cuda.is_available():
        raise UsageError(
            "--device cuda needs a GPU, but torch.cuda.is_available() is False. Use --device cpu"
        )
    if not hvd.cuda_built():
        raise UsageError(
            "--device cuda needs Horovod built with CUDA, but hvd.cuda_built() is False. "
            "Rebuild with HOROVOD_GPU_OPERATIONS=NCCL install_horovod.sh PYTHON, or use "
            "--device cpu"
        )
    torch.cuda.set_device(env_local_rank() % torch.cuda.device_count())
    return "cuda"


class HorovodAllreduce:
    """Allreduce through hvd.allreduce / hvd.allreduce_ on preallocated float32 tensors."""

    def __init__(self, hvd: Any, device: str, max_count: int) -> None:
        import torch

        self._hvd = hvd
        self._torch = torch
        self._on_gpu = device == "cuda"
        self.rank = hvd.rank()
        self.ranks = hvd.size()
        self._send = torch.empty(max_count, dtype=torch.float32, device=device)
        self._recv = torch.empty(max_count, dtype=torch.float32, device=device)

    def _synchronize(self) -> None:
        if self._on_gpu:
            self._torch.cuda.synchronize()

    def count_wrong(self, count: int, placement: str) -> int:
        hvd = self._hvd
        if placement == "in-place":
            result = self._recv[:count]
            result.fill_(self.rank + 1)
            hvd.allreduce_(result, op=hvd.Sum)
        else:
            send = self._send[:count]
            send.fill_(self.rank + 1)
            result = hvd.allreduce(send, op=hvd.Sum)
        expected = allreduce_expected_sum(self.ranks)
        return int((result != expected).sum().item())

    def prepare(self, count: int, placement: str) -> Callable[[], None]:
        hvd = self._hvd
        if placement == "in-place":
            recv = self._recv[:count]
            # Zeros stay finite however many times the sum is applied in place.
            recv.zero_()
            return lambda: hvd.allreduce_(recv, op=hvd.Sum)
        send = self._send[:count]
        send.fill_(1)
        return lambda: hvd.allreduce(send, op=hvd.Sum)

    def time_calls(self, call: Callable[[], None], iterations: int) -> float:
        # hvd.allreduce returns once Horovod's background thread has finished the request, so
        # wall-clock time is the call time. CUDA events would miss Horovod's own streams.
        self._synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        self._synchronize()
        return time.perf_counter() - start

    def barrier(self) -> None:
        self._hvd.barrier()

    def reduce_scalar(self, value: float, op: str) -> float:
        hvd = self._hvd
        reduce_op = {"sum": hvd.Sum, "min": hvd.Min, "max": hvd.Max}[op]
        tensor = self._torch.tensor([value], dtype=self._torch.float64)
        return float(hvd.allreduce(tensor, op=reduce_op).item())


def run_allreduce_mode(hvd: Any, device: str, settings: SweepSettings) -> int:
    allreduce = HorovodAllreduce(hvd, device, max(settings.sizes) // ELEMENT_SIZE)
    import horovod

    controller = "MPI" if hvd.mpi_enabled() else "Gloo"
    title = (
        f"allreduce_horovod: Horovod {horovod.__version__} hvd.allreduce, {controller} "
        f"controller, {allreduce.ranks} ranks, device {device}"
    )
    return run_allreduce_sweep(
        allreduce,
        settings,
        workload="allreduce_horovod",
        backend="horovod",
        device=device,
        title=title,
    )


def time_training_batches(hvd: Any, args: Any, model_name: str, device: str) -> list[float]:
    """Train on one synthetic batch and return this rank's images/s for each timed batch."""
    import torch
    import torch.nn.functional as functional

    torch.manual_seed(0)
    model = build_model(model_name, args.num_classes, args.width).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * hvd.size())
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    labels = torch.randint(0, args.num_classes, (args.batch_size,), device=device)
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def train_batch() -> None:
        optimizer.zero_grad()
        loss = functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    model.train()
    for _ in range(args.warmup_batches):
        train_batch()
    synchronize()

    throughputs = []
    for _ in range(args.batches):
        start = time.perf_counter()
        train_batch()
        synchronize()
        throughputs.append(args.batch_size / (time.perf_counter() - start))
    return throughputs


def run_train_mode(hvd: Any, device: str, args: Any, model_name: str) -> int:
    import torch

    throughputs = time_training_batches(hvd, args, model_name, device)
    # Every rank's samples, so the spread covers slow ranks as well as slow batches.
    samples = hvd.allgather(torch.tensor(throughputs, dtype=torch.float64)).tolist()
    if hvd.rank() != 0:
        return EXIT_OK

    per_worker = statistics.fmean(samples)
    stdev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    ranks = hvd.size()
    emit_record(
        {
            "workload": "horovod_synthetic",
            "model": model_name,
            "device": device,
            "ranks": ranks,
            "batch_size": args.batch_size,
            "images_per_sec_per_worker": per_worker,
            "images_per_sec_per_worker_stdev": stdev,
            "images_per_sec_total": per_worker * ranks,
            "batches": args.batches,
        }
    )
    print_stderr(
        f"# horovod_synthetic: model {model_name}, batch size {args.batch_size}, "
        f"{args.image_size}x{args.image_size} images, {ranks} ranks, device {device}, "
        f"{args.warmup_batches} warmup + {args.batches} timed batches"
    )
    print_stderr(f"images/s per worker: {per_worker:.1f} +- {stdev:.1f} (stdev)")
    print_stderr(f"images/s total on {ranks} ranks: {per_worker * ranks:.1f}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model_name = args.model or default_model()
    min_ranks = args.min_ranks or (2 if args.mode == "allreduce" else 1)
    try:
        settings = SweepSettings.from_args(args, ELEMENT_SIZE)
        if args.mode == "train":
            # Fails before hvd.init when torchvision is missing, on every rank alike.
            check_model_available(model_name)
        hvd = import_horovod()
    except (UsageError, ModelUnavailableError) as error:
        fail_usage(str(error))

    import torch

    torch.set_num_threads(args.threads or default_cpu_threads())
    hvd.init()
    try:
        check_rank_count(hvd.size(), min_ranks)
        device = select_device(args.device, hvd)
    except UsageError as error:
        rank = hvd.rank()
        hvd.shutdown()
        fail_usage(str(error), rank)

    try:
        if args.mode == "allreduce":
            return run_allreduce_mode(hvd, device, settings)
        return run_train_mode(hvd, device, args, model_name)
    finally:
        hvd.shutdown()


if __name__ == "__main__":
    sys.exit(main())

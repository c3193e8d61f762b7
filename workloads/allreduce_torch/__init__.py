"""Allreduce bandwidth with ``torch.distributed.all_reduce`` on the gloo or NCCL backend.

Run ``python -m workloads.allreduce_torch --help`` for the options.
"""

"""Allreduce bandwidth with mpi4py's buffer ``Allreduce`` on float32 arrays.

Run ``python -m workloads.allreduce_mpi --help`` for the options.
"""

"""Benchmark programs that run inside MPIJob pods, or locally under mpirun.

Each subpackage is runnable as ``python -m workloads.<name>`` and prints one
``BENCH_RECORD <json>`` line per measurement on stdout (rank 0 only), plus a table on
stderr. This package never imports ``harness``, so an image needs only these files.
"""

"""Horovod (horovod.torch) synthetic training throughput and allreduce bandwidth.

Run ``python -m workloads.horovod_synthetic --help`` for the options, and
``workloads/horovod_synthetic/install_horovod.sh PYTHON`` to install Horovod.
"""

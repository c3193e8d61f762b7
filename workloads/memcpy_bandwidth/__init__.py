"""One-way memory copy bandwidth, the local limit to read next to allreduce busbw.

Run ``python -m workloads.memcpy_bandwidth --help`` for the options.
"""

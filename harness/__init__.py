"""mpijob-bench: performance and scale harness for Kubeflow MPIJob workloads."""

__version__ = "0.1.0"

"""Kubernetes access: clients, the MPIJob resource, and watches that survive restarts."""

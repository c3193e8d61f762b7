"""Local cluster provider: a real control plane started by kwokctl, with simulated nodes."""

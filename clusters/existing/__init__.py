"""Any running cluster reached through a kubeconfig, with the MPI Operator already installed."""

#!/usr/bin/env bash
# Prepare a fresh machine for mpijob-bench: system MPI, the Python environment, Horovod and
# the Go-built control plane. Every step is skipped when its result is already in place, so
# running it again costs seconds.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
venv=${MPIJOB_BENCH_VENV:-$repo_root/.venv}
python_bin=${PYTHON:-python3.11}

step() { printf '\n==> %s\n' "$*"; }

require_command() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "error: $1 not found. $2" >&2
        exit 2
    fi
}

install_system_mpi() {
    # mpicc comes with the headers (libopenmpi-dev), which mpi4py and Horovod compile against.
    if command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1; then
        return
    fi
    step "Installing OpenMPI from Debian packages (openmpi-bin, libopenmpi-dev)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: OpenMPI is missing and this is not root. Run: sudo apt-get install -y openmpi-bin libopenmpi-dev" >&2
        exit 2
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev
}

install_python_env() {
    local stamp="$venv/.mpijob-bench-installed"
    local fingerprint
    fingerprint=$(sha256sum "$repo_root/pyproject.toml" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
        return
    fi
    step "Creating the Python environment in $venv (first run downloads torch, several GB)"
    [ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q --progress-bar on -e "$repo_root[dev,workloads,load]"
    echo "$fingerprint" > "$stamp"
}

install_horovod() {
    local script="$repo_root/workloads/horovod_synthetic/install_horovod.sh"
    if [ -x "$script" ]; then
        step "Checking Horovod"
        "$script" "$venv/bin/python"
    fi
}

build_control_plane() {
    step "Checking the control-plane binaries (first build takes many minutes on 2 cores)"
    "$venv/bin/mpijob-bench" cluster install
}

require_command "$python_bin" "Install Python 3.11 or set PYTHON=/path/to/python3.11."
require_command go "Install Go 1.26 or newer from https://go.dev/dl/ and put it on PATH."
install_system_mpi
install_python_env
install_horovod
build_control_plane
step "Environment ready: $venv"

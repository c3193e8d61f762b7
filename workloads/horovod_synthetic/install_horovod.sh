#!/usr/bin/env bash
# Install Horovod 0.28.1 (horovod.torch, MPI and Gloo controllers) into the environment of
# PYTHON, built from its PyPI source distribution against the torch already installed there.
#
# Usage: install_horovod.sh PYTHON
#
# Horovod 0.28.1 is the last release and its CMake files request C++14, which current torch
# headers reject: torch 2.1 and newer need C++17, and torch 2.15 (seen here) needs C++20. So
# this script raises the standard in the two CMake files that set it. CMakeLists.txt, for the
# Horovod core and Gloo, goes to 17. horovod/torch/CMakeLists.txt, for the torch extension
# that compiles the core sources again, goes to what torch's headers require, 17 or 20.
#
# Steps, each skipped when its result is already in place:
#   1. `import horovod.torch` works and horovod/metadata.json names the installed torch
#      version: nothing to do.
#   2. A wheel for this Horovod, torch, Python, machine, MPI and GPU variant is in the cache:
#      install it (seconds).
#   3. Otherwise download the sdist, patch it, build a wheel with pip (about 15 minutes on
#      2 busy cores in one measurement), store it in the cache and install it.
#
# Environment:
#   MPIJOB_BENCH_CACHE      cache root (default: ${XDG_CACHE_HOME:-~/.cache}/mpijob-bench);
#                           wheels go to $MPIJOB_BENCH_CACHE/wheels, build logs to .../logs
#   HOROVOD_SDIST           path to horovod-0.28.1.tar.gz, for machines without PyPI access
#   HOROVOD_BUILD_JOBS      parallel compile jobs (default: number of CPUs)
#   HOROVOD_GPU_OPERATIONS  set to NCCL for a CUDA build (needs nvcc); when no
#                           HOROVOD_NCCL_* variable is set, the NCCL from torch's
#                           nvidia-nccl wheel is used
#   HOROVOD_BUILD_CUDA_CC_LIST  compute capabilities for the CUDA kernels, e.g. 80,90
#                           (default: every one nvcc supports, which builds slowly)
#   PIP_FIND_LINKS, PIP_NO_INDEX  honoured by pip as usual, for offline installs
#
# Exit codes: 0 installed or already present, 1 build or install failed, 2 bad input or a
# missing prerequisite.
set -euo pipefail

readonly horovod_version=0.28.1

step() { printf '==> %s\n' "$*" >&2; }
fail_input() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    [ $# -eq 1 ] && exit 0
    exit 2
fi

python_bin=$1
if ! command -v "$python_bin" >/dev/null 2>&1; then
    fail_input "PYTHON '$python_bin' not found. Pass the interpreter of the target environment, for example .venv/bin/python."
fi
python_bin=$(command -v "$python_bin")

if ! torch_version=$("$python_bin" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    fail_input "torch is not importable with $python_bin. Install it first: $python_bin -m pip install torch"
fi

gpu_operations=${HOROVOD_GPU_OPERATIONS:-}
case "$gpu_operations" in
    "") variant=cpu ;;
    NCCL) variant=cuda-nccl ;;
    *) fail_input "HOROVOD_GPU_OPERATIONS='$gpu_operations' is not supported here; use NCCL or leave it unset for a CPU build." ;;
esac

# Step 1: an installed Horovod that imports and was built against this torch.
installed_check='
import json, os, sys
import horovod, horovod.torch as hvd
metadata_path = os.path.join(os.path.dirname(horovod.__file__), "metadata.json")
with open(metadata_path) as metadata_file:
    built_for = json.load(metadata_file).get("pytorch")
import torch
ok = horovod.__version__ == sys.argv[1] and built_for == torch.__version__
if sys.argv[2] == "cuda-nccl":
    ok = ok and hvd.nccl_built()
sys.exit(0 if ok else 1)
'
if "$python_bin" -c "$installed_check" "$horovod_version" "$variant" >/dev/null 2>&1; then
    step "Horovod $horovod_version ($variant) is already installed for torch $torch_version; nothing to do"
    exit 0
fi

# Step 2: a cached wheel for exactly this combination.
python_tag=$("$python_bin" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
machine=$(uname -m)
if command -v mpirun >/dev/null 2>&1; then
    # "mpirun (Open MPI) 4.1.4" -> "openmpi-4.1.4". Other MPIs fall back to a generic key.
    mpi_key=$(mpirun --version 2>/dev/null | head -n 1 |
        sed -n 's/.*(Open MPI) \([0-9.]*\).*/openmpi-\1/p')
    mpi_key=${mpi_key:-mpi-unknown}
else
    fail_input "mpirun not found, and Horovod is built with MPI here. Install OpenMPI: apt-get install -y openmpi-bin libopenmpi-dev"
fi

cache_root=${MPIJOB_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpijob-bench}
wheel_dir="$cache_root/wheels/horovod-$horovod_version/torch-$torch_version-$python_tag-$machine-$mpi_key-$variant"
log_dir="$cache_root/logs"
mkdir -p "$wheel_dir" "$log_dir"

install_wheel() {
    step "Installing $(basename "$1")"
    "$python_bin" -m pip install --quiet --force-reinstall --no-deps "$1"
    # The second call installs only Horovod's missing runtime dependencies (cloudpickle,
    # psutil, pyyaml, packaging), without reinstalling torch or anything else present.
    "$python_bin" -m pip install --quiet "$1"
}

verify_import() {
    step "Checking the installed Horovod"
    "$python_bin" -c 'import horovod, horovod.torch as hvd
print(f"horovod {horovod.__version__}: mpi_built={hvd.mpi_built()} gloo_built={hvd.gloo_built()} nccl_built={bool(hvd.nccl_built())}")' >&2
}

cached_wheel=$(find "$wheel_dir" -maxdepth 1 -name "horovod-$horovod_version-*.whl" -print -quit)
if [ -n "$cached_wheel" ]; then
    step "Using the cached wheel in $wheel_dir"
    install_wheel "$cached_wheel"
    verify_import
    exit 0
fi

# Step 3: build from the source distribution.
missing=()
command -v cmake >/dev/null 2>&1 || missing+=("cmake")
command -v mpicxx >/dev/null 2>&1 || missing+=("mpicxx (libopenmpi-dev)")
command -v g++ >/dev/null 2>&1 || missing+=("g++")
if [ ${#missing[@]} -gt 0 ]; then
    fail_input "missing build tools: ${missing[*]}. Install them, for example: apt-get install -y cmake g++ libopenmpi-dev"
fi
if [ "$variant" = cuda-nccl ] && ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    fail_input "HOROVOD_GPU_OPERATIONS=NCCL needs nvcc, which was not found on PATH or in /usr/local/cuda/bin."
fi

# Print 20 when torch's headers reject anything older than C++20, else 17.
required_torch_cxx_standard() {
    "$python_bin" - <<'PYTHON'
import os
import torch

header = os.path.join(
    os.path.dirname(torch.__file__), "include", "torch", "csrc", "api", "include", "torch", "all.h"
)
try:
    with open(header, encoding="utf-8") as header_file:
        text = header_file.read()
except OSError:
    text = ""
# torch 2.15's all.h stops the build with #error when __cplusplus < 202002L.
print(20 if "202002L" in text else 17)
PYTHON
}

# Replace `set(CMAKE_CXX_STANDARD 14)` in FILE with STANDARD and check that it took.
patch_cxx_standard() {
    local cmake_file=$1 standard=$2
    sed -i "s/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD $standard)/" "$cmake_file"
    if grep -q 'set(CMAKE_CXX_STANDARD 14)' "$cmake_file" ||
        ! grep -q "set(CMAKE_CXX_STANDARD $standard)" "$cmake_file"; then
        echo "error: could not patch the C++ standard in $cmake_file" | tee -a "$log_file" >&2
        exit 1
    fi
}

if [ -n "${HOROVOD_SDIST:-}" ] && [ ! -f "$HOROVOD_SDIST" ]; then
    fail_input "HOROVOD_SDIST='$HOROVOD_SDIST' is not a file."
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/horovod-build.XXXXXX")
log_file="$log_dir/horovod-$horovod_version-$(date +%Y%m%d-%H%M%S).log"
cleanup() { rm -rf "$work_dir"; }
report_failure() {
    local status=$?
    if [ $status -ne 0 ]; then
        printf 'error: the Horovod build or install failed (exit %s). Build log: %s\n' "$status" "$log_file" >&2
        if [ -s "$log_file" ]; then
            printf -- '--- last 30 lines of the log ---\n' >&2
            tail -n 30 "$log_file" >&2
        fi
    fi
    cleanup
}
trap report_failure EXIT

if [ -n "${HOROVOD_SDIST:-}" ]; then
    step "Using the source distribution $HOROVOD_SDIST"
    cp "$HOROVOD_SDIST" "$work_dir/"
else
    step "Downloading the horovod==$horovod_version source distribution from the package index"
    "$python_bin" -m pip download --quiet --no-deps --no-binary :all: \
        "horovod==$horovod_version" -d "$work_dir" >>"$log_file" 2>&1
fi
sdist=$(find "$work_dir" -maxdepth 1 -name "horovod-$horovod_version.tar.gz" -print -quit)
[ -n "$sdist" ] || { echo "error: no horovod-$horovod_version.tar.gz in $work_dir" >>"$log_file"; exit 1; }
tar -xzf "$sdist" -C "$work_dir"
source_dir="$work_dir/horovod-$horovod_version"

torch_cxx_standard=$(required_torch_cxx_standard)
step "Raising the C++ standard from 14 to 17 (core) and $torch_cxx_standard (torch extension) in the sdist's CMake files"
patch_cxx_standard "$source_dir/CMakeLists.txt" 17
patch_cxx_standard "$source_dir/horovod/torch/CMakeLists.txt" "$torch_cxx_standard"

if [ "$variant" = cuda-nccl ]; then
    # NOTE: unverified guess for CUDA 12/13 toolkits: Horovod pins its CUDA kernels to C++11,
    # which newer CUDA headers may reject, so they get C++17 as well.
    sed -i 's/set(CMAKE_CUDA_STANDARD 11)/set(CMAKE_CUDA_STANDARD 17)/' \
        "$source_dir/horovod/common/ops/cuda/CMakeLists.txt"
fi

export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
export HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1
export MAKEFLAGS="-j${HOROVOD_BUILD_JOBS:-$(nproc)}"
# NOTE: the CUDA variant has never been built, because no nvcc was at hand. Only CPU builds ran.
if [ "$variant" = cuda-nccl ] && [ -z "${HOROVOD_NCCL_HOME:-}${HOROVOD_NCCL_INCLUDE:-}${HOROVOD_NCCL_LIB:-}" ]; then
    # torch's CUDA wheels depend on nvidia-nccl, which ships nccl.h and libnccl.so.2 but no
    # unversioned libnccl.so for the linker, so link through a symlink in the build folder.
    nccl_dir=$("$python_bin" -c 'import os, nvidia.nccl as n; print(os.path.dirname(n.__file__) if n.__file__ else list(n.__path__)[0])')
    mkdir -p "$work_dir/nccl-lib"
    ln -s "$nccl_dir/lib/libnccl.so.2" "$work_dir/nccl-lib/libnccl.so"
    export HOROVOD_NCCL_INCLUDE="$nccl_dir/include" HOROVOD_NCCL_LIB="$work_dir/nccl-lib"
    export HOROVOD_NCCL_LINK=SHARED
fi

step "Building the wheel against torch $torch_version ($MAKEFLAGS, can take 15 minutes or more on 2 cores). Log: $log_file"
build_start=$(date +%s)
"$python_bin" -m pip wheel --no-build-isolation --no-deps --verbose \
    -w "$work_dir/dist" "$source_dir" >>"$log_file" 2>&1
step "Built in $(($(date +%s) - build_start)) s"

built_wheel=$(find "$work_dir/dist" -maxdepth 1 -name "horovod-$horovod_version-*.whl" -print -quit)
[ -n "$built_wheel" ] || { echo "error: pip reported success but wrote no wheel" >>"$log_file"; exit 1; }

# Copy then rename, so a concurrent or interrupted run never finds a partial wheel.
cp "$built_wheel" "$wheel_dir/.partial.whl"
mv "$wheel_dir/.partial.whl" "$wheel_dir/$(basename "$built_wheel")"
step "Cached the wheel in $wheel_dir"

install_wheel "$wheel_dir/$(basename "$built_wheel")"
verify_import

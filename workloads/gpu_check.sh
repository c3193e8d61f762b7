#!/usr/bin/env bash
# Run the workloads' GPU checks on one machine with NVIDIA GPUs and write their records to
# OUT_DIR. One rank per visible GPU:
#   1. torch.distributed all_reduce on NCCL, 8 B to 1 GiB, out of place and in place;
#   2. Horovod allreduce on CUDA tensors over the same sizes;
#   3. Horovod synthetic training on CUDA;
#   4. one-way memory copy bandwidth of the host, for reference.
# With one GPU every sweep runs with one rank, where busbw is 0 by definition, so only
# time and algbw carry information.
#
# Usage: workloads/gpu_check.sh OUT_DIR
#
# The caller sets PYTHONPATH so that `import workloads` works. Missing Python packages are
# installed with pip from the wheels in $WHEELS_DIR (default: .whl in the repository root),
# without a package index. Horovod must be a CUDA build (HOROVOD_GPU_OPERATIONS=NCCL with
# install_horovod.sh). Otherwise its checks are skipped and the reason is written to
# OUT_DIR/notes.txt.
#
# Output in OUT_DIR, per check NAME:
#   NAME.stdout    the workload's stdout: its BENCH_RECORD lines
#   NAME.stderr    its table and messages
#   records.jsonl  every record of every check, without the BENCH_RECORD prefix
#   notes.txt      the environment, skipped checks and failures
#
# Environment: PYTHON (default python3), WHEELS_DIR, CHECK_TIMEOUT_S (per check, default 300).
# Exit codes: 0 all checks that ran passed, 1 a check failed, 2 bad usage or no GPU.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "error: missing OUT_DIR. Usage: $0 OUT_DIR" >&2
    exit 2
fi

out_dir=$1
repo_root=$(cd "$(dirname "$0")/.." && pwd)
python_bin=${PYTHON:-python3}
wheels_dir=${WHEELS_DIR:-$repo_root/.whl}
check_timeout_s=${CHECK_TIMEOUT_S:-300}
notes="$out_dir/notes.txt"
failed=0

mkdir -p "$out_dir"
: > "$notes"
: > "$out_dir/records.jsonl"

note() { printf '%s\n' "$*" | tee -a "$notes" >&2; }

python_can_import() { "$python_bin" -c "import $1" >/dev/null 2>&1; }

install_from_wheels() {
    # Install each module's distribution from the carried wheels, when not importable yet.
    local module distribution
    for pair in "$@"; do
        module=${pair%%=*}
        distribution=${pair#*=}
        python_can_import "$module" && continue
        if [ ! -d "$wheels_dir" ]; then
            note "missing: $module, and no wheel directory $wheels_dir"
            continue
        fi
        note "installing $distribution from $wheels_dir"
        "$python_bin" -m pip install --quiet --no-index --find-links "$wheels_dir" \
            "$distribution" >>"$notes" 2>&1 || note "failed to install $distribution from $wheels_dir"
    done
}

# Run one workload as NAME with RANKS ranks. LAUNCHER is mpirun, torchrun, horovodrun or
# direct, which starts one process and ignores RANKS.
run_check() {
    local name=$1 launcher=$2 ranks=$3
    shift 3
    local command
    case "$launcher" in
        direct) command=("$python_bin" -m "$@") ;;
        mpirun) command=(mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$python_bin" -m "$@") ;;
        torchrun) command=("$python_bin" -m torch.distributed.run --standalone --nproc-per-node "$ranks" -m "$@") ;;
        horovodrun) command=(horovodrun --gloo -np "$ranks" -H "localhost:$ranks" "$python_bin" -m "$@") ;;
    esac

    note "running $name: ${command[*]}"
    local start status
    start=$(date +%s)
    timeout "$check_timeout_s" "${command[@]}" >"$out_dir/$name.stdout" 2>"$out_dir/$name.stderr"
    status=$?
    note "$name: exit code $status after $(($(date +%s) - start)) s"
    if [ "$status" -ne 0 ]; then
        failed=1
        [ "$status" -eq 124 ] && note "$name: timed out after $check_timeout_s s"
        tail -n 20 "$out_dir/$name.stderr" >&2
    fi
    sed -n 's/^BENCH_RECORD //p' "$out_dir/$name.stdout" >>"$out_dir/records.jsonl"
}

install_from_wheels numpy=numpy torch=torch mpi4py=mpi4py
if ! python_can_import torch; then
    echo "error: torch is not importable with $python_bin. Carry its wheels in $wheels_dir" >&2
    exit 2
fi

gpu_count=$("$python_bin" -c 'import torch; print(torch.cuda.device_count())' 2>>"$notes")
if [ -z "$gpu_count" ] || [ "$gpu_count" -lt 1 ]; then
    echo "error: torch finds no CUDA GPU (torch.cuda.device_count() = ${gpu_count:-failed})" >&2
    exit 2
fi
note "$("$python_bin" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, NCCL {torch.cuda.nccl.version()}, GPUs: {[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")')"
if [ "$gpu_count" -eq 1 ]; then
    note "one GPU: every sweep runs with ranks=1, where busbw is 0 by definition"
fi

if command -v mpirun >/dev/null 2>&1 && python_can_import mpi4py; then
    launcher=mpirun
else
    launcher=torchrun
    note "mpirun or mpi4py is missing: launching the torch sweep with torchrun"
fi

sweep=(--min-bytes 8 --max-bytes 1G --min-ranks 1 --time-limit 1)

run_check allreduce_torch_nccl "$launcher" "$gpu_count" \
    workloads.allreduce_torch --backend nccl "${sweep[@]}"

run_check memcpy_bandwidth direct 1 workloads.memcpy_bandwidth

# torchvision is optional: with it the training check uses ResNet-50, else convnet.
install_from_wheels horovod=horovod torchvision=torchvision
horovod_state=$("$python_bin" -c 'import horovod.torch as hvd; print("cuda" if hvd.cuda_built() and hvd.nccl_built() else "cpu-only")' 2>/dev/null || echo missing)
if [ "$horovod_state" != cuda ]; then
    note "skipped Horovod checks: horovod.torch is $horovod_state; build it with HOROVOD_GPU_OPERATIONS=NCCL workloads/horovod_synthetic/install_horovod.sh PYTHON"
else
    horovod_launcher=$launcher
    [ "$launcher" = torchrun ] && horovod_launcher=horovodrun
    run_check allreduce_horovod "$horovod_launcher" "$gpu_count" \
        workloads.horovod_synthetic --mode allreduce --device cuda "${sweep[@]}"
    run_check horovod_synthetic "$horovod_launcher" "$gpu_count" \
        workloads.horovod_synthetic --mode train --device cuda --batch-size 64 --batches 50
fi

note "records: $(wc -l <"$out_dir/records.jsonl") in $out_dir/records.jsonl"
exit "$failed"

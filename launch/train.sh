#!/usr/bin/env bash
# Train with mpirun: launch/train.sh CONFIG [-np N] [--hostfile FILE] [more mbc-train arguments]
#   launch/train.sh configs/cifar10.yaml -np 2
#   launch/train.sh configs/cifar10.yaml -np 8 --hostfile hosts --set optim.global_batch=128
# One OpenBLAS thread per rank, each rank bound to a core; the root flags only when running as root.
# SIGINT or SIGTERM to this script stops every rank at the next step boundary, after a checkpoint,
# and the script exits 130; a second one aborts at once. (It sends mpirun SIGUSR1, which mpirun
# forwards to the ranks: mpirun itself, told to stop, gives the ranks only
# odls_base_sigkill_timeout seconds.)
set -euo pipefail
usage() { echo "usage: launch/train.sh CONFIG [-np N] [--hostfile FILE] [mbc-train arguments...]" >&2; exit 2; }
# A flag given last without its value: say which, then the usage (exit 2, as mbc-train's usage errors).
needs_value() { echo "launch/train.sh: $1 needs a value ($2)" >&2; usage; }
[ $# -ge 1 ] || usage
config=$1; shift
[ -f "$config" ] || { echo "launch/train.sh: no config file '$config'" >&2; exit 2; }
np=2
mpi_args=()
rest=()
while [ $# -gt 0 ]; do
    case "$1" in
        -np|-n) [ $# -ge 2 ] || needs_value "$1" "a number of ranks"; np=$2; shift 2 ;;
        --hostfile|-hostfile) [ $# -ge 2 ] || needs_value "$1" "a hostfile"; mpi_args+=(--hostfile "$2"); shift 2 ;;
        *) rest+=("$1"); shift ;;
    esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
binary=${MBC_TRAIN:-$here/.build/release/mbc-train}
if [ ! -x "$binary" ]; then
    echo "building mbc-train (release)..." >&2
    (cd "$here" && swift build -c release --product mbc-train >&2)
fi
[ "$(id -u)" -eq 0 ] && mpi_args+=(--allow-run-as-root)
# Each rank picks its OpenBLAS kernels for its CPU; a user's OPENBLAS_CORETYPE overrides that, on every host.
[ -n "${OPENBLAS_CORETYPE:-}" ] && mpi_args+=(-x OPENBLAS_CORETYPE)
case "$np" in ''|*[!0-9]*) echo "launch/train.sh: -np takes a number of ranks, not '$np'" >&2; exit 2 ;; esac
mpirun -np "$np" --bind-to core -x OPENBLAS_NUM_THREADS=1 "${mpi_args[@]}" \
    "$binary" train --config "$config" "${rest[@]}" &
mpirun_pid=$!
stopping=""
stop() {
    if [ -n "$stopping" ]; then
        kill -TERM "$mpirun_pid" 2>/dev/null || true
    else
        stopping=1
        echo "launch/train.sh: stopping every rank at the next step boundary (a checkpoint is written); signal again to abort at once" >&2
        kill -USR1 "$mpirun_pid" 2>/dev/null || true
    fi
}
trap stop INT TERM
# `wait` returns early when a trapped signal arrives; wait again until mpirun has exited.
status=0
while true; do
    wait "$mpirun_pid" && status=0 || status=$?
    kill -0 "$mpirun_pid" 2>/dev/null || break
done
if [ -n "$stopping" ] && [ "$status" -eq 0 ]; then status=130; fi
exit "$status"

#!/usr/bin/env bash
# Train with mpirun: launch/train.sh CONFIG [-np N] [--hostfile FILE] [more mbc-train arguments]
#   launch/train.sh configs/cifar10.yaml -np 2
#   launch/train.sh configs/cifar10.yaml -np 8 --hostfile hosts --set optim.global_batch=128
# One OpenBLAS thread per rank, each rank bound to a core; the root flags only when running as root.
set -euo pipefail
usage() { echo "usage: launch/train.sh CONFIG [-np N] [--hostfile FILE] [mbc-train arguments...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
config=$1; shift
[ -f "$config" ] || { echo "launch/train.sh: no config file '$config'" >&2; exit 2; }
np=2
mpi_args=()
rest=()
while [ $# -gt 0 ]; do
    case "$1" in
        -np|-n) np=$2; shift 2 ;;
        --hostfile|-hostfile) mpi_args+=(--hostfile "$2"); shift 2 ;;
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
source "$here/launch/openblas-coretype.sh"
[ -n "${OPENBLAS_CORETYPE:-}" ] && mpi_args+=(-x OPENBLAS_CORETYPE)
exec mpirun -np "$np" --bind-to core -x OPENBLAS_NUM_THREADS=1 "${mpi_args[@]}" \
    "$binary" train --config "$config" "${rest[@]}"

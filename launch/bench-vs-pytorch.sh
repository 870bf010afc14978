#!/usr/bin/env bash
# The comparison benchmark: mbc under `mpirun -np 2` against PyTorch DDP (gloo,
# 2 processes x 1 thread), and mbc at 1 rank, on synthetic 3x32x32 data, global batch 128, for
# the 64-64-128 and 64-128-256 k=4 models, one run after the other; then a table with ratios and
# which targets hold. The raw JSON lines are appended to $MBC_BENCH_OUT (default bench-vs-pytorch.jsonl);
# the table takes the latest lines of each model.
#   launch/bench-vs-pytorch.sh [--no-install] [--warmup 2] [--steps 5] [--eval-images 2048] [--models "64-64-128 64-128-256"]
# Installs PyPI's torch and Debian's tcmalloc with reference/install-torch.sh (skip: --no-install),
# builds mbc-bench (release), and runs PyTorch with LD_PRELOAD=libtcmalloc_minimal.so.4.
# Takes about 10 minutes on 2 cores; run nothing else meanwhile.
set -euo pipefail
usage() { sed -n 2,10p "$0" >&2; exit 2; }
install=1 warmup=2 steps=5 eval_images=2048 models="64-64-128 64-128-256"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) install=0; shift ;;
        --warmup) warmup=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --eval-images) eval_images=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        *) usage ;;
    esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
out=${MBC_BENCH_OUT:-bench-vs-pytorch.jsonl}
[ "$install" -eq 1 ] && bash "$here/reference/install-torch.sh"
(cd "$here" && swift build -c release --product mbc-bench >&2)
bench=$here/.build/release/mbc-bench
# mbc runs as launch/train.sh runs it: one OpenBLAS thread per rank (the ddp lines name the kernels).
mpi=(mpirun --bind-to core -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
[ -n "${OPENBLAS_CORETYPE:-}" ] && mpi+=(-x OPENBLAS_CORETYPE)
# awk reads all of ldconfig's output: exiting at the first match could kill ldconfig with SIGPIPE,
# which pipefail turns into a silent exit of this script (it happened under load).
tcmalloc=$(ldconfig -p | awk '/libtcmalloc_minimal.so.4 / && !found {print $NF; found=1}')
[ -n "$tcmalloc" ] || echo "warning: libtcmalloc_minimal.so.4 not found; PyTorch runs with glibc malloc (much slower; BENCHMARKS.md says why)" >&2
common=(--warmup "$warmup" --steps "$steps")

echo "# $(date -u +%Y-%m-%dT%H:%MZ) mbc $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown); $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; swift $(swift --version 2>&1 | sed -n 's/.*Swift version \([^ ]*\).*/\1/p' | head -1); $(mpirun --version | head -1); torch $(python3 -c 'import torch; print(torch.__version__)')" | tee -a "$out"
for model in $models; do
    echo "== $model: mbc, mpirun -np 2" >&2
    "${mpi[@]}" -np 2 "$bench" ddp --model "$model" "${common[@]}" --eval-images "$eval_images" --eval-repeats 1 | tee -a "$out"
    echo "== $model: mbc, 1 rank" >&2
    OPENBLAS_NUM_THREADS=1 "$bench" ddp --model "$model" "${common[@]}" --eval-images 256 --eval-repeats 0 | tee -a "$out"
    echo "== $model: PyTorch DDP gloo, 2 processes x 1 thread; evaluation 2 threads" >&2
    env -u OPENBLAS_CORETYPE LD_PRELOAD=$tcmalloc OMP_NUM_THREADS=1 python3 "$here/reference/bench_ddp.py" --model "$model" "${common[@]}" \
        --eval-images "$eval_images" --eval-repeats 1 | tee -a "$out"
done
echo
python3 "$here/reference/bench_table.py" "$out"

#!/usr/bin/env bash
# The gradient allreduce overlapped with backward against the blocking one, across 2 test hosts
# (launch/netns-cluster.sh) whose links tc shapes to each rate given, for each model; and each
# model on one rank alone, the baseline of the speed-ups. Rounds interleave the variants, so
# drifting load hits them alike. One JSON line per run (mbc-bench ddp's, with "hosts" and "link"
# added) goes to $MBC_BENCH_OUT (default bench-overlap.jsonl), then a table of medians to stdout.
#   launch/bench-overlap.sh [--rounds 2] [--warmup 5] [--steps 5] [--rates "1gbit 10gbit"] [--models "64-64-128 64-128-256"]
# Needs root, iproute2 and a release build of mbc-bench (swift build -c release --product mbc-bench).
# auto (distributed.overlap: auto) measures steps 2 to 4 and chooses after step 4, so the default
# warm-up of 5 steps keeps the timed steps after its choice.
# Takes about 12 minutes on 2 cores with the defaults; run nothing else meanwhile.
set -euo pipefail
usage() { sed -n 2,11p "$0" >&2; exit 2; }
rounds=2 warmup=5 steps=5 rates="1gbit 10gbit" models="64-64-128 64-128-256"
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
        --rounds) rounds=$2 ;;
        --warmup) warmup=$2 ;;
        --steps) steps=$2 ;;
        --rates) rates=$2 ;;
        --models) models=$2 ;;
        *) usage ;;
    esac
    shift 2
done
here=$(cd "$(dirname "$0")/.." && pwd)
bench=$here/.build/release/mbc-bench
[ -x "$bench" ] || { echo "no $bench: build it with swift build -c release --product mbc-bench" >&2; exit 2; }
common=(--warmup "$warmup" --steps "$steps" --eval-images 64 --eval-repeats 0)
out=${MBC_BENCH_OUT:-bench-overlap.jsonl}
export OPENBLAS_NUM_THREADS=1

echo "# $(date -u +%Y-%m-%dT%H:%MZ) mbc $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown); $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; tbf burst 1mb latency 100ms at each link end" | tee "$out"
tagged() { sed -n "s/^{\"side\": \"mbc\"/{\"side\": \"mbc\", \"hosts\": $1, \"link\": \"$2\"/p"; }
for round in $(seq "$rounds"); do
    for model in $models; do
        "$bench" ddp --model "$model" "${common[@]}" | tagged 1 none >> "$out"
        for rate in $rates; do
            for overlap in off on auto; do
                "$here/launch/netns-cluster.sh" 2 --tc "tbf rate $rate burst 1mb latency 100ms" -- \
                    "$bench" ddp --model "$model" "${common[@]}" --overlap "$overlap" 2>/dev/null | tagged 2 "$rate" >> "$out"
            done
        done
    done
done
python3 - "$out" <<'TABLE'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
one = {}
groups = {}
for r in runs:
    speed = r["train_images_per_second_median_step"]
    if r["hosts"] == 1:
        one.setdefault(r["model"], []).append(speed)
    else:
        mode = ("auto: " + r["allreduce_chosen"].split(" from")[0]) if "auto:" in r["allreduce"] else \
            "overlapped" if "overlapped" in r["allreduce"] else "after backward"
        groups.setdefault((r["model"], r["link"], mode), []).append(speed)
print("model       link     allreduce              img/s (median)  vs one rank alone")
for (model, link, mode), speeds in sorted(groups.items()):
    base = statistics.median(one[model])
    mid = statistics.median(speeds)
    print(f"{model:11} {link:8} {mode:22} {mid:8.2f}        {mid / base:5.2f}x  (one rank {base:.2f}; {len(speeds)} rounds)")
TABLE

#!/usr/bin/env python3
"""The model of data-parallel step time against hosts of docs/SCALING.md, as a table.

    python3 launch/step-time-model.py scaling-one-rank.jsonl \\
        --params 64-64-128=1370944 --params 64-128-256=4385856

ONE_RANK.jsonl holds `mbc-bench ddp` lines of one rank (no mpirun) at several --global-batch
values, i.e. per-rank batches. For H hosts of one rank each and global batch G:

    step(H) = compute(G/H) + allreduce(H) + update
    allreduce(H) = 2 (H-1)/H * 4P / bandwidth + 2 (H-1) * latency     (ring; 0 for H = 1)

compute(b) is forward + backward + data at per-rank batch b, measured where b was run and
linear through the two nearest measured batches elsewhere (marked `*` where extrapolated);
update is the measured SGD step (it does not shrink with H); P is the parameter count
(`mbc-train summary --json`: parameters).

With --overlap, the allreduce runs during backward (distributed.overlap: on), bucket by bucket;
only the last bucket (--bucket-mib of the 4P bytes) must wait for the end of backward:

    step(H) = forward(G/H) + max(backward(G/H) + allreduce(H) * bucket / 4P, allreduce(H)) + update

--per-rank-batch b adds rows whose global batch grows with the hosts, G = b * H (with
`optim.lr_scaling: linear` and a warm-up: beyond the paper). Standard library only.
"""
import argparse
import json
import sys


def read_compute(path):
    """{model: {per-rank batch: (compute s, backward s, update s)}} from one-rank mbc-bench lines."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            run = json.loads(line)
            if run.get("ranks") != 1:
                sys.exit(f"{path}: a line of {run.get('ranks')} ranks; give one-rank runs only")
            phases = run["per_rank"][0]["phase_seconds_per_step"]
            compute = phases.get("forward", 0) + phases.get("backward", 0) + phases.get("data", 0)
            table.setdefault(run["model"], {})[run["global_batch"]] = (compute, phases.get("backward", 0), phases.get("update", 0))
    return table


def at_batch(points, b):
    """(compute, backward, extrapolated) at per-rank batch b: measured, or linear in b."""
    if b in points:
        return points[b][0], points[b][1], False
    batches = sorted(points)
    below = [x for x in batches if x < b]
    above = [x for x in batches if x > b]
    if below and above:
        lo, hi = below[-1], above[0]
    elif below:
        lo, hi = (below[-2], below[-1]) if len(below) >= 2 else (below[-1], below[-1])
    else:
        lo, hi = (above[0], above[1]) if len(above) >= 2 else (above[0], above[0])
    if lo == hi:
        return points[lo][0] * b / lo, points[lo][1] * b / lo, True
    t = (b - lo) / (hi - lo)
    value = [points[lo][i] + t * (points[hi][i] - points[lo][i]) for i in (0, 1)]
    return value[0], value[1], not (lo < b < hi)


def allreduce_seconds(parameters, hosts, bits_per_second, latency):
    if hosts == 1:
        return 0.0
    return 2 * (hosts - 1) / hosts * 4 * parameters * 8 / bits_per_second + 2 * (hosts - 1) * latency


def main():
    parser = argparse.ArgumentParser(description="Predicted step time and speed-up against hosts.")
    parser.add_argument("one_rank", help="JSON lines of one-rank `mbc-bench ddp` runs")
    parser.add_argument("--params", action="append", required=True, metavar="MODEL=P",
                        help="parameter count of a model, e.g. 64-64-128=1370944 (repeat per model)")
    parser.add_argument("--hosts", default="1,2,4,8,16")
    parser.add_argument("--global-batch", default="128,512")
    parser.add_argument("--gbits", default="1,10", help="link bandwidths, Gbit/s")
    parser.add_argument("--latency-us", type=float, default=50.0, help="per message, microseconds")
    parser.add_argument("--overlap", action="store_true", help="the allreduce overlapped with backward")
    parser.add_argument("--bucket-mib", type=float, default=4.0, help="allreduce bucket size (with --overlap)")
    parser.add_argument("--per-rank-batch", default="", help="also rows of global batch b*H for these b, e.g. 64")
    args = parser.parse_args()

    compute = read_compute(args.one_rank)
    params = {}
    for item in args.params:
        model, _, count = item.partition("=")
        params[model] = int(count)
    hosts = [int(x) for x in args.hosts.split(",")]
    latency = args.latency_us * 1e-6

    mode = f"allreduce overlapped with backward, {args.bucket_mib:g} MiB buckets" if args.overlap else "allreduce after backward"
    print(f"{mode}; latency {args.latency_us:g} us; times in seconds per step; `*` compute extrapolated linearly; "
          "A/B = allreduce / backward")
    print()
    print("| model | global batch | link | " + " | ".join(f"H={h}" for h in hosts) + " |")
    print("| --- | ---: | --- | " + " | ".join("---:" for _ in hosts) + " |")
    for model, parameters in params.items():
        if model not in compute:
            sys.exit(f"{args.one_rank}: no one-rank run of {model}")
        points = compute[model]
        update = max(u for _, _, u in points.values())
        batches = [(int(x), False) for x in args.global_batch.split(",") if x]
        batches += [(int(x), True) for x in args.per_rank_batch.split(",") if x]
        for batch, per_rank in batches:
            for gbits in [float(x) for x in args.gbits.split(",")]:
                cells = []
                for h in hosts:
                    local = batch if per_rank else batch / h
                    c, backward, extrapolated = at_batch(points, local)
                    a = allreduce_seconds(parameters, h, gbits * 1e9, latency)
                    if args.overlap:
                        last = a * min(1.0, args.bucket_mib * 2**20 / (4 * parameters))
                        step = c - backward + max(backward + last, a) + update
                    else:
                        step = c + a + update
                    # Images per second over one host's at its batch (b, or G): H hosts do H times
                    # the images per step when the global batch grows with them.
                    c1, _, _ = at_batch(points, batch)
                    speedup = (h if per_rank else 1) * (c1 + update) / step
                    ratio = f", A/B {a / backward:.2f}" if h > 1 else ""
                    cells.append(f"{step:.3f}{'*' if extrapolated else ''} ({speedup:.2f}x{ratio})")
                label = f"{batch}·H" if per_rank else f"{batch}"
                print(f"| {model} | {label} | {gbits:g} Gbit/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

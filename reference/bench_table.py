"""Reads the JSON lines of `mbc-bench ddp` and `bench_ddp.py` (one file, as written by
`launch/bench-vs-pytorch.sh`) and prints the comparison table, the ratios and which of the
comparison's targets hold (issue 15): training images/s of mbc at 2 ranks >= 3.0x PyTorch DDP,
evaluation images/s >= 4.0x, 2 ranks >= 1.85x 1 rank, peak resident memory per rank <= 0.7x
PyTorch's. (BENCHMARKS.md's history records runs against the earlier targets 2.0x, 2.0x, 1.8x, 1x.)"""
import json
import sys

TRAIN_RATIO, EVAL_RATIO, SCALING, MEMORY = 3.0, 4.0, 1.85, 0.7


def peak(run):
    return max(r["peak_rss_mib"] for r in run["per_rank"])


def training_peak(run):
    return max(r.get("peak_rss_mib_training", r["peak_rss_mib"]) for r in run["per_rank"])


def phases(run):
    p = run["per_rank"][0]["phase_seconds_per_step"]
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(p.items(), key=lambda kv: -kv[1]))


def main(path):
    runs = [json.loads(line) for line in open(path) if line.startswith("{")]
    models = list(dict.fromkeys(r["model"] for r in runs))
    find = {(r["side"], r["model"], r["ranks"]): r for r in runs}
    verdicts = []
    print("| model (k=4) | mbc 2 ranks | mbc 1 rank | PyTorch DDP 2x1 | mbc/PyTorch | 2 ranks/1 rank |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for m in models:
        mbc2, mbc1, pt = find.get(("mbc", m, 2)), find.get(("mbc", m, 1)), find.get(("pytorch", m, 2))
        if not (mbc2 and pt):
            print(f"| {m} | missing runs | | | | |")
            continue
        tr = mbc2["train_images_per_second"] / pt["train_images_per_second"]
        sc = mbc2["train_images_per_second"] / mbc1["train_images_per_second"] if mbc1 else None
        ev = mbc2["eval_images_per_second"] / pt["eval_images_per_second"]
        mbc_peak, pt_peak = peak(mbc2), max(peak(pt), pt.get("eval_peak_rss_mib") or 0)
        mem = mbc_peak / pt_peak
        print(f"| {m} training img/s | {mbc2['train_images_per_second']:.1f} | "
              f"{mbc1['train_images_per_second'] if mbc1 else float('nan'):.1f} | {pt['train_images_per_second']:.1f} | "
              f"{tr:.2f}x | {sc if sc else float('nan'):.2f}x |")
        print(f"| {m} evaluation img/s (batch {mbc2['eval_batch']}; 2 ranks vs {pt['eval_threads']} threads) | "
              f"{mbc2['eval_images_per_second']:.1f} | | {pt['eval_images_per_second']:.1f} | {ev:.2f}x | |")
        print(f"| {m} peak RSS per rank, MiB (training only) | {mbc_peak:.0f} ({training_peak(mbc2):.0f}) | "
              f"{peak(mbc1) if mbc1 else float('nan'):.0f} | {pt_peak:.0f} ({training_peak(pt):.0f}) | {mem:.2f}x | |")
        rows.append((m, mbc2, pt))
        verdicts += [(f"{m}: training >= {TRAIN_RATIO}x PyTorch", tr >= TRAIN_RATIO, f"{tr:.2f}x"),
                     (f"{m}: evaluation >= {EVAL_RATIO}x PyTorch", ev >= EVAL_RATIO, f"{ev:.2f}x"),
                     (f"{m}: peak RSS per rank <= {MEMORY}x PyTorch's", mem <= MEMORY, f"{mem:.2f}x PyTorch's")]
        if sc is not None:
            verdicts.append((f"{m}: 2 ranks >= {SCALING}x 1 rank", sc >= SCALING, f"{sc:.2f}x"))
    print()
    print("Seconds per timed training step by phase (rank 0):")
    for m, mbc2, pt in rows:
        print(f"  {m} mbc:     {phases(mbc2)}")
        print(f"  {m} PyTorch: {phases(pt)}  (DDP's allreduce overlaps backward)")
    print()
    print("Targets:")
    for name, ok, value in verdicts:
        print(f"  {'HOLDS ' if ok else 'MISSED'}  {name}: {value}")


if __name__ == "__main__":
    main(sys.argv[1])

"""PyTorch side of mbc's comparison benchmark (`launch/bench-vs-pytorch.sh`).

Training: DistributedDataParallel over the reference model (`mbcliquenet.py`), gloo backend,
`--ranks` processes x 1 thread each (rank r pinned to CPU r, as `mpirun --bind-to core` pins
mbc's ranks), SGD momentum 0.9, weight decay 5e-4, global batch 128 (64 per rank at 2 ranks),
synthetic 3x32x32 input already in memory (no augmentation, as on mbc's side). `--warmup` steps
are run first, then `--steps` timed steps; images/s = global batch x timed steps / their wall time.
Each timed step is split into data / forward (with the loss) / backward (DDP's gradient
allreduce overlaps it, so allreduce is inside backward) / update.

Evaluation: one process, `--eval-threads` threads, eval mode, `torch.no_grad()`, batches of
`--eval-batch`, over `--eval-images` synthetic images, median of `--eval-repeats` passes after one
warm-up batch.

`--eval-only` skips the training (the train_* keys are null, per_rank empty): PyTorch's side of
the exported-model comparison in BENCHMARKS.md, run between `mbc-bench deploy` rounds.

Peak resident memory: `resource.getrusage(RUSAGE_SELF).ru_maxrss` of each training rank and of
the evaluation process. Prints one JSON line (the keys of `mbc-bench ddp`'s line).

Install torch with `reference/install-torch.sh`; run with tcmalloc preloaded for a fair
comparison (`LD_PRELOAD=libtcmalloc_minimal.so.4`; BENCHMARKS.md says why).
"""
import argparse
import json
import os
import resource
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mbcliquenet as ref  # noqa: E402


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def model_config(args):
    return ref.Config(widths=args.widths, k=args.k)


def train_rank(rank, args, port, results):
    os.sched_setaffinity(0, {rank % os.cpu_count()})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.ranks)
    local = args.global_batch // args.ranks
    torch.manual_seed(1 + rank)
    images = torch.randn(4 * local, 3, 32, 32)
    labels = torch.randint(0, 10, (4 * local,))
    model = DDP(ref.MBCliqueNet(model_config(args)))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    phases = {"data": 0.0, "forward": 0.0, "backward": 0.0, "update": 0.0}
    step_seconds = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        i = step % 4
        x = images[i * local:(i + 1) * local].contiguous()
        y = labels[i * local:(i + 1) * local].contiguous()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if step >= args.warmup:
            for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name] += dt
            step_seconds.append(t4 - t0)
    # Every rank ends each step after the same allreduce, so rank 0's wall time is the step time.
    results.put((rank, {"peak_rss_mib": round(peak_rss_mib(), 1),
                        "phase_seconds_per_step": {k: round(v / args.steps, 4) for k, v in phases.items()}},
                 step_seconds))
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(args):
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=train_rank, args=(r, args, port, results)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"bench_ddp.py: a training rank exited with {p.exitcode}")
    got.sort(key=lambda g: g[0])
    step_seconds = got[0][2]
    return [g[1] for g in got], step_seconds


def evaluate(args):
    torch.set_num_threads(args.eval_threads)
    model = ref.MBCliqueNet(model_config(args)).eval()
    images = torch.randn(args.eval_images, 3, 32, 32)
    times = []
    with torch.no_grad():
        model(images[:args.eval_batch])  # warm-up
        for _ in range(args.eval_repeats):
            t0 = time.perf_counter()
            for i in range(0, args.eval_images, args.eval_batch):
                model(images[i:i + args.eval_batch])
            times.append(time.perf_counter() - t0)
    return args.eval_images / statistics.median(times), peak_rss_mib()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="64-64-128", help="block widths, e.g. 64-128-256")
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--global-batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--eval-images", type=int, default=2048)
    p.add_argument("--eval-batch", type=int, default=256)
    p.add_argument("--eval-threads", type=int, default=2)
    p.add_argument("--eval-repeats", type=int, default=1, help="0 skips the evaluation")
    p.add_argument("--eval-only", action="store_true", help="skip the training, evaluate only")
    args = p.parse_args()
    args.widths = [int(w) for w in args.model.split("-")]
    if args.global_batch % args.ranks:
        sys.exit(f"--global-batch {args.global_batch} is not divisible by --ranks {args.ranks}")

    if args.eval_only and args.eval_repeats < 1:
        sys.exit("--eval-only needs --eval-repeats >= 1")
    per_rank, step_seconds = ([], None) if args.eval_only else train(args)
    eval_ips, eval_rss = evaluate(args) if args.eval_repeats > 0 else (None, None)
    print(json.dumps({
        "side": "pytorch", "model": args.model, "k": args.k, "ranks": args.ranks,
        "global_batch": args.global_batch, "warmup": args.warmup, "steps": args.steps,
        "train_images_per_second": None if step_seconds is None else round(args.global_batch * args.steps / sum(step_seconds), 2),
        "train_images_per_second_median_step": None if step_seconds is None else round(args.global_batch / statistics.median(step_seconds), 2),
        "train_step_seconds": None if step_seconds is None else [round(s, 4) for s in step_seconds],
        "eval_images": args.eval_images, "eval_batch": args.eval_batch, "eval_threads": args.eval_threads,
        "eval_images_per_second": None if eval_ips is None else round(eval_ips, 2),
        "eval_peak_rss_mib": None if eval_rss is None else round(eval_rss, 1),
        "per_rank": per_rank,
        "torch": torch.__version__,
        "tcmalloc": "tcmalloc" in os.environ.get("LD_PRELOAD", ""),
    }))


if __name__ == "__main__":
    main()

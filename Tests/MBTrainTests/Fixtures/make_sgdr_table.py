"""Reference tables for SGDRScheduleTests and SGDTests, produced by PyTorch.

    pip install torch
    python3 Tests/MBTrainTests/Fixtures/make_sgdr_table.py   # writes sgdr_sgd_reference.json here

Generated with torch 2.15.0+cu132 (the default PyPI wheel, run on the CPU). CI does not run Python; the JSON is committed.

SGDR: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts stepped per iteration with fractional
epochs, `scheduler.step(epoch + i / steps_per_epoch)`, and the lr read from the optimizer.
PyTorch has no "power-of-two" boundaries (periods T0, T0, T0*m, ...); they are the same scheduler
shifted by one period after the first cycle: step(x) for x < T0, step(x - T0) afterwards.

SGD: torch.optim.SGD(momentum, weight_decay, no dampening, no Nesterov) on a float32 vector of 8,
with two parameter groups (elements 0..<5 with weight decay, 5..<8 without) to check per-range
weight decay, for 4 steps with given gradients and a different lr each step.
"""
import json
import math
import os
import warnings

import torch

warnings.filterwarnings("ignore")  # step(epoch) is deprecated in favour of step(); we need fractions.


def sgdr_table(lr_max, lr_min, t0, t_mult, boundaries, steps_per_epoch, epochs):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr_max)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t0, T_mult=t_mult, eta_min=lr_min)
    lrs = []
    for step in range(epochs * steps_per_epoch):
        epoch, i = divmod(step, steps_per_epoch)
        if boundaries == "power-of-two" and epoch >= t0:
            epoch -= t0
        sched.step(epoch + i / steps_per_epoch)
        lrs.append(opt.param_groups[0]["lr"])
    return dict(lr_max=lr_max, lr_min=lr_min, t0_epochs=t0, t_mult=t_mult, boundaries=boundaries,
                steps_per_epoch=steps_per_epoch, epochs=epochs, lrs=lrs)


def sgd_steps():
    torch.manual_seed(0)
    w0 = torch.randn(8, dtype=torch.float32)
    decayed = torch.nn.Parameter(w0[:5].clone())
    plain = torch.nn.Parameter(w0[5:].clone())
    momentum, weight_decay = 0.9, 5e-2
    opt = torch.optim.SGD([dict(params=[decayed], weight_decay=weight_decay), dict(params=[plain], weight_decay=0.0)],
                          lr=0.1, momentum=momentum)
    lrs = [0.1, 0.05, 0.2, 0.01]
    grads, values = [], []
    for lr in lrs:
        g = torch.randn(8, dtype=torch.float32)
        for group in opt.param_groups:
            group["lr"] = lr
        decayed.grad = g[:5].clone()
        plain.grad = g[5:].clone()
        opt.step()
        grads.append(g.tolist())
        values.append(torch.cat([decayed.detach(), plain.detach()]).tolist())
    return dict(momentum=momentum, weight_decay=weight_decay, decayed=[0, 5], initial=w0.tolist(),
                lrs=lrs, grads=grads, values=values)


def main():
    tables = [
        sgdr_table(0.1, 1e-4, 2, 2, "mcdonnell", 7, 30),
        sgdr_table(0.1, 1e-4, 2, 2, "power-of-two", 7, 32),
        sgdr_table(0.05, 0.0, 3, 1, "mcdonnell", 5, 12),
        sgdr_table(0.2, 1e-3, 1, 3, "mcdonnell", 4, 13),
    ]
    out = dict(torch=torch.__version__, sgdr=tables, sgd=sgd_steps())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sgdr_sgd_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {sum(len(t['lrs']) for t in tables)} learning rates, {len(out['sgd']['lrs'])} SGD steps")


if __name__ == "__main__":
    main()

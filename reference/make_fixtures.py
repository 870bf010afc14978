"""Writes the fixtures of `Tests/MBCliqueNetTests/ReferenceFixtureTests.swift` with the PyTorch
reference (`mbcliquenet.py`): for each tiny configuration below, one safetensors file holding

    input (N, C, H, W) F32, labels (N,) I32
    init.<name>     every parameter and buffer before training (names = mbc's tensor names)
    logits (N, K), loss ()          training-mode forward of init.* on input
    grad.<param>    d(mean cross-entropy)/d(param) of that forward
    forward.<buf>   BN running statistics after that forward
    lrs (3,) F64    the learning rates of SGD steps 0, 1, 2
    final.<name>    every parameter and buffer after three SGD steps (each: zero grads, training
                    forward + backward on the same input, SGD step at lrs[step])
    eval_logits     evaluation-mode forward (running statistics) of final.* on input

and `__metadata__` with the model config (`config`, JSON with mbc's `model:` keys), the optimizer
and schedule (`sgd`, `sgdr`, JSON) and the tool versions.

SGD is torch.optim.SGD(momentum 0.9, weight_decay 5e-4 on every parameter, no dampening, no
Nesterov). The learning rate of step s comes from torch's CosineAnnealingWarmRestarts(T_0=1,
T_mult=2, eta_min=1e-4) stepped with the fractional epoch s / steps_per_epoch (steps_per_epoch = 2,
so step 1 is mid-cycle and step 2 is a warm restart); it is asserted equal to the closed form that
mbc's SGDRSchedule(lrMax 0.01, lrMin 1e-4, t0Epochs 1, tMult 2, mcdonnell, stepsPerEpoch 2) computes.

The parameters are the initialisation of docs/MODEL.md section 8, from a seed, with BN gamma/beta
and running statistics randomised so that no gradient is special, and binarized latents pushed at least 1e-3 away from 0.
Robustness against Float32 rounding is checked, not hoped for: the same three steps are rerun in
Float64 and the seed is rejected unless (a) every binarized latent used by a forward pass (initial,
after step 0, after step 1) has the same sign in both runs with a margin |w| >= 1e-4 (and, with
clip_ste, | |w| - 1 | >= 1e-4, so the STE mask is the same too), and (b) the
Float32 logits, gradients and final parameters agree with Float64 to the bounds below. The
Float32-vs-Float64 differences are printed; they are the scale of the tolerances in the Swift test.

    pip install torch safetensors numpy
    python3 reference/make_fixtures.py        # writes Tests/MBCliqueNetTests/Fixtures/*.safetensors
"""
import copy
import json
import os
import platform
import warnings

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

import mbcliquenet as ref

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "MBCliqueNetTests", "Fixtures")

BATCH = 4
STEPS = 3
SGD = dict(momentum=0.9, weight_decay=5e-4)
SGDR = dict(lr_max=0.01, lr_min=1e-4, t0_epochs=1, t_mult=2, boundaries="mcdonnell", steps_per_epoch=2)
LATENT_FLOOR = 1e-3      # |w| of every binarized latent at the start
SIGN_MARGIN = 1e-4       # |w| of every binarized latent a forward pass reads, in the Float64 run
F64_BOUND = 2e-4         # relative L2 bound of Float32 vs Float64, per tensor (seed rejected above)

FIXTURES = {
    # name: (config, what it covers)
    "tiny_k2_all": (ref.Config(in_channels=3, image_size=8, classes=5, widths=[8, 16], layers=2, k=2,
                               stem_channels=8, compression=True, binarize="all"),
                    "default reading R2, every conv 1-bit"),
    "tiny_k2_none": (ref.Config(in_channels=3, image_size=8, classes=5, widths=[8, 16], layers=2, k=2,
                                stem_channels=8, compression=True, binarize="none"),
                     "u-MBCliqueNet: Q = M * C, float convs"),
    "tiny_k4_l3_nocompress_clip": (ref.Config(in_channels=3, image_size=8, classes=5, widths=[8, 16], layers=3, k=4,
                                              stem_channels=8, compression=False, binarize="except-stem-head",
                                              clip_ste=True),
                                   "L = 3 (full Stage-II ordering), k = 4, reading R1, float stem and head, "
                                   "clipped STE with some latents beyond |w| = 1"),
}


def lrs():
    """Learning rates of steps 0..STEPS-1 from torch's scheduler, checked against the closed form."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=SGDR["lr_max"])
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=SGDR["t0_epochs"], T_mult=SGDR["t_mult"],
                                                                 eta_min=SGDR["lr_min"])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch) is deprecated, but fractional epochs need it
        for step in range(STEPS):
            sched.step(step / SGDR["steps_per_epoch"])
            lr = opt.param_groups[0]["lr"]
            closed = ref.sgdr_lr(step, SGDR["lr_max"], SGDR["lr_min"], SGDR["t0_epochs"], SGDR["t_mult"],
                                 SGDR["steps_per_epoch"])
            assert abs(lr - closed) < 1e-15, (step, lr, closed)
            out.append(lr)
    return out


def draw_model(cfg, seed):
    torch.manual_seed(seed)
    model = ref.MBCliqueNet(cfg)
    g = torch.Generator().manual_seed(seed)
    model.reset_parameters(g)
    binary = set(model.binary_latents())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in binary:
                p.copy_(torch.where(p >= 0, p.clamp(min=LATENT_FLOOR), p.clamp(max=-LATENT_FLOOR)))
                if cfg.clip_ste:
                    # A fifth of the latents beyond |w| = 1, so the clipped STE cancels something.
                    big = torch.rand(p.shape, generator=g) < 0.2
                    p.copy_(torch.where(big, p * 40, p))
        for m in model.modules():
            if isinstance(m, ref.BatchNorm):
                c = m.weight.numel()
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(1 + torch.rand(c, generator=g))
    x = torch.randn(BATCH, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    y = torch.randint(0, cfg.classes, (BATCH,), generator=g)
    return model, x, y


def run(model, x, y, rates):
    """The record of a fixture: first forward/backward, then STEPS SGD steps."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=rates[0], **SGD)
    rec = {"init": {k: v.clone() for k, v in model.state_dict().items()}, "latents": []}
    binary = model.binary_latents()
    for step, lr in enumerate(rates):
        rec["latents"].append({n: p.detach().clone() for n, p in model.named_parameters() if n in binary})
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            rec["logits"] = logits.detach().clone()
            rec["loss"] = loss.detach().clone()
            rec["grad"] = {n: p.grad.clone() for n, p in model.named_parameters()}
            rec["forward"] = {n: b.clone() for n, b in model.named_buffers()}
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
    rec["final"] = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        rec["eval_logits"] = model(x)
    model.train()
    return rec


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / max(float(b.norm()), 1e-12))


def check_against_float64(model32, x, y, rates, rec32):
    """Reruns in Float64; returns the worst relative differences, or None when a sign is at risk."""
    model64 = copy.deepcopy(model32).double()
    model64.load_state_dict({k: v.double() for k, v in rec32["init"].items()})
    rec64 = run(model64, x.double(), y, rates)
    for step, (l32, l64) in enumerate(zip(rec32["latents"], rec64["latents"])):
        for name in l32:
            if not torch.equal(ref.sign(l32[name]).double(), ref.sign(l64[name])):
                print(f"  sign differs from Float64 in {name} before step {step}")
                return None
            margin = float(l64[name].abs().min())
            if model32.cfg.clip_ste:  # the clipped STE's mask |w| <= 1 must not be at risk either
                margin = min(margin, float((l64[name].abs() - 1).abs().min()))
            if margin < SIGN_MARGIN:
                print(f"  {name} has a latent {margin:.1e} from 0 (or from |w| = 1 with clip_ste) before step {step}")
                return None
    worst = {
        "logits": rel(rec32["logits"], rec64["logits"]),
        "grad": max(rel(rec32["grad"][n], rec64["grad"][n]) for n in rec32["grad"]),
        "forward": max(rel(rec32["forward"][n], rec64["forward"][n]) for n in rec32["forward"]),
        "final": max(rel(rec32["final"][n], rec64["final"][n]) for n in rec32["final"]),
        "eval_logits": rel(rec32["eval_logits"], rec64["eval_logits"]),
    }
    return worst


def numpy_tensors(rec, x, y, rates):
    out = {"input": x.numpy(), "labels": y.to(torch.int32).numpy(), "logits": rec["logits"].numpy(),
           "eval_logits": rec["eval_logits"].numpy(),
           "loss": rec["loss"].numpy().reshape(()), "lrs": np.array(rates, dtype=np.float64)}
    for prefix in ("init", "grad", "forward", "final"):
        for name, t in rec[prefix].items():
            out[f"{prefix}.{name}"] = np.ascontiguousarray(t.numpy())
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    rates = lrs()
    for name, (cfg, covers) in FIXTURES.items():
        for seed in range(1, 50):
            model, x, y = draw_model(cfg, seed)
            rec = run(model, x, y, rates)
            worst = check_against_float64(model, x, y, rates, rec)
            if worst is not None and max(worst.values()) < F64_BOUND:
                break
            print(f"{name}: seed {seed} rejected ({worst})")
        else:
            raise SystemExit(f"{name}: no seed passed the Float64 check")
        metadata = {
            "format": "mbc-reference-fixture", "version": "1", "covers": covers,
            "config": cfg.to_json(), "sgd": json.dumps(SGD, sort_keys=True), "sgdr": json.dumps(SGDR, sort_keys=True),
            "steps": str(STEPS), "seed": str(seed),
            "generator": f"reference/make_fixtures.py, torch {torch.__version__}, safetensors {safetensors.__version__}, "
                         f"numpy {np.__version__}, python {platform.python_version()}",
            "float32_vs_float64": json.dumps(worst, sort_keys=True),
        }
        path = os.path.join(OUT, f"{name}.safetensors")
        save_file(numpy_tensors(rec, x, y, rates), path, metadata=metadata)
        print(f"{name}: seed {seed}, loss {float(rec['loss']):.6f}, Float32 vs Float64 (relative L2, worst tensor): "
              + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + f"; wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

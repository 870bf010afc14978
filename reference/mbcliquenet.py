"""A PyTorch reference of Modulated Binary CliqueNet, written from `docs/MODEL.md`.

It is the test oracle for mbc (`Tests/MBCliqueNetTests/ReferenceFixtureTests.swift`), so it is
written the plain way the paper's authors would have: the modulated 3x3 filters are rebuilt
explicitly, `Q[i*k + j] = M[j] * sign(C[i])` (M[j] broadcast over input channels), and
convolved with `F.conv2d`; the 1-bit convs use the sign with straight-through gradients.

Parameter and buffer names equal mbc's tensor names (`model.state_dict()` keys are exactly the
names mbc lists in `parameters.infos` and `state.infos`), with the same shapes, so tensors move
between the two by name. Sections of docs/MODEL.md are cited as (§n).
"""
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Which conv kinds each `binarize` scope makes 1-bit (§7.4; mbc `BinarizeScope`).
SCOPES = {
    "all": {"stem", "block1x1", "modulated3x3", "transition", "compression", "head"},
    "except-stem-head": {"block1x1", "modulated3x3", "transition", "compression"},
    "block": {"block1x1", "modulated3x3"},
    "modulated": {"modulated3x3"},
    "none": set(),  # u-MBCliqueNet: Q = M * C and float convs everywhere
}

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass
class Config:
    """The network's shape and numerics; field names and defaults follow mbc's `model:` section."""
    in_channels: int = 3
    image_size: int = 32
    classes: int = 10
    widths: list = field(default_factory=lambda: [64, 64, 128])
    layers: int = 4
    k: int = 4
    stem_channels: int = 64
    compression: bool = True
    binarize: str = "all"
    clip_ste: bool = False
    init_n: str = "9c"  # n of the modulated conv's init N(0, 2/n): "9c" or "c" (§8)

    def __post_init__(self):
        assert self.binarize in SCOPES, f"binarize must be one of {sorted(SCOPES)}"
        assert self.init_n in ("9c", "c")
        assert all(c % self.k == 0 for c in self.widths), "every width must be a multiple of k"

    def binarizes(self, kind):
        return kind in SCOPES[self.binarize]

    def to_json(self):
        return json.dumps(asdict(self), sort_keys=True)


def sign(w):
    """sign with sign(0) = +1, as a real +-1 (§7.1); torch.sign(0) would be 0."""
    return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))


class ScaledSignSTE(torch.autograd.Function):
    """Forward `scale * sign(w)`; backward: the gradient of the forward weight passes to the
    latent w unchanged (identity straight-through estimator, *not* multiplied by `scale`:
    McDonnell's stop_gradient trick, §7.3), cancelled where |w| > 1 when `clip` (BNN-style)."""

    @staticmethod
    def forward(ctx, w, scale, clip):
        ctx.save_for_backward(w)
        ctx.clip = clip
        return sign(w) * scale

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        if ctx.clip:
            grad = grad * (w.abs() <= 1).to(grad.dtype)
        return grad, None, None


def mcdonnell_scale(fan_in):
    """sqrt(2 / fan_in) (§7.2), rounded to float32 the way mbc computes it (2/fan_in and the
    square root in float32), so both sides multiply by the same number."""
    return float(np.sqrt(np.float32(2) / np.float32(fan_in)))


class ConvWeight(nn.Module):
    """A latent conv weight (no bias anywhere, §8), registered as `<module>.weight`."""

    def __init__(self, *shape):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*shape))


class BatchNorm(nn.Module):
    """BatchNorm2d(eps 1e-5, momentum 0.1, affine), with exactly the tensors mbc stores:
    weight, bias (parameters) and running_mean, running_var (buffers; no num_batches_tracked)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x, relu):
        y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         training=self.training, momentum=BN_MOMENTUM, eps=BN_EPS)
        return F.relu(y) if relu else y


class Net:
    """Forward weights of the network's convs under the config's binarization scope."""

    def __init__(self, cfg):
        self.cfg = cfg

    def scaled(self, w, kind, fan_in):
        """McDonnell's `sqrt(2/fan_in) * sign(W)` for a binarized non-modulated conv (§7.2), else W.
        `fan_in` is kh*kw*C_in of this particular use."""
        if not self.cfg.binarizes(kind):
            return w
        return ScaledSignSTE.apply(w, mcdonnell_scale(fan_in), self.cfg.clip_ste)

    def modulated(self, c_latent, m):
        """Q (c, c, 3, 3) with Q[i*k + j][ch] = M[j] * sign(C[i][ch]) (§6.1); Q = M * C when the
        3x3s are not binarized. Autograd gives dC_i = sum_j dQ_{ik+j} * M_j (identity STE) and
        dM_j = sum_i sum_ch dQ_{ik+j} * sign(C_i) (§6.3)."""
        b = ScaledSignSTE.apply(c_latent, 1.0, self.cfg.clip_ste) if self.cfg.binarizes("modulated3x3") else c_latent
        filters, channels = b.shape[0], b.shape[1]
        k = m.shape[0]
        q = b[:, None, :, :, :] * m[None, :, None, :, :]   # (c/k, k, c, 3, 3)
        return q.reshape(filters * k, channels, 3, 3)


class CliqueLayer(nn.Module):
    """BN-ReLU over the concatenated inputs -> 1x1 to c -> BN-ReLU -> modulated 3x3 (c -> c)."""

    def __init__(self, in_channels, width):
        super().__init__()
        self.bn1 = BatchNorm(in_channels)
        self.bn2 = BatchNorm(width)

    def forward(self, inputs, w1x1, q):
        x = self.bn1(torch.cat(inputs, 1), relu=True)
        u = F.conv2d(x, w1x1)
        return F.conv2d(self.bn2(u, relu=True), q, padding=1)


class CliqueBlock(nn.Module):
    """The bottleneck clique block (§3): W_li (1x1) and each layer's latent 3x3 C shared by
    Stage-I and Stage-II, separate BNs per stage, one M-filter (k, 3, 3) per block."""

    def __init__(self, a, c, cfg):
        super().__init__()
        L, k = cfg.layers, cfg.k
        self.a, self.c, self.L = a, c, L
        self.conv1x1 = nn.ModuleDict({f"{l}_{i}": ConvWeight(c, a if l == 0 else c, 1, 1)
                                      for i in range(1, L + 1) for l in range(L + 1) if l != i})
        self.conv3x3 = nn.ModuleDict({str(i): ConvWeight(c // k, c, 3, 3) for i in range(1, L + 1)})
        self.mfilter = nn.Parameter(torch.empty(k, 3, 3))
        self.stage1 = nn.ModuleDict({str(i): CliqueLayer(a + (i - 1) * c, c) for i in range(1, L + 1)})
        self.stage2 = nn.ModuleDict({str(i): CliqueLayer((L - 1) * c, c) for i in range(1, L + 1)})

    def w(self, l, i):
        return self.conv1x1[f"{l}_{i}"].weight

    def forward(self, x0, net):
        L, a, c = self.L, self.a, self.c
        q = {i: net.modulated(self.conv3x3[str(i)].weight, self.mfilter) for i in range(1, L + 1)}
        x1 = {}   # Stage-I outputs X_i^(1)
        for i in range(1, L + 1):
            # U_i = W_{[0..i-1] -> i} * phi([X0, X1(1), ..., X(i-1)(1)]), fan-in a + (i-1)c
            w = torch.cat([self.w(l, i) for l in range(i)], 1)
            w = net.scaled(w, "block1x1", a + (i - 1) * c)
            x1[i] = self.stage1[str(i)]([x0] + [x1[l] for l in range(1, i)], w, q[i])
        x2 = {}   # Stage-II outputs X_i^(2): reads X_l(2) for l < i, X_m(1) for m > i, ascending
        for i in range(1, L + 1):
            sources = [l for l in range(1, L + 1) if l != i]
            w = torch.cat([self.w(l, i) for l in sources], 1)
            w = net.scaled(w, "block1x1", (L - 1) * c)
            x2[i] = self.stage2[str(i)]([x2[l] if l < i else x1[l] for l in sources], w, q[i])
        return [x2[i] for i in range(1, L + 1)]


class Transition(nn.Module):
    """BN-ReLU over Stage-II -> 1x1 conv (Lc -> Lc) -> 2x2 average pool, stride 2 (§4)."""

    def __init__(self, channels):
        super().__init__()
        self.bn = BatchNorm(channels)
        self.conv = ConvWeight(channels, channels, 1, 1)

    def forward(self, s2, net):
        x = self.bn(torch.cat(s2, 1), relu=True)
        w = net.scaled(self.conv.weight, "transition", self.conv.weight.shape[1])
        return F.avg_pool2d(F.conv2d(x, w), 2, 2)


class Compression(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.bn = BatchNorm(f)
        self.conv = ConvWeight(f // 2, f, 1, 1)


class BlockPool(nn.Module):
    """F = [X0, Stage-II] -> (compression: BN-ReLU -> 1x1 to floor(f/2)) -> BN-ReLU -> GAP (§5)."""

    def __init__(self, f, compression):
        super().__init__()
        if compression:
            self.compress = Compression(f)
            f = f // 2
        self.bn = BatchNorm(f)
        self.out_channels = f

    def forward(self, x0, s2, net):
        x = torch.cat([x0] + s2, 1)
        if hasattr(self, "compress"):
            w = net.scaled(self.compress.conv.weight, "compression", x.shape[1])
            x = F.conv2d(self.compress.bn(x, relu=True), w)
        return self.bn(x, relu=True).mean(dim=(2, 3), keepdim=True)


class Head(nn.Module):
    def __init__(self, d, classes):
        super().__init__()
        self.conv = ConvWeight(classes, d, 1, 1)
        self.bn = BatchNorm(classes)


class MBCliqueNet(nn.Module):
    """stem 3x3 -> clique blocks with transitions between them -> per-block (compression)
    BN-ReLU-GAP -> concatenated vector -> 1x1 conv -> BN -> logits (§2-5)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.net = Net(cfg)
        self.stem = ConvWeight(cfg.stem_channels, cfg.in_channels, 3, 3)
        blocks, pools, transitions = [], [], []
        a, d = cfg.stem_channels, 0
        for b, c in enumerate(cfg.widths):
            blocks.append(CliqueBlock(a, c, cfg))
            pools.append(BlockPool(a + cfg.layers * c, cfg.compression))
            d += pools[-1].out_channels
            if b < len(cfg.widths) - 1:
                transitions.append(Transition(cfg.layers * c))
                a = cfg.layers * c
        self.blocks = nn.ModuleList(blocks)
        self.pools = nn.ModuleList(pools)
        self.transitions = nn.ModuleList(transitions)
        self.head = Head(d, cfg.classes)
        self.reset_parameters(torch.Generator().manual_seed(0))

    def forward(self, images):
        net, cfg = self.net, self.cfg
        # Stem: 3x3, stride 1, pad 1, no BN/ReLU after it (§2).
        x = F.conv2d(images, net.scaled(self.stem.weight, "stem", 9 * cfg.in_channels), padding=1)
        features = []
        for b, block in enumerate(self.blocks):
            s2 = block(x, net)
            features.append(self.pools[b](x, s2, net))
            if b < len(self.transitions):
                x = self.transitions[b](s2, net)
        v = torch.cat(features, 1)                                  # (N, D, 1, 1)
        w = net.scaled(self.head.conv.weight, "head", v.shape[1])
        logits = self.head.bn(F.conv2d(v, w), relu=False)          # no ReLU before the softmax
        return logits.flatten(1)

    @torch.no_grad()
    def reset_parameters(self, generator):
        """§8: modulated C and M ~ N(0, 2/n), n = 9c (or c); other conv weights
        ~ N(0, 2/fan_in) with fan_in from their first use; BN gamma 1, beta 0, stats 0 and 1."""
        def normal(t, fan):
            t.copy_(torch.randn(t.shape, generator=generator, dtype=t.dtype) * math.sqrt(2 / fan))

        cfg = self.cfg
        normal(self.stem.weight, 9 * cfg.in_channels)
        for block in self.blocks:
            a, c, L = block.a, block.c, block.L
            for i in range(1, L + 1):
                for l in range(L + 1):
                    if l != i:
                        normal(block.w(l, i), a + (i - 1) * c if l < i else (L - 1) * c)
            n = 9 * c if cfg.init_n == "9c" else c
            for i in range(1, L + 1):
                normal(block.conv3x3[str(i)].weight, n)
            normal(block.mfilter, n)
        for t in self.transitions:
            normal(t.conv.weight, t.conv.weight.shape[1])
        for p in self.pools:
            if hasattr(p, "compress"):
                normal(p.compress.conv.weight, p.compress.conv.weight.shape[1])
        normal(self.head.conv.weight, self.head.conv.weight.shape[1])
        for m in self.modules():
            if isinstance(m, BatchNorm):
                m.weight.fill_(1)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1)

    def binary_latents(self):
        """Names of the parameters whose sign is used in the forward pass (1-bit when deployed)."""
        cfg, names = self.cfg, []
        for name, _ in self.named_parameters():
            if name.endswith("mfilter") or not name.endswith(".weight"):
                continue
            kind = ("stem" if name.startswith("stem.") else "head" if name.startswith("head.conv") else
                    "block1x1" if ".conv1x1." in name else "modulated3x3" if ".conv3x3." in name else
                    "transition" if name.startswith("transitions.") and ".conv." in name else
                    "compression" if ".compress.conv." in name else None)
            if kind is not None and cfg.binarizes(kind):
                names.append(name)
        return names


def sgdr_lr(step, lr_max, lr_min, t0_epochs, t_mult, steps_per_epoch):
    """mbc's `SGDRSchedule.learningRate(atStep:)` with McDonnell boundaries (periods T0, T0*m, ...),
    in closed form: lr_min + (lr_max - lr_min)(1 + cos(pi * t / T)) / 2, t in fractional epochs."""
    first, period = 0, t0_epochs
    while step >= first + period * steps_per_epoch:
        first += period * steps_per_epoch
        period *= t_mult
    progress = (step - first) / (period * steps_per_epoch)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * progress))

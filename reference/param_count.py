#!/usr/bin/env python3
"""Parameter counts of MBCliqueNet, from the formula in docs/MODEL.md (section "Parameter count").

A second route to the numbers mbc's `ModelSummary` reports: this script knows nothing of mbc's
code, only the formula. `Tests/MBCliqueNetTests/ModelTests.swift` runs it with `--json` and
compares every count with the model it builds from the same configuration.

    python3 reference/param_count.py          # a table, one line per configuration
    python3 reference/param_count.py --json   # the same as a JSON list

Standard library only.
"""

import argparse
import json
import sys


def block_parameters(a, c, layers, k, compression):
    """Parameters of one clique block with input channels a, width c, and its block pool.

    Returns (parameters, pooled channels): the pooled channels are what the block adds to the
    head's feature vector.
    """
    L = layers
    f = a + L * c                        # F = [X0, X1(2), ..., XL(2)]
    weights_1x1 = L * a * c + L * (L - 1) * c * c
    latent_3x3 = L * (c // k) * c * 9    # the only term divided by k
    m_filter = 9 * k
    bn = 2 * (L * a + c * L * (L - 1) // 2)   # Stage-I before each 1x1
    bn += 2 * L * (L - 1) * c                 # Stage-II before each 1x1
    bn += 2 * 2 * L * c                       # before each modulated 3x3, both stages
    if compression:
        pooled = f // 2
        pool = 2 * f + f * pooled + 2 * pooled   # BN, 1x1 f -> f/2, BN before the average pool
    else:
        pooled = f
        pool = 2 * f                             # BN before the average pool
    return weights_1x1 + latent_3x3 + m_filter + bn + pool, pooled


def total_parameters(widths, k, classes, in_channels=3, layers=4, stem_channels=64, compression=True):
    """All parameters of the network: stem, blocks with their pools, transitions, head."""
    total = 9 * in_channels * stem_channels
    a = stem_channels
    features = 0
    for b, c in enumerate(widths):
        block, pooled = block_parameters(a, c, layers, k, compression)
        total += block
        features += pooled
        if b < len(widths) - 1:
            channels = layers * c
            total += channels * channels + 2 * channels   # transition: 1x1 Lc -> Lc and its BN
            a = channels
    total += features * classes + 2 * classes   # head: 1x1 D -> K (no bias) and its BN
    return total


# The configurations Tests/MBCliqueNetTests/ModelTests.swift checks: the paper's CIFAR and
# MNIST/SVHN models, its k ablation, the Tiny ImageNet model, each with and without compression
# where the tests ask, and a tiny network the gradient tests use.
CONFIGS = [
    dict(widths=[64, 64, 128], k=4),
    dict(widths=[64, 64, 128], k=2),
    dict(widths=[64, 64, 128], k=8),
    dict(widths=[64, 128, 256], k=4),
    dict(widths=[64, 128, 256], k=4, classes=100),
    dict(widths=[64, 64, 128], k=4, in_channels=1, image_size=28),
    dict(widths=[64, 128, 128, 160], k=4, classes=100, layers=6, image_size=64),
    dict(widths=[64, 64, 128], k=4, compression=False),
    dict(widths=[64, 64, 128], k=2, compression=False),
    dict(widths=[64, 64, 128], k=8, compression=False),
    dict(widths=[64, 128, 256], k=4, classes=100, compression=False),
    dict(widths=[8, 8], k=2, classes=4, layers=2, image_size=8, stem_channels=8),
    dict(widths=[8, 8], k=2, classes=4, layers=2, image_size=8, stem_channels=8, compression=False),
]

DEFAULTS = dict(k=4, classes=10, in_channels=3, layers=4, image_size=32, stem_channels=64, compression=True)


def rows():
    out = []
    for overrides in CONFIGS:
        config = dict(DEFAULTS, **overrides)
        counted = {key: value for key, value in config.items() if key != "image_size"}
        config["parameters"] = total_parameters(**counted)
        out.append(config)
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON list of configurations with their counts")
    args = parser.parse_args(argv)
    table = rows()
    if args.json:
        print("[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in table) + "\n]")
        return 0
    print(f"{'widths':<18} {'L':>2} {'k':>2} {'classes':>7} {'in':>3} {'stem':>4} {'compression':>11} {'parameters':>12}")
    for r in table:
        widths = "-".join(str(c) for c in r["widths"])
        print(f"{widths:<18} {r['layers']:>2} {r['k']:>2} {r['classes']:>7} {r['in_channels']:>3} "
              f"{r['stem_channels']:>4} {str(r['compression']).lower():>11} {r['parameters']:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

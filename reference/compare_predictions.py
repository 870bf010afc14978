"""Per-image predictions of a checkpoint and of its export on the MNIST test set (issue 11:
"predictions are identical to the checkpoint's on the full MNIST test set").

`mbc-train eval` prints only the test loss and top-1/top-5, so the per-image classes come from
three readers of the two files:

1. the export through mbc itself: the 10,000 test images are written as 8-bit grayscale PNGs
   (into --work, reused if there) and classified by `mbc-train predict --json --top CLASSES`
   (mbc's `DeployedModel`), from whose probabilities the loss is computed;
2. the checkpoint through the PyTorch reference (`mbcliquenet.py`, eval mode, float32), its
   tensors loaded by name, inputs normalized with the checkpoint's recorded mean and std;
3. the export through `export_reader.py` (NumPy, float64, written from docs/FORMATS.md).

Prints the test loss and top-1 of each, how many images' top class differs between each pair,
the largest softmax difference between (1) and (2), and the smallest top-1/top-2 margin.
Run it after the README's first run and export (with `mbc-train eval --checkpoint` and
`eval --model` for mbc's own aggregate figures; BENCHMARKS.md shows them side by side):

    python3 reference/compare_predictions.py --checkpoint runs/quick/checkpoints/best.safetensors \\
        --export quick.mbc.safetensors

Needs torch and numpy (reference/install-torch.sh).
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_reader  # noqa: E402
import mbcliquenet as ref  # noqa: E402


def read_mnist_test(root):
    with gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n, h, w = struct.unpack(">III", raw[4:16])
    images = np.frombuffer(raw[16:16 + n * h * w], np.uint8).reshape(n, h, w)
    with gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], np.uint8).astype(np.int64)
    return images, labels


def write_png(path, gray):
    """An 8-bit grayscale PNG, unfiltered rows, one IDAT chunk."""
    h, w = gray.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + gray[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def log_softmax(logits):
    z = logits - logits.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--export", required=True)
    p.add_argument("--data-root", default="data/mnist")
    p.add_argument("--mbc-train", default=".build/release/mbc-train")
    p.add_argument("--work", default="/tmp/mbc-compare-predictions", help="where the PNGs and predict's JSON go")
    args = p.parse_args()

    images, labels = read_mnist_test(args.data_root)
    n = len(images)
    os.makedirs(os.path.join(args.work, "png"), exist_ok=True)
    paths = [os.path.join(args.work, "png", f"{i:05d}.png") for i in range(n)]
    for path, image in zip(paths, images):
        if not os.path.exists(path):
            write_png(path, image)

    exported = export_reader.ExportedModel(args.export)  # checks the file's checksum
    config = ref.Config(**exported.config)
    classes = config.classes

    # 1. mbc's DeployedModel, through the CLI
    run = subprocess.run([args.mbc_train, "predict", "--json", "--top", str(classes), "--model", args.export] + paths,
                         capture_output=True, check=True)
    predictions = json.loads(run.stdout)
    assert [q["image"] for q in predictions] == paths
    probs = np.zeros((n, classes))
    for i, q in enumerate(predictions):
        for entry in q["top"]:
            probs[i, entry["index"]] = entry["probability"]
    mbc_export = np.log(np.maximum(probs, 1e-300))

    # 2. the checkpoint in the PyTorch reference
    tensors, meta = export_reader.read_safetensors(args.checkpoint)
    model = ref.MBCliqueNet(config)
    state = model.state_dict()
    missing = [k for k in state if k not in tensors]
    if missing:
        sys.exit(f"the checkpoint lacks {missing[:3]}")
    model.load_state_dict({k: torch.from_numpy(np.array(tensors[k][0]).reshape(state[k].shape)).to(state[k].dtype)
                           for k in state})
    model.eval()
    mean = np.array(json.loads("[" + meta["input_mean"].strip("[]") + "]"), dtype=np.float32)
    std = np.array(json.loads("[" + meta["input_std"].strip("[]") + "]"), dtype=np.float32)
    x = torch.from_numpy(((images[:, None].astype(np.float32) / 255 - mean[None, :, None, None]) / std[None, :, None, None]))
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 500]) for i in range(0, n, 500)]).double().numpy()
    torch_checkpoint = log_softmax(logits)

    # 3. the export in NumPy float64
    numpy_export = log_softmax(np.concatenate([exported.logits(images[i:i + 500, None]) for i in range(0, n, 500)]))

    readers = [("mbc predict, export", mbc_export), ("PyTorch reference, checkpoint", torch_checkpoint),
               ("export_reader.py, export", numpy_export)]
    top = {}
    for name, logp in readers:
        top[name] = logp.argmax(1)
        correct = int((top[name] == labels).sum())
        print(f"{name}: test loss {-logp[np.arange(n), labels].mean():.6f}  top-1 {100 * correct / n:.2f}% ({correct} of {n})")
    for i in range(len(readers)):
        for j in range(i + 1, len(readers)):
            a, b = readers[i][0], readers[j][0]
            print(f"top class differs, {a} vs {b}: {int((top[a] != top[b]).sum())} of {n} images")
    print(f"largest softmax difference, mbc predict vs PyTorch checkpoint: {np.abs(probs - np.exp(torch_checkpoint)).max():.2e}")
    ordered = np.sort(np.exp(torch_checkpoint), 1)
    print(f"smallest top-1/top-2 probability margin (checkpoint): {(ordered[:, -1] - ordered[:, -2]).min():.4f}")


if __name__ == "__main__":
    main()

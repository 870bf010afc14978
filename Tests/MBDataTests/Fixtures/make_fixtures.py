#!/usr/bin/env python3
"""Writes the MBData test fixtures with the tools real dataset files come from, and the
expected pixels and labels read back by an independent route (NumPy, SciPy, Pillow).

    cd Tests/MBDataTests/Fixtures && python3 make_fixtures.py

Needs numpy, scipy, pillow and ImageMagick's `convert` (or set IMAGEMAGICK=/path/to/convert). Output (small, committed):
  mnist-raw/            t10k IDX files, uncompressed (struct + NumPy)
  cifar-10-batches-bin/ data_batch_1..5.bin, test_batch.bin (NumPy tofile)
  cifar-100-binary/     train.bin, test.bin (NumPy tofile)
  svhn/                 train_32x32.mat (savemat, compressed), test_32x32.mat (uncompressed),
                        extra_32x32.mat (compressed)
  svhn-double-y/        test_32x32.mat with y of class double (uncompressed)
  svhn-bad/             no-X.mat (only y), no-y.mat (only X), double-X.mat (X of class double)
  tiny-imagenet-200/    wnids.txt, train/<wnid>/images/*.JPEG, val/... (Pillow JPEGs, one grayscale;
                        val_3.JPEG grayscale written by ImageMagick)
  expected/<name>.json  {"shape": [N, C, H, W], "labels": [...]} and expected/<name>.bin (N*C*H*W bytes)
"""
import json
import os
import struct
import subprocess

import numpy as np
import scipy.io
from PIL import Image

rng = np.random.default_rng(20261127)


def expect(name, images_nchw, labels):
    os.makedirs("expected", exist_ok=True)
    images_nchw = np.ascontiguousarray(images_nchw, dtype=np.uint8)
    images_nchw.tofile(f"expected/{name}.bin")
    with open(f"expected/{name}.json", "w") as f:
        json.dump({"shape": list(images_nchw.shape), "labels": [int(x) for x in labels]}, f)
        f.write("\n")


# MNIST IDX, raw: big-endian magic and dims, then bytes.
os.makedirs("mnist-raw", exist_ok=True)
images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
labels = np.array([7, 0, 9], dtype=np.uint8)
with open("mnist-raw/t10k-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 2051, 3, 28, 28) + images.tobytes())
with open("mnist-raw/t10k-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 2049, 3) + labels.tobytes())
expect("mnist-raw-test", images[:, None], labels)

# CIFAR-10: records of label byte + 3072 CHW bytes, two records per file.
os.makedirs("cifar-10-batches-bin", exist_ok=True)
all_images, all_labels = [], []
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    imgs = rng.integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)
    labs = rng.integers(0, 10, size=2, dtype=np.uint8)
    records = np.concatenate([labs[:, None], imgs.reshape(2, -1)], axis=1)
    records.astype(np.uint8).tofile(f"cifar-10-batches-bin/{name}")
    if name == "test_batch.bin":
        expect("cifar10-test", imgs, labs)
    else:
        all_images.append(imgs)
        all_labels.append(labs)
expect("cifar10-train", np.concatenate(all_images), np.concatenate(all_labels))

# CIFAR-100: coarse label, fine label, 3072 bytes.
os.makedirs("cifar-100-binary", exist_ok=True)
for split, n in [("train", 3), ("test", 2)]:
    imgs = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    coarse = rng.integers(0, 20, size=n, dtype=np.uint8)
    fine = rng.integers(0, 100, size=n, dtype=np.uint8)
    records = np.concatenate([coarse[:, None], fine[:, None], imgs.reshape(n, -1)], axis=1)
    records.astype(np.uint8).tofile(f"cifar-100-binary/{split}.bin")
    expect(f"cifar100-{split}-fine", imgs, fine)
    expect(f"cifar100-{split}-coarse", imgs, coarse)

# SVHN: X (32, 32, 3, N) uint8 column-major in the file, y (N, 1) uint8 with 10 meaning 0.
os.makedirs("svhn", exist_ok=True)
for split, n, compress in [("train", 3, True), ("test", 2, False), ("extra", 2, True)]:
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, size=(n, 1), dtype=np.uint8)
    y[0, 0] = 10
    scipy.io.savemat(f"svhn/{split}_32x32.mat", {"X": X, "y": y}, do_compression=compress)
    # torchvision's route: transpose to N, C, H, W; label 10 -> 0.
    expect(f"svhn-{split}", np.transpose(X, (3, 2, 0, 1)), y[:, 0] % 10)
# MATLAB's default class for y is double: the reader accepts any numeric class for labels.
os.makedirs("svhn-double-y", exist_ok=True)
X = rng.integers(0, 256, size=(32, 32, 3, 2), dtype=np.uint8)
y = np.array([[10.0], [3.0]])
scipy.io.savemat("svhn-double-y/test_32x32.mat", {"X": X, "y": y}, do_compression=False)
expect("svhn-double-y-test", np.transpose(X, (3, 2, 0, 1)), [0, 3])
os.makedirs("svhn-bad", exist_ok=True)
scipy.io.savemat("svhn-bad/no-X.mat", {"y": np.ones((2, 1), dtype=np.uint8)}, do_compression=True)
scipy.io.savemat("svhn-bad/no-y.mat", {"X": np.zeros((32, 32, 3, 1), dtype=np.uint8)}, do_compression=True)
scipy.io.savemat("svhn-bad/double-X.mat", {"X": np.zeros((32, 32, 3, 1)), "y": np.ones((1, 1), dtype=np.uint8)},
                 do_compression=True)

# Tiny ImageNet: 64x64 JPEGs written by Pillow; a grayscale one in train and in val.
root = "tiny-imagenet-200"
wnids = ["n01443537", "n01629819", "n01641577"]
os.makedirs(f"{root}/val/images", exist_ok=True)
with open(f"{root}/wnids.txt", "w") as f:
    f.write("".join(w + "\n" for w in wnids))


def smooth_image(gray):
    """A smooth picture (JPEG-friendly, so the files stay small) with some detail."""
    yy, xx = np.mgrid[0:64, 0:64]
    phase = rng.uniform(0, 6.28, size=3)
    planes = [127 + 100 * np.sin(xx / (5 + 3 * c) + phase[c]) * np.cos(yy / (7 + 2 * c)) for c in range(3)]
    arr = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return Image.fromarray(arr[..., 0], "L") if gray else Image.fromarray(arr, "RGB")


def decoded_chw(path):
    return np.transpose(np.asarray(Image.open(path).convert("RGB")), (2, 0, 1))


train_images, train_labels = [], []
for label, wnid in enumerate(wnids):
    folder = f"{root}/train/{wnid}/images"
    os.makedirs(folder, exist_ok=True)
    for k in range(1):
        path = f"{folder}/{wnid}_{k}.JPEG"
        smooth_image(gray=(label == 1 and k == 0)).save(path, quality=75)
        train_images.append(decoded_chw(path))
        train_labels.append(label)
expect("tiny-train", np.stack(train_images), train_labels)

val_images, val_labels, lines = [], [], []
for k, label in enumerate([2, 0, 1]):
    name = f"val_{k}.JPEG"
    path = f"{root}/val/images/{name}"
    smooth_image(gray=(k == 2)).save(path, quality=75)
    val_images.append(decoded_chw(path))
    val_labels.append(label)
    lines.append(f"{name}\t{wnids[label]}\t0\t0\t63\t63\n")
# One more grayscale validation image, written by ImageMagick from a NumPy-made PGM.
pgm = f"{root}/val/images/val_3.pgm"
gray = np.asarray(smooth_image(gray=True))
with open(pgm, "wb") as f:
    f.write(b"P5 64 64 255\n" + gray.tobytes())
subprocess.run([os.environ.get("IMAGEMAGICK", "convert"), pgm, "-quality", "80", f"{root}/val/images/val_3.JPEG"], check=True)
os.remove(pgm)
val_images.append(decoded_chw(f"{root}/val/images/val_3.JPEG"))
val_labels.append(1)
lines.append(f"val_3.JPEG\t{wnids[1]}\t0\t0\t63\t63\n")
with open(f"{root}/val/val_annotations.txt", "w") as f:
    f.write("".join(lines))
expect("tiny-test", np.stack(val_images), val_labels)

#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/): the test fixtures each
reader already reads, plus near-valid variants (compressed, truncated, a field off by one) so
libFuzzer starts from inputs that reach past the first checks. Run from anywhere; deterministic."""
import gzip, io, json, os, shutil, struct, zlib
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

here = Path(__file__).resolve().parent
root = here.parent
corpus = here / "corpus"
data_fixtures = root / "Tests/MBDataTests/Fixtures"


def write(target, name, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def copy(target, name, source):
    write(target, name, Path(source).read_bytes())


if corpus.exists():
    shutil.rmtree(corpus)

# IDX: MNIST's raw fixture files, gzip and zlib of them, a wrong magic, a truncated file, a
# header whose dimensions claim more than the file holds.
images = (data_fixtures / "mnist-raw/t10k-images-idx3-ubyte").read_bytes()
labels = (data_fixtures / "mnist-raw/t10k-labels-idx1-ubyte").read_bytes()
write("idx", "images", images)
write("idx", "labels", labels)
write("idx", "images.gz", gzip.compress(images, mtime=0))
write("idx", "labels.gz", gzip.compress(labels, mtime=0))
write("idx", "labels.zlib", zlib.compress(labels))
write("idx", "labels-wrong-magic", struct.pack(">I", 0x0803) + labels[4:])
write("idx", "images-truncated", images[:100])
write("idx", "images-claims-more", struct.pack(">IIII", 0x0803, 1000, 28, 28) + images[16:116])

# CIFAR: two CIFAR-10 records, CIFAR-100's test file (two records of 3074 bytes), one record
# with an out-of-range label, a record cut short.
cifar10 = (data_fixtures / "cifar-10-batches-bin/data_batch_1.bin").read_bytes()
write("cifar", "cifar10-2-records", cifar10)
copy("cifar", "cifar100-2-records", data_fixtures / "cifar-100-binary/test.bin")
write("cifar", "cifar10-label-10", bytes([10]) + cifar10[1:3073])
write("cifar", "cifar10-short", cifar10[:3000])

# MAT: SVHN fixtures (plain and compressed), the bad ones, and a compressed one written here.
for name in ["svhn/test_32x32.mat", "svhn-double-y/test_32x32.mat", "svhn-bad/double-X.mat",
             "svhn-bad/no-X.mat", "svhn-bad/no-y.mat"]:
    copy("mat", name.replace("/", "-"), data_fixtures / name)
for compressed in [False, True]:
    buffer = io.BytesIO()
    x = (np.arange(32 * 32 * 3, dtype=np.uint16) % 251).astype(np.uint8).reshape(32, 32, 3, 1)
    scipy.io.savemat(buffer, {"X": x, "y": np.array([[3]], dtype=np.uint8)}, do_compression=compressed)
    write("mat", f"one-image{'-compressed' if compressed else ''}.mat", buffer.getvalue())

# Image folders: Tiny ImageNet's fixture JPEGs and text files, mbc's PNG fixtures, a grayscale
# JPEG and one that is not 64x64, a JPEG cut short.
tiny = data_fixtures / "tiny-imagenet-200"
copy("jpeg-folder", "val_0.JPEG", tiny / "val/images/val_0.JPEG")
copy("jpeg-folder", "wnids.txt", tiny / "wnids.txt")
copy("jpeg-folder", "val_annotations.txt", tiny / "val/val_annotations.txt")
for png in sorted((root / "Tests/MBDeployTests/Fixtures").glob("*.png")):
    copy("jpeg-folder", png.name, png)
for name, mode, size in [("gray-64.jpg", "L", 64), ("rgb-8x5.jpg", "RGB", (8, 5))]:
    buffer = io.BytesIO()
    Image.new(mode, size if isinstance(size, tuple) else (size, size), 90).save(buffer, "JPEG", quality=50)
    write("jpeg-folder", name, buffer.getvalue())
write("jpeg-folder", "val_1-truncated.JPEG", (tiny / "val/images/val_1.JPEG").read_bytes()[:300])


# safetensors: the Python-written fixture, and files written here: metadata, every dtype mbc
# reads, an empty file, offsets with a hole.
def safetensors(header, buffer):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + buffer


copy("safetensors", "python_written.safetensors", root / "Tests/MBCoreTests/Fixtures/python_written.safetensors")
write("safetensors", "empty.safetensors", safetensors({}, b""))
write("safetensors", "dtypes.safetensors", safetensors({
    "__metadata__": {"format": "mbc", "step": "3"},
    "f": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "i": {"dtype": "I64", "shape": [1, 1], "data_offsets": [8, 16]},
    "j": {"dtype": "I32", "shape": [], "data_offsets": [16, 20]},
    "u": {"dtype": "U8", "shape": [0, 3], "data_offsets": [20, 20]}}, bytes(range(20))))
write("safetensors", "hole.safetensors", safetensors({
    "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))

# Configs: the shipped ones, and anchors, flow style, overrides of nested keys.
for config in ["quick", "mnist", "cifar100", "svhn", "tiny-imagenet", "u-cifar10"]:
    copy("yaml-config", f"{config}.yaml", root / f"configs/{config}.yaml")
write("yaml-config", "anchors.yaml", b"""model: &m {channels: [8, 8], k: 2, image: 8}
data: {dataset: synthetic, classes: 3}
training: {epochs: 1, batch_size: 4}
""")
write("yaml-config", "empty.yaml", b"")
write("yaml-config", "list.yaml", b"- model\n- data\n")

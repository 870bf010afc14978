"""A reader of mbc's exported model (`mbc-train export`, format `mbc-export` version 1) that
rebuilds the forward pass from the file alone, with NumPy only, in float64.

It is written from the format's description (docs/FORMATS.md, "1-bit export"), not from mbc's
Swift code, and computes the plain way: the modulated 3x3 filters are rebuilt as
`Q[i*k + j] = M[j] * sign(C[i])` and convolved directly (mbc uses a factored route), the signs are
unpacked with `np.unpackbits(..., bitorder="little")`, and inputs are normalized from the bytes
with the metadata's mean and std. `Tests/MBDeployTests/ReferenceReaderTests.swift` compares its
logits with mbc's.

    python3 reference/export_reader.py MODEL.safetensors --images IN.safetensors --logits OUT.safetensors

reads the U8 tensor `images` (N, C, H, W) of IN, and writes the F32 tensor `logits` (N, classes)
to OUT. As a library: `model = ExportedModel(path)`, `model.logits(images_u8)`.
"""
import argparse
import json
import struct

import numpy as np

FORMAT, VERSION = "mbc-export", "1"
DTYPES = {"U8": np.uint8, "F32": np.float32, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    """(tensors by name, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (np.frombuffer(buffer[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]), buffer[begin:end])
    return tensors, metadata


def write_safetensors(path, tensors):
    """Writes F32/U8 numpy arrays as safetensors (header padded to 8 bytes)."""
    names = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def fnv1a(chunks):
    h = 0xCBF29CE484222325
    for chunk in chunks:
        for b in chunk:
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


class ExportedModel:
    def __init__(self, path):
        raw, meta = read_safetensors(path)
        if meta.get("format") != FORMAT or meta.get("format_version") != VERSION:
            raise ValueError(f"{path}: not an {FORMAT} version {VERSION} file")
        chunks = []
        for name in sorted(raw):
            chunks += [name.encode(), raw[name][1]]
        for key in sorted(meta):
            if key != "checksum":
                chunks += [key.encode(), meta[key].encode()]
        if fnv1a(chunks) != meta["checksum"]:
            raise ValueError(f"{path}: checksum mismatch")
        self.config = json.loads(meta["model"])
        self.class_names = json.loads(meta["class_names"])
        self.mean = np.array(json.loads(meta["input_mean"]), dtype=np.float64)
        self.std = np.array(json.loads(meta["input_std"]), dtype=np.float64)
        shapes = json.loads(meta["signs_shapes"])
        self.t = {}
        for name, (array, _) in raw.items():
            if name.endswith(".signs"):
                shape = shapes[name]
                bits = np.unpackbits(array, bitorder="little")[: int(np.prod(shape))]
                self.t[name[: -len(".signs")]] = np.where(bits == 1, 1.0, -1.0).reshape(shape)
            elif name.endswith(".weight"):
                self.t[name[: -len(".weight")]] = array.astype(np.float64)
            else:
                self.t[name] = array.astype(np.float64)

    def logits(self, images):
        """Logits (N, classes) of U8 images (N, C, H, W)."""
        c = self.config
        x = (images.astype(np.float64) / 255 - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        L, k = c["layers"], c["k"]
        x0 = conv3x3(x, self.t["stem"])
        pooled = []
        for b, width in enumerate(c["widths"]):
            a = x0.shape[1]
            W = self.t[f"blocks.{b}.conv1x1"]            # (L, c, a + (L-1)c): sources X0, then layers without i
            C = self.t[f"blocks.{b}.conv3x3"]            # (L, c/k, c, 3, 3)
            M = self.t[f"blocks.{b}.mfilter"]            # (k, 3, 3)
            bn1, bn2 = self.t[f"blocks.{b}.bn1"], self.t[f"blocks.{b}.bn2"]
            # Q[i*k + j] = M[j] * sign(C[i]) for every layer (C is already +-1, or float when unbinarized).
            Q = (C[:, :, None] * M[None, None, :, None]).reshape(L, -1, width, 3, 3)
            s1, s2, offset = [None] * L, [None] * L, 0
            for stage in (1, 2):
                for i in range(1, L + 1):
                    if stage == 1:
                        inputs, columns = [x0] + s1[: i - 1], slice(0, a + (i - 1) * width)
                    else:
                        inputs = [s2[l - 1] if l < i else s1[l - 1] for l in range(1, L + 1) if l != i]
                        columns = slice(a, a + (L - 1) * width)
                    z = np.concatenate(inputs, axis=1)
                    n = z.shape[1]
                    z = relu(z * bn1[0, offset:offset + n][None, :, None, None] + bn1[1, offset:offset + n][None, :, None, None])
                    offset += n
                    u = np.einsum("oc,nchw->nohw", W[i - 1][:, columns], z)
                    u = relu(u * bn2[0, stage - 1, i - 1][None, :, None, None] + bn2[1, stage - 1, i - 1][None, :, None, None])
                    out = conv3x3(u, Q[i - 1])
                    (s1 if stage == 1 else s2)[i - 1] = out
            f = np.concatenate([x0] + s2, axis=1)
            if c["compression"]:
                cb = self.t[f"pools.{b}.compress.bn"]
                z = relu(f * cb[0][None, :, None, None] + cb[1][None, :, None, None])
                z = np.einsum("oc,nchw->nohw", self.t[f"pools.{b}.compress.conv"], z)
            else:
                z = f
            pb = self.t[f"pools.{b}.bn"]
            pooled.append(relu(z * pb[0][None, :, None, None] + pb[1][None, :, None, None]).mean(axis=(2, 3)))
            if b < len(c["widths"]) - 1:
                tb = self.t[f"transitions.{b}.bn"]
                s = np.concatenate(s2, axis=1)
                z = relu(s * tb[0][None, :, None, None] + tb[1][None, :, None, None])
                z = np.einsum("oc,nchw->nohw", self.t[f"transitions.{b}.conv"], z)
                n, ch, h, w = z.shape
                x0 = z.reshape(n, ch, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
        features = np.concatenate(pooled, axis=1)
        hb = self.t["head.bn"]
        return (features @ self.t["head.conv"].T) * hb[0][None, :] + hb[1][None, :]


def relu(x):
    return np.maximum(x, 0)


def conv3x3(x, w):
    """Cross-correlation, stride 1, zero padding 1: x (N, C, H, W), w (O, C, 3, 3)."""
    n, c, h, wd = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for u in range(3):
        for v in range(3):
            out += np.einsum("oc,nchw->nohw", w[:, :, u, v], p[:, :, u:u + h, v:v + wd])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--images", required=True, help="safetensors with a U8 tensor `images` (N, C, H, W)")
    parser.add_argument("--logits", required=True, help="where to write the F32 tensor `logits` (N, classes)")
    args = parser.parse_args()
    model = ExportedModel(args.model)
    images = read_safetensors(args.images)[0]["images"][0]
    write_safetensors(args.logits, {"logits": model.logits(images).astype(np.float32)})


if __name__ == "__main__":
    main()

"""Writes the PNG fixtures of Tests/MBDeployTests (Python standard library only):

  digit-gray.png     MNIST test image 0 (a 7), 28x28, colour type 0 (grayscale)
  digit-rgb.png      the same pixels in all three channels, colour type 2 (RGB)
  digit-palette.png  the same through a 256-entry gray palette, colour type 3
  digit-ga.png       grayscale + alpha (alpha varies), colour type 4
  digit-rgba.png     RGB + alpha, colour type 6
  colour.png         28x28 RGB whose channels differ
  small.png          16x16 grayscale
  deep.png           28x28 grayscale of bit depth 16 (refused)
  interlaced.png     28x28 grayscale, Adam7 flag set (refused)
  bad-crc.png        digit-gray.png with one image-data byte changed
  huge.png           a header declaring 60000x60000 pixels over one row of data (refused unread)

Each image row uses filter type (row mod 5) (None, Sub, Up, Average, Paeth), so a decoder must
undo all five. Run from the repository root: python3 Tests/MBDeployTests/Fixtures/make_images.py
"""
import gzip
import os
import struct
import zlib

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..", "..")


def mnist_test_image(index):
    with gzip.open(os.path.join(root, "data", "mnist", "t10k-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    start = 16 + index * 784
    return list(data[start:start + 784])


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(rows, bpp):
    """Each row with its filter byte; row y uses filter y % 5."""
    out = bytearray()
    previous = [0] * len(rows[0])
    for y, row in enumerate(rows):
        kind = y % 5
        out.append(kind)
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            predicted = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            out.append((v - predicted) % 256)
        previous = row
    return bytes(out)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(path, width, height, colour, rows, bpp, depth=8, interlace=0, palette=None, damage=False):
    idat = zlib.compress(filtered(rows, bpp), 9)
    if damage:
        idat = idat[:10] + bytes([idat[10] ^ 0x55]) + idat[11:]
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    if palette is not None:
        data += chunk(b"PLTE", bytes(palette))
    data += chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    if damage:  # keep the IDAT's stored CRC of the undamaged data
        good = zlib.compress(filtered(rows, bpp), 9)
        crc = struct.pack(">I", zlib.crc32(b"IDAT" + good) & 0xFFFFFFFF)
        start = data.index(b"IDAT") + 4 + len(idat)
        data = data[:start] + crc + data[start + 4:]
    with open(os.path.join(here, path), "wb") as f:
        f.write(data)


def rows_of(pixels, width, per_pixel):
    return [sum((per_pixel(v, y, x) for x, v in enumerate(pixels[y * width:(y + 1) * width])), [])
            for y in range(len(pixels) // width)]


digit = mnist_test_image(0)
png("digit-gray.png", 28, 28, 0, rows_of(digit, 28, lambda v, y, x: [v]), 1)
png("digit-rgb.png", 28, 28, 2, rows_of(digit, 28, lambda v, y, x: [v, v, v]), 3)
# Palette entry i is gray 255 - i, so the indices differ from the pixel values.
png("digit-palette.png", 28, 28, 3, rows_of(digit, 28, lambda v, y, x: [255 - v]), 1,
    palette=sum(([255 - i] * 3 for i in range(256)), []))
png("digit-ga.png", 28, 28, 4, rows_of(digit, 28, lambda v, y, x: [v, (7 * x + 3 * y) % 256]), 2)
png("digit-rgba.png", 28, 28, 6, rows_of(digit, 28, lambda v, y, x: [v, v, v, (5 * x + y) % 256]), 4)
png("colour.png", 28, 28, 2, rows_of(digit, 28, lambda v, y, x: [v, (v + 40) % 256, x * 9]), 3)
png("small.png", 16, 16, 0, [[(x * 16 + y) % 256 for x in range(16)] for y in range(16)], 1)
png("deep.png", 28, 28, 0, rows_of(digit, 28, lambda v, y, x: [v, 0]), 2, depth=16)
png("interlaced.png", 28, 28, 0, rows_of(digit, 28, lambda v, y, x: [v]), 1, interlace=1)
png("bad-crc.png", 28, 28, 0, rows_of(digit, 28, lambda v, y, x: [v]), 1, damage=True)

with open(os.path.join(here, "huge.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(60001))) + chunk(b"IEND", b""))

#!/usr/bin/env python3
"""Writes the first N images and labels of Fashion-MNIST as gzip IDX files (python3 stdlib only).

Usage: python3 make-subset.py [SOURCE_DIR] [TARGET_DIR]
  SOURCE_DIR  the full dataset (default /usr/share/datasets/fashion-mnist)
  TARGET_DIR  where the subset goes (default: the directory of this script)

The gzip header carries no file name and mtime 0, so the output is byte-for-byte reproducible.
"""
import gzip
import os
import struct
import sys

SUBSETS = [("train", 2000), ("t10k", 500)]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndims = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    return magic, dims, data[4 + 4 * ndims:]


def write_idx(path, magic, dims, body):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + body)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    for split, n in SUBSETS:
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{split}-{kind}.gz"
            magic, dims, body = read_idx(os.path.join(source, name))
            item_size = 1
            for d in dims[1:]:
                item_size *= d
            write_idx(os.path.join(target, name), magic, (n,) + tuple(dims[1:]), body[:n * item_size])
            print(f"{name}: {n} of {dims[0]} items")


if __name__ == "__main__":
    main()

"""PyTorch's side of EmaFileTest: reads an EMA file as a state dict, by the safetensors format alone.

The `safetensors` package is not in Debian, so this reads the format with the standard library and torch
(https://github.com/huggingface/safetensors#format): an unsigned 64-bit little-endian header size, a JSON header,
then the data. Prints one line per tensor, "name dtype shape sum", then the metadata's ema4j fields.

Usage: python3 torch_reads_ema_file.py FILE
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64}


def main(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    state = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        state[name] = tensor
        print(name, entry["dtype"], list(tensor.shape), repr(float(tensor.double().sum())))
    print("format", metadata.get("format"), "ema4j.format", metadata.get("ema4j.format"),
          "updates", metadata.get("ema4j.updates"), "rules", json.loads(metadata["ema4j.rules"]))


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/python3
"""PyTorch's side of ema4j's interop test (PyTorchInteropTest): the CNN in torch, and safetensors by the spec.

The `safetensors` package is not in Debian, so this script reads and writes the format itself with the standard
library and torch only, following https://github.com/huggingface/safetensors#format: an unsigned 64-bit
little-endian header length N, N bytes of UTF-8 JSON (optionally space-padded) mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the byte after the header, plus an optional
"__metadata__" of strings; then the data, little-endian and row-major, tensors tiling it without gaps or overlaps.
The writer lays files out as the official library does (compact JSON, header padded with spaces to 8 bytes), so the
official library accepts the bytes it writes.

Usage:
  torch_interop.py forward WEIGHTS INPUTS OUT
      Loads WEIGHTS (torch names) into the CNN, runs eval() on INPUTS' "images", writes OUT with "logits" and every
      tensor of the model's state_dict as loaded, under "state_dict/<name>".
  torch_interop.py init SEED INPUTS WEIGHTS_OUT LOGITS_OUT
      Initializes the CNN with torch's own initializers from SEED (and random BatchNorm statistics), writes its whole
      state_dict to WEIGHTS_OUT and its eval() logits on INPUTS' "images" to LOGITS_OUT.
Exits 1 with a message on stderr when anything does not match.
"""
import ctypes
import json
import struct
import sys
from collections import OrderedDict

import torch
from torch import nn

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
MAX_HEADER = 100_000_000


def fail(message):
    print("torch_interop.py: " + message, file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    """Returns (tensors in header order, metadata) of the file at path, checking it as the spec demands."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail(f"{path}: {len(raw)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        fail(f"{path}: header length {n} is too large for a file of {len(raw)} bytes")
    if raw[8:9] != b"{":
        fail(f"{path}: header must start with '{{'")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = bytearray(raw[8 + n:])
    metadata = header.pop("__metadata__", None) or {}
    tensors = OrderedDict()
    end_of_last = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            fail(f"{path}: tensor {name} has dtype {info['dtype']}, which this script does not read")
        shape = [int(d) for d in info["shape"]]
        count = 1
        for d in shape:
            count *= d
        element = torch.empty((), dtype=dtype).element_size()
        if begin != end_of_last or end - begin != count * element:
            fail(f"{path}: tensor {name} has data_offsets {info['data_offsets']}, expected "
                 f"[{end_of_last}, {end_of_last + count * element}]")
        end_of_last = end
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape).clone()
    if end_of_last != len(data):
        fail(f"{path}: tensors cover {end_of_last} of {len(data)} data bytes")
    return OrderedDict((k, tensors[k]) for k in header if k in tensors), metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors (name -> CPU tensor) in their order, with string metadata, as the official library lays it out."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        nbytes = t.numel() * t.element_size()
        chunks.append(ctypes.string_at(t.data_ptr(), nbytes) if nbytes else b"")
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def fashion_cnn():
    """The twin of ema4j.cli.model.FashionCnn, with the child names the fashion-cnn-torch map uses."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 16, 3, padding=1)), ("bn1", nn.BatchNorm2d(16)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("bn2", nn.BatchNorm2d(32)), ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(32 * 7 * 7, 128)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, 10)),
    ]))


def images(path):
    tensors, _ = read_safetensors(path)
    return tensors["images"]


def forward(weights, inputs, out):
    state, metadata = read_safetensors(weights)
    if metadata.get("format") != "pt":
        fail(f"{weights}: metadata format must be pt, was {metadata}")
    model = fashion_cnn()
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        fail(f"{weights}: missing {missing}, unexpected {result.unexpected_keys}")
    model.eval()
    with torch.no_grad():
        logits = model(images(inputs))
    loaded = OrderedDict(("state_dict/" + k, v) for k, v in model.state_dict().items()
                         if not k.endswith("num_batches_tracked"))
    write_safetensors(out, OrderedDict([("logits", logits)] + list(loaded.items())), {"format": "pt"})


def init(seed, inputs, weights_out, logits_out):
    torch.manual_seed(seed)
    model = fashion_cnn()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):  # non-trivial BatchNorm, so eval() differs from training mode
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
            bn.num_batches_tracked.fill_(7)
    model.eval()
    with torch.no_grad():
        logits = model(images(inputs))
    write_safetensors(weights_out, model.state_dict(), {"format": "pt", "source": "torch " + torch.__version__})
    write_safetensors(logits_out, OrderedDict(logits=logits), {"format": "pt"})


def main(argv):
    if len(argv) == 4 and argv[0] == "forward":
        forward(*argv[1:])
    elif len(argv) == 5 and argv[0] == "init":
        init(int(argv[1]), *argv[2:])
    else:
        fail("usage: forward WEIGHTS INPUTS OUT | init SEED INPUTS WEIGHTS_OUT LOGITS_OUT, was " + " ".join(argv))


if __name__ == "__main__":
    main(sys.argv[1:])

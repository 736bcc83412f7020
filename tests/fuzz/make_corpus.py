#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<target>/).

The files are checked in; this script documents how they were made and
rewrites them: python3 tests/fuzz/make_corpus.py. A handful per target, tiny:
valid files and edge cases near the checks (fuzz_common.hpp describes the mode
byte of idx and csv inputs).
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


# --- spec: YAML text, then "--set KEY=VALUE" lines.
write("spec", "minimal.yaml", "data: digits\nmodel: {layers: [{type: dense, units: 10}]}\n")
write("spec", "full.yaml", """data: {name: digits, test_rows: 100}
model:
  layers:
    - repeat: 2
      layers: [{type: dense, units: 8, init: {name: he_normal}}, {type: batch_norm}, {type: relu}]
    - type: residual
      scale: 0.5
      layers: [{type: dense, units: 8}, {type: tanh}]
    - {type: leaky_relu}
    - {type: dense, units: 10, bias: false}
init: {name: uniform, low: -0.1, high: 0.1}
optimizer: {name: adam, lr: 0.001, clip_norm: 1.0}
training: {epochs: 2, batch_size: 16, seed: 7, shuffle: false}
probes: {every: 2, batch: 64}
""")
write("spec", "overrides.yaml", """data: digits
model:
  layers: [dense, sigmoid, {type: dense, units: 10}]
--set model.layers.0.units=32
--set optimizer.lr=0.05
--set optimizer=rprop
--set optimizer.variant=irprop+
--set training.epochs=010
--set pretrain=null
""")
write("spec", "json.json", json.dumps({
    "data": {"name": "csv", "path": "x.csv", "header": True, "label_column": 0},
    "model": {"layers": [{"type": "dense", "units": 3}, "sigmoid"]},
    "optimizer": {"name": "momentum", "lr": 0.1, "clip_value": 0.5}}) + "\n")
write("spec", "bad_key.yaml", "data: digits\nmodel: {layers: [{type: dense, unit: 10}]}\noptimiser: sgd\n")
write("spec", "deep_repeat.yaml",
      "data: digits\nmodel:\n  layers:\n    - repeat: 100\n      layers:\n        - repeat: 100\n"
      "          layers: [sigmoid]\n    - {type: dense, units: 10}\n")
write("spec", "malformed.yaml", "data: {name: digits\nmodel: [\n  - &a *a\n")
write("spec", "only_set.yaml", "--set data=digits\n--set model.layers=[tanh]\n--set init.std=2\n")

# --- idx: mode byte (bit 0: labels), then the file.
def idx_images(count, rows, cols, pixels=None):
    body = pixels if pixels is not None else bytes((i * 37) % 256 for i in range(count * rows * cols))
    return struct.pack(">IIII", 0x803, count, rows, cols) + body


def idx_labels(count, labels=None):
    body = labels if labels is not None else bytes(i % 10 for i in range(count))
    return struct.pack(">II", 0x801, count) + body


write("idx", "images_2x3x3", b"\x00" + idx_images(2, 3, 3))
write("idx", "labels_5", b"\x01" + idx_labels(5))
write("idx", "images_gzip", b"\x02" + idx_images(3, 2, 2))
write("idx", "images_file_gzipped", b"\x00" + gz(idx_images(1, 4, 4)))
write("idx", "images_short_pixels", b"\x00" + idx_images(4, 2, 2, b"\x01\x02\x03"))
write("idx", "images_huge_header", b"\x00" + struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF) + b"\x00" * 8)
write("idx", "labels_wrong_magic", b"\x01" + struct.pack(">II", 0x803, 1) + b"\x07")
write("idx", "empty_labels", b"\x01" + idx_labels(0))

# --- csv: mode byte (bit 0: header), then the file.
write("csv", "plain", "\x00" + "1,2,3\n4,5.5,-6\n0.25,1e3,7\n")
write("csv", "header_crlf", "\x01" + "a,b,label\r\n1,2,0\r\n3,4,1\r\n")
write("csv", "gzip_spaces", "\x02" + " 1 ,\t2\n\n3,4 \n")
write("csv", "ragged", "\x00" + "1,2\n3\n")
write("csv", "not_finite", "\x00" + "1,inf\nnan,2\n1e999,0\n")
write("csv", "header_only", "\x01" + "x,y\n")
write("csv", "empty_cells", "\x00" + ",\n1,\n")


# --- safetensors: the file; the harness loads it into dense 4->3,
# batch_norm(3), tanh, dense 3->3.
def safetensors(tensors, metadata=None, align=True):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":"))
    while align and (len(text) + 8) % 8:
        text += " "
    return struct.pack("<Q", len(text)) + text.encode() + data


def n(count, start=0.0):
    return [start + 0.125 * i for i in range(count)]


model = {
    "0.weight": ([3, 4], n(12)), "0.bias": ([3], n(3)),
    "1.weight": ([3], n(3, 1.0)), "1.bias": ([3], n(3)),
    "1.running_mean": ([3], n(3)), "1.running_var": ([3], n(3, 1.0)), "1.num_batches_tracked": ([], [5.0]),
    "3.weight": ([3, 3], n(9, -0.5)), "3.bias": ([3], n(3)),
}
write("safetensors", "model.safetensors", safetensors(model, {"format": "pt"}))
write("safetensors", "one_tensor", safetensors({"0.weight": ([3, 4], n(12))}))
write("safetensors", "empty_header", safetensors({}))
write("safetensors", "wrong_shape", safetensors(dict(model, **{"0.bias": ([1, 3], n(3))})))
write("safetensors", "zero_dim", safetensors({"x": ([0, 5], [])}))


def raw_header(text, data=b""):
    return struct.pack("<Q", len(text)) + text.encode() + data


write("safetensors", "huge_shape",
      raw_header('{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}'))
write("safetensors", "f16", raw_header('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4))
write("safetensors", "short", b"\x10\x00\x00")

#!/usr/bin/python3
"""Writes the small seed files of fuzz_safetensors into fuzz/corpus/safetensors: each dtype, a
scalar, an empty tensor, several tensors tiling the buffer, metadata (plus mlp_small.safetensors,
a copy of tests/data/mlp/vp_discrete_noblocks.f32.safetensors). Small seeds keep the fuzzer fast."""
import json
import pathlib
import struct

out = pathlib.Path(__file__).resolve().parent / "corpus" / "safetensors"
sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}


def write(name, tensors, metadata=None):
    header, buffer = {}, b""
    for tname, dtype, shape, raw in tensors:
        count = 1
        for d in shape:
            count *= d
        assert len(raw) == count * sizes[dtype]
        header[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buffer), len(buffer) + len(raw)]}
        buffer += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    (out / name).write_bytes(struct.pack("<Q", len(text)) + text + buffer)


out.mkdir(parents=True, exist_ok=True)
write("f64.safetensors", [("w", "F64", [2, 2], struct.pack("<4d", 1.0, -2.5, 0.0, 3e-300))])
write("f32.safetensors", [("b", "F32", [3], struct.pack("<3f", 1.0, -0.5, 2.0))])
write("f16_bf16.safetensors", [("h", "F16", [2], struct.pack("<2H", 0x3C00, 0x8001)),
                               ("g", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x7F7F))],
      {"format": "pt", "tweedie.mlp": "{}"})
write("scalar_empty.safetensors", [("s", "F64", [], struct.pack("<d", 7.0)), ("e", "F32", [0, 3], b"")])
write("empty.safetensors", [])

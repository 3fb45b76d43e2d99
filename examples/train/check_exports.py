"""Checks the shipped models against their reference files: the safetensors file read back by
tweedie_net reproduces NAME.ref.out64 (float64) and NAME.ref.out32 (float32), and the TorchScript
module reproduces them too (float32 as saved, float64 after .double()) with the attributes that
the C++ loader reads. Exits 1 naming the first mismatch.
    /usr/bin/python3 examples/train/check_exports.py models [NAME ...]"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tweedie_net  # noqa: E402


def check(folder, name):
    prefix = os.path.join(folder, name)
    meta = tweedie_net.load_safetensors(prefix + ".safetensors")[1]
    if tweedie_net.METADATA_KEY not in meta:  # digits_classifier: not a tweedie.mlp network
        print(f"{name}: not a tweedie.mlp network, skipped")
        return []
    spec = json.loads(meta[tweedie_net.METADATA_KEY])
    classifier = "logits" in spec["output"]  # shipped as safetensors only
    ref = {k: np.load(f"{prefix}.ref.{k}.npy") for k in ("x", "t", "labels", "out64", "out32")}
    x, t = torch.from_numpy(ref["x"]), torch.from_numpy(ref["t"])
    y = torch.from_numpy(ref["labels"]).long() if ref["labels"].size else None
    s = tweedie_net.time_input(spec, t)
    net64 = tweedie_net.load_network(prefix + ".safetensors").eval()
    scripted = None if classifier else torch.jit.load(prefix + ".pt").eval()
    failures = []

    def compare(what, got, want, rtol):
        err = float(np.max(np.abs(got - want) / (np.abs(want) + 1e-3)))
        print(f"{name}: {what}: max relative error {err:.2e}")
        if not err <= rtol:
            failures.append(f"{name}: {what} differs from the reference by {err:.2e} (> {rtol:g})")

    with torch.no_grad():
        compare("safetensors float64", net64(x, s, y).numpy(), ref["out64"], 1e-12)
        if classifier:
            return failures
        compare("TorchScript float32", scripted(x.float(), s.float(), y).double().numpy(), ref["out32"], 1e-6)
        compare("TorchScript float64", scripted.double()(x, s, y).numpy(), ref["out64"], 1e-12)
    for attr, want in (("prediction", spec["prediction"]), ("sde", spec["sde"]["family"]),
                       ("time_input", spec["time_input"]["kind"]), ("dim", spec["dim"]),
                       ("classes", int(spec.get("classes", 0)))):
        if getattr(scripted, attr) != want:
            failures.append(f"{name}: TorchScript attribute {attr} = {getattr(scripted, attr)!r}, expected {want!r}")
    for ext in (".safetensors", ".pt"):
        size = os.path.getsize(prefix + ext)
        if size > 4 * 2**20:
            failures.append(f"{name}{ext}: {size} bytes is over 4 MB")
    return failures


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "models"
    names = sys.argv[2:] or sorted(f[:-len(".safetensors")] for f in os.listdir(folder) if f.endswith(".safetensors"))
    failures = [f for name in names for f in check(folder, name)]
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

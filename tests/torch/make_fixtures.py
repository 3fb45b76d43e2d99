#!/usr/bin/python3
"""Writes the TorchScript modules and reference outputs that tests/torch/test_torchscript.cpp reads.

Run with Debian's interpreter (python3-torch 1.13, the release of libtorch-dev):
    /usr/bin/python3 tests/torch/make_fixtures.py
Everything is seeded, so a rerun rewrites the same weights and numbers. For each well-formed module NAME.pt
there are NAME.x.npy [B, D], NAME.t.npy [B] (continuous t), NAME.y.npy [B] (the labels, as float64, for
conditional modules) and NAME.out.npy [B, D]: the module's output in its own dtype, on the
network time s computed here in float64 from t with the family's sigma(t) (the formulas of
include/tweedie/sde.hpp), then cast to the module's dtype as the C++ wrapper does.
"""
import glob
import json
import math
import os
import sys
from typing import Final

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HERE = os.path.join(ROOT, "tests", "torch", "data")
B = 7  # rows of the reference inputs


def vp_log_mean_coeff(t, beta_min=0.1, beta_max=20.0):
    return -0.25 * t * t * (beta_max - beta_min) - 0.5 * t * beta_min


def sigma_of(family, t, params):
    if family == "vp":
        return np.sqrt(-np.expm1(2.0 * vp_log_mean_coeff(t, **params)))
    if family == "ve":
        smin, smax = params.get("sigma_min", 0.01), params.get("sigma_max", 50.0)
        return smin * np.exp(t * math.log(smax / smin))
    if family == "edm":
        return t
    raise ValueError(family)


def network_time(kind, t, family, params, scale=999.0):
    if kind == "t":
        return t
    if kind == "scaled_t":
        return scale * t
    if kind == "sigma":
        return sigma_of(family, t, params)
    if kind == "c_noise":
        return 0.25 * np.log(sigma_of(family, t, params))
    raise ValueError(kind)


class Mlp(torch.nn.Module):
    """eps(x, s): a small MLP of [x, s] with SiLU and tanh (smooth, so JVPs are well defined)."""

    def __init__(self, dim: int, hidden: int = 16):
        super().__init__()
        self.inp = torch.nn.Linear(dim + 1, hidden)
        self.mid = torch.nn.Linear(hidden, hidden)
        self.out = torch.nn.Linear(hidden, dim)

    def body(self, x, s, h0):
        h = torch.nn.functional.silu(self.inp(torch.cat([x, s[:, None]], 1)) + h0)
        return self.out(torch.tanh(self.mid(h)))

    def forward(self, x, s):
        return self.body(x, s, torch.zeros(1, dtype=x.dtype))


class ConditionalMlp(Mlp):
    """eps(x, s, y): the same with a class-embedding table (row `classes` is the null class)."""

    def __init__(self, dim: int, classes: int, hidden: int = 16):
        super().__init__(dim, hidden)
        self.embed = torch.nn.Embedding(classes + 1, hidden)

    def forward(self, x, s, y):
        return self.body(x, s, self.embed(y))


def with_attributes(module, **attrs):
    """`module` scripted with `attrs` as attributes (TorchScript infers str, int, float)."""
    for k, v in attrs.items():
        setattr(module, k, v)
    return torch.jit.script(module)


def reference(name, scripted, dtype, dim, family, params, kind, scale=999.0, classes=0):
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.standard_normal((B, dim))
    t_lo = 0.002 if family == "edm" else 1e-3
    t_hi = 80.0 if family == "edm" else 1.0
    t = np.exp(rng.uniform(math.log(t_lo), math.log(t_hi), B))
    s = network_time(kind, t, family, params, scale)
    args = [torch.from_numpy(x).to(dtype), torch.from_numpy(s).to(dtype)]
    files = {"x": x, "t": t}
    if classes:
        y = rng.integers(0, classes + 1, B).astype(np.int64)  # includes the null class
        args.append(torch.from_numpy(y))
        files["y"] = y.astype(np.float64)  # tweedie reads float npy only
    with torch.no_grad():
        files["out"] = scripted(*args).numpy()
    for k, v in files.items():
        np.save(os.path.join(HERE, f"{name}.{k}.npy"), v)


def save(name, scripted):
    scripted.save(os.path.join(HERE, name + ".pt"))


def make(name, dtype, dim, family, params, kind, attrs, scale=999.0, classes=0, hidden=16):
    torch.manual_seed(len(name))
    net = (ConditionalMlp(dim, classes, hidden) if classes else Mlp(dim, hidden)).to(dtype)
    scripted = with_attributes(net, **attrs) if attrs else torch.jit.script(net)
    save(name, scripted)
    reference(name, scripted, dtype, dim, family, params, kind, scale, classes)


class Throws(torch.nn.Module):
    """Fails inside forward once the network time drops below 0.5."""

    def forward(self, x, s):
        if bool((s < 0.5).any()):
            raise RuntimeError("deliberate failure below s = 0.5")
        return -x


class NanBelow(torch.nn.Module):
    """Returns NaN in every row whose network time is below 0.3 (a finite -x elsewhere)."""

    def forward(self, x, s):
        bad = (s < 0.3)[:, None].expand_as(x)
        return torch.where(bad, torch.full_like(x, float("nan")), -x)


class WrongShape(torch.nn.Module):
    def forward(self, x, s):
        return torch.cat([x, s[:, None]], 1)


class OneArgument(torch.nn.Module):
    def forward(self, x):
        return x


class ReturnsTuple(torch.nn.Module):
    def forward(self, x, s):
        return x, s


class WrongAttributeType(torch.nn.Module):
    prediction: int

    def __init__(self):
        super().__init__()
        self.prediction = 3

    def forward(self, x, s):
        return x


class ConstantAttributes(torch.nn.Module):
    """Declares its conventions as TorchScript constants (Final) instead of attributes."""
    prediction: Final[str] = "data"
    sde: Final[str] = "edm"
    time_input: Final[str] = "c_noise"
    dim: Final[int] = 2

    def forward(self, x, s):
        return x / (1.0 + torch.exp(4.0 * s)[:, None])  # x / (1 + sigma)


def export_mlp_fixtures():
    """mlp_NAME.pt: the float64 networks of tests/data/mlp/NAME.f64.safetensors exported by
    examples/train/tweedie_net.py's export_torchscript, for the test that TorchScriptModel and
    MlpModel agree on the same weights (their inputs and outputs are tests/data/mlp's)."""
    sys.path.insert(0, os.path.join(ROOT, "examples", "train"))
    import tweedie_net as tn
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "mlp", "*.f64.safetensors"))):
        name = os.path.basename(path)[:-len(".f64.safetensors")]
        _, meta = tn.load_safetensors(path)
        spec = json.loads(meta[tn.METADATA_KEY])
        tn.export_torchscript(os.path.join(HERE, f"mlp_{name}.pt"), tn.load_network(path), spec)


def main():
    os.makedirs(HERE, exist_ok=True)
    f64, f32 = torch.float64, torch.float32
    vp = {}
    ve = {"sigma_min": 0.02, "sigma_max": 40.0}
    # Unconditional, with attributes, one per time-input kind.
    make("vp_noise_t_f64", f64, 2, "vp", vp, "t",
         dict(prediction="noise", sde="vp", time_input="t", dim=2))
    make("vp_noise_scaled_f64", f64, 3, "vp", vp, "scaled_t",
         dict(prediction="noise", sde="vp", beta_min=0.1, beta_max=20.0, time_input="scaled_t",
              time_scale=999.0, dim=3))
    make("ve_score_sigma_f32", f32, 2, "ve", ve, "sigma",
         dict(prediction="score", sde="ve", sigma_min=0.02, sigma_max=40.0, time_input="sigma",
              dim=2))
    make("edm_data_cnoise_f64", f64, 2, "edm", {}, "c_noise",
         dict(prediction="data", sde="edm", time_input="c_noise", dim=2))
    # Without attributes: the conventions come from the load options.
    make("bare_f64", f64, 2, "vp", vp, "t", {})
    make("bare_f32", f32, 2, "vp", vp, "t", {})
    # Conditional, 3 classes and the null class 3.
    make("cond_f64", f64, 2, "vp", vp, "t",
         dict(prediction="noise", sde="vp", time_input="t", classes=3, null_class=3, dim=2),
         classes=3)
    make("cond_bare_f32", f32, 2, "vp", vp, "t", {}, classes=3)
    # Wider networks for bench/torch (the threads policy), in both dtypes.
    for name, dtype in (("bench_mlp_f64", f64), ("bench_mlp_f32", f32)):
        make(name, dtype, 2, "vp", vp, "t",
             dict(prediction="noise", sde="vp", time_input="t", dim=2), hidden=128)
    # Malformed or failing modules.
    save("throws", torch.jit.script(Throws()))
    save("nan_below", torch.jit.script(NanBelow()))
    save("wrong_shape", torch.jit.script(WrongShape()))
    save("one_argument", torch.jit.script(OneArgument()))
    save("returns_tuple", torch.jit.script(ReturnsTuple()))
    save("wrong_attribute_type", torch.jit.script(WrongAttributeType()))
    save("constant_attributes", torch.jit.script(ConstantAttributes()))
    with open(os.path.join(HERE, "not_a_module.pt"), "w") as f:
        f.write("this is not a TorchScript archive\n")
    export_mlp_fixtures()


if __name__ == "__main__":
    main()

"""Small random networks of the tweedie.mlp schema and PyTorch's outputs on fixed inputs, for
tests/test_mlp_model.cpp. Run from anywhere: /usr/bin/python3 tests/data/mlp/make_fixtures.py

Each network NAME gives NAME.f64.safetensors and NAME.f32.safetensors (the same weights, rounded),
the inputs NAME.x.npy (float64), NAME.t.npy (continuous t), NAME.labels.npy (float64 integers, as read_npy reads; empty when
unconditional) and the outputs NAME.out64.npy (the float64 module) and NAME.out32.npy (the float32
module, stored as float64). The time input s = tweedie_net.time_input(spec, t) is computed in
float64 and then cast to the module's dtype, as the C++ runtime does.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "train"))
import tweedie_net as tn  # noqa: E402

ROWS = 37  # not a multiple of any tile


def block(hidden, activation, norm=False):
    return {"hidden": hidden, "activation": activation, "norm": norm}


NETWORKS = {
    # DDPM-style: score_sde's 999 t into a sinusoidal embedding, a two-layer time MLP.
    "vp_sinusoidal": {
        "dim": 3, "width": 12, "prediction": "noise", "sde": {"family": "vp"},
        "time_input": {"kind": "scaled_t", "scale": 999.0},
        "time_embedding": {"kind": "sinusoidal", "dim": 8},
        "time_mlp": {"widths": [16, 10], "activation": "silu"},
        "blocks": [block(14, "gelu", True), block(9, "silu")],
        "output": {"norm": True, "activation": "silu"}},
    # NCSN++-style: Gaussian Fourier features of log sigma, no time MLP, a score output.
    "ve_fourier": {
        "dim": 2, "width": 10, "prediction": "score", "sde": {"family": "ve", "sigma_min": 0.02, "sigma_max": 20.0},
        "time_input": {"kind": "log_sigma"},
        "time_embedding": {"kind": "fourier", "dim": 8, "scale": 4.0},
        "blocks": [block(12, "tanh", True), block(12, "relu")],
        "output": {"norm": False, "activation": "none"}},
    # EDM: preconditioning with sigma_data 0.5, a class table with a null class.
    "edm_precond": {
        "dim": 3, "width": 8, "prediction": "data", "sde": {"family": "edm"},
        "time_input": {"kind": "sigma"}, "preconditioning": {"kind": "edm", "sigma_data": 0.5},
        "time_embedding": {"kind": "fourier", "dim": 6, "scale": 2.0},
        "time_mlp": {"widths": [12], "activation": "gelu"},
        "classes": 3, "null_class": 3,
        "blocks": [block(10, "silu", True), block(6, "tanh", True)],
        "output": {"norm": True, "activation": "tanh"}},
    # Conditional without a null class, velocity prediction, continuous t.
    "cosine_conditional": {
        "dim": 4, "width": 8, "prediction": "velocity", "sde": {"family": "cosine"},
        "time_input": {"kind": "t"},
        "time_embedding": {"kind": "sinusoidal", "dim": 6},
        "time_mlp": {"widths": [8], "activation": "tanh"},
        "classes": 4,
        "blocks": [block(8, "relu", True), block(12, "gelu")],
        "output": {"norm": False, "activation": "gelu"}},
    # EDM's c_noise as a plain time input, sub-VP.
    "subvp_cnoise": {
        "dim": 2, "width": 6, "prediction": "noise", "sde": {"family": "subvp"},
        "time_input": {"kind": "c_noise"},
        "time_embedding": {"kind": "sinusoidal", "dim": 4},
        "time_mlp": {"widths": [8, 8, 6], "activation": "relu"},
        "blocks": [block(6, "tanh")],
        "output": {"norm": True, "activation": "none"}},
    # DPM-Solver's discrete-time input 1000 (t - 1/1000), non-default beta, no blocks at all.
    "vp_discrete_noblocks": {
        "dim": 2, "width": 5, "prediction": "data", "sde": {"family": "vp", "beta_min": 0.2, "beta_max": 15.0},
        "time_input": {"kind": "scaled_t", "scale": 1000.0, "shift": -1.0},
        "time_embedding": {"kind": "sinusoidal", "dim": 4},
        "blocks": [],
        "output": {"norm": True, "activation": "silu"}},
    # Unconditional, of edm_precond's dimension and family: the pair of classifier-free guidance.
    "edm_unconditional": {
        "dim": 3, "width": 8, "prediction": "noise", "sde": {"family": "edm"},
        "time_input": {"kind": "c_noise"},
        "time_embedding": {"kind": "sinusoidal", "dim": 6},
        "blocks": [block(10, "silu", True)],
        "output": {"norm": False, "activation": "none"}},
}


def times(spec, gen):
    family = spec["sde"]["family"]
    u = torch.rand(ROWS, generator=gen, dtype=torch.float64)
    if family == "edm":
        return torch.exp(np.log(0.002) + u * (np.log(80.0) - np.log(0.002)))
    if family == "ve":
        return 1e-5 + u * (1.0 - 1e-5)
    top = 0.9946 if family == "cosine" else 1.0
    return 1e-3 + u * (top - 1e-3)


def main():
    for index, (name, body) in enumerate(NETWORKS.items()):
        spec = dict(body, version=tn.SCHEMA_VERSION)
        torch.manual_seed(1000 + index)
        net = tn.build_network(spec).double()
        # Visible LayerNorm parameters and biases (torch initialises them to 1 and 0).
        with torch.no_grad():
            for key, p in net.state_dict().items():
                if "norm" in key or key.endswith("bias"):
                    p.add_(0.3 * torch.randn(p.shape, dtype=torch.float64))
        gen = torch.Generator().manual_seed(2000 + index)
        t = times(spec, gen)
        x = torch.randn(ROWS, spec["dim"], generator=gen, dtype=torch.float64) * 1.5
        classes = spec.get("classes", 0)
        labels = torch.randint(0, classes + (1 if "null_class" in spec else 0), (ROWS,), generator=gen) \
            if classes else torch.zeros(0, dtype=torch.long)
        y = labels if classes else None
        s = tn.time_input(spec, t)
        with torch.no_grad():
            out64 = net(x, s, y)
            tn.save_safetensors(os.path.join(HERE, f"{name}.f64.safetensors"), net, spec, torch.float64)
            net32 = tn.build_network(spec)
            net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
            net32.float()
            out32 = net32(x.float(), s.float(), y)
            tn.save_safetensors(os.path.join(HERE, f"{name}.f32.safetensors"), net32, spec, torch.float32)
        np.save(os.path.join(HERE, f"{name}.x.npy"), x.numpy())
        np.save(os.path.join(HERE, f"{name}.t.npy"), t.numpy())
        np.save(os.path.join(HERE, f"{name}.labels.npy"), labels.numpy().astype(np.float64))
        np.save(os.path.join(HERE, f"{name}.out64.npy"), out64.numpy())
        np.save(os.path.join(HERE, f"{name}.out32.npy"), out32.double().numpy())
        print(name, "max |out|", float(out64.abs().max()), "f32 vs f64", float((out32.double() - out64).abs().max()))


if __name__ == "__main__":
    main()

"""Small random noise-conditional classifiers of the tweedie.mlp schema (a head of K logits) and
PyTorch's logits and autograd input gradients of log softmax_y on fixed inputs, for
tests/test_mlp_classifier.cpp. Run: /usr/bin/python3 tests/data/mlp_classifier/make_fixtures.py

Each network NAME gives NAME.safetensors (float64 weights), the inputs NAME.x.npy, NAME.t.npy
(continuous t) and NAME.labels.npy (float64 integers), the logits NAME.logits.npy and
NAME.grad.npy: row i is d log softmax(logits_i)[y_i] / d x_i by torch.autograd, all float64.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "train"))
import tweedie_net as tn  # noqa: E402

ROWS = 53  # more than one float64 tile (24 rows), not a multiple of one


def block(hidden, activation, norm=False):
    return {"hidden": hidden, "activation": activation, "norm": norm}


NETWORKS = {
    # The shape of the shipped digits classifier: VP, 999 t, LayerNorm blocks, a time MLP.
    "vp_norm": {
        "dim": 5, "width": 12, "sde": {"family": "vp"}, "time_input": {"kind": "scaled_t", "scale": 999.0},
        "time_embedding": {"kind": "sinusoidal", "dim": 8}, "time_mlp": {"widths": [16, 10], "activation": "silu"},
        "blocks": [block(14, "gelu", True), block(9, "silu", True)],
        "output": {"norm": True, "activation": "silu", "logits": 4}},
    # Fourier features of log sigma, no time MLP, tanh and relu, no output norm, two classes.
    "ve_fourier": {
        "dim": 3, "width": 10, "sde": {"family": "ve", "sigma_min": 0.02, "sigma_max": 20.0},
        "time_input": {"kind": "log_sigma"}, "time_embedding": {"kind": "fourier", "dim": 8, "scale": 4.0},
        "blocks": [block(12, "tanh", True), block(7, "relu")],
        "output": {"norm": False, "activation": "none", "logits": 2}},
}


def main():
    for index, (name, body) in enumerate(NETWORKS.items()):
        spec = dict(body, version=tn.SCHEMA_VERSION)
        torch.manual_seed(3000 + index)
        net = tn.build_network(spec).double()
        with torch.no_grad():  # visible LayerNorm parameters and biases (torch starts them at 1 and 0)
            for key, p in net.state_dict().items():
                if "norm" in key or key.endswith("bias"):
                    p.add_(0.3 * torch.randn(p.shape, dtype=torch.float64))
        gen = torch.Generator().manual_seed(4000 + index)
        t = 1e-3 + torch.rand(ROWS, generator=gen, dtype=torch.float64) * (1.0 - 1e-3)
        x = (torch.randn(ROWS, spec["dim"], generator=gen, dtype=torch.float64) * 1.5).requires_grad_(True)
        k = spec["output"]["logits"]
        labels = torch.randint(0, k, (ROWS,), generator=gen)
        logits = net(x, tn.time_input(spec, t))
        chosen = torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, x)
        tn.save_safetensors(os.path.join(HERE, f"{name}.safetensors"), net, spec, torch.float64)
        for key, value in (("x", x.detach()), ("t", t), ("labels", labels.double()), ("logits", logits.detach()),
                           ("grad", grad)):
            np.save(os.path.join(HERE, f"{name}.{key}.npy"), value.numpy())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# DPM-Solver's dynamic_thresholding_fn (dpm_solver_pytorch.py), transcribed line by line and run by
# torch on random inputs: the reference of tests/test_x0_hooks.cpp. Run: /usr/bin/python3 make_golden.py
import numpy as np
import torch

def expand_dims(v, dims):
    return v[(...,) + (None,) * (dims - 1)]

def dynamic_thresholding_fn(x0, ratio, max_val):
    dims = x0.dim()
    p = ratio
    s = torch.quantile(torch.abs(x0).reshape((x0.shape[0], -1)), p, dim=1)
    s = expand_dims(torch.maximum(s, max_val * torch.ones_like(s).to(s.device)), dims)
    x0 = torch.clamp(x0, -s, s) / s
    return x0

rng = np.random.default_rng(10)
for d in (1, 2, 7, 64):
    # rows of several scales, so that some are thresholded and some only clipped at max_val
    x = rng.standard_normal((12, d)) * rng.choice([0.3, 1.0, 3.0], size=(12, 1))
    np.save(f"x{d}.npy", x)
    for ratio, max_val in ((0.995, 1.0), (0.9, 1.0), (0.5, 0.7), (0.0, 1.0), (1.0, 2.0)):
        out = dynamic_thresholding_fn(torch.from_numpy(x), ratio, max_val).numpy()
        np.save(f"out{d}_{ratio}_{max_val}.npy", out)

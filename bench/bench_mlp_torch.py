"""PyTorch's side of bench_mlp: the digits-sized network of examples/train/tweedie_net.py on the
same weights and inputs as the C++ benchmark.

    /usr/bin/python3 bench/bench_mlp_torch.py --make DIR   # writes the network and inputs to DIR
    /usr/bin/python3 bench/bench_mlp_torch.py DIR          # times PyTorch on them

The network: D = 64, width 256, sinusoidal embedding 64 -> time MLP [256, 256] (silu), 10 classes
and a null class, 4 residual blocks of hidden width 256 with LayerNorm and silu, output LayerNorm
+ silu; VP with score_sde's 999 t, noise prediction. Inputs: 10^4 rows of N(0, 1), t uniform in
[1e-3, 1], labels uniform in 0..10. Timing: forward under torch.inference_mode() on the first B
rows, batch B in {256, 10^4}, torch.set_num_threads(T) for T in {1, 2}, float64 and float32; the
median over repetitions of rows per second.
"""
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "train"))
import tweedie_net as tn  # noqa: E402

SPEC = {
    "version": tn.SCHEMA_VERSION, "dim": 64, "width": 256, "prediction": "noise", "sde": {"family": "vp"},
    "time_input": {"kind": "scaled_t", "scale": 999.0},
    "time_embedding": {"kind": "sinusoidal", "dim": 64},
    "time_mlp": {"widths": [256, 256], "activation": "silu"},
    "classes": 10, "null_class": 10,
    "blocks": [{"hidden": 256, "activation": "silu", "norm": True} for _ in range(4)],
    "output": {"norm": True, "activation": "silu"},
}
ROWS = 10000


def make(folder):
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    net = tn.build_network(SPEC).double()
    tn.save_safetensors(os.path.join(folder, "bench_mlp.safetensors"), net, SPEC, torch.float64)
    gen = torch.Generator().manual_seed(1)
    np.save(os.path.join(folder, "x.npy"), torch.randn(ROWS, 64, generator=gen, dtype=torch.float64).numpy())
    np.save(os.path.join(folder, "t.npy"), (1e-3 + (1 - 1e-3) * torch.rand(ROWS, generator=gen, dtype=torch.float64)).numpy())
    np.save(os.path.join(folder, "labels.npy"), torch.randint(0, 11, (ROWS,), generator=gen).double().numpy())


def bench(folder):
    net64 = tn.load_network(os.path.join(folder, "bench_mlp.safetensors"))
    x = torch.from_numpy(np.load(os.path.join(folder, "x.npy")))
    t = torch.from_numpy(np.load(os.path.join(folder, "t.npy")))
    y = torch.from_numpy(np.load(os.path.join(folder, "labels.npy"))).long()
    s = tn.time_input(SPEC, t)
    print("precision,batch,threads,rows_per_second")
    for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
        net = net64.to(dtype)
        for batch in (256, ROWS):
            xb, sb, yb = x[:batch].to(dtype), s[:batch].to(dtype), y[:batch]
            for threads in (1, 2):
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    net(xb, sb, yb)
                    rates = []
                    for _ in range(3):  # repetitions of at least 1 s each
                        calls, start = 0, time.perf_counter()
                        while calls == 0 or time.perf_counter() - start < 1.0:
                            net(xb, sb, yb)
                            calls += 1
                        rates.append(batch * calls / (time.perf_counter() - start))
                print(f"{name},{batch},{threads},{statistics.median(rates):.4g}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make":
        make(sys.argv[2])
    elif len(sys.argv) == 2:
        bench(sys.argv[1])
    else:
        sys.exit(__doc__)

"""What a Python callable costs per model call against a native model (docs/python.md).

Both models run the same sampler (euler, 50 steps) over the same chunks: the native one is the
exact score of one standard Gaussian (the library's mixture kernel), the Python one returns
-x / 2 from numpy. Each time per call is fitted as a + b * rows over the chunk sizes: a is the
fixed cost of a call (for the Python model: taking the GIL, wrapping the library's buffers as
numpy views, the call, checking and copying the result back, on top of the sampler's own
per-chunk work that both share), b the cost per row.

    PYTHONPATH=build/dev/python nice /usr/bin/python3 bench/bench_python_model.py [threads]"""
import sys
import time

import numpy as np

import tweedie

steps, repeats, chunks = 50, 3, [1, 4, 16, 64, 256, 1024]
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
models = {
    "native (exact Gaussian)": tweedie.GaussianMixture(weights=[1.0], means=[[0.0, 0.0]], stds=[[1.0, 1.0]]),
    "PythonModel (numpy -x/2)": tweedie.PythonModel(lambda x, t: x * -0.5, prediction="score", dim=2),
}


def seconds_per_call(target, chunk):
    n = max(chunk * 8, 2048)
    calls = steps * -(-n // chunk)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tweedie.sample(target, sde="vp", sampler="euler", steps=steps, n=n, chunk=chunk, threads=threads)
        best = min(best, time.perf_counter() - start)
    return best / calls


print(f"threads {threads}; microseconds per model call by chunk rows (best of {repeats})")
print("| model | " + " | ".join(str(c) for c in chunks) + " | fit: us per call | fit: ns per row |")
print("|---|" + "---|" * (len(chunks) + 2))
fits = {}
for name, target in models.items():
    us = np.array([seconds_per_call(target, c) * 1e6 for c in chunks])
    b, a = np.polyfit(np.array(chunks, dtype=float), us, 1, w=1.0 / us)  # relative errors weigh alike
    fits[name] = a
    print(f"| {name} | " + " | ".join(f"{u:.2f}" for u in us) + f" | {a:.2f} | {b * 1e3:.1f} |")
native, python = fits.values()
print(f"overhead of a Python call: {python - native:.2f} us")

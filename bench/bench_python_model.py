"""What a Python callable costs per model call against a native model (docs/python.md).

Both run the same sampler over the same chunks: the native model is the exact score of one
standard Gaussian (a closed form of a few operations per entry), the Python one returns -x / 2
from numpy (the same work in numpy). The difference per call is the callback's overhead: taking
the GIL, wrapping the library's buffers as numpy views, the call, and copying the result back.

    PYTHONPATH=build/dev/python nice /usr/bin/python3 bench/bench_python_model.py [chunk ...]"""
import sys
import time

import numpy as np

import tweedie

steps, repeats = 50, 5
gaussian = tweedie.GaussianMixture(weights=[1.0], means=[[0.0] * 2], stds=[[1.0] * 2])
python = tweedie.PythonModel(lambda x, t: x * -0.5, prediction="score", dim=2)


def best_time(target, n, chunk, threads):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tweedie.sample(target, sde="vp", sampler="euler", steps=steps, n=n, chunk=chunk, threads=threads)
        best = min(best, time.perf_counter() - start)
    return best


print("| threads | chunk rows | calls | native us/call | Python us/call | overhead us/call | overhead ns/row |")
print("|---|---|---|---|---|---|---|")
for chunk in [int(c) for c in sys.argv[1:]] or [16, 256, 4096]:
    for threads in [1, 2]:
        n = max(chunk * 8, 8192)
        calls = steps * -(-n // chunk)
        native = best_time(gaussian, n, chunk, threads) / calls * 1e6
        py = best_time(python, n, chunk, threads) / calls * 1e6
        print(f"| {threads} | {chunk} | {calls} | {native:.2f} | {py:.2f} | {py - native:.2f} | "
              f"{(py - native) / chunk * 1e3:.1f} |")

"""Two samplers at the same NFE on an exact target: the distance of their samples to exact ones.

    PYTHONPATH=build/dev/python /usr/bin/python3 examples/python/compare_samplers.py"""
import os

import tweedie

n = 400 if os.environ.get("TWEEDIE_EXAMPLE_SMALL") else 20000
target = tweedie.GaussianMixture(weights=[0.2, 0.5, 0.3], means=[[-2.0, 0.0], [0.0, 1.5], [2.0, -1.0]],
                                 stds=[[0.3, 0.3], [0.5, 0.2], [0.2, 0.6]])
exact = target.sample("vp", n=n, seed=100)
print("| sampler | options | steps | NFE/sample | SW2 to exact |")
print("|---|---|---|---|---|")
for sampler, options, steps in [("em", {}, 50), ("ddim", {"eta": 0.0}, 50), ("dpm-solver++", {}, 25)]:
    x, stats = tweedie.sample(target, sampler=sampler, steps=steps, n=n, seed=7, stats=True, **options)
    print(f"| {sampler} | {options or ''} | {steps} | {stats['nfe_per_sample']:g} | "
          f"{tweedie.sliced_wasserstein(x, exact):.4f} |")

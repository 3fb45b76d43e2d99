"""Samples from an exact Gaussian mixture and from a shipped network, and how close they land.

    PYTHONPATH=build/dev/python /usr/bin/python3 examples/python/sample_mixture_and_model.py

TWEEDIE_EXAMPLE_SMALL=1 runs it at a small size (the CTest test)."""
import os

import tweedie

SOURCE = os.environ.get("TWEEDIE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
n = 400 if os.environ.get("TWEEDIE_EXAMPLE_SMALL") else 20000

# The exact target: eight Gaussians on a circle; its score is closed-form, so the only error is
# the sampler's.
ring = tweedie.GaussianMixture.ring()
x, stats = tweedie.sample(ring, sde="vp", sampler="dpm-solver++", steps=20, n=n, seed=1, stats=True)
exact = ring.sample("vp", n=n, seed=2)
print(f"exact ring, {stats['sampler']}: {stats['steps']} steps, NFE/sample {stats['nfe_per_sample']:g}, "
      f"SW2 to exact samples {tweedie.sliced_wasserstein(x, exact):.4f}")

# The network trained on the same ring (models/ring.md): it carries its family (vp) and
# parameterisation (noise), so only the sampler is chosen here.
net = tweedie.MlpModel.load(os.path.join(SOURCE, "models", "ring.safetensors"))
y = tweedie.sample(net, sampler="dpm-solver++", steps=20, n=n, seed=1)
print(f"network ({net.description}): SW2 to exact samples {tweedie.sliced_wasserstein(y, exact):.4f}")
floor = tweedie.sliced_wasserstein(ring.sample("vp", n=n, seed=3), exact)
print(f"floor (two independent exact draws of {n}): {floor:.4f}")

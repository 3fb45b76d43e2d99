"""The data sets of tweedie's shipped models, with fixed seeds and train / held-out splits.

Every set is a pure function of (name, split): `load(name, split)` returns float64 rows (and, for
the digits, integer labels), the same on every run and machine. Run this file to (re)write the
held-out sets that the C++ tests read (`write_heldout`).

2-D sets (float64, n x 2):
  ring         builtin:ring's mixture: 8 equal-weight Gaussians of std 0.15 whose means lie on
               the circle of radius 2 at angles 2 pi k / 8, k = 0..7 (the first at angle 0), as
               GaussianMixture::ring in src/gaussian_mixture.cpp.
  moons        scikit-learn's make_moons(noise=0.05), centred by (-0.5, -0.25) and scaled by 1.5.
  swissroll    scikit-learn's make_swiss_roll(noise=1.0), columns (0, 2), divided by 5 (FFJORD's
               toy set; range about [-2.5, 2.5]).
  checkerboard FFJORD's 4 x 4 checkerboard scaled to [-2, 2]^2: x1 ~ U(-2, 2), x2 uniform on the
               squares of the opposite parity (8 unit squares, density 1/8 on them).
64-d set:
  digits       scikit-learn's 8x8 handwritten digits (1797 images, pixels 0..16) mapped to
               [-1, 1] by x / 8 - 1, with labels 0..9; a stratified split, 360 test images.

48-d set:
  sentences    the Diffusion-LM example's six-word sentences (sentences.py: a 33-word grammar
               with number agreement), each word a fixed random 8-d vector, concatenated; 2000
               training sentences (the corpus a sample may copy) and 2000 other held-out ones.

Splits: "train" (200000 rows for the 2-D sets; 1437 images) and "heldout" (10000 rows; the
360 test images), drawn from different seeds.
"""
import argparse
import math
import os

import numpy as np

TWO_D = ("ring", "moons", "swissroll", "checkerboard")
ALL = TWO_D + ("digits", "sentences")

SIZES = {"train": 200_000, "heldout": 10_000}
SEEDS = {"train": 0, "heldout": 1}
# One seed per data set so that the sets are independent of each other.
SET_SEED = {"ring": 11, "moons": 12, "swissroll": 13, "checkerboard": 14, "digits": 15}

RING_COMPONENTS, RING_RADIUS, RING_STD = 8, 2.0, 0.15
DIGITS_TEST = 360


def ring_means(k=RING_COMPONENTS, radius=RING_RADIUS):
    angles = 2.0 * math.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring_log_density(x):
    """log p(x) of the ring mixture (equal weights, isotropic std RING_STD), rows of x."""
    means = ring_means()
    d2 = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    log_comp = -0.5 * d2 / RING_STD**2 - math.log(2.0 * math.pi * RING_STD**2)
    m = log_comp.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(log_comp - m).mean(axis=1, keepdims=True)))[:, 0]


def _rng(name, split):
    return np.random.default_rng([SET_SEED[name], SEEDS[split]])


def _ring(n, rng):
    k = rng.integers(0, RING_COMPONENTS, size=n)
    return ring_means()[k] + RING_STD * rng.standard_normal((n, 2))


def _moons(n, rng):
    from sklearn.datasets import make_moons
    x, _ = make_moons(n_samples=n, noise=0.05, random_state=int(rng.integers(2**31)))
    return (x - np.array([0.5, 0.25])) * 1.5


def _swissroll(n, rng):
    from sklearn.datasets import make_swiss_roll
    x, _ = make_swiss_roll(n_samples=n, noise=1.0, random_state=int(rng.integers(2**31)))
    return x[:, [0, 2]] / 5.0


def _checkerboard(n, rng):
    x1 = rng.uniform(-2.0, 2.0, size=n)
    x2 = rng.uniform(0.0, 1.0, size=n) - 2.0 * rng.integers(0, 2, size=n)
    x2 = x2 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1)


_GENERATORS = {"ring": _ring, "moons": _moons, "swissroll": _swissroll, "checkerboard": _checkerboard}


def digits(split):
    """(x [n, 64] in [-1, 1], labels [n] in 0..9) of the digits' stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = d.data.astype(np.float64) / 8.0 - 1.0
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=DIGITS_TEST, stratify=y,
                                              random_state=SET_SEED["digits"])
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


def load(name, split, n=None):
    """Rows of data set `name` ("train" or "heldout" split); (x, labels) for the digits."""
    if split not in SIZES:
        raise ValueError(f"unknown split '{split}' (expected train or heldout)")
    if name == "digits":
        return digits(split)
    if name == "sentences":
        import sentences
        return sentences.encode(sentences.split(split))
    if name not in _GENERATORS:
        raise ValueError(f"unknown data set '{name}' (expected one of {', '.join(ALL)})")
    return _GENERATORS[name](SIZES[split] if n is None else n, _rng(name, split))


def dim(name):
    return {"digits": 64, "sentences": 48}.get(name, 2)


def is_conditional(name):
    return name == "digits"


def heldout_path(out_dir, name):
    return os.path.join(out_dir, f"{name}.heldout.npy")


def write_heldout(out_dir, names=ALL):
    """Writes <name>.heldout.npy (float64 rows) and digits.heldout_labels.npy (float64 integers,
    as tweedie's read_npy reads them)."""
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        if name == "digits":
            x, y = load(name, "heldout")
            np.save(os.path.join(out_dir, "digits.heldout_labels.npy"), y.astype(np.float64))
        elif name == "sentences":  # the example's files: vocabulary, embedding, training corpus
            import sentences
            sentences.write(out_dir)
            continue
        else:
            x = load(name, "heldout")
        np.save(heldout_path(out_dir, name), x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="models", help="directory of the held-out .npy files")
    p.add_argument("names", nargs="*", default=list(ALL))
    a = p.parse_args()
    write_heldout(a.out, a.names)


if __name__ == "__main__":
    main()

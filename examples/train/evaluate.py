"""Quality of a trained model measured in Python (independent of tweedie's C++ samplers).

Samplers (both on the model's prediction converted to the score by schedules.to_score):
  pf-heun  the probability-flow ODE dx/dt = f x - g^2 score / 2 by Heun's method from T to
           t_end on a grid uniform in log-SNR (EDM: Karras' rho = 7 grid in sigma), then the
           denoised mean E[x_0 | x_t_end] (Tweedie's formula) as the sample;
  em       the reverse SDE dx = (f x - g^2 score) dt + g dW by Euler-Maruyama on the same grid,
           the same final denoising.
Metric: the sliced Wasserstein-2 distance SW2 = sqrt(mean over unit directions of W2^2 of the
projections), as tweedie::sliced_wasserstein computes it, between equal-size sets; the floor is
the same statistic between two independent draws of the data of that size (the sampling noise
of the metric itself: a perfect model scores about the floor).
"""
import math

import numpy as np
import torch

import schedules


def sliced_w2(a, b, projections=1000, seed=0):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"sliced_w2: shapes {a.shape} and {b.shape} differ")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((projections, a.shape[1]))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    pa, pb = np.sort(a @ w.T, axis=0), np.sort(b @ w.T, axis=0)
    return float(np.sqrt(((pa - pb) ** 2).mean()))


def time_grid(family, steps, t_end=None):
    """steps + 1 decreasing times from T to t_end (uniform log-SNR; Karras rho = 7 for edm)."""
    t_end = (1e-3 if family.name != "edm" else family.sigma_min) if t_end is None else t_end
    if family.name == "edm" or family.name == "ve":
        s_max = family.sigma(torch.tensor([family.T], dtype=torch.float64)).item()
        s_min = family.sigma(torch.tensor([t_end], dtype=torch.float64)).item()
        rho = 7.0
        i = torch.arange(steps + 1, dtype=torch.float64) / steps
        sig = (s_max ** (1 / rho) + i * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
        if family.name == "edm":
            return sig
        return torch.log(sig / family.sigma_min) / math.log(family.sigma_max / family.sigma_min)
    # log-SNR uniform for the VP-like families, inverted numerically by bisection on t.
    def lam(t):
        return torch.log(family.alpha(t) / family.sigma(t))
    ends = torch.tensor([family.T, t_end], dtype=torch.float64)
    l0, l1 = lam(ends).tolist()
    target = torch.linspace(l0, l1, steps + 1, dtype=torch.float64)
    lo = torch.full_like(target, 1e-7)
    hi = torch.full_like(target, family.T)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        above = lam(mid) > target  # lambda decreases in t
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    g = 0.5 * (lo + hi)
    g[0], g[-1] = family.T, t_end
    return g


@torch.no_grad()
def sample(predict, family, prediction, n, dim, steps=500, method="pf-heun", seed=0, labels=None):
    """n samples from a model; predict(x, t, labels) -> the network's prediction (float64)."""
    gen = torch.Generator().manual_seed(seed)
    grid = time_grid(family, steps)
    x = family.prior_std * torch.randn(n, dim, generator=gen, dtype=torch.float64)

    def score(x, t):
        tt = torch.full((x.shape[0],), float(t), dtype=torch.float64)
        return schedules.to_score(family, prediction, tt, x, predict(x, tt, labels))

    def drift(x, t, factor):
        tt = torch.tensor([float(t)], dtype=torch.float64)
        return family.f(tt) * x - factor * family.g2(tt) * score(x, t)

    for k in range(steps):
        t0, t1 = grid[k].item(), grid[k + 1].item()
        h = t1 - t0
        if method == "pf-heun":
            d0 = drift(x, t0, 0.5)
            xe = x + h * d0
            x = x + 0.5 * h * (d0 + drift(xe, t1, 0.5))
        elif method == "em":
            g = math.sqrt(family.g2(torch.tensor([t0], dtype=torch.float64)).item())
            x = x + h * drift(x, t0, 1.0) + g * math.sqrt(-h) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        else:
            raise ValueError(f"unknown sampler '{method}'")
    # Tweedie's formula at t_end: E[x0 | x] = (x + sigma^2 score) / alpha.
    t_end = grid[-1].item()
    tt = torch.full((n,), t_end, dtype=torch.float64)
    a, s = family.alpha(tt)[:, None], family.sigma(tt)[:, None]
    return ((x + s * s * score(x, t_end)) / a).numpy()


def floor_distribution(pool, n, pairs=10, seed=0, reference=None):
    """SW2 between independent size-n draws of the data: `pairs` disjoint pairs of rows of
    `pool` (or, with `reference`, draws of pool against that fixed set). Mean, sd and max."""
    rng = np.random.default_rng(seed)
    values = []
    if reference is None:
        perm = rng.permutation(len(pool))
        if len(pool) < 2 * n * pairs:
            raise ValueError("floor_distribution: the pool is too small for disjoint pairs")
        for k in range(pairs):
            a = pool[perm[2 * k * n:(2 * k + 1) * n]]
            b = pool[perm[(2 * k + 1) * n:(2 * k + 2) * n]]
            values.append(sliced_w2(a, b))
    else:
        for k in range(pairs):
            values.append(sliced_w2(pool[rng.choice(len(pool), n, replace=False)], reference))
    v = np.array(values)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "max": float(v.max()), "pairs": pairs}


def ring_exact_score(family):
    """predict(x, t, y) -> the exact score of the noised ring (for checking the samplers)."""
    import datasets
    means = torch.from_numpy(datasets.ring_means())

    def predict(x, t, y):
        a, s = family.alpha(t)[:, None], family.sigma(t)[:, None]
        v = (a * datasets.RING_STD) ** 2 + s * s
        diff = x[:, None, :] - a[:, None, :] * means[None]
        w = torch.softmax(-(diff ** 2).sum(-1) / (2 * v), dim=1)
        return -(w[:, :, None] * diff).sum(1) / v
    return predict


def mixture_entropy_ring(n=200_000, seed=0):
    """Differential entropy (nats) of the ring by Monte Carlo of -log p, with its standard error."""
    import datasets
    rng = np.random.default_rng(seed)
    k = rng.integers(0, datasets.RING_COMPONENTS, size=n)
    x = datasets.ring_means()[k] + datasets.RING_STD * rng.standard_normal((n, 2))
    nl = -datasets.ring_log_density(x)
    return float(nl.mean()), float(nl.std(ddof=1) / math.sqrt(n))


def log_likelihood(predict, family, prediction, x, steps=200, t_min=1e-3, labels=None):
    """log p_{t_min}(x) per row by the probability-flow ODE from t_min to T (Heun's method on the
    grid of time_grid), the divergence of the drift exact by autograd (one backward per
    coordinate), and the prior N(0, prior_std^2 I) at T. float64."""
    grid = torch.flip(time_grid(family, steps, t_end=t_min), [0])
    x = torch.as_tensor(x, dtype=torch.float64).clone()
    n, d = x.shape

    def drift_div(x, t):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            tt = torch.full((n,), float(t), dtype=torch.float64)
            tv = torch.tensor([float(t)], dtype=torch.float64)
            score = schedules.to_score(family, prediction, tt, x, predict(x, tt, labels))
            f = family.f(tv) * x - 0.5 * family.g2(tv) * score
            div = torch.zeros(n, dtype=torch.float64)
            for j in range(d):
                div = div + torch.autograd.grad(f[:, j].sum(), x, retain_graph=j + 1 < d)[0][:, j]
        return f.detach(), div.detach()

    delta = torch.zeros(n, dtype=torch.float64)
    for k in range(steps):
        t0, t1 = grid[k].item(), grid[k + 1].item()
        h = t1 - t0
        f0, v0 = drift_div(x, t0)
        xe = x + h * f0
        f1, v1 = drift_div(xe, t1)
        x = x + 0.5 * h * (f0 + f1)
        delta = delta + 0.5 * h * (v0 + v1)
    s = family.prior_std
    prior = -0.5 * d * math.log(2 * math.pi * s * s) - 0.5 * (x ** 2).sum(1) / (s * s)
    return (prior + delta).numpy()


def ring_cross_entropy(family, x, t_min):
    """-log p_{t_min}(x) per row under the exact noised ring (means alpha m_k, variance
    alpha^2 0.15^2 + sigma^2): the exact counterpart of log_likelihood on the ring."""
    import datasets
    t = torch.tensor([t_min], dtype=torch.float64)
    a, s = family.alpha(t).item(), family.sigma(t).item()
    v = (a * datasets.RING_STD) ** 2 + s * s
    d2 = ((x[:, None, :] - a * datasets.ring_means()[None]) ** 2).sum(-1)
    logc = -0.5 * d2 / v - math.log(2 * math.pi * v)
    m = logc.max(1, keepdims=True)
    return -(m + np.log(np.exp(logc - m).mean(1, keepdims=True)))[:, 0]

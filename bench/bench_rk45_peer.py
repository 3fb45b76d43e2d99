#!/usr/bin/python3
"""score_sde's probability-flow ODE sampler on tweedie's benchmark problem, the peer of
bench_adaptive's sample/dopri5 cases.

score_sde (yang-song/score_sde, sampling.py, get_ode_sampler) integrates the whole batch as one
flattened ODE with scipy.integrate.solve_ivp(method='RK45', rtol, atol) from T = 1 to eps = 1e-3,
the drift f(x, t) - g(t)^2 score / 2 of the VP SDE (beta 0.1 .. 20) evaluated on all rows at the
shared time. Here the score is the exact mixture's, in numpy (log-sum-exp over the K components),
on the mixture and initial states bench_adaptive wrote (TWEEDIE_BENCH_DUMP=DIR). Single-threaded
BLAS (OMP/OPENBLAS/MKL_NUM_THREADS=1 are set before numpy loads).

  TWEEDIE_BENCH_DUMP=/tmp/peer build/rel/bench/bench_adaptive --benchmark_filter='^sample/dopri5/'
  /usr/bin/python3 bench/bench_rk45_peer.py /tmp/peer --d 64 --n 10000 --repeats 3
"""
import argparse
import json
import os
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from scipy import integrate  # noqa: E402

BETA_MIN, BETA_MAX = 0.1, 20.0


def vp(t):
    """alpha(t), sigma(t), beta(t) of the VP SDE."""
    log_mean = -0.25 * t * t * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN
    alpha = np.exp(log_mean)
    return alpha, np.sqrt(-np.expm1(2.0 * log_mean)), BETA_MIN + t * (BETA_MAX - BETA_MIN)


class Mixture:
    def __init__(self, path):
        doc = json.load(open(path))
        w = np.asarray(doc["weights"], dtype=float)
        self.log_w = np.log(w / w.sum())
        self.mu = np.asarray(doc["means"], dtype=float)
        self.var0 = np.asarray(doc["stds"], dtype=float) ** 2

    def score(self, x, t):
        a, s, _ = vp(t)
        var = a * a * self.var0 + s * s                      # K x d
        p = 1.0 / var
        m = a * self.mu
        # log N_k(x) = c_k - 1/2 sum_j P_kj (x_j - m_kj)^2, expanded into matrix products
        c = self.log_w - 0.5 * (np.log(2 * np.pi * var).sum(1) + (m * m * p).sum(1))
        logits = c - 0.5 * (x * x) @ p.T + x @ (m * p).T       # n x K
        logits -= logits.max(1, keepdims=True)
        r = np.exp(logits)
        r /= r.sum(1, keepdims=True)
        return r @ (m * p) - x * (r @ p)


def run(mix, x0, rtol, atol):
    shape = x0.shape
    nfe = [0]

    def ode_func(t, y):
        nfe[0] += 1
        x = y.reshape(shape)
        _, _, beta = vp(t)
        drift = -0.5 * beta * x - 0.5 * beta * mix.score(x, t)
        return drift.reshape(-1)

    start = time.perf_counter()
    sol = integrate.solve_ivp(ode_func, (1.0, 1e-3), x0.reshape(-1), rtol=rtol, atol=atol, method="RK45")
    return time.perf_counter() - start, nfe[0], sol.y[:, -1].reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    mix = Mixture(os.path.join(args.dir, f"mixture_d{args.d}.json"))
    x0 = np.load(os.path.join(args.dir, f"init_d{args.d}_n{args.n}.npy"))
    times = []
    for _ in range(args.repeats):
        wall, nfe, _ = run(mix, x0, args.rtol, args.atol)
        times.append(wall)
    times.sort()
    print(json.dumps({"d": args.d, "n": args.n, "rhs_evaluations": nfe, "nfe_per_sample": nfe,
                      "wall_s": times, "median_s": times[len(times) // 2]}))


if __name__ == "__main__":
    main()

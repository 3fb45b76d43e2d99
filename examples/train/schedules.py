"""What training and the Python samplers need of a forward family, on top of tweedie_net.

tweedie_net.alpha_sigma gives alpha(t), sigma(t) of x_t = alpha x_0 + sigma eps (the formulas of
src/sde.cpp, defaults in tweedie_net.SDE_DEFAULTS); this adds the SDE's f(t), g(t)^2, the end
time T, the smallest training time and the prior's standard deviation, as in
include/tweedie/sde.hpp, and the conversions between parameterisations.
"""
import math

import torch

import tweedie_net


class Family:
    """One forward family, from a spec's "sde" object ({"family": "vp", ...})."""

    def __init__(self, sde):
        self.sde = dict(sde)
        self.name = sde["family"]
        self.p = tweedie_net.sde_params(sde)
        self.T = {"vp": 1.0, "subvp": 1.0, "ve": 1.0, "cosine": 0.9946}.get(self.name, self.p.get("sigma_max"))
        # score_sde's eps = 1e-5 for the VP-like families; ve starts at sigma_min (t = 0); edm
        # at its sigma_min.
        self.t_eps = {"ve": 0.0, "edm": self.p.get("sigma_min")}.get(self.name, 1e-5)
        self.prior_std = self.p["sigma_max"] if self.name in ("ve", "edm") else 1.0
        self.sigma_min = self.p.get("sigma_min")

    def alpha(self, t):
        return tweedie_net.alpha_sigma(self.sde, t)[0]

    def sigma(self, t):
        return tweedie_net.alpha_sigma(self.sde, t)[1]

    def f(self, t):
        """d log alpha / dt."""
        t = t.to(torch.float64)
        if self.name in ("vp", "subvp"):
            return -0.5 * (self.p["beta_min"] + t * (self.p["beta_max"] - self.p["beta_min"]))
        if self.name == "cosine":
            s = self.p["cosine_s"]
            return -0.5 * math.pi / (1.0 + s) * torch.tan((t + s) / (1.0 + s) * 0.5 * math.pi)
        return torch.zeros_like(t)

    def g2(self, t):
        """d sigma^2 / dt - 2 f sigma^2."""
        t = t.to(torch.float64)
        if self.name in ("vp", "subvp"):
            beta = self.p["beta_min"] + t * (self.p["beta_max"] - self.p["beta_min"])
            return beta if self.name == "vp" else beta * (1.0 - self.alpha(t) ** 4)
        if self.name == "cosine":
            return -2.0 * self.f(t)
        if self.name == "ve":
            return 2.0 * math.log(self.p["sigma_max"] / self.p["sigma_min"]) * self.sigma(t) ** 2
        return 2.0 * t


def to_score(family, prediction, t, x, out):
    """The score from a prediction (the conversions of src/model.cpp's convert_row)."""
    a = family.alpha(t)[:, None]
    s = family.sigma(t)[:, None]
    if prediction == "score":
        return out
    if prediction == "noise":
        return -out / s
    if prediction == "data":
        return (a * out - x) / (s * s)
    if prediction == "velocity":
        eps = (s * x + a * out) / (a * a + s * s)
        return -eps / s
    raise ValueError(f"unknown prediction '{prediction}'")


def target(prediction, a, s, x0, eps):
    """The regression target of denoising score matching: the three equivalent views (and the score)."""
    if prediction == "noise":
        return eps
    if prediction == "data":
        return x0
    if prediction == "velocity":
        return a * eps - s * x0
    if prediction == "score":
        return -eps / s
    raise ValueError(f"unknown prediction '{prediction}'")

"""Families, grids, the sampler registry, mixtures and metrics against closed forms."""
import math

import numpy as np
import pytest

from conftest import MIXTURE
import tweedie


def test_family_coefficients_and_parameters():
    vp = tweedie.Sde("vp", beta_min=0.1, beta_max=20.0)
    t = 0.3
    log_alpha = -t * t * (20.0 - 0.1) / 4 - t * 0.1 / 2  # sde.hpp's log_mean_coeff
    assert vp.alpha(t) == pytest.approx(math.exp(log_alpha), rel=1e-15)
    assert vp.sigma(t) == pytest.approx(math.sqrt(1 - math.exp(2 * log_alpha)), rel=1e-14)
    assert vp.log_snr(t) == pytest.approx(2 * math.log(vp.alpha(t) / vp.sigma(t)), rel=1e-13)
    assert vp.t_of_lambda(vp.lambda_(t)) == pytest.approx(t, rel=1e-12)
    edm = tweedie.Sde("edm")
    assert (edm.T, edm.sigma(2.5), edm.default_t_end) == (80.0, 2.5, 0.002)
    assert set(tweedie.sde_names()) == {"vp", "subvp", "ve", "cosine", "edm"}
    # make_sde's own message (it names the parameter as the CLI's flag).
    with pytest.raises(ValueError, match="--sigma-max does not apply to the vp family"):
        tweedie.Sde("vp", sigma_max=3.0)


def test_grids():
    t = tweedie.make_grid("vp", steps=4)
    assert t[0] == 1.0 and t[-1] == 1e-3 and len(t) == 5
    np.testing.assert_allclose(np.diff(t), -(1.0 - 1e-3) / 4, rtol=1e-12)
    lam = [tweedie.Sde("vp").lambda_(s) for s in tweedie.make_grid("vp", steps=6, spacing="log-snr")]
    np.testing.assert_allclose(np.diff(lam), (lam[-1] - lam[0]) / 6, rtol=1e-9)
    # On EDM every sampler's default grid is Karras with the last step to sigma = 0.
    k = tweedie.sampler_grid("em", "edm", steps=5)
    assert k[-1] == 0.0 and k[0] == 80.0 and len(k) == 6
    assert tweedie.sampler_grid("em", "edm", steps=5, grid="time-uniform")[-1] == 0.002


def test_sampler_registry_declares_options():
    samplers = tweedie.samplers()
    assert {"em", "ddim", "dpm-solver++", "heun"} <= set(samplers)
    eta = samplers["ddim"]["options"]["eta"]
    assert eta["type"] == "real" and eta["allowed"].startswith("in [0")
    assert samplers["em"]["stochastic"] and not samplers["em"]["adaptive"]
    assert samplers["dpm-solver-adaptive"]["adaptive"]


def test_mixture_closed_forms_and_exact_samples():
    g = tweedie.GaussianMixture(**MIXTURE)
    assert (g.dim, g.components, g.classes) == (2, 2, 0)
    w, mu = np.array(MIXTURE["weights"]), np.array(MIXTURE["means"])
    np.testing.assert_allclose(g.mean("vp", 0.0), w @ mu, rtol=1e-14)
    x = g.sample("vp", t=0.0, n=40000, seed=1)
    se = np.sqrt(np.diag(g.covariance("vp", 0.0)) / len(x))
    assert np.all(np.abs(x.mean(axis=0) - w @ mu) < 4 * se)
    # The score is the gradient of the log-density (central differences).
    pts, h = x[:5], 1e-5
    s = g.score("vp", 0.2, pts)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (g.log_density("vp", 0.2, pts + e) - g.log_density("vp", 0.2, pts - e)) / (2 * h)
        np.testing.assert_allclose(s[:, j], fd, rtol=1e-6, atol=1e-8)
    exact = g.model("vp")
    np.testing.assert_array_equal(exact.evaluate(np.full(5, 0.2), pts), s)
    assert exact.sde.name == "vp" and exact.has_divergence


def test_labelled_mixture_posterior():
    g = tweedie.GaussianMixture(**MIXTURE, classes=[0, 1])
    assert g.classes == 2
    x = np.array([[0.0, 0.0], [1.5, -0.25]])
    post = g.class_log_posterior("vp", 0.1, x)
    np.testing.assert_allclose(np.exp(post).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(g.conditional(1).means, [[1.5, -0.25]])


def test_metrics():
    g = tweedie.GaussianMixture(**MIXTURE)
    a, b = g.sample("vp", n=2000, seed=1), g.sample("vp", n=2000, seed=2)
    assert tweedie.sliced_wasserstein(a, a) == 0.0
    assert 0.0 < tweedie.sliced_wasserstein(a, b) < 0.2
    assert tweedie.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(tweedie.sample_mean(a), a.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(tweedie.sample_covariance(a), np.cov(a.T), rtol=1e-10)

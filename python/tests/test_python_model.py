"""A Python callable as a model: the exact mixture's score in numpy, and a PyTorch module against
its TorchScript export through tweedie's loader."""
import threading
import time
import warnings

import numpy as np
import pytest

from conftest import MIXTURE, assert_bits
import tweedie


def numpy_mixture_score(sde, x, t):
    """grad_x log p_t of the diagonal mixture MIXTURE, written out: p_t's components are
    N(alpha mu_k, alpha^2 s_k^2 + sigma^2)."""
    alpha = np.array([sde.alpha(s) for s in t])[:, None, None]
    sigma = np.array([sde.sigma(s) for s in t])[:, None, None]
    w = np.array(MIXTURE["weights"])
    mu, s = np.array(MIXTURE["means"])[None], np.array(MIXTURE["stds"])[None]
    var = alpha**2 * s**2 + sigma**2  # (n, K, d)
    diff = x[:, None, :] - alpha * mu
    log_n = np.log(w)[None] - 0.5 * np.sum(diff**2 / var + np.log(2 * np.pi * var), axis=2)
    r = np.exp(log_n - log_n.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", r, -diff / var)


def test_numpy_score_matches_the_exact_mixture_to_rounding(mixture_file):
    target = tweedie.GaussianMixture.load(mixture_file)
    sde = tweedie.Sde("vp")
    model = tweedie.PythonModel(lambda x, t: numpy_mixture_score(sde, x, t), prediction="score", dim=2)
    args = dict(sampler="em", steps=40, n=700, seed=8)
    python = tweedie.sample(model, sde=sde, **args)
    exact = tweedie.sample(target, sde=sde, **args)
    # The same arithmetic up to the order of operations: agreement to rounding, not bits.
    np.testing.assert_allclose(python, exact, rtol=0, atol=1e-11)


def analytic_gaussian():
    """The family vp, N(m, s^2 I) as a one-component mixture and t -> (var, alpha) of its marginal
    p_t = N(alpha m, var I), var = alpha^2 s^2 + sigma^2 (t: an array of times, var and alpha (n, 1))."""
    sde, m, s = tweedie.Sde("vp"), np.array([0.5, -1.0]), 0.7

    def var_and_alpha(t):
        alpha = np.array([sde.alpha(u) for u in t])[:, None]
        sigma = np.array([sde.sigma(u) for u in t])[:, None]
        return alpha**2 * s**2 + sigma**2, alpha

    return sde, m, s, tweedie.GaussianMixture([1.0], [m.tolist()], [[s, s]]), var_and_alpha


def test_a_jvp_gives_the_exact_divergence_of_an_analytic_gaussian():
    """N(m, s^2 I) under vp: p_t = N(alpha m, (alpha^2 s^2 + sigma^2) I), score -(x - alpha m) / var
    and J v = -v / var in numpy; the exact divergence takes the trace of d JVPs, the mixture's
    own divergence is closed-form: the same ODE, so agreement to the solver's rounding."""
    sde, m, s, target, var_and_alpha = analytic_gaussian()

    def score(x, t):
        var, alpha = var_and_alpha(t)
        return -(x - alpha * m) / var

    def jvp(x, t, v):
        return -v / var_and_alpha(t)[0]

    data = target.sample(sde, n=25, seed=1)
    no_jvp = tweedie.PythonModel(score, dim=2)
    with pytest.raises(ValueError, match=r"give PythonModel\(fn, jvp=...\).*divergence=\"hutchinson\""):
        tweedie.log_likelihood(no_jvp, data)
    model = tweedie.PythonModel(score, dim=2, jvp=jvp)
    assert model.has_jvp and not no_jvp.has_jvp
    python = tweedie.log_likelihood(model, data).log_likelihood
    exact = tweedie.log_likelihood(target, data).log_likelihood
    np.testing.assert_allclose(python, exact, rtol=0, atol=1e-9)
    # Hutchinson's estimate runs on the JVP too (and, without one, on differences).
    tweedie.log_likelihood(no_jvp, data, divergence="hutchinson", seed=2)
    with pytest.raises(ValueError, match="PythonModel: jvp returned"):
        tweedie.log_likelihood(tweedie.PythonModel(score, dim=2, jvp=lambda x, t, v: v[:1]), data)


def test_calls_run_on_whole_chunks_and_in_parallel():
    calls = []

    def fn(x, t):
        calls.append(len(x))
        return -x

    model = tweedie.PythonModel(fn, dim=2)
    tweedie.sample(model, sampler="euler", steps=4, n=600, chunk=256, threads=2)
    assert sorted(set(calls)) == [88, 256]  # chunks of 256 rows and the last of 88, never single rows
    assert len(calls) == 3 * 4


def test_the_gil_is_released_while_sampling():
    """A Python thread keeps running while a native model samples: with the GIL held it could run
    for one switch interval (5 ms) at most, here it runs for most of the call."""
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        start, before = time.perf_counter(), count[0]
        time.sleep(0.05)  # the spinner alone: its rate
        rate = (count[0] - before) / (time.perf_counter() - start)
        start, before = time.perf_counter(), count[0]
        tweedie.sample(tweedie.GaussianMixture.ring(), sampler="em", steps=100, n=4000, threads=1)
        seconds, during = time.perf_counter() - start, count[0] - before
    finally:
        stop.set()
        spinner.join()
    assert seconds > 0.05  # long enough for the bound below to tell
    assert during > 0.1 * rate * seconds


torch = pytest.importorskip("torch")


class Net(torch.nn.Module):
    """A float64 noise predictor of (x, t); its time input is t itself."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2))

    def forward(self, x, s):
        return self.layers(torch.cat([x, s[:, None]], dim=1))


class Exported(Net):
    """The same network with the conventions tweedie's loader reads from its attributes."""

    def __init__(self):
        super().__init__()
        self.prediction = "noise"
        self.sde = "vp"
        self.time_input = "t"
        self.dim = 2


@pytest.mark.skipif(not tweedie.has_torch, reason="tweedie was built without libtorch")
def test_a_pytorch_module_samples_as_its_torchscript_export(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tweedie's TorchScript calls run on one intra-op thread
    net = Net().double().eval()
    exported = Exported().double().eval()
    exported.load_state_dict(net.state_dict())
    path = str(tmp_path / "net.pt")
    torch.jit.script(exported).save(path)

    @torch.no_grad()
    def fn(x, t):
        # x and t are read-only views: torch warns that it cannot mark the tensors so; they are
        # only read here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return net(torch.from_numpy(x), torch.from_numpy(t)).numpy()

    python = tweedie.PythonModel(fn, prediction="noise", dim=2, sde="vp")
    loaded = tweedie.TorchScriptModel(path)
    for sampler in ["dpm-solver++", "em"]:
        a = tweedie.sample(python, sampler=sampler, steps=10, n=300, seed=6)
        b = tweedie.sample(loaded, sampler=sampler, steps=10, n=300, seed=6)
        assert_bits(a, b)


def test_a_conditional_callable_sees_each_row_s_label():
    seen = []

    def fn(x, t, labels):
        seen.append(labels.copy())
        return -x + labels[:, None]

    model = tweedie.PythonModel(fn, dim=2, classes=2, null_class=2)
    x = np.zeros((3, 2))
    out = model.evaluate(np.full(3, 0.5), x, labels=[1, 0, 2])
    np.testing.assert_array_equal(out[:, 0], [1, 0, 2])
    model.evaluate(np.full(3, 0.5), x)  # unlabelled rows: the null class
    np.testing.assert_array_equal(seen[-1], [2, 2, 2])
    assert seen[-1].dtype == np.int32


@pytest.mark.skipif(not tweedie.has_torch, reason="tweedie was built without libtorch")
def test_a_pytorch_module_s_autograd_jvp_is_the_torchscript_export_s_likelihood(tmp_path):
    """jvp by torch.autograd.functional.jvp (torch 1.13; torch.func.jvp from 2.0) gives the
    likelihood of the export loaded by TorchScriptModel, which differentiates it itself."""
    torch.manual_seed(1)
    torch.set_num_threads(1)
    net = Net().double().eval()
    exported = Exported().double().eval()
    exported.load_state_dict(net.state_dict())
    path = str(tmp_path / "net.pt")
    torch.jit.script(exported).save(path)

    def tensors(*arrays):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return [torch.from_numpy(a) for a in arrays]

    @torch.no_grad()
    def fn(x, t):
        x, t = tensors(x, t)
        return net(x, t).numpy()

    def jvp(x, t, v):
        x, t, v = tensors(x, t, v)
        return torch.autograd.functional.jvp(lambda y: net(y, t), (x,), (v,))[1].numpy()

    data = np.random.default_rng(0).standard_normal((12, 2))
    python = tweedie.log_likelihood(tweedie.PythonModel(fn, prediction="noise", dim=2, sde="vp", jvp=jvp), data)
    loaded = tweedie.log_likelihood(tweedie.TorchScriptModel(path), data)
    np.testing.assert_allclose(python.log_likelihood, loaded.log_likelihood, rtol=0, atol=1e-9)


def test_the_likelihood_of_a_gaussian_is_its_closed_form_with_the_exact_prior():
    """N(m, s^2 I) under vp with the exact score from numpy: the PF-ODE maps p_{t_min} to p_T
    exactly, so log p_{t_min}(x) = log prior(x_T) + the divergence integral is the closed form
    log N(x; alpha m, (alpha^2 s^2 + sigma^2) I) at t_min once the prior is the marginal p_T
    (prior=the mixture), to the solver's tolerance. With the family's N(0, I) prior the result
    is off by log p_T(x_T) - log N(x_T; 0, I): alpha_T m = (0.003, -0.007) at T = 1 (beta_max
    20) makes that a few 1e-3 to 2e-2 nats per row, the discrepancy once taken for an error."""
    sde, m, s, target, var_and_alpha = analytic_gaussian()

    def log_normal(x, t):
        var, alpha = var_and_alpha(np.full(len(x), t))
        return -0.5 * np.sum((x - alpha * m) ** 2 / var + np.log(2 * np.pi * var), axis=1)

    model = tweedie.PythonModel(lambda x, t: -(x - var_and_alpha(t)[1] * m) / var_and_alpha(t)[0], dim=2,
                                jvp=lambda x, t, v: -v / var_and_alpha(t)[0])
    data = target.sample(sde, n=25, seed=1)
    t_min, tol = 1e-5, dict(rtol=1e-8, atol=1e-8)
    closed = log_normal(data, t_min)
    for source in [model, target]:  # the callable and the native one-component mixture
        exact = tweedie.log_likelihood(source, data, t_min=t_min, prior=target, **tol)
        np.testing.assert_allclose(exact.log_likelihood, closed, rtol=0, atol=1e-7)
        plain = tweedie.log_likelihood(source, data, t_min=t_min, **tol)
        assert_bits(plain.latent, exact.latent)  # the same solve: only the prior term differs
        mismatch = log_normal(plain.latent, sde.T) + 0.5 * np.sum(plain.latent**2 + np.log(2 * np.pi), axis=1)
        np.testing.assert_allclose(plain.log_likelihood, closed - mismatch, rtol=0, atol=1e-7)
        assert 1e-3 < np.abs(mismatch).max() < 0.05
    # log p_0 differs from log p_{t_min} by up to 3e-6 here (sigma(1e-5)^2 = 1e-6): the closed form is at t_min.
    with pytest.raises(ValueError, match="prior has dimension 2 but the data 3"):
        tweedie.log_likelihood(tweedie.PythonModel(lambda x, t: -x, dim=3), np.zeros((2, 3)), prior=target,
                               divergence="hutchinson")

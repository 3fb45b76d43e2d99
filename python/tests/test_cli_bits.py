"""The module gives the CLI's bits for the same arguments (the same defaults, grids and options)."""
import pytest

from conftest import assert_bits, model_path

import tweedie


def test_sample_of_the_issue_is_the_cli_s(mixture_file, cli_npy):
    target = tweedie.GaussianMixture.load(mixture_file)
    x = tweedie.sample(target, sde="vp", sampler="em", steps=60, n=1001, seed=5)
    assert x.shape == (1001, 2)
    ref = cli_npy("sample", "--target", mixture_file, "--sde", "vp", "--sampler", "em", "--steps", "60",
                  "-n", "1001", "--seed", "5")
    assert_bits(x, ref)


def test_sampler_options_grid_and_family_parameters(mixture_file, cli_npy):
    target = tweedie.GaussianMixture.load(mixture_file)
    x = tweedie.sample(target, sde=tweedie.Sde("vp", beta_max=15.0), sampler="ddim", eta=0.5, steps=20, n=300,
                       seed=3, grid="log-snr")
    ref = cli_npy("sample", "--target", mixture_file, "--beta-max", "15", "--sampler", "ddim", "--eta", "0.5",
                  "--steps", "20", "-n", "300", "--seed", "3", "--grid", "log-snr")
    assert_bits(x, ref)


def test_edm_default_grid_and_an_adaptive_sampler(mixture_file, cli_npy):
    target = tweedie.GaussianMixture.load(mixture_file)
    for sampler in ["heun", "dpm-solver-adaptive"]:
        x = tweedie.sample(target, sde="edm", sampler=sampler, steps=12, n=200, seed=9)
        ref = cli_npy("sample", "--target", mixture_file, "--sde", "edm", "--sampler", sampler, "--steps", "12",
                      "-n", "200", "--seed", "9")
        assert_bits(x, ref)


def test_a_shipped_network_carries_its_family(cli_npy):
    model = tweedie.MlpModel.load(model_path("ring.safetensors"))
    assert model.sde.name == "vp" and model.prediction == "noise"
    x = tweedie.sample(model, sampler="dpm-solver", steps=10, n=100, seed=2)
    ref = cli_npy("sample", "--model", model_path("ring.safetensors"), "--sampler", "dpm-solver", "--steps", "10",
                  "-n", "100", "--seed", "2")
    assert_bits(x, ref)


def test_conditional_mixture_labels(labelled_file, cli_npy):
    target = tweedie.GaussianMixture.load(labelled_file)
    assert target.classes == 2
    x = tweedie.sample(target, sampler="euler", steps=15, n=50, seed=1, labels=1)
    ref = cli_npy("sample", "--target", labelled_file, "--sampler", "euler", "--steps", "15", "-n", "50",
                  "--seed", "1", "--class", "1")
    assert_bits(x, ref)


def test_likelihood_elbo_encode_decode(mixture_file, cli_npy, tmp_path):
    import numpy as np
    target = tweedie.GaussianMixture.load(mixture_file)
    data = target.sample("vp", n=40, seed=4)

    def save(a, counter=iter(range(100))):
        path = str(tmp_path / f"in{next(counter)}.npy")
        np.save(path, a)
        return path

    path = save(data)
    ll = tweedie.log_likelihood(target, data, seed=4)
    # The CLI writes per-sample values as an (n, 1) column.
    assert_bits(ll.log_likelihood, cli_npy("likelihood", "--target", mixture_file, "--data", path, "--seed", "4")[:, 0])
    bound = tweedie.elbo(target, data, draws=64, seed=4)
    assert_bits(bound.elbo,
                cli_npy("elbo", "--target", mixture_file, "--data", path, "--draws", "64", "--seed", "4")[:, 0])
    z = tweedie.encode(target, data)
    assert_bits(z.x, cli_npy("encode", "--target", mixture_file, "--data", path))
    back = tweedie.decode(target, z.x)
    assert_bits(back.x, cli_npy("decode", "--target", mixture_file, "--latent", save(z.x)))


def test_init_and_denoise(mixture_file, cli_npy, tmp_path):
    import numpy as np
    target = tweedie.GaussianMixture.load(mixture_file)
    init = tweedie.Sde("vp").prior_std * np.random.default_rng(0).standard_normal((30, 2))
    path = str(tmp_path / "init.npy")
    np.save(path, init)
    x = tweedie.sample(target, sampler="ddim", steps=8, init=init, denoise=True, seed=2)
    assert_bits(x, cli_npy("sample", "--target", mixture_file, "--sampler", "ddim", "--steps", "8", "--init", path,
                           "--denoise", "--seed", "2"))


def test_a_shipped_torchscript_module_is_the_cli_s(cli_npy):
    import pytest
    if not tweedie.has_torch:
        pytest.skip("tweedie was built without libtorch")
    model = tweedie.TorchScriptModel(model_path("ring.pt"))
    assert model.sde.name == "vp" and model.dtype == "float32"
    x = tweedie.sample(model, sampler="dpm-solver++", steps=8, n=300, seed=4)
    ref = cli_npy("sample", "--model", model_path("ring.pt"), "--sampler", "dpm-solver++", "--steps", "8",
                  "-n", "300", "--seed", "4")
    assert_bits(x, ref)


def test_quantised_data_bits_per_dim_are_the_cli_s(mixture_file, tmp_path):
    """8-bit integers k dequantised to y = (k + u) / 256, x = 4 y - 2 (--bits 8 --data-scale 4
    --data-shift -2): the same log-likelihoods and bounds in nats of x, and their bits per
    dimension of y are the CLI's summary (printed to 6 decimals)."""
    import re
    import numpy as np
    from conftest import run_cli
    target = tweedie.GaussianMixture.load(mixture_file)
    k = np.floor((target.sample("vp", n=30, seed=2) + 2) / 4 * 256).clip(0, 255)
    path = str(tmp_path / "k.npy")
    np.save(path, k)
    encoding = dict(data_scale=4.0, data_shift=-2.0, bits=8)
    flags = ["--data", path, "--data-scale", "4", "--data-shift", "-2", "--bits", "8", "--seed", "3"]
    for command, run, field in [("likelihood", tweedie.log_likelihood, "log_likelihood"),
                                ("elbo", tweedie.elbo, "elbo")]:
        result = run(target, k, seed=3, **encoding)
        out = str(tmp_path / f"{command}.npy")
        summary = run_cli(command, "--target", mixture_file, *flags, "--out", out).stdout
        assert_bits(getattr(result, field), np.load(out)[:, 0])
        bits = float(re.search(r"nats \(of x\), (\S+) \+- \S+ bits/dim \(8-bit\)", summary).group(1))
        assert abs(result.bits_per_dim.mean() - bits) <= 5e-7
    # Already dequantised y in [0, 1): bits counted, no noise drawn.
    y = (k + 0.5) / 256
    a = tweedie.log_likelihood(target, y, bits=8, dequantize="none", data_scale=4.0, data_shift=-2.0)
    b = tweedie.log_likelihood(target, 4 * y - 2)
    assert_bits(a.log_likelihood, b.log_likelihood)
    np.testing.assert_allclose(a.bits_per_dim, -(b.log_likelihood + 2 * np.log(4)) / (2 * np.log(2)) + 8,
                               rtol=1e-14)
    import pytest
    with pytest.raises(ValueError, match="uniform dequantisation needs quantised data"):
        tweedie.log_likelihood(target, y, dequantize="uniform")
    with pytest.raises(ValueError, match=r"data_scale must be a finite number > 0, got -1"):
        tweedie.elbo(target, y, data_scale=-1.0)


def test_the_optimized_grid_is_the_cli_s(mixture_file, cli_npy):
    """grid="optimized": the pilot's grid through the library's make_run_grid, as --grid optimized
    (on EDM its N - 1 steps before the final one to sigma = 0)."""
    target = tweedie.GaussianMixture.load(mixture_file)
    for sde, sampler in [("vp", "heun"), ("edm", "dpm-solver++")]:
        x = tweedie.sample(target, sde=sde, sampler=sampler, grid="optimized", steps=6, n=40, seed=2)
        ref = cli_npy("sample", "--target", mixture_file, "--sde", sde, "--sampler", sampler, "--grid", "optimized",
                      "--steps", "6", "-n", "40", "--seed", "2")
        assert_bits(x, ref)
    with pytest.raises(ValueError, match="the optimized grid is for fixed-grid samplers: dopri5 chooses its own steps"):
        tweedie.sample(target, sampler="dopri5", grid="optimized", n=4)
    with pytest.raises(ValueError, match=r"unknown grid 'optimised' \(expected time-uniform, log-snr, "
                                         r"time-quadratic, karras or optimized\)"):
        tweedie.sample(target, sampler="heun", grid="optimised", n=4)
    with pytest.raises(ValueError, match="made from a pilot solve on the model: tweedie.sample takes it"):
        tweedie.sampler_grid("heun", grid="optimized")

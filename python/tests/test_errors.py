"""Errors: ValueError with the library's (the CLI's) message, and tweedie's own types with attributes."""
import numpy as np
import pytest

from conftest import run_cli
import tweedie


def cli_message(*args):
    result = run_cli(*args, check=False)
    assert result.returncode == 2
    return result.stderr.strip().removeprefix("tweedie: error: ")


@pytest.mark.parametrize("kwargs,flags", [
    (dict(sampler="ddim", eta=-1), ["--sampler", "ddim", "--eta", "-1"]),
    (dict(sampler="ddim", eta=-0.5), ["--sampler", "ddim", "--eta", "-0.5"]),
    (dict(sampler="nonesuch"), ["--sampler", "nonesuch"]),
])
def test_value_errors_carry_the_library_s_message(mixture_file, tmp_path, kwargs, flags):
    target = tweedie.GaussianMixture.load(mixture_file)
    with pytest.raises(ValueError) as error:
        tweedie.sample(target, n=10, **kwargs)
    # The CLI words an option as its flag; the library (and so Python) names the option.
    cli = cli_message("sample", "--target", mixture_file, "-n", "10", *flags, "--out", str(tmp_path / "x.npy"))
    assert str(error.value).replace("option eta", "option --eta") == cli


def test_undeclared_and_mistyped_options_are_refused():
    target = tweedie.GaussianMixture.ring()
    with pytest.raises(ValueError, match="sampler em takes no option eta"):
        tweedie.sample(target, sampler="em", eta=0.5)
    with pytest.raises(ValueError, match="option eta: a bool"):
        tweedie.sample(target, sampler="ddim", eta=True)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="cannot open target file 'missing.json'"):
        tweedie.GaussianMixture.load("missing.json")
    with pytest.raises(ValueError, match="init has 3 columns"):
        tweedie.sample(tweedie.GaussianMixture.ring(), init=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="labels has 2 labels for 3 samples"):
        tweedie.sample(tweedie.GaussianMixture.ring(), n=3, labels=[0, 1])


def test_non_finite_model_output_names_sample_step_and_t():
    def fn(x, t):
        out = -x.copy()
        out[t < 0.5] = np.nan  # every row, from the step whose time falls below 0.5
        return out

    model = tweedie.PythonModel(fn, dim=2)
    times = np.array([1.0, 0.75, 0.4, 0.2])
    with pytest.raises(tweedie.NonFiniteError) as error:
        tweedie.sample(model, sampler="euler", times=times, n=5, first_sample=7)
    e = error.value
    assert isinstance(e, ArithmeticError)
    assert (e.sample, e.step, e.t) == (7, 2, 0.4)
    assert "sample 7" in str(e)


def test_a_python_exception_in_the_model_reaches_the_caller():
    def fn(x, t):
        raise KeyError("from the model")

    with pytest.raises(KeyError, match="from the model"):
        tweedie.sample(tweedie.PythonModel(fn, dim=2), sampler="euler", steps=3, n=600, threads=2)


def test_a_model_returning_the_wrong_shape_is_refused():
    model = tweedie.PythonModel(lambda x, t: x[:, :1], dim=2)
    with pytest.raises(ValueError, match=r"PythonModel: fn returned \(5, 1\) for 5 rows of dimension 2"):
        tweedie.sample(model, sampler="euler", steps=3, n=5)


def test_a_step_limit_names_the_sample_and_t():
    target = tweedie.GaussianMixture.ring()
    data = target.sample("vp", n=3, seed=1)
    with pytest.raises(tweedie.StepLimitError) as error:
        tweedie.encode(target, data, max_steps=2, first_sample=10)
    e = error.value
    assert isinstance(e, RuntimeError) and e.sample == 10 and 1e-5 <= e.t < 1.0

"""The model decorators (guidance, x0 hooks, imputation) give the CLI's bits for its flags."""
import numpy as np
import pytest

from conftest import assert_bits, model_path, run_cli
import tweedie

SAMPLE = ("--sampler", "dpm-solver++", "--steps", "12", "-n", "200", "--seed", "7")
ARGS = dict(sampler="dpm-solver++", steps=12, n=200, seed=7)


def test_classifier_free_guidance_is_the_cli_s(labelled_file, cli_npy, tmp_path):
    target = tweedie.GaussianMixture.load(labelled_file)
    guided = tweedie.classifier_free_guidance(target, 2.5)
    assert guided.sde.name == "vp" and guided.classes == 2
    assert guided.decorators[0].startswith("classifier-free guidance")
    assert_bits(tweedie.sample(guided, labels=1, **ARGS),
                cli_npy("sample", "--target", labelled_file, "--guidance", "2.5", "--class", "1", *SAMPLE))
    # The likelihood through the guided model (its JVP is the combination of the model's).
    data = target.sample("vp", n=20, seed=3)
    path = str(tmp_path / "data.npy")
    np.save(path, data)
    ll = tweedie.log_likelihood(guided, data, labels=0)
    assert_bits(ll.log_likelihood, cli_npy("likelihood", "--target", labelled_file, "--guidance", "2.5",
                                           "--class", "0", "--data", path)[:, 0])


def test_classifier_guidance_with_the_exact_classifier_is_the_cli_s(labelled_file, cli_npy):
    target = tweedie.GaussianMixture.load(labelled_file)
    guided = tweedie.classifier_guidance(target, target, 1.5)
    assert_bits(tweedie.sample(guided, labels=0, **ARGS),
                cli_npy("sample", "--target", labelled_file, "--classifier", "exact", "--classifier-scale", "1.5",
                        "--class", "0", *SAMPLE))


def test_classifier_guidance_with_a_classifier_network_is_the_cli_s(cli_npy):
    model = tweedie.MlpModel.load(model_path("digits.safetensors"))
    classifier = tweedie.MlpClassifier.load(model_path("digits_noisy_classifier.safetensors"))
    assert classifier.classes == 10 and classifier.sde.name == model.sde.name
    guided = tweedie.classifier_guidance(model, classifier, 2.0)
    x = tweedie.sample(guided, sampler="ddim", steps=6, n=16, seed=2, labels=3)
    assert_bits(x, cli_npy("sample", "--model", model_path("digits.safetensors"), "--classifier",
                           model_path("digits_noisy_classifier.safetensors"), "--classifier-scale", "2",
                           "--class", "3", "--sampler", "ddim", "--steps", "6", "-n", "16", "--seed", "2"))
    with pytest.raises(ValueError, match="trained with another noise schedule"):
        tweedie.classifier_guidance(tweedie.PythonModel(lambda x, t: -x, dim=64, sde="edm"), classifier, 2.0)


def test_x0_hooks_stack_in_the_cli_s_order(mixture_file, cli_npy, tmp_path):
    target = tweedie.GaussianMixture.load(mixture_file)
    table = np.array([[-1.0], [0.0], [0.5], [1.25]])
    path = str(tmp_path / "emb.npy")
    np.save(path, table)
    # --threshold, then --x0-clip, then --round-to: innermost first.
    hooked = tweedie.nearest_embedding(tweedie.static_clip(tweedie.dynamic_threshold(target, 0.9, 1.2)), table)
    assert len(hooked.decorators) == 3 and not hooked.has_jvp
    assert_bits(tweedie.sample(hooked, **ARGS),
                cli_npy("sample", "--target", mixture_file, "--threshold", "0.9,1.2", "--x0-clip", "--round-to",
                        path, *SAMPLE))


def test_imputation_is_the_cli_s_and_keeps_the_observation(mixture_file, cli_npy, tmp_path):
    target = tweedie.GaussianMixture.load(mixture_file)
    observe, mask = np.array([[0.7, 0.0]]), np.array([[1.0, 0.0]])
    np.save(tmp_path / "observe.npy", observe)
    np.save(tmp_path / "mask.npy", mask)
    x = tweedie.sample(tweedie.impute(target, observe, mask, seed=7), **ARGS)
    assert np.all(x[:, 0] == 0.7)
    assert_bits(x, cli_npy("sample", "--target", mixture_file, "--observe", str(tmp_path / "observe.npy"),
                           "--mask", str(tmp_path / "mask.npy"), *SAMPLE))
    with pytest.raises(ValueError, match="observe/mask have 3 rows for 200 samples"):
        tweedie.sample(tweedie.impute(target, np.zeros((3, 2)), np.ones((3, 2))), **ARGS)


def test_bad_decorator_arguments_raise_the_library_s_messages(mixture_file, labelled_file):
    labelled = tweedie.GaussianMixture.load(labelled_file)
    guided = tweedie.classifier_free_guidance(labelled, 2.0)
    with pytest.raises(ValueError, match="classifier-free guidance needs the class to guide towards"):
        tweedie.sample(guided, **ARGS)
    with pytest.raises(ValueError, match="needs the class"):  # kept through a decorator stacked on it
        tweedie.elbo(tweedie.static_clip(guided), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="classifier must be a labelled tweedie.GaussianMixture"):
        tweedie.classifier_guidance(labelled, "exact", 1.0)
    unlabelled = tweedie.GaussianMixture.load(mixture_file)
    with pytest.raises(ValueError):
        tweedie.classifier_free_guidance(unlabelled, 2.0)  # not conditional
    with pytest.raises(ValueError, match="ratio"):
        tweedie.dynamic_threshold(unlabelled, 1.5)
    with pytest.raises(ValueError, match="mask"):
        tweedie.impute(unlabelled, np.zeros((1, 2)), np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match="sde gives ve but the model was trained with vp"):
        tweedie.sample(guided, sde="ve", labels=1, **ARGS)


def test_one_guidance_per_model_as_the_cli(labelled_file, tmp_path):
    """Classifier guidance over classifier-free guidance is refused with the CLI's message for
    --guidance with --classifier (the library's rule), in either order and through an x0 hook."""
    labelled = tweedie.GaussianMixture.load(labelled_file)
    free = tweedie.classifier_free_guidance(labelled, 2.0)
    with pytest.raises(ValueError) as error:
        tweedie.classifier_guidance(free, labelled, 1.0)
    cli = run_cli("sample", "--target", labelled_file, "--class", "1", "--guidance", "2", "--classifier", "exact",
                  "--classifier-scale", "1", "--out", str(tmp_path / "x.npy"), check=False)
    assert cli.returncode == 2 and cli.stderr.strip() == f"tweedie: error: {error.value}"
    assert str(error.value).startswith("classifier guidance cannot be stacked on classifier-free guidance")
    with pytest.raises(ValueError, match="classifier guidance cannot be stacked on classifier-free guidance"):
        tweedie.classifier_guidance(tweedie.static_clip(free), labelled, 1.0)
    with pytest.raises(ValueError, match="classifier-free guidance cannot be stacked on classifier guidance"):
        tweedie.classifier_free_guidance(tweedie.classifier_guidance(labelled, labelled, 1.0), 2.0)

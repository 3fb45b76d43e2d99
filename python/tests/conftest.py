"""Shared fixtures: the CLI built next to the module, the source tree's models, a mixture file."""
import json
import os
import subprocess

import numpy as np
import pytest

import tweedie

SOURCE = os.environ.get("TWEEDIE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MIXTURE = {"weights": [0.3, 0.7], "means": [[-1.0, 0.5], [1.5, -0.25]], "stds": [[0.4, 0.3], [0.2, 0.5]]}
LABELLED = dict(MIXTURE, classes=[0, 1])


def model_path(name):
    return os.path.join(SOURCE, "models", name)


@pytest.fixture
def mixture_file(tmp_path):
    path = tmp_path / "mixture.json"
    path.write_text(json.dumps(MIXTURE))
    return str(path)


@pytest.fixture
def labelled_file(tmp_path):
    path = tmp_path / "labelled.json"
    path.write_text(json.dumps(LABELLED))
    return str(path)


def run_cli(*args, check=True):
    """Runs the tweedie program (TWEEDIE_CLI) and returns the completed process."""
    cli = os.environ.get("TWEEDIE_CLI")
    if not cli:
        pytest.skip("TWEEDIE_CLI is not set (run through ctest)")
    result = subprocess.run([cli, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"tweedie {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def cli_npy(tmp_path):
    """cli_npy(*args) runs the CLI with --out FILE.npy and returns the array it wrote."""
    counter = iter(range(1000))

    def run(*args):
        out = str(tmp_path / f"out{next(counter)}.npy")
        run_cli(*args, "--out", out)
        return np.load(out)

    return run


def assert_bits(a, b):
    """Bitwise equality of two float64 arrays (NaNs compare by their bits too)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype == np.float64
    assert a.tobytes() == b.tobytes()


__all__ = ["tweedie", "assert_bits", "run_cli", "model_path"]

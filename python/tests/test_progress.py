"""progress=: the drivers report finished chunks to a callable, which may cancel (tweedie.Cancelled)
or raise; Ctrl-C (SIGINT) ends a long call with KeyboardInterrupt. The results never change."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import assert_bits
import tweedie

RUN = dict(threads=2, chunk=64)


def drivers(target):
    """Each driver as a function of its extra keywords, on 300 rows (4 chunks of 64 and one of 44)."""
    data = target.sample("vp", n=300, seed=4)
    latent = tweedie.encode(target, data, **RUN).x
    return {
        "sample": lambda **k: tweedie.sample(target, sampler="dpm-solver++", steps=8, n=300, seed=1, **{**RUN, **k}),
        "log_likelihood": lambda **k: tweedie.log_likelihood(target, data, rtol=1e-4, atol=1e-4,
                                                             **{**RUN, **k}).log_likelihood,
        "elbo": lambda **k: tweedie.elbo(target, data, draws=8, seed=2, **{**RUN, **k}).elbo,
        "encode": lambda **k: tweedie.encode(target, data, **{**RUN, **k}).x,
        "decode": lambda **k: tweedie.decode(target, latent, **{**RUN, **k}).x,
    }


@pytest.fixture(scope="module")
def target():
    return tweedie.GaussianMixture.ring()


@pytest.mark.parametrize("name", ["sample", "log_likelihood", "elbo", "encode", "decode"])
def test_progress_counts_finished_rows_and_changes_no_bit(target, name):
    run = drivers(target)[name]
    calls = []

    def progress(done, total):
        calls.append((done, total))
        return None if len(calls) % 2 else True  # None and True both go on

    assert_bits(run(progress=progress), run())
    done = [d for d, _ in calls]
    assert len(calls) == 5 and all(t == 300 for _, t in calls)
    assert done == sorted(done) and done[-1] == 300 and set(np.diff([0] + done)) <= {64, 44}


def test_false_cancels_with_tweedie_cancelled(target):
    calls = []
    with pytest.raises(tweedie.Cancelled, match="cancelled by the progress callback after 64 of 300 rows"):
        drivers(target)["sample"](progress=lambda done, total: calls.append(done) or False, threads=1)
    assert calls == [64]  # no chunk reported after the cancelling one
    assert issubclass(tweedie.Cancelled, RuntimeError)


def test_an_exception_in_the_callback_reaches_the_caller_with_its_type(target):
    class Stop(Exception):
        pass

    def progress(done, total):
        if done >= 128:
            raise Stop(f"at {done}")

    for name in ["sample", "elbo"]:
        with pytest.raises(Stop, match="at 128"):
            drivers(target)[name](progress=progress, threads=1)
    with pytest.raises(ValueError, match="progress must be None or a callable"):
        drivers(target)["encode"](progress=3)


def test_ctrl_c_ends_a_long_call_without_a_callback(target):
    """SIGINT 0.3 s into a call that takes far longer: KeyboardInterrupt at the next chunk that
    finishes on the calling thread, well before the call would have ended."""
    finished = []
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tweedie.sample(target, sampler="euler", steps=400, n=400_000, seed=1, threads=2, chunk=256)
            finished.append(True)
            time.sleep(10)  # a call too quick to be interrupted: the signal lands here, the test fails
    finally:
        timer.cancel()
    assert not finished
    assert time.monotonic() - start < 5.0

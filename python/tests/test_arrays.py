"""numpy in and out without copies where the layout allows, checked by address."""
import numpy as np

import tweedie


def address(a):
    return a.__array_interface__["data"][0]


def test_inputs_reach_the_model_without_copies():
    seen = {}

    def fn(x, t):
        seen["x"], seen["t"] = address(x), address(t)
        assert not x.flags.writeable and not t.flags.writeable
        return -x

    model = tweedie.PythonModel(fn, prediction="score", dim=3)
    x = np.arange(12.0).reshape(4, 3)
    t = np.full(4, 0.5)
    out = model.evaluate(t, x)
    assert seen == {"x": address(x), "t": address(t)}  # the caller's buffers, seen by the callable
    np.testing.assert_array_equal(out, -x)
    # A float32 or Fortran-ordered array is converted (one copy), never misread.
    seen.clear()
    np.testing.assert_array_equal(model.evaluate(t, np.asfortranarray(x)), -x)
    assert seen["x"] != address(x)


def test_results_own_the_library_s_buffer():
    target = tweedie.GaussianMixture.ring()
    x = tweedie.sample(target, sampler="euler", steps=5, n=10)
    # Not a numpy-allocated buffer: a view whose base is the capsule holding the library's matrix.
    assert not x.flags.owndata and type(x.base).__name__ == "PyCapsule"
    assert x.flags.c_contiguous and x.flags.writeable and x.shape == (10, 2)
    keep = address(x)
    y = x.base  # the capsule keeps the buffer alive after the array goes
    del x
    assert y is not None and keep != 0


def test_results_are_distinct_buffers():
    target = tweedie.GaussianMixture.ring()
    a = tweedie.sample(target, sampler="euler", steps=5, n=10)
    b = tweedie.sample(target, sampler="euler", steps=5, n=10)
    assert address(a) != address(b)
    np.testing.assert_array_equal(a, b)

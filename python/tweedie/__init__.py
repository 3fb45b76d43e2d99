"""tweedie: score-based diffusion as SDEs and ODEs -- exact Gaussian-mixture targets, samplers by
name with the CLI's options and defaults, likelihoods, ELBOs and probability-flow encodings, over
numpy arrays (docs/python.md)."""

import importlib.util as _util

from ._tweedie import *  # noqa: F401,F403
from ._tweedie import Cancelled, NonFiniteError, StepLimitError  # noqa: F401 (Python classes, not in __all__)

# TorchScript models need libtorch, loaded with the extension tweedie._torch on first use only.
has_torch = _util.find_spec(__name__ + "._torch") is not None


def __getattr__(name):
    if name == "TorchScriptModel":
        if not has_torch:
            raise ImportError("tweedie was built without libtorch: TorchScriptModel is not available "
                              "(install libtorch-dev and rebuild)")
        from ._torch import TorchScriptModel
        return TorchScriptModel
    raise AttributeError(f"module 'tweedie' has no attribute '{name}'")

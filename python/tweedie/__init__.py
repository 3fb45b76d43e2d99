"""tweedie: score-based diffusion as SDEs and ODEs -- exact Gaussian-mixture targets, samplers by
name with the CLI's options and defaults, likelihoods, ELBOs and probability-flow encodings, over
numpy arrays (docs/python.md)."""

from ._tweedie import *  # noqa: F401,F403
from ._tweedie import __doc__ as _extension_doc  # noqa: F401

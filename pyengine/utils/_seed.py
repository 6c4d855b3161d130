"""The generators behind pyengine's own random draws outside the ops
(shuffling, splits): the global one that pyengine.manual_seed seeds, or one
the caller passes."""
import numpy as np

from pyengine.random import default_generator


def numpy_generator(generator=None) -> np.random.Generator:
    """The generator to draw from: the one given, or (None) a fresh one seeded
    from the global generator, so that the global seed fixes the draws."""
    if generator is None:
        return np.random.default_rng(int(default_generator().integers(2 ** 63)))
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")


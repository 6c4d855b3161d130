"""The generator behind every random factory and initialiser.

``manual_seed(seed)`` replaces it, so a script that seeds once is reproducible.
Code that draws random numbers asks for ``default_generator()`` at the moment it
draws (never keeps a reference), so a later manual_seed reaches it.
"""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseeds the default generator and returns it."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The NumPy Generator that pyengine's random factories and initialisers use."""
    return _generator

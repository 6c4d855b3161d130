"""The random generator that pyengine's own random draws use (initialisation,
shuffling, splits), until pyengine.manual_seed provides the global one."""
import numpy as np

_generator = np.random.default_rng()


def default_generator() -> np.random.Generator:
    return _generator

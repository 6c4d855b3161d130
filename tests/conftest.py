import numpy as np
import pytest

import pyengine


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def threads():
    """Runs a test body at a chosen thread count and restores the setting."""
    saved = pyengine.get_num_threads()

    def set_threads(n):
        pyengine.set_num_threads(n)

    yield set_threads
    pyengine.set_num_threads(saved)

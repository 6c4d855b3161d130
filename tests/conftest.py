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


def run_python(args, env=None, **kwargs):
    """Runs `python args...` in a subprocess that imports the same pyengine as
    this test session (installed or in-tree), from a neutral directory."""
    import os
    import subprocess
    import sys
    import tempfile

    package_root = os.path.dirname(os.path.dirname(pyengine.__file__))
    full_env = dict(os.environ, **(env or {}))
    # No empty entry: it would put the working directory (the temp folder) on the path.
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, full_env.get("PYTHONPATH")) if p)
    kwargs.setdefault("cwd", tempfile.gettempdir())
    return subprocess.run([sys.executable, *args], env=full_env, capture_output=True, text=True, **kwargs)

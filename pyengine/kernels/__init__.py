"""The NumPy-level face of the C++ kernels.

Each function takes and returns ``numpy.ndarray`` of float32 or float64.
Inputs that are not C-contiguous are copied once; other dtypes raise
``TypeError``; wrong shapes raise ``ValueError`` naming the op and the shapes.
One submodule per kernel family.
"""
from pyengine.kernels.elementwise import *  # noqa: F401,F403
from pyengine.kernels.gemm import *  # noqa: F401,F403
from pyengine.kernels.conv import *  # noqa: F401,F403
from pyengine.kernels.optim import *  # noqa: F401,F403
from pyengine.kernels.rnn import *  # noqa: F401,F403
from pyengine.kernels.loss import *  # noqa: F401,F403

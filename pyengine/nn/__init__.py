"""Neural-network building blocks with PyTorch's names: Module, Parameter, layers,
containers, ``functional`` and ``init``."""
from pyengine.nn import functional, init, utils
from pyengine.nn.module import Module
from pyengine.nn.modules import *  # noqa: F401,F403
from pyengine.nn.modules import __all__ as _modules_all
from pyengine.nn.parameter import Parameter

__all__ = ["Module", "Parameter", "functional", "init", "utils", *_modules_all]

"""The layers of pyengine.nn, one file per family."""
from pyengine.nn.modules.container import ModuleDict, ModuleList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict"]

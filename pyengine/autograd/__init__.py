"""Reverse-mode automatic differentiation."""
from pyengine.autograd.function import Context, Function
from pyengine.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Context", "Function", "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]

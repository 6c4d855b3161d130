"""Reverse-mode automatic differentiation."""
from pyengine.autograd.function import Context, Function
from pyengine.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from pyengine.autograd.gradcheck import GradcheckError, gradcheck

__all__ = ["Context", "Function", "GradcheckError", "enable_grad", "gradcheck", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]

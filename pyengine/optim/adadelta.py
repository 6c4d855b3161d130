"""Adadelta (Zeiler, 2012)."""
from pyengine import kernels
from pyengine.optim.optimizer import Optimizer, check_non_negative


class Adadelta(Optimizer):
    """PyTorch's Adadelta: s = rho s + (1 - rho) g^2, delta = sqrt(u + eps) / sqrt(s + eps) * g,
    u = rho u + (1 - rho) delta^2, p -= lr * delta."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        check_non_negative(lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        if "square_avg" not in state:
            state["square_avg"] = self._zeros_like(p)
            state["acc_delta"] = self._zeros_like(p)
        self._next_step(state)
        kernels.adadelta_update(p.data, grad, state["square_avg"].data, state["acc_delta"].data, lr=group["lr"],
                                rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                                maximize=group["maximize"])

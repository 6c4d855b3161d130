"""RMSprop (Hinton's lecture notes; centered variant of Graves, 2013)."""
from pyengine import kernels
from pyengine.optim.optimizer import Optimizer, check_non_negative


class RMSprop(Optimizer):
    """PyTorch's RMSprop: s = alpha s + (1 - alpha) g^2, avg = sqrt(s - gbar^2) + eps
    when centered (gbar the running mean of g) else sqrt(s) + eps; then
    b = momentum b + g / avg and p -= lr * b, or p -= lr * g / avg without momentum."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        if "square_avg" not in state:
            state["square_avg"] = self._zeros_like(p)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = self._zeros_like(p)
        self._next_step(state)
        buf = state["momentum_buffer"].data if group["momentum"] > 0 else None
        grad_avg = state["grad_avg"].data if group["centered"] else None
        kernels.rmsprop_update(p.data, grad, state["square_avg"].data, buf, grad_avg, lr=group["lr"],
                               alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                               momentum=group["momentum"], maximize=group["maximize"])

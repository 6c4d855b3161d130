"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from pyengine import kernels
from pyengine.optim.optimizer import Optimizer, check_non_negative


class SGD(Optimizer):
    """PyTorch's SGD: with g = grad (+ weight_decay * p), the momentum buffer
    b = momentum * b + (1 - dampening) * g (b = g on the first step), and
    p -= lr * (g + momentum * b if nesterov else b)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        momentum = group["momentum"]
        buf = None
        first_step = False
        if momentum != 0:
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = self._zeros_like(p)
                first_step = True
            buf = state["momentum_buffer"].data
        kernels.sgd_update(p.data, grad, buf, lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                           weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                           maximize=group["maximize"], first_step=first_step)

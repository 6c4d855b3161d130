"""Adagrad (Duchi et al., 2011)."""
import numpy as np

from pyengine import kernels
from pyengine.optim.optimizer import Optimizer, check_non_negative
from pyengine.tensor import Tensor


class Adagrad(Optimizer):
    """PyTorch's Adagrad: sum += g^2, p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps).
    The state exists from construction, sum filled with initial_accumulator_value."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 *, maximize=False):
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            state = self.state[p]
            state["step"] = Tensor(np.zeros((), dtype=np.float32))
            state["sum"] = self._zeros_like(p, group["initial_accumulator_value"])

    def _update(self, p, grad, state, group):
        step = self._next_step(state)
        kernels.adagrad_update(p.data, grad, state["sum"].data, step=step, lr=group["lr"],
                               lr_decay=group["lr_decay"], eps=group["eps"], weight_decay=group["weight_decay"],
                               maximize=group["maximize"])

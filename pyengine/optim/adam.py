"""Adam and AdamW (Kingma & Ba, 2014; Loshchilov & Hutter, 2017)."""
from pyengine import kernels
from pyengine.optim.optimizer import Optimizer, check_non_negative


def _check_adam_args(lr, betas, eps, weight_decay):
    check_non_negative(lr=lr, eps=eps, weight_decay=weight_decay)
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


class Adam(Optimizer):
    """PyTorch's Adam: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with v
    replaced by its running maximum when amsgrad. weight_decay adds
    weight_decay * p to g (L2); AdamW decays p itself instead."""

    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        if "exp_avg" not in state:
            state["exp_avg"] = self._zeros_like(p)
            state["exp_avg_sq"] = self._zeros_like(p)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = self._zeros_like(p)
        step = self._next_step(state)
        beta1, beta2 = group["betas"]
        max_exp_avg_sq = state["max_exp_avg_sq"].data if group["amsgrad"] else None
        kernels.adam_update(p.data, grad, state["exp_avg"].data, state["exp_avg_sq"].data, max_exp_avg_sq,
                            step=step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"],
                            decoupled_weight_decay=self._decoupled_weight_decay, maximize=group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)

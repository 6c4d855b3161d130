"""NumPy references, each written straight from its formula.

Every kernel test compares pyengine against one of these, computed in float64.
"""
import numpy as np


def relu(x):
    """max(x, 0); NaN stays NaN."""
    return np.where((x > 0) | np.isnan(x), x, 0.0)


def gemm(a, b, c=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, activation=None):
    """act(alpha * op(a) @ op(b) + beta * c + bias) in float64."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    out = alpha * np.einsum("ik,kj->ij", a, b)
    if beta != 0.0:
        out = out + beta * np.asarray(c, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return ACTIVATIONS[activation](out)


def gelu(x):
    from math import erf, sqrt

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))


ACTIVATIONS = {
    None: lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": gelu,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


# ---- optimizers: one step of PyTorch's update rule (torch/optim/*.py, single tensor), in float64 ----
# Each takes the parameter p, its gradient g and a state dict (empty on the
# first call) and returns the new parameter, updating state.

def _sgd_like_grad(p, g, weight_decay, maximize):
    g = -g if maximize else g
    return g + weight_decay * p if weight_decay else g


def sgd_step(p, g, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    if momentum:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.copy()
        else:
            state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - dampening) * g
        buf = state["momentum_buffer"]
        g = g + momentum * buf if nesterov else buf
    return p - lr * g


def adam_step(p, g, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
              maximize=False, decoupled=False):
    beta1, beta2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    t = state["step"] = state.get("step", 0) + 1
    m = state["exp_avg"] = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
    v = state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    m_hat = m / (1 - beta1 ** t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps
    return p - lr * m_hat / denom


def rmsprop_step(p, g, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    s = state["square_avg"] = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    if centered:
        gbar = state["grad_avg"] = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * g
        avg = np.sqrt(s - gbar * gbar) + eps
    else:
        avg = np.sqrt(s) + eps
    if momentum > 0:
        buf = state["momentum_buffer"] = momentum * state.get("momentum_buffer", 0.0) + g / avg
        return p - lr * buf
    return p - lr * g / avg


def adagrad_step(p, g, state, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    t = state["step"] = state.get("step", 0) + 1
    s = state["sum"] = state.get("sum", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)


def adadelta_step(p, g, state, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    s = state["square_avg"] = rho * state.get("square_avg", 0.0) + (1 - rho) * g * g
    u = state.get("acc_delta", 0.0)
    delta = np.sqrt(u + eps) / np.sqrt(s + eps) * g
    state["acc_delta"] = rho * u + (1 - rho) * delta * delta
    return p - lr * delta

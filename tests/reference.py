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


# ---- elementwise family -------------------------------------------------------


def erf(x):
    from math import erf as erf_scalar

    return np.vectorize(erf_scalar, otypes=[np.float64])(x)


def sigmoid(x):
    """1 / (1 + e^-x); e^-x overflowing to inf gives the limit 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def gelu_exact(x):
    """x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2; 0 at x = -inf (the limit)."""
    from math import erfc, sqrt

    cdf = 0.5 * np.vectorize(erfc, otypes=[np.float64])(-x / sqrt(2.0))
    return np.where(cdf > 0, x * cdf, 0.0)


def gelu_derivative(x):
    """Phi(x) + x phi(x), the derivative of x Phi(x)."""
    from math import erfc, pi, sqrt

    cdf = 0.5 * np.vectorize(erfc, otypes=[np.float64])(-x / sqrt(2.0))
    pdf = np.exp(-0.5 * x * x) / sqrt(2.0 * pi)
    return cdf + np.where(pdf > 0, x * pdf, 0.0)


def softmax(x):
    """exp(x - max) / sum(exp(x - max)) along the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # rows of length 0
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_backward(y, dy):
    """dL/dx for y = softmax(x): y * (dy - sum(dy * y))."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def log_softmax_backward(y, dy):
    """dL/dx for y = log_softmax(x): dy - softmax(x) * sum(dy)."""
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)

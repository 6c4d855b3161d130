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


def gemm_batched(a, b, c=None, trans_a=False, trans_b=False, **kw):
    """gemm on each matrix of a stack; a 2-D (or batch-1) operand is shared."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a3 = a if a.ndim == 3 else a[None]
    b3 = b if b.ndim == 3 else b[None]
    batch = len(b3) if len(a3) == 1 else len(a3)
    m = a3.shape[2] if trans_a else a3.shape[1]
    n = b3.shape[1] if trans_b else b3.shape[2]
    out = np.zeros((batch, m, n))
    for i in range(batch):
        out[i] = gemm(a3[0 if len(a3) == 1 else i], b3[0 if len(b3) == 1 else i], None if c is None else c[i],
                      trans_a, trans_b, **kw)
    return out

"""Primitives that pyengine.nn builds on: linear, dropout, embedding, layer_norm.

Each public function takes Tensors and has the signature of its
torch.nn.functional namesake; each Function is one fused primitive.
"""
import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function
from pyengine.random import default_generator


class Linear(Function):
    """y = x @ weight.T + bias on one GEMM call with the bias fused; leading dims of
    x are flattened into the GEMM's rows."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1] if x.ndim else 0} features but weight expects "
                             f"{weight.shape[1] if weight.ndim == 2 else '?'} (input {x.shape}, weight {weight.shape})")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias has shape {bias.shape} but weight has {weight.shape[0]} outputs "
                             f"(weight {weight.shape})")
        if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
            raise TypeError(f"linear: input ({x.dtype}), weight ({weight.dtype}) and bias must share one "
                            "float dtype")
        ctx.save_for_backward(x, weight)
        if x.ndim == 2:
            return kernels.gemm(x, weight, trans_b=True, bias=bias)  # (N, in) @ (in, out)
        x2 = x.reshape(-1, x.shape[-1])  # (N, in), N = product of the leading dims
        y = kernels.gemm(x2, weight, trans_b=True, bias=bias)  # (N, out)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g2 = grad if grad.ndim == 2 else grad.reshape(-1, weight.shape[0])  # (N, out)
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])  # (N, in)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = kernels.gemm(g2, weight).reshape(x.shape)  # (N, out) @ (out, in)
        if ctx.needs_input_grad[1]:
            dw = kernels.gemm(g2.T, x2)  # (out, N) @ (N, in); a transposed view costs less than the keyword
        if ctx.needs_input_grad[2]:
            db = g2.sum(axis=0)
        return dx, dw, db


class Dropout(Function):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p)."""

    @staticmethod
    def forward(ctx, x, p):
        keep = default_generator().random(x.shape, dtype=np.float64) >= p
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p)) if p < 1 else np.zeros(x.shape, x.dtype)
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask


class Embedding(Function):
    """Rows of weight picked by integer indices; rows picked twice get both gradients."""

    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        if indices.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be an integer tensor, got dtype {indices.dtype}")
        n = weight.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings (weight {weight.shape})")
        ctx.indices, ctx.shape, ctx.padding_idx = indices, weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        dw = np.zeros(ctx.shape, grad.dtype)
        np.add.at(dw, ctx.indices.reshape(-1), grad.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0
        return None, dw, None


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last `ndim` dims (biased var)."""

    @staticmethod
    def forward(ctx, x, weight, bias, ndim, eps):
        axes = tuple(range(x.ndim - ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        rstd = 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
        xhat = centred * rstd
        ctx.save_for_backward(weight)
        ctx.xhat, ctx.rstd, ctx.axes = xhat, rstd, axes
        y = xhat
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        xhat, rstd, axes = ctx.xhat, ctx.rstd, ctx.axes
        lead = tuple(range(grad.ndim - len(axes)))
        dxhat = grad * weight if weight is not None else grad
        dx = None
        if ctx.needs_input_grad[0]:
            # d/dx of (x - mean) * rstd, contracted with dxhat (the standard three-term form).
            n = np.prod([grad.shape[a] for a in axes])
            dx = rstd / n * (n * dxhat - dxhat.sum(axis=axes, keepdims=True)
                             - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
        dw = (grad * xhat).sum(axis=lead) if ctx.needs_input_grad[1] else None
        db = grad.sum(axis=lead) if ctx.needs_input_grad[2] else None
        return dx, dw, db, None, None


def linear(input, weight, bias=None):
    return Linear.apply(input, weight, bias)


def dropout(input, p=0.5, training=True, inplace=False):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    out = Dropout.apply(input, p)
    if inplace:
        return input.copy_(out)
    return out


def embedding(input, weight, padding_idx=None):
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return Embedding.apply(input, weight, padding_idx)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k > input.ndim:
        raise ValueError(f"layer_norm: input shape {tuple(input.shape)} does not end in normalized_shape "
                         f"{normalized_shape}")
    return LayerNorm.apply(input, weight, bias, k, eps)

"""Utilities of pyengine.nn, as torch.nn.utils: gradient clipping and ``rnn`` (packed sequences)."""
from pyengine.nn.utils import rnn  # noqa: F401
from pyengine.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]

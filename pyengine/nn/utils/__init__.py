"""Utilities of pyengine.nn, as torch.nn.utils: ``rnn`` (packed sequences)."""
from pyengine.nn.utils import rnn  # noqa: F401

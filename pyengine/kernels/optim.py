"""Fused optimizer updates on NumPy arrays: each writes param and its state
arrays in place in one pass (see csrc/kernels/optim/optim.h)."""
from pyengine._C import adadelta_update, adagrad_update, adam_update, rmsprop_update, sgd_update

__all__ = ["sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "adadelta_update"]

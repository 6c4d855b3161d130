"""Optimizers with PyTorch's names and update rules; each parameter's update
runs as one fused C++ pass (pyengine.kernels.optim)."""
from pyengine.optim import lr_scheduler
from pyengine.optim.adadelta import Adadelta
from pyengine.optim.adagrad import Adagrad
from pyengine.optim.adam import Adam, AdamW
from pyengine.optim.optimizer import Optimizer
from pyengine.optim.rmsprop import RMSprop
from pyengine.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]

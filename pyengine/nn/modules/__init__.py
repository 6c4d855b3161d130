"""The layers of pyengine.nn, one file per family."""
from pyengine.nn.modules.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from pyengine.nn.modules.container import ModuleDict, ModuleList, Sequential
from pyengine.nn.modules.conv import Conv1d, Conv2d, ConvTranspose2d
from pyengine.nn.modules.dropout import Dropout
from pyengine.nn.modules.flatten import Flatten, Unflatten
from pyengine.nn.modules.linear import Identity, Linear
from pyengine.nn.modules.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from pyengine.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from pyengine.nn.modules.sparse import Embedding

from pyengine.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from pyengine.nn.modules.loss import *  # noqa: F401,F403
from pyengine.nn.modules.loss import __all__ as _loss_all

__all__ = [
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Embedding", "Flatten", "Unflatten",
    "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
] + list(_loss_all)

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

__all__ = [
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Embedding", "Flatten", "Unflatten",
    "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
]

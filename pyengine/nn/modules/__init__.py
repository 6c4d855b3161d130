"""The layers of pyengine.nn, one file per family."""
from pyengine.nn.modules.container import ModuleDict, ModuleList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict"]
from pyengine.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: E402

__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
from pyengine.nn.modules.loss import *  # noqa: E402,F401,F403
from pyengine.nn.modules.loss import __all__ as _loss_all  # noqa: E402

__all__ += _loss_all

"""The layers of pyengine.nn, one file per family."""
from pyengine.nn.modules.container import ModuleDict, ModuleList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict"]
from pyengine.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: E402

__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

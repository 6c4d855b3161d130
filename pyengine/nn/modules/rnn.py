"""Recurrent layers with PyTorch's semantics, parameter names and layout:
RNN, LSTM, GRU and the single-step RNNCell, LSTMCell, GRUCell.

A layer call runs each layer and direction in one C++ call forward and one
backward (pyengine.ops.rnn.RNNStack); a PackedSequence input runs the batch at
its true lengths.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from pyengine.nn import init
from pyengine.nn.module import Module
from pyengine.nn.parameter import Parameter
from pyengine.nn.utils.rnn import PackedSequence, packed_lengths, packed_row_index
from pyengine.ops.rnn import PackRows, RNNCellStep, RNNStack, UnpackRows
from pyengine.tensor import Tensor
from pyengine.random import default_generator

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _rnn_mode(owner, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{owner}: unknown nonlinearity '{nonlinearity}' (choose 'tanh' or 'relu')")
    return "rnn_" + nonlinearity


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_state(owner, name, state, want, dtype):
    if tuple(state.shape) != want:
        raise ValueError(f"{owner}: expected {name} of shape {want}, got {tuple(state.shape)}")
    if state.dtype != dtype:
        raise TypeError(f"{owner}: {name} has dtype {state.dtype} but the input is {dtype}")


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: per layer and direction the
    parameters weight_ih_l{k}[_reverse] (gates * hidden, layer input),
    weight_hh_l{k}[_reverse] (gates * hidden, hidden) and, with bias, bias_ih and
    bias_hh (gates * hidden), all drawn from U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None):
        super().__init__()
        owner = type(self).__name__
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{owner}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{owner}: dropout={dropout} acts between layers, so with num_layers=1 it does nothing",
                          stacklevel=2)
        if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size < 0:
            raise ValueError(f"{owner}: input_size must be a non-negative integer, got {input_size!r}")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = _positive_int(owner, "hidden_size", hidden_size)
        self.num_layers = _positive_int(owner, "num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        gate_size = _GATES[mode] * self.hidden_size
        dirs = 2 if self.bidirectional else 1
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * dirs
            for direction in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, self.hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(np.empty(shape, dtype)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self):
        """Per layer and direction, its list of parameters in PyTorch's order."""
        per = 4 if self.bias else 2
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def forward(self, input, hx=None):
        owner = type(self).__name__
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            batch_sizes = input.batch_sizes
            seq_len = len(batch_sizes)
            batch = int(np.asarray(batch_sizes.data if isinstance(batch_sizes, Tensor) else batch_sizes)[0])
            index = packed_row_index(batch_sizes, input.sorted_indices, seq_len)
            lengths = packed_lengths(batch_sizes, input.sorted_indices)
            x = UnpackRows.apply(input.data, index=index, leading_shape=(seq_len, batch))
            batch_first = False
        else:
            x = _as_tensor(input)
            batch_first = self.batch_first
            if x.ndim not in (2, 3):
                raise ValueError(f"{owner}: expected a 2-D (unbatched) or 3-D input, got shape {tuple(x.shape)}")
            batch = None if x.ndim == 2 else x.shape[0 if batch_first else 1]
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{owner}: input has {x.shape[-1]} features but input_size is {self.input_size} "
                             f"(input {tuple(x.shape)})")
        if x.dtype.kind != "f":
            raise TypeError(f"{owner}: input must be float32 or float64, got {x.dtype}")

        dirs = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * dirs, self.hidden_size) if batch is None else \
            (self.num_layers * dirs, batch, self.hidden_size)
        lstm = self.mode == "lstm"
        if hx is None:
            h0 = Tensor(np.zeros(state_shape, x.dtype))
            c0 = Tensor(np.zeros(state_shape, x.dtype)) if lstm else None
        elif lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0)")
            h0, c0 = _as_tensor(hx[0]), _as_tensor(hx[1])
            _check_state(owner, "h_0", h0, state_shape, x.dtype)
            _check_state(owner, "c_0", c0, state_shape, x.dtype)
        else:
            h0, c0 = _as_tensor(hx), None
            _check_state(owner, "hx", h0, state_shape, x.dtype)

        flat = [getattr(self, n) for n in self._flat_weights_names]
        outs = RNNStack.apply(x, h0, c0, *flat, mode=self.mode, num_layers=self.num_layers,
                              bidirectional=self.bidirectional, has_bias=self.bias, batch_first=batch_first,
                              lengths=lengths, dropout=self.dropout if self.training else 0.0,
                              generator=default_generator())
        output, state = outs[0], (outs[1:] if lstm else outs[1])
        if packed:
            output = PackedSequence(PackRows.apply(output, index=index), input.batch_sizes, input.sorted_indices,
                                    input.unsorted_indices)
        return output, (tuple(state) if lstm else state)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh) (or relu).
    Returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None):
        self.nonlinearity = nonlinearity
        super().__init__(_rnn_mode("RNN", nonlinearity), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity='{self.nonlinearity}'"


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o stacked in the weights' rows:
    c_t = f * c_(t-1) + i * g, h_t = o * tanh(c_t). Returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n stacked in the weights' rows:
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_(t-1).
    Returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype)


class RNNCellBase(Module):
    """One step of a recurrent cell: weight_ih (gates * hidden, input),
    weight_hh (gates * hidden, hidden), bias_ih, bias_hh (gates * hidden)."""

    def __init__(self, mode, input_size, hidden_size, bias=True, dtype=None):
        super().__init__()
        owner = type(self).__name__
        if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size < 0:
            raise ValueError(f"{owner}: input_size must be a non-negative integer, got {input_size!r}")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = _positive_int(owner, "hidden_size", hidden_size)
        self.bias = bool(bias)
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        gate_size = _GATES[mode] * self.hidden_size
        self.weight_ih = Parameter(np.empty((gate_size, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((gate_size, self.hidden_size), dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(gate_size, dtype))
            self.bias_hh = Parameter(np.empty(gate_size, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, input, hx, cx):
        return RNNCellStep.apply(input, hx, cx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                                 mode=self.mode)

    def _check_input(self, input):
        owner = type(self).__name__
        input = _as_tensor(input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{owner}: expected a 1-D (unbatched) or 2-D input, got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{owner}: input has {input.shape[-1]} features but input_size is {self.input_size} "
                             f"(input {tuple(input.shape)})")
        state_shape = (self.hidden_size,) if input.ndim == 1 else (input.shape[0], self.hidden_size)
        return input, state_shape

    def _state(self, name, value, shape, dtype):
        if value is None:
            return Tensor(np.zeros(shape, dtype))
        value = _as_tensor(value)
        _check_state(type(self).__name__, name, value, shape, dtype)
        return value

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None):
        self.nonlinearity = nonlinearity
        super().__init__(_rnn_mode("RNNCell", nonlinearity), input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, shape = self._check_input(input)
        return self._step(input, self._state("hx", hx, shape, input.dtype), None)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity='{self.nonlinearity}'"


class LSTMCell(RNNCellBase):
    """One LSTM step; forward(input, (h, c)) returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, shape = self._check_input(input)
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx must be a tuple (h, c)")
        h, c = (None, None) if hx is None else hx
        return self._step(input, self._state("h", h, shape, input.dtype), self._state("c", c, shape, input.dtype))


class GRUCell(RNNCellBase):
    """One GRU step; forward(input, h) returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, shape = self._check_input(input)
        return self._step(input, self._state("hx", hx, shape, input.dtype), None)

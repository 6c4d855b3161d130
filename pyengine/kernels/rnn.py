"""Recurrent layers and cells on NumPy arrays.

``mode`` is one of ``'rnn_tanh'``, ``'rnn_relu'``, ``'lstm'`` (gates i, f, g, o)
or ``'gru'`` (gates r, z, n); weights are in PyTorch's layout, ``weight_ih``
(gates * hidden, input) and ``weight_hh`` (gates * hidden, hidden).

``rnn_layer_forward`` runs one layer in one direction over a whole
(seq_len, batch, input) sequence in one call; with ``training=True`` it also
returns the workspace that ``rnn_layer_backward`` needs. ``lengths`` (int64,
one per batch row) makes the steps past a row's length keep its state, output
zeros and receive no gradient. ``rnn_cell_forward`` / ``rnn_cell_backward``
are the single-step versions on (batch, input).
"""
from pyengine._C import rnn_cell_backward, rnn_cell_forward, rnn_layer_backward, rnn_layer_forward

__all__ = ["rnn_layer_forward", "rnn_layer_backward", "rnn_cell_forward", "rnn_cell_backward"]

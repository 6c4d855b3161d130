"""NumPy references, each written straight from its formula.

Every kernel test compares pyengine against one of these, computed in float64.
"""
import numpy as np


def relu(x):
    """max(x, 0); NaN stays NaN."""
    return np.where((x > 0) | np.isnan(x), x, 0.0)


def gemm(a, b, c=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, activation=None):
    """act(alpha * op(a) @ op(b) + beta * c + bias) in float64."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    out = alpha * np.einsum("ik,kj->ij", a, b)
    if beta != 0.0:
        out = out + beta * np.asarray(c, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return ACTIVATIONS[activation](out)


def gelu(x):
    from math import erf, sqrt

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))


ACTIVATIONS = {
    None: lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": gelu,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


# ---- recurrent cells and layers (PyTorch's equations and weight layout) -------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rnn_cell(mode, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of nn.RNNCell ('rnn_tanh', 'rnn_relu'), nn.LSTMCell ('lstm', gates
    i, f, g, o) or nn.GRUCell ('gru', gates r, z, n) in float64: returns (h, c),
    c None except for LSTM."""
    x, h = np.asarray(x, np.float64), np.asarray(h, np.float64)
    gi = np.einsum("bi,gi->bg", x, np.asarray(w_ih, np.float64))
    gh = np.einsum("bh,gh->bg", h, np.asarray(w_hh, np.float64))
    if b_ih is not None:
        gi = gi + np.asarray(b_ih, np.float64)
        gh = gh + np.asarray(b_hh, np.float64)
    if mode == "rnn_tanh":
        return np.tanh(gi + gh), None
    if mode == "rnn_relu":
        return np.maximum(gi + gh, 0.0), None
    if mode == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c_new = _sigmoid(f) * np.asarray(c, np.float64) + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c_new), c_new
    r_i, z_i, n_i = np.split(gi, 3, axis=-1)
    r_h, z_h, n_h = np.split(gh, 3, axis=-1)
    r = _sigmoid(r_i + r_h)
    z = _sigmoid(z_i + z_h)
    n = np.tanh(n_i + r * n_h)  # the reset gate scales W_hn h + b_hn
    return (1.0 - z) * n + z * h, None


def rnn_layer(mode, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False):
    """One layer, one direction over x (T, B, I): returns (output, h_n, c_n).
    Steps t >= lengths[b] keep row b's state and output zeros; reverse runs
    t = T-1 .. 0."""
    seq_len, batch = x.shape[0], x.shape[1]
    lengths = np.full(batch, seq_len) if lengths is None else np.asarray(lengths)
    h = np.asarray(h0, np.float64)
    c = None if c0 is None else np.asarray(c0, np.float64)
    out = np.zeros((seq_len, batch, h.shape[1]))
    for t in (reversed(range(seq_len)) if reverse else range(seq_len)):
        h_new, c_new = rnn_cell(mode, x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        active = (t < lengths)[:, None]
        h = np.where(active, h_new, h)
        if c is not None:
            c = np.where(active, c_new, c)
        out[t] = np.where(active, h, 0.0)
    return out, h, c


def rnn_stack(mode, x, h0, c0, params, num_layers, bidirectional, lengths=None):
    """nn.RNN / nn.LSTM / nn.GRU forward without dropout on time-major x, with
    params a dict keyed by PyTorch's names (weight_ih_l0, bias_hh_l1_reverse, ...)."""
    dirs = 2 if bidirectional else 1
    layer_in = np.asarray(x, np.float64)
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            k = layer * dirs + d
            out, h, c = rnn_layer(mode, layer_in, h0[k], None if c0 is None else c0[k],
                                  params["weight_ih" + sfx], params["weight_hh" + sfx],
                                  params.get("bias_ih" + sfx), params.get("bias_hh" + sfx), lengths, reverse=bool(d))
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_in = np.concatenate(outs, axis=2)
    return layer_in, np.stack(h_n), None if c0 is None else np.stack(c_n)

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


# ---- optimizers: one step of PyTorch's update rule (torch/optim/*.py, single tensor), in float64 ----
# Each takes the parameter p, its gradient g and a state dict (empty on the
# first call) and returns the new parameter, updating state.

def _sgd_like_grad(p, g, weight_decay, maximize):
    g = -g if maximize else g
    return g + weight_decay * p if weight_decay else g


def sgd_step(p, g, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    if momentum:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.copy()
        else:
            state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - dampening) * g
        buf = state["momentum_buffer"]
        g = g + momentum * buf if nesterov else buf
    return p - lr * g


def adam_step(p, g, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
              maximize=False, decoupled=False):
    beta1, beta2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    t = state["step"] = state.get("step", 0) + 1
    m = state["exp_avg"] = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
    v = state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    m_hat = m / (1 - beta1 ** t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps
    return p - lr * m_hat / denom


def rmsprop_step(p, g, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    s = state["square_avg"] = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    if centered:
        gbar = state["grad_avg"] = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * g
        avg = np.sqrt(s - gbar * gbar) + eps
    else:
        avg = np.sqrt(s) + eps
    if momentum > 0:
        buf = state["momentum_buffer"] = momentum * state.get("momentum_buffer", 0.0) + g / avg
        return p - lr * buf
    return p - lr * g / avg


def adagrad_step(p, g, state, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    t = state["step"] = state.get("step", 0) + 1
    s = state["sum"] = state.get("sum", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)


def adadelta_step(p, g, state, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = _sgd_like_grad(p, g, weight_decay, maximize)
    s = state["square_avg"] = rho * state.get("square_avg", 0.0) + (1 - rho) * g * g
    u = state.get("acc_delta", 0.0)
    delta = np.sqrt(u + eps) / np.sqrt(s + eps) * g
    state["acc_delta"] = rho * u + (1 - rho) * delta * delta
    return p - lr * delta
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

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


# ---- convolution, pooling, batch normalisation -----------------------------------


def _conv_windows(xp, r, s, out_h, out_w, stride, dilation):
    """The (N, C, out_h, out_w) slice of a padded input that kernel tap (r, s) reads."""
    sh, sw = stride
    dh, dw = dilation
    return xp[:, :, r * dh: r * dh + sh * (out_h - 1) + 1: sh, s * dw: s * dw + sw * (out_w - 1) + 1: sw]


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """y[n, k, oh, ow] = b[k] + sum_{c, r, s} w[k, c, r, s] * xpad[n, g*C/G + c, oh*sh + r*dh, ow*sw + s*dw]
    with padding (top, bottom, left, right), in float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    pt, pb, pl, pr = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    k, cg, kh, kw = w.shape
    out_h = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    kg = k // groups
    y = np.zeros((x.shape[0], k, out_h, out_w))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for r in range(kh):
            for s in range(kw):
                patch = _conv_windows(xg, r, s, out_h, out_w, stride, dilation)
                y[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch, w[g * kg:(g + 1) * kg, :, r, s])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_grads(x, w, dy, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """(dx, dw, db) of conv2d for the output gradient dy: each term's derivative, summed."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    pt, pb, pl, pr = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    k, cg, kh, kw = w.shape
    kg = k // groups
    out_h, out_w = dy.shape[2:]
    dw = np.zeros_like(w)
    for g in range(groups):
        cs, ks = slice(g * cg, (g + 1) * cg), slice(g * kg, (g + 1) * kg)
        for r in range(kh):
            for s in range(kw):
                patch = _conv_windows(xp[:, cs], r, s, out_h, out_w, stride, dilation)
                dw[ks, :, r, s] += np.einsum("nchw,nkhw->kc", patch, dy[:, ks])
                _conv_windows(dxp[:, cs], r, s, out_h, out_w, stride, dilation)[...] += np.einsum(
                    "nkhw,kc->nchw", dy[:, ks], w[ks, :, r, s])
    dx = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    """y[n, g*Co/G + o, ih*sh + r*dh - ph, iw*sw + s*dw - pw] += x[n, g*Ci/G + i, ih, iw] * w[g*Ci/G + i, o, r, s]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, ci, h, wd = x.shape
    _, cog, kh, kw = w.shape
    cig = ci // groups
    out_h = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    out_w = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((n, cog * groups, out_h + 2 * padding[0] + kh * dilation[0], out_w + 2 * padding[1] + kw * dilation[1]))
    for g in range(groups):
        for r in range(kh):
            for s in range(kw):
                contrib = np.einsum("nihw,io->nohw", x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig, :, r, s])
                full[:, g * cog:(g + 1) * cog, r * dilation[0]: r * dilation[0] + stride[0] * (h - 1) + 1: stride[0],
                     s * dilation[1]: s * dilation[1] + stride[1] * (wd - 1) + 1: stride[1]] += contrib
    y = full[:, :, padding[0]:padding[0] + out_h, padding[1]:padding[1] + out_w]
    if b is not None:
        y = y + np.asarray(b, np.float64)[None, :, None, None]
    return y


def pool_output_size(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """PyTorch's rule: ceil_mode rounds up unless the last window would start past the padded input's left part."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * padding - span
    out = (-(-numerator // stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def max_pool2d(x, kernel, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    """(y, indices): the maximum of each window and its flat position ih*W + iw (first on ties)."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    oh_n = pool_output_size(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    ow_n = pool_output_size(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    y = np.full((n, c, oh_n, ow_n), -np.inf)
    idx = np.full((n, c, oh_n, ow_n), -1, np.int64)
    for oh in range(oh_n):
        for ow in range(ow_n):
            for i in range(kernel[0]):
                ih = oh * stride[0] - padding[0] + i * dilation[0]
                for j in range(kernel[1]):
                    iw = ow * stride[1] - padding[1] + j * dilation[1]
                    if 0 <= ih < h and 0 <= iw < w:
                        v = x[:, :, ih, iw]
                        better = (v > y[:, :, oh, ow]) | (idx[:, :, oh, ow] < 0)
                        y[:, :, oh, ow] = np.where(better, v, y[:, :, oh, ow])
                        idx[:, :, oh, ow] = np.where(better, ih * w + iw, idx[:, :, oh, ow])
    return y, idx


def avg_pool2d(x, kernel, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True):
    """Window means; the divisor counts padding cells (count_include_pad) but never cells past the padding."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    oh_n = pool_output_size(h, kernel[0], stride[0], padding[0], 1, ceil_mode)
    ow_n = pool_output_size(w, kernel[1], stride[1], padding[1], 1, ceil_mode)
    y = np.zeros((n, c, oh_n, ow_n))
    for oh in range(oh_n):
        for ow in range(ow_n):
            h0, w0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
            h1, w1 = min(h0 + kernel[0], h + padding[0]), min(w0 + kernel[1], w + padding[1])
            padded_count = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            count = padded_count if count_include_pad else (h1 - h0) * (w1 - w0)
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / count
    return y


def adaptive_avg_pool2d(x, output_size):
    """Cell (i, j) averages rows [floor(i*H/oh), ceil((i+1)*H/oh)) and the same for columns."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    oh_n, ow_n = output_size
    y = np.zeros((n, c, oh_n, ow_n))
    for i in range(oh_n):
        h0, h1 = (i * h) // oh_n, -(-((i + 1) * h) // oh_n)
        for j in range(ow_n):
            w0, w1 = (j * w) // ow_n, -(-((j + 1) * w) // ow_n)
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """(y, new_running_mean, new_running_var): statistics per channel (axis 1) over every other axis."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    rm = None if running_mean is None else np.asarray(running_mean, np.float64)
    rv = None if running_var is None else np.asarray(running_var, np.float64)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // x.shape[1]
        if rm is not None:
            rm = (1 - momentum) * rm + momentum * mean
            rv = (1 - momentum) * rv + momentum * var * count / (count - 1)
    else:
        mean, var = rm, rv
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * np.asarray(weight, np.float64).reshape(shape)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(shape)
    return y, rm, rv


def numerical_grad(f, args, i, eps=1e-6):
    """d(sum(f(*args) * seed))/d(args[i]) by central differences, for a fixed
    seed of ones: f returns an array; args are float64 arrays."""
    args = [np.array(a, np.float64, copy=True) for a in args]
    x = args[i]
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        saved = flat[j]
        flat[j] = saved + eps
        plus = np.sum(f(*args))
        flat[j] = saved - eps
        minus = np.sum(f(*args))
        flat[j] = saved
        gflat[j] = (plus - minus) / (2 * eps)
    return grad
# ---- losses -------------------------------------------------------------------

def reduce_loss(loss, reduction):
    """'none' keeps every term, 'mean' averages them, 'sum' adds them."""
    loss = np.asarray(loss, np.float64)
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def mse_loss(x, y, reduction="mean"):
    return reduce_loss((x - y) ** 2, reduction)


def l1_loss(x, y, reduction="mean"):
    return reduce_loss(np.abs(x - y), reduction)


def smooth_l1_loss(x, y, reduction="mean", beta=1.0):
    d = np.abs(x - y)
    quadratic = 0.5 * d**2 / beta if beta > 0 else np.zeros_like(d)
    return reduce_loss(np.where(d < beta, quadratic, d - 0.5 * beta), reduction)


def binary_cross_entropy(p, y, weight=None, reduction="mean"):
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)
    loss = -(y * log_p + (1 - y) * log_q)
    return reduce_loss(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(x, y, weight=None, reduction="mean", pos_weight=None):
    """-w (pw y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), from the definition."""
    pw = 1.0 if pos_weight is None else pos_weight
    log_sig = -np.logaddexp(0, -x)        # log sigmoid(x)
    log_one_minus = -np.logaddexp(0, x)   # log(1 - sigmoid(x))
    loss = -(pw * y * log_sig + (1 - y) * log_one_minus)
    return reduce_loss(loss if weight is None else loss * weight, reduction)


def kl_div(x, t, reduction="mean", log_target=False):
    p = np.exp(t) if log_target else t
    log_p = t if log_target else np.log(np.where(t > 0, t, 1))
    loss = np.where(p > 0, p * (log_p - x), 0.0)
    if reduction == "batchmean":
        return loss.sum() / x.shape[0]
    return reduce_loss(loss, reduction)


def _classes_last(x):
    """(N, C, d1, ...) -> (N*d1*..., C); (C,) -> (1, C)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def nll_loss(logp, y, weight=None, ignore_index=-100, reduction="mean"):
    rows = _classes_last(logp)
    y = np.asarray(y).reshape(-1)
    w = np.ones(rows.shape[1]) if weight is None else np.asarray(weight, np.float64)
    losses, weights = [], []
    for i, label in enumerate(y):
        if label == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
        else:
            losses.append(-w[label] * rows[i, label])
            weights.append(w[label])
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(np.shape(logp)[:1] + np.shape(logp)[2:] if np.ndim(logp) > 1 else ())
    return losses.sum() / sum(weights) if reduction == "mean" else losses.sum()


def cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy from its definition: logp = x - log sum exp x per row; the
    target distribution is the one-hot label (or the given probabilities)
    mixed with the uniform one by label_smoothing; the loss is -sum w q logp.
    The mean divides by the summed label weights (index target) or the row count."""
    rows = _classes_last(x)
    n, c = rows.shape
    logp = rows - np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1, keepdims=True)) - rows.max(1, keepdims=True)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    e = label_smoothing
    target = np.asarray(target)
    probabilities = target.dtype.kind == "f"
    q_rows = _classes_last(target) if probabilities else None
    labels = None if probabilities else target.reshape(-1)
    losses, denominators = np.zeros(n), np.zeros(n)
    for i in range(n):
        if probabilities:
            q = (1 - e) * q_rows[i] + e / c
            losses[i] = -(w * q * logp[i]).sum()
            denominators[i] = 1.0
        elif labels[i] != ignore_index:
            # The label's weight scales its one-hot part; the smoothing part weighs each class.
            coef = (e / c) * w
            coef[labels[i]] += (1 - e) * w[labels[i]]
            losses[i] = -(coef * logp[i]).sum()
            denominators[i] = w[labels[i]]
    if reduction == "none":
        return losses.reshape(np.shape(x)[:1] + np.shape(x)[2:] if np.ndim(x) > 1 else ())
    return losses.sum() / denominators.sum() if reduction == "mean" else losses.sum()


def ctc_brute_force(logp, target, blank=0):
    """-log sum over every path of len(logp) symbols that collapses (merge
    repeats, drop blanks) to target of the path's probability. logp is (T, C)."""
    import itertools

    T, C = logp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        collapsed = [s for k, s in enumerate(path) if s != blank and (k == 0 or s != path[k - 1])]
        if collapsed == list(target):
            total += np.exp(sum(logp[t, s] for t, s in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def ctc_log_alpha_loss(logp, target, blank=0):
    """-log p(target) from the forward recursion in log space (Graves et al. 2006):
    alpha_t(s) = y_t(l'_s) * (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2))
    over the extended labels l' = blank, y1, blank, y2, ..., blank. logp is (T, C)."""
    T = logp.shape[0]
    ext = [blank]
    for label in target:
        ext += [label, blank]
    S = len(ext)
    if T == 0:
        return 0.0 if len(target) == 0 else np.inf
    alpha = np.full((T, S), -np.inf)
    alpha[0, 0] = logp[0, blank]
    if S > 1:
        alpha[0, 1] = logp[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            alpha[t, s] = np.logaddexp.reduce(terms) + logp[t, ext[s]]
    end = [alpha[T - 1, S - 1]] + ([alpha[T - 1, S - 2]] if S > 1 else [])
    return -np.logaddexp.reduce(end)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False,
             per_sample=ctc_log_alpha_loss):
    """PyTorch's batch conventions around a per-sample CTC reference:
    log_probs (T, N, C); targets padded (N, S) or concatenated (sum of lengths,)."""
    log_probs = np.asarray(log_probs, np.float64)
    targets = np.asarray(targets)
    losses, start = [], 0
    for b in range(log_probs.shape[1]):
        n = target_lengths[b]
        if targets.ndim == 2:
            target = targets[b, :n]
        else:
            target, start = targets[start:start + n], start + n
        losses.append(per_sample(log_probs[:input_lengths[b], b], list(target), blank))
    losses = np.array(losses)
    if zero_infinity:
        losses = np.where(np.isinf(losses), 0.0, losses)
    if reduction == "mean":
        return (losses / np.maximum(target_lengths, 1)).mean()
    return reduce_loss(losses, reduction)
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
def gemm_batched(a, b, c=None, trans_a=False, trans_b=False, **kw):
    """gemm on each matrix of a stack; a 2-D (or batch-1) operand is shared."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a3 = a if a.ndim == 3 else a[None]
    b3 = b if b.ndim == 3 else b[None]
    batch = len(b3) if len(a3) == 1 else len(a3)
    m = a3.shape[2] if trans_a else a3.shape[1]
    n = b3.shape[1] if trans_b else b3.shape[2]
    out = np.zeros((batch, m, n))
    for i in range(batch):
        out[i] = gemm(a3[0 if len(a3) == 1 else i], b3[0 if len(b3) == 1 else i], None if c is None else c[i],
                      trans_a, trans_b, **kw)
    return out
# ---- elementwise family -------------------------------------------------------


def erf(x):
    from math import erf as erf_scalar

    return np.vectorize(erf_scalar, otypes=[np.float64])(x)


def sigmoid(x):
    """1 / (1 + e^-x); e^-x overflowing to inf gives the limit 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def gelu_exact(x):
    """x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2; 0 at x = -inf (the limit)."""
    from math import erfc, sqrt

    cdf = 0.5 * np.vectorize(erfc, otypes=[np.float64])(-x / sqrt(2.0))
    return np.where(cdf > 0, x * cdf, 0.0)


def gelu_derivative(x):
    """Phi(x) + x phi(x), the derivative of x Phi(x)."""
    from math import erfc, pi, sqrt

    cdf = 0.5 * np.vectorize(erfc, otypes=[np.float64])(-x / sqrt(2.0))
    pdf = np.exp(-0.5 * x * x) / sqrt(2.0 * pi)
    return cdf + np.where(pdf > 0, x * pdf, 0.0)


def softmax(x):
    """exp(x - max) / sum(exp(x - max)) along the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # rows of length 0
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_backward(y, dy):
    """dL/dx for y = softmax(x): y * (dy - sum(dy * y))."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def log_softmax_backward(y, dy):
    """dL/dx for y = log_softmax(x): dy - softmax(x) * sum(dy)."""
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)

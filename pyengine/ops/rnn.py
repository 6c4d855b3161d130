"""Recurrent primitives: a single cell step, a whole multi-layer recurrent
network, and the gather/scatter between padded and packed sequences.

The network is one Function: its forward runs every layer and direction with
one C++ call each (pyengine.kernels.rnn_layer_forward) and keeps the
workspaces; its backward runs them back with one call each. Dropout between
layers happens here too, so the graph holds one node per network call.
"""
import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function
from pyengine.autograd.grad_mode import is_grad_enabled

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def _recording(ctx):
    return is_grad_enabled() and any(ctx.needs_input_grad)


class RNNCellStep(Function):
    """One step of an RNN, LSTM or GRU cell on (batch, input) arrays, or on
    one unbatched (input,) vector.

    forward(x, hx, cx, weight_ih, weight_hh, bias_ih, bias_hh, mode=...) returns
    h, or (h, c) for LSTM; cx and the biases may be None.
    """

    @staticmethod
    def forward(ctx, x, hx, cx, w_ih, w_hh, b_ih, b_hh, mode):
        ctx.unbatched = x.ndim == 1
        if ctx.unbatched:
            x, hx, cx = _add_axis(0, x, hx, cx)
        h, c, ws = kernels.rnn_cell_forward(mode, x, hx, cx, w_ih, w_hh, b_ih, b_hh, training=_recording(ctx))
        ctx.mode = mode
        ctx.has_bias = b_ih is not None
        ctx.save_for_backward(x, w_ih, w_hh, ws)
        if ctx.unbatched:
            h, c = _drop_axis(0, h, c)
        return (h, c) if mode == "lstm" else h

    @staticmethod
    def backward(ctx, grad_h, grad_c=None):
        x, w_ih, w_hh, ws = ctx.saved_tensors
        if ctx.unbatched:
            grad_h, grad_c = _add_axis(0, grad_h, grad_c)
        dx, dh, dc, *dweights = kernels.rnn_cell_backward(ctx.mode, grad_h, grad_c, x, w_ih, w_hh, ws,
                                                          has_bias=ctx.has_bias)
        if ctx.unbatched:
            dx, dh, dc = _drop_axis(0, dx, dh, dc)
        return (dx, dh, dc, *dweights)


def _add_axis(axis, *arrays):
    """Each array (None stays None) with a batch axis of size 1 inserted at axis."""
    return tuple(None if a is None else np.expand_dims(a, axis) for a in arrays)


def _drop_axis(axis, *arrays):
    return tuple(None if a is None else np.ascontiguousarray(a.squeeze(axis)) for a in arrays)


def _dropout_mask(shape, p, dtype, generator):
    """Inverted dropout: zeros with probability p, the survivors scaled by 1/(1-p)."""
    keep = generator.random(shape) >= p
    return keep.astype(dtype) / dtype.type(1.0 - p)


class RNNStack(Function):
    """A multi-layer, optionally bidirectional RNN / LSTM / GRU over a padded batch.

    forward(x, hx, cx, *flat_weights, mode, num_layers, bidirectional, has_bias,
            batch_first=False, lengths=None, dropout=0.0, generator=None)

    x is (T, B, I) ((B, T, I) with batch_first) or unbatched (T, I); hx and cx
    are (num_layers * directions, B, H) ((.., H) unbatched), cx None except for LSTM; flat_weights holds
    per layer and direction [weight_ih, weight_hh(, bias_ih, bias_hh)] in
    PyTorch's order (layer 0 forward, layer 0 reverse, layer 1 ...). lengths
    (int64, one per row) marks the padded steps, which output zeros, leave the
    state alone and get no gradient. Returns (output, h_n) or (output, h_n, c_n).
    """

    @staticmethod
    def forward(ctx, x, hx, cx, *flat_weights, mode, num_layers, bidirectional, has_bias, batch_first=False,
                lengths=None, dropout=0.0, generator=None):
        dirs = 2 if bidirectional else 1
        per = 4 if has_bias else 2
        training = _recording(ctx)
        if lengths is not None:
            lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        ctx.unbatched = x.ndim == 2
        if ctx.unbatched:
            (x,), (hx, cx) = _add_axis(1, x), _add_axis(1, hx, cx)
            batch_first = False
        layer_in = np.ascontiguousarray(x.transpose(1, 0, 2) if batch_first else x)
        h_n = np.empty_like(hx)
        c_n = np.empty_like(cx) if cx is not None else None
        inputs, workspaces, masks = [], [], []
        for layer in range(num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w = flat_weights[k * per:(k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
                y, h_n[k], c, ws = kernels.rnn_layer_forward(
                    mode, layer_in, hx[k], None if cx is None else cx[k], w[0], w[1], b_ih, b_hh,
                    lengths=lengths, reverse=bool(d), training=training)
                if c_n is not None:
                    c_n[k] = c
                outs.append(y)
                workspaces.append(ws)
            inputs.append(layer_in)
            out = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)
            if dropout > 0.0 and layer < num_layers - 1:
                mask = _dropout_mask(out.shape, dropout, out.dtype, generator)
                out = out * mask
                masks.append(mask)
            layer_in = out
        ctx.config = (mode, num_layers, dirs, per, has_bias, batch_first, lengths)
        ctx.masks = masks
        ctx.save_for_backward(*inputs, *workspaces, *flat_weights)
        output = layer_in.transpose(1, 0, 2) if batch_first else layer_in
        if ctx.unbatched:
            output, h_n, c_n = _drop_axis(1, output, h_n, c_n)
        return (output, h_n) if c_n is None else (output, h_n, c_n)

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n=None):
        mode, num_layers, dirs, per, has_bias, batch_first, lengths = ctx.config
        saved = ctx.saved_tensors
        inputs = saved[:num_layers]
        workspaces = saved[num_layers:num_layers * (1 + dirs)]
        flat_weights = saved[num_layers * (1 + dirs):]
        hidden = flat_weights[1].shape[1]
        if ctx.unbatched:
            grad_output, grad_h_n, grad_c_n = _add_axis(1, grad_output, grad_h_n, grad_c_n)
        grad_hx = np.empty_like(grad_h_n)
        grad_cx = np.empty_like(grad_c_n) if grad_c_n is not None else None
        grad_weights = [None] * len(flat_weights)
        grad_out = grad_output.transpose(1, 0, 2) if batch_first else grad_output
        for layer in reversed(range(num_layers)):
            if layer < num_layers - 1 and ctx.masks:
                grad_out = grad_out * ctx.masks[layer]
            grad_in = None
            for d in range(dirs):
                k = layer * dirs + d
                w = flat_weights[k * per:(k + 1) * per]
                dx, grad_hx[k], dc, dw_ih, dw_hh, db_ih, db_hh = kernels.rnn_layer_backward(
                    mode, grad_out[:, :, d * hidden:(d + 1) * hidden], grad_h_n[k],
                    None if grad_c_n is None else grad_c_n[k], inputs[layer], w[0], w[1], workspaces[k],
                    lengths=lengths, reverse=bool(d), has_bias=has_bias)
                if grad_cx is not None:
                    grad_cx[k] = dc
                grad_weights[k * per:(k + 1) * per] = (dw_ih, dw_hh, db_ih, db_hh)[:per]
                grad_in = dx if grad_in is None else grad_in + dx
            grad_out = grad_in
        grad_x = grad_out.transpose(1, 0, 2) if batch_first else grad_out
        if ctx.unbatched:
            grad_x, grad_hx, grad_cx = _drop_axis(1, grad_x, grad_hx, grad_cx)
        return (grad_x, grad_hx, grad_cx, *grad_weights)


class PackRows(Function):
    """rows = padded.reshape(-1, *features)[index]: the data of a PackedSequence
    gathered from a padded batch ((T, B, *) or (B, T, *)) at flat row indices."""

    @staticmethod
    def forward(ctx, padded, index):
        ctx.shape = padded.shape
        ctx.index = index
        return padded.reshape(-1, *padded.shape[2:])[index]

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros((ctx.shape[0] * ctx.shape[1], *ctx.shape[2:]), grad.dtype)
        full[ctx.index] = grad
        return full.reshape(ctx.shape)


class UnpackRows(Function):
    """The inverse of PackRows: a padded batch of shape (*leading_shape, *features)
    with the packed rows scattered to their flat indices and padding_value elsewhere."""

    @staticmethod
    def forward(ctx, rows, index, leading_shape, padding_value=0.0):
        ctx.index = index
        full = np.full((leading_shape[0] * leading_shape[1], *rows.shape[1:]), padding_value, rows.dtype)
        full[index] = rows
        return full.reshape(*leading_shape, *rows.shape[1:])

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(-1, *grad.shape[2:])[ctx.index]


class PadSequences(Function):
    """Stacks sequences (L_i, *) into a padded (max L, B, *) batch ((B, max L, *)
    with batch_first), padding_value past each one's length."""

    @staticmethod
    def forward(ctx, *sequences, batch_first=False, padding_value=0.0):
        ctx.lengths = [s.shape[0] for s in sequences]
        ctx.batch_first = batch_first
        max_len = max(ctx.lengths)
        out = np.full((len(sequences), max_len, *sequences[0].shape[1:]), padding_value,
                      np.result_type(*sequences))
        for b, s in enumerate(sequences):
            out[b, :s.shape[0]] = s
        return out if batch_first else out.transpose(1, 0, *range(2, out.ndim))

    @staticmethod
    def backward(ctx, grad):
        if not ctx.batch_first:
            grad = grad.transpose(1, 0, *range(2, grad.ndim))
        return tuple(grad[b, :n] for b, n in enumerate(ctx.lengths))

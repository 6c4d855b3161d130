import numpy as np
import pytest

import pyengine
import pyengine.kernels as K
import reference as ref
from pyengine.ops.rnn import RNNCellStep, RNNStack

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def layer_arrays(mode, seq_len, batch, input_size, hidden, dtype=np.float64, bias=True, seed=0):
    """x, h0, c0 (None unless LSTM), weight_ih, weight_hh, bias_ih, bias_hh."""
    rng = np.random.default_rng(seed)
    g = GATES[mode] * hidden
    k = float(1 / np.sqrt(hidden))
    arr = lambda *shape: rng.uniform(-1, 1, shape).astype(dtype)  # noqa: E731
    return [arr(seq_len, batch, input_size), arr(batch, hidden),
            arr(batch, hidden) if mode == "lstm" else None,
            k * arr(g, input_size), k * arr(g, hidden),
            k * arr(g) if bias else None, k * arr(g) if bias else None]


def numeric_grads(loss, arrays, eps=1e-6):
    """Central differences of loss() with respect to every element of every array (None skipped)."""
    grads = []
    for a in arrays:
        if a is None:
            grads.append(None)
            continue
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = loss()
            a[idx] = old - eps
            down = loss()
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def assert_close(got, want, dtype, scale=1.0):
    tol = {np.float32: 2e-5, np.float64: 1e-12}[dtype] * scale
    np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol)


def assert_grads(got, want, names):
    for g, w, name in zip(got, want, names):
        if w is None:
            assert g is None, name
            continue
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7, err_msg=name)


# ---- kernels: one layer, one direction ---------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_forward_matches_reference(mode, reverse, dtype):
    # hidden 13 = one AVX2 float register + a 5-lane tail; lengths include 0 and the full length.
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 6, 4, 5, 13, dtype)
    lengths = np.array([6, 3, 0, 1])
    y, h_n, c_n, ws = K.rnn_layer_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=lengths, reverse=reverse)
    want_y, want_h, want_c = ref.rnn_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse)
    assert y.dtype == dtype and ws.dtype == dtype
    assert_close(y, want_y, dtype)
    assert_close(h_n, want_h, dtype)
    if mode == "lstm":
        assert_close(c_n, want_c, dtype)
    else:
        assert c_n is None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
def test_layer_backward_matches_finite_differences(mode, reverse):
    args = layer_arrays(mode, 4, 3, 3, 5)
    lengths = np.array([4, 2, 1])
    y, h_n, c_n, ws = K.rnn_layer_forward(mode, *args, lengths=lengths, reverse=reverse)
    rng = np.random.default_rng(1)
    gy, gh = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    gc = rng.standard_normal(h_n.shape) if mode == "lstm" else None
    got = K.rnn_layer_backward(mode, gy, gh, gc, args[0], args[3], args[4], ws, lengths=lengths, reverse=reverse)

    def loss():
        out, h, c = ref.rnn_layer(mode, *args, lengths, reverse)
        return (out * gy).sum() + (h * gh).sum() + ((c * gc).sum() if gc is not None else 0.0)

    assert_grads(got, numeric_grads(loss, args), ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"])


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_padded_steps_neither_change_outputs_nor_get_gradient(mode):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 5, 3, 4, 6)
    lengths = np.array([5, 2, 3])
    outs = []
    for fill in (0.0, 7.0):
        xp = x.copy()
        for b, n in enumerate(lengths):
            xp[n:, b] = fill
        outs.append(K.rnn_layer_forward(mode, xp, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=lengths))
    for a, b in zip(outs[0][:3], outs[1][:3]):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    y, h_n, c_n, ws = outs[1]
    assert not y[2:, 1].any() and not y[3:, 2].any()
    dx = K.rnn_layer_backward(mode, np.ones_like(y), np.ones_like(h_n), None, x, w_ih, w_hh, ws, lengths=lengths)[0]
    assert not dx[2:, 1].any() and not dx[3:, 2].any() and dx[:2, 1].all()


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_no_bias_and_inference_without_workspace(mode):
    x, h0, c0, w_ih, w_hh, _, _ = layer_arrays(mode, 3, 2, 4, 5, np.float32, bias=False)
    y, h_n, _, ws = K.rnn_layer_forward(mode, x, h0, c0, w_ih, w_hh, training=False)
    assert ws is None
    assert_close(y, ref.rnn_layer(mode, x, h0, c0, w_ih, w_hh)[0], np.float32)
    ws = K.rnn_layer_forward(mode, x, h0, c0, w_ih, w_hh)[3]
    grads = K.rnn_layer_backward(mode, np.ones_like(y), None, None, x, w_ih, w_hh, ws, has_bias=False)
    assert grads[5] is None and grads[6] is None


@pytest.mark.parametrize("seq_len,batch", [(0, 3), (3, 0), (1, 1)])
def test_empty_and_single_step_sequences(seq_len, batch):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays("lstm", seq_len, batch, 3, 4)
    y, h_n, c_n, ws = K.rnn_layer_forward("lstm", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    assert y.shape == (seq_len, batch, 4)
    want_y, want_h, want_c = ref.rnn_layer("lstm", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    assert_close(h_n, want_h, np.float64)
    grads = K.rnn_layer_backward("lstm", None, np.ones_like(h_n), None, x, w_ih, w_hh, ws)
    assert grads[0].shape == x.shape and grads[3].shape == w_ih.shape
    if seq_len == 0:
        np.testing.assert_array_equal(grads[1], np.ones_like(h_n))
        assert not grads[3].any() and not grads[5].any()


def test_non_contiguous_inputs_are_read_correctly():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays("gru", 5, 3, 4, 6, np.float32)
    x_view = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)  # batch-major memory
    w_view = np.asfortranarray(w_ih)
    got = K.rnn_layer_forward("gru", x_view, h0[::1], None, w_view, w_hh, b_ih, b_hh)[0]
    assert_close(got, ref.rnn_layer("gru", x, h0, None, w_ih, w_hh, b_ih, b_hh)[0], np.float32)


def test_results_are_identical_for_any_thread_count(threads):
    args = layer_arrays("lstm", 5, 70, 9, 65, np.float32)  # threaded products and gate passes
    results = []
    for n in (1, 2):
        threads(n)
        y, h_n, c_n, ws = K.rnn_layer_forward("lstm", *args)
        grads = K.rnn_layer_backward("lstm", np.ones_like(y), h_n, c_n, args[0], args[3], args[4], ws)
        results.append([y, h_n, c_n, *grads])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---- kernels: single-step cells --------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_cell_forward_and_backward(mode):
    x, h, c, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 1, 3, 4, 5)
    x = x[0]
    h_new, c_new, ws = K.rnn_cell_forward(mode, x, h, c, w_ih, w_hh, b_ih, b_hh)
    want_h, want_c = ref.rnn_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh)
    assert_close(h_new, want_h, np.float64)
    if mode == "lstm":
        assert_close(c_new, want_c, np.float64)
    rng = np.random.default_rng(2)
    gh = rng.standard_normal(h.shape)
    gc = rng.standard_normal(h.shape) if mode == "lstm" else None
    got = K.rnn_cell_backward(mode, gh, gc, x, w_ih, w_hh, ws)

    def loss():
        hh, cc = ref.rnn_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh)
        return (hh * gh).sum() + ((cc * gc).sum() if gc is not None else 0.0)

    assert_grads(got, numeric_grads(loss, [x, h, c, w_ih, w_hh, b_ih, b_hh]),
                 ["x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"])


# ---- errors ------------------------------------------------------------------

def test_bad_shapes_name_the_op_and_shapes():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays("lstm", 3, 2, 4, 5, np.float32)
    with pytest.raises(ValueError, match=r"lstm_forward: hx has shape \(2, 4\) but .* \(2, 5\)"):
        K.rnn_layer_forward("lstm", x, h0[:, :4], c0, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_forward: weight_ih has shape \(20, 3\) but input \(3, 2, 4\)"):
        K.rnn_layer_forward("lstm", x, h0, c0, w_ih[:, :3], w_hh)
    with pytest.raises(ValueError, match=r"gru_forward: weight_hh has shape \(20, 5\) but must be \(3 \* hidden_size"):
        K.rnn_layer_forward("gru", x, h0, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_forward: input must be 3-D \(seq_len, batch, input_size\), got shape \(2, 4\)"):
        K.rnn_layer_forward("lstm", x[0], h0, c0, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell_forward: cx has shape \(1, 5\)"):
        K.rnn_cell_forward("lstm", x[0], h0, c0[:1], w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_forward: bias_ih has shape \(19,\) but the weights need \(20,\)"):
        K.rnn_layer_forward("lstm", x, h0, c0, w_ih, w_hh, b_ih[:19], b_hh)
    with pytest.raises(ValueError, match=r"lstm_forward: lengths\[1\] = 4 is outside \[0, 3\]"):
        K.rnn_layer_forward("lstm", x, h0, c0, w_ih, w_hh, lengths=np.array([1, 4]))
    with pytest.raises(TypeError, match=r"lstm_forward: weight_hh has dtype float64 but the other operands are float32"):
        K.rnn_layer_forward("lstm", x, h0, c0, w_ih, w_hh.astype(np.float64))
    with pytest.raises(ValueError, match=r"rnn_tanh_forward: cx is only for LSTM"):
        K.rnn_layer_forward("rnn_tanh", x, h0, c0, w_ih[:5], w_hh[:5])
    with pytest.raises(ValueError, match=r"lstm_backward: workspace has shape \(3, 2, 4\) but the forward pass wrote \(3, 2, 35\)"):
        K.rnn_layer_backward("lstm", None, None, None, x, w_ih, w_hh, np.zeros((3, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"rnn: unknown mode 'lstmx'"):
        K.rnn_layer_forward("lstmx", x, h0, c0, w_ih, w_hh)


# ---- autograd Functions -------------------------------------------------------

def tensors(*arrays):
    return [None if a is None else pyengine.Tensor(a, requires_grad=True) for a in arrays]


def stack_params(mode, num_layers, bidirectional, input_size, hidden, bias=True, seed=0):
    """flat weights in PyTorch's order and the same as a dict with PyTorch's names."""
    rng = np.random.default_rng(seed)
    g = GATES[mode] * hidden
    k = 1 / np.sqrt(hidden)
    flat, named = [], {}
    for layer in range(num_layers):
        for d in range(2 if bidirectional else 1):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            in_size = input_size if layer == 0 else hidden * (2 if bidirectional else 1)
            shapes = {"weight_ih": (g, in_size), "weight_hh": (g, hidden)}
            if bias:
                shapes.update(bias_ih=(g,), bias_hh=(g,))
            for name, shape in shapes.items():
                named[name + sfx] = rng.uniform(-k, k, shape)
                flat.append(named[name + sfx])
    return flat, named


@pytest.mark.parametrize("mode", MODES)
def test_stack_gradients_bidirectional_multilayer_variable_lengths(mode):
    layers, T, B, I, H = 2, 4, 3, 3, 3
    flat, named = stack_params(mode, layers, True, I, H)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, I))  # batch_first
    hx = rng.standard_normal((2 * layers, B, H))
    cx = rng.standard_normal((2 * layers, B, H)) if mode == "lstm" else None
    lengths = np.array([4, 1, 3])
    cfg = dict(mode=mode, num_layers=layers, bidirectional=True, has_bias=True, batch_first=True, lengths=lengths)
    proj = [rng.standard_normal((B, T, 2 * H)), rng.standard_normal(hx.shape), rng.standard_normal(hx.shape)]

    inputs = tensors(x, hx, cx, *flat)
    outs = RNNStack.apply(*inputs, **cfg)
    want = ref.rnn_stack(mode, x.transpose(1, 0, 2), hx, cx, named, layers, True, lengths)
    np.testing.assert_allclose(outs[0].data, want[0].transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(outs[1].data, want[1], atol=1e-12)
    loss = sum((o * p).sum() for o, p in zip(outs, proj))
    loss.backward()

    def numeric_loss():
        o = RNNStack.forward(_Ctx(), x, hx, cx, *flat, **cfg)
        return sum(float((a * p).sum()) for a, p in zip(o, proj))

    want_grads = numeric_grads(numeric_loss, [x, hx, cx, *flat])
    assert_grads([None if t is None else t.grad.data for t in inputs], want_grads,
                 ["x", "hx", "cx"] + [f"w{i}" for i in range(len(flat))])


class _Ctx:
    """A stand-in Context for calling a Function's forward directly (no graph)."""
    needs_input_grad = (False,)

    def save_for_backward(self, *arrays):
        pass


def test_stack_dropout_gradients_use_the_forward_mask():
    flat, _ = stack_params("gru", 2, False, 3, 4)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 3))
    hx = np.zeros((2, 2, 4))
    cfg = dict(mode="gru", num_layers=2, bidirectional=False, has_bias=True, dropout=0.5)
    inputs = tensors(x, hx, None, *flat)
    out, _ = RNNStack.apply(*inputs, generator=np.random.default_rng(7), **cfg)
    out.sum().backward()

    def numeric_loss():
        o = RNNStack.forward(_Ctx(), x, hx, None, *flat, generator=np.random.default_rng(7), **cfg)
        return float(o[0].sum())

    want = numeric_grads(numeric_loss, [x, flat[0], flat[4]])
    assert_grads([inputs[0].grad.data, inputs[3].grad.data, inputs[7].grad.data], want, ["x", "w_ih_l0", "w_ih_l1"])


@pytest.mark.parametrize("mode", ["rnn_relu", "lstm", "gru"])
def test_cell_function_gradients(mode):
    x, h, c, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 1, 2, 3, 4)
    x = x[0]
    inputs = tensors(x, h, c, w_ih, w_hh, b_ih, b_hh)
    out = RNNCellStep.apply(*inputs, mode=mode)
    outs = out if isinstance(out, tuple) else (out,)
    sum((o * (i + 1.0)).sum() for i, o in enumerate(outs)).backward()

    def numeric_loss():
        hh, cc = ref.rnn_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh)
        return float(hh.sum() + (2.0 * cc.sum() if cc is not None else 0.0))

    want = numeric_grads(numeric_loss, [x, h, c, w_ih, w_hh, b_ih, b_hh])
    assert_grads([None if t is None else t.grad.data for t in inputs], want,
                 ["x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"])

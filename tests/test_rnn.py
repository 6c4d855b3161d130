import numpy as np
import pytest

import pyengine
import pyengine.kernels as K
import pyengine.nn as nn
import pyengine.nn.utils.rnn as rnn_utils
import reference as ref
from pyengine.autograd import gradcheck
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
@pytest.mark.parametrize("hidden", [1, 8, 13])
def test_layer_forward_matches_reference(mode, reverse, dtype, hidden):
    # hidden around the AVX2 register width (8 floats, 4 doubles) and its tails;
    # lengths include 0 and the full length.
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 6, 4, 5, hidden, dtype)
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


@pytest.mark.parametrize("mode,hidden", [("lstm", 300), ("gru", 300), ("lstm", 1030)])
def test_large_batches_agree_with_the_same_rows_in_small_batches(mode, hidden):
    # A batch of 20 runs the per-step products on the blocked GEMM path, with the
    # recurrent weight packed once per call (k over several blocks; 4 x 1030 gate
    # columns over two column blocks); batches of 10 read the weight in place.
    # The rows of a batch are independent, so the two must agree.
    args = layer_arrays(mode, 3, 20, 7, hidden, np.float64)
    y, h_n, c_n, ws = K.rnn_layer_forward(mode, *args)
    want_y, want_h, _ = ref.rnn_layer(mode, *args)
    assert_close(y, want_y, np.float64)
    assert_close(h_n, want_h, np.float64)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    grads = K.rnn_layer_backward(mode, gy, None, None, args[0], args[3], args[4], ws)
    halves = []
    for rows in (slice(0, 10), slice(10, 20)):
        part = [args[0][:, rows], args[1][rows], None if args[2] is None else args[2][rows], *args[3:]]
        part_ws = K.rnn_layer_forward(mode, *part)[3]
        halves.append(K.rnn_layer_backward(mode, gy[:, rows], None, None, part[0], part[3], part[4], part_ws))
    assert_close(grads[0], np.concatenate([halves[0][0], halves[1][0]], axis=1), np.float64)
    assert_close(grads[1], np.concatenate([halves[0][1], halves[1][1]]), np.float64)
    for i in (3, 4, 5, 6):  # weight and bias gradients: sums over the rows
        assert_close(grads[i], halves[0][i] + halves[1][i], np.float64, scale=10)


@pytest.mark.parametrize("mode,batch,hidden", [
    ("lstm", 5, 65),    # batch too small for the blocked GEMM: W_hh^T read in place
    ("lstm", 70, 65),   # threaded products on a once-packed W_hh, threaded gate passes
    ("gru", 40, 300),   # the same with k over two GEMM blocks
])
def test_results_are_identical_for_any_thread_count(threads, mode, batch, hidden):
    args = layer_arrays(mode, 5, batch, 9, hidden, np.float32)
    results = []
    for n in (1, 2, 3):
        threads(n)
        y, h_n, c_n, ws = K.rnn_layer_forward(mode, *args)
        grads = K.rnn_layer_backward(mode, np.ones_like(y), h_n, c_n, args[0], args[3], args[4], ws)
        results.append([y, h_n, c_n, *grads])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode,batch,hidden,lengths,reverse", [
    ("lstm", 1, 128, None, False),              # a batch of one: the threads share out the hidden units
    ("gru", 3, 161, [5, 2, 0], True),           # padded rows, reversed, units no vector divides
    ("rnn_tanh", 16, 130, [1, 5] * 8, False),   # the largest batch that shares out units
    ("lstm", 5, 65, None, False),               # at 5 threads, shares of 8 units and one of 9
])
def test_shared_out_units_match_reference_and_any_thread_count(threads, mode, batch, hidden, lengths, reverse):
    args = layer_arrays(mode, 5, batch, 9, hidden, np.float32)
    lengths = None if lengths is None else np.array(lengths)
    results = []
    for n in (1, 2, 3, 5):
        threads(n)
        y, h_n, c_n, ws = K.rnn_layer_forward(mode, *args, lengths=lengths, reverse=reverse)
        grads = K.rnn_layer_backward(mode, np.cos(y), np.sin(h_n), c_n, args[0], args[3], args[4], ws,
                                     lengths=lengths, reverse=reverse)
        results.append([y, h_n, c_n, *grads])
    want_y, want_h, _ = ref.rnn_layer(mode, *args, lengths, reverse)
    assert_close(results[1][0], want_y, np.float32)
    assert_close(results[1][1], want_h, np.float32)
    for other in results[1:]:
        for a, b in zip(results[0], other):
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
    inputs = tensors(x, hx, cx, *flat)
    outs = RNNStack.apply(*inputs, **cfg)
    want = ref.rnn_stack(mode, x.transpose(1, 0, 2), hx, cx, named, layers, True, lengths)
    np.testing.assert_allclose(outs[0].data, want[0].transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(outs[1].data, want[1], atol=1e-12)
    assert gradcheck(lambda *a: RNNStack.apply(*a, **cfg), inputs, atol=1e-7, rtol=1e-5)


def test_stack_dropout_gradients_use_the_forward_mask():
    flat, _ = stack_params("gru", 2, False, 3, 4)
    rng = np.random.default_rng(4)
    cfg = dict(mode="gru", num_layers=2, bidirectional=False, has_bias=True, dropout=0.5)
    inputs = tensors(rng.standard_normal((3, 2, 3)), np.zeros((2, 2, 4)), None, *flat)
    out, _ = RNNStack.apply(*inputs, generator=np.random.default_rng(7), **cfg)
    dropped = RNNStack.apply(*inputs, generator=np.random.default_rng(8), **cfg)[0]
    assert not np.array_equal(out.data, dropped.data)
    # The same generator state each call: the same mask in every evaluation.
    assert gradcheck(lambda *a: RNNStack.apply(*a, generator=np.random.default_rng(7), **cfg), inputs,
                     atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_cell_function_gradients(mode):
    x, h, c, w_ih, w_hh, b_ih, b_hh = layer_arrays(mode, 1, 2, 3, 4)
    inputs = tensors(x[0], h, c, w_ih, w_hh, b_ih, b_hh)
    assert gradcheck(lambda *a: RNNCellStep.apply(*a, mode=mode), inputs, atol=1e-7, rtol=1e-5)
    unbatched = tensors(x[0, 0], h[0], None if c is None else c[0], w_ih, w_hh, b_ih, b_hh)
    assert gradcheck(lambda *a: RNNCellStep.apply(*a, mode=mode), unbatched, atol=1e-7, rtol=1e-5)


def test_unbatched_stack_gradients():
    flat, _ = stack_params("lstm", 1, True, 2, 3)
    rng = np.random.default_rng(14)
    inputs = tensors(rng.standard_normal((4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), *flat)
    cfg = dict(mode="lstm", num_layers=1, bidirectional=True, has_bias=True)
    assert gradcheck(lambda *a: RNNStack.apply(*a, **cfg), inputs, atol=1e-7, rtol=1e-5)


# ---- nn modules ------------------------------------------------------------------

MODULES = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def make_module(mode, *args, **kwargs):
    if mode == "rnn_relu":
        kwargs["nonlinearity"] = "relu"
    return getattr(nn, MODULES[mode])(*args, **kwargs)


def test_parameters_are_named_shaped_and_initialised_as_pytorch():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]
    assert shapes["weight_ih_l1_reverse"] == (16, 8) and shapes["bias_hh_l1"] == (16,) and len(shapes) == 16
    assert [k for k, _ in nn.GRU(3, 4, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    w = nn.GRU(3, 64).weight_hh_l0.data
    assert w.dtype == np.float32 and np.abs(w).max() <= 1 / 8 and w.std() > 0.05  # U(-1/sqrt(H), 1/sqrt(H))
    cell = nn.LSTMCell(3, 4)
    assert [k for k, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert cell.weight_ih.shape == (16, 3)


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_in_pytorch_layout_gives_reference_outputs(mode):
    _, named = stack_params(mode, 2, True, 3, 4, seed=5)
    m = make_module(mode, 3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
    m.load_state_dict(named)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3))
    h0 = rng.standard_normal((4, 2, 4))
    c0 = rng.standard_normal((4, 2, 4)) if mode == "lstm" else None
    out, state = m(x, (h0, c0) if mode == "lstm" else h0)
    want = ref.rnn_stack(mode, x.transpose(1, 0, 2), h0, c0, named, 2, True)
    np.testing.assert_allclose(out.data, want[0].transpose(1, 0, 2), atol=1e-12)
    states = state if mode == "lstm" else (state,)
    for got, w in zip(states, want[1:]):
        np.testing.assert_allclose(got.data, w, atol=1e-12)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_packed_sequences_run_at_their_lengths(mode):
    _, named = stack_params(mode, 2, True, 3, 4, seed=8)
    m = make_module(mode, 3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
    m.load_state_dict(named)
    lengths = [2, 5, 1, 4]
    x = pyengine.Tensor(np.random.default_rng(9).standard_normal((4, 5, 3)), requires_grad=True)
    packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [4, 3, 2, 2, 1] and packed.data.shape == (12, 3)
    out, state = m(packed)
    padded, out_lengths = rnn_utils.pad_packed_sequence(out, batch_first=True)
    assert out_lengths.tolist() == lengths
    zeros = np.zeros((4, 4, 4))
    want = ref.rnn_stack(mode, x.data.transpose(1, 0, 2), zeros, zeros if mode == "lstm" else None, named, 2, True,
                         np.array(lengths))
    np.testing.assert_allclose(padded.data, want[0].transpose(1, 0, 2), atol=1e-12)
    h_n = state[0] if mode == "lstm" else state
    np.testing.assert_allclose(h_n.data, want[1], atol=1e-12)
    (padded.sum() + h_n.sum()).backward()
    for b, n in enumerate(lengths):
        assert not x.grad.data[b, n:].any() and x.grad.data[b, :n].all()


def test_pack_and_pad_round_trip_with_gradients():
    rng = np.random.default_rng(10)
    seqs = [pyengine.Tensor(rng.standard_normal((n, 2)), requires_grad=True) for n in (3, 1, 4)]
    padded = rnn_utils.pad_sequence(seqs)
    assert padded.shape == (4, 3, 2) and not padded.data[1:, 1].any()
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [2, 0, 1] and packed.unsorted_indices.tolist() == [1, 2, 0]
    back, lengths = rnn_utils.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0, total_length=5)
    assert back.shape == (3, 5, 2) and lengths.tolist() == [3, 1, 4]
    np.testing.assert_array_equal(back.data[0, :3], seqs[0].data)
    assert (back.data[1, 1:] == -1).all()
    (back * np.arange(30.0).reshape(3, 5, 2)).sum().backward()
    np.testing.assert_array_equal(seqs[2].grad.data, np.arange(20.0, 28.0).reshape(4, 2))


@pytest.mark.parametrize("mode", MODES)
def test_cells_match_reference(mode):
    name = {"rnn_tanh": "RNNCell", "rnn_relu": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}[mode]
    kwargs = {"nonlinearity": "relu"} if mode == "rnn_relu" else {}
    cell = getattr(nn, name)(3, 5, dtype=np.float64, **kwargs)
    x, h, c, *_ = layer_arrays(mode, 1, 2, 3, 5, seed=11)
    out = cell(x[0], (h, c) if mode == "lstm" else h)
    want_h, want_c = ref.rnn_cell(mode, x[0], h, c, *(p.data for p in cell.parameters()))
    got_h = out[0] if mode == "lstm" else out
    np.testing.assert_allclose(got_h.data, want_h, atol=1e-12)
    unbatched = cell(x[0, 0], (h[0], c[0]) if mode == "lstm" else h[0])
    np.testing.assert_allclose((unbatched[0] if mode == "lstm" else unbatched).data, want_h[0], atol=1e-12)


def test_unbatched_sequence_and_default_state():
    m = nn.GRU(3, 4, num_layers=2)
    x = np.random.default_rng(12).standard_normal((6, 3)).astype(np.float32)
    out, h_n = m(x)
    assert out.shape == (6, 4) and h_n.shape == (2, 4) and out.dtype == np.float32
    batched, _ = m(x[:, None])
    np.testing.assert_array_equal(out.data, batched.data[:, 0])


def test_dropout_between_layers_only_in_training():
    m = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = np.random.default_rng(13).standard_normal((4, 2, 3)).astype(np.float32)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.data, b.data)
    m.train()
    pyengine.manual_seed(3)
    c, _ = m(x)
    assert not np.array_equal(a.data, c.data)
    pyengine.manual_seed(3)
    np.testing.assert_array_equal(m(x)[0].data, c.data)  # the global seed fixes the masks


def test_module_errors_name_the_module_and_shapes():
    m = nn.LSTM(3, 4, num_layers=2)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"LSTM: input has 6 features but input_size is 3 \(input \(5, 2, 6\)\)"):
        m(np.zeros((5, 2, 6), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        m(x, (np.zeros((1, 2, 4), np.float32), np.zeros((2, 2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple"):
        m(x, np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"GRU: hidden_size must be a positive integer, got 0"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match=r"GRUCell: input has 2 features but input_size is 3"):
        nn.GRUCell(3, 4)(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"must be sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(pyengine.Tensor(x), [2, 5])

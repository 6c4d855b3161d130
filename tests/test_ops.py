"""Every op's forward against NumPy and its gradient against finite differences.

One helper, check_op, does both; each test is one line on top of it.
"""
import math

import numpy as np
import pytest

import pyengine as pe
from pyengine.autograd import gradcheck


def check_op(pe_fn, np_fn, shapes, low=-2.0, high=2.0, grad=True, atol=1e-6, rtol=1e-5, seed=0):
    """Random inputs of the given shapes; pe_fn against np_fn in float64 and float32
    (outputs), and pe_fn's gradients against finite differences in float64."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(low, high, size=s) for s in shapes]
    for dtype, tol in ((np.float64, (atol, rtol)), (np.float32, (1e-4, 1e-4))):
        tensors = [pe.tensor(a.astype(dtype)) for a in arrays]
        out = pe_fn(*tensors)
        expected = np_fn(*[a.astype(dtype) for a in arrays])
        for o, e in zip(out if isinstance(out, tuple) else (out,), expected if isinstance(expected, tuple) else (expected,)):
            assert o.dtype == (dtype if np.asarray(e).dtype.kind == "f" else np.int64), f"{o.dtype} for {dtype} inputs"
            np.testing.assert_allclose(o.data, e, atol=tol[0], rtol=tol[1])
    if grad:
        assert gradcheck(pe_fn, [pe.tensor(a, requires_grad=True) for a in arrays])


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_erf(x):
    return np.vectorize(math.erf)(x)


# ---- arithmetic with broadcasting -----------------------------------------------------------
BROADCAST = [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1, 4), (3, 1)], [(5,), ()], [(), (2, 3)], [(1, 3), (2, 1)]]


@pytest.mark.parametrize("shapes", BROADCAST)
def test_add(shapes): check_op(lambda a, b: a + b, np.add, shapes)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_sub(shapes): check_op(lambda a, b: a - b, np.subtract, shapes)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_mul(shapes): check_op(lambda a, b: a * b, np.multiply, shapes)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_div(shapes): check_op(lambda a, b: a / b, np.divide, shapes, low=0.5)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_pow(shapes): check_op(lambda a, b: a ** b, np.power, shapes, low=0.5)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_maximum(shapes): check_op(pe.maximum, np.maximum, shapes)
@pytest.mark.parametrize("shapes", BROADCAST)
def test_minimum(shapes): check_op(pe.minimum, np.minimum, shapes)
def test_scalar_left_and_right(): check_op(lambda a: (2.0 - a) * 3.0 / (a + 4.0) + 1.0 / a - a ** 2.0 + 2.0 ** a,
                                           lambda a: (2 - a) * 3 / (a + 4) + 1 / a - a ** 2 + 2 ** a, [(3, 5)], low=0.5)
def test_neg(): check_op(lambda a: -a, np.negative, [(4, 3)])
def test_sub_alpha(): check_op(lambda a, b: pe.sub(a, b, alpha=2), lambda a, b: a - 2 * b, [(3,), (3,)])
def test_add_alpha(): check_op(lambda a, b: a.add(b, alpha=0.5), lambda a, b: a + 0.5 * b, [(3,), (3,)])


# ---- matmul ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [[(3, 4), (4, 5)], [(4,), (4, 5)], [(3, 4), (4,)], [(4,), (4,)], [(2, 3, 4), (4, 5)],
                                    [(2, 3, 4), (2, 4, 5)], [(2, 1, 3, 4), (5, 4, 2)], [(4,), (2, 4, 3)],
                                    [(1, 1), (1, 1)], [(7, 13), (13, 17)]])
def test_matmul(shapes): check_op(lambda a, b: a @ b, np.matmul, shapes)
def test_matmul_empty_batch(): check_op(lambda a, b: a @ b, np.matmul, [(0, 3, 4), (4, 5)])
def test_matmul_empty_inner(): check_op(lambda a, b: a @ b, np.matmul, [(2, 3, 0), (0, 5)])
def test_matmul_transposed_operands(): check_op(lambda a, b: a.T @ b.T, lambda a, b: a.T @ b.T, [(4, 3), (5, 4)])


# ---- elementwise functions ------------------------------------------------------------------
def test_exp(): check_op(pe.exp, np.exp, [(3, 4)])
def test_log(): check_op(pe.log, np.log, [(3, 4)], low=0.1)
def test_sqrt(): check_op(pe.sqrt, np.sqrt, [(3, 4)], low=0.1)
def test_abs(): check_op(pe.abs, np.abs, [(3, 4)])
def test_tanh(): check_op(pe.tanh, np.tanh, [(3, 4)])
def test_sigmoid(): check_op(pe.sigmoid, lambda x: 1 / (1 + np.exp(-x)), [(3, 4)], low=-30, high=30)
def test_relu(): check_op(pe.relu, lambda x: np.maximum(x, 0), [(3, 7)])
def test_leaky_relu(): check_op(lambda x: pe.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), [(3, 7)])
def test_gelu(): check_op(pe.gelu, lambda x: 0.5 * x * (1 + np_erf(x / np.sqrt(2))), [(3, 7)])
def test_clamp(): check_op(lambda x: x.clamp(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), [(4, 5)])
def test_clamp_min_only(): check_op(lambda x: pe.clamp(x, min=0.1), lambda x: np.maximum(x, 0.1), [(4, 5)])
def test_clamp_tensor_bounds(): check_op(lambda x, lo: pe.clamp(x, min=lo), np.maximum, [(4, 5), (5,)])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(dim): check_op(lambda x: pe.softmax(x, dim), lambda x: np_softmax(x, dim), [(3, 5)])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_log_softmax(dim): check_op(lambda x: x.log_softmax(dim), lambda x: np.log(np_softmax(x, dim)), [(2, 3, 4)])
def test_softmax_of_large_values_is_finite(): check_op(lambda x: (x * 1e3).softmax(-1), lambda x: np_softmax(x * 1e3, -1), [(2, 9)], grad=False)


# ---- reductions -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_sum(dim, keepdim): check_op(lambda x: x.sum(dim, keepdim), lambda x: x.sum(axis=dim, keepdims=keepdim), [(2, 3, 4)])
@pytest.mark.parametrize("dim,keepdim", [(None, True), ((0, 1, 2), False)])
def test_sum_of_everything(dim, keepdim): check_op(lambda x: x.sum(dim, keepdim), lambda x: x.sum(axis=dim, keepdims=keepdim), [(2, 3, 4)])
def test_full_sum_rounds_once():
    # float32 partial sums lose the 1 added to 2**24; the sum over every element
    # accumulates in float64 and rounds once.
    x = np.array([2.0 ** 24] + [1.0] * 7, np.float32)
    assert pe.tensor(x).sum().item() == np.float32(x.astype(np.float64).sum()) == 16777224.0
    assert pe.tensor(x).mean().item() == np.float32(x.astype(np.float64).sum()) / 8
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False)])
def test_mean(dim, keepdim): check_op(lambda x: x.mean(dim, keepdim), lambda x: x.mean(axis=dim, keepdims=keepdim), [(2, 3, 4)])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
def test_max_dim(dim, keepdim): check_op(lambda x: x.max(dim, keepdim)[0], lambda x: x.max(axis=dim, keepdims=keepdim), [(3, 4, 5)])
@pytest.mark.parametrize("dim", [0, 2])
def test_min_dim(dim): check_op(lambda x: x.min(dim)[0], lambda x: x.min(axis=dim), [(3, 4, 5)])
def test_max_all(): check_op(pe.max, np.max, [(3, 4)])
def test_min_all(): check_op(pe.min, np.min, [(3, 4)])
def test_amax_dims(): check_op(lambda x: pe.amax(x, (0, 2), keepdim=True), lambda x: x.max(axis=(0, 2), keepdims=True), [(3, 4, 5)])
@pytest.mark.parametrize("dim,unbiased", [(None, True), (0, False), (1, True), ((0, 1), True)])
def test_var(dim, unbiased): check_op(lambda x: x.var(dim, unbiased), lambda x: x.var(axis=dim, ddof=int(unbiased)), [(4, 5)])
def test_var_correction(): check_op(lambda x: pe.var(x, 1, correction=2), lambda x: x.var(axis=1, ddof=2), [(3, 6)])
@pytest.mark.parametrize("dim", [None, 1])
def test_std(dim): check_op(lambda x: x.std(dim, keepdim=True), lambda x: x.std(axis=dim, ddof=1, keepdims=True), [(4, 5)])


# ---- shape ----------------------------------------------------------------------------------
def test_reshape(): check_op(lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), [(2, 3, 4)])
def test_view(): check_op(lambda x: x.view((6, 4)), lambda x: x.reshape(6, 4), [(2, 3, 4)])
def test_flatten(): check_op(lambda x: x.flatten(1), lambda x: x.reshape(2, 12), [(2, 3, 4)])
def test_flatten_middle(): check_op(lambda x: pe.flatten(x, 1, 2), lambda x: x.reshape(2, 12, 5), [(2, 3, 4, 5)])
def test_permute(): check_op(lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [(2, 3, 4)])
def test_transpose(): check_op(lambda x: x.transpose(0, -1), lambda x: np.swapaxes(x, 0, -1), [(2, 3, 4)])
def test_T(): check_op(lambda x: x.T, lambda x: x.T, [(3, 4)])
def test_squeeze(): check_op(lambda x: x.squeeze(), np.squeeze, [(1, 3, 1, 4)])
def test_squeeze_dim(): check_op(lambda x: x.squeeze(2), lambda x: x.squeeze(2), [(1, 3, 1, 4)])
def test_unsqueeze(): check_op(lambda x: x.unsqueeze(-1), lambda x: x[..., None], [(3, 4)])
def test_expand(): check_op(lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), [(3, 1)])
def test_expand_keep(): check_op(lambda x: x.expand(-1, 5), lambda x: np.broadcast_to(x, (3, 5)), [(3, 1)])
def test_contiguous(): check_op(lambda x: x.T.contiguous(), lambda x: np.ascontiguousarray(x.T), [(3, 4)])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim): check_op(lambda a, b: pe.cat([a, b], dim), lambda a, b: np.concatenate([a, b], dim), [(2, 3), (2, 3)])
def test_cat_uneven(): check_op(lambda a, b, c: pe.cat((a, b, c), 1), lambda a, b, c: np.concatenate((a, b, c), 1), [(2, 1), (2, 3), (2, 2)])
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim): check_op(lambda a, b: pe.stack([a, b], dim), lambda a, b: np.stack([a, b], dim), [(2, 3), (2, 3)])
def test_split_size(): check_op(lambda x: x.split(2, 1), lambda x: tuple(np.split(x, [2, 4], 1)), [(3, 5)])
def test_split_sections(): check_op(lambda x: pe.split(x, [1, 3], 0), lambda x: tuple(np.split(x, [1], 0)), [(4, 2)])
def test_chunk(): check_op(lambda x: x.chunk(3, 0), lambda x: tuple(np.split(x, [3, 6], 0)), [(7, 2)])
def test_split_uses_one_piece(): check_op(lambda x: x.split(2, 1)[1], lambda x: x[:, 2:4], [(3, 5)])
def test_pad(): check_op(lambda x: pe.pad(x, (1, 2, 0, 1), value=0.5), lambda x: np.pad(x, ((0, 1), (1, 2)), constant_values=0.5), [(3, 4)])
def test_pad_negative_crops(): check_op(lambda x: pe.pad(x, (-1, 2)), lambda x: np.pad(x, ((0, 0), (0, 2)))[:, 1:], [(3, 4)])


# ---- indexing -------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, -1, slice(1, None), (slice(None), 2), (None, Ellipsis, 0), (slice(None, None, -1),),
                                   (slice(0, 3, 2), slice(1, 3))])
def test_getitem_basic(index): check_op(lambda x: x[index], lambda x: x[index], [(3, 4)])
def test_getitem_repeated_integers(): check_op(lambda x: x[pe.tensor([0, 2, 0, 0])], lambda x: x[[0, 2, 0, 0]], [(3, 4)])
def test_getitem_integer_list(): check_op(lambda x: x[[1, 1], [0, 3]], lambda x: x[[1, 1], [0, 3]], [(3, 4)])
def test_getitem_mask(): check_op(lambda x: x[x > 0], lambda x: x[x > 0], [(3, 4)])
def test_getitem_mixed(): check_op(lambda x: x[1:, pe.tensor([2, 2])], lambda x: x[1:, [2, 2]], [(3, 4)])
def test_gather(): check_op(lambda x: x.gather(1, pe.tensor([[0, 0], [3, 1], [2, 2]])), lambda x: np.take_along_axis(x, np.array([[0, 0], [3, 1], [2, 2]]), 1), [(3, 4)])
def test_gather_dim0(): check_op(lambda x: pe.gather(x, 0, pe.tensor([[2, 0, 0, 1]])), lambda x: np.take_along_axis(x, np.array([[2, 0, 0, 1]]), 0), [(3, 4)])
def test_index_select(): check_op(lambda x: x.index_select(1, pe.tensor([3, 0, 3])), lambda x: x[:, [3, 0, 3]], [(3, 4)])
def test_where(): check_op(lambda a, b: pe.where(a > b, a, b), lambda a, b: np.where(a > b, a, b), [(3, 4), (4,)])
def test_where_scalar(): check_op(lambda a: pe.where(a > 0, a, 0.0), lambda a: np.where(a > 0, a, 0.0), [(3, 4)])
def test_masked_fill(): check_op(lambda a: a.masked_fill(a < 0, -1.0), lambda a: np.where(a < 0, -1.0, a), [(3, 4)])


# ---- nn primitives --------------------------------------------------------------------------
def test_linear(): check_op(pe.linear, lambda x, w, b: x @ w.T + b, [(5, 3), (4, 3), (4,)])
def test_linear_no_bias(): check_op(lambda x, w: pe.linear(x, w), lambda x, w: x @ w.T, [(5, 3), (4, 3)])
def test_linear_3d(): check_op(pe.linear, lambda x, w, b: x @ w.T + b, [(2, 5, 3), (4, 3), (4,)])
def test_linear_1d(): check_op(pe.linear, lambda x, w, b: w @ x + b, [(3,), (4, 3), (4,)])
def test_layer_norm(): check_op(lambda x, w, b: pe.layer_norm(x, (4,), w, b),
                                lambda x, w, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b,
                                [(3, 4), (4,), (4,)])
def test_layer_norm_two_dims(): check_op(lambda x: pe.layer_norm(x, (3, 4)),
                                         lambda x: (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5),
                                         [(2, 3, 4)])
def test_embedding(): check_op(lambda w: pe.embedding(pe.tensor([[0, 3], [3, 3]]), w), lambda w: w[[[0, 3], [3, 3]]], [(5, 2)])


def test_embedding_padding_idx_gets_no_gradient():
    w = pe.randn(4, 3, requires_grad=True)
    pe.embedding(pe.tensor([1, 2, 1]), w, padding_idx=1).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[0] * 3, [0] * 3, [1] * 3, [0] * 3])


def test_dropout_is_reproducible_and_scaled():
    x = pe.ones(1000)
    pe.manual_seed(3)
    a = pe.dropout(x, 0.25)
    pe.manual_seed(3)
    b = pe.dropout(x, 0.25)
    np.testing.assert_array_equal(a.data, b.data)
    assert set(np.unique(a.data)) <= {0.0, np.float32(1 / 0.75)}
    assert 150 < (a.data == 0).sum() < 350
    assert pe.dropout(x, 0.5, training=False) is x


def test_dropout_gradient_uses_the_mask():
    x = pe.ones(50, dtype=pe.float64, requires_grad=True)
    y = pe.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)


# ---- argmax / comparisons (no gradient) -------------------------------------------------------
def test_argmax(): check_op(lambda x: x.argmax(1), lambda x: x.argmax(1), [(3, 5)], grad=False)
def test_argmin_all(): check_op(pe.argmin, np.argmin, [(3, 5)], grad=False)
def test_max_indices(): check_op(lambda x: x.max(1).indices, lambda x: x.argmax(1), [(3, 5)], grad=False)
def test_min_values(): check_op(lambda x: x.min(0, keepdim=True).values, lambda x: x.min(0, keepdims=True), [(3, 5)])


@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparisons_give_bool_tensors(op):
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[2.0], [3.0]])
    out = getattr(pe.tensor(a, requires_grad=True), op)(pe.tensor(b))
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.data, getattr(a, op)(b))


# ---- dtype promotion and errors ---------------------------------------------------------------
def test_float32_with_python_scalars_stays_float32():
    x = pe.ones(3)
    for y in (x * 0.5, 0.5 * x, x + 1, x / 3, x ** 2.0, 2.0 - x, x * np.float64(2.0)):
        assert y.dtype == pe.float32


def test_int_and_float_promote_like_pytorch():
    i = pe.tensor([1, 2, 3])
    assert i.dtype == pe.int64
    assert (i + 1).dtype == pe.int64
    assert (i * 0.5).dtype == pe.float32
    assert (i / 2).dtype == pe.float32
    assert (i + pe.ones(3, dtype=pe.float64)).dtype == pe.float64
    assert (pe.ones(3) + pe.ones(3, dtype=pe.float64)).dtype == pe.float64


@pytest.mark.parametrize("fn,message", [
    (lambda: pe.ones(2, 3) + pe.ones(4), r"add: shapes \(2, 3\) and \(4,\) cannot broadcast"),
    (lambda: pe.ones(2, 3) * pe.ones(2, 2), r"mul: shapes \(2, 3\) and \(2, 2\) cannot broadcast"),
    (lambda: pe.ones(2, 3) @ pe.ones(2, 3), r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied"),
    (lambda: pe.ones(2, 3).reshape(4, 2), r"reshape: shape \(4, 2\) is invalid for input of shape \(2, 3\)"),
    (lambda: pe.ones(2, 3).sum(2), r"sum: dimension out of range"),
    (lambda: pe.cat([pe.ones(2, 3), pe.ones(3, 2)]), r"cat: shapes \(2, 3\), \(3, 2\)"),
    (lambda: pe.linear(pe.ones(2, 5), pe.ones(3, 4)), r"linear: input has 5 features but weight expects 4"),
    (lambda: pe.ones(3)[5], r"getitem: index 5 is invalid for shape \(3,\)"),
    (lambda: pe.embedding(pe.tensor([7]), pe.ones(3, 2)), r"embedding: index 7 is out of range for 3 embeddings"),
    (lambda: pe.tensor([1, 2], requires_grad=True), r"only floating-point tensors can require gradients"),
    (lambda: pe.ones(3).mean(dtype=pe.int64), r"mean: input dtype must be floating point"),
])
def test_error_messages_name_the_op_and_shapes(fn, message):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError), match=message):
        fn()

import numpy as np
import pytest

import pyengine as pe


def test_diamond_graph_accumulates_both_paths():
    x = pe.tensor([2.0, 3.0], dtype=pe.float64, requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1)


def test_deep_chain_does_not_recurse():
    x = pe.tensor([1.5], requires_grad=True)
    t = x
    for _ in range(100_000):
        t = t * 1.0
    t.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0])


def test_gradients_accumulate_across_backward_calls():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])


def test_leaf_gradients_never_share_memory():
    # a + b hands both leaves the same gradient array, and backward(gradient) hands the
    # caller's array to a leaf root: each .grad is its own, so accumulating into one
    # changes nothing else.
    a, b = pe.ones(3, requires_grad=True), pe.ones(3, requires_grad=True)
    (a + b).backward(pe.tensor([1.0, 2.0, 3.0]))
    (a + b).backward(pe.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(a.grad.data, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(b.grad.data, [2.0, 4.0, 6.0])
    given = np.array([1.0, 1.0, 1.0], np.float32)
    leaf = pe.zeros(3, requires_grad=True)
    leaf.backward(pe.from_numpy(given))
    leaf.backward(pe.from_numpy(given))
    np.testing.assert_array_equal(given, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(leaf.grad.data, [2.0, 2.0, 2.0])
    hooked = pe.zeros(3, requires_grad=True)
    hooked.register_hook(lambda g: given)  # the hook's array stays the caller's
    hooked.sum().backward()
    hooked.sum().backward()
    np.testing.assert_array_equal(given, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(hooked.grad.data, [2.0, 2.0, 2.0])


def test_second_backward_through_freed_graph_fails_clearly():
    x = pe.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()


def test_backward_on_non_scalar_needs_gradient():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        (x * 2.0).backward()


def test_in_place_change_of_saved_input_is_caught():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    w = pe.tensor([3.0, 4.0])
    y = (x * w).sum()
    w.data[0] = 5.0
    w._bump_version()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_no_grad_records_nothing():
    x = pe.tensor([1.0], requires_grad=True)
    with pe.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf


def test_matmul_gradients_match_formula(rng):
    a = rng.standard_normal((5, 3))
    b = rng.standard_normal((3, 4))
    ta = pe.tensor(a, requires_grad=True)
    tb = pe.tensor(b, requires_grad=True)
    (ta @ tb).sum().backward()
    np.testing.assert_allclose(ta.grad.data, np.ones((5, 4)) @ b.T)
    np.testing.assert_allclose(tb.grad.data, a.T @ np.ones((5, 4)))


def test_backward_with_gradient_on_non_scalar():
    x = pe.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(pe.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0, 0.0])


def test_retain_graph_allows_a_second_backward():
    x = pe.tensor([2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, [8.0])


def test_no_grad_as_decorator_and_enable_grad_inside():
    x = pe.tensor([1.0], requires_grad=True)

    @pe.no_grad()
    def f():
        with pe.enable_grad():
            inner = x * 2
        return x * 2, inner

    outer, inner = f()
    assert not outer.requires_grad and inner.requires_grad
    assert pe.is_grad_enabled()


def test_set_grad_enabled():
    x = pe.tensor([1.0], requires_grad=True)
    with pe.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_hooks_see_and_replace_gradients():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    y = x * 3
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()
    assert seen == [[1.0, 1.0], [30.0, 30.0]]
    np.testing.assert_allclose(x.grad.data, [30.0, 30.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.data, [4.0, 8.0])


def test_leaf_gradient_of_a_broadcast_input_has_its_shape():
    b = pe.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = pe.ones(4, 3)
    (x * b).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_allclose(b.grad.data, [4.0, 4.0, 4.0])


@pytest.mark.parametrize("n", [7, (1 << 16) + 1])  # a filled gradient, and a broadcast view past the fill size
def test_reduction_gradients_spread_back_over_the_input(n):
    x = pe.ones((n, 2), requires_grad=True)
    (x.mean() + x.sum(dim=1).mean() + x.amax(dim=0).sum()).backward()
    # Every row ties for its column's max, so each shares that gradient: 1/n.
    np.testing.assert_allclose(x.grad.data, np.full((n, 2), 1 / (2 * n) + 2 / n), rtol=1e-5)


def test_unused_output_of_a_multi_output_op_gets_zero_gradient():
    x = pe.arange(6.0).reshape(2, 3).requires_grad_()
    a, b = x.split(2, dim=1)
    (a * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[2, 2, 0], [2, 2, 0]])


def test_in_place_on_a_non_leaf_is_recorded():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1.0)
    y.mul_(x)  # y = (2x + 1) * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data + 1)


def test_in_place_change_of_a_saved_output_is_caught():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="Exp.backward: a tensor of shape \\(2,\\) .* modified by an in-place"):
        y.sum().backward()


def test_setitem_on_a_non_leaf_routes_gradients():
    x = pe.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = pe.tensor([5.0], requires_grad=True)
    y = x * 1
    y[1:2] = v * 2
    (y * pe.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 0.0, 100.0])
    np.testing.assert_allclose(v.grad.data, [20.0])


def test_getitem_gradient_scatters_repeated_indices():
    x = pe.zeros(3, requires_grad=True)
    x[pe.tensor([0, 0, 2, 0])].sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 0.0, 1.0])


def test_backward_without_requires_grad_fails_clearly():
    with pytest.raises(RuntimeError, match="does not require grad"):
        pe.ones(2).sum().backward()


def test_backward_with_wrong_gradient_shape_fails_clearly():
    x = pe.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has shape \(2,\)"):
        (x * 2).backward(pe.ones(3))


def test_gradcheck_reports_the_worst_element():
    class WrongSquare(pe.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return grad * a  # should be 2 * a

    x = pe.tensor([1.0, -3.0], dtype=pe.float64, requires_grad=True)
    with pytest.raises(pe.autograd.GradcheckError, match=r"input 0 \(shape \(2,\)\) differs at index \(1,\)"):
        pe.autograd.gradcheck(WrongSquare.apply, (x,))


def test_gradcheck_multiple_outputs_and_skipped_inputs():
    x = pe.randn(3, 4, dtype=pe.float64, requires_grad=True)
    c = pe.randn(4, dtype=pe.float64)  # no requires_grad: passed through, not checked
    assert pe.autograd.gradcheck(lambda a, b, k: (a * b * k, (a + b).max(1)[0]), (x, c, 2.0))
    assert pe.autograd.gradcheck(lambda a: a * 2, pe.randn(2, requires_grad=True))  # float32 input promoted


def test_mlp_gradients_pass_gradcheck():
    x = pe.randn(5, 4, dtype=pe.float64)
    w1 = pe.randn(6, 4, dtype=pe.float64, requires_grad=True)
    b1 = pe.randn(6, dtype=pe.float64, requires_grad=True)
    w2 = pe.randn(3, 6, dtype=pe.float64, requires_grad=True)
    labels = pe.tensor([0, 2, 1, 1, 0])

    def loss(w1, b1, w2):
        logp = pe.linear(pe.linear(x, w1, b1).tanh(), w2).log_softmax(-1)
        return -logp.gather(1, labels[:, None]).mean()

    assert pe.autograd.gradcheck(loss, (w1, b1, w2))

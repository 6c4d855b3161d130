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

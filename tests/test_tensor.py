import numpy as np
import pytest

import pyengine as pe


def test_default_dtypes_follow_pytorch():
    assert pe.tensor([1.0, 2.0]).dtype == pe.float32
    assert pe.tensor([1, 2]).dtype == pe.int64
    assert pe.tensor([True, False]).dtype == pe.bool
    assert pe.tensor(np.zeros(2)).dtype == pe.float64  # arrays keep their dtype
    assert pe.zeros(2, 3).dtype == pe.float32 and pe.zeros(2, 3).shape == (2, 3)
    assert pe.tensor([1, 2], dtype=pe.float64).dtype == pe.float64


def test_numpy_is_a_view_and_asarray_does_not_copy():
    t = pe.zeros(3)
    t.numpy()[1] = 5.0
    assert t[1].item() == 5.0
    assert np.asarray(t) is t.data
    a = np.arange(4.0)
    f = pe.from_numpy(a)
    a[0] = 9.0
    assert f[0].item() == 9.0
    c = pe.tensor(a)
    a[0] = 1.0
    assert c[0].item() == 9.0  # tensor() copies


def test_basic_accessors():
    t = pe.arange(6).reshape(2, 3)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numel() == 6 and len(t) == 2
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert pe.tensor([2.5]).item() == 2.5
    with pytest.raises(ValueError, match="only one-element"):
        t.item()
    assert [r.tolist() for r in t] == [[0, 1, 2], [3, 4, 5]]


def test_casts():
    t = pe.tensor([1.7, -2.2])
    assert t.double().dtype == pe.float64
    assert t.long().tolist() == [1, -2]
    assert t.to(pe.float64).dtype == pe.float64 and t.to("cpu") is t
    assert t.type() == "pyengine.FloatTensor" and t.type(pe.int64).dtype == pe.int64
    assert pe.tensor([1, 0]).bool().dtype == pe.bool and pe.tensor([1, 2]).float().dtype == pe.float32


def test_cast_is_differentiable():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    x.double().sum().backward()
    assert x.grad.dtype == pe.float32 and x.grad.tolist() == [1.0, 1.0]


def test_clone_copies_and_keeps_the_graph():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and not c.is_leaf
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_detach_shares_memory_and_leaves_the_graph():
    x = pe.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    assert x.detach().data is x.data


def test_repr_is_readable():
    assert repr(pe.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(pe.tensor([1, 2])) == "tensor([1, 2])"
    assert "requires_grad=True" in repr(pe.tensor([1.0], requires_grad=True))
    assert "dtype=pyengine.float64" in repr(pe.tensor([1.0], dtype=pe.float64))
    assert "grad_fn=<MulBackward>" in repr(pe.tensor([1.0], requires_grad=True) * 2)


@pytest.mark.parametrize("factory,expected", [
    (lambda: pe.ones(2, dtype=pe.int64), [1, 1]),
    (lambda: pe.full((2,), 7.0), [7.0, 7.0]),
    (lambda: pe.arange(1, 7, 2), [1, 3, 5]),
    (lambda: pe.arange(0.0, 1.0, 0.25), [0.0, 0.25, 0.5, 0.75]),
    (lambda: pe.linspace(0, 1, 3), [0.0, 0.5, 1.0]),
    (lambda: pe.eye(2), [[1.0, 0.0], [0.0, 1.0]]),
    (lambda: pe.zeros_like(pe.ones(2, dtype=pe.float64)), [0.0, 0.0]),
    (lambda: pe.ones_like(pe.tensor([1, 2])), [1, 1]),
    (lambda: pe.full_like(pe.ones(2), 3.0), [3.0, 3.0]),
])
def test_factories(factory, expected):
    assert factory().tolist() == expected


def test_factory_dtypes():
    assert pe.arange(3).dtype == pe.int64 and pe.arange(3.0).dtype == pe.float32
    assert pe.zeros_like(pe.ones(2, dtype=pe.float64)).dtype == pe.float64
    assert pe.empty(2, 3).shape == (2, 3) and pe.empty_like(pe.ones(4)).shape == (4,)
    assert pe.randint(0, 5, (100,)).dtype == pe.int64
    assert pe.rand(3, dtype=pe.float64).dtype == pe.float64
    assert pe.randn_like(pe.ones(2, 2)).shape == (2, 2) and pe.rand_like(pe.ones(3)).dtype == pe.float32


def test_manual_seed_makes_random_factories_reproducible():
    def draw():
        return [pe.rand(3).tolist(), pe.randn(2, 2).tolist(), pe.randint(0, 10, (5,)).tolist()]

    pe.manual_seed(42)
    first = draw()
    pe.manual_seed(42)
    assert draw() == first
    r = pe.randint(3, 6, (200,)).data
    assert r.min() >= 3 and r.max() < 6
    assert isinstance(pe.random.default_generator(), np.random.Generator)


def test_setitem_writes_in_place_and_bumps_version():
    t = pe.zeros(3, 4)
    v = t._version
    t[1] = 2.0
    t[:, 0] = pe.tensor([7.0, 8.0, 9.0])
    t[t > 8] = -1.0
    assert t._version == v + 3
    np.testing.assert_array_equal(t.data[:, 0], [7, 8, -1])
    np.testing.assert_array_equal(t.data[1, 1:], [2, 2, 2])


def test_views_share_the_version_counter():
    t = pe.zeros(2, 3)
    r = t.reshape(6)
    r[0] = 1.0
    assert t.data[0, 0] == 1.0 and t._version == r._version == 1
    t[0][1] = 2.0
    t.T[2, 1] = 3.0
    assert t._version == 3 and r._version == 3


@pytest.mark.parametrize("op", [lambda t: t.add_(1), lambda t: t.sub_(1), lambda t: t.mul_(2), lambda t: t.div_(2),
                                lambda t: t.zero_(), lambda t: t.fill_(3), lambda t: t.copy_(pe.ones(3)),
                                lambda t: t.clamp_(0, 1)])
def test_in_place_ops_bump_version_and_keep_storage(op):
    t = pe.tensor([0.5, -1.0, 2.0])
    data, v = t.data, t._version
    assert op(t) is t and t.data is data and t._version == v + 1


def test_in_place_values():
    t = pe.tensor([1.0, 2.0, 3.0])
    t.add_(pe.tensor([1.0, 1.0, 1.0]), alpha=2).mul_(2).sub_(1).div_(2)
    np.testing.assert_allclose(t.data, [2.5, 3.5, 4.5])
    t += 1
    t -= pe.ones(3)
    t *= 2
    np.testing.assert_allclose(t.data, [5.0, 7.0, 9.0])
    t.clamp_(max=6.0)
    np.testing.assert_allclose(t.data, [5.0, 6.0, 6.0])


def test_large_arithmetic_on_the_threaded_kernels_gives_numpys_bytes(rng, monkeypatch):
    from pyengine.ops import arithmetic
    from pyengine.ops.arithmetic import THREADED_MIN
    used = []
    for name, kernel in list(arithmetic._THREADED.items()):
        monkeypatch.setitem(arithmetic._THREADED, name, lambda *args, _k=kernel, _n=name: used.append(_n) or _k(*args))
    a, b = (rng.standard_normal(THREADED_MIN + 5).astype(np.float32) for _ in range(2))
    ta, tb = pe.tensor(a), pe.tensor(b)
    for got, want in ((ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b), (ta * 0.01, a * 0.01),
                      (ta - 2.5, a - 2.5), (ta * pe.tensor(b[::-1]), a * b[::-1]), (ta[::2] + tb[::2], a[::2] + b[::2])):
        assert got.data.tobytes() == want.tobytes()
    t = pe.tensor(a.copy())
    data, v = t.data, t._version
    t -= tb
    t *= 0.3
    t /= pe.tensor(b)
    assert t.data is data and t._version == v + 3
    assert t.data.tobytes() == ((a - b) * np.float32(0.3) / b).tobytes()
    assert used == ["add", "sub", "mul", "div", "mul", "sub", "mul", "sub", "mul", "div"]
    used.clear()
    huge = pe.tensor(np.full(THREADED_MIN, 1e30, np.float32))
    # A denormal factor, and one beyond float32's range, stay with NumPy (which keeps the
    # first and warns on the second); so does a number on the left.
    assert (huge * 1e-39).data.tobytes() == (huge.data * 1e-39).tobytes()
    with np.errstate(over="ignore"):
        assert (huge * 1e300).data.tobytes() == (huge.data * np.float32(np.inf)).tobytes()
    assert (2.0 * huge).data.tobytes() == (2.0 * huge.data).tobytes()
    assert used == []
    overlapping, expected = pe.tensor(a.copy()), a.copy()
    overlapping[1:] += overlapping[:-1]  # NumPy's buffered result, not a running sum
    expected[1:] += expected[:-1]
    assert overlapping.data.tobytes() == expected.tobytes()


def test_large_in_place_update_of_a_saved_tensor_is_caught():
    from pyengine.ops.arithmetic import THREADED_MIN
    w = pe.ones(THREADED_MIN, requires_grad=True)
    loss = (w * w).sum()
    with pe.no_grad():
        w -= 0.5
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = pe.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="setitem: a leaf tensor that requires grad"):
        w[0] = 2.0
    with pe.no_grad():
        w.sub_(pe.tensor([0.5, 0.5, 0.5]))
        w[1] = 0.0
    np.testing.assert_allclose(w.data, [0.5, 0.0, 0.5])
    assert w.is_leaf and w.requires_grad


def test_in_place_broadcast_that_grows_the_target_fails():
    with pytest.raises(ValueError, match=r"add_: shape \(2, 3\) cannot broadcast"):
        pe.ones(3).add_(pe.ones(2, 3))


def test_tensor_and_ndarray_operands_give_tensors():
    t = pe.ones(3)
    assert isinstance(np.ones(3) + t, pe.Tensor) and isinstance(t * np.ones(3, np.float32), pe.Tensor)

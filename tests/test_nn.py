import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import pyengine as pe
import pyengine.nn as nn
import pyengine.optim as optim


class Affine(nn.Module):
    """y = x @ weight + bias, with a persistent and a non-persistent buffer."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(np.arange(n_in * n_out, dtype=np.float32).reshape(n_in, n_out))
        self.bias = nn.Parameter(np.zeros(n_out, dtype=np.float32))
        self.register_buffer("calls", pe.tensor(np.zeros((), dtype=np.int64)))
        self.register_buffer("scratch", pe.tensor(np.zeros(3, dtype=np.float32)), persistent=False)

    def forward(self, x):
        return x @ self.weight + self.bias

    def extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = Affine(3, 4)
        self.block = nn.Sequential(Affine(4, 4), nn.ModuleList([Affine(4, 2)]))
        self.heads = nn.ModuleDict({"a": Affine(2, 1)})
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))


NET_KEYS = ["scale", "fc1.weight", "fc1.bias", "fc1.calls", "block.0.weight", "block.0.bias", "block.0.calls",
            "block.1.0.weight", "block.1.0.bias", "block.1.0.calls",
            "heads.a.weight", "heads.a.bias", "heads.a.calls"]


def test_parameter_is_a_leaf_that_requires_grad_and_shares_memory():
    a = np.zeros(3, dtype=np.float32)
    p = nn.Parameter(a)
    assert p.requires_grad and p.is_leaf and p.data is a
    assert not nn.Parameter(pe.tensor([1.0]), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_registries_and_pytorch_key_names():
    net = Net()
    assert list(net.state_dict()) == NET_KEYS
    assert [n for n, _ in net.named_parameters()] == [k for k in NET_KEYS if not k.endswith("calls")]
    assert [n for n, _ in net.named_buffers()][:2] == ["fc1.calls", "fc1.scratch"]
    assert [n for n, _ in net.named_children()] == ["fc1", "block", "heads"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "block", "block.0", "block.1", "block.1.0",
                                                   "heads", "heads.a"]
    assert len(list(net.parameters())) == 9 and len(list(net.buffers())) == 8
    assert net.get_submodule("block.1.0") is net.block[1][0]


def test_shared_parameters_are_listed_once():
    net = Net()
    shared = nn.Sequential(net.fc1, net.fc1)
    assert len(list(shared.parameters())) == 2
    assert len(list(shared.named_parameters(remove_duplicate=False))) == 4


def test_attribute_assignment_rules():
    m = Affine(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = pe.tensor([1.0])
    m.weight = None
    assert "weight" not in dict(m.named_parameters())
    m.calls = pe.tensor(5)
    assert m.state_dict()["calls"].item() == 5
    with pytest.raises(TypeError, match="buffer 'calls'"):
        m.calls = 3
    with pytest.raises(KeyError, match="empty or contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing
    del m.bias
    assert "bias" not in dict(m.named_parameters())


def test_train_eval_propagate():
    net = Net()
    assert net.training and net.heads.a.training
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad():
    m = Affine(2, 3)
    out = m(pe.tensor(np.ones((1, 2), np.float32)))
    out.sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.data, 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_state_dict_round_trip_shares_memory_and_loads_numpy():
    src, dst = Net(), Net()
    for p in src.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape)
    sd = src.state_dict()
    assert sd["fc1.weight"].data is src.fc1.weight.data and not sd["fc1.weight"].requires_grad
    result = dst.load_state_dict({k: v.numpy().astype(np.float64) for k, v in sd.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.data, sd[k].data)
        assert v.dtype == sd[k].dtype
    # In place: the Parameter objects (what an optimizer holds) are unchanged.
    assert dst.fc1.weight is dict(dst.named_parameters())["fc1.weight"]


def test_strict_loading_names_missing_and_unexpected_keys():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["fc9.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "fc1.bias"') as err:
        net.load_state_dict(sd)
    assert 'Unexpected key(s) in state_dict: "fc9.weight"' in str(err.value)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["fc9.weight"]


def test_shape_mismatch_names_key_and_both_shapes():
    net = Net()
    sd = net.state_dict()
    sd["fc1.weight"] = np.zeros((4, 3))
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: .*shape \(4, 3\).*is \(3, 4\)"):
        net.load_state_dict(sd, strict=False)


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert net.fc1.calls.dtype == np.int64
    net.float()
    assert net.fc1.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(np.int32)
    assert net.to("cpu") is net and net.to("cpu", np.float64).fc1.weight.dtype == np.float64
    with pytest.raises(TypeError, match="expected a dtype or 'cpu', got 'cuda'"):
        net.to("cuda")


def test_apply_visits_children_then_self():
    order = []
    Net().apply(lambda m: order.append(type(m).__name__))
    assert order[-1] == "Net" and order[0] == "Affine"


def test_repr_is_pytorch_like():
    text = repr(Net())
    assert text.startswith("Net(\n  (fc1): Affine(3, 4)\n  (block): Sequential(\n    (0): Affine(4, 4)\n")
    assert "(heads): ModuleDict(\n    (a): Affine(2, 1)\n  )" in text


def test_containers():
    seq = nn.Sequential(OrderedDict([("first", Affine(2, 2)), ("second", Affine(2, 3))]))
    assert list(dict(seq.named_children())) == ["first", "second"]
    assert seq[-1] is seq.second and len(seq[0:1]) == 1
    out = seq(pe.tensor(np.ones((1, 2), np.float32)))
    assert out.shape == (1, 3)
    with pytest.raises(IndexError, match="out of range"):
        seq[2]
    ml = nn.ModuleList([Affine(1, 1)])
    ml.append(Affine(1, 2))
    ml.insert(0, Affine(1, 3))
    assert [m.weight.shape[1] for m in ml] == [3, 1, 2]
    del ml[0]
    assert [k for k, _ in ml.named_children()] == ["0", "1"]
    md = nn.ModuleDict()
    md["x"] = Affine(1, 1)
    assert "x" in md and list(md.keys()) == ["x"]


def test_deepcopy_gives_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    twin.fc1.weight.data[...] = -1
    assert net.fc1.weight.data[0, 0] == 0
    assert isinstance(twin.fc1.weight, nn.Parameter)


# ---- nn.init -------------------------------------------------------------------------------
from pyengine.nn import init  # noqa: E402


def empty(*shape, dtype=np.float32):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("shape,fans", [((5, 3), (3, 5)), ((8, 4, 3, 3), (36, 72)), ((6, 2, 7), (14, 42))])
def test_fan_in_and_fan_out(shape, fans):
    assert init._calculate_fan_in_and_fan_out(empty(*shape)) == fans


def test_calculate_gain():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2 / 6))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("conv2d") == 1 and init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(empty(4))


def uniform_bound_ok(t, bound):
    data = t.data.astype(np.float64)
    assert np.all(np.abs(data) <= bound * (1 + 1e-6))
    # a uniform draw of this size comes within 2 % of both ends and has variance bound^2 / 3
    assert data.max() > 0.98 * bound and data.min() < -0.98 * bound
    assert data.var() == pytest.approx(bound ** 2 / 3, rel=0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_statistics(dtype):
    w = empty(200, 300, dtype=dtype)
    init.kaiming_uniform_(w, a=0, mode="fan_in", nonlinearity="relu")
    uniform_bound_ok(w, math.sqrt(2) * math.sqrt(3 / 300))
    init.kaiming_uniform_(w, mode="fan_out")  # leaky_relu gain with a=0: sqrt(2)
    uniform_bound_ok(w, math.sqrt(2) * math.sqrt(3 / 200))
    init.xavier_uniform_(w, gain=2.0)
    uniform_bound_ok(w, 2.0 * math.sqrt(6 / 500))
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 300), rel=0.03) and abs(w.data.mean()) < 3e-3
    init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 500), rel=0.03)
    init.normal_(w, mean=3.0, std=0.5)
    assert w.data.mean() == pytest.approx(3.0, abs=0.01) and w.data.std() == pytest.approx(0.5, rel=0.03)
    init.uniform_(w, -2, 5)
    assert w.data.min() >= -2 and w.data.max() <= 5 and w.data.mean() == pytest.approx(1.5, abs=0.03)
    init.constant_(w, 0.25)
    assert np.all(w.data == 0.25) and w.dtype == dtype
    init.zeros_(w)
    init.ones_(w)
    assert np.all(w.data == 1)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3)])
def test_orthogonal(shape):
    w = empty(*shape, dtype=np.float64)
    init.orthogonal_(w, gain=2.0)
    flat = w.data.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-12)


def test_init_uses_the_given_generator():
    a, b = empty(3, 4), empty(3, 4)
    init.normal_(a, generator=np.random.default_rng(5))
    init.normal_(b, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(a.data, b.data)


# ---- layers: construction, default initialisation, PyTorch's state-dict keys ------------------


def test_linear_and_conv_default_init_follow_pytorch():
    lin = nn.Linear(400, 30)
    uniform_bound_ok(lin.weight, 1 / math.sqrt(400))  # kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in))
    assert np.all(np.abs(lin.bias.data) <= 1 / math.sqrt(400))
    conv = nn.Conv2d(16, 64, 5, groups=2)
    assert conv.weight.shape == (64, 8, 5, 5)
    uniform_bound_ok(conv.weight, 1 / math.sqrt(8 * 25))
    assert nn.ConvTranspose2d(6, 4, 3, groups=2).weight.shape == (6, 2, 3, 3)
    assert nn.Conv1d(3, 5, 4, bias=False).bias is None
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == np.float64


def test_layer_state_dict_keys_match_pytorch():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == np.int64
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []
    assert list(nn.LayerNorm((2, 3)).state_dict()) == ["weight", "bias"]
    emb = nn.Embedding(5, 2, padding_idx=-1)
    assert emb.padding_idx == 4 and np.all(emb.weight.data[4] == 0)


def test_layer_reprs_match_pytorch():
    assert repr(nn.Conv2d(1, 32, 3, 1)) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    assert (repr(nn.Conv2d(3, 8, (3, 5), stride=2, padding=1, bias=False))
            == "Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), bias=False)")
    assert repr(nn.Linear(9216, 128)) == "Linear(in_features=9216, out_features=128, bias=True)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.BatchNorm1d(64)) == "BatchNorm1d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


class MnistNet(nn.Module):
    """The classic PyTorch MNIST example's network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)


# Keys and shapes of torch's MnistNet().state_dict(), as PyTorch names them.
TORCH_MNIST_STATE = {"conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,), "conv2.weight": (64, 32, 3, 3),
                     "conv2.bias": (64,), "fc1.weight": (128, 9216), "fc1.bias": (128,), "fc2.weight": (10, 128),
                     "fc2.bias": (10,)}


def test_a_pytorch_state_dict_exported_as_numpy_loads_unchanged():
    net = MnistNet()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == TORCH_MNIST_STATE
    rng = np.random.default_rng(0)
    exported = OrderedDict((k, rng.standard_normal(s).astype(np.float32)) for k, s in TORCH_MNIST_STATE.items())
    net.load_state_dict(exported)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.data, exported[k])


# ---- clip_grad ---------------------------------------------------------------------------------


def with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(g))
        p.grad = pe.Tensor(np.array(g))
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm(norm_type):
    params = with_grads(np.array([3.0, -4.0]), np.array([[12.0]]))
    flat = np.array([3.0, -4.0, 12.0])
    total = np.abs(flat).max() if norm_type == math.inf else np.linalg.norm(flat, ord=norm_type)
    returned = nn.utils.clip_grad_norm_(params, max_norm=2.0, norm_type=norm_type)
    assert returned.item() == pytest.approx(total)
    clipped = np.concatenate([p.grad.data.ravel() for p in params])
    np.testing.assert_allclose(clipped, flat * 2.0 / (total + 1e-6))
    nn.utils.clip_grad_norm_(params, max_norm=100.0)  # already small: unchanged
    np.testing.assert_allclose(np.concatenate([p.grad.data.ravel() for p in params]), clipped)


def test_clip_grad_norm_nonfinite_and_value():
    params = with_grads(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    params = with_grads(np.array([-3.0, 0.5, 2.0], dtype=np.float32))
    nn.utils.clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.data, [-1.0, 0.5, 1.0])


# ---- layers: forward against NumPy, gradients through gradcheck --------------------------------
import reference as ref  # noqa: E402
from pyengine.autograd.gradcheck import gradcheck  # noqa: E402

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def check_layer(layer, x, expected, dtype):
    """layer(x) in `dtype` against expected(x64, params64), the NumPy formula in float64."""
    layer.to(dtype)
    out = layer(pe.tensor(x.astype(dtype)))
    params = {name: p.data.astype(np.float64) for name, p in layer.named_parameters()}
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, expected(x.astype(np.float64), params), **TOL[dtype])
    return out


def gradcheck_layer(layer, x):
    """gradcheck of the layer with respect to its input and every parameter: the
    checked float64 copies stand in for the parameters during each call."""
    layer.double()
    names = [name for name, _ in layer.named_parameters()]
    owners = [layer.get_submodule(n.rpartition(".")[0]) for n in names]
    originals = list(layer.parameters())

    def call(inp, *params):
        for owner, name, p in zip(owners, names, params):
            owner._parameters[name.rpartition(".")[2]] = p
        try:
            return layer(inp)
        finally:
            for owner, name, p in zip(owners, names, originals):
                owner._parameters[name.rpartition(".")[2]] = p

    inputs = [pe.tensor(x, dtype=np.float64, requires_grad=x.dtype.kind == "f"), *originals]
    assert gradcheck(call, inputs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (1, 7)])
def test_linear(shape, dtype, rng):
    lin = nn.Linear(7, 3)
    check_layer(lin, rng.standard_normal(shape), lambda x, p: x @ p["weight"].T + p["bias"], dtype)
    check_layer(nn.Linear(7, 2, bias=False), rng.standard_normal(shape), lambda x, p: x @ p["weight"].T, dtype)


def test_linear_gradients(rng):
    gradcheck_layer(nn.Linear(4, 3), rng.standard_normal((2, 4)))


CONV_CASES = [dict(), dict(stride=2, padding=1), dict(padding=2, dilation=2, groups=2), dict(bias=False)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d(kw, dtype, rng):
    conv = nn.Conv2d(4, 6, 3, **kw)
    s, p, d = conv.stride, conv.padding, conv.dilation
    check_layer(conv, rng.standard_normal((2, 4, 9, 8)),
                lambda x, q: ref.conv2d(x, q["weight"], q.get("bias"), s, (p[0], p[0], p[1], p[1]), d, conv.groups),
                dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d(dtype, rng):
    conv = nn.Conv1d(3, 5, 4, stride=2, padding=1)
    expected = lambda x, q: ref.conv2d(x[:, :, None, :], q["weight"][:, :, None, :], q["bias"], (1, 2),  # noqa: E731
                                       (0, 0, 1, 1))[:, :, 0, :]
    check_layer(conv, rng.standard_normal((2, 3, 11)), expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d(dtype, rng):
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    check_layer(conv, rng.standard_normal((2, 4, 5, 4)),
                lambda x, q: ref.conv_transpose2d(x, q["weight"], q["bias"], (2, 2), (1, 1), (1, 1), (1, 1), 2),
                dtype)


def test_conv_gradients(rng):
    gradcheck_layer(nn.Conv2d(2, 3, 2, stride=2, padding=1), rng.standard_normal((1, 2, 4, 3)))
    gradcheck_layer(nn.ConvTranspose2d(2, 3, 2, stride=2), rng.standard_normal((1, 2, 2, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_layers(dtype, rng):
    x = rng.standard_normal((2, 3, 7, 6))
    check_layer(nn.MaxPool2d(2), x, lambda x, p: ref.max_pool2d(x, (2, 2), (2, 2))[0], dtype)
    check_layer(nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), x,
                lambda x, p: ref.max_pool2d(x, (3, 3), (2, 2), (1, 1), ceil_mode=True)[0], dtype)
    check_layer(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), x,
                lambda x, p: ref.avg_pool2d(x, (3, 3), (2, 2), (1, 1), count_include_pad=False), dtype)
    check_layer(nn.AdaptiveAvgPool2d((3, 2)), x, lambda x, p: ref.adaptive_avg_pool2d(x, (3, 2)), dtype)
    check_layer(nn.AdaptiveAvgPool2d(1), x, lambda x, p: x.mean(axis=(2, 3), keepdims=True), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm2d, (4, 3, 5, 2)), (nn.BatchNorm1d, (6, 3)),
                                       (nn.BatchNorm1d, (4, 3, 5))])
def test_batch_norm_train_then_eval(cls, shape, dtype, rng):
    bn = cls(3, momentum=0.2).to(dtype)
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    mean, var = np.zeros(3), np.ones(3)
    for step in range(2):
        x = rng.standard_normal(shape) * 2 + 1
        out = bn(pe.tensor(x.astype(dtype)))
        y, mean, var = ref.batch_norm(x, mean, var, bn.weight.data, bn.bias.data, True, 0.2, 1e-5)
        np.testing.assert_allclose(out.data, y, **TOL[dtype])
        np.testing.assert_allclose(bn.running_mean.data, mean, **TOL[dtype])
        np.testing.assert_allclose(bn.running_var.data, var, **TOL[dtype])
        assert bn.num_batches_tracked.item() == step + 1
    bn.eval()
    x = rng.standard_normal(shape)
    out = bn(pe.tensor(x.astype(dtype)))
    np.testing.assert_allclose(out.data, ref.batch_norm(x, mean, var, bn.weight.data, bn.bias.data)[0], **TOL[dtype])
    assert bn.num_batches_tracked.item() == 2


def test_batch_norm_options(rng):
    x = [rng.standard_normal((8, 2)) for _ in range(3)]
    cumulative = nn.BatchNorm1d(2, momentum=None, affine=False).double()
    for xi in x:
        cumulative(pe.tensor(xi))
    np.testing.assert_allclose(cumulative.running_mean.data, np.mean([xi.mean(0) for xi in x], axis=0), rtol=1e-12)
    untracked = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    out = untracked(pe.tensor(x[0]))  # no running estimates: batch statistics even in eval
    np.testing.assert_allclose(out.data, ref.batch_norm(x[0], None, None, training=True)[0], atol=1e-12)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input\)"):
        nn.BatchNorm2d(2)(pe.tensor(x[0]))
    gradcheck_layer(nn.BatchNorm2d(2), rng.standard_normal((3, 2, 2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm(dtype, rng):
    def expected(x, p):
        mu = x.mean(axis=(-2, -1), keepdims=True)
        var = x.var(axis=(-2, -1), keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * p["weight"] + p["bias"]

    ln = nn.LayerNorm((3, 4))
    ln.weight.data[...] = rng.standard_normal((3, 4))
    check_layer(ln, rng.standard_normal((2, 5, 3, 4)), expected, dtype)
    gradcheck_layer(nn.LayerNorm(4), rng.standard_normal((2, 4)))


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.3)
    x = pe.tensor(np.ones((200, 100), np.float32))
    pe.manual_seed(3)
    a = drop(x)
    pe.manual_seed(3)
    b = drop(x)
    np.testing.assert_array_equal(a.data, b.data)
    kept = a.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(a.data[kept], 1 / 0.7, rtol=1e-6)
    assert drop.eval()(x) is x


def test_embedding_lookup_and_padding_gradient():
    emb = nn.Embedding(6, 3, padding_idx=2).double()
    idx = pe.tensor(np.array([[1, 2], [2, 5]]))
    out = emb(idx)
    np.testing.assert_array_equal(out.data, emb.weight.data[[[1, 2], [2, 5]]])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [0, 1, 0, 0, 0, 1])
    frozen = nn.Embedding.from_pretrained(pe.tensor(np.eye(3)))
    assert not frozen.weight.requires_grad and frozen(pe.tensor(np.array([2]))).data.tolist() == [[0, 0, 1]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_layers(dtype, rng):
    from math import erf

    x = rng.standard_normal((3, 5))
    softmax = lambda x, axis: np.exp(x) / np.exp(x).sum(axis, keepdims=True)  # noqa: E731
    cases = [
        (nn.ReLU(), lambda x, p: np.maximum(x, 0)),
        (nn.LeakyReLU(0.2), lambda x, p: np.where(x > 0, x, 0.2 * x)),
        (nn.GELU(), lambda x, p: 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))),
        (nn.Tanh(), lambda x, p: np.tanh(x)),
        (nn.Sigmoid(), lambda x, p: 1 / (1 + np.exp(-x))),
        (nn.Softmax(dim=0), lambda x, p: softmax(x, 0)),
        (nn.Softmax(), lambda x, p: softmax(x, 1)),  # dim=None on 2-D input: dim 1, as PyTorch
        (nn.LogSoftmax(dim=1), lambda x, p: np.log(softmax(x, 1))),
        (nn.Identity(54, unused=True), lambda x, p: x),
    ]
    for layer, expected in cases:
        check_layer(layer, x, expected, dtype)


def test_inplace_activations_write_their_input():
    x = pe.tensor(np.array([-1.0, 2.0]))
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]
    y = pe.tensor(np.array([-1.0, 2.0]))
    nn.LeakyReLU(0.5, inplace=True)(y)
    assert y.tolist() == [-0.5, 2.0]


def test_flatten_unflatten():
    x = pe.tensor(np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (6, -1))(nn.Flatten()(x)).shape == (2, 6, 10)
    with pytest.raises(ValueError, match="does not multiply"):
        nn.Unflatten(1, (7, 8))(nn.Flatten()(x))


def test_a_small_network_learns(rng):
    pe.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.Adam(model.parameters(), lr=0.02)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(pe.tensor(x)), pe.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.02 * losses[0]

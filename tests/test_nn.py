import copy
from collections import OrderedDict

import numpy as np
import pytest

import pyengine as pe
import pyengine.nn as nn


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

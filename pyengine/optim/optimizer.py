"""Optimizer: parameter groups, per-parameter state and PyTorch's state_dict layout."""
from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np

from pyengine.autograd import enable_grad
from pyengine.tensor import Tensor
from pyengine.utils._grad import zero_grads


def check_non_negative(**hyperparameters):
    """ValueError in PyTorch's words for a negative hyperparameter."""
    for name, value in hyperparameters.items():
        if value < 0.0:
            label = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            raise ValueError(f"Invalid {label}: {value}")


class Optimizer:
    """Base class: subclasses set ``defaults`` and write ``_update(p, grad,
    state, group)``, which applies one step to one parameter.

    ``param_groups`` is a list of dicts, each with a ``params`` list and that
    group's hyperparameters; ``state`` maps a parameter to its state dict
    (Tensors such as ``exp_avg``, and ``step``).
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, (Tensor, set)):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts in "
                            f"ordered collections, but got a {type(params).__name__}")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Adds a group: its own hyperparameters override the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; ``closure``
        (re-evaluating the model and returning the loss) is called first."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, p.grad.data, self.state[p], group)
                p._bump_version()
        return loss

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    @staticmethod
    def _zeros_like(p, fill=0.0):
        return Tensor(np.full(p.shape, fill, dtype=p.dtype))

    @staticmethod
    def _next_step(state):
        """Increments the state's step (a float32 scalar Tensor, as PyTorch
        keeps it) and returns it as an int."""
        if "step" not in state:
            state["step"] = Tensor(np.zeros((), dtype=np.float32))
        state["step"].data += 1
        return int(state["step"].data)

    # ---- state dict ---------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]},
        parameters numbered in the order the groups list them (PyTorch's layout)."""
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index_of[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index_of}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores hyperparameters and state saved by state_dict(); values may be
        Tensors or NumPy arrays and are copied into the parameters' dtypes."""
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer ({len(groups)})")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {i} has {len(s['params'])} parameters in the state "
                                 f"dict and {len(g['params'])} in the optimizer")
        param_of = {int(saved): p for g, s in zip(groups, saved_groups) for saved, p in zip(s["params"], g["params"])}
        self.state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            p = param_of.get(int(key))
            if p is None:
                continue
            self.state[p] = {name: self._cast_state(name, value, p) for name, value in values.items()}
        self.param_groups = [dict(copy.deepcopy({k: v for k, v in s.items() if k != "params"}), params=g["params"])
                             for g, s in zip(groups, saved_groups)]

    @staticmethod
    def _cast_state(name, value, p):
        """A private, contiguous copy in p's dtype (the fused updates write it in
        place); the step count stays float32, integers and others as they are."""
        if isinstance(value, (Tensor, np.ndarray)):
            array = value.data if isinstance(value, Tensor) else value
            if name == "step":
                return Tensor(np.array(array, dtype=np.float32))
            dtype = p.dtype if array.dtype.kind == "f" else array.dtype
            return Tensor(np.array(array, dtype=dtype, order="C", copy=True))
        if name == "step" and isinstance(value, (int, float)):
            return Tensor(np.array(value, dtype=np.float32))
        return copy.deepcopy(value)

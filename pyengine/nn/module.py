"""Module: the base class of every layer and model, with PyTorch's bookkeeping.

A Module keeps three ordered registries, filled by attribute assignment:
``_parameters`` (Parameter or None), ``_buffers`` (Tensor or None, e.g. a
batch norm's running mean) and ``_modules`` (child Modules). Everything that
walks a model — ``parameters()``, ``state_dict()``, ``to(dtype)``, ``repr`` —
walks these registries, so the dotted names are PyTorch's (``fc1.weight``,
``bn.running_mean``) and a PyTorch state dict exported as NumPy arrays loads
unchanged.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from pyengine.nn.parameter import Parameter
from pyengine.tensor import Tensor
from pyengine.utils._grad import zero_grads


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _check_name(kind, name, module):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f'{kind} name can\'t be empty or contain ".", got "{name}"')
    if hasattr(module, name) and not (
            name in module._parameters or name in module._buffers or name in module._modules):
        raise KeyError(f'attribute "{name}" already exists')


class Module:
    """Base class of layers and models: subclass it, assign Parameters and
    child Modules in ``__init__``, and write ``forward``."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- registration ---------------------------------------------------------
    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(pyengine.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that belongs to the module's state but is not learnable.
        Persistent buffers are saved in ``state_dict()``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self)
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray):
                tensor = Tensor(tensor)
            else:
                raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                                "(pyengine.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", name, self)
        self._modules[name] = module

    register_module = add_module

    # (registry, the type that registers a value there, its name in messages)
    _ASSIGNABLE = (("_parameters", Parameter, "parameter", "pyengine.nn.Parameter"),
                   ("_modules", None, "child module", "pyengine.nn.Module"),
                   ("_buffers", Tensor, "buffer", "pyengine.Tensor"))

    def __setattr__(self, name, value):
        for registry, kind, label, expected in self._ASSIGNABLE:
            kind = Module if kind is None else kind
            entries = self.__dict__.get(registry)
            # Assigning a Parameter or Module registers it; a buffer is only
            # ever created by register_buffer.
            if isinstance(value, kind) and registry != "_buffers":
                if entries is None:
                    raise AttributeError(f"cannot assign {label} before Module.__init__() call")
                self._remove_from_registries(name)
                entries[name] = value
                return
            if entries is not None and name in entries:
                if value is not None and not isinstance(value, kind):
                    raise TypeError(f"cannot assign '{type(value).__name__}' as {label} '{name}' "
                                    f"({expected} or None expected)")
                entries[name] = value
                return
        object.__setattr__(self, name, value)

    def _remove_from_registries(self, name):
        self.__dict__.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            self.__dict__[registry].pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails: the registries hold the rest.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, ()):
                del self.__dict__[registry][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(keys))

    # ---- traversal ------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        seen = set()
        owners = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for owner_prefix, owner in owners:
            for name, value in getattr(owner, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield owner_prefix + ("." if owner_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target):
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no submodule `{item}` (looking up '{target}')")
            module = module._modules[item]
        return module

    def apply(self, fn):
        """Calls fn(module) on every child (recursively) and then on self, as in
        PyTorch; used for custom initialisation: ``model.apply(init_weights)``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ----------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        zero_grads(self.parameters(), set_to_none)

    # ---- dtype conversion ---------------------------------------------------------
    def _apply_to_arrays(self, convert):
        """Replaces every parameter's and buffer's array (and gradient) with
        convert(array), keeping the Parameter objects, so an optimizer built
        before the call still holds the model's parameters."""
        for module in self.modules():
            for registry in (module._parameters, module._buffers):
                for t in registry.values():
                    if t is None:
                        continue
                    t.data = convert(t.data)
                    if t.grad is not None:
                        t.grad.data = convert(t.grad.data)
        return self

    def to(self, *args, dtype=None, device=None):
        """to(dtype), to("cpu"), to("cpu", dtype): casts floating-point parameters
        and buffers to dtype (integer buffers, such as num_batches_tracked, keep
        theirs). Only the CPU exists, so "cpu" is accepted and changes nothing."""
        for arg in (*args, device):
            if arg is None or str(arg).split(":")[0] == "cpu":
                continue
            if dtype is not None:
                raise TypeError(f"Module.to: got two dtypes, {dtype} and {arg}")
            dtype = arg
        if dtype is None:
            return self
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"Module.to: expected a dtype or 'cpu', got {dtype!r}") from None
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        return self._apply_to_arrays(lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self

    # ---- state dict -------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ordered dict of dotted name -> tensor for every parameter and
        persistent buffer. The tensors share memory with the module's."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _local_state(self):
        """This module's own entries of the state dict: name -> tensor."""
        state = OrderedDict((k, v) for k, v in self._parameters.items() if v is not None)
        state.update((k, v) for k, v in self._buffers.items()
                     if v is not None and k not in self._non_persistent_buffers)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copies values (Tensors or NumPy arrays) into the module's parameters
        and buffers in place, casting to each one's dtype. With strict=True a
        missing or unexpected key is an error naming every such key; a shape
        mismatch always is, naming the key and both shapes."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        errors = []
        missing = []
        expected = set()
        for prefix, module in self.named_modules(remove_duplicate=False):
            prefix = prefix + "." if prefix else ""
            for name, target in module._local_state().items():
                key = prefix + name
                expected.add(key)
                if key not in state_dict:
                    missing.append(key)
                    continue
                value = state_dict[key]
                array = value.data if isinstance(value, Tensor) else np.asarray(value)
                if array.shape != target.data.shape:
                    errors.append(f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} "
                                  f"from checkpoint, the shape in current model is {tuple(target.data.shape)}.")
                    continue
                np.copyto(target.data, array, casting="unsafe")
                target._bump_version()
        unexpected = [k for k in state_dict.keys() if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # ---- repr ---------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses in repr(); layers override it."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(module), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

"""Whether operations record the graph: no_grad / enable_grad / set_grad_enabled."""
import functools
import threading


class _GradState(threading.local):
    # A class attribute is every thread's starting value, so reading
    # `_state.enabled` needs no getattr default on the hot path.
    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode for its body."""

    mode = True

    def __enter__(self):
        self._saved = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self._saved
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Operations inside do not record the graph (inference, parameter updates)."""

    mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a no_grad region."""

    mode = True


class set_grad_enabled(_GradMode):
    """set_grad_enabled(mode): sets grad mode now (as a call) or for a body (as a
    context manager), as in PyTorch."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._saved = _state.enabled
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state.enabled = self._saved
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper

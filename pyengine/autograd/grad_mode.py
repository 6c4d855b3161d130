"""Whether operations record the graph: no_grad / enable_grad."""
import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def set_grad_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode for its body."""

    mode = True

    def __enter__(self):
        self._saved = is_grad_enabled()
        set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._saved)
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

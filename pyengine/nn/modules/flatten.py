"""Flatten and Unflatten."""
import numpy as np

from pyengine.nn.module import Module


class Flatten(Module):
    """Merges dimensions start_dim..end_dim into one (by default all but the batch)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension dim into unflattened_size (which may hold one -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        shape = tuple(input.shape)
        dim = self.dim % len(shape)
        known = int(np.prod([s for s in self.unflattened_size if s != -1]))
        if -1 not in self.unflattened_size and known != shape[dim]:
            raise ValueError(f"Unflatten: unflattened_size {self.unflattened_size} does not multiply to the size "
                             f"{shape[dim]} of dimension {self.dim} (input shape {shape})")
        return input.reshape(shape[:dim] + self.unflattened_size + shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

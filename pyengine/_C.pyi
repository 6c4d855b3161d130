"""Typed contract of the extension module pyengine._C."""
from typing import Literal, Optional

import numpy as np

Activation = Optional[Literal["relu", "gelu", "tanh", "sigmoid"]]

def info() -> dict: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def scratch_pool_stats() -> dict: ...
def scratch_pool_clear() -> None: ...

# elementwise
def relu(x: np.ndarray) -> np.ndarray: ...
def relu_backward(x: np.ndarray, grad_output: np.ndarray) -> np.ndarray: ...

# gemm
def gemm(
    a: np.ndarray,
    b: np.ndarray,
    out: Optional[np.ndarray] = None,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    bias: Optional[np.ndarray] = None,
    activation: Activation = None,
) -> np.ndarray: ...
def gemm_batched(
    a: np.ndarray,
    b: np.ndarray,
    out: Optional[np.ndarray] = None,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    bias: Optional[np.ndarray] = None,
    activation: Activation = None,
) -> np.ndarray: ...
def peak_gflops(threads: int, dtype: str = "float32") -> float: ...

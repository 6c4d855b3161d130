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

# rnn (mode: "rnn_tanh" | "rnn_relu" | "lstm" | "gru")
def rnn_layer_forward(
    mode: str, input: np.ndarray, hx: np.ndarray, cx: Optional[np.ndarray], weight_ih: np.ndarray,
    weight_hh: np.ndarray, bias_ih: Optional[np.ndarray] = None, bias_hh: Optional[np.ndarray] = None, *,
    lengths: Optional[np.ndarray] = None, reverse: bool = False, training: bool = True,
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]: ...
def rnn_layer_backward(
    mode: str, grad_output: Optional[np.ndarray], grad_h_n: Optional[np.ndarray], grad_c_n: Optional[np.ndarray],
    input: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray, workspace: np.ndarray, *,
    lengths: Optional[np.ndarray] = None, reverse: bool = False, has_bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], np.ndarray, np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]: ...
def rnn_cell_forward(
    mode: str, input: np.ndarray, hx: np.ndarray, cx: Optional[np.ndarray], weight_ih: np.ndarray,
    weight_hh: np.ndarray, bias_ih: Optional[np.ndarray] = None, bias_hh: Optional[np.ndarray] = None, *,
    training: bool = True,
) -> tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]: ...
def rnn_cell_backward(
    mode: str, grad_h: Optional[np.ndarray], grad_c: Optional[np.ndarray], input: np.ndarray,
    weight_ih: np.ndarray, weight_hh: np.ndarray, workspace: np.ndarray, *, has_bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], np.ndarray, np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]: ...
# loss
Reduction = Literal["none", "mean", "sum"]

def cross_entropy_forward(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> tuple[np.ndarray, np.ndarray, float]: ...
def cross_entropy_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    target: np.ndarray,
    lse: np.ndarray,
    total_weight: float,
    weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> np.ndarray: ...
def ctc_loss_forward(
    log_probs: np.ndarray,
    targets: np.ndarray,
    input_lengths: np.ndarray,
    target_lengths: np.ndarray,
    blank: int = 0,
) -> tuple[np.ndarray, np.ndarray]: ...
def ctc_loss_backward(
    grad_loss: np.ndarray,
    log_probs: np.ndarray,
    targets: np.ndarray,
    input_lengths: np.ndarray,
    target_lengths: np.ndarray,
    loss: np.ndarray,
    log_alpha: np.ndarray,
    blank: int = 0,
    zero_infinity: bool = False,
) -> np.ndarray: ...

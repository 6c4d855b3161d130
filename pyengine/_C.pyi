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

# conv (stride, dilation: (h, w); conv padding: (top, bottom, left, right); pool padding: (h, w))
Ints = tuple[int, ...]
def conv2d_forward(input: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: Ints = (1, 1),
                   padding: Ints = (0, 0, 0, 0), dilation: Ints = (1, 1), groups: int = 1) -> np.ndarray: ...
def conv2d_backward_input(grad_output: np.ndarray, weight: np.ndarray, input_shape: Ints, stride: Ints = (1, 1),
                          padding: Ints = (0, 0, 0, 0), dilation: Ints = (1, 1), groups: int = 1) -> np.ndarray: ...
def conv2d_backward_weight(input: np.ndarray, grad_output: np.ndarray, weight_shape: Ints, stride: Ints = (1, 1),
                           padding: Ints = (0, 0, 0, 0), dilation: Ints = (1, 1), groups: int = 1) -> np.ndarray: ...
def conv2d_backward_bias(grad_output: np.ndarray) -> np.ndarray: ...
def im2col(x: np.ndarray, kernel_size: Ints, stride: Ints = (1, 1), padding: Ints = (0, 0, 0, 0),
           dilation: Ints = (1, 1)) -> np.ndarray: ...
def col2im(cols: np.ndarray, image_shape: Ints, kernel_size: Ints, stride: Ints = (1, 1),
           padding: Ints = (0, 0, 0, 0), dilation: Ints = (1, 1)) -> np.ndarray: ...
def max_pool2d_forward(input: np.ndarray, kernel_size: Ints, stride: Ints, padding: Ints = (0, 0),
                       dilation: Ints = (1, 1), ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]: ...
def max_pool2d_backward(grad_output: np.ndarray, indices: np.ndarray, input_shape: Ints) -> np.ndarray: ...
def avg_pool2d_forward(input: np.ndarray, kernel_size: Ints, stride: Ints, padding: Ints = (0, 0),
                       ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray: ...
def avg_pool2d_backward(grad_output: np.ndarray, input_shape: Ints, kernel_size: Ints, stride: Ints,
                        padding: Ints = (0, 0), ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray: ...
def adaptive_avg_pool2d_forward(input: np.ndarray, output_size: Ints) -> np.ndarray: ...
def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input_shape: Ints) -> np.ndarray: ...
def batch_norm_forward(input: np.ndarray, running_mean: Optional[np.ndarray], running_var: Optional[np.ndarray],
                       weight: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None, training: bool = False,
                       momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def batch_norm_backward(grad_output: np.ndarray, input: np.ndarray, weight: Optional[np.ndarray],
                        save_mean: np.ndarray, save_invstd: np.ndarray,
                        training: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def conv_scratch_budget() -> int: ...
def set_conv_scratch_budget(bytes: int) -> None: ...
# optim: fused in-place updates (param and state arrays C-contiguous, writable, param's dtype and shape)
def sgd_update(
    param: np.ndarray, grad: np.ndarray, momentum_buffer: Optional[np.ndarray] = None, *, lr: float,
    momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
    maximize: bool = False, first_step: bool = False,
) -> None: ...
def adam_update(
    param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
    max_exp_avg_sq: Optional[np.ndarray] = None, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
    weight_decay: float = 0.0, decoupled_weight_decay: bool = False, maximize: bool = False,
) -> None: ...
def rmsprop_update(
    param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, momentum_buffer: Optional[np.ndarray] = None,
    grad_avg: Optional[np.ndarray] = None, *, lr: float, alpha: float, eps: float, weight_decay: float = 0.0,
    momentum: float = 0.0, maximize: bool = False,
) -> None: ...
def adagrad_update(
    param: np.ndarray, grad: np.ndarray, state_sum: np.ndarray, *, step: int, lr: float, lr_decay: float = 0.0,
    eps: float = 1e-10, weight_decay: float = 0.0, maximize: bool = False,
) -> None: ...
def adadelta_update(
    param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, acc_delta: np.ndarray, *, lr: float, rho: float,
    eps: float, weight_decay: float = 0.0, maximize: bool = False,
) -> None: ...
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

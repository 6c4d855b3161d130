"""Loss kernels on NumPy arrays: fused cross-entropy and CTC, forward and backward."""
from pyengine._C import cross_entropy_backward, cross_entropy_forward, ctc_loss_backward, ctc_loss_forward

__all__ = ["cross_entropy_forward", "cross_entropy_backward", "ctc_loss_forward", "ctc_loss_backward"]

"""Clearing gradients, shared by Module.zero_grad and Optimizer.zero_grad."""


def zero_grads(params, set_to_none=True):
    """Drops each parameter's gradient (set_to_none) or fills it with zeros in place."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.data[...] = 0
            p.grad._bump_version()

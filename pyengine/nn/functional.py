"""pyengine.nn.functional, PyTorch's ``F``: the functional forms of the layers.

The ops themselves live in pyengine/ops (one Function per primitive); this
module gathers them under PyTorch's names and signatures.
"""

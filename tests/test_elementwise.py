import numpy as np
import pytest

import pyengine.kernels as K
import reference as ref

SIZES = [0, 1, 7, 8, 9, 1023, 1025]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu(n, dtype, rng):
    x = rng.standard_normal(n).astype(dtype)
    np.testing.assert_array_equal(K.relu(x), ref.relu(x).astype(dtype))


def test_relu_reads_non_contiguous_and_reversed_views(rng):
    x = rng.standard_normal((33, 17)).astype(np.float32)
    for view in (x[:, ::2], x[::-1], x.T):
        np.testing.assert_array_equal(K.relu(view), np.maximum(view, 0))


def test_relu_backward(rng):
    x = rng.standard_normal(1025)
    dy = rng.standard_normal(1025)
    np.testing.assert_array_equal(K.relu_backward(x, dy), dy * (x > 0))


def test_bad_input_names_op_and_argument():
    with pytest.raises(TypeError, match="relu: x must be float32 or float64, got int64"):
        K.relu(np.arange(3))
    with pytest.raises(ValueError, match=r"relu_backward: grad_output has shape \(2,\) but x has shape \(3,\)"):
        K.relu_backward(np.zeros(3), np.zeros(2))

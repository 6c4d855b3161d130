import numpy as np
import pytest

import pyengine.kernels as K
import reference as ref


def check_gemm(m, k, n, dtype=np.float32, rng=None, **kw):
    rng = rng or np.random.default_rng(0)
    a = rng.standard_normal((k, m) if kw.get("trans_a") else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if kw.get("trans_b") else (k, n)).astype(dtype)
    got = K.gemm(a, b, **kw)
    want = ref.gemm(a, b, **kw)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * eps * np.sqrt(max(k, 1)) * max(1.0, np.abs(want).max(initial=0)))


@pytest.mark.parametrize("m,k,n", [(0, 3, 4), (1, 1, 1), (5, 7, 3), (17, 31, 13)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_sizes(m, k, n, dtype):
    check_gemm(m, k, n, dtype)


def test_gemm_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"gemm: op\(a\) has shape \(2, 3\) and op\(b\) has shape \(4, 5\)"):
        K.gemm(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32))

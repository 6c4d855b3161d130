// Packing for the blocked GEMM: copies a block of A or B, read in place
// through its strides, into the contiguous panel layout the micro-kernels
// stream through (ukernel.h). Compiled once with portable flags.
#pragma once
#include <cstdint>

namespace pyengine {

// dst[p * mr + i] = A(i, p) = a[i * rs + p * cs] for i < m, p < k; rows m..mr-1
// are zero, so an edge panel multiplies like a full one.
template <typename T>
void pack_a_panel(int64_t k, int m, int mr, const T* a, int64_t rs, int64_t cs, T* dst);

// dst[p * nr + j] = B(p, j) = b[p * rs + j * cs] for j < n, p < k; columns
// n..nr-1 are zero.
template <typename T>
void pack_b_panel(int64_t k, int n, int nr, const T* b, int64_t rs, int64_t cs, T* dst);

}  // namespace pyengine

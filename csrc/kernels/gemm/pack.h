// Packing for the blocked GEMM: copies a block of A or B, read in place
// through its strides, into the contiguous panel layout the micro-kernels
// stream through (ukernel.h). Compiled once with portable flags.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pyengine {

// dst[p * mr + i] = A(i, p) = a[i * rs + p * cs] for i < m, p < k; rows m..mr-1
// are zero, so an edge panel multiplies like a full one.
template <typename T>
void pack_a_panel(int64_t k, int m, int mr, const T* a, int64_t rs, int64_t cs, T* dst);

// The MR-row panels of an m x k block of A, one after another (panel q at
// dst + q * mr * k), as pack_a_panel writes each.
template <typename T>
void pack_a_block(int64_t k, int64_t m, int mr, const T* a, int64_t rs, int64_t cs, T* dst);

// dst[p * nr + j] = B(p, j) = b[p * rs + j * cs] for j < n, p < k; columns
// n..nr-1 are zero.
template <typename T>
void pack_b_panel(int64_t k, int n, int nr, const T* b, int64_t rs, int64_t cs, T* dst);

// The NR-column panels of a k x n block of B, one after another (panel q at
// dst + q * nr * k), as pack_b_panel writes each; rows of B that are
// contiguous are read a few at a time across all the panels rather than panel
// by panel (pack.cpp says why). pack_a_block does the same for the columns of
// a column-major A.
template <typename T>
void pack_b_panels(int64_t k, int64_t n, int nr, const T* b, int64_t rs, int64_t cs, T* dst);

// out (cols x rows) = in (rows x cols)^T, both row-major, for the few places
// that keep a transposed copy (a recurrent weight, a weight gradient). Whole
// 8 x 8 tiles go through a local tile, read by rows and written by rows: each
// pass streams 8 lines, where writing the transpose straight from the reads
// stores one float per line across a whole tile and measured 2-3x slower.
template <typename T>
void transpose(const T* in, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kTile = 8;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      if (i0 + kTile <= rows && j0 + kTile <= cols) {
        T tile[kTile][kTile];
        for (int64_t i = 0; i < kTile; ++i)
          for (int64_t j = 0; j < kTile; ++j) tile[j][i] = in[(i0 + i) * cols + j0 + j];
        for (int64_t j = 0; j < kTile; ++j)
          for (int64_t i = 0; i < kTile; ++i) out[(j0 + j) * rows + i0 + i] = tile[j][i];
        continue;
      }
      for (int64_t i = i0; i < std::min(rows, i0 + kTile); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + kTile); ++j) out[j * rows + i] = in[i * cols + j];
    }
}

}  // namespace pyengine

// The GEMM micro-kernel contract and the per-ISA kernel table.
//
// A micro-kernel computes one MR x NR tile of C from an MR-row panel of A and
// an NR-column panel of B (BLIS's contract):
//
//   C[0:m, 0:n] := epilogue(alpha * A[0:m, 0:k] * B[0:k, 0:n] + beta * C[0:m, 0:n])
//
// - A(i, p) = a[i * a_rs + p * a_cs]. The driver passes packed panels
//   (a_rs = 1, a_cs = MR, rows m..MR-1 zero) to the `packed` kernel, or, for
//   skinny products, A in place to the `strided` kernel, which never reads a
//   row at or past m.
// - B(p, j) = b[p * b_rs + j]: unit column stride, NR columns readable on
//   every row (a packed panel, zero-padded past n, or B in place). The
//   `indirect` kernel reads row p at b + b_rows[p] instead: a convolution's
//   unfolded input taken straight from the image, one offset per tap.
// - Edge tiles (m < MR or n < NR) are handled inside: nothing outside
//   C[0:m, 0:n] is read or written.
// - beta == 0 never reads C (NaN there does not leak into the result).
// - The epilogue adds bias_n[j] and bias_m[i] and applies the activation, in
//   that order, after alpha and beta; the driver passes it on the last pass
//   over k only.
// The kernel knows nothing of blocking or threads.
#pragma once
#include <cstdint>

#include "core/dispatch.h"
#include "kernels/gemm/gemm.h"

namespace pyengine {

template <typename T>
struct Epilogue {
  const T* bias_n = nullptr;  // bias for the tile's column 0, 1, ...
  const T* bias_m = nullptr;  // bias for the tile's row 0, 1, ...
  Activation activation = Activation::none;
};

// C := alpha * AB + beta * C + bias, activated, is a plain store or sum when
// alpha is 1 and there is neither bias nor activation: the stores every pass
// over k but the last makes, which the kernels run without a test per value.
template <typename T>
bool is_plain(T alpha, const Epilogue<T>& ep) {
  return alpha == T(1) && !ep.bias_n && !ep.bias_m && ep.activation == Activation::none;
}

// The arguments of one micro-kernel call (see the contract above).
template <typename T>
struct MicroTile {
  int64_t k = 0;
  const T* a = nullptr;
  int64_t a_rs = 0, a_cs = 0;
  const T* b = nullptr;
  int64_t b_rs = 0;
  const int64_t* b_rows = nullptr;  // the indirect kernel's row offsets
  T* c = nullptr;
  int64_t c_rs = 0, c_cs = 0;
  int m = 0, n = 0;
  T alpha = 1, beta = 0;
  Epilogue<T> epilogue;
};

template <typename T>
using MicroKernelFn = void (*)(const MicroTile<T>& tile);

// Matrix-vector kernels; y is contiguous and receives the raw sums (the
// driver applies alpha, beta, bias and the activation):
//   gemv_axpy: y[j] = sum_p x[p] * mat[p * mat_rs + j]   for j < n
//   gemv_dot:  y[j] = sum_p mat[j * mat_rs + p] * x[p]   for j < n
// Each y[j] is summed in an order that does not depend on n, so splitting
// the range over threads leaves the results unchanged.
template <typename T>
using GemvFn = void (*)(int64_t k, int64_t n, const T* x, const T* mat, int64_t mat_rs, T* y);

// Per-ISA register tile and block-size bounds; driver.cpp derives the actual
// blocking from the detected cache sizes within these bounds.
struct BlockSizeTable {
  int mr, nr;           // register tile: MR rows x NR columns of C
  int64_t kc_max;       // depth of one rank-kc update
  int64_t mc_max;       // rows of A packed per block (L2)
  int64_t nc_max;       // columns of B packed per block (L3)
};

template <typename T>
struct GemmKernels {
  BlockSizeTable blocks;
  MicroKernelFn<T> packed;    // A packed (a_rs = 1, a_cs = MR)
  MicroKernelFn<T> strided;   // A in place, any strides
  MicroKernelFn<T> indirect;  // A packed, B row p at b + b_rows[p]
  GemvFn<T> gemv_axpy;
  GemvFn<T> gemv_dot;
};

struct GemmTable {
  GemmKernels<float> f32;
  GemmKernels<double> f64;
  // The FMA peak probe: runs `iterations` rounds of independent FMAs on
  // enough accumulators to cover FMA latency x ports, and returns the
  // floating-point operations done (2 per lane per FMA).
  double (*fma_probe_f32)(int64_t iterations);
  double (*fma_probe_f64)(int64_t iterations);
};

namespace scalar { extern const GemmTable gemm_table; }  // ukernel_ref.cpp
namespace avx2 { extern const GemmTable gemm_table; }    // ukernel_avx2.cpp

const GemmTable& gemm_kernels();  // the active ISA's table

template <typename T>
const GemmKernels<T>& gemm_kernels_for() {
  if constexpr (sizeof(T) == 4) return gemm_kernels().f32;
  else return gemm_kernels().f64;
}

// The scalar epilogue every kernel shares for edge tiles: writes
// C[i, j] := act(alpha * ab[i * ab_rs + j] + beta * C[i, j] + bias) for
// i < tile.m, j < tile.n, reading C only when beta != 0. Compiled once with
// portable flags (ukernel_ref.cpp).
template <typename T>
void store_tile(const T* ab, int64_t ab_rs, const MicroTile<T>& tile);

}  // namespace pyengine

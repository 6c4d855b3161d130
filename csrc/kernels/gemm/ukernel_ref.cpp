// The scalar reference GEMM kernels: the specification of the micro-kernel
// contract in ukernel.h and the fallback on CPUs without a vector kernel.
// Compiled once with portable flags; the SIMD kernels must agree with these
// up to rounding.
#include <algorithm>
#include <cmath>

#include "kernels/gemm/ukernel.h"

namespace pyengine {

namespace {

template <typename T>
T activate(T v, Activation act) {
  switch (act) {
    case Activation::none: return v;
    // v > 0 || v != v keeps a NaN, as np.maximum(v, 0) does.
    case Activation::relu: return v > T(0) || v != v ? v : T(0);
    case Activation::gelu: return T(0.5) * v * (T(1) + std::erf(v * T(0.70710678118654752440)));
    case Activation::tanh: return std::tanh(v);
    case Activation::sigmoid: return T(1) / (T(1) + std::exp(-v));
  }
  return v;
}

}  // namespace

template <typename T>
void store_tile(const T* ab, int64_t ab_rs, const MicroTile<T>& t) {
  const Epilogue<T>& ep = t.epilogue;
  // A plain store or accumulation (the matrix-vector steps of a recurrent
  // layer, say) in loops without a branch per element, which the compiler
  // vectorises; the same values as the general loop below.
  const bool plain = is_plain(t.alpha, ep);
  if (plain && (t.beta == T(0) || t.beta == T(1)) && (t.c_cs == 1 || t.n == 1)) {
    for (int i = 0; i < t.m; ++i) {
      const T* src = ab + i * ab_rs;
      T* c = t.c + i * t.c_rs;
      if (t.beta == T(0)) std::copy(src, src + t.n, c);
      else
        for (int j = 0; j < t.n; ++j) c[j] += src[j];
    }
    return;
  }
  for (int i = 0; i < t.m; ++i) {
    T* c = t.c + i * t.c_rs;
    for (int j = 0; j < t.n; ++j) {
      T v = t.alpha * ab[i * ab_rs + j];
      if (t.beta != T(0)) v = v + t.beta * c[j * t.c_cs];
      if (ep.bias_n) v = v + ep.bias_n[j];
      if (ep.bias_m) v = v + ep.bias_m[i];
      c[j * t.c_cs] = activate(v, ep.activation);
    }
  }
}

template void store_tile<float>(const float*, int64_t, const MicroTile<float>&);
template void store_tile<double>(const double*, int64_t, const MicroTile<double>&);

namespace scalar {
namespace {

// The reference micro-kernel: accumulates the MR x NR product of the panels
// in a local tile, p = 0 .. k-1 in order, then stores it through the
// epilogue. Rows at or past m are never read (A may be in place).
template <typename T, int MR, int NR>
void ukernel_ref(const MicroTile<T>& t) {
  T ab[MR][NR] = {};
  for (int64_t p = 0; p < t.k; ++p) {
    const T* b = t.b + (t.b_rows ? t.b_rows[p] : p * t.b_rs);
    for (int i = 0; i < t.m; ++i) {
      const T a = t.a[i * t.a_rs + p * t.a_cs];
      for (int j = 0; j < NR; ++j) ab[i][j] += a * b[j];
    }
  }
  store_tile(&ab[0][0], NR, t);
}

template <typename T>
void gemv_axpy_ref(int64_t k, int64_t n, const T* x, const T* mat, int64_t mat_rs, T* y) {
  std::fill(y, y + n, T(0));
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) y[j] += x[p] * mat[p * mat_rs + j];
}

template <typename T>
void gemv_dot_ref(int64_t k, int64_t n, const T* x, const T* mat, int64_t mat_rs, T* y) {
  for (int64_t j = 0; j < n; ++j) {
    T acc = 0;
    for (int64_t p = 0; p < k; ++p) acc += mat[j * mat_rs + p] * x[p];
    y[j] = acc;
  }
}

// Scalar peak: eight independent multiply-add chains hide the add latency
// (3-4 cycles) on the two FP pipes of current x86 and ARM cores.
template <typename T>
double fma_probe_ref(int64_t iterations) {
  constexpr int kChains = 8;
  volatile T seed = T(0.999);
  T acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = T(i);
  const T x = seed, y = T(1) - seed;
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * x + y;
  T sum = 0;
  for (int i = 0; i < kChains; ++i) sum += acc[i];
  seed = sum;  // keeps the loop from being optimised away
  return 2.0 * kChains * static_cast<double>(iterations);
}

// MR x NR = 4 x 8 (float) and 4 x 4 (double): 32 and 16 accumulators, what
// the 16 SSE registers of the portable build can hold.
template <typename T, int MR, int NR>
constexpr GemmKernels<T> make_ref_kernels() {
  return {{MR, NR, 256, 128, 2048},
          ukernel_ref<T, MR, NR>,
          ukernel_ref<T, MR, NR>,
          ukernel_ref<T, MR, NR>,
          gemv_axpy_ref<T>,
          gemv_dot_ref<T>};
}

}  // namespace

extern const GemmTable gemm_table = {make_ref_kernels<float, 4, 8>(), make_ref_kernels<double, 4, 4>(),
                                     fma_probe_ref<float>, fma_probe_ref<double>};

}  // namespace scalar
}  // namespace pyengine

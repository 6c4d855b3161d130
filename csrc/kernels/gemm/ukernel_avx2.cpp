// AVX2+FMA GEMM kernels: the 6 x 16 (float) and 6 x 8 (double) register
// tiles, the matrix-vector kernels and the FMA peak probe. Compiled only with
// -mavx2 -mfma (PYENGINE_AVX2_ONLY_SOURCES); ukernel_ref.cpp is the
// specification these must match up to rounding.
#include <algorithm>
#include <cmath>

#include "core/cpu.h"
#include "kernels/gemm/ukernel.h"
#include "simd/math.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// The register tile: 6 rows x 2 vectors. 12 accumulators + 2 vectors of B +
// 1 broadcast of A use 15 of the 16 ymm registers, and the 12 independent FMA
// chains cover FMA latency x ports (4 cycles x 2 pipes = 8 on Zen 3 and
// Haswell-to-Alder Lake) with room to spare. Per step of k the tile loads 2
// vectors and 6 scalars for 12 FMAs, under the 2 loads per cycle the core
// sustains beside the FMAs.
constexpr int kMR = 6;
constexpr int kNV = 2;

// gelu, tanh and sigmoid: polynomial bodies, kept out of line so that the
// epilogue around them stays small.
template <typename T>
__attribute__((noinline)) Vec<T> activate_curve(Vec<T> x, Activation act) {
  switch (act) {
    case Activation::gelu: return gelu(x);
    case Activation::tanh: return tanh(x);
    case Activation::sigmoid: return sigmoid(x);
    default: return x;
  }
}

// None and relu inline: a call per vector cost a convolution's bias-only
// epilogue 2-9 % of its time.
template <typename T>
__attribute__((always_inline)) inline Vec<T> activate(Vec<T> x, Activation act) {
  if (act == Activation::none) return x;
  // maxps returns its second operand when either is NaN: a NaN stays NaN.
  if (act == Activation::relu) return max(Vec<T>::zero(), x);
  return activate_curve(x, act);
}

// acc[0..R) += the tile's A rows times its B panel, one FMA chain per
// accumulator in the order of k. A tile short in m runs an R-row loop: the
// rows past m would cost as much as real ones (a batch of 8 recurrent states
// is one full tile and one of 2 rows, 12 rows of work for 8 without this).
// Each accumulator's sum is the same whatever R, so the results do not
// depend on how m falls into tiles.
template <typename T, int R, bool kPackedA, bool kIndirectB>
__attribute__((always_inline)) inline void accumulate(const MicroTile<T>& t, Vec<T> (&acc)[kMR][kNV]) {
  using V = Vec<T>;
  constexpr int W = V::size;
  const T* b = t.b;
  const int64_t b_rs = t.b_rs;
  if constexpr (kPackedA) {
    const T* a = t.a;
    const int64_t* rows = t.b_rows;
#pragma GCC unroll 4
    for (int64_t p = 0; p < t.k; ++p) {
      // The indirect form finds each row of B through its offset: one more
      // load per step of k, within the three the core issues per cycle. Its
      // rows jump between the taps of a convolution, a pattern the hardware
      // prefetchers do not follow, and B (C*R*S rows) overflows L1, so each
      // step would wait on L2: the row eight steps ahead (~50 cycles, past
      // L2's latency) is prefetched, and the first of its two lines is
      // enough (the C=64 and C=128 3x3 layers ran 3-8 % faster, fetching
      // both lines no faster).
      const T* bp = kIndirectB ? t.b + rows[p] : b;
      if constexpr (kIndirectB) __builtin_prefetch(t.b + rows[std::min(p + 8, t.k - 1)]);
      const V b0 = V::loadu(bp), b1 = V::loadu(bp + W);
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) {
        const V ai = V::broadcast(a[i]);
        acc[i][0] = fmadd(ai, b0, acc[i][0]);
        acc[i][1] = fmadd(ai, b1, acc[i][1]);
      }
      a += kMR;
      b += b_rs;
    }
  } else {
    int64_t row[R];
    for (int i = 0; i < R; ++i) row[i] = i * t.a_rs;
    const T* a = t.a;
    const int64_t a_cs = t.a_cs;
#pragma GCC unroll 2
    for (int64_t p = 0; p < t.k; ++p) {
      const V b0 = V::loadu(b), b1 = V::loadu(b + W);
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) {
        const V ai = V::broadcast(a[row[i]]);
        acc[i][0] = fmadd(ai, b0, acc[i][0]);
        acc[i][1] = fmadd(ai, b1, acc[i][1]);
      }
      a += a_cs;
      b += b_rs;
    }
  }
}

template <typename T, bool kPackedA, bool kIndirectB = false>
void ukernel(const MicroTile<T>& t) {
  using V = Vec<T>;
  constexpr int W = V::size;
  constexpr int NR = kNV * W;
  V acc[kMR][kNV];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = V::zero();

  // C's lines are fetched while the k loop runs, not on the first store.
  for (int i = 0; i < t.m; ++i) {
    __builtin_prefetch(t.c + i * t.c_rs, 1);
    __builtin_prefetch(t.c + i * t.c_rs + NR - 1, 1);
  }

  switch (t.m) {
    case 1: accumulate<T, 1, kPackedA, kIndirectB>(t, acc); break;
    case 2: accumulate<T, 2, kPackedA, kIndirectB>(t, acc); break;
    case 3: accumulate<T, 3, kPackedA, kIndirectB>(t, acc); break;
    case 4: accumulate<T, 4, kPackedA, kIndirectB>(t, acc); break;
    case 5: accumulate<T, 5, kPackedA, kIndirectB>(t, acc); break;
    default: accumulate<T, kMR, kPackedA, kIndirectB>(t, acc); break;
  }

  const Epilogue<T>& ep = t.epilogue;
  if (t.c_cs != 1) {
    // Strided C goes through the shared scalar epilogue on a copy of the
    // tile (in L1).
    alignas(64) T ab[kMR * NR];
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < kNV; ++v) acc[i][v].store(ab + i * NR + v * W);
    store_tile(ab, NR, t);
    return;
  }
  // The two stores nearly every call makes, with no branch per vector: a
  // plain product (beta = 0) and a later pass over k adding to C (beta = 1).
  // Tiles short in m store their rows only; tiles short in n go below.
  const bool plain = is_plain(t.alpha, ep);
  if (t.n == NR && plain && (t.beta == T(0) || t.beta == T(1))) {
    const bool add = t.beta == T(1);
#pragma GCC unroll 6
    for (int i = 0; i < t.m; ++i) {
      T* c = t.c + i * t.c_rs;
      if (add) {
        (acc[i][0] + V::loadu(c)).storeu(c);
        (acc[i][1] + V::loadu(c + W)).storeu(c + W);
      } else {
        acc[i][0].storeu(c);
        acc[i][1].storeu(c + W);
      }
    }
    return;
  }
  // Biases and at most a ReLU on a plain product: a linear layer's, a
  // recurrent input projection's or a convolution's epilogue, whose products
  // are often only 64-128 deep, where the general epilogue's per-vector alpha
  // and tests cost 5-20 % of a tile. The same operations as below.
  if (t.n == NR && t.alpha == T(1) && t.beta == T(0) &&
      (ep.activation == Activation::none || ep.activation == Activation::relu)) {
    const bool relu = ep.activation == Activation::relu;
    const V bias0 = ep.bias_n ? V::loadu(ep.bias_n) : V::zero();
    const V bias1 = ep.bias_n ? V::loadu(ep.bias_n + W) : V::zero();
#pragma GCC unroll 6
    for (int i = 0; i < t.m; ++i) {
      T* c = t.c + i * t.c_rs;
      V x0 = acc[i][0], x1 = acc[i][1];
      if (ep.bias_n) x0 = x0 + bias0, x1 = x1 + bias1;
      if (ep.bias_m) {
        const V row = V::broadcast(ep.bias_m[i]);
        x0 = x0 + row, x1 = x1 + row;
      }
      if (relu) x0 = max(V::zero(), x0), x1 = max(V::zero(), x1);
      x0.storeu(c);
      x1.storeu(c + W);
    }
    return;
  }
  // The general epilogue. In a tile short in n each vector covers its first
  // `cols` columns through masked loads and stores, which touch nothing
  // past column n of C (or of bias_n).
  const int cols[kNV] = {std::min(t.n, W), std::max(0, t.n - W)};
  const auto load = [&](const T* p, int v) { return cols[v] == W ? V::loadu(p) : V::load_first(p, cols[v]); };
  const V alpha = V::broadcast(t.alpha), beta = V::broadcast(t.beta);
#pragma GCC unroll 6
  for (int i = 0; i < t.m; ++i) {
    T* c = t.c + i * t.c_rs;
    for (int v = 0; v < kNV; ++v) {
      if (cols[v] == 0) continue;
      V x = acc[i][v] * alpha;
      if (t.beta != T(0)) x = x + beta * load(c + v * W, v);
      if (ep.bias_n) x = x + load(ep.bias_n + v * W, v);
      if (ep.bias_m) x = x + V::broadcast(ep.bias_m[i]);
      x = activate(x, ep.activation);
      if (cols[v] == W) x.storeu(c + v * W);
      else x.store_first(c + v * W, cols[v]);
    }
  }
}

// y[j1:j2] (+)= sum of R rows of mat, r[q * rs + j], times x[q], in order
// q = 0 .. R-1; kFirst starts from zero in registers rather than from y. The
// scalar tail uses the same single-rounding FMA as the vector lanes.
template <typename T, int R, bool kFirst>
void axpy_rows(const T* x, const T* r, int64_t rs, int64_t j1, int64_t j2, T* y) {
  using V = Vec<T>;
  constexpr int W = V::size;
  V xv[R];
  for (int q = 0; q < R; ++q) xv[q] = V::broadcast(x[q]);
  int64_t j = j1;
  for (; j + W <= j2; j += W) {
    V v = kFirst ? V::zero() : V::loadu(y + j);
    for (int q = 0; q < R; ++q) v = fmadd(xv[q], V::loadu(r + q * rs + j), v);
    v.storeu(y + j);
  }
  for (; j < j2; ++j) {
    T v = kFirst ? T(0) : y[j];
    for (int q = 0; q < R; ++q) v = std::fma(x[q], r[q * rs + j], v);
    y[j] = v;
  }
}

// y[j] = sum_p x[p] * mat[p * rs + j], swept over y a few rows of mat at a
// time. When the k x n share of the matrix this call sweeps fits in L2 (a
// recurrent layer's share of W_hh, read at every step) it is taken eight rows
// per sweep, so y is loaded and stored once per eight FMAs: with four, its
// rows came in at 42 against 54 GB/s (128 x 256 floats, one core) and the
// layers at batch 1 ran 2-8 % slower. A larger share streams from memory,
// four rows per sweep: eight concurrent row streams ran 5 % slower there
// (1 x 1024 x 1024, one thread). y is swept in chunks that stay in L1, and
// the first sweep starts from zero rather than from a cleared y (for an outer
// product, that halves the memory traffic). Each y[j] is one FMA chain in the
// order of p, however the rows are swept.
template <typename T>
void gemv_axpy(int64_t k, int64_t n, const T* x, const T* mat, int64_t rs, T* y) {
  constexpr int64_t kChunk = 1024;
  const int64_t sweep_rows = k * n * static_cast<int64_t>(sizeof(T)) <= static_cast<int64_t>(cpu_info().l2) ? 8 : 4;
  if (k == 0) std::fill(y, y + n, T(0));  // the empty sum; no sweep below writes y
  for (int64_t j1 = 0; j1 < n; j1 += kChunk) {
    const int64_t j2 = std::min(n, j1 + kChunk);
    for (int64_t p = 0; p < k;) {
      const T* r = mat + p * rs;
      const bool first = p == 0;
      const int64_t rows = k - p >= sweep_rows ? sweep_rows : k - p >= 4 ? 4 : k - p;
      switch (rows) {
        case 1: (first ? axpy_rows<T, 1, true> : axpy_rows<T, 1, false>)(x + p, r, rs, j1, j2, y); break;
        case 2: (first ? axpy_rows<T, 2, true> : axpy_rows<T, 2, false>)(x + p, r, rs, j1, j2, y); break;
        case 3: (first ? axpy_rows<T, 3, true> : axpy_rows<T, 3, false>)(x + p, r, rs, j1, j2, y); break;
        case 4: (first ? axpy_rows<T, 4, true> : axpy_rows<T, 4, false>)(x + p, r, rs, j1, j2, y); break;
        default: (first ? axpy_rows<T, 8, true> : axpy_rows<T, 8, false>)(x + p, r, rs, j1, j2, y); break;
      }
      p += rows;
    }
  }
}

// y[r] = sum_p mat[r * rs + p] * x[p] for R rows at once: two vector
// accumulators per row over p, then a horizontal sum and a scalar tail.
// The per-row arithmetic is the same for any R.
template <typename T, int R>
void dot_rows(int64_t k, const T* x, const T* mat, int64_t rs, T* y) {
  using V = Vec<T>;
  constexpr int W = V::size;
  V acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V::zero();
  int64_t p = 0;
  for (; p + 2 * W <= k; p += 2 * W) {
    const V x0 = V::loadu(x + p), x1 = V::loadu(x + p + W);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = fmadd(V::loadu(mat + r * rs + p), x0, acc[r][0]);
      acc[r][1] = fmadd(V::loadu(mat + r * rs + p + W), x1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    T s = (acc[r][0] + acc[r][1]).reduce_add();
    for (int64_t q = p; q < k; ++q) s = std::fma(mat[r * rs + q], x[q], s);
    y[r] = s;
  }
}

template <typename T>
void gemv_dot(int64_t k, int64_t n, const T* x, const T* mat, int64_t rs, T* y) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) dot_rows<T, 4>(k, x, mat + j * rs, rs, y + j);
  for (; j < n; ++j) dot_rows<T, 1>(k, x, mat + j * rs, rs, y + j);
}

// 12 independent FMA chains, as in the micro-kernel: enough to keep both
// FMA pipes busy through the 4-cycle latency.
template <typename T>
double fma_probe(int64_t iterations) {
  using V = Vec<T>;
  constexpr int kChains = 12;
  volatile T seed = T(0.999);
  const V x = V::broadcast(seed), y = V::broadcast(T(1) - seed);
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = V::broadcast(T(i));
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = fmadd(acc[i], x, y);
  }
  V sum = V::zero();
  for (int i = 0; i < kChains; ++i) sum = sum + acc[i];
  seed = sum.reduce_add();  // keeps the loop from being optimised away
  return 2.0 * kChains * V::size * static_cast<double>(iterations);
}

template <typename T>
constexpr GemmKernels<T> make_kernels(BlockSizeTable blocks) {
  return {blocks, ukernel<T, true>, ukernel<T, false>, ukernel<T, true, true>, gemv_axpy<T>, gemv_dot<T>};
}

}  // namespace

// Bounds for blocking_for (driver.cpp): kc 256 keeps a 256 x NR micro-panel
// of B in half of a 32 KiB L1; mc and nc follow L2 and L3.
extern const GemmTable gemm_table = {
    make_kernels<float>({kMR, kNV * Vec<float>::size, 256, 288, 4080}),
    make_kernels<double>({kMR, kNV * Vec<double>::size, 256, 144, 4080}),
    fma_probe<float>,
    fma_probe<double>,
};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

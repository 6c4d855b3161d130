// Softmax and log-softmax along contiguous rows, and their backward passes,
// compiled once per ISA.
//
// softmax(x)_j = exp(x_j - m) / sum_k exp(x_k - m) with m = max_k x_k:
// subtracting the row maximum keeps every exponent <= 0, so nothing
// overflows and the largest term is exactly 1 (the sum is >= 1). Row sums
// and dot products accumulate in double (accumulate.h).
#include <limits>

#include "kernels/elementwise/accumulate.h"
#include "kernels/elementwise/elementwise.h"
#include "simd/math.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// The row maximum; the last, partial vector is padded with -inf. maxps
// returns its second operand when one is NaN, as the scalar reference does,
// and a NaN in the row makes the whole row NaN through the sum anyway.
template <typename T>
T row_max(const T* x, int64_t n) {
  constexpr int W = Vec<T>::size;
  const T ninf = -std::numeric_limits<T>::infinity();
  Vec<T> m = Vec<T>::broadcast(ninf);
  int64_t i = 0;
  for (; i + W <= n; i += W) m = max(m, Vec<T>::loadu(x + i));
  T tail[W];
  for (int j = 0; j < W; ++j) tail[j] = i + j < n ? x[i + j] : ninf;
  return max(m, Vec<T>::loadu(tail)).reduce_max();
}

// y = exp(x - shift) over the row; returns sum(y).
template <typename T>
T exp_shifted(const T* x, T* y, int64_t n, T shift) {
  const Vec<T> s = Vec<T>::broadcast(shift);
  transform(x, y, n, [&](Vec<T> v) { return exp(v - s); });
  return static_cast<T>(sum_in_double(y, n));
}

template <typename T>
void softmax(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const Vec<T> sum = Vec<T>::broadcast(exp_shifted(xr, yr, cols, row_max(xr, cols)));
    // Division, not a multiply by 1/sum: one rounding instead of two.
    transform(yr, yr, cols, [&](Vec<T> v) { return v / sum; });
  }
}

// log_softmax(x)_j = (x_j - m) - log(sum_k exp(x_k - m)); the exponentials
// go through y, which is then overwritten.
template <typename T>
void log_softmax(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = row_max(xr, cols);
    const T sum = exp_shifted(xr, yr, cols, m);
    const Vec<T> shift = Vec<T>::broadcast(m);
    const Vec<T> log_sum = log(Vec<T>::broadcast(sum));
    transform(xr, yr, cols, [&](Vec<T> v) { return (v - shift) - log_sum; });
  }
}

// dx = y * (dy - sum_k dy_k y_k).
template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * cols;
    const Vec<T> dot = Vec<T>::broadcast(static_cast<T>(dot_in_double(dy + o, y + o, cols)));
    transform(y + o, dy + o, dx + o, cols, [&](Vec<T> yv, Vec<T> g) { return yv * (g - dot); });
  }
}

// dx = dy - exp(y) * sum_k dy_k, with exp(y) the softmax of the row.
template <typename T>
void log_softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * cols;
    const Vec<T> sum = Vec<T>::broadcast(static_cast<T>(sum_in_double(dy + o, cols)));
    transform(y + o, dy + o, dx + o, cols, [&](Vec<T> yv, Vec<T> g) { return fnmadd(exp(yv), sum, g); });
  }
}

template <typename T>
constexpr SoftmaxKernels<T> make_softmax_kernels() {
  return {softmax<T>, log_softmax<T>, softmax_backward<T>, log_softmax_backward<T>};
}

}  // namespace

extern const SoftmaxTable softmax_table = {make_softmax_kernels<float>(), make_softmax_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

// Unary activations and their backward passes, compiled once per ISA.
#include "kernels/elementwise/elementwise.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

template <typename T>
void relu(const T* x, T* y, int64_t n) {
  const Vec<T> zero = Vec<T>::zero();
  // max(x, 0) with x first: a NaN input stays NaN, as in NumPy.
  map_unary(x, y, n, [&](Vec<T> v) { return select(is_nan(v), v, max(v, zero)); },
            [](T v) { return v > T(0) || v != v ? v : T(0); });
}

template <typename T>
void relu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  constexpr int W = Vec<T>::size;
  const Vec<T> zero = Vec<T>::zero();
  int64_t i = 0;
  for (; i + W <= n; i += W)
    select(Vec<T>::loadu(x + i) > zero, Vec<T>::loadu(dy + i), zero).storeu(dx + i);
  for (; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
constexpr UnaryKernels<T> make_unary_kernels() {
  return {relu<T>, relu_backward<T>};
}

}  // namespace

extern const UnaryTable unary_table = {make_unary_kernels<float>(), make_unary_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

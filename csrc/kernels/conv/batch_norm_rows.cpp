// The per-plane passes of batch normalisation, compiled once per ISA: sums in
// double through accumulate.h (four vector accumulators, an order fixed by the
// plane's length), and the two maps in double, each value rounded once to T,
// as the portable driver's formulas (batch_norm.cpp) state them.
#include "kernels/conv/conv.h"
#include "kernels/elementwise/accumulate.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

using VD = Vec<double>;

template <typename T>
double centered_squares(const T* x, int64_t n, double mean) {
  const VD m = VD::broadcast(mean);
  return accumulate_in_double(
      n,
      [&](int64_t i) {
        const VD d = VD::loadu_convert(x + i) - m;
        return d * d;
      },
      [&](int64_t i) {
        const double d = static_cast<double>(x[i]) - mean;
        return d * d;
      });
}

template <typename T>
double centered_dot(const T* dy, const T* x, int64_t n, double mean) {
  const VD m = VD::broadcast(mean);
  return accumulate_in_double(
      n, [&](int64_t i) { return VD::loadu_convert(dy + i) * (VD::loadu_convert(x + i) - m); },
      [&](int64_t i) { return static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - mean); });
}

// out[i] = f(i) for i < n: whole double vectors, then the tail one by one.
template <typename T, typename VectorMap, typename ScalarMap>
void map_in_double(int64_t n, T* out, const VectorMap& vector_map, const ScalarMap& scalar_map) {
  int64_t i = 0;
  for (; i + VD::size <= n; i += VD::size) vector_map(i).store_convert(out + i);
  for (; i < n; ++i) out[i] = static_cast<T>(scalar_map(i));
}

template <typename T>
void affine(const T* x, int64_t n, double a, double b, T* y) {
  const VD va = VD::broadcast(a), vb = VD::broadcast(b);
  map_in_double(
      n, y, [&](int64_t i) { return VD::loadu_convert(x + i) * va + vb; },
      [&](int64_t i) { return static_cast<double>(x[i]) * a + b; });
}

template <typename T>
void input_grad(const T* dy, const T* x, int64_t n, double scale, double dy_mean, double mean, double xc_coef, T* dx) {
  const VD vs = VD::broadcast(scale), vdm = VD::broadcast(dy_mean), vm = VD::broadcast(mean),
           vc = VD::broadcast(xc_coef);
  map_in_double(
      n, dx,
      [&](int64_t i) { return vs * (VD::loadu_convert(dy + i) - vdm - (VD::loadu_convert(x + i) - vm) * vc); },
      [&](int64_t i) {
        return scale * (static_cast<double>(dy[i]) - dy_mean - (static_cast<double>(x[i]) - mean) * xc_coef);
      });
}

template <typename T>
constexpr BatchNormRowKernels<T> make_batch_norm_row_kernels() {
  return {sum_in_double<T>, centered_squares<T>, centered_dot<T>, affine<T>, input_grad<T>};
}

}  // namespace

extern const BatchNormRowTable batch_norm_row_table = {make_batch_norm_row_kernels<float>(),
                                                       make_batch_norm_row_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

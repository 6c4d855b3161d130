// The per-channel passes of batch normalisation, compiled once per ISA: sums
// in double through accumulate.h (four vector accumulators over each run of a
// plane, in an order fixed by its length), and the two maps in double, each
// value rounded once to T, as the portable driver's formulas (batch_norm.cpp)
// state them. dy, y and dx are laid out as x: the same offsets.
#include "kernels/conv/conv.h"
#include "kernels/elementwise/accumulate.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

using VD = Vec<double>;

// The sum over the channel's runs, each run's terms added by accumulate.h.
template <typename T, typename VectorTerm, typename ScalarTerm>
double channel_total(const BatchNormChannel<T>& x, const VectorTerm& vector_term, const ScalarTerm& scalar_term) {
  double total = 0;
  for (int64_t n = 0; n < x.planes; ++n) {
    const int64_t at = n * x.stride;
    if (x.s < VD::size) {
      // Runs shorter than a vector ((N, C) inputs have runs of one): their
      // terms in order, the sum accumulate_in_double gives, without setting
      // up its vector accumulators for every run.
      double run = 0;
      for (int64_t i = 0; i < x.s; ++i) run += scalar_term(at + i);
      total += run;
      continue;
    }
    total += accumulate_in_double(
        x.s, [&](int64_t i) { return vector_term(at + i); }, [&](int64_t i) { return scalar_term(at + i); });
  }
  return total;
}

template <typename T>
double sum(const BatchNormChannel<T>& x) {
  return channel_total(
      x, [&](int64_t i) { return VD::loadu_convert(x.x + i); }, [&](int64_t i) { return static_cast<double>(x.x[i]); });
}

template <typename T>
double centered_squares(const BatchNormChannel<T>& x, double mean) {
  const VD m = VD::broadcast(mean);
  return channel_total(
      x,
      [&](int64_t i) {
        const VD d = VD::loadu_convert(x.x + i) - m;
        return d * d;
      },
      [&](int64_t i) {
        const double d = static_cast<double>(x.x[i]) - mean;
        return d * d;
      });
}

template <typename T>
double centered_dot(const BatchNormChannel<T>& x, const T* dy, double mean) {
  const VD m = VD::broadcast(mean);
  return channel_total(
      x, [&](int64_t i) { return VD::loadu_convert(dy + i) * (VD::loadu_convert(x.x + i) - m); },
      [&](int64_t i) { return static_cast<double>(dy[i]) * (static_cast<double>(x.x[i]) - mean); });
}

// out[i] = f(i) over the channel's runs: whole double vectors, then each run's
// tail one by one.
template <typename T, typename VectorMap, typename ScalarMap>
void map_in_double(const BatchNormChannel<T>& x, T* out, const VectorMap& vector_map, const ScalarMap& scalar_map) {
  for (int64_t n = 0; n < x.planes; ++n) {
    const int64_t at = n * x.stride;
    int64_t i = 0;
    for (; i + VD::size <= x.s; i += VD::size) vector_map(at + i).store_convert(out + at + i);
    for (; i < x.s; ++i) out[at + i] = static_cast<T>(scalar_map(at + i));
  }
}

template <typename T>
void affine(const BatchNormChannel<T>& x, double a, double b, T* y) {
  const VD va = VD::broadcast(a), vb = VD::broadcast(b);
  map_in_double(
      x, y, [&](int64_t i) { return VD::loadu_convert(x.x + i) * va + vb; },
      [&](int64_t i) { return static_cast<double>(x.x[i]) * a + b; });
}

template <typename T>
void input_grad(const BatchNormChannel<T>& x, const T* dy, double scale, double dy_mean, double mean, double xc_coef,
                T* dx) {
  const VD vs = VD::broadcast(scale), vdm = VD::broadcast(dy_mean), vm = VD::broadcast(mean),
           vc = VD::broadcast(xc_coef);
  map_in_double(
      x, dx, [&](int64_t i) { return vs * (VD::loadu_convert(dy + i) - vdm - (VD::loadu_convert(x.x + i) - vm) * vc); },
      [&](int64_t i) {
        return scale * (static_cast<double>(dy[i]) - dy_mean - (static_cast<double>(x.x[i]) - mean) * xc_coef);
      });
}

template <typename T>
constexpr BatchNormRowKernels<T> make_batch_norm_row_kernels() {
  return {sum<T>, centered_squares<T>, centered_dot<T>, affine<T>, input_grad<T>};
}

}  // namespace

extern const BatchNormRowTable batch_norm_row_table = {make_batch_norm_row_kernels<float>(),
                                                       make_batch_norm_row_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

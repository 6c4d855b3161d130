// Sums in double precision over contiguous values, in an order fixed by n
// alone: the deterministic sum (reduce.cpp) and the row sums of softmax.cpp.
// For float data the double accumulators keep the error near one float
// rounding however long the row, where a float accumulator would drift by
// about sqrt(n) ulp (the one-lane scalar build adds strictly in sequence).
#pragma once
#include <cstdint>

#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {

// sum over i < n of term(i), where vector_term(i) gives the Vec<double> of
// terms i .. i + W - 1 and scalar_term(i) the single term i. Four
// accumulators: an FP add has 3-4 cycles of latency and two ports, so one
// chain would use an eighth of the adders; four keep the loop at the speed
// of memory.
template <typename VectorTerm, typename ScalarTerm>
inline double accumulate_in_double(int64_t n, const VectorTerm& vector_term, const ScalarTerm& scalar_term) {
  using V = Vec<double>;
  constexpr int W = V::size;
  V acc0 = V::zero(), acc1 = V::zero(), acc2 = V::zero(), acc3 = V::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    acc0 = acc0 + vector_term(i);
    acc1 = acc1 + vector_term(i + W);
    acc2 = acc2 + vector_term(i + 2 * W);
    acc3 = acc3 + vector_term(i + 3 * W);
  }
  for (; i + W <= n; i += W) acc0 = acc0 + vector_term(i);
  double s = ((acc0 + acc1) + (acc2 + acc3)).reduce_add();
  for (; i < n; ++i) s += scalar_term(i);
  return s;
}

template <typename T>
inline double sum_in_double(const T* x, int64_t n) {
  return accumulate_in_double(
      n, [&](int64_t i) { return Vec<double>::loadu_convert(x + i); },
      [&](int64_t i) { return static_cast<double>(x[i]); });
}

template <typename T>
inline double dot_in_double(const T* a, const T* b, int64_t n) {
  return accumulate_in_double(
      n, [&](int64_t i) { return Vec<double>::loadu_convert(a + i) * Vec<double>::loadu_convert(b + i); },
      [&](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(b[i]); });
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

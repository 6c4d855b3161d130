// Elementwise kernels on contiguous arrays: the dispatch table of the family.
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace pyengine {

// y[i] = f(x[i]) for i < n.
template <typename T>
using UnaryFn = void (*)(const T* x, T* y, int64_t n);
// dx[i] = dy[i] * f'(x[i]), written from the forward input x.
template <typename T>
using UnaryBackwardFn = void (*)(const T* x, const T* dy, T* dx, int64_t n);

template <typename T>
struct UnaryKernels {
  UnaryFn<T> relu;
  UnaryBackwardFn<T> relu_backward;
};

struct UnaryTable {
  UnaryKernels<float> f32;
  UnaryKernels<double> f64;
};

// One definition per compiled ISA, in unary.cpp.
namespace scalar { extern const UnaryTable unary_table; }
namespace avx2 { extern const UnaryTable unary_table; }

const UnaryTable& unary_kernels();  // the active ISA's table

template <typename T>
const UnaryKernels<T>& unary_kernels_for() {
  if constexpr (sizeof(T) == 4) return unary_kernels().f32;
  else return unary_kernels().f64;
}

}  // namespace pyengine

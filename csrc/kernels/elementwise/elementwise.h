// Elementwise kernels on contiguous arrays: the dispatch tables of the family
// and the drivers that split the work over threads.
//
// Kernels (unary.cpp, softmax.cpp, reduce.cpp) are compiled once per ISA and
// work on [0, n) of raw pointers; the drivers (driver.cpp, compiled once with
// the dispatch tables) split arrays and rows over threads with parallel_for.
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace pyengine {

// y[i] = f(x[i]) for i < n.
template <typename T>
using UnaryFn = void (*)(const T* x, T* y, int64_t n);
// y[i] = f(x[i]; slope), for leaky_relu.
template <typename T>
using UnarySlopeFn = void (*)(const T* x, T* y, int64_t n, T slope);
// dx[i] = dy[i] * f'(...) written from a[i], which is the forward input x or
// the forward output y depending on the op (named in UnaryKernels).
template <typename T>
using UnaryBackwardFn = void (*)(const T* a, const T* dy, T* dx, int64_t n);
template <typename T>
using UnarySlopeBackwardFn = void (*)(const T* x, const T* dy, T* dx, int64_t n, T slope);

template <typename T>
struct UnaryKernels {
  UnaryFn<T> relu, exp, log, tanh, sigmoid, gelu, erf;
  UnarySlopeFn<T> leaky_relu;
  // From the forward input x.
  UnaryBackwardFn<T> relu_backward, gelu_backward;
  UnarySlopeBackwardFn<T> leaky_relu_backward;
  // From the forward output y: tanh' = 1 - y^2, sigmoid' = y (1 - y).
  UnaryBackwardFn<T> tanh_backward, sigmoid_backward;
};

// The four arithmetic operators, out[i] = a[i] op b[i] or a[i] op s for a
// scalar s. Each element is one IEEE operation, so the results are NumPy's
// bit for bit (with denormals flushed, as in every driver); out may be a
// itself (an in-place update).
enum class BinaryOp : int { add = 0, sub, mul, div };
constexpr int kBinaryOps = 4;
template <typename T>
using BinaryFn = void (*)(const T* a, const T* b, T* out, int64_t n);
template <typename T>
using BinaryScalarFn = void (*)(const T* a, T s, T* out, int64_t n);

template <typename T>
struct BinaryKernels {
  BinaryFn<T> arrays[kBinaryOps];        // indexed by BinaryOp
  BinaryScalarFn<T> scalar[kBinaryOps];  // indexed by BinaryOp
};

// Row-wise kernels on `rows` contiguous rows of `cols` elements.
template <typename T>
using RowsFn = void (*)(const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
using RowsBackwardFn = void (*)(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);

template <typename T>
struct SoftmaxKernels {
  RowsFn<T> softmax, log_softmax;
  // Both from the forward output y.
  RowsBackwardFn<T> softmax_backward, log_softmax_backward;
};

// The sum of x[0..n) accumulated in double in a fixed order that depends
// only on n (see reduce.cpp).
template <typename T>
using SumBlockFn = double (*)(const T* x, int64_t n);

template <typename T>
struct ReduceKernels {
  SumBlockFn<T> sum_block;
};

using UnaryTable = TypedTable<UnaryKernels>;
using BinaryTable = TypedTable<BinaryKernels>;
using SoftmaxTable = TypedTable<SoftmaxKernels>;
using ReduceTable = TypedTable<ReduceKernels>;

// One definition per compiled ISA: unary_table in unary.cpp, binary_table in
// binary.cpp, softmax_table in softmax.cpp, reduce_table in reduce.cpp.
namespace scalar {
extern const UnaryTable unary_table;
extern const BinaryTable binary_table;
extern const SoftmaxTable softmax_table;
extern const ReduceTable reduce_table;
}  // namespace scalar
namespace avx2 {
extern const UnaryTable unary_table;
extern const BinaryTable binary_table;
extern const SoftmaxTable softmax_table;
extern const ReduceTable reduce_table;
}  // namespace avx2

// The active ISA's tables (dispatch.cpp).
const UnaryTable& unary_kernels();
const BinaryTable& binary_kernels();
const SoftmaxTable& softmax_kernels();
const ReduceTable& reduce_kernels();

template <typename T>
const UnaryKernels<T>& unary_kernels_for() { return unary_kernels().get<T>(); }
template <typename T>
const BinaryKernels<T>& binary_kernels_for() { return binary_kernels().get<T>(); }
template <typename T>
const SoftmaxKernels<T>& softmax_kernels_for() { return softmax_kernels().get<T>(); }
template <typename T>
const ReduceKernels<T>& reduce_kernels_for() { return reduce_kernels().get<T>(); }

// ---- drivers (driver.cpp) ---------------------------------------------------

// How much work an element is, which sets the smallest range worth a thread.
enum class ElementCost { light, heavy };

// y = f(x) and the backward forms, split over threads.
template <typename T>
void run_unary(UnaryFn<T> fn, const T* x, T* y, int64_t n, ElementCost cost);
template <typename T>
void run_unary(UnarySlopeFn<T> fn, const T* x, T* y, int64_t n, T slope);
template <typename T>
void run_unary_backward(UnaryBackwardFn<T> fn, const T* a, const T* dy, T* dx, int64_t n, ElementCost cost);
template <typename T>
void run_unary_backward(UnarySlopeBackwardFn<T> fn, const T* x, const T* dy, T* dx, int64_t n, T slope);

// a op b (or a op s), split over threads.
template <typename T>
void run_binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n);
template <typename T>
void run_binary(BinaryOp op, const T* a, T s, T* out, int64_t n);

// Row-wise kernels, rows split over threads.
template <typename T>
void run_rows(RowsFn<T> fn, const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void run_rows_backward(RowsBackwardFn<T> fn, const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);

// The sum of x[0..n), bit-identical for any thread count.
template <typename T>
double sum(const T* x, int64_t n);

}  // namespace pyengine

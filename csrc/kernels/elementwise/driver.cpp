// Drivers of the elementwise family: split arrays and rows over threads.
// Compiled once, with portable flags; the kernels come from the tables.
#include <algorithm>

#include "core/buffer.h"
#include "core/parallel.h"
#include "kernels/elementwise/elementwise.h"

namespace pyengine {
namespace {

// The smallest range worth a thread. Waking a pooled OpenMP thread costs a
// few microseconds; a light op (relu, a backward product) streams ~1 ns per
// element per core at best, so 64K elements (~30-60 us) amortise it; an op
// built on exp/erf does ~10x the arithmetic per element, so 8K suffice.
int64_t grain(ElementCost cost) { return cost == ElementCost::light ? (int64_t(1) << 16) : (int64_t(1) << 13); }

// A softmax row costs about a heavy element per entry: rows per range such
// that each range holds at least a heavy grain of elements.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, grain(ElementCost::heavy) / std::max<int64_t>(cols, 1)); }

// The block of the deterministic sum: 16K values (64-128 KiB) per partial,
// large enough that combining the partials is negligible, small enough that
// two threads balance on a million values.
constexpr int64_t kSumBlock = int64_t(1) << 14;

}  // namespace

template <typename T>
void run_unary(UnaryFn<T> fn, const T* x, T* y, int64_t n, ElementCost cost) {
  parallel_for(0, n, grain(cost), [&](int64_t b, int64_t e) { fn(x + b, y + b, e - b); });
}

template <typename T>
void run_unary(UnarySlopeFn<T> fn, const T* x, T* y, int64_t n, T slope) {
  parallel_for(0, n, grain(ElementCost::light), [&](int64_t b, int64_t e) { fn(x + b, y + b, e - b, slope); });
}

template <typename T>
void run_unary_backward(UnaryBackwardFn<T> fn, const T* a, const T* dy, T* dx, int64_t n, ElementCost cost) {
  parallel_for(0, n, grain(cost), [&](int64_t b, int64_t e) { fn(a + b, dy + b, dx + b, e - b); });
}

template <typename T>
void run_unary_backward(UnarySlopeBackwardFn<T> fn, const T* x, const T* dy, T* dx, int64_t n, T slope) {
  parallel_for(0, n, grain(ElementCost::light),
               [&](int64_t b, int64_t e) { fn(x + b, dy + b, dx + b, e - b, slope); });
}

template <typename T>
void run_binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  const BinaryFn<T> fn = binary_kernels_for<T>().arrays[static_cast<int>(op)];
  parallel_for(0, n, grain(ElementCost::light), [&](int64_t i0, int64_t i1) { fn(a + i0, b + i0, out + i0, i1 - i0); });
}

template <typename T>
void run_binary(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  const BinaryScalarFn<T> fn = binary_kernels_for<T>().scalar[static_cast<int>(op)];
  parallel_for(0, n, grain(ElementCost::light), [&](int64_t i0, int64_t i1) { fn(a + i0, s, out + i0, i1 - i0); });
}

template <typename T>
void run_rows(RowsFn<T> fn, const T* x, T* y, int64_t rows, int64_t cols) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t b, int64_t e) { fn(x + b * cols, y + b * cols, e - b, cols); });
}

template <typename T>
void run_rows_backward(RowsBackwardFn<T> fn, const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t b, int64_t e) {
    const int64_t o = b * cols;
    fn(y + o, dy + o, dx + o, e - b, cols);
  });
}

// Fixed blocks, each summed by one thread, then the block sums added in
// block order on the calling thread: the same additions in the same order
// whatever the thread count.
template <typename T>
double sum(const T* x, int64_t n) {
  const SumBlockFn<T> block_sum = reduce_kernels_for<T>().sum_block;
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (blocks == 0) return 0.0;
  ScratchBuffer partials(static_cast<std::size_t>(blocks) * sizeof(double));
  double* p = partials.as<double>();
  parallel_for(0, blocks, 2, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = block_sum(x + i * kSumBlock, std::min(kSumBlock, n - i * kSumBlock));
  });
  double s = 0.0;
  for (int64_t i = 0; i < blocks; ++i) s += p[i];
  return s;
}

template void run_unary<float>(UnaryFn<float>, const float*, float*, int64_t, ElementCost);
template void run_unary<double>(UnaryFn<double>, const double*, double*, int64_t, ElementCost);
template void run_unary<float>(UnarySlopeFn<float>, const float*, float*, int64_t, float);
template void run_unary<double>(UnarySlopeFn<double>, const double*, double*, int64_t, double);
template void run_unary_backward<float>(UnaryBackwardFn<float>, const float*, const float*, float*, int64_t,
                                        ElementCost);
template void run_unary_backward<double>(UnaryBackwardFn<double>, const double*, const double*, double*, int64_t,
                                         ElementCost);
template void run_unary_backward<float>(UnarySlopeBackwardFn<float>, const float*, const float*, float*, int64_t,
                                        float);
template void run_unary_backward<double>(UnarySlopeBackwardFn<double>, const double*, const double*, double*,
                                         int64_t, double);
template void run_binary<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void run_binary<double>(BinaryOp, const double*, const double*, double*, int64_t);
template void run_binary<float>(BinaryOp, const float*, float, float*, int64_t);
template void run_binary<double>(BinaryOp, const double*, double, double*, int64_t);
template void run_rows<float>(RowsFn<float>, const float*, float*, int64_t, int64_t);
template void run_rows<double>(RowsFn<double>, const double*, double*, int64_t, int64_t);
template void run_rows_backward<float>(RowsBackwardFn<float>, const float*, const float*, float*, int64_t, int64_t);
template void run_rows_backward<double>(RowsBackwardFn<double>, const double*, const double*, double*, int64_t,
                                        int64_t);
template double sum<float>(const float*, int64_t);
template double sum<double>(const double*, int64_t);

}  // namespace pyengine

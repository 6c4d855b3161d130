#include "kernels/elementwise/elementwise.h"

namespace pyengine {
namespace {

// The table of the active ISA among those this build compiled.
template <typename Table>
const Table& active(const Table& scalar_table, const Table* avx2_table) {
  const Table* const tables[kIsaCount] = {&scalar_table, avx2_table, nullptr /* avx512 */, nullptr /* neon */};
  return select_table(tables);
}

#ifdef PYENGINE_HAVE_AVX2
constexpr const UnaryTable* kAvx2Unary = &avx2::unary_table;
constexpr const BinaryTable* kAvx2Binary = &avx2::binary_table;
constexpr const SoftmaxTable* kAvx2Softmax = &avx2::softmax_table;
constexpr const ReduceTable* kAvx2Reduce = &avx2::reduce_table;
#else
constexpr const UnaryTable* kAvx2Unary = nullptr;
constexpr const BinaryTable* kAvx2Binary = nullptr;
constexpr const SoftmaxTable* kAvx2Softmax = nullptr;
constexpr const ReduceTable* kAvx2Reduce = nullptr;
#endif

}  // namespace

const UnaryTable& unary_kernels() { return active(scalar::unary_table, kAvx2Unary); }
const BinaryTable& binary_kernels() { return active(scalar::binary_table, kAvx2Binary); }
const SoftmaxTable& softmax_kernels() { return active(scalar::softmax_table, kAvx2Softmax); }
const ReduceTable& reduce_kernels() { return active(scalar::reduce_table, kAvx2Reduce); }

}  // namespace pyengine

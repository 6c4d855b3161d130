#include "kernels/conv/conv.h"

namespace pyengine {
namespace {

// The table of the active ISA among those this build compiled.
template <typename Table>
const Table& active(const Table& scalar_table, const Table* avx2_table) {
  const Table* const tables[kIsaCount] = {&scalar_table, avx2_table, nullptr /* avx512 */, nullptr /* neon */};
  return select_table(tables);
}

#ifdef PYENGINE_HAVE_AVX2
constexpr const DirectConvTable* kAvx2DirectConv = &avx2::direct_conv_table;
constexpr const BatchNormRowTable* kAvx2BatchNormRows = &avx2::batch_norm_row_table;
constexpr const MaxPoolTable* kAvx2MaxPool = &avx2::max_pool_table;
constexpr const WinogradTable* kAvx2Winograd = &avx2::winograd_table;
#else
constexpr const DirectConvTable* kAvx2DirectConv = nullptr;
constexpr const BatchNormRowTable* kAvx2BatchNormRows = nullptr;
constexpr const MaxPoolTable* kAvx2MaxPool = nullptr;
constexpr const WinogradTable* kAvx2Winograd = nullptr;
#endif

}  // namespace

const DirectConvTable& direct_conv_kernels() { return active(scalar::direct_conv_table, kAvx2DirectConv); }
const BatchNormRowTable& batch_norm_row_kernels() { return active(scalar::batch_norm_row_table, kAvx2BatchNormRows); }
const MaxPoolTable& max_pool_kernels() { return active(scalar::max_pool_table, kAvx2MaxPool); }
const WinogradTable& winograd_kernels() { return active(scalar::winograd_table, kAvx2Winograd); }

}  // namespace pyengine

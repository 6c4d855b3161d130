#include "kernels/loss/loss.h"

namespace pyengine {

namespace {

// The AVX2 tables, or null in a build without them.
#ifdef PYENGINE_HAVE_AVX2
const CrossEntropyTable* const avx2_cross_entropy = &avx2::cross_entropy_table;
const CtcTable* const avx2_ctc = &avx2::ctc_table;
#else
const CrossEntropyTable* const avx2_cross_entropy = nullptr;
const CtcTable* const avx2_ctc = nullptr;
#endif

template <typename Table>
const Table& active_table(const Table& scalar_table, const Table* avx2_table) {
  const Table* const tables[kIsaCount] = {&scalar_table, avx2_table, nullptr /* avx512 */, nullptr /* neon */};
  return select_table(tables);
}

}  // namespace

const CrossEntropyTable& cross_entropy_kernels() {
  return active_table(scalar::cross_entropy_table, avx2_cross_entropy);
}

const CtcTable& ctc_kernels() { return active_table(scalar::ctc_table, avx2_ctc); }

}  // namespace pyengine

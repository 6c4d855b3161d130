#include "kernels/conv/conv.h"

namespace pyengine {

const DirectConvTable& direct_conv_kernels() {
  static const DirectConvTable* const tables[kIsaCount] = {
      &scalar::direct_conv_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::direct_conv_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

const BatchNormRowTable& batch_norm_row_kernels() {
  static const BatchNormRowTable* const tables[kIsaCount] = {
      &scalar::batch_norm_row_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::batch_norm_row_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

const MaxPoolTable& max_pool_kernels() {
  static const MaxPoolTable* const tables[kIsaCount] = {
      &scalar::max_pool_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::max_pool_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

}  // namespace pyengine

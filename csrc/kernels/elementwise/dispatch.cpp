#include "kernels/elementwise/elementwise.h"

namespace pyengine {

const UnaryTable& unary_kernels() {
  static const UnaryTable* const tables[kIsaCount] = {
      &scalar::unary_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::unary_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

}  // namespace pyengine

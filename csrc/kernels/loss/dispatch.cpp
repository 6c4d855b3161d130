#include "kernels/loss/loss.h"

namespace pyengine {

const CrossEntropyTable& cross_entropy_kernels() {
  static const CrossEntropyTable* const tables[kIsaCount] = {
      &scalar::cross_entropy_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::cross_entropy_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

}  // namespace pyengine

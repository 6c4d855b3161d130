// The dispatch table of the recurrent cells: one CellTable per cell type and ISA.
#include "kernels/rnn/rnn.h"

namespace pyengine {

const CellTable& cell_kernels(RnnMode mode) {
  // Indexed by RnnMode.
  static const CellTable* const scalar_tables[] = {&scalar::rnn_tanh_cell_table, &scalar::rnn_relu_cell_table,
                                                   &scalar::lstm_cell_table, &scalar::gru_cell_table};
#ifdef PYENGINE_HAVE_AVX2
  static const CellTable* const avx2_tables[] = {&avx2::rnn_tanh_cell_table, &avx2::rnn_relu_cell_table,
                                                 &avx2::lstm_cell_table, &avx2::gru_cell_table};
#else
  static const CellTable* const avx2_tables[] = {nullptr, nullptr, nullptr, nullptr};
#endif
  const int m = static_cast<int>(mode);
  const CellTable* const tables[kIsaCount] = {scalar_tables[m], avx2_tables[m], nullptr, nullptr};
  return select_table(tables);
}

}  // namespace pyengine

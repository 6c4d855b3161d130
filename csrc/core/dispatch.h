// The explicit CPU dispatch table.
//
// Kernel families compile their sources once per instruction set (see
// cmake/isa.cmake) into namespaces pyengine::scalar, pyengine::avx2, ...; each
// family exposes one table of function pointers per ISA and picks the active
// one with select_table(). The active ISA is chosen once, when the extension
// is imported (select_isa), from the CPU's features or PYENGINE_ISA.
#pragma once
#include <string>

namespace pyengine {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2, neon = 3 };
constexpr int kIsaCount = 4;

const char* isa_name(Isa isa);
bool isa_compiled(Isa isa);       // kernels for it are in this build
bool isa_supported(Isa isa);      // this CPU can run it
Isa best_isa();                   // the fastest compiled ISA this CPU runs

// Chooses the active ISA: `forced` (a name from PYENGINE_ISA) or, when empty,
// best_isa(). Throws ValueError naming the choices if `forced` cannot run.
void select_isa(const std::string& forced);
Isa active_isa();

// Returns the table for the active ISA. `tables` is indexed by Isa; an ISA
// without kernels in a family falls back to the next lower one that has them
// (avx512 -> avx2 -> scalar; neon -> scalar, as no x86 table exists there),
// so a family may lag behind the others.
template <typename Table>
const Table& select_table(const Table* const (&tables)[kIsaCount]) {
  int i = static_cast<int>(active_isa());
  while (i > 0 && tables[i] == nullptr) --i;
  return *tables[i];
}

// One ISA's table of a family: its kernels for float and for double.
template <template <typename> class Kernels>
struct TypedTable {
  Kernels<float> f32;
  Kernels<double> f64;

  template <typename T>
  const Kernels<T>& get() const {
    if constexpr (sizeof(T) == 4) return f32;
    else return f64;
  }
};

}  // namespace pyengine

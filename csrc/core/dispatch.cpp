#include "core/dispatch.h"

#include "core/check.h"
#include "core/cpu.h"

namespace pyengine {
namespace {
Isa g_active = Isa::scalar;
constexpr const char* kNames[kIsaCount] = {"scalar", "avx2", "avx512", "neon"};
}  // namespace

const char* isa_name(Isa isa) { return kNames[static_cast<int>(isa)]; }

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
#ifdef PYENGINE_HAVE_AVX2
    case Isa::avx2: return true;
#endif
#ifdef PYENGINE_HAVE_AVX512
    case Isa::avx512: return true;
#endif
#ifdef PYENGINE_HAVE_NEON
    case Isa::neon: return true;
#endif
    default: return false;
  }
}

bool isa_supported(Isa isa) {
  const CpuInfo& cpu = cpu_info();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return cpu.avx2 && cpu.fma;
    case Isa::avx512: return cpu.avx512f && cpu.avx2 && cpu.fma;
    case Isa::neon: return cpu.neon;
  }
  return false;
}

Isa best_isa() {
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::neon}) {
    if (isa_compiled(isa) && isa_supported(isa)) return isa;
  }
  return Isa::scalar;
}

void select_isa(const std::string& forced) {
  if (forced.empty()) {
    g_active = best_isa();
    return;
  }
  for (int i = 0; i < kIsaCount; ++i) {
    const Isa isa = static_cast<Isa>(i);
    if (forced != kNames[i]) continue;
    if (!isa_compiled(isa))
      throw ValueError("PYENGINE_ISA=" + forced + ": this build has no " + forced +
                       " kernels (compiled: " + std::string(isa_compiled(Isa::avx2) ? "scalar, avx2" : "scalar") + ")");
    if (!isa_supported(isa))
      throw ValueError("PYENGINE_ISA=" + forced + ": this CPU does not support " + forced);
    g_active = isa;
    return;
  }
  throw ValueError("PYENGINE_ISA=" + forced + ": unknown instruction set (choose scalar, avx2, avx512 or neon)");
}

Isa active_isa() { return g_active; }

}  // namespace pyengine

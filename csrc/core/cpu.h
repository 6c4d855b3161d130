// CPU feature and cache-size detection, read once per process.
#pragma once
#include <cstddef>

namespace pyengine {

struct CpuInfo {
  bool avx2 = false;     // AVX2 integer/float vectors, usable by the OS
  bool fma = false;      // fused multiply-add (FMA3)
  bool avx512f = false;  // AVX-512 Foundation
  bool neon = false;     // AArch64 Advanced SIMD
  // Per-core data caches in bytes (L3 is the whole shared cache).
  std::size_t l1d = 32 * 1024;
  std::size_t l2 = 512 * 1024;
  std::size_t l3 = 8 * 1024 * 1024;
};

const CpuInfo& cpu_info();

}  // namespace pyengine

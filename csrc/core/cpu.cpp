#include "core/cpu.h"

#include <fstream>
#include <string>
#include <unistd.h>

namespace pyengine {
namespace {

// Linux exposes the cache hierarchy in sysfs; sysconf() misses it on some
// virtual machines, so both are tried before falling back to the defaults.
std::size_t sysfs_cache_size(int level, const char* type) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream lvl(dir + "level"), typ(dir + "type"), size(dir + "size");
    if (!lvl || !typ || !size) continue;
    int l = 0;
    std::string t, s;
    lvl >> l;
    typ >> t;
    size >> s;
    if (l != level || (t != type && t != "Unified")) continue;
    std::size_t value = std::stoul(s);
    if (!s.empty() && (s.back() == 'K')) value *= 1024;
    if (!s.empty() && (s.back() == 'M')) value *= 1024 * 1024;
    return value;
  }
  return 0;
}

std::size_t cache_size(int level, const char* type, long sysconf_name, std::size_t fallback) {
  std::size_t v = sysfs_cache_size(level, type);
  if (v == 0 && sysconf_name >= 0) {
    long s = sysconf(static_cast<int>(sysconf_name));
    if (s > 0) v = static_cast<std::size_t>(s);
  }
  return v ? v : fallback;
}

CpuInfo detect() {
  CpuInfo info;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc's checks include the OS's XSAVE support for the wide registers.
  info.avx2 = __builtin_cpu_supports("avx2");
  info.fma = __builtin_cpu_supports("fma");
  info.avx512f = __builtin_cpu_supports("avx512f");
#elif defined(__aarch64__)
  info.neon = true;  // Advanced SIMD is mandatory on AArch64
#endif
#ifdef _SC_LEVEL1_DCACHE_SIZE
  info.l1d = cache_size(1, "Data", _SC_LEVEL1_DCACHE_SIZE, info.l1d);
  info.l2 = cache_size(2, "Unified", _SC_LEVEL2_CACHE_SIZE, info.l2);
  info.l3 = cache_size(3, "Unified", _SC_LEVEL3_CACHE_SIZE, info.l3);
#else
  info.l1d = cache_size(1, "Data", -1, info.l1d);
  info.l2 = cache_size(2, "Unified", -1, info.l2);
  info.l3 = cache_size(3, "Unified", -1, info.l3);
#endif
  return info;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace pyengine

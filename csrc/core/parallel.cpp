#include "core/parallel.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace pyengine {
namespace {

int initial_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

std::atomic<int>& thread_count() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

}  // namespace

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
#ifdef _OPENMP
  thread_count().store(std::max(1, n), std::memory_order_relaxed);
#else
  (void)n;  // a serial build has one thread whatever is asked
#endif
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
// MXCSR bit 15 is flush-to-zero, bit 6 denormals-are-zero.
constexpr unsigned kFtzDaz = 0x8040;
DenormalsFlushed::DenormalsFlushed() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
DenormalsFlushed::~DenormalsFlushed() { _mm_setcsr(saved_); }
#elif defined(__aarch64__)
// FPCR bit 24 (FZ) flushes denormal inputs and outputs to zero.
DenormalsFlushed::DenormalsFlushed() {
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  saved_ = static_cast<unsigned>(fpcr);
  __asm__ volatile("msr fpcr, %0" ::"r"(fpcr | (1ull << 24)));
}
DenormalsFlushed::~DenormalsFlushed() {
  uint64_t fpcr = saved_;
  __asm__ volatile("msr fpcr, %0" ::"r"(fpcr));
}
#else
DenormalsFlushed::DenormalsFlushed() : saved_(0) {}
DenormalsFlushed::~DenormalsFlushed() {}
#endif

}  // namespace pyengine

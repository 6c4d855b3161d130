// Threading for kernel drivers. This header (with parallel.cpp) holds the only
// OpenMP pragmas of the code base: drivers hand ranges to parallel_for, and the
// kernels themselves only ever see [begin, end).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyengine {

// The thread count kernels use. Starts at OMP_NUM_THREADS (or the number of
// cores) and is changed by set_num_threads; it is a process-wide setting, so a
// Python thread other than the main one gets the same count.
int get_num_threads();
void set_num_threads(int n);
bool openmp_enabled();
bool in_parallel_region();

// Sets flush-to-zero and denormals-are-zero for the current thread while it
// lives and restores the previous mode after: a denormal operand costs ~100
// cycles on x86, and deep-learning values never need that range.
class DenormalsFlushed {
 public:
  DenormalsFlushed();
  ~DenormalsFlushed();
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned saved_;
};

// The static split of [begin, end) into `parts` pieces: part `i` gets
// [split_begin(i), split_begin(i + 1)). Deterministic, so a driver that keeps
// per-part partial results can combine them in a fixed order.
inline int64_t split_begin(int64_t begin, int64_t end, int64_t parts, int64_t i) {
  const int64_t n = end - begin;
  return begin + (n / parts) * i + std::min<int64_t>(i, n % parts);
}

// Calls fn(tid, nthreads) once on each of `nthreads` threads (at most
// get_num_threads()); runs inline with one thread when already inside a
// parallel region, so nested calls never oversubscribe the cores.
template <typename F>
void parallel_run(int nthreads, const F& fn) {
  nthreads = std::max(1, std::min(nthreads, get_num_threads()));
#ifdef _OPENMP
  if (nthreads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(nthreads)
    {
      DenormalsFlushed ftz;
      fn(omp_get_thread_num(), omp_get_num_threads());
    }
    return;
  }
#endif
  DenormalsFlushed ftz;
  fn(0, 1);
}

// Splits [begin, end) into at most get_num_threads() contiguous ranges of at
// least `grain` items each and calls fn(range_begin, range_end) on each.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  if (begin >= end) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_parts = (end - begin + grain - 1) / grain;
  const int nthreads = static_cast<int>(std::min<int64_t>(max_parts, get_num_threads()));
  parallel_run(nthreads, [&](int tid, int nt) {
    const int64_t b = split_begin(begin, end, nt, tid);
    const int64_t e = split_begin(begin, end, nt, tid + 1);
    if (b < e) fn(b, e);
  });
}

// A barrier for the threads of one parallel_run: spins briefly (the other
// thread is usually a few microseconds away), then yields the core, which
// matters when the machine is shared.
class SpinBarrier {
 public:
  void wait(int nthreads) {
    if (nthreads == 1) return;
    const int gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == nthreads - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  std::atomic<int> arrived_{0};
  std::atomic<int> generation_{0};
};

}  // namespace pyengine

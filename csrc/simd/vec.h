// Vec<T>: a SIMD register of T as a value type, the one abstraction the
// per-ISA kernels are written against. Which implementation a translation unit
// gets is decided by the flags it is compiled with (cmake/isa.cmake):
//   scalar  -> vec_scalar.h, one lane, the specification of every operation;
//   avx2    -> vec_avx2.h, 8 floats / 4 doubles in a ymm register.
// Everything lives in namespace pyengine::<isa> so the variants of one inline
// function never meet at link time.
#pragma once

#ifndef PYENGINE_CPU_ISA
#error "simd/vec.h is for sources compiled per instruction set (PYENGINE_ISA_SOURCES)"
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include "simd/vec_avx2.h"
#else
#include "simd/vec_scalar.h"
#endif

namespace pyengine {
namespace PYENGINE_CPU_ISA {

// out[i] = op(in[i]) with op applied to whole vectors only: the last, partial
// vector goes through a zero-padded register-sized buffer. Every element thus
// takes the same instructions, so a result does not depend on where the
// element sits in the array or on how a driver split the array over threads.
template <typename T, typename Op>
inline void transform(const T* in, T* out, int64_t n, const Op& op) {
  constexpr int W = Vec<T>::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) op(Vec<T>::loadu(in + i)).storeu(out + i);
  if (i == n) return;
  T a[W] = {}, r[W];
  for (int64_t j = i; j < n; ++j) a[j - i] = in[j];
  op(Vec<T>::loadu(a)).storeu(r);
  for (int64_t j = i; j < n; ++j) out[j] = r[j - i];
}

// out[i] = op(a[i], b[i]), the two-input form of transform.
template <typename T, typename Op>
inline void transform(const T* a, const T* b, T* out, int64_t n, const Op& op) {
  constexpr int W = Vec<T>::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) op(Vec<T>::loadu(a + i), Vec<T>::loadu(b + i)).storeu(out + i);
  if (i == n) return;
  T pa[W] = {}, pb[W] = {}, r[W];
  for (int64_t j = i; j < n; ++j) {
    pa[j - i] = a[j];
    pb[j - i] = b[j];
  }
  op(Vec<T>::loadu(pa), Vec<T>::loadu(pb)).storeu(r);
  for (int64_t j = i; j < n; ++j) out[j] = r[j - i];
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

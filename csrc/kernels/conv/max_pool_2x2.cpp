// Max pooling over whole 2x2 blocks with stride 2, the layout of nearly every
// CNN, compiled once per ISA. The one-output scan below is the specification;
// the AVX2 build runs eight float outputs at a time through the same steps
// (the same maximum, the same index on ties and NaNs) and the scan for the
// rest of each row.
#include <algorithm>

#include "kernels/conv/conv.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// One step of the window scan for NaN-free values, written as a max and an
// integer select so that it compiles to maxss/cmov: on random data `v > best`
// is a coin toss that a branch predictor loses half the time. `std::max(best,
// v)` keeps the earlier value on ties, as the generic scan does.
template <typename T>
inline void keep_max(T v, int64_t at, T& best, int64_t& arg) {
  const int64_t take = v > best;
  best = std::max(best, v);
  arg += take * (at - arg);
}

// The generic rule for a window holding a NaN: the last NaN in scan order wins.
template <typename T>
inline void keep_last_nan(T v, int64_t at, T& best, int64_t& arg) {
  if (v != v) {
    best = v;
    arg = at;
  }
}

// Output ow of a row whose window rows start at r0 and r1 (= r0 + w), the
// first at flat position `top`: the window scanned in the generic loop's order.
template <typename T>
inline void max_2x2(const T* r0, const T* r1, int64_t top, int64_t w, int64_t ow, T* y, int64_t* arg_out) {
  const int64_t c = 2 * ow;
  const T v00 = r0[c], v01 = r0[c + 1], v10 = r1[c], v11 = r1[c + 1];
  T best = v00;
  int64_t arg = top + c;
  keep_max(v01, top + c + 1, best, arg);
  keep_max(v10, top + w + c, best, arg);
  keep_max(v11, top + w + c + 1, best, arg);
  // A NaN compares false everywhere above, so it is settled here; the test
  // is almost never true and costs a well-predicted branch.
  if (best != best || v01 != v01 || v10 != v10 || v11 != v11) {
    keep_last_nan(v00, top + c, best, arg);
    keep_last_nan(v01, top + c + 1, best, arg);
    keep_last_nan(v10, top + w + c, best, arg);
    keep_last_nan(v11, top + w + c + 1, best, arg);
  }
  y[ow] = best;
  arg_out[ow] = arg;
}

#if defined(__AVX2__)
// The even and odd elements of 16 consecutive floats, each in order.
inline void deinterleave(const float* p, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  // In-lane shuffles give [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute restores the order.
  const auto ordered = [](__m256 v) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
  };
  even = ordered(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  odd = ordered(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Outputs [ow, ow + 8) of a row: the scan of max_2x2 on eight windows at once,
// each window's candidate numbered 0..3 in scan order (00, 01, 10, 11).
inline void max_2x2_x8(const float* r0, const float* r1, int64_t top, int64_t w, int64_t ow, float* y,
                       int64_t* arg_out) {
  __m256 v[4];
  deinterleave(r0 + 2 * ow, v[0], v[1]);
  deinterleave(r1 + 2 * ow, v[2], v[3]);
  __m256 best = v[0];
  __m256i cand = _mm256_setzero_si256();
  for (int c = 1; c < 4; ++c) {
    const __m256 take = _mm256_cmp_ps(v[c], best, _CMP_GT_OQ);
    best = _mm256_max_ps(v[c], best);  // best on ties and when v[c] is NaN, as std::max(best, v)
    cand = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(cand), _mm256_castsi256_ps(_mm256_set1_epi32(c)), take));
  }
  const __m256 any_nan = _mm256_or_ps(_mm256_cmp_ps(v[0], v[1], _CMP_UNORD_Q), _mm256_cmp_ps(v[2], v[3], _CMP_UNORD_Q));
  if (_mm256_movemask_ps(any_nan)) {
    for (int c = 0; c < 4; ++c) {
      const __m256 nan = _mm256_cmp_ps(v[c], v[c], _CMP_UNORD_Q);
      best = _mm256_blendv_ps(best, v[c], nan);
      cand = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(cand), _mm256_castsi256_ps(_mm256_set1_epi32(c)), nan));
    }
  }
  _mm256_storeu_ps(y + ow, best);
  // index = top + 2*(ow + j) + (cand & 1) + (cand >> 1) * w
  const __m256i offset = _mm256_add_epi32(_mm256_and_si256(cand, _mm256_set1_epi32(1)),
                                          _mm256_mullo_epi32(_mm256_srli_epi32(cand, 1), _mm256_set1_epi32(static_cast<int>(w))));
  const __m256i base = _mm256_set1_epi64x(top + 2 * ow);
  const __m256i lo = _mm256_add_epi64(_mm256_add_epi64(base, _mm256_setr_epi64x(0, 2, 4, 6)),
                                      _mm256_cvtepi32_epi64(_mm256_castsi256_si128(offset)));
  const __m256i hi = _mm256_add_epi64(_mm256_add_epi64(base, _mm256_setr_epi64x(8, 10, 12, 14)),
                                      _mm256_cvtepi32_epi64(_mm256_extracti128_si256(offset, 1)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg_out + ow), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg_out + ow + 4), hi);
}
#endif

template <typename T>
void max_pool2d_2x2_plane(const Pool2dShape& g, const T* xp, T* yp, int64_t* ip) {
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const int64_t top = 2 * oh * g.w;
    const T* r0 = xp + top;
    const T* r1 = r0 + g.w;
    T* yrow = yp + oh * g.out_w;
    int64_t* irow = ip + oh * g.out_w;
    int64_t ow = 0;
#if defined(__AVX2__)
    if constexpr (sizeof(T) == 4)
      for (; ow + 8 <= g.out_w; ow += 8) max_2x2_x8(r0, r1, top, g.w, ow, yrow, irow);
#endif
    for (; ow < g.out_w; ++ow) max_2x2(r0, r1, top, g.w, ow, yrow, irow);
  }
}

}  // namespace

extern const MaxPoolTable max_pool_table = {{max_pool2d_2x2_plane<float>}, {max_pool2d_2x2_plane<double>}};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine

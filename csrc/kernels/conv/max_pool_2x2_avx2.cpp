// The AVX2 2x2 max pooling kernel: eight float outputs at a time through the
// steps of the window scan (max_pool_scan.h), which does the rest of each row
// and the doubles.
#include <immintrin.h>

#include "kernels/conv/max_pool_scan.h"

namespace pyengine {
namespace avx2 {
namespace {

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
// cand with its lanes set to c where mask is set (integer lanes through the
// float blend: AVX2 has no 32-bit integer blend by a vector mask).
inline __m256i set_where(__m256i cand, int c, __m256 mask) {
  const __m256 value = _mm256_castsi256_ps(_mm256_set1_epi32(c));
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(cand), value, mask));
}

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
    cand = set_where(cand, c, take);
  }
  const __m256 any_nan = _mm256_or_ps(_mm256_cmp_ps(v[0], v[1], _CMP_UNORD_Q), _mm256_cmp_ps(v[2], v[3], _CMP_UNORD_Q));
  if (_mm256_movemask_ps(any_nan)) {
    for (int c = 0; c < 4; ++c) {
      const __m256 nan = _mm256_cmp_ps(v[c], v[c], _CMP_UNORD_Q);
      best = _mm256_blendv_ps(best, v[c], nan);
      cand = set_where(cand, c, nan);
    }
  }
  _mm256_storeu_ps(y + ow, best);
  // index = top + 2*(ow + j) + (cand & 1) + (cand >= 2 ? w : 0), in 64-bit lanes
  const __m256i base = _mm256_set1_epi64x(top + 2 * ow), one = _mm256_set1_epi64x(1), row = _mm256_set1_epi64x(w);
  const auto index = [&](__m128i cand4, __m256i steps) {
    const __m256i c = _mm256_cvtepi32_epi64(cand4);
    const __m256i second_row = _mm256_cmpeq_epi64(_mm256_srli_epi64(c, 1), one);
    return _mm256_add_epi64(_mm256_add_epi64(base, steps),
                            _mm256_add_epi64(_mm256_and_si256(c, one), _mm256_and_si256(second_row, row)));
  };
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg_out + ow),
                      index(_mm256_castsi256_si128(cand), _mm256_setr_epi64x(0, 2, 4, 6)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg_out + ow + 4),
                      index(_mm256_extracti128_si256(cand, 1), _mm256_setr_epi64x(8, 10, 12, 14)));
}

template <typename T>
void max_pool_2x2_plane_x8(const Pool2dShape& g, const T* xp, T* yp, int64_t* ip) {
  const auto eight_at_once = [](const T* r0, const T* r1, int64_t top, int64_t w, int64_t ow, int64_t left, T* y,
                                int64_t* arg) {
    // Eight outputs read 16 floats of each window row, all within the row
    // since 2 * out_w <= w.
    if constexpr (sizeof(T) == 4) {
      if (left >= 8) {
        max_2x2_x8(r0, r1, top, w, ow, y, arg);
        return int64_t(8);
      }
    }
    return int64_t(0);
  };
  max_pool_2x2_plane(g, xp, yp, ip, eight_at_once);
}

}  // namespace

extern const MaxPoolTable max_pool_table = {{max_pool_2x2_plane_x8<float>}, {max_pool_2x2_plane_x8<double>}};

}  // namespace avx2
}  // namespace pyengine
